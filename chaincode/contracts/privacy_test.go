package contracts

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-chaincode-go/v2/pkg/statebased"
)

// Confidentiality (privacy.go): what one agreement is made of stays in its pair's collection and
// out of every block; the operator and third banks read none of it.

// secretID and secretTerms are an agreement with quantities, a haircut and dates that occur
// nowhere else in the fixture, so finding them anywhere public means the terms leaked.
const secretID = "AGR-SECRET-7"

var secretMarks = []string{`"1234567"`, `"2345"`, `"1357"`, `"0.0725"`, "1234567", "0.0725", "2025-05-27", "2025-05-28", "2025-06-04", secretExtra}

// secretExtra is a value of the secret terms' cdmExtras (kept verbatim, private like the rest).
const secretExtra = "cdm-extra-7f3a"

func secretTerms(id string) func(m map[string]any) {
	return func(m map[string]any) {
		m["id"] = id
		m["loan"] = map[string]any{"token": "JPY", "quantity": "1234567"}
		m["collateral"] = []any{map[string]any{"token": "JP8306", "quantity": "2345"}, map[string]any{"token": "JP8604", "quantity": "1357"}}
		m["haircut"] = "0.0725"
		m["tradeDate"], m["startDate"], m["endDate"] = "2025-05-27", "2025-05-28", "2025-06-04"
		m["cdmExtras"] = map[string]any{"principal": map[string]any{"name": secretExtra}, "deliveryMethod": "DeliveryVersusPayment"}
	}
}

// publicLeaks lists the public keys whose name or value contains one of marks.
func (w *world) publicLeaks(marks ...string) []string {
	var out []string
	for k, v := range w.ledger.state {
		if _, _, private := splitPrivateKey(k); private {
			continue
		}
		for _, m := range marks {
			if strings.Contains(k, m) || strings.Contains(string(v), m) {
				out = append(out, fmt.Sprintf("%q holds %s", k, m))
			}
		}
	}
	sort.Strings(out)
	return out
}

// privateHolding lists the keys of collection coll whose value contains mark.
func (w *world) privateHolding(coll, mark string) []string {
	var out []string
	for k, v := range w.ledger.state {
		if c, key, private := splitPrivateKey(k); private && c == coll && strings.Contains(string(v), mark) {
			obj, _ := splitKeyForTest(key)
			out = append(out, obj)
		}
	}
	sort.Strings(out)
	return out
}

// TestBilateralRecordsArePrivate: after the opening, a margin call and the close, no public key
// names the agreement or holds its quantities or haircut, and its pair's collection holds them.
func TestBilateralRecordsArePrivate(t *testing.T) {
	w := newWorld(t)
	w.market()
	// the quantities must not merely be absent by chance: the public balances differ from them
	terms := secretTerms(secretID)
	check := func(stage string, kinds ...string) {
		t.Helper()
		if leaks := w.publicLeaks(secretID, `"1234567"`, `"2345"`, `"1357"`, `"0.0725"`, "2025-05-27", "2025-05-28", "2025-06-04", secretExtra); len(leaks) != 0 {
			t.Fatalf("%s: the public state holds the terms: %v", stage, leaks)
		}
		holding := strings.Join(w.privateHolding(pairAB, secretID), ",")
		for _, kind := range kinds {
			if !strings.Contains(holding, kind) {
				t.Fatalf("%s: no %s of %s in the pair's collection (%s)", stage, kind, secretID, holding)
			}
		}
		if got := w.privateHolding(pairAB, `"1234567"`); len(got) == 0 {
			t.Fatalf("%s: the loan quantity is not in the pair's collection", stage)
		}
		if got := w.privateHolding(pairAB, secretExtra); len(got) == 0 {
			t.Fatalf("%s: the cdmExtras are not in the pair's collection", stage)
		}
		for _, other := range []string{"pair-bank-a-bank-c", "pair-bank-b-bank-c"} {
			if got := w.privateHolding(other, secretID); len(got) != 0 {
				t.Fatalf("%s: %s holds %v of an a/b agreement", stage, other, got)
			}
		}
	}
	w.step(w.lender, "agreements:Propose", termsJSON(secretID, terms))
	check("proposed", keyAgreement)
	w.step(w.borrower, "agreements:Approve", secretID)
	check("opened", keyAgreement, keyCustody)
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1100","JP8604":"300"}}`)
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-03", `{"prices":{"JP8306":"900","JP8604":"300"}}`)
	w.inPair(pairAB, func() { w.marginCallRun(w.oracle, secretID, "2025-06-02") })
	w.marginCallRun(w.borrower, secretID, "2025-06-03")
	if rec := w.marginCall(w.lender, secretID, "2025-06-03"); len(rec.Transfers) == 0 {
		t.Fatalf("the fixture should move collateral: %+v", rec)
	}
	check("margined", keyAgreement, keyCustody, keyCallBook)
	w.step(w.lender, "agreements:Close", secretID)
	check("closed", keyAgreement, keyCustody, keyCallBook)
	w.checkConservation()
}

// TestBilateralResultsAndEventsCarryNoTerms runs every bilateral submit function and requires
// its result and event to name ids, statuses and transactions only: no quantity, token, date or
// haircut of the terms, no note.
func TestBilateralResultsAndEventsCarryNoTerms(t *testing.T) {
	w := newWorld(t)
	w.market()
	const note = "confidential-note-xyz"
	marks := append([]string{note, "JP8306", "JP8604", "JPY", "bank-a->", "transfers", "terms", `"43210"`, `"47"`, "2025-06-04"}, secretMarks...)
	seen := map[string]bool{}
	var last string // the last result
	run := func(id *testID, fn string, args ...string) {
		t.Helper()
		p := w.ok(id, fn, args...)
		last = p
		out := []string{"result " + p}
		if w.lastEvent != nil {
			out = append(out, "event "+w.lastEvent.Raw)
		}
		for _, o := range out {
			for _, m := range marks {
				if strings.Contains(o, m) {
					t.Fatalf("%s: the %s names %q of the terms", fn, o, m)
				}
			}
		}
		seen[fn] = true
	}
	// receipts decode strictly into Receipt (no other field)
	strictReceipt := func(id *testID, fn string, args ...string) Receipt {
		t.Helper()
		run(id, fn, args...)
		var r Receipt
		if err := strictJSON("receipt", last, 1<<12, &r); err != nil || r.TxID != w.lastStub.txID {
			t.Fatalf("%s: result is not a receipt: %v %+v", fn, err, r)
		}
		return r
	}
	strictReceipt(w.lender, "agreements:Propose", termsJSON("S-1", secretTerms("S-1")))
	strictReceipt(w.borrower, "agreements:Reject", "S-1", note)
	strictReceipt(w.lender, "agreements:Propose", termsJSON("S-2", secretTerms("S-2")))
	strictReceipt(w.lender, "agreements:Withdraw", "S-2")
	strictReceipt(w.borrower, "agreements:Propose", termsJSON("S-3", secretTerms("S-3")))
	strictReceipt(w.lender, "agreements:Approve", "S-3")
	strictReceipt(w.lender, "agreements:RequestTermination", "S-3", note)
	strictReceipt(w.borrower, "agreements:CancelTermination", "S-3", note)
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1100","JP8604":"300"}}`)
	w.inPair(pairAB, func() { run(w.oracle, "margin:MarginCall", "S-3", "2025-06-02") })
	var cr CallReceipt
	if err := strictJSON("receipt", last, 1<<12, &cr); err != nil || cr.Status != SweepCalled {
		t.Fatalf("MarginCall result: %v %+v", err, cr)
	}
	strictReceipt(w.borrower, "agreements:Close", "S-3")
	strictReceipt(w.lender, "agreements:Propose", termsJSON("S-4", secretTerms("S-4")))
	strictReceipt(w.borrower, "agreements:Approve", "S-4")
	strictReceipt(w.borrower, "agreements:RequestTermination", "S-4", note)
	strictReceipt(w.lender, "agreements:AcceptTermination", "S-4")
	// the desk's life-cycle steps, on a day of their own
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-01", `{"prices":{"JP8306":"1100","JP8604":"300"}}`)
	strictReceipt(w.lender, "agreements:Propose", termsJSON("S-5", secretTerms("S-5")))
	strictReceipt(w.borrower, "agreements:Approve", "S-5")
	strictReceipt(w.lender, "agreements:Recall", "S-5", "43210", "2025-06-01", "2025-06-01", note)
	w.inPair(pairAB, func() { run(w.oracle, "margin:SweepAgreements", "2025-06-01", idList("S-5")) })
	strictReceipt(w.lender, "agreements:BuyIn", "S-5", "2025-06-01")
	strictReceipt(w.borrower, "agreements:Return", "S-5", "43210", "2025-06-01")
	sub := substitutionJSON("JP8306", "13", "JP8604", "47")
	strictReceipt(w.borrower, "agreements:Substitute", "S-5", sub, "2025-06-01")
	strictReceipt(w.lender, "agreements:ApproveSubstitution", "S-5")
	strictReceipt(w.borrower, "agreements:Substitute", "S-5", sub, "2025-06-01")
	strictReceipt(w.lender, "agreements:CancelSubstitution", "S-5", note)
	strictReceipt(w.lender, "agreements:Propose", termsJSON("S-6", func(m map[string]any) {
		secretTerms("S-6")(m)
		m["endDate"], m["noticeDays"] = "", 3
	}))
	strictReceipt(w.borrower, "agreements:Approve", "S-6")
	strictReceipt(w.borrower, "agreements:GiveNotice", "S-6", "2025-06-01", note)
	batch := []any{termsMap("B-1"), termsMap("B-2")}
	for i, m := range batch {
		secretTerms(fmt.Sprintf("B-%d", i+1))(m.(map[string]any))
	}
	run(w.lender, "agreements:ProposeBatch", mustJSON(batch))
	run(w.borrower, "agreements:ApproveBatch", idList("B-1", "B-2"))
	var br BatchResult
	if err := strictJSON("batch", last, 1<<12, &br); err != nil || br.Count != 2 {
		t.Fatalf("ApproveBatch result: %v %s", err, last)
	}
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-03", `{"prices":{"JP8306":"1100"}}`) // JP8604 missing: B-2 fails
	w.inPair(pairAB, func() {
		run(w.oracle, "margin:SweepAgreements", "2025-06-02", idList("B-1", "B-2", "S-5", "S-6"))
		run(w.lender, "margin:SweepAgreements", "2025-06-03", idList("B-1"))
		run(w.borrower, "margin:FinishSweep", "2025-06-02")
	})
	for _, fn := range []string{"agreements:Propose", "agreements:Approve", "agreements:Reject", "agreements:Withdraw", "agreements:Close",
		"agreements:RequestTermination", "agreements:AcceptTermination", "agreements:CancelTermination", "agreements:ProposeBatch",
		"agreements:Recall", "agreements:Return", "agreements:Substitute", "agreements:ApproveSubstitution",
		"agreements:CancelSubstitution", "agreements:GiveNotice", "agreements:BuyIn",
		"agreements:ApproveBatch", "margin:MarginCall", "margin:SweepAgreements", "margin:FinishSweep"} {
		if !seen[fn] {
			t.Errorf("%s not exercised", fn)
		}
	}
	// the event's fields, exactly
	w.inPair(pairAB, func() { w.ok(w.oracle, "margin:SweepAgreements", "2025-06-03", idList("B-2")) })
	var ev map[string]any
	_ = json.Unmarshal([]byte(w.lastEvent.Raw), &ev)
	if keys := sortedKeys(ev); !reflect.DeepEqual(keys, []string{"breaches", "calls", "closed", "date", "failed", "matured", "recallsFailed", "replayed", "settlementFails", "skipped", "txId", "type"}) {
		t.Fatalf("MarginBatch event fields: %v", keys)
	}
	w.step(w.lender, "agreements:Propose", termsJSON("S-9", secretTerms("S-9")))
	ev = nil
	_ = json.Unmarshal([]byte(w.lastEvent.Raw), &ev)
	if keys := sortedKeys(ev); !reflect.DeepEqual(keys, []string{"agreement", "party", "status", "txId", "type"}) {
		t.Fatalf("agreement event fields: %v", keys)
	}
}

// bilateralReads are the read functions on one a/b agreement, with their arguments.
func bilateralReads(id string) []struct {
	fn   string
	args []string
} {
	return []struct {
		fn   string
		args []string
	}{
		{"agreements:GetAgreement", []string{id}},
		{"agreements:CollateralHeld", []string{id}},
		{"margin:GetMarginCall", []string{id, "2025-06-02"}},
		{"margin:ListMarginCalls", []string{id, "", ""}},
		{"margin:GetSweepFailure", []string{id, "2025-06-03"}},
	}
}

// privacyFixture opens AGR-1 (bank-a/bank-b) with a margin call on 2025-06-02 and a failed sweep
// on 2025-06-03, and AGR-C between bank-a and bank-c.
func privacyFixture(t *testing.T) *world {
	w := newWorld(t)
	w.market()
	w.issue(w.bankC, "JP8306", "10000")
	w.issue(w.bankC, "JP8604", "10000")
	w.open("AGR-1", nil)
	w.step(w.lender, "agreements:Propose", termsJSON("AGR-C", func(m map[string]any) { m["borrower"] = "bank-c" }))
	w.step(w.bankC, "agreements:Approve", "AGR-C")
	w.postDefaultPrices("2025-06-02")
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-03", `{"prices":{"JP8306":"1000"}}`)
	w.inPair(pairAB, func() {
		w.ok(w.oracle, "margin:MarginCall", "AGR-1", "2025-06-02")
		var res SweepAgreementsResult
		w.okJSON(w.oracle, &res, "margin:SweepAgreements", "2025-06-03", idList("AGR-1"))
		if res.Failed != 1 || res.Outcomes[0].Reason != "missing_price" {
			t.Fatalf("sweep: %+v", res)
		}
	})
	return w
}

// TestThirdBankIsRefusedEveryRead: bank-c is refused every read of an a/b agreement with the same
// words as for an id that does not exist, with or without naming the pair; its own listings show
// only its own agreements.
func TestThirdBankIsRefusedEveryRead(t *testing.T) {
	w := privacyFixture(t)
	for _, pair := range []string{"", pairAB} {
		w.inPair(pair, func() {
			for _, id := range []string{"AGR-1", "AGR-9"} {
				for _, r := range bilateralReads(id) {
					w.refuse(w.bankC, "access denied: agreement "+id+" does not exist or bank-c is not a party to it", r.fn, r.args...)
				}
			}
		})
	}
	w.refuse(w.bankC, "access denied: bank-c cannot read the agreements of bank-a", "agreements:ListAgreements", "bank-a", "", "", "")
	var page Page[Agreement]
	w.okJSON(w.bankC, &page, "agreements:ListAgreements", "", "", "", "")
	if page.Count != 1 || page.Items[0].ID != "AGR-C" {
		t.Fatalf("bank-c lists %+v", page)
	}
	var plan Page[SweepPlanItem]
	w.okJSON(w.bankC, &plan, "margin:SweepPlan", "2025-06-02", "", "")
	if plan.Count != 1 || plan.Items[0].Agreement != "AGR-C" {
		t.Fatalf("bank-c plans %+v", plan)
	}
	w.inPair(pairAB, func() {
		w.refuse(w.bankC, "access denied: bank-c is not a party to the pair pair-bank-a-bank-b", "margin:SweepPlan", "2025-06-02", "", "")
	})
	// the parties read everything, the failure's message included
	var f SweepFailure
	w.okJSON(w.borrower, &f, "margin:GetSweepFailure", "AGR-1", "2025-06-03")
	if f.Agreement != "AGR-1" || !strings.Contains(f.Reason, "missing_price: no price for JP8604 on 2025-06-03") {
		t.Fatalf("failure: %+v", f)
	}
	w.refuse(w.lender, "no failed margin call of agreement AGR-1 on 2025-06-02", "margin:GetSweepFailure", "AGR-1", "2025-06-02")
	w.refuse(w.lender, `invalid date "x": expected an ISO date YYYY-MM-DD`, "margin:GetSweepFailure", "AGR-1", "x")
}

// TestOperatorIsRefusedReadsButSweepsTheNamedPair: every operator identity is refused every
// bilateral read (whether or not it names the pair); the oracle runs and plans the sweep of the
// pair it names, and is told to name one otherwise.
func TestOperatorIsRefusedReadsButSweepsTheNamedPair(t *testing.T) {
	w := privacyFixture(t)
	for _, pair := range []string{"", pairAB} {
		w.inPair(pair, func() {
			for _, id := range []*testID{w.opAdmin, w.tokenAdmin, w.oracle} {
				for _, r := range bilateralReads("AGR-1") {
					w.refuse(id, errOperatorPrivate.Error(), r.fn, r.args...)
				}
				w.refuse(id, errOperatorPrivate.Error(), "agreements:ListAgreements", "", "", "", "")
				w.refuse(id, errOperatorPrivate.Error(), "agreements:ListAgreements", "bank-a", "", "", "")
			}
		})
	}
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-04", `{"prices":{"JP8306":"1000","JP8604":"500"}}`)
	ids := idList("AGR-1")
	for _, fn := range []string{"SweepAgreements", "SweepPlan", "MarginCall"} {
		args := map[string][]string{"SweepAgreements": {"2025-06-04", ids}, "SweepPlan": {"2025-06-04", "", ""}, "MarginCall": {"AGR-1", "2025-06-04"}}[fn]
		w.refuse(w.oracle, fn+": name the pair of banks in the transient field tanpo.pair (the SDK does)", "margin:"+fn, args...)
	}
	w.inPair(pairAB, func() {
		var plan Page[SweepPlanItem]
		w.okJSON(w.oracle, &plan, "margin:SweepPlan", "2025-06-04", "", "")
		if plan.Count != 1 || plan.Items[0] != (SweepPlanItem{Agreement: "AGR-1", Lender: "bank-a", Borrower: "bank-b", Book: "AGR-1"}) {
			t.Fatalf("plan: %+v", plan)
		}
		var res SweepAgreementsResult
		w.okJSON(w.oracle, &res, "margin:SweepAgreements", "2025-06-04", ids)
		if res.Called != 1 {
			t.Fatalf("sweep: %+v", res)
		}
		// an agreement of another pair is not found in the pair the batch names: it fails, and
		// nothing is written or emitted (there is no record to keep a note with)
		w.okJSON(w.oracle, &res, "margin:SweepAgreements", "2025-06-04", idList("AGR-C"))
		if res.Failed != 1 || res.Outcomes[0] != (SweepStatus{Agreement: "AGR-C", Status: SweepFailed, Reason: "unknown_agreement"}) {
			t.Fatalf("sweep of another pair's agreement: %+v", res)
		}
		w.noWrites("SweepAgreements of an unknown agreement")
		var done SweepFinished
		w.okJSON(w.oracle, &done, "margin:FinishSweep", "2025-06-04")
		if done.Called != 1 || done.Agreements != 1 {
			t.Fatalf("finish: %+v", done)
		}
		w.refuse(w.tokenAdmin, "access denied: CN=TokenAdmin@operator.example.com,OU=client,L=San Francisco,ST=California,C=US (party operator) does not have the oracle or party role",
			"margin:SweepAgreements", "2025-06-04", ids)
	})
	w.inPair("pair-bank-a-bank-c", func() {
		w.ok(w.oracle, "margin:MarginCall", "AGR-C", "2025-06-04")
	})
	w.checkConservation()
}

// policyOrgs decodes a key's state-based policy into its MSPs.
func (w *world) policyOrgs(key string) []string {
	w.t.Helper()
	raw := w.ledger.sbe[key]
	if len(raw) == 0 {
		return nil
	}
	ep, err := statebased.NewStateEP(raw)
	if err != nil {
		w.t.Fatalf("policy of %q: %v", key, err)
	}
	orgs := ep.ListOrgs()
	sort.Strings(orgs)
	return orgs
}

// checkProvisioned asserts every key a bilateral transaction may touch exists with its policy:
// each bank's balance of each token (its holder's), each pair's mint account of each token and
// sweep marker (the pair's).
func (w *world) checkProvisioned(banks, tokens []string) {
	w.t.Helper()
	for _, b := range banks {
		msp, _ := mspForParty(b)
		for _, tok := range tokens {
			k, _ := createKey(keyBalance, b, tok)
			if _, ok := w.ledger.state[k]; !ok {
				w.t.Fatalf("no balance of %s in %s", b, tok)
			}
			if got := w.policyOrgs(k); !reflect.DeepEqual(got, []string{msp}) {
				w.t.Fatalf("balance of %s in %s: policy %v, want %s", b, tok, got, msp)
			}
		}
	}
	for i, a := range banks {
		for _, b := range banks[i+1:] {
			coll := pairCollection(a, b)
			ma, _ := mspForParty(a)
			mb, _ := mspForParty(b)
			want := []string{ma, mb}
			sort.Strings(want)
			sk, _ := createKey(keyPairSweep, coll)
			var m PairSweep
			if err := json.Unmarshal(w.ledger.state[sk], &m); err != nil || m.Collection != coll {
				w.t.Fatalf("sweep marker of %s: %s", coll, w.ledger.state[sk])
			}
			if got := w.policyOrgs(sk); !reflect.DeepEqual(got, want) {
				w.t.Fatalf("sweep marker of %s: policy %v", coll, got)
			}
			for _, tok := range tokens {
				mk, _ := createKey(keyPairMint, tok, coll)
				var pm PairMint
				if err := json.Unmarshal(w.ledger.state[mk], &pm); err != nil || pm != (PairMint{Token: tok, Collection: coll, Minted: "0"}) {
					w.t.Fatalf("mint account of %s in %s: %s", coll, tok, w.ledger.state[mk])
				}
				if got := w.policyOrgs(mk); !reflect.DeepEqual(got, want) {
					w.t.Fatalf("mint account of %s in %s: policy %v", coll, tok, got)
				}
			}
		}
	}
}

// TestKeysAreProvisionedWithTheirPolicies: registering a bank and defining a token, in either
// order, create every balance (zero, under its holder's policy), mint account and sweep marker; a
// balance created later keeps its policy, and a zero balance stays.
func TestKeysAreProvisionedWithTheirPolicies(t *testing.T) {
	banks := []string{"bank-a", "bank-b", "bank-c"}
	tokens := []string{"JP8306", "JP8604", "JPY", "US-AAPL", "USD"}
	// banks first, then tokens
	w := newWorld(t)
	w.defineTokens()
	if len(w.lastStub.sbeWrites) == 0 {
		t.Fatal("DefineToken set no policy")
	}
	w.checkProvisioned(banks, tokens)
	// tokens first, then banks
	v := newBareWorld(t)
	v.register(v.tokenAdmin, OperatorParty, RoleTokenAdmin)
	v.register(v.oracle, OperatorParty, RoleOracle)
	v.defineTokens()
	v.register(v.lender, "bank-a", RoleParty)
	v.register(v.borrower, "bank-b", RoleParty)
	if len(v.lastStub.sbeWrites) == 0 {
		t.Fatal("RegisterIdentity set no policy")
	}
	v.register(v.bankC, "bank-c", RoleParty)
	v.checkProvisioned(banks, tokens)
	// a second identity of a bank changes nothing
	extra := v.cas["BankCMSP"].member(t, "extra", "User8", "client")
	v.register(extra, "bank-c", RoleParty)
	if len(v.lastStub.sbeWrites) != 0 {
		t.Fatalf("a second identity of bank-c rewrote %d policies", len(v.lastStub.sbeWrites))
	}
	// the same keys either way
	keys := func(l *ledgerState) []string {
		out := []string{}
		for k := range l.sbe {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	if !reflect.DeepEqual(keys(w.ledger), keys(v.ledger)) {
		t.Fatal("the order of registration and definition changes the provisioned keys")
	}
	// the operator has no balances or pairs
	for k := range w.ledger.state {
		if strings.Contains(k, OperatorParty) && (strings.HasPrefix(k, "\x00"+keyBalance) || strings.HasPrefix(k, "\x00"+keyPairSweep)) {
			t.Fatalf("operator key %q", k)
		}
	}
	// a transfer to an account at zero writes its value, not its policy
	w.issue(w.lender, "JPY", "100")
	w.ok(w.lender, "tokens:Transfer", "JPY", "bank-c", "100")
	if len(w.lastStub.sbeWrites) != 0 {
		t.Fatalf("a transfer rewrote %d policies", len(w.lastStub.sbeWrites))
	}
	if k, _ := createKey(keyBalance, "bank-a", "JPY"); w.ledger.state[k] == nil || w.rawBalance("bank-a", "JPY") != 0 {
		t.Fatal("a zero balance must stay")
	}
	w.checkConservation()
}

// TestAutoIssueCountsInThePairsMintAccount: a margin call's auto-issue mints into the pair's mint
// account, not the token administrator's supply; TotalSupply counts both and conservation holds.
func TestAutoIssueCountsInThePairsMintAccount(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.open("AGR-S", singleTerms(true))
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-01", `{"prices":{"JP8306":"1000","JP8604":"500"}}`)
	supplyKey, _ := createKey(keySupply, "JP8306")
	before := string(w.ledger.state[supplyKey])
	rec := w.marginCallRun(w.lender, "AGR-S", "2025-06-01")
	if len(rec.Mints) != 1 || rec.Mints[0].Quantity != "1500" || rec.Mints[0].Supply != "101500" {
		t.Fatalf("mints: %+v", rec.Mints)
	}
	if string(w.ledger.state[supplyKey]) != before {
		t.Fatalf("auto-issue changed the administrator's supply: %s -> %s", before, w.ledger.state[supplyKey])
	}
	mk, _ := createKey(keyPairMint, "JP8306", pairAB)
	var pm PairMint
	if err := json.Unmarshal(w.ledger.state[mk], &pm); err != nil || pm.Minted != "1500" {
		t.Fatalf("mint account: %s", w.ledger.state[mk])
	}
	other, _ := createKey(keyPairMint, "JP8306", "pair-bank-a-bank-c")
	if !strings.Contains(string(w.ledger.state[other]), `"minted":"0"`) {
		t.Fatalf("another pair's mint account moved: %s", w.ledger.state[other])
	}
	var s Supply
	w.okJSON(w.bankC, &s, "tokens:TotalSupply", "JP8306")
	if s.Supply != "101500" {
		t.Fatalf("TotalSupply: %+v", s)
	}
	w.checkConservation()
	// the lender redeems what it got back at close: the administrator's supply goes down, the
	// mint account stays, and conservation still holds
	w.ok(w.lender, "agreements:Close", "AGR-S")
	w.checkConservation()
	var req Request
	w.okJSON(w.lender, &req, "tokens:RequestRedemption", "JP8306", "1500", "all")
	w.ok(w.tokenAdmin, "tokens:ApproveRedemption", req.ID)
	w.okJSON(w.bankC, &s, "tokens:TotalSupply", "JP8306")
	if s.Supply != "100000" {
		t.Fatalf("TotalSupply after redemption: %+v", s)
	}
	w.checkConservation()
}

// TestPrivateArguments: a client may send the arguments in the transient field tanpo.args with
// only the function name in the proposal; the chaincode runs the same transaction, and refuses a
// proposal that also carries visible arguments or a malformed field.
func TestPrivateArguments(t *testing.T) {
	plain, private := newWorld(t), newWorld(t)
	private.privateArgs = true
	for _, w := range []*world{plain, private} {
		w.market()
		w.open(secretID, secretTerms(secretID))
		w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1100","JP8604":"300"}}`)
		w.inPair(pairAB, func() { w.marginCallRun(w.oracle, secretID, "2025-06-02") })
		w.step(w.borrower, "agreements:Close", secretID)
	}
	if len(private.lastStub.args) != 1 || string(private.lastStub.args[0]) != "agreements:Close" {
		t.Fatalf("the proposal carried %d arguments", len(private.lastStub.args))
	}
	sameState(t, plain.ledger, private.ledger)

	w := private
	w.ok(w.lender, "agreements:Propose", termsJSON("AGR-T", nil))
	raw := func(visible []string, transient map[string][]byte) result {
		w.seq++
		stub := &mockStub{ledger: w.ledger, txID: fmt.Sprintf("raw-%d", w.seq), ts: w.clock, creator: w.borrower.creator,
			writes: map[string][]byte{}, sbeWrites: map[string][]byte{}, transient: transient}
		for _, a := range visible {
			stub.args = append(stub.args, []byte(a))
		}
		resp := w.cc.Invoke(stub)
		if len(stub.writes) != 0 && resp.GetStatus() != 200 {
			t.Fatal("a refused proposal wrote")
		}
		if resp.GetStatus() == 200 {
			w.ledger.apply(stub)
		}
		return result{status: resp.GetStatus(), payload: string(resp.GetPayload()), message: resp.GetMessage(), stub: stub}
	}
	args := map[string][]byte{transientArgs: []byte(`["AGR-T"]`)}
	if res := raw([]string{"agreements:Approve", "AGR-T"}, args); res.message != "invalid proposal: with arguments in the transient field tanpo.args the proposal carries the function name only, not 1 arguments" {
		t.Fatalf("visible arguments too: %d %s", res.status, res.message)
	}
	if res := raw([]string{"agreements:Approve"}, map[string][]byte{transientArgs: []byte(`{"id":"AGR-T"}`)}); !strings.HasPrefix(res.message, "invalid transient field tanpo.args: expected a JSON array of strings: ") {
		t.Fatalf("malformed field: %s", res.message)
	}
	if res := raw([]string{"agreements:Approve"}, map[string][]byte{transientArgs: []byte(`[]`)}); res.status == 200 {
		t.Fatal("Approve ran without its argument")
	}
	if res := raw([]string{"agreements:Approve"}, args); res.status != 200 {
		t.Fatalf("private arguments: %s", res.message)
	}
	// without the field, the visible arguments are used as before
	w.privateArgs = false
	if a := w.agreement(w.lender, "AGR-T"); a.Status != StatusActive {
		t.Fatalf("AGR-T: %+v", a)
	}
}

// TestChosenIDsAreUnusedAcrossBothPartiesCollections: an id chosen in the terms is refused when
// either party already has an agreement of that id with anyone (so that looking an id up in a
// bank's own collections finds one agreement), and the refusal writes nothing.
func TestChosenIDsAreUnusedAcrossBothPartiesCollections(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.step(w.lender, "agreements:Propose", termsJSON("AGR-AC", func(m map[string]any) { m["borrower"] = "bank-c" }))
	const inUse = "agreement id AGR-AC is already in use: choose another or leave it out"
	// bank-a has AGR-AC with bank-c: neither bank-a/bank-b nor bank-b/bank-c (through bank-c) may reuse it
	w.refuse(w.lender, inUse, "agreements:Propose", termsJSON("AGR-AC", nil))
	w.refuse(w.borrower, inUse, "agreements:Propose", termsJSON("AGR-AC", func(m map[string]any) { m["lender"] = "bank-c" }))
	w.refuse(w.borrower, "terms 2: "+inUse, "agreements:ProposeBatch", mustJSON([]any{termsMap("AGR-OK"), termsMap("AGR-AC")}))
	// a closed or withdrawn agreement keeps its id
	w.step(w.lender, "agreements:Withdraw", "AGR-AC")
	w.refuse(w.lender, inUse, "agreements:Propose", termsJSON("AGR-AC", nil))
	// each bank finds its own agreement by id without naming the pair
	w.step(w.lender, "agreements:Propose", termsJSON("AGR-AB", nil))
	if a := w.agreement(w.bankC, "AGR-AC"); a.Terms.Borrower != "bank-c" {
		t.Fatalf("bank-c reads %+v", a)
	}
	if a := w.agreement(w.borrower, "AGR-AB"); a.Terms.Borrower != "bank-b" {
		t.Fatalf("bank-b reads %+v", a)
	}
	w.refuse(w.borrower, "access denied: agreement AGR-AC does not exist or bank-b is not a party to it", "agreements:GetAgreement", "AGR-AC")
}
