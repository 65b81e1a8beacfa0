package contracts

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/hyperledger/fabric-chaincode-go/v2/pkg/cid"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"
)

// Roles granted in the registry.
const (
	RoleTokenAdmin = "token-admin"
	RoleOracle     = "oracle"
	RoleParty      = "party"
)

// adminOU marks an organisation admin's certificate (cryptogen with NodeOUs issues admin
// certificates with OU=admin).
const adminOU = "admin"

// caller is the identity that signed the proposal, as cid sees it, with its registration.
type caller struct {
	mspID    string
	cidID    string // cid.GetID(): base64("x509::<subject DN>::<issuer DN>")
	id       string // registry id: "<mspId>:<cidId>"
	subject  string
	issuer   string
	admin    bool      // an admin of the operator organisation
	identity *Identity // the active registration, nil if none
	revoked  bool      // a registration exists but is revoked
}

// resolveCaller identifies the creator of the proposal with cid, exactly as contractapi would, and
// reads its registration.
func resolveCaller(t *txn) (*caller, error) {
	ci, err := cid.New(t.stub)
	if err != nil {
		return nil, fmt.Errorf("access denied: cannot identify the caller: %w", err)
	}
	mspID, err := ci.GetMSPID()
	if err != nil {
		return nil, fmt.Errorf("access denied: cannot identify the caller: %w", err)
	}
	cidID, err := ci.GetID()
	if err != nil {
		return nil, fmt.Errorf("access denied: cannot identify the caller: %w", err)
	}
	c := &caller{mspID: mspID, cidID: cidID, id: mspID + ":" + cidID}
	c.subject, c.issuer = splitCIDID(cidID)
	if mspID == OperatorMSP {
		isAdmin, err := ci.HasOUValue(adminOU)
		if err != nil {
			return nil, fmt.Errorf("access denied: cannot identify the caller: %w", err)
		}
		c.admin = isAdmin
	}
	key, err := t.key(keyIdentity, mspID, cidID)
	if err != nil {
		return nil, fmt.Errorf("access denied: cannot identify the caller: %w", err)
	}
	var reg Identity
	found, err := t.getJSON(key, &reg)
	if err != nil {
		return nil, err
	}
	if found {
		if reg.Status == identityActive {
			c.identity = &reg
		} else {
			c.revoked = true
		}
	}
	return c, nil
}

// splitCIDID decodes a cid id into the subject and issuer distinguished names (for display).
func splitCIDID(cidID string) (string, string) {
	raw, err := base64.StdEncoding.DecodeString(cidID)
	if err != nil {
		return "", ""
	}
	s := strings.TrimPrefix(string(raw), "x509::")
	subject, issuer, _ := strings.Cut(s, "::")
	return subject, issuer
}

// party returns the caller's party: from its registration, or "operator" for the operator's admin.
func (c *caller) party() string {
	if c.identity != nil {
		return c.identity.PartyID
	}
	if c.admin {
		return OperatorParty
	}
	return ""
}

func (c *caller) hasRole(role string) bool {
	if c.identity == nil {
		return false
	}
	for _, r := range c.identity.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// operatorSide reports whether the caller acts for the operator (its admin, token administrator
// or oracle): such callers may read every party's records.
func (c *caller) operatorSide() bool {
	return c.admin || (c.identity != nil && c.identity.PartyID == OperatorParty)
}

func (c *caller) describe() string {
	return fmt.Sprintf("MSP %s, subject %s", c.mspID, c.subject)
}

func (c *caller) notRegistered() error {
	if c.revoked {
		return fmt.Errorf("access denied: the caller (%s) is revoked in the role registry", c.describe())
	}
	return fmt.Errorf("access denied: the caller (%s) is not registered in the role registry", c.describe())
}

// requireRegistered admits any active registered identity and the operator's admin.
func (t *txn) requireRegistered() error {
	if t.caller.identity != nil || t.caller.admin {
		return nil
	}
	return t.caller.notRegistered()
}

// requireAdmin admits only an admin of the operator organisation.
func (t *txn) requireAdmin(action string) error {
	if t.caller.admin {
		return nil
	}
	return fmt.Errorf("access denied: only an admin of %s (certificate OU %s) can %s", OperatorMSP, adminOU, action)
}

// requireOperatorSide admits the operator's admin and registered operator identities.
func (t *txn) requireOperatorSide(action string) error {
	if err := t.requireRegistered(); err != nil {
		return err
	}
	if t.caller.operatorSide() {
		return nil
	}
	return fmt.Errorf("access denied: only the operator can %s", action)
}

// requireRole admits a registered identity holding role.
func (t *txn) requireRole(role string) error {
	if t.caller.identity == nil {
		if t.caller.admin {
			return fmt.Errorf("access denied: the caller (%s) does not have the %s role", t.caller.describe(), role)
		}
		return t.caller.notRegistered()
	}
	if !t.caller.hasRole(role) {
		return fmt.Errorf("access denied: %s (party %s) does not have the %s role", t.caller.subject, t.caller.identity.PartyID, role)
	}
	return nil
}

// requireParty admits a registered identity with the party role and returns its party.
func (t *txn) requireParty() (string, error) {
	if err := t.requireRole(RoleParty); err != nil {
		return "", err
	}
	return t.caller.identity.PartyID, nil
}

// requireViewer admits the operator side and the parties named.
func (t *txn) requireViewer(what string, parties ...string) error {
	if err := t.requireRegistered(); err != nil {
		return err
	}
	if t.caller.operatorSide() {
		return nil
	}
	if t.caller.hasRole(RoleParty) {
		for _, p := range parties {
			if p == t.caller.party() {
				return nil
			}
		}
	}
	return fmt.Errorf("access denied: %s cannot read %s", t.caller.party(), what)
}

// creatorBytes is a minimal cid stub: cid reads only the serialized creator identity.
type creatorBytes []byte

func (c creatorBytes) GetCreator() ([]byte, error) { return c, nil }

// certIdentity derives, for a member's certificate PEM, the id cid would compute when that member
// calls the chaincode: the same bytes go through the same library.
type certIdentity struct {
	cidID   string
	subject string
	issuer  string
	cert    *x509.Certificate
}

func identityFromCert(mspID, certPEM string) (*certIdentity, error) {
	if certPEM == "" {
		return nil, errors.New("invalid certificate: empty; expected an X.509 certificate in PEM")
	}
	if len(certPEM) > 16*1024 {
		return nil, errors.New("invalid certificate: longer than 16384 bytes")
	}
	block, rest := pem.Decode([]byte(certPEM))
	if block == nil {
		return nil, errors.New("invalid certificate: not PEM; expected -----BEGIN CERTIFICATE-----")
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("invalid certificate: PEM block is %q, expected \"CERTIFICATE\"", truncate(block.Type, 40))
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return nil, errors.New("invalid certificate: expected exactly one PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("invalid certificate: %w", err)
	}
	if cert.IsCA {
		return nil, errors.New("invalid certificate: it is a CA certificate, not a member's")
	}
	creator, err := proto.Marshal(&msp.SerializedIdentity{Mspid: mspID, IdBytes: []byte(certPEM)})
	if err != nil {
		return nil, fmt.Errorf("invalid certificate: %w", err)
	}
	ci, err := cid.New(creatorBytes(creator))
	if err != nil {
		return nil, fmt.Errorf("invalid certificate: %w", err)
	}
	id, err := ci.GetID()
	if err != nil {
		return nil, fmt.Errorf("invalid certificate: %w", err)
	}
	subject, issuer := splitCIDID(id)
	return &certIdentity{cidID: id, subject: subject, issuer: issuer, cert: cert}, nil
}
