package contracts

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// RolesContract is the role registry: which Fabric client identities may act, for which party and
// in which roles. An identity is keyed as cid derives it (MSP id + certificate subject + issuer), so
// a renewed certificate with the same subject and issuer keeps its registration, and a certificate
// registered under the wrong MSP can never match a caller (the peer validates the creator's
// certificate against the creator's MSP, and the MSP id is part of the key).
type RolesContract struct {
	contractapi.Contract
}

const (
	identityActive  = "active"
	identityRevoked = "revoked"
)

// Identity is a registration.
type Identity struct {
	ID           string   `json:"id"` // "<mspId>:<cidId>"
	MSPID        string   `json:"mspId"`
	PartyID      string   `json:"partyId"`
	Roles        []string `json:"roles"`
	Subject      string   `json:"subject"`
	Issuer       string   `json:"issuer"`
	Status       string   `json:"status"` // active | revoked
	RegisteredAt string   `json:"registeredAt"`
	RegisteredBy string   `json:"registeredBy"`
	RegisteredTx string   `json:"registeredTx"`
	RevokedAt    string   `json:"revokedAt,omitempty"`
	RevokedBy    string   `json:"revokedBy,omitempty"`
	RevokeReason string   `json:"revokeReason,omitempty"`
}

// CallerInfo is what WhoAmI returns.
type CallerInfo struct {
	ID         string   `json:"id"`
	MSPID      string   `json:"mspId"`
	PartyID    string   `json:"partyId"`
	Roles      []string `json:"roles"`
	Subject    string   `json:"subject"`
	Issuer     string   `json:"issuer"`
	Admin      bool     `json:"admin"`
	Registered bool     `json:"registered"`
}

type identityEvent struct {
	Event
	Identity Identity `json:"identity"`
}

var cidIDPattern = regexp.MustCompile(`^[A-Za-z0-9+/]+={0,2}$`)

// GetEvaluateTransactions tags the read-only functions in the metadata.
func (c *RolesContract) GetEvaluateTransactions() []string {
	return []string{"WhoAmI", "ListIdentities", "GetPlatformSettings"}
}

// RegisterIdentity registers a member's certificate for a party with roles (a JSON array drawn from
// "token-admin", "oracle", "party"). Operator admin only. The party must be the MSP's party;
// token-admin and oracle are OperatorMSP roles, party is a bank role. Registering the same
// certificate again with the same party and roles is a no-op.
func (c *RolesContract) RegisterIdentity(ctx contractapi.TransactionContextInterface, mspID, certPEM, partyID, rolesJSON string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireAdmin("register identities"); err != nil {
		return "", err
	}
	mspParty, ok := partyForMSP(mspID)
	if !ok {
		return "", fmt.Errorf("unknown MSP %q: expected %s or Bank<X>MSP (for example BankAMSP)", truncate(mspID, 40), OperatorMSP)
	}
	if partyID != mspParty {
		return "", fmt.Errorf("party %q does not belong to MSP %s (its party is %s)", truncate(partyID, 40), mspID, mspParty)
	}
	roles, err := parseRoles(rolesJSON, mspID)
	if err != nil {
		return "", err
	}
	ci, err := identityFromCert(mspID, certPEM)
	if err != nil {
		return "", err
	}
	if t.now.Before(ci.cert.NotBefore) || t.now.After(ci.cert.NotAfter) {
		return "", fmt.Errorf("invalid certificate: not valid at the transaction time %s (valid from %s to %s)",
			t.timestamp(), ci.cert.NotBefore.UTC().Format(time.RFC3339), ci.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	key, err := t.key(keyIdentity, mspID, ci.cidID)
	if err != nil {
		return "", err
	}
	var existing Identity
	found, err := t.getJSON(key, &existing)
	if err != nil {
		return "", err
	}
	if found && existing.Status == identityActive {
		if existing.PartyID == partyID && slices.Equal(existing.Roles, roles) {
			return t.finish(existing)
		}
		return "", fmt.Errorf("identity %s is already registered for party %s with roles %s; revoke it first",
			existing.ID, existing.PartyID, strings.Join(existing.Roles, ","))
	}
	reg := Identity{
		ID:           mspID + ":" + ci.cidID,
		MSPID:        mspID,
		PartyID:      partyID,
		Roles:        roles,
		Subject:      ci.subject,
		Issuer:       ci.issuer,
		Status:       identityActive,
		RegisteredAt: t.timestamp(),
		RegisteredBy: t.caller.id,
		RegisteredTx: t.txID,
	}
	if err := t.putJSON(key, reg); err != nil {
		return "", err
	}
	if partyID != OperatorParty {
		if err := t.provisionParty(partyID); err != nil {
			return "", err
		}
	}
	if err := t.emit(identityEvent{Event: t.event(EventIdentityRegistered), Identity: reg}); err != nil {
		return "", err
	}
	return t.finish(reg)
}

// RevokeIdentity revokes a registration by its id ("<mspId>:<cidId>", as RegisterIdentity and
// ListIdentities return it). Operator admin only. The record is kept, marked revoked; revoking a
// revoked identity is a no-op.
func (c *RolesContract) RevokeIdentity(ctx contractapi.TransactionContextInterface, identityID, reason string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireAdmin("revoke identities"); err != nil {
		return "", err
	}
	mspID, cidID, ok := strings.Cut(identityID, ":")
	if _, known := partyForMSP(mspID); !ok || !known || len(cidID) > 4096 || !cidIDPattern.MatchString(cidID) {
		return "", fmt.Errorf("invalid identity id %q: expected \"<mspId>:<cid id>\" as ListIdentities returns it", truncate(identityID, 60))
	}
	if err := validateText("reason", reason, 512, true); err != nil {
		return "", err
	}
	key, err := t.key(keyIdentity, mspID, cidID)
	if err != nil {
		return "", err
	}
	var reg Identity
	found, err := t.getJSON(key, &reg)
	if err != nil {
		return "", err
	}
	if !found {
		return "", fmt.Errorf("identity %s is not registered", truncate(identityID, 60))
	}
	if reg.Status == identityRevoked {
		return t.finish(reg)
	}
	reg.Status = identityRevoked
	reg.RevokedAt = t.timestamp()
	reg.RevokedBy = t.caller.id
	reg.RevokeReason = reason
	if err := t.putJSON(key, reg); err != nil {
		return "", err
	}
	if err := t.emit(identityEvent{Event: t.event(EventIdentityRevoked), Identity: reg}); err != nil {
		return "", err
	}
	return t.finish(reg)
}

// SetBusinessTimeZone sets the platform's business time zone (operator admin only): the zone whose
// calendar date is "today" for closing at maturity and for the latest valuation date prices may be
// posted for. zone is a name without daylight saving time (Asia/Tokyo, the default; Asia/Seoul,
// Asia/Shanghai, Asia/Hong_Kong, Asia/Singapore, Asia/Taipei, Asia/Kolkata, Asia/Dubai,
// Australia/Brisbane, UTC) or a fixed offset "UTC+09:00". Setting the zone already set is a no-op.
func (c *RolesContract) SetBusinessTimeZone(ctx contractapi.TransactionContextInterface, zone string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireAdmin("set the business time zone"); err != nil {
		return "", err
	}
	off, err := zoneOffset(zone)
	if err != nil {
		return "", err
	}
	current, err := t.settings()
	if err != nil {
		return "", err
	}
	if current.TimeZone == zone {
		out := *current
		out.BusinessDate, _ = t.businessDate()
		return t.finish(out)
	}
	previous := current.TimeZone
	next := PlatformSettings{TimeZone: zone, UTCOffset: formatOffset(off), UpdatedBy: t.caller.id, UpdatedAt: t.timestamp(), TxID: t.txID}
	key, err := t.key(keyMeta, "settings")
	if err != nil {
		return "", err
	}
	if err := t.putJSON(key, next); err != nil {
		return "", err
	}
	t.platform, t.zone = nil, nil
	if next.BusinessDate, err = t.businessDate(); err != nil {
		return "", err
	}
	if err := t.emit(settingsEvent{Event: t.event(EventSettingsChanged), Settings: next, Previous: previous}); err != nil {
		return "", err
	}
	return t.finish(next)
}

// GetPlatformSettings returns the platform settings (the business time zone, default Asia/Tokyo)
// with the business date of the transaction. Any registered identity.
func (c *RolesContract) GetPlatformSettings(ctx contractapi.TransactionContextInterface) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireRegistered(); err != nil {
		return "", err
	}
	s, err := t.settings()
	if err != nil {
		return "", err
	}
	out := *s
	if out.BusinessDate, err = t.businessDate(); err != nil {
		return "", err
	}
	return t.finish(out)
}

// WhoAmI returns the caller's registration, or an access-denied error naming the caller when it is
// not registered. The operator's admin is always recognised (registered may be false).
func (c *RolesContract) WhoAmI(ctx contractapi.TransactionContextInterface) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireRegistered(); err != nil {
		return "", err
	}
	info := CallerInfo{
		ID:         t.caller.id,
		MSPID:      t.caller.mspID,
		PartyID:    t.caller.party(),
		Roles:      []string{},
		Subject:    t.caller.subject,
		Issuer:     t.caller.issuer,
		Admin:      t.caller.admin,
		Registered: t.caller.identity != nil,
	}
	if t.caller.identity != nil {
		info.Roles = t.caller.identity.Roles
	}
	return t.finish(info)
}

// ListIdentities lists registrations (active and revoked), one page at a time. Operator only.
func (c *RolesContract) ListIdentities(ctx contractapi.TransactionContextInterface, pageSize, bookmark string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireOperatorSide("list identities"); err != nil {
		return "", err
	}
	page, err := listPage(t, keyIdentity, nil, pageSize, bookmark, asRecord[Identity]("identity"))
	if err != nil {
		return "", err
	}
	return t.finish(page)
}

// parseRoles parses a JSON array of role names and checks them against the MSP.
func parseRoles(rolesJSON, mspID string) ([]string, error) {
	var roles []string
	if err := strictJSON("roles", rolesJSON, 1024, &roles); err != nil {
		return nil, fmt.Errorf("%w (expected a JSON array such as [\"party\"])", err)
	}
	if len(roles) == 0 {
		return nil, fmt.Errorf("roles must name at least one of %s, %s, %s", RoleTokenAdmin, RoleOracle, RoleParty)
	}
	seen := map[string]bool{}
	for _, r := range roles {
		switch r {
		case RoleTokenAdmin, RoleOracle:
			if mspID != OperatorMSP {
				return nil, fmt.Errorf("role %s is reserved for %s identities", r, OperatorMSP)
			}
		case RoleParty:
			if mspID == OperatorMSP {
				return nil, fmt.Errorf("role %s is for bank identities (MSP Bank<X>MSP), not %s", r, OperatorMSP)
			}
		default:
			return nil, fmt.Errorf("unknown role %q: expected %s, %s or %s", truncate(r, 40), RoleTokenAdmin, RoleOracle, RoleParty)
		}
		if seen[r] {
			return nil, fmt.Errorf("role %s is listed twice", r)
		}
		seen[r] = true
	}
	sort.Strings(roles)
	return roles, nil
}

// registeredParty refuses a bank party that has no active identity with the party role in the
// registry: tokens sent to it, or an agreement with it, could never be used, returned or
// withdrawn by anyone. field names the party in the error ("recipient", "lender", …). The
// registry is read once per party and transaction (a range over the MSP's registrations, a few
// keys).
func (t *txn) registeredParty(field, party string) error {
	if err := validateBankParty(field, party); err != nil {
		return err
	}
	if t.parties[party] || (party == t.caller.party() && t.caller.hasRole(RoleParty)) {
		return nil
	}
	mspID, ok := mspForParty(party)
	if !ok {
		return fmt.Errorf("invalid %s %q: expected a bank party id such as \"bank-a\"", field, truncate(party, 40))
	}
	found := false
	err := t.scanPartialKey(keyIdentity, []string{mspID}, func(_ string, v []byte) (bool, error) {
		var reg Identity
		if err := json.Unmarshal(v, &reg); err != nil {
			return false, fmt.Errorf("corrupt identity record: %w", err)
		}
		if reg.Status == identityActive && reg.PartyID == party && slices.Contains(reg.Roles, RoleParty) {
			found = true
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%s %s is not a registered party: no active identity of %s has the %s role in the role registry", field, party, mspID, RoleParty)
	}
	if t.parties == nil {
		t.parties = map[string]bool{}
	}
	t.parties[party] = true
	return nil
}
