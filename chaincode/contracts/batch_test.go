package contracts

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// ---- the stub's batch API (Fabric 3.1): batched reads and write batching ----

// GetMultipleStates reads committed state like GetState, for many keys in one call.
func (s *mockStub) GetMultipleStates(keys ...string) ([][]byte, error) {
	s.calls = append(s.calls, "GetMultipleStates")
	if err := s.fail("GetMultipleStates"); err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		if k == "" {
			return nil, errors.New("key must not be empty")
		}
		if v, ok := s.ledger.state[k]; ok {
			out[i] = append([]byte(nil), v...)
		}
	}
	return out, nil
}

// StartWriteBatch only records the call: the map-backed stub buffers every write anyway.
func (s *mockStub) StartWriteBatch() { s.calls = append(s.calls, "StartWriteBatch") }

// FinishWriteBatch is what the shim calls after the transaction function returns.
func (s *mockStub) FinishWriteBatch() error { return nil }

func (s *mockStub) called(method string) int {
	n := 0
	for _, c := range s.calls {
		if c == method {
			n++
		}
	}
	return n
}

// ---- fixtures ----

// batchTerms is the default agreement with its own id and a collateral mix that makes its first
// margin call a shortfall (odd n: JP8604-heavy, the stock that falls) or an excess (even n).
func batchTerms(id string, n int) map[string]any {
	m := termsMap(id)
	m["loan"] = map[string]any{"token": "JPY", "quantity": "100000"}
	if n%2 == 0 {
		m["loan"] = map[string]any{"token": "JPY", "quantity": "112000"}
		m["collateral"] = []any{map[string]any{"token": "JP8306", "quantity": "100"}, map[string]any{"token": "JP8604", "quantity": "20"}}
	} else {
		m["collateral"] = []any{map[string]any{"token": "JP8306", "quantity": "10"}, map[string]any{"token": "JP8604", "quantity": "200"}}
	}
	m["haircut"] = "0"
	return m
}

func idList(ids ...string) string { return mustJSON(ids) }

func batchIDs(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

// openBatch opens n agreements one by one (Propose + Approve) on w.
func (w *world) openEach(ids []string) {
	w.t.Helper()
	for i, id := range ids {
		w.okJSON(w.lender, &Agreement{}, "agreements:Propose", mustJSON(batchTerms(id, i)))
		w.ok(w.borrower, "agreements:Approve", id)
	}
}

// openBatch opens them with ProposeBatch + ApproveBatch.
func (w *world) openBatch(ids []string) {
	w.t.Helper()
	terms := make([]any, len(ids))
	for i, id := range ids {
		terms[i] = batchTerms(id, i)
	}
	w.ok(w.lender, "agreements:ProposeBatch", mustJSON(terms))
	w.ok(w.borrower, "agreements:ApproveBatch", idList(ids...))
}

// sameState compares two ledgers' business state: every key with its value, ignoring what only
// says which transaction wrote it (ids, times, callers) and how agreements share custody books
// (each agreement's custody, parties and endorsement policy are compared instead).
func sameState(t *testing.T, a, b *ledgerState) {
	t.Helper()
	norm := func(l *ledgerState) map[string]string {
		out := map[string]string{}
		for k, v := range l.state {
			obj, _ := splitKeyForTest(k)
			if obj == keyIdentity || obj == keyRequest || obj == keyRequestByParty || obj == keyRequestByStatus {
				continue
			}
			if obj == keyCustody {
				var book CustodyBook
				if err := json.Unmarshal(v, &book); err != nil {
					t.Fatal(err)
				}
				for id, c := range book.Agreements {
					one, _ := json.Marshal(map[string]any{"lender": book.Lender, "borrower": book.Borrower, "custody": c})
					out["custody/"+id] = string(one)
					out["sbe/custody/"+id] = string(l.sbe[k])
				}
				continue
			}
			var m any
			if json.Unmarshal(v, &m) == nil {
				scrub(m)
				nb, _ := json.Marshal(m)
				v = nb
			}
			out[k] = string(v)
		}
		for k, v := range l.sbe {
			if obj, _ := splitKeyForTest(k); obj != keyCustody {
				out["sbe/"+k] = string(v)
			}
		}
		return out
	}
	na, nb := norm(a), norm(b)
	if !reflect.DeepEqual(na, nb) {
		for k, v := range na {
			if nb[k] != v {
				t.Fatalf("state differs at %q:\n%s\n%s", k, v, nb[k])
			}
		}
		for k := range nb {
			if _, ok := na[k]; !ok {
				t.Fatalf("state differs: only the second has %q", k)
			}
		}
	}
}

func scrub(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch k {
			case "txId", "timestamp", "identity", "calledBy", "registeredTx", "requestTx", "decisionTx", "book":
				delete(x, k)
			case "createdAt", "updatedAt", "postedAt", "registeredAt", "requestedAt", "decidedAt":
				delete(x, k)
			default:
				scrub(e)
			}
		}
	case []any:
		for _, e := range x {
			scrub(e)
		}
	}
}

// ---- ProposeBatch / ApproveBatch ----

func TestBatchRegistrationEqualsOneByOne(t *testing.T) {
	ids := batchIDs("B", 7)
	one, many := newWorld(t), newWorld(t)
	for _, w := range []*world{one, many} {
		w.market()
	}
	one.openEach(ids)
	many.openBatch(ids)
	ev := many.expectEvent(EventAgreementsApproved)
	if got := len(ev["agreements"].([]any)); got != len(ids) || ev["party"] != "bank-b" {
		t.Fatalf("approve event: %v", ev)
	}
	if many.lastStub.called("StartWriteBatch") != 1 {
		t.Fatalf("ApproveBatch did not use write batching: %v", many.lastStub.calls)
	}
	if many.lastStub.called("GetMultiplePrivateData") != 1 {
		t.Fatalf("ApproveBatch reads: %v", many.lastStub.calls)
	}
	sameState(t, one.ledger, many.ledger)
	many.checkConservation()
	var a Agreement
	many.okJSON(many.lender, &a, "agreements:GetAgreement", ids[3])
	if a.Status != StatusActive || len(a.History) != 2 || a.History[1].Action != "APPROVED" || a.Proposer != "bank-a" {
		t.Fatalf("agreement: %+v", a)
	}
}

func TestProposeBatchDefaultsIdsAndEmitsOneEvent(t *testing.T) {
	w := newWorld(t)
	w.defineTokens()
	t1, t2 := termsMap(""), termsMap("")
	delete(t1, "id")
	delete(t2, "id")
	var res BatchResult
	w.okJSON(w.borrower, &res, "agreements:ProposeBatch", mustJSON([]any{t1, t2}))
	tx := shortTxID(w.lastStub.txID)
	if res.Count != 2 || res.Agreements[0].Agreement != "AGR-"+tx+"-1" || res.Agreements[1].Agreement != "AGR-"+tx+"-2" ||
		res.Agreements[1].Status != StatusProposed {
		t.Fatalf("result: %+v", res)
	}
	ev := w.expectEvent(EventAgreementsProposed)
	if ev["party"] != "bank-b" || len(ev["agreements"].([]any)) != 2 {
		t.Fatalf("event: %v", ev)
	}
	for _, a := range res.Agreements {
		k, _ := createKey(keyAgreement, a.Agreement)
		if _, ok := w.ledger.state[privateKey(pairAB, k)]; !ok {
			t.Fatalf("%s is not in the pair's collection", a.Agreement)
		}
		if _, ok := w.ledger.state[k]; ok {
			t.Fatalf("%s is in the public state", a.Agreement)
		}
	}
	// the borrower proposed, so only the lender approves
	w.refuse(w.borrower, "access denied: bank-b proposed agreement "+res.Agreements[0].Agreement+"; only the counterparty bank-a can approve it",
		"agreements:ApproveBatch", idList(res.Agreements[0].Agreement))
}

func TestBatchRegistrationRefusals(t *testing.T) {
	w := newWorld(t)
	w.market()
	good := mustJSON([]any{batchTerms("R-1", 0)})
	w.refuse(w.bankC, "access denied: bank-c can only propose agreements in which it is the lender or the borrower (terms 1)", "agreements:ProposeBatch", good)
	w.refusePrefix(w.oracle, "access denied: ", "agreements:ProposeBatch", good)
	w.refuse(w.lender, "invalid terms list: the list is empty", "agreements:ProposeBatch", "[]")
	w.refusePrefix(w.lender, "invalid terms list: ", "agreements:ProposeBatch", "{}")
	w.refuse(w.lender, "terms 2: agreement R-1 is also terms 1", "agreements:ProposeBatch", mustJSON([]any{batchTerms("R-1", 0), batchTerms("R-1", 1)}))
	bad := batchTerms("R-2", 0)
	bad["mode"] = "sideways"
	w.refuse(w.lender, `terms 2: invalid mode "sideways": expected single or multi`, "agreements:ProposeBatch", mustJSON([]any{batchTerms("R-1", 0), bad}))
	too := make([]any, maxBatch+1)
	for i := range too {
		too[i] = batchTerms(fmt.Sprintf("T-%d", i), i)
	}
	w.refuse(w.lender, "invalid terms list: 1001 agreements; at most 1000 per transaction", "agreements:ProposeBatch", mustJSON(too))
	w.ok(w.lender, "agreements:ProposeBatch", good)
	w.refuse(w.lender, "terms 1: agreement id R-1 is already in use: choose another or leave it out", "agreements:ProposeBatch", good)

	// approvals: all or nothing
	w.ok(w.lender, "agreements:Propose", mustJSON(batchTerms("R-3", 1)))
	big := batchTerms("R-4", 0)
	big["loan"] = map[string]any{"token": "JPY", "quantity": "999999999999"}
	w.ok(w.lender, "agreements:Propose", mustJSON(big))
	w.refuse(w.borrower, "cannot approve agreement R-4: insufficient balance: bank-a needs 999999999999 JPY but has 99788000 free",
		"agreements:ApproveBatch", idList("R-1", "R-3", "R-4"))
	w.refuse(w.lender, "access denied: bank-a proposed agreement R-1; only the counterparty bank-b can approve it", "agreements:ApproveBatch", idList("R-1"))
	w.refuse(w.bankC, "access denied: agreement R-1 does not exist or bank-c is not a party to it", "agreements:ApproveBatch", idList("R-1"))
	w.refuse(w.borrower, "access denied: agreement R-9 does not exist or bank-b is not a party to it", "agreements:ApproveBatch", idList("R-1", "R-9"))
	w.refuse(w.borrower, "invalid agreement ids: R-1 is listed twice", "agreements:ApproveBatch", idList("R-1", "R-1"))
	w.refuse(w.borrower, "invalid agreement ids: the list is empty", "agreements:ApproveBatch", "[]")
	w.refusePrefix(w.borrower, "invalid agreement ids: ", "agreements:ApproveBatch", `["R-1"`)
	w.refusePrefix(w.borrower, `invalid agreement id "R 1"`, "agreements:ApproveBatch", `["R 1"]`)
	w.ok(w.borrower, "agreements:ApproveBatch", idList("R-1", "R-3"))
	w.refuse(w.borrower, "agreement R-1 is ACTIVE, not PROPOSED", "agreements:ApproveBatch", idList("R-1"))
	w.checkConservation()
}

// ---- SweepAgreements / SweepPlan ----

// TestSweepAgreementsEqualsOneCallEach: margining a batch in one transaction leaves exactly the
// state that one MarginCall per agreement leaves, records included.
func TestSweepAgreementsEqualsOneCallEach(t *testing.T) {
	ids := batchIDs("S", 9)
	one, many := newWorld(t), newWorld(t)
	for _, w := range []*world{one, many} {
		w.market()
		w.openEach(ids)
		// day 1: JP8604 falls, JP8306 rises -> shortfalls (odd) and excesses (even)
		w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1100","JP8604":"400"}}`)
	}
	for _, id := range ids {
		one.inPair(pairAB, func() { one.ok(one.oracle, "margin:MarginCall", id, "2025-06-02") })
	}
	var res SweepAgreementsResult
	many.inPair(pairAB, func() { many.okJSON(many.oracle, &res, "margin:SweepAgreements", "2025-06-02", idList(ids...)) })
	if res.Count != 9 || res.Called != 9 || res.Replayed != 0 || res.Skipped != 0 || len(res.Outcomes) != 9 {
		t.Fatalf("result: %+v", res)
	}
	for i, o := range res.Outcomes {
		if o != (SweepStatus{Agreement: ids[i], Status: SweepCalled}) {
			t.Fatalf("outcome %d: %+v", i, o)
		}
	}
	// the batch's records are one call book (its agreements share a custody book): Fabric pays per
	// private key written, at endorsement and on every validating peer
	var private []string
	for k := range many.lastStub.writes {
		if _, pk, ok := splitPrivateKey(k); ok {
			obj, _ := splitKeyForTest(pk)
			private = append(private, obj)
		}
	}
	sort.Strings(private)
	if !reflect.DeepEqual(private, []string{keyCallBook, keyCustody}) {
		t.Fatalf("a sweep of 9 agreements wrote these private keys: %v", private)
	}
	// the event lists the agreements called, nothing of the calls
	var ev marginBatchEvent
	many.expectEvent(EventMarginBatch)
	if err := json.Unmarshal([]byte(many.lastEvent.Raw), &ev); err != nil || !reflect.DeepEqual(ev.Calls, ids) || ev.Date != "2025-06-02" ||
		len(ev.Replayed)+len(ev.Skipped)+len(ev.Failed) != 0 {
		t.Fatalf("event: %s", many.lastEvent.Raw)
	}
	if many.lastStub.called("StartWriteBatch") != 1 || many.lastStub.called("GetMultiplePrivateData") != 2 {
		t.Fatalf("batch API not used: %v", many.lastStub.calls)
	}
	sweepTx := many.lastStub.txID
	dirs := map[string]int{}
	for _, id := range ids {
		rec := many.marginCall(many.lender, id, "2025-06-02")
		if rec.TxID != sweepTx || rec.Replayed || !rec.Triggered || len(rec.Transfers) == 0 || rec.Transfers[0].Value == "" {
			t.Fatalf("record %s: %+v", id, rec)
		}
		dirs[rec.Transfers[0].Direction]++
	}
	if dirs["borrower->lender"] == 0 || dirs["lender->borrower"] == 0 {
		t.Fatalf("the fixture should make both shortfalls and excesses: %v", dirs)
	}
	sameState(t, one.ledger, many.ledger)
	many.checkConservation()

	// replays change nothing and name the transaction that made the call
	var again SweepAgreementsResult
	many.inPair(pairAB, func() { many.okJSON(many.oracle, &again, "margin:SweepAgreements", "2025-06-02", idList(ids...)) })
	many.noWrites("SweepAgreements replay")
	if again.Replayed != 9 || again.Called != 0 || again.Outcomes[1] != (SweepStatus{Agreement: ids[1], Status: SweepReplayed, TxID: sweepTx}) {
		t.Fatalf("replay: %+v", again)
	}
	// a later day, partly by the borrower itself (a party sweeps its own agreements)
	for _, w := range []*world{one, many} {
		w.ok(w.oracle, "oracle:PostPrices", "2025-06-03", `{"prices":{"JP8306":"1050","JP8604":"450"}}`)
	}
	for _, id := range ids {
		one.ok(one.borrower, "margin:MarginCall", id, "2025-06-03")
	}
	many.okJSON(many.borrower, &res, "margin:SweepAgreements", "2025-06-03", idList(ids[:4]...))
	many.okJSON(many.lender, &res, "margin:SweepAgreements", "2025-06-03", idList(ids[4:]...))
	sameState(t, one.ledger, many.ledger)
	many.checkConservation()
}

func TestSweepAgreementsSkipsAndLaggedAgreements(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.openEach([]string{"K-0", "K-1"})
	w.open("K-LAG", func(m map[string]any) { m["settlementLagDays"] = 1 })
	w.open("K-LATE", func(m map[string]any) { m["startDate"] = "2025-06-05" })
	w.pair = pairAB // the oracle names the pair it sweeps
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1100","JP8604":"400"}}`)
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-03", `{"prices":{"JP8306":"1000","JP8604":"500"}}`)
	var res SweepAgreementsResult
	w.okJSON(w.oracle, &res, "margin:SweepAgreements", "2025-06-02", idList("K-0", "K-LAG", "K-LATE", "K-1"))
	if res.Called != 3 || res.Skipped != 1 || res.Outcomes[2] != (SweepStatus{Agreement: "K-LATE", Status: SweepSkipped, Reason: "not_started"}) {
		t.Fatalf("result: %+v", res)
	}
	if w.expectEvent(EventMarginBatch)["skipped"].([]any)[0] != "K-LATE" {
		t.Fatal("skipped agreement not in the event")
	}
	var held CollateralReport
	w.okJSON(w.lender, &held, "agreements:CollateralHeld", "K-LAG")
	if len(held.Pending) == 0 {
		t.Fatalf("lagged transfer: %+v", held)
	}
	for _, p := range held.Pending {
		if p.SettleDate != "2025-06-03" || p.TradeDate != "2025-06-02" {
			t.Fatalf("lagged transfer: %+v", held)
		}
	}
	// the next day settles the lagged transfer before its own call
	w.okJSON(w.oracle, &res, "margin:SweepAgreements", "2025-06-03", idList("K-LAG"))
	var rec MarginCallRecord
	w.okJSON(w.lender, &rec, "margin:GetMarginCall", "K-LAG", "2025-06-03")
	if len(rec.Settled) < len(held.Pending) || rec.Settled[0].TradeDate != "2025-06-02" {
		t.Fatalf("lagged settlement: %+v", rec)
	}
	// an earlier date after a later one is skipped, as in MarginCall
	w.openEach([]string{"K-2"})
	w.ok(w.oracle, "margin:SweepAgreements", "2025-06-03", idList("K-2"))
	var late SweepAgreementsResult
	w.okJSON(w.oracle, &late, "margin:SweepAgreements", "2025-06-02", idList("K-2"))
	if late.Skipped != 1 || late.Outcomes[0].Reason != "later_call" {
		t.Fatalf("out of order: %+v", late)
	}
	w.noWrites("SweepAgreements with nothing to call")
	w.checkConservation()
}

func TestSweepAgreementsRefusals(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.openEach([]string{"Q-0", "Q-1"})
	ids := idList("Q-0", "Q-1")
	w.pair = pairAB // the oracle names the pair it sweeps
	w.refuse(w.oracle, "no prices posted for 2025-06-02: post them (oracle:PostPrices) before margin calls", "margin:SweepAgreements", "2025-06-02", ids)
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1100"}}`)
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1100","JP8604":"400"}}`)
	w.refuse(w.bankC, "access denied: agreement Q-0 does not exist or bank-c is not a party to it", "margin:SweepAgreements", "2025-06-02", ids)
	w.refusePrefix(w.tokenAdmin, "access denied: ", "margin:SweepAgreements", "2025-06-02", ids)
	w.inPair("", func() {
		w.refuse(w.oracle, "SweepAgreements: name the pair of banks in the transient field tanpo.pair (the SDK does)", "margin:SweepAgreements", "2025-06-02", ids)
		w.refuse(w.bankC, "access denied: agreement Q-0 does not exist or bank-c is not a party to it", "margin:SweepAgreements", "2025-06-02", ids)
	})
	w.refuse(w.oracle, `invalid date "2025-6-2": expected an ISO date YYYY-MM-DD`, "margin:SweepAgreements", "2025-6-2", ids)
	w.refuse(w.oracle, "invalid agreement ids: Q-0 is listed twice", "margin:SweepAgreements", "2025-06-02", idList("Q-0", "Q-0"))
	too := make([]string, maxBatch+1)
	for i := range too {
		too[i] = fmt.Sprintf("Q-%d", i)
	}
	w.refuse(w.oracle, "invalid agreement ids: 1001 ids; at most 1000 per transaction", "margin:SweepAgreements", "2025-06-02", idList(too...))
	// the borrower moved its tokens away: the shortfall of Q-1 cannot be covered, without auto-issue
	// the call records an issuance-required outcome and the batch still goes through; calls run
	// in the order given, so Q-0's excess (returned to the borrower) comes after
	w.ok(w.borrower, "tokens:Transfer", "JP8306", "bank-c", fmt.Sprint(w.rawBalance("bank-b", "JP8306")))
	w.ok(w.borrower, "tokens:Transfer", "JP8604", "bank-c", fmt.Sprint(w.rawBalance("bank-b", "JP8604")))
	var res SweepAgreementsResult
	w.okJSON(w.oracle, &res, "margin:SweepAgreements", "2025-06-02", idList("Q-1", "Q-0"))
	var ev marginBatchEvent
	if err := json.Unmarshal([]byte(w.lastEvent.Raw), &ev); err != nil || res.Called != 2 || !reflect.DeepEqual(ev.Calls, []string{"Q-1", "Q-0"}) {
		t.Fatalf("result %+v, event %s", res, w.lastEvent.Raw)
	}
	q1, q0 := w.marginCall(w.borrower, "Q-1", "2025-06-02"), w.marginCall(w.borrower, "Q-0", "2025-06-02")
	if len(q1.IssuanceRequired) != 1 || q1.IssuanceRequired[0].Party != "bank-b" || len(q1.Transfers) != 0 ||
		q0.Transfers[0].Direction != "lender->borrower" {
		t.Fatalf("issuance: %+v %+v", q1, q0)
	}
	w.checkConservation()
}

func TestSweepPlanPagesActiveAgreements(t *testing.T) {
	w := newWorld(t)
	w.market()
	ids := batchIDs("P", 5)
	w.openEach(ids)
	w.propose("P-PROPOSED", nil)
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1100","JP8604":"400"}}`)
	var page Page[SweepPlanItem]
	w.refuse(w.oracle, "SweepPlan: name the pair of banks in the transient field tanpo.pair (the SDK does)", "margin:SweepPlan", "2025-06-02", "2", "")
	w.pair = pairAB // the oracle names the pair it plans
	w.ok(w.oracle, "margin:SweepAgreements", "2025-06-02", idList("P-001"))
	w.okJSON(w.oracle, &page, "margin:SweepPlan", "2025-06-02", "2", "")
	if page.Count != 2 || page.Items[0] != (SweepPlanItem{Agreement: "P-000", Lender: "bank-a", Borrower: "bank-b", Book: "P-000"}) ||
		!page.Items[1].Called || page.Bookmark == "" {
		t.Fatalf("page 1: %+v", page)
	}
	got := []string{}
	bookmark := ""
	for {
		w.okJSON(w.borrower, &page, "margin:SweepPlan", "2025-06-02", "2", bookmark)
		for _, it := range page.Items {
			got = append(got, it.Agreement)
		}
		if bookmark = page.Bookmark; bookmark == "" {
			break
		}
	}
	if !reflect.DeepEqual(got, ids) {
		t.Fatalf("all pages: %v", got)
	}
	w.refuse(w.bankC, "access denied: bank-c is not a party to the pair pair-bank-a-bank-b", "margin:SweepPlan", "2025-06-02", "", "")
	w.pair = ""
	w.okJSON(w.bankC, &page, "margin:SweepPlan", "2025-06-02", "", "")
	if page.Count != 0 {
		t.Fatalf("bank-c sees %+v", page)
	}
	w.pair = pairAB
	w.refuse(w.oracle, "invalid pageSize 501: at most 500", "margin:SweepPlan", "2025-06-02", "501", "")
	w.refuse(w.oracle, `invalid date "x": expected an ISO date YYYY-MM-DD`, "margin:SweepPlan", "x", "", "")
}

// recordingStub records every key the chaincode reads.
type recordingStub struct {
	*mockStub
	read map[string]bool
}

func (r *recordingStub) GetState(key string) ([]byte, error) {
	r.read[key] = true
	return r.mockStub.GetState(key)
}

func (r *recordingStub) GetMultipleStates(keys ...string) ([][]byte, error) {
	for _, k := range keys {
		r.read[k] = true
	}
	return r.mockStub.GetMultipleStates(keys...)
}

// readsOf runs one transaction (not committed) and returns the keys it read.
func (w *world) readsOf(id *testID, fn string, args ...string) map[string]bool {
	w.t.Helper()
	stub := &recordingStub{mockStub: &mockStub{ledger: w.ledger, txID: "readtx", ts: w.clock, creator: id.creator,
		writes: map[string][]byte{}, sbeWrites: map[string][]byte{}}, read: map[string]bool{}}
	stub.args = [][]byte{[]byte(fn)}
	for _, a := range args {
		stub.args = append(stub.args, []byte(a))
	}
	if w.pair != "" {
		stub.transient = map[string][]byte{transientPair: []byte(w.pair)}
	}
	if resp := w.cc.Invoke(stub); resp.GetStatus() != 200 {
		w.t.Fatalf("%s: %s", fn, resp.GetMessage())
	}
	return stub.read
}

// TestMarginCallReadsOnlyWhatItNeeds: a margin call never reads the lender's free balances (with
// no negative position), and reads the borrower's only to debit them (a shortfall) or credit them
// (the tokens an excess returns), so calls of different borrowers share no key.
func TestMarginCallReadsOnlyWhatItNeeds(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.openEach([]string{"E-0", "E-1"}) // on day 1 E-0 has an excess, E-1 a shortfall
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1100","JP8604":"400"}}`)
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-03", `{"prices":{"JP8306":"1100","JP8604":"400"}}`)
	key := func(party, token string) string { k, _ := createKey(keyBalance, party, token); return k }
	w.pair = pairAB // the oracle names the pair
	for _, fn := range []string{"margin:MarginCall", "margin:SweepAgreements"} {
		for _, id := range []string{"E-0", "E-1"} {
			arg := id
			if fn == "margin:SweepAgreements" {
				arg = idList(id)
			}
			args := []string{arg, "2025-06-02"}
			if fn == "margin:SweepAgreements" {
				args = []string{"2025-06-02", arg}
			}
			read := w.readsOf(w.oracle, fn, args...)
			for _, tok := range []string{"JP8306", "JP8604", "JPY"} {
				if read[key("bank-a", tok)] {
					t.Fatalf("%s %s read the lender's %s balance", fn, id, tok)
				}
			}
			// excess (E-0): multi mode returns CTn first, JP8604; shortfall (E-1): CT1 first
			switch id {
			case "E-0":
				if read[key("bank-b", "JP8306")] || !read[key("bank-b", "JP8604")] {
					t.Fatalf("%s excess reads: %v", fn, read)
				}
			case "E-1":
				if !read[key("bank-b", "JP8306")] || !read[key("bank-b", "JP8604")] {
					t.Fatalf("%s shortfall reads: %v", fn, read)
				}
			}
		}
	}
	// a call whose collateral covers the loan exactly reads no free balance at all
	w.ok(w.oracle, "margin:SweepAgreements", "2025-06-02", idList("E-0", "E-1"))
	read := w.readsOf(w.oracle, "margin:SweepAgreements", "2025-06-03", idList("E-0"))
	for k := range read {
		if obj, _ := splitKeyForTest(k); obj == keyBalance {
			t.Fatalf("a balanced call read %q", k)
		}
	}
}

// batchRoleRows are the role table's rows for the batch functions (roletable_test.go).
func batchRoleRows() []roleRow {
	withAgreement := func(w *world, role string) []string {
		w.market()
		w.open("AGR-1", nil)
		return []string{"AGR-1"}
	}
	return []roleRow{
		{"agreements:ProposeBatch", []string{"lender", "borrower"}, func(w *world, role string) []string {
			w.defineTokens()
			return []string{mustJSON([]any{termsMap("AGR-1"), termsMap("AGR-2")})}
		}},
		{"agreements:ApproveBatch", []string{"borrower"}, func(w *world, role string) []string {
			w.market()
			w.propose("AGR-1", nil)
			w.propose("AGR-2", nil)
			return []string{idList("AGR-1", "AGR-2")}
		}},
		{"margin:SweepAgreements", marginSide, func(w *world, role string) []string {
			withAgreement(w, role)
			w.postDefaultPrices("2025-06-02")
			w.pair = pairAB
			return []string{"2025-06-02", idList("AGR-1")}
		}},
		// the operator names the pair it plans; a bank lists its own agreements in all its pairs
		{"margin:SweepPlan", []string{"oracle", "lender", "borrower", "bankC"}, func(w *world, role string) []string {
			withAgreement(w, role)
			if w.as(role) == w.oracle {
				w.pair = pairAB
			}
			return []string{"2025-06-02", "", ""}
		}},
	}
}

// BenchmarkSweepAgreements times the chaincode side of one 500-agreement batch on the map-backed
// stub (no peer), without and with a lending fee accruing on every agreement:
// go test ./contracts -run X -bench SweepAgreements.
func BenchmarkSweepAgreements(b *testing.B) {
	for _, fee := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "fee"}[fee], func(b *testing.B) {
			w := newWorld(b)
			w.market()
			w.issue(w.borrower, "JP8306", "1000000")
			w.issue(w.borrower, "JP8604", "1000000")
			w.issue(w.lender, "JPY", "1000000000")
			ids := batchIDs("BM", 500)
			terms := make([]any, len(ids))
			for i, id := range ids {
				m := batchTerms(id, i)
				if fee {
					m["fee"] = map[string]any{"bps": "40"}
				}
				terms[i] = m
			}
			w.ok(w.lender, "agreements:ProposeBatch", mustJSON(terms))
			w.ok(w.borrower, "agreements:ApproveBatch", idList(ids...))
			list := idList(ids...)
			w.pair = pairAB
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				w.clock = w.clock.Add(24 * time.Hour)
				date := testEpoch.AddDate(0, 0, i+1).Format(isoDate)
				w.ok(w.oracle, "oracle:PostPrices", date, fmt.Sprintf(`{"prices":{"JP8306":"%d","JP8604":"%d"}}`, 1000+i%7*10, 500-i%5*10))
				b.StartTimer()
				w.ok(w.oracle, "margin:SweepAgreements", date, list)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(ids)), "µs/agreement")
			b.ReportMetric(float64(len(w.lastStub.writes)), "keys")
			size := 0
			for _, v := range w.lastStub.writes {
				size += len(v)
			}
			b.ReportMetric(float64(size)/float64(len(ids)), "bytes/agreement")
		})
	}
}

func TestApprovalsFillThePairsOpenCustodyBookThenStartANewOne(t *testing.T) {
	defer func(n int) { bookSize = n }(bookSize)
	bookSize = 3
	w := newWorld(t)
	w.market()
	ids := batchIDs("K", 5)
	w.openBatch(ids[:2]) // one batch: K-000, K-001 into book K-000
	w.openEach(ids[2:4]) // K-002 fills book K-000, K-003 starts book K-003
	w.openBatch(ids[4:]) // K-004 joins K-003
	want := map[string]string{"K-000": "K-000", "K-001": "K-000", "K-002": "K-000", "K-003": "K-003", "K-004": "K-003"}
	for id, book := range want {
		b, k := w.rawBook(id)
		if b == nil || b.ID != book || !strings.HasPrefix(k, privateKey(pairAB, "")) {
			t.Fatalf("%s: book %+v, want %s in the pair's collection", id, b, book)
		}
	}
	if b, _ := w.rawBook("K-000"); len(b.Agreements) != 3 {
		t.Fatalf("book K-000 holds %d agreements, at most 3", len(b.Agreements))
	}
	open, _ := createKey(keyCustodyOpen, "bank-a", "bank-b")
	if got := string(w.ledger.state[privateKey(pairAB, open)]); got != `{"book":"K-003","books":["K-000","K-003"]}` {
		t.Fatalf("open book: %s", got)
	}
	// the other direction of the pair has its own books
	terms := batchTerms("R-000", 0)
	terms["lender"], terms["borrower"] = "bank-b", "bank-a"
	terms["loan"] = map[string]any{"token": "JP8306", "quantity": "10"}
	terms["collateral"] = []any{map[string]any{"token": "JPY", "quantity": "20000"}}
	w.ok(w.borrower, "agreements:Propose", mustJSON(terms))
	w.ok(w.lender, "agreements:Approve", "R-000")
	if b, _ := w.rawBook("R-000"); b == nil || b.ID != "R-000" || b.Lender != "bank-b" {
		t.Fatalf("reverse pair book: %+v", b)
	}
	w.checkConservation()
}

// TestSweepAgreementsIsolatesFailures: an agreement whose call fails is reported with the reason
// and leaves no trace, even when the cycle had already changed it (a recall falling due, then a
// price missing); a lagged settlement the borrower cannot deliver fails alone and the call runs;
// the other agreements of the batch are margined.
func TestSweepAgreementsIsolatesFailures(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.openEach([]string{"I-0"})
	w.open("I-LAG", func(m map[string]any) {
		m["settlementLagDays"] = 1
		m["haircut"] = "0"
		m["loan"] = map[string]any{"token": "JPY", "quantity": "100000"}
		m["collateral"] = []any{map[string]any{"token": "JP8306", "quantity": "10"}, map[string]any{"token": "JP8604", "quantity": "200"}}
	})
	w.open("I-USD", func(m map[string]any) {
		m["collateral"] = []any{map[string]any{"token": "JP8306", "quantity": "10"}, map[string]any{"token": "US-AAPL", "quantity": "0"}}
	})
	w.step(w.lender, "agreements:Recall", "I-USD", "100000", "2025-06-02", "2025-06-03", "")
	usdBefore := w.agreement(w.lender, "I-USD")
	// the borrower keeps 3 JP8306: the day-1 shortfall of I-LAG (9,000) takes those 3 and then
	// JP8604, two transfers that settle on day 2
	w.ok(w.borrower, "tokens:Transfer", "JP8306", "bank-c", fmt.Sprint(w.rawBalance("bank-b", "JP8306")-3))
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1100","JP8604":"400"}}`)
	w.pair = pairAB // the oracle names the pair it sweeps
	var day1 SweepAgreementsResult
	w.okJSON(w.oracle, &day1, "margin:SweepAgreements", "2025-06-02", idList("I-LAG"))
	if o, rec := day1.Outcomes[0], w.marginCall(w.lender, "I-LAG", "2025-06-02"); o.Status != SweepCalled || len(rec.Transfers) != 2 ||
		rec.Transfers[0].Token != "JP8306" || rec.Transfers[0].Quantity != "3" {
		t.Fatalf("day 1: %+v, record %+v", day1, rec)
	}
	// then it moves its JP8604 away: on day 2 the JP8306 transfer settles, the JP8604 one cannot
	w.ok(w.borrower, "tokens:Transfer", "JP8604", "bank-c", fmt.Sprint(w.rawBalance("bank-b", "JP8604")))
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-03", `{"prices":{"JP8306":"1100","JP8604":"400","US-AAPL":"200"}}`)
	usdTerms := w.rawTermsBook(usdBefore.Book).Agreements["I-USD"]

	var res SweepAgreementsResult
	w.okJSON(w.oracle, &res, "margin:SweepAgreements", "2025-06-03", idList("I-LAG", "I-0", "I-USD", "I-9"))
	want := []struct{ status, reason, message string }{
		{SweepCalled, "", ""},
		{SweepCalled, "", ""},
		{SweepFailed, "missing_price", "cannot run the margin call of agreement I-USD on 2025-06-03: missing_fx: no FX rate from USD to JPY"},
		{SweepFailed, "unknown_agreement", ""},
	}
	if res.Count != 4 || res.Called != 2 || res.Failed != 2 {
		t.Fatalf("result: %+v", res)
	}
	for i, o := range res.Outcomes {
		if o.Status != want[i].status || o.Reason != want[i].reason || o.TxID != "" {
			t.Fatalf("outcome %d: %+v, want %s %q", i, o, want[i].status, want[i].reason)
		}
		// the message stays with the parties, who read it with GetSweepFailure
		if want[i].message != "" {
			var f SweepFailure
			w.query(w.borrower, &f, "margin:GetSweepFailure", o.Agreement, "2025-06-03")
			if !strings.HasPrefix(f.Reason, want[i].message) || f.Agreement != o.Agreement || f.Date != "2025-06-03" || f.TxID == "" {
				t.Fatalf("failure of %s: %+v", o.Agreement, f)
			}
		}
	}
	w.refuse(w.lender, "no failed margin call of agreement I-0 on 2025-06-03", "margin:GetSweepFailure", "I-0", "2025-06-03")
	var ev marginBatchEvent
	w.expectEvent(EventMarginBatch)
	if err := json.Unmarshal([]byte(w.lastEvent.Raw), &ev); err != nil || !reflect.DeepEqual(ev.Failed, []string{"I-USD", "I-9"}) ||
		!reflect.DeepEqual(ev.Calls, []string{"I-LAG", "I-0"}) || !reflect.DeepEqual(ev.SettlementFails, []string{"I-LAG"}) ||
		len(ev.RecallsFailed) != 0 {
		t.Fatalf("event: %s", w.lastEvent.Raw)
	}
	// I-LAG's JP8604 settlement failed alone: recorded with what is missing, still pending
	rec := w.marginCall(w.lender, "I-LAG", "2025-06-03")
	if len(rec.Fails) != 1 || rec.Fails[0].Token != "JP8604" || rec.Fails[0].Missing != rec.Fails[0].Quantity || len(rec.Settled) != 1 {
		t.Fatalf("I-LAG's record: %+v", rec)
	}
	var held CollateralReport
	w.okJSON(w.lender, &held, "agreements:CollateralHeld", "I-LAG")
	if len(held.Pending) != 1 || held.Pending[0].Token != "JP8604" {
		t.Fatalf("the failed settlement stays pending: %+v", held)
	}
	// nothing of I-USD's attempt remains: the recall the cycle failed is open again, in its record
	// and in its terms book
	if after := w.agreement(w.lender, "I-USD"); !reflect.DeepEqual(after, usdBefore) {
		t.Fatalf("I-USD not undone:\n%+v\nwas\n%+v", after, usdBefore)
	}
	if got := w.rawTermsBook(usdBefore.Book).Agreements["I-USD"]; !reflect.DeepEqual(got, usdTerms) || got.Recalls[0].Status != RecallOpen {
		t.Fatalf("I-USD's terms book entry not undone: %+v (was %+v)", got, usdTerms)
	}
	w.refuse(w.lender, "no margin call of agreement I-USD on 2025-06-03", "margin:GetMarginCall", "I-USD", "2025-06-03")
	w.checkConservation()
	// again without I-LAG: the call replays, the failures fail again, and only the failure note of the known agreement is rewritten
	var again SweepAgreementsResult
	w.okJSON(w.oracle, &again, "margin:SweepAgreements", "2025-06-03", idList("I-0", "I-USD", "I-9"))
	if again.Replayed != 1 || again.Failed != 2 || again.Outcomes[0].TxID == "" {
		t.Fatalf("again: %+v", again)
	}
	failureKey, _ := createKey(keySweepFailure, "I-USD", "2025-06-03")
	if len(w.lastStub.writes) != 1 || w.lastStub.writes[privateKey(pairAB, failureKey)] == nil {
		t.Fatalf("SweepAgreements with only replays and failures wrote %d keys", len(w.lastStub.writes))
	}
}

// TestSweepReadsTermsFromTheNamedBooks: a sweep that names each agreement's custody book reads
// status and terms from the book's terms book, not from the agreements' records (the largest part
// of a sweep batch on the peers): with the records made unreadable it still margins every one, and
// without the books it fails on them; a book that does not hold an agreement sends the sweep to its
// record.
func TestSweepReadsTermsFromTheNamedBooks(t *testing.T) {
	ids := batchIDs("T", 4)
	w := newWorld(t)
	w.market()
	w.openEach(ids)
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1100","JP8604":"400"}}`)
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-03", `{"prices":{"JP8306":"1000","JP8604":"400"}}`)
	book := w.agreement(w.lender, ids[0]).Book
	for _, id := range ids {
		_, k := w.rawAgreementKey(id)
		w.ledger.state[k] = []byte(`{"id":`) // unreadable
	}
	books := make([]string, len(ids))
	for i := range books {
		books[i] = book
	}
	w.inPair(pairAB, func() {
		w.extra = map[string][]byte{transientBooks: []byte(mustJSON(books))}
		defer func() { w.extra = nil }()
		var res SweepAgreementsResult
		w.okJSON(w.oracle, &res, "margin:SweepAgreements", "2025-06-02", idList(ids...))
		if res.Called != len(ids) {
			t.Fatalf("with the books named: %+v", res)
		}
		// a wrong book: the record is read, and it is unreadable (the oracle's call fails alone)
		w.extra = map[string][]byte{transientBooks: []byte(mustJSON([]string{"NO-SUCH-BOOK"}))}
		w.okJSON(w.oracle, &res, "margin:SweepAgreements", "2025-06-03", idList(ids[0]))
		if res.Failed != 1 {
			t.Fatalf("with a wrong book: %+v", res)
		}
		w.extra = nil
		w.okJSON(w.oracle, &res, "margin:SweepAgreements", "2025-06-03", idList(ids[1]))
		if res.Failed != 1 {
			t.Fatalf("without the books: %+v", res)
		}
	})
}
