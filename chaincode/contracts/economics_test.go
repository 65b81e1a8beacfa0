package contracts

import (
	"math/big"
	"testing"
)

// A stock loan against cash: 800 JP8306 lent, 900,000 JPY delivered as collateral; a 40 bp
// fee with a 500 JPY monthly minimum, and a 0.1 % fixed rebate on the cash (ACT/365F for JPY).
func economicTerms(m map[string]any) {
	m["loan"] = map[string]any{"token": "JP8306", "quantity": "800"}
	m["collateral"] = []any{map[string]any{"token": "JPY", "quantity": "900000"}}
	m["tradeDate"], m["startDate"], m["endDate"] = "2025-05-28", "2025-05-28", "2025-12-31"
	m["fee"] = map[string]any{"bps": "40", "minimum": "500"}
	m["rebate"] = map[string]any{"fixed": "0.1"}
}

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

// accrued is value × rate × days / 365.
func accrued(value, rate string, days int64) *big.Rat {
	r := new(big.Rat).Mul(rat(value), rat(rate))
	return r.Mul(r, big.NewRat(days, 365))
}

func TestFeesAndRebatesAccrueWithEachCallAndAreInvoiced(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.issue(w.lender, "JP8306", "5000")
	w.open("AGR-F", economicTerms)
	w.pair = pairAB
	for _, d := range []string{"2025-05-29", "2025-05-30", "2025-06-02"} {
		w.postDefaultPrices(d)
	}
	// 05-29: the call returns the excess cash (floor(55,000 / 0.95) = 57,894): 842,106 held. The
	// first period (05-28 to 05-29) is valued at the first call's values
	c1 := w.marginCallRun(w.oracle, "AGR-F", "2025-05-29")
	if len(c1.Accruals) != 1 || c1.Accruals[0].From != "2025-05-28" || c1.Accruals[0].Days != 1 ||
		c1.Accruals[0].LoanValue != "800000" || c1.Accruals[0].CashValue != "842106" {
		t.Fatalf("first call's accrual: %+v", c1.Accruals)
	}
	feeDay := accrued("800000", "0.004", 1)
	rebateDay := accrued("842106", "0.001", 1)
	if c1.Accruals[0].Fee != feeDay.RatString() || c1.Accruals[0].Rebate != rebateDay.RatString() {
		t.Fatalf("fee %s rebate %s, want %s and %s", c1.Accruals[0].Fee, c1.Accruals[0].Rebate, feeDay.RatString(), rebateDay.RatString())
	}
	w.marginCallRun(w.oracle, "AGR-F", "2025-05-30")
	// 05-30 to 06-02 is split at the month's end: two days in May, one in June
	c3 := w.marginCallRun(w.oracle, "AGR-F", "2025-06-02")
	if len(c3.Accruals) != 2 || c3.Accruals[0].To != "2025-06-01" || c3.Accruals[0].Days != 2 || c3.Accruals[1].Days != 1 {
		t.Fatalf("split at the month end: %+v", c3.Accruals)
	}
	w.refuse(w.borrower, "the month 2025-06 has not ended (today is 2025-06-06 in Asia/Tokyo): invoice it from 2025-07-01",
		"billing:IssueInvoice", "2025-06", "JPY")
	w.refuse(w.borrower, "nothing to invoice for 2025-05 in USD: no agreement of pair-bank-a-bank-b accrued fees or rebates that month",
		"billing:IssueInvoice", "2025-05", "USD")
	var rc InvoiceReceipt
	w.okJSON(w.oracle, &rc, "billing:IssueInvoice", "2025-05", "JPY")
	w.expectEvent(EventInvoiceIssued)
	var inv Invoice
	w.okJSON(w.lender, &inv, "billing:GetInvoice", "2025-05", "JPY")
	// May: four days at the same values; the fee (35.07…) is raised to the 500 minimum; the
	// rebate is 9.23…, so bank-b owes 490.77…, 491 JPY
	feeMay, rebateMay := accrued("800000", "0.004", 4), accrued("842106", "0.001", 4)
	net := new(big.Rat).Sub(rat("500"), rebateMay)
	if len(inv.Lines) != 1 {
		t.Fatalf("lines: %+v", inv.Lines)
	}
	l := inv.Lines[0]
	if l.Days != 4 || l.FeeAccrued != feeMay.RatString() || l.FeeCharged != "500" ||
		l.MinimumTopUp != new(big.Rat).Sub(rat("500"), feeMay).RatString() || l.Rebate != rebateMay.RatString() || l.Net != net.RatString() {
		t.Fatalf("line: %+v", l)
	}
	if inv.Payer != "bank-b" || inv.Payee != "bank-a" || inv.Net != net.RatString() || inv.Amount != "491" || inv.DueDate != "2025-06-10" ||
		inv.Status != InvoiceIssued || rc.Invoice != "INV-2025-05-JPY" {
		t.Fatalf("invoice: %+v", inv)
	}
	w.refuse(w.lender, "the invoice of pair-bank-a-bank-b for 2025-05 in JPY is already issued", "billing:IssueInvoice", "2025-05", "JPY")
	w.refuse(w.oracle, errOperatorPrivate.Error(), "billing:GetInvoice", "2025-05", "JPY")
	// May left the custody entry; June stays to accrue
	if b, _ := w.rawBook("AGR-F"); b.Agreements["AGR-F"].Accrual.Months["2025-05"] != nil || b.Agreements["AGR-F"].Accrual.Months["2025-06"].Days != 1 {
		t.Fatalf("custody months: %+v", b.Agreements["AGR-F"].Accrual.Months)
	}
	w.ok(w.lender, "billing:QueryInvoiceLine", "2025-05", "JPY", "AGR-F", "minimum fee for a part month?")
	w.refuse(w.lender, "access denied: only the payer bank-b can pay invoice INV-2025-05-JPY", "billing:PayInvoice", "2025-05", "JPY", "JPY")
	w.refuse(w.borrower, "token JP8306 cannot pay invoice INV-2025-05-JPY: it needs a cash token in JPY", "billing:PayInvoice", "2025-05", "JPY", "JP8306")
	lenderJPY := w.rawBalance("bank-a", "JPY")
	w.ok(w.borrower, "billing:PayInvoice", "2025-05", "JPY", "JPY")
	w.expectEvent(EventInvoicePaid)
	if w.rawBalance("bank-a", "JPY") != lenderJPY+491 {
		t.Fatal("the payment")
	}
	w.okJSON(w.borrower, &inv, "billing:GetInvoice", "2025-05", "JPY")
	if inv.Status != InvoicePaid || inv.PaidWith != "JPY" || inv.Lines[0].Query == nil || inv.Lines[0].Query.By != "bank-a" {
		t.Fatalf("paid: %+v", inv)
	}
	w.refuse(w.borrower, "invoice INV-2025-05-JPY is PAID", "billing:PayInvoice", "2025-05", "JPY", "JPY")
	w.checkConservation()
}

// A floating rebate accrues at the benchmark's fixing of each period's start plus the spread; a
// date without a fixing keeps the last one; without any fixing the call fails with missing_price.
func TestFloatingRebateFollowsTheFixings(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.issue(w.lender, "JP8306", "5000")
	w.open("AGR-R", func(m map[string]any) {
		economicTerms(m)
		m["fee"] = nil
		m["rebate"] = map[string]any{"benchmark": "TONA", "spreadBps": "-5"}
	})
	w.pair = pairAB
	w.postDefaultPrices("2025-05-29")
	var res SweepAgreementsResult
	w.okJSON(w.oracle, &res, "margin:SweepAgreements", "2025-05-29", idList("AGR-R"))
	if res.Failed != 1 || res.Outcomes[0].Reason != "missing_price" {
		t.Fatalf("without a fixing: %+v", res)
	}
	w.ok(w.oracle, "oracle:PostPrices", "2025-05-29", `{"rates":{"TONA":"0.477"}}`)
	c1 := w.marginCallRun(w.oracle, "AGR-R", "2025-05-29")
	w.postDefaultPrices("2025-05-30") // no fixing: the last one carries
	c2 := w.marginCallRun(w.oracle, "AGR-R", "2025-05-30")
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1000","JP8604":"500","US-AAPL":"200"},"fx":{"USDJPY":"150"},"rates":{"TONA":"0.727"}}`)
	w.marginCallRun(w.oracle, "AGR-R", "2025-06-02")
	c4 := func() MarginCallRecord {
		w.postDefaultPrices("2025-06-03")
		return w.marginCallRun(w.oracle, "AGR-R", "2025-06-03")
	}()
	// (0.477 - 0.05) % = 0.00427; (0.727 - 0.05) % = 0.00677
	for _, c := range []struct {
		rec  MarginCallRecord
		rate string
	}{{c1, "0.00427"}, {c2, "0.00427"}, {c4, "0.00677"}} {
		if l := c.rec.Accruals[len(c.rec.Accruals)-1]; l.RebateRate != rat(c.rate).RatString() || l.Fee != "0" {
			t.Fatalf("%s: %+v, want rebate rate %s", c.rec.Date, l, c.rate)
		}
	}
}

func TestEconomicTermsAreValidated(t *testing.T) {
	w := newWorld(t)
	w.market()
	for _, c := range []struct {
		mut  func(m map[string]any)
		want string
	}{
		{func(m map[string]any) { m["fee"] = map[string]any{"minimum": "5"} }, "invalid fee: bps is required"},
		{func(m map[string]any) { m["rebate"] = map[string]any{} }, "invalid rebate: give fixed"},
		{func(m map[string]any) { m["rebate"] = map[string]any{"fixed": "0.1", "benchmark": "TONA"} }, "invalid fee or rebate terms"},
		{func(m map[string]any) { m["dayCount"] = "ACT/360" }, "invalid dayCount: the terms have no fee or rebate to accrue"},
		{func(m map[string]any) { m["fee"] = map[string]any{"bps": "40"}; m["dayCount"] = "30/360" }, "invalid fee or rebate terms"},
	} {
		w.refusePrefix(w.lender, c.want, "agreements:Propose", termsJSON("AGR-V", c.mut))
	}
	w.ok(w.lender, "agreements:Propose", termsJSON("AGR-OK", func(m map[string]any) { m["fee"] = map[string]any{"bps": "25"} }))
}
