package contracts

import (
	"testing"
)

// At 400 and 200 the default agreement's collateral is worth 950,000 against a 1,000,000 loan: the
// borrower delivers ceil(50,000 / 380) = 132 JP8306 (50,160).
func shortfallWorld(t *testing.T, mut func(m map[string]any)) *world {
	w := newWorld(t)
	w.market()
	w.open("AGR-D", mut)
	w.pair = pairAB
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"400","JP8604":"200"}}`)
	rec := w.marginCallRun(w.oracle, "AGR-D", "2025-06-02")
	if len(rec.Transfers) != 1 || rec.Transfers[0].Quantity != "132" || rec.Transfers[0].Value != "50160" {
		t.Fatalf("the call: %+v", rec.Transfers)
	}
	return w
}

func TestDisputeHoldsBackThenTheCallsFigureIsAccepted(t *testing.T) {
	w := shortfallWorld(t, nil)
	w.refuse(w.lender, "access denied: only bank-b, which delivers under the margin call of agreement AGR-D on 2025-06-02, can dispute it",
		"margin:DisputeCall", "AGR-D", "2025-06-02", "20000", "")
	w.refuse(w.borrower, "agreedValue 50160 is not below the call's value 50160.00: there is nothing to dispute",
		"margin:DisputeCall", "AGR-D", "2025-06-02", "50160", "")
	free := w.rawBalance("bank-b", "JP8306")
	// agreed 20,000: disputed 30,160 = 79 whole units (30,020) held back, returned to bank-b
	w.ok(w.borrower, "margin:DisputeCall", "AGR-D", "2025-06-02", "20000", "our close was 410")
	w.expectEvent(EventCallDisputed)
	rec := w.marginCall(w.lender, "AGR-D", "2025-06-02")
	d := rec.Dispute
	if d == nil || d.Status != DisputeOpen || d.DisputedValue != "30160" || len(d.HeldBack) != 1 || d.HeldBack[0].Quantity != "79" ||
		w.rawBalance("bank-b", "JP8306") != free+79 || w.rawPosition("AGR-D", "JP8306") != 2000+132-79 {
		t.Fatalf("dispute: %+v", d)
	}
	w.refuse(w.borrower, "bank-b already disputed the margin call of agreement AGR-D on 2025-06-02", "margin:DisputeCall", "AGR-D", "2025-06-02", "1", "")
	w.refuse(w.borrower, "access denied: only bank-a can accept the disputed figure of bank-b", "margin:ResolveDispute", "AGR-D", "2025-06-02", "dispute")
	w.refuse(w.lender, "access denied: only bank-b, which disputed the call, can accept the call's figure", "margin:ResolveDispute", "AGR-D", "2025-06-02", "call")
	w.ok(w.borrower, "margin:ResolveDispute", "AGR-D", "2025-06-02", "call")
	w.expectEvent(EventDisputeResolved)
	if rec := w.marginCall(w.lender, "AGR-D", "2025-06-02"); rec.Dispute.Resolution != ResolvedCallFigure || w.rawPosition("AGR-D", "JP8306") != 2132 {
		t.Fatalf("resolved: %+v", rec.Dispute)
	}
	w.refuse(w.borrower, "the margin call of agreement AGR-D on 2025-06-02 has no open dispute", "margin:ResolveDispute", "AGR-D", "2025-06-02", "call")
	w.checkConservation()
}

// With a lag the disputed part leaves the pending settlement; the lender accepts the disputed figure.
func TestLaggedDisputeAndTheDisputedFigureAccepted(t *testing.T) {
	w := shortfallWorld(t, func(m map[string]any) { m["settlementLagDays"] = 1 })
	w.ok(w.borrower, "margin:DisputeCall", "AGR-D", "2025-06-02", "20000", "")
	var rep CollateralReport
	w.okJSON(w.lender, &rep, "agreements:CollateralHeld", "AGR-D")
	if len(rep.Pending) != 1 || rep.Pending[0].Quantity != "53" {
		t.Fatalf("pending after the dispute: %+v", rep.Pending)
	}
	w.ok(w.lender, "margin:ResolveDispute", "AGR-D", "2025-06-02", "dispute")
	if rec := w.marginCall(w.lender, "AGR-D", "2025-06-02"); rec.Dispute.Resolution != ResolvedDisputeFigure {
		t.Fatalf("resolved: %+v", rec.Dispute)
	}
	w.checkConservation()
}

// A correction of a margined date re-runs the call at the corrected prices and settles the
// difference; it resolves an open dispute; a later call or an unchanged version is unaffected.
func TestCorrectionAdjustsTheCallAndResolvesTheDispute(t *testing.T) {
	w := shortfallWorld(t, nil)
	w.ok(w.borrower, "margin:DisputeCall", "AGR-D", "2025-06-02", "20000", "")
	var out []AdjustStatus
	w.okJSON(w.oracle, &out, "margin:AdjustCalls", "2025-06-02", idList("AGR-D"))
	if len(out) != 1 || out[0].Status != "unaffected" || out[0].Reason != "no_correction" {
		t.Fatalf("without a correction: %+v", out)
	}
	// JP8306 was 410: held 2,053 JP8306 (389.5 each) and 1,000 JP8604 (190) = 989,643.5; the
	// shortfall 10,356.5 takes ceil(10,356.5 / 389.5) = 27 JP8306
	w.ok(w.oracle, "oracle:CorrectPrices", "2025-06-02", `{"prices":{"JP8306":"410"}}`, "vendor correction")
	w.okJSON(w.oracle, &out, "margin:AdjustCalls", "2025-06-02", idList("AGR-D"))
	if len(out) != 1 || out[0].Status != "adjusted" {
		t.Fatalf("after the correction: %+v", out)
	}
	w.expectEvent(EventCallsAdjusted)
	rec := w.marginCall(w.lender, "AGR-D", "2025-06-02")
	if len(rec.Adjustments) != 1 || rec.Adjustments[0].PriceVersion != 2 || len(rec.Adjustments[0].Transfers) != 1 ||
		rec.Adjustments[0].Transfers[0].Quantity != "27" || rec.Dispute.Resolution != ResolvedByCorrection {
		t.Fatalf("adjustment: %+v, dispute %+v", rec.Adjustments, rec.Dispute)
	}
	w.okJSON(w.oracle, &out, "margin:AdjustCalls", "2025-06-02", idList("AGR-D"))
	if out[0].Reason != "no_correction" {
		t.Fatalf("again: %+v", out)
	}
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-03", `{"prices":{"JP8306":"410","JP8604":"200"}}`)
	w.marginCallRun(w.oracle, "AGR-D", "2025-06-03")
	w.ok(w.oracle, "oracle:CorrectPrices", "2025-06-02", `{"prices":{"JP8306":"420"}}`, "again")
	w.okJSON(w.oracle, &out, "margin:AdjustCalls", "2025-06-02", idList("AGR-D"))
	if out[0].Reason != "later_call" {
		t.Fatalf("after a later call: %+v", out)
	}
	w.checkConservation()
}
