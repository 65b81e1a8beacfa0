package contracts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"
)

// ---- identities: real X.509 certificates, as cryptogen issues them with NodeOUs ----

type orgCA struct {
	mspID   string
	domain  string
	key     *ecdsa.PrivateKey
	cert    *x509.Certificate
	serial  int64
	certPEM string
}

type testID struct {
	name    string
	mspID   string
	certPEM string
	creator []byte
	cert    *x509.Certificate
}

var certEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func newOrgCA(t testing.TB, mspID, domain string) *orgCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject: pkix.Name{Country: []string{"US"}, Province: []string{"California"}, Locality: []string{"San Francisco"},
			Organization: []string{domain}, CommonName: "ca." + domain},
		NotBefore:             certEpoch,
		NotAfter:              certEpoch.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &orgCA{mspID: mspID, domain: domain, key: key, cert: cert, serial: 1,
		certPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// issue creates a member certificate with subject OU ou (client, admin, peer) and CN user@domain.
func (ca *orgCA) issue(t testing.TB, name, user, ou string, notBefore, notAfter time.Time) *testID {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial),
		Subject: pkix.Name{Country: []string{"US"}, Province: []string{"California"}, Locality: []string{"San Francisco"},
			OrganizationalUnit: []string{ou}, CommonName: user + "@" + ca.domain},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	creator, err := proto.Marshal(&msp.SerializedIdentity{Mspid: ca.mspID, IdBytes: []byte(certPEM)})
	if err != nil {
		t.Fatal(err)
	}
	return &testID{name: name, mspID: ca.mspID, certPEM: certPEM, creator: creator, cert: cert}
}

func (ca *orgCA) member(t testing.TB, name, user, ou string) *testID {
	return ca.issue(t, name, user, ou, certEpoch, certEpoch.AddDate(20, 0, 0))
}

// ---- the world: chaincode + committed state + a cast of identities ----

type world struct {
	t      testing.TB
	cc     *Chaincode
	ledger *ledgerState
	clock  time.Time
	seq    int

	cas map[string]*orgCA

	opAdmin    *testID // OperatorMSP, OU admin
	tokenAdmin *testID // OperatorMSP, registered token-admin
	oracle     *testID // OperatorMSP, registered oracle
	lender     *testID // BankAMSP bank-a, registered party
	borrower   *testID // BankBMSP bank-b, registered party
	bankC      *testID // BankCMSP bank-c, registered party (unrelated to agreements)
	stranger   *testID // BankAMSP, never registered
	bankAAdmin *testID // BankAMSP, OU admin, not registered

	lastEvent *eventRecord
	lastStub  *mockStub

	// how the next transactions are sent (privacy.go): pair names the pair collection in the
	// transient field tanpo.pair; privateArgs sends the arguments in the transient field
	// tanpo.args with only the function name in the proposal
	pair        string
	privateArgs bool
	extra       map[string][]byte // more transient fields (e.g. tanpo.books)
}

type eventRecord struct {
	Name    string
	Payload map[string]any
	Raw     string
}

// start time of the test clock; each transaction advances it by one second.
var testEpoch = time.Date(2025, 6, 6, 9, 0, 0, 0, time.UTC)

// cast is the set of organisations and identities, generated once per test binary (key generation
// dominates the cost of a world) and shared by every world; each world has its own fresh state.
type cast struct {
	cas                                                                        map[string]*orgCA
	opAdmin, tokenAdmin, oracle, lender, borrower, bankC, stranger, bankAAdmin *testID
}

var (
	castOnce   sync.Once
	sharedCast *cast
)

func theCast(t testing.TB) *cast {
	castOnce.Do(func() {
		c := &cast{cas: map[string]*orgCA{}}
		for _, o := range []struct{ msp, domain string }{
			{OperatorMSP, "operator.example.com"}, {"BankAMSP", "banka.example.com"},
			{"BankBMSP", "bankb.example.com"}, {"BankCMSP", "bankc.example.com"},
		} {
			c.cas[o.msp] = newOrgCA(t, o.msp, o.domain)
		}
		op, a, b, cc := c.cas[OperatorMSP], c.cas["BankAMSP"], c.cas["BankBMSP"], c.cas["BankCMSP"]
		c.opAdmin = op.member(t, "operator admin", "Admin", "admin")
		c.tokenAdmin = op.member(t, "token admin", "TokenAdmin", "client")
		c.oracle = op.member(t, "oracle", "Oracle", "client")
		c.lender = a.member(t, "lender bank-a", "User1", "client")
		c.borrower = b.member(t, "borrower bank-b", "User1", "client")
		c.bankC = cc.member(t, "unrelated bank-c", "User1", "client")
		c.stranger = a.member(t, "unregistered", "Stranger", "client")
		c.bankAAdmin = a.member(t, "bank-a admin", "Admin", "admin")
		sharedCast = c
	})
	if sharedCast == nil {
		t.Fatal("test identities could not be generated")
	}
	return sharedCast
}

var (
	ccOnce   sync.Once
	sharedCC *Chaincode
	ccErr    error
)

// theChaincode builds the chaincode once (building it compiles the contract metadata); it holds no
// state, so worlds share it.
func theChaincode(t testing.TB) *Chaincode {
	ccOnce.Do(func() { sharedCC, ccErr = New() })
	if ccErr != nil {
		t.Fatal(ccErr)
	}
	return sharedCC
}

// newBareWorld builds the chaincode and a fresh ledger with nobody registered.
func newBareWorld(t testing.TB) *world {
	t.Helper()
	c := theCast(t)
	return &world{t: t, cc: theChaincode(t), ledger: newLedgerState(), clock: testEpoch, cas: c.cas,
		opAdmin: c.opAdmin, tokenAdmin: c.tokenAdmin, oracle: c.oracle, lender: c.lender,
		borrower: c.borrower, bankC: c.bankC, stranger: c.stranger, bankAAdmin: c.bankAAdmin}
}

// newWorld registers the standard cast.
func newWorld(t testing.TB) *world {
	w := newBareWorld(t)
	w.register(w.tokenAdmin, OperatorParty, RoleTokenAdmin)
	w.register(w.oracle, OperatorParty, RoleOracle)
	w.register(w.lender, "bank-a", RoleParty)
	w.register(w.borrower, "bank-b", RoleParty)
	w.register(w.bankC, "bank-c", RoleParty)
	return w
}

func (w *world) register(id *testID, party string, roles ...string) Identity {
	w.t.Helper()
	rj, _ := json.Marshal(roles)
	var reg Identity
	w.okJSON(w.opAdmin, &reg, "roles:RegisterIdentity", id.mspID, id.certPEM, party, string(rj))
	return reg
}

type result struct {
	status  int32
	payload string
	message string
	stub    *mockStub
}

// call runs one transaction as id. A successful transaction's writes are committed; a failed one's
// are discarded, as the peer would.
func (w *world) call(id *testID, fn string, args ...string) result {
	w.t.Helper()
	w.seq++
	w.clock = w.clock.Add(time.Second)
	sum := sha256.Sum256([]byte(fmt.Sprintf("tx-%d-%s", w.seq, fn)))
	stub := &mockStub{
		ledger: w.ledger, txID: hex.EncodeToString(sum[:]), ts: w.clock, creator: id.creator,
		writes: map[string][]byte{}, sbeWrites: map[string][]byte{},
	}
	stub.args = append(stub.args, []byte(fn))
	if w.privateArgs {
		stub.transient = map[string][]byte{transientArgs: []byte(mustJSON(append([]string{}, args...)))}
	} else {
		for _, a := range args {
			stub.args = append(stub.args, []byte(a))
		}
	}
	if w.pair != "" {
		if stub.transient == nil {
			stub.transient = map[string][]byte{}
		}
		stub.transient[transientPair] = []byte(w.pair)
	}
	for k, v := range w.extra {
		if stub.transient == nil {
			stub.transient = map[string][]byte{}
		}
		stub.transient[k] = v
	}
	resp := w.cc.Invoke(stub)
	if stub.openIterators != 0 {
		w.t.Fatalf("%s left %d iterators open", fn, stub.openIterators)
	}
	w.lastStub = stub
	res := result{status: resp.GetStatus(), payload: string(resp.GetPayload()), message: resp.GetMessage(), stub: stub}
	if res.status == 200 {
		w.ledger.apply(stub)
		w.lastEvent = nil
		if stub.event != nil {
			ev := &eventRecord{Name: stub.event.GetEventName(), Raw: string(stub.event.GetPayload())}
			if err := json.Unmarshal(stub.event.GetPayload(), &ev.Payload); err != nil {
				w.t.Fatalf("%s: event payload is not JSON: %v", fn, err)
			}
			if ev.Payload["type"] != ev.Name {
				w.t.Fatalf("%s: event %s has payload type %v", fn, ev.Name, ev.Payload["type"])
			}
			if ev.Payload["txId"] != stub.txID {
				w.t.Fatalf("%s: event %s has txId %v, want %s", fn, ev.Name, ev.Payload["txId"], stub.txID)
			}
			w.lastEvent = ev
		}
	}
	return res
}

// ok runs a transaction that must succeed and returns its payload.
func (w *world) ok(id *testID, fn string, args ...string) string {
	w.t.Helper()
	res := w.call(id, fn, args...)
	if res.status != 200 {
		w.t.Fatalf("%s as %s: unexpected error: %s", fn, id.name, res.message)
	}
	return res.payload
}

// okJSON runs a transaction that must succeed and decodes its payload into out.
func (w *world) okJSON(id *testID, out any, fn string, args ...string) {
	w.t.Helper()
	p := w.ok(id, fn, args...)
	if err := json.Unmarshal([]byte(p), out); err != nil {
		w.t.Fatalf("%s: payload is not the expected JSON: %v\n%s", fn, err, p)
	}
}

// refuse runs a transaction that must fail with exactly wantErr, writing nothing, attempting no
// write and emitting no event.
func (w *world) refuse(id *testID, wantErr, fn string, args ...string) {
	w.t.Helper()
	before := w.ledger.snapshot()
	res := w.call(id, fn, args...)
	if res.status == 200 {
		w.t.Fatalf("%s as %s: succeeded, want error %q\npayload: %s", fn, id.name, wantErr, res.payload)
	}
	if res.message != wantErr {
		w.t.Fatalf("%s as %s: error\n got: %s\nwant: %s", fn, id.name, res.message, wantErr)
	}
	w.assertUnchanged(before, fn)
	if len(res.stub.writes) != 0 || len(res.stub.sbeWrites) != 0 || res.stub.event != nil {
		w.t.Fatalf("%s as %s: refused but attempted %d writes, %d policies, event %v", fn, id.name,
			len(res.stub.writes), len(res.stub.sbeWrites), res.stub.event != nil)
	}
}

// refusePrefix is refuse for errors whose tail comes from a library (JSON decoding).
func (w *world) refusePrefix(id *testID, wantPrefix, fn string, args ...string) {
	w.t.Helper()
	before := w.ledger.snapshot()
	res := w.call(id, fn, args...)
	if res.status == 200 {
		w.t.Fatalf("%s as %s: succeeded, want error starting %q", fn, id.name, wantPrefix)
	}
	if !strings.HasPrefix(res.message, wantPrefix) {
		w.t.Fatalf("%s as %s: error\n got: %s\nwant prefix: %s", fn, id.name, res.message, wantPrefix)
	}
	w.assertUnchanged(before, fn)
	if len(res.stub.writes) != 0 || res.stub.event != nil {
		w.t.Fatalf("%s: refused but attempted writes", fn)
	}
}

func (w *world) assertUnchanged(before map[string]string, fn string) {
	w.t.Helper()
	if after := w.ledger.snapshot(); !reflect.DeepEqual(before, after) {
		w.t.Fatalf("%s: state changed on a refusal", fn)
	}
}

// noWrites asserts the last transaction (a no-op) wrote nothing and emitted no event.
func (w *world) noWrites(fn string) {
	w.t.Helper()
	if len(w.lastStub.writes) != 0 || w.lastStub.event != nil {
		w.t.Fatalf("%s: expected a no-op, got %d writes and event %v", fn, len(w.lastStub.writes), w.lastStub.event != nil)
	}
}

// expectEvent asserts the last transaction emitted an event of the type and returns its payload.
func (w *world) expectEvent(typ string) map[string]any {
	w.t.Helper()
	if w.lastEvent == nil {
		w.t.Fatalf("no event, want %s", typ)
	}
	if w.lastEvent.Name != typ {
		w.t.Fatalf("event %s, want %s", w.lastEvent.Name, typ)
	}
	return w.lastEvent.Payload
}

// ---- ledger fixtures ----

func tokenJSON(id, kind, currency string, extra map[string]string) string {
	m := map[string]string{"id": id, "kind": kind, "currency": currency}
	if kind == KindSecurity {
		m["ticker"] = id
		m["quoteConvention"] = QuotePerUnit
		m["assetClass"] = "equity"
	}
	for k, v := range extra {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// defineTokens defines JPY (CT), USD (CT), JP8306 and JP8604 (ST, JPY) and US-AAPL (ST, USD).
func (w *world) defineTokens() {
	w.t.Helper()
	w.ok(w.tokenAdmin, "tokens:DefineToken", tokenJSON("JPY", KindCash, "JPY", nil))
	w.ok(w.tokenAdmin, "tokens:DefineToken", tokenJSON("USD", KindCash, "USD", nil))
	w.ok(w.tokenAdmin, "tokens:DefineToken", tokenJSON("JP8306", KindSecurity, "JPY", map[string]string{"isin": "JP3902900004", "name": "Mitsubishi UFJ"}))
	w.ok(w.tokenAdmin, "tokens:DefineToken", tokenJSON("JP8604", KindSecurity, "JPY", nil))
	w.ok(w.tokenAdmin, "tokens:DefineToken", tokenJSON("US-AAPL", KindSecurity, "USD", nil))
}

// issue mints quantity to the party of id through a request and its approval.
func (w *world) issue(id *testID, token, quantity string) {
	w.t.Helper()
	var req Request
	w.okJSON(id, &req, "tokens:RequestIssuance", token, quantity, "deposit-"+token)
	w.ok(w.tokenAdmin, "tokens:ApproveIssuance", req.ID)
}

// market defines tokens and funds bank-a with JPY and bank-b with securities.
func (w *world) market() {
	w.defineTokens()
	w.issue(w.lender, "JPY", "100000000")
	w.issue(w.borrower, "JP8306", "100000")
	w.issue(w.borrower, "JP8604", "50000")
	w.issue(w.borrower, "JPY", "1000000")
}

// rawBalance reads a free balance from committed state (0 when absent).
func (w *world) rawBalance(party, token string) int64 {
	k, _ := createKey(keyBalance, party, token)
	v, ok := w.ledger.state[k]
	if !ok {
		return 0
	}
	var b Balance
	if err := json.Unmarshal(v, &b); err != nil {
		w.t.Fatal(err)
	}
	q, err := parseStoredQuantity(b.Quantity)
	if err != nil {
		w.t.Fatal(err)
	}
	return q
}

// pairAB is the private collection of the standard cast's lender and borrower.
const pairAB = "pair-bank-a-bank-b"

// inPair runs f with the pair collection coll named in every transaction's transient field
// tanpo.pair ("" names none).
func (w *world) inPair(coll string, f func()) {
	w.t.Helper()
	prior := w.pair
	w.pair = coll
	defer func() { w.pair = prior }()
	f()
}

// query runs an evaluate function that must succeed and decodes its payload into out, leaving
// lastEvent and lastStub as the transaction before it left them (so a test reads a record back and
// still inspects the transaction that made it).
func (w *world) query(id *testID, out any, fn string, args ...string) {
	w.t.Helper()
	ev, stub := w.lastEvent, w.lastStub
	defer func() { w.lastEvent, w.lastStub = ev, stub }()
	w.okJSON(id, out, fn, args...)
}

// agreement reads an agreement with GetAgreement as id (one of its parties).
func (w *world) agreement(id *testID, agreementID string) Agreement {
	w.t.Helper()
	var a Agreement
	w.query(id, &a, "agreements:GetAgreement", agreementID)
	return a
}

// marginCall reads the margin call of an agreement on a date with GetMarginCall as id.
func (w *world) marginCall(id *testID, agreementID, date string) MarginCallRecord {
	w.t.Helper()
	var rec MarginCallRecord
	w.query(id, &rec, "margin:GetMarginCall", agreementID, date)
	return rec
}

// collateral reads CollateralHeld of an agreement as id.
func (w *world) collateral(id *testID, agreementID string) CollateralReport {
	w.t.Helper()
	var rep CollateralReport
	w.query(id, &rep, "agreements:CollateralHeld", agreementID)
	return rep
}

// receipt runs a bilateral submit function that must succeed and returns its receipt, checked
// against the transaction.
func (w *world) receipt(id *testID, fn string, args ...string) Receipt {
	w.t.Helper()
	var r Receipt
	w.okJSON(id, &r, fn, args...)
	if r.TxID != w.lastStub.txID || r.Agreement == "" || r.Status == "" {
		w.t.Fatalf("%s: receipt %+v (transaction %s)", fn, r, w.lastStub.txID)
	}
	return r
}

// step runs a bilateral submit function as id and returns the agreement after it, read back by
// id with GetAgreement.
func (w *world) step(id *testID, fn string, args ...string) Agreement {
	w.t.Helper()
	r := w.receipt(id, fn, args...)
	a := w.agreement(id, r.Agreement)
	if a.Status != r.Status {
		w.t.Fatalf("%s: receipt status %s, record %s", fn, r.Status, a.Status)
	}
	return a
}

// marginCallRun runs MarginCall as id and returns the record it made or replayed (read by the lender;
// Replayed set when the receipt says so).
func (w *world) marginCallRun(id *testID, agreementID, date string) MarginCallRecord {
	w.t.Helper()
	var r CallReceipt
	w.okJSON(id, &r, "margin:MarginCall", agreementID, date)
	if r.Agreement != agreementID || r.Date != date || (r.Status != SweepCalled && r.Status != SweepReplayed) || r.TxID == "" {
		w.t.Fatalf("MarginCall receipt: %+v", r)
	}
	if r.Status == SweepCalled && r.TxID != w.lastStub.txID {
		w.t.Fatalf("MarginCall receipt of a call names transaction %s, not %s", r.TxID, w.lastStub.txID)
	}
	rec := w.marginCall(w.lenderOf(agreementID), agreementID, date)
	rec.Replayed = r.Status == SweepReplayed
	return rec
}

// lenderOf is the identity of the party that reads an agreement in the helpers: the lender, or
// the borrower when it is not bank-a's.
func (w *world) lenderOf(agreementID string) *testID {
	w.t.Helper()
	coll, _ := w.rawAgreementKey(agreementID)
	a, b, _ := collectionParties(coll)
	for _, p := range []string{a, b} {
		switch p {
		case "bank-a":
			return w.lender
		case "bank-b":
			return w.borrower
		case "bank-c":
			return w.bankC
		}
	}
	w.t.Fatalf("agreement %s is in no known pair (%q)", agreementID, coll)
	return nil
}

// rawAgreementKey finds an agreement's key in the committed state: its collection and the
// working-set key ("" when absent).
func (w *world) rawAgreementKey(agreement string) (string, string) {
	ak, _ := createKey(keyAgreement, agreement)
	for k := range w.ledger.state {
		if coll, key, ok := splitPrivateKey(k); ok && key == ak {
			return coll, k
		}
	}
	return "", ""
}

// rawBook reads the custody book of an agreement from the committed state (nil before approval).
func (w *world) rawBook(agreement string) (*CustodyBook, string) {
	w.t.Helper()
	coll, ak := w.rawAgreementKey(agreement)
	if ak == "" {
		return nil, ""
	}
	var a Agreement
	if err := json.Unmarshal(w.ledger.state[ak], &a); err != nil {
		w.t.Fatal(err)
	}
	if a.Book == "" {
		return nil, ""
	}
	ck, _ := createKey(keyCustody, a.Book)
	k := privateKey(coll, ck)
	v, ok := w.ledger.state[k]
	if !ok {
		w.t.Fatalf("agreement %s names custody book %s, which is not in the state", agreement, a.Book)
	}
	var b CustodyBook
	if err := json.Unmarshal(v, &b); err != nil {
		w.t.Fatal(err)
	}
	if b.Agreements[agreement] == nil {
		w.t.Fatalf("agreement %s is missing from its custody book %s", agreement, a.Book)
	}
	return &b, k
}

// rawTermsBook reads the terms book of custody book id of the pair bank-a/bank-b from committed state.
func (w *world) rawTermsBook(id string) *TermsBook {
	w.t.Helper()
	k, _ := createKey(keyTermsBook, id)
	var tb TermsBook
	if err := json.Unmarshal(w.ledger.state[privateKey(pairAB, k)], &tb); err != nil {
		w.t.Fatalf("terms book %s: %v", id, err)
	}
	return &tb
}

func (w *world) rawPosition(agreement, token string) int64 {
	w.t.Helper()
	b, _ := w.rawBook(agreement)
	if b == nil {
		return 0
	}
	q, _ := parseStoredQuantity(b.Agreements[agreement].Held[token])
	return q
}

// setRawPosition writes a position straight into the committed state (to simulate states that
// are hard to reach through the contract).
func (w *world) setRawPosition(agreement, token string, held int64) {
	w.t.Helper()
	b, k := w.rawBook(agreement)
	if b == nil {
		w.t.Fatalf("agreement %s has no custody book", agreement)
	}
	b.Agreements[agreement].Held[token] = formatQuantity(held)
	v, err := json.Marshal(b)
	if err != nil {
		w.t.Fatal(err)
	}
	w.ledger.state[k] = v
}

// checkConservation asserts, for every token, supply + Σ pair mints = Σ free balances +
// Σ max(position, 0), and that no stored balance or mint account is negative.
func (w *world) checkConservation() {
	w.t.Helper()
	supply := map[string]int64{}
	held := map[string]int64{}
	for k, v := range w.ledger.state {
		obj, attrs := splitKeyForTest(k)
		if _, pk, private := splitPrivateKey(k); private {
			obj, attrs = splitKeyForTest(pk)
		}
		switch obj {
		case keySupply:
			var s Supply
			_ = json.Unmarshal(v, &s)
			q, _ := parseStoredQuantity(s.Supply)
			supply[attrs[0]] += q
		case keyPairMint:
			var m PairMint
			_ = json.Unmarshal(v, &m)
			q, err := parseStoredQuantity(m.Minted)
			if err != nil || q < 0 {
				w.t.Fatalf("bad mint account %s", v)
			}
			supply[attrs[0]] += q
		case keyBalance:
			var b Balance
			_ = json.Unmarshal(v, &b)
			q, err := parseStoredQuantity(b.Quantity)
			if err != nil || q < 0 {
				w.t.Fatalf("negative stored balance %s", v)
			}
			held[attrs[1]] += q
		case keyCustody:
			var b CustodyBook
			_ = json.Unmarshal(v, &b)
			for _, c := range b.Agreements {
				for tok, s := range c.Held {
					if q, _ := parseStoredQuantity(s); q > 0 {
						held[tok] += q
					}
				}
			}
		}
	}
	tokens := map[string]bool{}
	for tok := range supply {
		tokens[tok] = true
	}
	for tok := range held {
		tokens[tok] = true
	}
	names := make([]string, 0, len(tokens))
	for tok := range tokens {
		names = append(names, tok)
	}
	sort.Strings(names)
	for _, tok := range names {
		if supply[tok] != held[tok] {
			w.t.Fatalf("conservation broken for %s: supply + pair mints %d, held %d", tok, supply[tok], held[tok])
		}
	}
}

func createKey(objectType string, attrs ...string) (string, error) {
	s := &mockStub{}
	return s.CreateCompositeKey(objectType, attrs)
}

func splitKeyForTest(k string) (string, []string) {
	s := &mockStub{}
	obj, attrs, err := s.SplitCompositeKey(k)
	if err != nil {
		return "", nil
	}
	return obj, attrs
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// ---- agreement fixtures ----

// termsMap is the default agreement: bank-a lends 1,000,000 JPY to bank-b against 2,000 JP8306
// (CT1) and 1,000 JP8604 (CT2), haircut 5%, daily margining in multi mode.
func termsMap(id string) map[string]any {
	return map[string]any{
		"id":       id,
		"lender":   "bank-a",
		"borrower": "bank-b",
		"loan":     map[string]any{"token": "JPY", "quantity": "1000000"},
		"collateral": []any{
			map[string]any{"token": "JP8306", "quantity": "2000"},
			map[string]any{"token": "JP8604", "quantity": "1000"},
		},
		"baseCurrency":          "JPY",
		"haircut":               "0.05",
		"threshold":             "0",
		"mode":                  "multi",
		"settlementLagDays":     0,
		"autoIssue":             false,
		"minimumTransferAmount": "0",
		"tradeDate":             "2025-05-30",
		"startDate":             "2025-06-01",
		"endDate":               "2025-12-31",
	}
}

func termsJSON(id string, mut func(m map[string]any)) string {
	m := termsMap(id)
	if mut != nil {
		mut(m)
	}
	return mustJSON(m)
}

// propose has the lender propose the default agreement (modified by mut).
func (w *world) propose(id string, mut func(m map[string]any)) Agreement {
	w.t.Helper()
	return w.step(w.lender, "agreements:Propose", termsJSON(id, mut))
}

// open proposes (as lender) and approves (as borrower) an agreement.
func (w *world) open(id string, mut func(m map[string]any)) Agreement {
	w.t.Helper()
	w.propose(id, mut)
	return w.step(w.borrower, "agreements:Approve", id)
}

// endedTerms makes an agreement whose end date (2025-06-01) is before the test clock.
func endedTerms(m map[string]any) {
	m["tradeDate"], m["startDate"], m["endDate"] = "2025-05-01", "2025-05-01", "2025-06-01"
}

// run runs f as a subtest that shares the world (the world reports failures to the subtest).
func (w *world) run(t *testing.T, name string, f func()) {
	t.Helper()
	parent := w.t
	t.Run(name, func(st *testing.T) {
		w.t = st
		defer func() { w.t = parent }()
		f()
	})
}

func jsonUnmarshal(b []byte, out any) error { return json.Unmarshal(b, out) }
