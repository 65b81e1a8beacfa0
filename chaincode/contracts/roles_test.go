package contracts

import (
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRegisterIdentityKeyMatchesCid(t *testing.T) {
	w := newBareWorld(t)
	reg := w.register(w.lender, "bank-a", RoleParty)
	if reg.MSPID != "BankAMSP" || reg.PartyID != "bank-a" || reg.Status != identityActive {
		t.Fatalf("registration: %+v", reg)
	}
	if reg.Subject != "CN=User1@banka.example.com,OU=client,L=San Francisco,ST=California,C=US" {
		t.Fatalf("subject %q", reg.Subject)
	}
	if reg.Issuer != "CN=ca.banka.example.com,O=banka.example.com,L=San Francisco,ST=California,C=US" {
		t.Fatalf("issuer %q", reg.Issuer)
	}
	ev := w.expectEvent(EventIdentityRegistered)
	if ev["identity"].(map[string]any)["id"] != reg.ID {
		t.Fatalf("event %v", ev)
	}
	// The same member calling: cid derives the same key, so it is recognised.
	var me CallerInfo
	w.okJSON(w.lender, &me, "roles:WhoAmI")
	if me.ID != reg.ID || !me.Registered || me.Admin || me.PartyID != "bank-a" || len(me.Roles) != 1 || me.Roles[0] != RoleParty {
		t.Fatalf("WhoAmI: %+v", me)
	}
	k, _ := createKey(keyIdentity, "BankAMSP", strings.TrimPrefix(reg.ID, "BankAMSP:"))
	if _, ok := w.ledger.state[k]; !ok {
		t.Fatal("registration not stored under [mspId, cidId]")
	}
}

func TestRegisterIdentityIsIdempotent(t *testing.T) {
	w := newBareWorld(t)
	first := w.register(w.tokenAdmin, OperatorParty, RoleOracle, RoleTokenAdmin)
	var again Identity
	w.okJSON(w.opAdmin, &again, "roles:RegisterIdentity", OperatorMSP, w.tokenAdmin.certPEM, OperatorParty, `["token-admin","oracle"]`)
	w.noWrites("RegisterIdentity again")
	if again.RegisteredTx != first.RegisteredTx || strings.Join(again.Roles, ",") != "oracle,token-admin" {
		t.Fatalf("repeat registration changed the record: %+v", again)
	}
}

func TestRenewedCertificateKeepsRegistration(t *testing.T) {
	w := newBareWorld(t)
	w.register(w.lender, "bank-a", RoleParty)
	renewed := w.cas["BankAMSP"].issue(t, "renewed", "User1", "client", certEpoch.AddDate(1, 0, 0), certEpoch.AddDate(30, 0, 0))
	var me CallerInfo
	w.okJSON(renewed, &me, "roles:WhoAmI")
	if me.PartyID != "bank-a" {
		t.Fatalf("renewed certificate not recognised: %+v", me)
	}
}

func TestCertificateRegisteredUnderAnotherMSPNeverMatches(t *testing.T) {
	w := newBareWorld(t)
	// bank-c's certificate registered by mistake under BankAMSP: the key binds the MSP id.
	w.ok(w.opAdmin, "roles:RegisterIdentity", "BankAMSP", w.bankC.certPEM, "bank-a", `["party"]`)
	res := w.call(w.bankC, "roles:WhoAmI")
	if res.status == 200 || !strings.Contains(res.message, "is not registered") {
		t.Fatalf("want not registered, got %d %s", res.status, res.message)
	}
}

func TestRegisterIdentityRefusals(t *testing.T) {
	w := newBareWorld(t)
	w.register(w.lender, "bank-a", RoleParty)
	op := w.cas[OperatorMSP]
	b := w.cas["BankBMSP"]
	block, _ := pem.Decode([]byte(w.borrower.certPEM))
	caPEM := w.cas["BankBMSP"].certPEM
	expired := b.issue(t, "expired", "Old", "client", certEpoch, testEpoch.Add(-time.Hour))
	future := b.issue(t, "future", "New", "client", testEpoch.AddDate(1, 0, 0), testEpoch.AddDate(2, 0, 0))
	notAdmin := "access denied: only an admin of OperatorMSP (certificate OU admin) can register identities"
	cases := []struct {
		name, want string
		caller     *testID
		args       []string
	}{
		{"bank admin", notAdmin, w.bankAAdmin, []string{"BankBMSP", w.borrower.certPEM, "bank-b", `["party"]`}},
		{"operator client", notAdmin, op.member(t, "op client", "User5", "client"), []string{"BankBMSP", w.borrower.certPEM, "bank-b", `["party"]`}},
		{"registered party", notAdmin, w.lender, []string{"BankBMSP", w.borrower.certPEM, "bank-b", `["party"]`}},
		{"unknown MSP", `unknown MSP "Org1MSP": expected OperatorMSP or Bank<X>MSP (for example BankAMSP)`, w.opAdmin, []string{"Org1MSP", w.borrower.certPEM, "bank-b", `["party"]`}},
		{"lower-case bank MSP", `unknown MSP "BankaMSP": expected OperatorMSP or Bank<X>MSP (for example BankAMSP)`, w.opAdmin, []string{"BankaMSP", w.borrower.certPEM, "bank-b", `["party"]`}},
		{"party of another MSP", `party "bank-a" does not belong to MSP BankBMSP (its party is bank-b)`, w.opAdmin, []string{"BankBMSP", w.borrower.certPEM, "bank-a", `["party"]`}},
		{"operator party for a bank", `party "operator" does not belong to MSP BankBMSP (its party is bank-b)`, w.opAdmin, []string{"BankBMSP", w.borrower.certPEM, "operator", `["party"]`}},
		{"roles not JSON", `invalid roles: invalid character 'p' looking for beginning of value (expected a JSON array such as ["party"])`, w.opAdmin, []string{"BankBMSP", w.borrower.certPEM, "bank-b", `party`}},
		{"roles empty", "roles must name at least one of token-admin, oracle, party", w.opAdmin, []string{"BankBMSP", w.borrower.certPEM, "bank-b", `[]`}},
		{"roles missing", `invalid roles: empty; expected a JSON object (expected a JSON array such as ["party"])`, w.opAdmin, []string{"BankBMSP", w.borrower.certPEM, "bank-b", ``}},
		{"unknown role", `unknown role "admin": expected token-admin, oracle or party`, w.opAdmin, []string{"BankBMSP", w.borrower.certPEM, "bank-b", `["admin"]`}},
		{"duplicate role", "role party is listed twice", w.opAdmin, []string{"BankBMSP", w.borrower.certPEM, "bank-b", `["party","party"]`}},
		{"token-admin for a bank", "role token-admin is reserved for OperatorMSP identities", w.opAdmin, []string{"BankBMSP", w.borrower.certPEM, "bank-b", `["token-admin"]`}},
		{"oracle for a bank", "role oracle is reserved for OperatorMSP identities", w.opAdmin, []string{"BankBMSP", w.borrower.certPEM, "bank-b", `["party","oracle"]`}},
		{"party for the operator", "role party is for bank identities (MSP Bank<X>MSP), not OperatorMSP", w.opAdmin, []string{OperatorMSP, w.oracle.certPEM, "operator", `["party"]`}},
		{"empty certificate", "invalid certificate: empty; expected an X.509 certificate in PEM", w.opAdmin, []string{"BankBMSP", "", "bank-b", `["party"]`}},
		{"not PEM", "invalid certificate: not PEM; expected -----BEGIN CERTIFICATE-----", w.opAdmin, []string{"BankBMSP", "MIIB...", "bank-b", `["party"]`}},
		{"key instead of certificate", `invalid certificate: PEM block is "PRIVATE KEY", expected "CERTIFICATE"`, w.opAdmin, []string{"BankBMSP", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2}})), "bank-b", `["party"]`}},
		{"two certificates", "invalid certificate: expected exactly one PEM certificate", w.opAdmin, []string{"BankBMSP", w.borrower.certPEM + w.bankC.certPEM, "bank-b", `["party"]`}},
		{"garbage DER", "invalid certificate: x509: malformed certificate", w.opAdmin, []string{"BankBMSP", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes[:40]})), "bank-b", `["party"]`}},
		{"CA certificate", "invalid certificate: it is a CA certificate, not a member's", w.opAdmin, []string{"BankBMSP", caPEM, "bank-b", `["party"]`}},
		{"expired", "invalid certificate: not valid at the transaction time {now} (valid from 2020-01-01T00:00:00Z to 2025-06-06T08:00:00Z)", w.opAdmin, []string{"BankBMSP", expired.certPEM, "bank-b", `["party"]`}},
		{"not yet valid", "invalid certificate: not valid at the transaction time {now} (valid from 2026-06-06T09:00:00Z to 2027-06-06T09:00:00Z)", w.opAdmin, []string{"BankBMSP", future.certPEM, "bank-b", `["party"]`}},
	}
	for _, c := range cases {
		w.run(t, c.name, func() {
			// {now} is the next transaction's time: the next tick of the test clock
			want := strings.ReplaceAll(c.want, "{now}", w.clock.Add(time.Second).Format(time.RFC3339))
			w.refuse(c.caller, want, "roles:RegisterIdentity", c.args...)
		})
	}
}

func TestRegisterIdentityRefusesDifferentRolesForRegisteredIdentity(t *testing.T) {
	w := newBareWorld(t)
	reg := w.register(w.tokenAdmin, OperatorParty, RoleTokenAdmin)
	w.refuse(w.opAdmin, fmt.Sprintf("identity %s is already registered for party operator with roles token-admin; revoke it first", reg.ID),
		"roles:RegisterIdentity", OperatorMSP, w.tokenAdmin.certPEM, OperatorParty, `["oracle"]`)
}

func TestRevokeIdentity(t *testing.T) {
	w := newWorld(t)
	var me CallerInfo
	w.okJSON(w.bankC, &me, "roles:WhoAmI")
	var rev Identity
	w.okJSON(w.opAdmin, &rev, "roles:RevokeIdentity", me.ID, "left the network")
	if rev.Status != identityRevoked || rev.RevokeReason != "left the network" || rev.RevokedBy == "" || rev.RevokedAt == "" {
		t.Fatalf("revoked record: %+v", rev)
	}
	w.expectEvent(EventIdentityRevoked)
	w.refuse(w.bankC, "access denied: the caller (MSP BankCMSP, subject CN=User1@bankc.example.com,OU=client,L=San Francisco,ST=California,C=US) is revoked in the role registry", "roles:WhoAmI")
	w.refuse(w.bankC, "access denied: the caller (MSP BankCMSP, subject CN=User1@bankc.example.com,OU=client,L=San Francisco,ST=California,C=US) is revoked in the role registry", "ping:Ping", "x")
	// revoking again is a no-op
	w.ok(w.opAdmin, "roles:RevokeIdentity", me.ID, "again")
	w.noWrites("RevokeIdentity again")
	// registering again reactivates
	w.register(w.bankC, "bank-c", RoleParty)
	w.ok(w.bankC, "ping:Ping", "back")
}

func TestRevokeIdentityRefusals(t *testing.T) {
	w := newWorld(t)
	var me CallerInfo
	w.okJSON(w.bankC, &me, "roles:WhoAmI")
	unknown := "BankCMSP:" + strings.Repeat("A", 20)
	cases := []struct {
		name, want string
		caller     *testID
		args       []string
	}{
		{"not admin", "access denied: only an admin of OperatorMSP (certificate OU admin) can revoke identities", w.tokenAdmin, []string{me.ID, "x"}},
		{"bank admin", "access denied: only an admin of OperatorMSP (certificate OU admin) can revoke identities", w.bankAAdmin, []string{me.ID, "x"}},
		{"empty id", `invalid identity id "": expected "<mspId>:<cid id>" as ListIdentities returns it`, w.opAdmin, []string{"", "x"}},
		{"no colon", `invalid identity id "BankCMSP": expected "<mspId>:<cid id>" as ListIdentities returns it`, w.opAdmin, []string{"BankCMSP", "x"}},
		{"unknown MSP", `invalid identity id "Org1MSP:eDUw": expected "<mspId>:<cid id>" as ListIdentities returns it`, w.opAdmin, []string{"Org1MSP:eDUw", "x"}},
		{"not base64", `invalid identity id "BankCMSP:not base64!": expected "<mspId>:<cid id>" as ListIdentities returns it`, w.opAdmin, []string{"BankCMSP:not base64!", "x"}},
		{"no reason", "reason is required", w.opAdmin, []string{me.ID, ""}},
		{"not registered", fmt.Sprintf("identity %s is not registered", unknown), w.opAdmin, []string{unknown, "x"}},
	}
	for _, c := range cases {
		w.run(t, c.name, func() { w.refuse(c.caller, c.want, "roles:RevokeIdentity", c.args...) })
	}
}

func TestWhoAmI(t *testing.T) {
	w := newWorld(t)
	var admin CallerInfo
	w.okJSON(w.opAdmin, &admin, "roles:WhoAmI")
	if !admin.Admin || admin.Registered || admin.PartyID != OperatorParty || admin.MSPID != OperatorMSP || len(admin.Roles) != 0 {
		t.Fatalf("admin: %+v", admin)
	}
	w.noWrites("WhoAmI")
	var ta CallerInfo
	w.okJSON(w.tokenAdmin, &ta, "roles:WhoAmI")
	if ta.Admin || !ta.Registered || ta.PartyID != OperatorParty || ta.Roles[0] != RoleTokenAdmin {
		t.Fatalf("token admin: %+v", ta)
	}
	w.refuse(w.stranger, "access denied: the caller (MSP BankAMSP, subject CN=Stranger@banka.example.com,OU=client,L=San Francisco,ST=California,C=US) is not registered in the role registry", "roles:WhoAmI")
	w.refuse(w.bankAAdmin, "access denied: the caller (MSP BankAMSP, subject CN=Admin@banka.example.com,OU=admin,L=San Francisco,ST=California,C=US) is not registered in the role registry", "roles:WhoAmI")
}

func TestCallerWithoutCertificateIsRefused(t *testing.T) {
	w := newWorld(t)
	bogus := &testID{name: "bogus", creator: []byte("not a serialized identity")}
	res := w.call(bogus, "roles:WhoAmI")
	if res.status == 200 || !strings.HasPrefix(res.message, "access denied: cannot identify the caller: ") {
		t.Fatalf("got %d %s", res.status, res.message)
	}
}

func TestListIdentitiesPaginates(t *testing.T) {
	w := newWorld(t) // five registrations
	seen := map[string]bool{}
	bookmark := ""
	pages := 0
	for {
		var page Page[Identity]
		w.okJSON(w.opAdmin, &page, "roles:ListIdentities", "2", bookmark)
		pages++
		for _, id := range page.Items {
			seen[id.ID] = true
		}
		if page.Count != len(page.Items) {
			t.Fatalf("count %d for %d items", page.Count, len(page.Items))
		}
		if page.Bookmark == "" {
			break
		}
		bookmark = page.Bookmark
	}
	if len(seen) != 5 || pages != 3 {
		t.Fatalf("saw %d identities in %d pages", len(seen), pages)
	}
	w.refuse(w.opAdmin, "invalid pageSize 501: at most 500", "roles:ListIdentities", "501", "")
	w.refuse(w.opAdmin, `invalid pageSize "-1": expected a positive integer in decimal digits (no sign, decimal point or exponent)`, "roles:ListIdentities", "-1", "")
	w.refuse(w.lender, "access denied: only the operator can list identities", "roles:ListIdentities", "", "")
}
