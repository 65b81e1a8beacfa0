package contracts

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"testing"
)

// The desk's life-cycle steps. The default agreement lends 1,000,000 JPY against 2,000 JP8306 and
// 1,000 JP8604 (haircut 5 %, multi mode); at the default prices (1,000 and 500) the collateral is
// worth 2,375,000 after haircut.

func lifecycleWorld(t *testing.T) *world {
	w := newWorld(t)
	w.market()
	w.open("AGR-1", nil)
	w.postDefaultPrices("2025-06-02")
	w.postDefaultPrices("2025-06-03")
	w.postDefaultPrices("2025-06-04")
	w.pair = pairAB // the oracle names the pair of its calls
	return w
}

func eventKeys(w *world) []string {
	var ev map[string]any
	_ = json.Unmarshal([]byte(w.lastEvent.Raw), &ev)
	keys := make([]string, 0, len(ev))
	for k := range ev {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func heldOf(w *world, id string) map[string]int64 {
	var rep CollateralReport
	w.okJSON(w.lender, &rep, "agreements:CollateralHeld", id)
	out := map[string]int64{}
	for _, p := range rep.Positions {
		q, _ := parseStoredQuantity(p.Held)
		out[p.Token] = q
	}
	return out
}

func TestRecall(t *testing.T) {
	w := lifecycleWorld(t)
	w.refuse(w.borrower, "access denied: only the lender bank-a can recall under agreement AGR-1", "agreements:Recall", "AGR-1", "1", "2025-06-02", "2025-06-04", "")
	w.refuse(w.lender, "cannot recall 1000001 JPY under agreement AGR-1: the loan is 1000000 and 0 are already recalled, so at most 1000000", "agreements:Recall", "AGR-1", "1000001", "2025-06-02", "2025-06-04", "")
	w.refuse(w.lender, "dueDate 2025-06-01 is before the recall's date 2025-06-02", "agreements:Recall", "AGR-1", "1", "2025-06-02", "2025-06-01", "")
	w.refuse(w.lender, "date 2025-06-07 is after today (2025-06-06 in Asia/Tokyo)", "agreements:Recall", "AGR-1", "1", "2025-06-07", "2025-06-09", "")
	w.refuse(w.lender, "date 2025-05-31 is before the start date 2025-06-01 of agreement AGR-1", "agreements:Recall", "AGR-1", "1", "2025-05-31", "2025-06-09", "")
	a := w.step(w.lender, "agreements:Recall", "AGR-1", "600000", "2025-06-02", "2025-06-04", "sale")
	if len(a.Recalls) != 1 || a.Recalls[0] != (Recall{ID: "R1", Date: "2025-06-02", Due: "2025-06-04", Quantity: "600000", Returned: "0", Status: RecallOpen, TxID: a.Recalls[0].TxID, Note: "sale"}) {
		t.Fatalf("recall: %+v", a.Recalls)
	}
	w.expectEvent(EventRecallRequested)
	if keys := eventKeys(w); !reflect.DeepEqual(keys, []string{"agreement", "party", "recall", "status", "txId", "type"}) {
		t.Fatalf("event fields: %v", keys)
	}
	w.refuse(w.lender, "cannot recall 400001 JPY under agreement AGR-1: the loan is 1000000 and 600000 are already recalled, so at most 400000", "agreements:Recall", "AGR-1", "400001", "2025-06-02", "2025-06-04", "")
	// a part return counts against it; a margin call fixes the date order
	w.step(w.borrower, "agreements:Return", "AGR-1", "250000", "2025-06-02")
	w.marginCallRun(w.oracle, "AGR-1", "2025-06-03")
	w.refuse(w.lender, "date 2025-06-02 is before the latest margin call of agreement AGR-1 on 2025-06-03: steps and calls run in date order", "agreements:Recall", "AGR-1", "1", "2025-06-02", "2025-06-04", "")
	a = w.step(w.borrower, "agreements:Return", "AGR-1", "350000", "2025-06-03")
	if r := a.Recalls[0]; r.Returned != "600000" || r.Status != RecallSettled {
		t.Fatalf("returns settle the recall: %+v", r)
	}
	w.checkConservation()
}

func TestPartReturnReleasesExcessInReversePriority(t *testing.T) {
	w := lifecycleWorld(t)
	lenderJPY, borrowerJP8306 := w.rawBalance("bank-a", "JPY"), w.rawBalance("bank-b", "JP8306")
	w.refuse(w.lender, "access denied: only the borrower bank-b can return under agreement AGR-1", "agreements:Return", "AGR-1", "1", "2025-06-02")
	w.refuse(w.borrower, "cannot return 1000001 JPY under agreement AGR-1: the loan is 1000000", "agreements:Return", "AGR-1", "1000001", "2025-06-02")
	w.refuse(w.borrower, "no prices posted for 2025-06-05: post them (oracle:PostPrices) before margin calls", "agreements:Return", "AGR-1", "1", "2025-06-05")
	// V_L 600,000 after; gap 1,775,000: JP8604 (475 each) all 1,000 out, then JP8306 (950 each)
	// floor(1,300,000 / 950) = 1,368, leaving a gap of 400
	a := w.step(w.borrower, "agreements:Return", "AGR-1", "400000", "2025-06-02")
	w.expectEvent(EventLoanReturned)
	if a.Terms.Loan.Quantity != "600000" || a.Status != StatusActive {
		t.Fatalf("after the return: %+v", a)
	}
	last := a.History[len(a.History)-1]
	want := []Transfer{
		{Token: "JPY", Quantity: "400000", From: "bank-b", To: "bank-a", Leg: "loan"},
		{Token: "JP8604", Quantity: "1000", From: "bank-a", To: "bank-b", Leg: "collateral", Held: true},
		{Token: "JP8306", Quantity: "1368", From: "bank-a", To: "bank-b", Leg: "collateral", Held: true},
	}
	if last.Action != "RETURNED" || !reflect.DeepEqual(last.Transfers, want) {
		t.Fatalf("history: %+v", last)
	}
	if h := heldOf(w, "AGR-1"); h["JP8306"] != 632 || h["JP8604"] != 0 {
		t.Fatalf("held: %v", h)
	}
	if w.rawBalance("bank-a", "JPY") != lenderJPY+400000 || w.rawBalance("bank-b", "JP8306") != borrowerJP8306+1368 {
		t.Fatal("balances")
	}
	// the next call sees a covered agreement (gap 400 >= 0, returned down to less than one unit)
	if rec := w.marginCallRun(w.oracle, "AGR-1", "2025-06-03"); rec.GapBefore != "400" || rec.VL != "600000" {
		t.Fatalf("next call: %+v", rec)
	}
	// the rest closes it
	a = w.step(w.borrower, "agreements:Return", "AGR-1", "600000", "2025-06-03")
	if a.Status != StatusClosed || a.History[len(a.History)-1].Note != "returned" {
		t.Fatalf("full return: %+v", a.History[len(a.History)-1])
	}
	if ev := w.expectEvent(EventAgreementClosed); ev["reason"] != "returned" {
		t.Fatalf("event: %v", ev)
	}
	w.refuse(w.borrower, "agreement AGR-1 is CLOSED, not ACTIVE or MATURED", "agreements:Return", "AGR-1", "1", "2025-06-03")
	w.checkConservation()
}

func TestNoEarlyReturnTermLoan(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.open("AGR-N", func(m map[string]any) { m["noEarlyReturn"] = true })
	w.postDefaultPrices("2025-06-02")
	w.refuse(w.borrower, "agreement AGR-N does not allow early returns (noEarlyReturn): return from its end date 2025-12-31", "agreements:Return", "AGR-N", "1", "2025-06-02")
}

func TestSubstitution(t *testing.T) {
	w := lifecycleWorld(t)
	sub := substitutionJSON("JP8306", "100", "JP8604", "200")
	w.refuse(w.lender, "access denied: only the borrower bank-b can substitute collateral under agreement AGR-1", "agreements:Substitute", "AGR-1", sub, "2025-06-02")
	w.refuse(w.borrower, "agreement AGR-1 on 2025-06-02: in: US-AAPL is not an eligible collateral token of this agreement", "agreements:Substitute", "AGR-1", substitutionJSON("JP8306", "100", "US-AAPL", "1"), "2025-06-02")
	w.refuse(w.borrower, "agreement AGR-1 on 2025-06-02: out: 2001 JP8306 wanted, 2000 held under the agreement", "agreements:Substitute", "AGR-1", substitutionJSON("JP8306", "2001", "JP8604", "1"), "2025-06-02")
	w.refuse(w.borrower, "agreement AGR-1 on 2025-06-02: in: 50001 JP8604 wanted, 49000 free with the borrower", "agreements:Substitute", "AGR-1", substitutionJSON("JP8306", "1", "JP8604", "50001"), "2025-06-02")
	// requested: nothing moves until the lender approves
	before := heldOf(w, "AGR-1")
	a := w.step(w.borrower, "agreements:Substitute", "AGR-1", sub, "2025-06-02")
	w.expectEvent(EventSubstitutionRequest)
	if a.Substitution == nil || a.Substitution.Date != "2025-06-02" || !reflect.DeepEqual(heldOf(w, "AGR-1"), before) {
		t.Fatalf("requested: %+v", a.Substitution)
	}
	w.refuse(w.borrower, "a substitution of agreement AGR-1 requested on 2025-06-02 is waiting for bank-a: it must be approved or cancelled first", "agreements:Substitute", "AGR-1", sub, "2025-06-02")
	w.refuse(w.borrower, "access denied: only the lender bank-a can approve a substitution under agreement AGR-1", "agreements:ApproveSubstitution", "AGR-1")
	a = w.step(w.lender, "agreements:ApproveSubstitution", "AGR-1")
	w.expectEvent(EventCollateralSubstituted)
	if h := heldOf(w, "AGR-1"); a.Substitution != nil || h["JP8306"] != 1900 || h["JP8604"] != 1200 {
		t.Fatalf("approved: %v %+v", h, a.Substitution)
	}
	w.refuse(w.lender, "no substitution of agreement AGR-1 is waiting for approval", "agreements:ApproveSubstitution", "AGR-1")
	// cancelled by the lender
	w.step(w.borrower, "agreements:Substitute", "AGR-1", sub, "2025-06-02")
	a = w.step(w.lender, "agreements:CancelSubstitution", "AGR-1", "not these")
	if a.Substitution != nil || a.History[len(a.History)-1].Action != "SUBSTITUTION_CANCELLED" {
		t.Fatalf("cancelled: %+v", a.History[len(a.History)-1])
	}
	// a margin call since the request: approve would use stale prices
	w.step(w.borrower, "agreements:Substitute", "AGR-1", sub, "2025-06-02")
	w.marginCallRun(w.oracle, "AGR-1", "2025-06-03")
	w.refuse(w.lender, "the substitution of agreement AGR-1 was requested for 2025-06-02 and a margin call ran on 2025-06-03 since: cancel it and request it again", "agreements:ApproveSubstitution", "AGR-1")
	w.checkConservation()
}

func TestSubstitutionPreAuthorisedAndShort(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.open("AGR-P", func(m map[string]any) {
		m["substitutionPreAuthorised"] = true
		m["loan"] = map[string]any{"token": "JPY", "quantity": "2300000"}
	})
	w.postDefaultPrices("2025-06-02")
	// 1,000 JP8306 (950,000 after haircut) out for 1,000 JP8604 (475,000): 1,900,000 < 2,300,000
	w.refuse(w.borrower, "agreement AGR-P on 2025-06-02: the substitution would leave the agreement short: loan value 2300000.00, collateral value after haircut 1900000.00, short by 400000.00 (JPY)",
		"agreements:Substitute", "AGR-P", substitutionJSON("JP8306", "1000", "JP8604", "1000"), "2025-06-02")
	a := w.step(w.borrower, "agreements:Substitute", "AGR-P", substitutionJSON("JP8306", "100", "JP8604", "200"), "2025-06-02")
	w.expectEvent(EventCollateralSubstituted)
	if h := heldOf(w, "AGR-P"); a.Substitution != nil || h["JP8306"] != 1900 || h["JP8604"] != 1200 {
		t.Fatalf("pre-authorised: %v", h)
	}
	last := a.History[len(a.History)-1]
	if last.Action != "SUBSTITUTED" || len(last.Transfers) != 2 || last.Transfers[0].To != "bank-b" || last.Transfers[1].From != "bank-b" {
		t.Fatalf("history: %+v", last)
	}
	w.checkConservation()
}

func TestNoticeEndsAnOpenLoanThroughTheCycle(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.open("AGR-T", nil)
	w.open("AGR-O", func(m map[string]any) { m["endDate"], m["noticeDays"] = "", 2 })
	w.postDefaultPrices("2025-06-03")
	w.postDefaultPrices("2025-06-04")
	w.refuse(w.lender, "agreement AGR-T is a term loan ending on 2025-12-31: notice applies to open loans (early termination needs both parties: RequestTermination)", "agreements:GiveNotice", "AGR-T", "2025-06-02", "")
	a := w.step(w.borrower, "agreements:GiveNotice", "AGR-O", "2025-06-02", "refinanced")
	if a.Notice == nil || a.Notice.By != "bank-b" || a.Notice.Effective != "2025-06-04" {
		t.Fatalf("notice: %+v", a.Notice)
	}
	w.expectEvent(EventNoticeGiven)
	w.refuse(w.lender, "bank-b already gave notice on agreement AGR-O: it ends on 2025-06-04", "agreements:GiveNotice", "AGR-O", "2025-06-02", "")
	w.postDefaultPrices("2025-06-05")
	w.pair = pairAB
	var res SweepAgreementsResult
	for _, day := range []string{"2025-06-03", "2025-06-04"} { // up to its effective date: margined
		w.okJSON(w.oracle, &res, "margin:SweepAgreements", day, idList("AGR-O"))
		if res.Called != 1 {
			t.Fatalf("%s: %+v", day, res)
		}
	}
	w.okJSON(w.oracle, &res, "margin:SweepAgreements", "2025-06-05", idList("AGR-O"))
	if res.Closed != 1 || res.Outcomes[0] != (SweepStatus{Agreement: "AGR-O", Status: SweepClosed, Reason: "maturity"}) {
		t.Fatalf("the cycle after the effective date: %+v", res)
	}
	if a := w.agreement(w.lender, "AGR-O"); a.Status != StatusClosed || a.History[len(a.History)-1].Note != "maturity" {
		t.Fatalf("closed: %+v", a.History[len(a.History)-1])
	}
	w.checkConservation()
}

// At maturity the cycle closes what can settle; an agreement whose borrower lacks the loan becomes
// MATURED with a fail record and is margined, and closes on a later cycle; the others of the batch
// are not held up.
func TestMaturityClosesOrFlags(t *testing.T) {
	w := newWorld(t)
	w.market()
	ended := func(m map[string]any) { m["endDate"] = "2025-06-03" }
	for _, id := range []string{"M-1", "M-2", "M-3"} {
		w.open(id, ended)
	}
	w.open("M-X", func(m map[string]any) {
		ended(m)
		m["loan"] = map[string]any{"token": "JP8604", "quantity": "1000"}
		m["collateral"] = []any{map[string]any{"token": "JPY", "quantity": "600000"}}
		m["lender"], m["borrower"] = "bank-b", "bank-a"
	})
	// bank-a (M-X's borrower) sends its JP8604 away: M-X cannot close
	w.ok(w.lender, "tokens:Transfer", "JP8604", "bank-c", "600")
	for _, day := range []string{"2025-06-02", "2025-06-03", "2025-06-04", "2025-06-05", "2025-06-06"} {
		w.postDefaultPrices(day)
	}
	w.pair = pairAB
	var res SweepAgreementsResult
	// on the end date they are margined (their parties may Close them that day)
	w.okJSON(w.oracle, &res, "margin:SweepAgreements", "2025-06-03", idList("M-1", "M-X", "M-2", "M-3"))
	if res.Called != 4 {
		t.Fatalf("end date: %+v", res)
	}
	w.okJSON(w.oracle, &res, "margin:SweepAgreements", "2025-06-04", idList("M-1", "M-X", "M-2", "M-3"))
	if res.Closed != 3 || res.Called != 1 || res.Outcomes[1] != (SweepStatus{Agreement: "M-X", Status: SweepCalled, Reason: "close_failed"}) {
		t.Fatalf("sweep: %+v", res)
	}
	var ev marginBatchEvent
	_ = json.Unmarshal([]byte(w.lastEvent.Raw), &ev)
	if !reflect.DeepEqual(ev.Closed, []string{"M-1", "M-2", "M-3"}) || !reflect.DeepEqual(ev.Matured, []string{"M-X"}) || !reflect.DeepEqual(ev.Calls, []string{"M-X"}) {
		t.Fatalf("event: %s", w.lastEvent.Raw)
	}
	mx := w.agreement(w.lender, "M-X")
	want := Fail{Date: "2025-06-04", Step: "close", Party: "bank-a", Token: "JP8604", Quantity: "1000", Missing: "600"}
	if mx.Status != StatusMatured || len(mx.Fails) != 1 || mx.Fails[0] != want {
		t.Fatalf("M-X: %s %+v", mx.Status, mx.Fails)
	}
	w.marginCall(w.lender, "M-X", "2025-06-04") // margined the day it matured
	var fin SweepFinished
	w.okJSON(w.oracle, &fin, "margin:FinishSweep", "2025-06-04")
	if fin.Agreements != 1 || fin.Called != 1 {
		t.Fatalf("finish: %+v", fin)
	}
	// still short the next day: margined again, a second fail; then the tokens come back
	w.okJSON(w.oracle, &res, "margin:SweepAgreements", "2025-06-05", idList("M-X"))
	if res.Called != 1 || len(w.agreement(w.lender, "M-X").Fails) != 2 {
		t.Fatalf("day 2: %+v", res)
	}
	w.ok(w.bankC, "tokens:Transfer", "JP8604", "bank-a", "600")
	w.okJSON(w.oracle, &res, "margin:SweepAgreements", "2025-06-06", idList("M-X"))
	if res.Closed != 1 || w.agreement(w.lender, "M-X").Status != StatusClosed {
		t.Fatalf("day 3: %+v", res)
	}
	w.checkConservation()
}

func TestBuyInAfterAFailedRecall(t *testing.T) {
	w := lifecycleWorld(t)
	w.refuse(w.lender, "nothing to buy in under agreement AGR-1: no recall has failed and it has not matured", "agreements:BuyIn", "AGR-1", "2025-06-02")
	w.step(w.lender, "agreements:Recall", "AGR-1", "300000", "2025-06-02", "2025-06-03", "")
	w.pair = pairAB
	var res SweepAgreementsResult
	w.okJSON(w.oracle, &res, "margin:SweepAgreements", "2025-06-03", idList("AGR-1"))
	var ev marginBatchEvent
	_ = json.Unmarshal([]byte(w.lastEvent.Raw), &ev)
	if res.Called != 1 || !reflect.DeepEqual(ev.RecallsFailed, []string{"AGR-1"}) {
		t.Fatalf("sweep: %+v %s", res, w.lastEvent.Raw)
	}
	a := w.agreement(w.lender, "AGR-1")
	if r := a.Recalls[0]; r.Status != RecallFailed || r.FailedOn != "2025-06-03" {
		t.Fatalf("recall: %+v", r)
	}
	w.refuse(w.borrower, "access denied: only the lender bank-a can buy in under agreement AGR-1", "agreements:BuyIn", "AGR-1", "2025-06-03")
	lenderJP8306 := w.rawBalance("bank-a", "JP8306")
	// owed 300,000 JPY: the lender keeps ceil(300,000 / 1,000) = 300 JP8306 (CT1 first). Loan
	// 700,000; gap 2,090,000 − 700,000: all 1,000 JP8604 back, then floor(915,000 / 950) = 963 JP8306
	a = w.step(w.lender, "agreements:BuyIn", "AGR-1", "2025-06-03")
	w.expectEvent(EventBuyIn)
	b := a.BuyIns[0]
	if a.Terms.Loan.Quantity != "700000" || b.Quantity != "300000" || b.Owed != "300000" || b.Uncovered != "0" ||
		len(b.Kept) != 1 || b.Kept[0] != (StepTransfer{Token: "JP8306", Quantity: "300", Direction: "kept", Value: "285000", MarketValue: "300000"}) {
		t.Fatalf("buy-in: %+v loan %s", b, a.Terms.Loan.Quantity)
	}
	if a.Recalls[0].Status != RecallBoughtIn {
		t.Fatalf("recall: %+v", a.Recalls[0])
	}
	if h := heldOf(w, "AGR-1"); h["JP8306"] != 737 || h["JP8604"] != 0 || w.rawBalance("bank-a", "JP8306") != lenderJP8306+300 {
		t.Fatalf("held %v", h)
	}
	w.checkConservation()
	// a buy-in of the whole loan of a MATURED agreement closes it
	w.open("AGR-M", func(m map[string]any) { m["endDate"] = "2025-06-03" })
	w.ok(w.borrower, "tokens:Transfer", "JPY", "bank-c", fmt.Sprint(w.rawBalance("bank-b", "JPY")))
	w.okJSON(w.oracle, &res, "margin:SweepAgreements", "2025-06-04", idList("AGR-M"))
	a = w.step(w.lender, "agreements:BuyIn", "AGR-M", "2025-06-04")
	if a.Status != StatusClosed || a.Terms.Loan.Quantity != "0" || a.BuyIns[0].Owed != "1000000" {
		t.Fatalf("whole buy-in: %s %+v", a.Status, a.BuyIns)
	}
	if h := heldOf(w, "AGR-M"); h["JP8306"] != 0 || h["JP8604"] != 0 {
		t.Fatalf("everything returned or kept: %v", h)
	}
	w.checkConservation()
}
