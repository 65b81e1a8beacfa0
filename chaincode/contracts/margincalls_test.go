package contracts

import (
	"encoding/json"
	"fmt"
	"testing"
)

// The cross-currency example of DESIGN.md §1: 1,000,000 face of a EUR bond at 101.25 against a
// USD stock at 50.00, EURUSD 1.1000, base USD, α = β = 0: V_L = 1,113,750 and the collateral is
// 22,275 shares. Next day: bond 101.00, EURUSD 1.1050, stock 50.40: V_L = 1,116,050, the shares
// are worth 1,122,660 and the lender returns floor(6,610 / 50.40) = 131 shares.
func TestMarginCallCrossCurrencyExample(t *testing.T) {
	w := newWorld(t)
	w.pair = pairAB // the oracle names the pair of its margin calls
	w.defineTokens()
	w.ok(w.tokenAdmin, "tokens:DefineToken", `{"id":"DE-BUND","kind":"ST","currency":"EUR","isin":"DE0001102622","quoteConvention":"percent-of-par","assetClass":"government-bond"}`)
	w.issue(w.lender, "DE-BUND", "1000000")
	w.issue(w.borrower, "US-AAPL", "30000")
	w.open("XCCY", func(m map[string]any) {
		m["loan"] = map[string]any{"token": "DE-BUND", "quantity": "1000000"}
		m["collateral"] = []any{map[string]any{"token": "US-AAPL", "quantity": "22275"}}
		m["baseCurrency"], m["haircut"], m["mode"] = "USD", "0", "single"
	})
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"DE-BUND":"101.25","US-AAPL":"50.00"},"fx":{"EURUSD":"1.1000"}}`)
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-03", `{"prices":{"DE-BUND":"101.00","US-AAPL":"50.40"},"fx":{"EURUSD":"1.1050"}}`)

	day1 := w.marginCallRun(w.oracle, "XCCY", "2025-06-02")
	if day1.VL != "1113750" || day1.VCBefore != "1113750" || day1.GapBefore != "0" || !day1.Triggered || len(day1.Transfers) != 0 {
		t.Fatalf("day 1: %+v", day1)
	}
	if day1.Prices["DE-BUND"] != "405/4" || day1.FX["EUR"] != "11/10" || day1.FX["USD"] != "1" || day1.PriceVersion != 1 {
		t.Fatalf("day 1 inputs: %+v %+v", day1.Prices, day1.FX)
	}
	day2 := w.marginCallRun(w.lender, "XCCY", "2025-06-03")
	if day2.VL != "1116050" || day2.VCBefore != "1122660" || day2.GapBefore != "6610" {
		t.Fatalf("day 2 values: %+v", day2)
	}
	if len(day2.Transfers) != 1 {
		t.Fatalf("day 2 transfers: %+v", day2.Transfers)
	}
	tr := day2.Transfers[0]
	if tr.Token != "US-AAPL" || tr.Quantity != "131" || tr.Direction != "lender->borrower" || tr.From != "bank-a" || tr.To != "bank-b" ||
		tr.Value != "33012/5" || tr.SettleDate != "2025-06-03" {
		t.Fatalf("day 2 transfer: %+v", tr)
	}
	if day2.GapAfter != "38/5" || day2.Held["US-AAPL"] != "22144" || len(day2.Settled) != 1 || day2.CalledBy != "bank-a" {
		t.Fatalf("day 2 after: %+v", day2)
	}
	// (marginCallRun read the record back; the event is the call's)
	ev := w.expectEvent(EventMarginCall)
	if ev["agreement"] != "XCCY" || ev["date"] != "2025-06-03" || len(ev) != 4 {
		t.Fatalf("event: %v", ev)
	}
	if w.rawPosition("XCCY", "US-AAPL") != 22144 || w.rawBalance("bank-b", "US-AAPL") != 30000-22275+131 {
		t.Fatal("ledger not moved")
	}
	w.checkConservation()

	// once per (agreement, date): a second call returns the record and changes nothing
	again := w.marginCallRun(w.borrower, "XCCY", "2025-06-03")
	w.noWrites("MarginCall replay")
	if !again.Replayed || again.TxID != day2.TxID {
		t.Fatalf("replay: %+v", again)
	}
	w.refuse(w.oracle, errOperatorPrivate.Error(), "margin:GetMarginCall", "XCCY", "2025-06-02")
	got := w.marginCall(w.borrower, "XCCY", "2025-06-02")
	if got.TxID != day1.TxID || got.Replayed {
		t.Fatalf("GetMarginCall: %+v", got)
	}
	var page Page[MarginCallRecord]
	w.okJSON(w.borrower, &page, "margin:ListMarginCalls", "XCCY", "1", "")
	if page.Count != 1 || page.Items[0].Date != "2025-06-02" || page.Bookmark == "" {
		t.Fatalf("page 1: %+v", page)
	}
	w.okJSON(w.borrower, &page, "margin:ListMarginCalls", "XCCY", "1", page.Bookmark)
	if page.Count != 1 || page.Items[0].Date != "2025-06-03" || page.Bookmark != "" {
		t.Fatalf("page 2: %+v", page)
	}
	w.refuse(w.lender, "no margin call of agreement XCCY on 2025-06-01", "margin:GetMarginCall", "XCCY", "2025-06-01")
	w.refuse(w.bankC, "access denied: agreement XCCY does not exist or bank-c is not a party to it", "margin:GetMarginCall", "XCCY", "2025-06-02")
}

// singleTerms: collateral CT1 = 100 JP8306 (1000 each) and CT2 = 5000 JP8604 (500 each), loan
// 1,000,000 JPY, single mode, α = β = 0.
func singleTerms(autoIssue bool) func(m map[string]any) {
	return func(m map[string]any) {
		endedTerms(m)
		m["collateral"] = []any{map[string]any{"token": "JP8306", "quantity": "100"}, map[string]any{"token": "JP8604", "quantity": "5000"}}
		m["haircut"], m["mode"], m["autoIssue"] = "0", "single", autoIssue
	}
}

func TestMarginCallLenderAutoIssueMakesNegativePosition(t *testing.T) {
	w := newWorld(t)
	w.pair = pairAB // the oracle names the pair of its margin calls
	w.market()
	w.open("AGR-S", singleTerms(true))
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-01", `{"prices":{"JP8306":"1000","JP8604":"500"}}`)
	// V_C = 100×1000 + 5000×500 = 2,600,000; g = 1,600,000; single mode returns CT1 only: the
	// 100 held, then 1,500 auto-issued to the lender and returned with them
	rec := w.marginCallRun(w.oracle, "AGR-S", "2025-06-01")
	if len(rec.IssuanceRequired) != 1 || rec.IssuanceRequired[0] != (MarginIssuance{Party: "bank-a", Role: "lender", Token: "JP8306", Value: "1500000"}) {
		t.Fatalf("issuance required: %+v", rec.IssuanceRequired)
	}
	if len(rec.Mints) != 1 || rec.Mints[0] != (MarginMint{Party: "bank-a", Role: "lender", Token: "JP8306", Quantity: "1500", Supply: "101500"}) {
		t.Fatalf("mints: %+v", rec.Mints)
	}
	if len(rec.Transfers) != 1 || rec.Transfers[0].Quantity != "1600" || rec.Held["JP8306"] != "-1500" || rec.GapAfter != "0" {
		t.Fatalf("call: %+v", rec)
	}
	if ev := w.expectEvent(EventMarginCall); ev["issuanceRequired"] != nil || ev["mints"] != nil || ev["call"] != nil {
		t.Fatalf("the event names the issuance: %v", ev)
	}
	if w.rawPosition("AGR-S", "JP8306") != -1500 || w.rawBalance("bank-a", "JP8306") != 0 || w.rawBalance("bank-b", "JP8306") != 99900+1600 {
		t.Fatal("ledger")
	}
	w.checkConservation()
	// at close the borrower delivers the negative position back to the lender
	w.ok(w.lender, "agreements:Close", "AGR-S")
	if w.rawPosition("AGR-S", "JP8306") != 0 || w.rawBalance("bank-a", "JP8306") != 1500 || w.rawBalance("bank-b", "JP8306") != 100000 {
		t.Fatalf("after close: lender %d borrower %d", w.rawBalance("bank-a", "JP8306"), w.rawBalance("bank-b", "JP8306"))
	}
	w.checkConservation()
}

func TestMarginCallBorrowerShortWithoutAutoIssue(t *testing.T) {
	w := newWorld(t)
	w.pair = pairAB // the oracle names the pair of its margin calls
	w.market()
	w.open("AGR-B", func(m map[string]any) {
		m["loan"] = map[string]any{"token": "JPY", "quantity": "2000000"}
		m["collateral"] = []any{map[string]any{"token": "JP8306", "quantity": "1000"}, map[string]any{"token": "JP8604", "quantity": "1000"}}
		m["haircut"] = "0"
	})
	// the borrower keeps only 200 JP8306 and no JP8604
	w.ok(w.borrower, "tokens:Transfer", "JP8306", "bank-c", "98800")
	w.ok(w.borrower, "tokens:Transfer", "JP8604", "bank-c", "49000")
	w.postDefaultPrices("2025-06-02")
	// V_C = 1000×1000 + 1000×500 = 1,500,000 < 2,000,000: CT1 200 delivered, then nothing left
	rec := w.marginCallRun(w.borrower, "AGR-B", "2025-06-02")
	if len(rec.Transfers) != 1 || rec.Transfers[0].Quantity != "200" || rec.Transfers[0].From != "bank-b" {
		t.Fatalf("transfers: %+v", rec.Transfers)
	}
	if len(rec.IssuanceRequired) != 1 || rec.IssuanceRequired[0] != (MarginIssuance{Party: "bank-b", Role: "borrower", Token: "JP8306", Value: "300000"}) || len(rec.Mints) != 0 {
		t.Fatalf("issuance: %+v %+v", rec.IssuanceRequired, rec.Mints)
	}
	if rec.GapAfter != "-300000" || rec.Held["JP8306"] != "1200" || w.rawBalance("bank-b", "JP8306") != 0 {
		t.Fatalf("after: %+v", rec)
	}
	w.checkConservation()
}

func TestMarginCallBorrowerAutoIssue(t *testing.T) {
	w := newWorld(t)
	w.pair = pairAB // the oracle names the pair of its margin calls
	w.market()
	w.open("AGR-B", func(m map[string]any) {
		m["loan"] = map[string]any{"token": "JPY", "quantity": "2000000"}
		m["collateral"] = []any{map[string]any{"token": "JP8306", "quantity": "1000"}, map[string]any{"token": "JP8604", "quantity": "1000"}}
		m["haircut"], m["mode"], m["autoIssue"] = "0", "single", true
	})
	w.ok(w.borrower, "tokens:Transfer", "JP8306", "bank-c", "98800")
	w.postDefaultPrices("2025-06-02")
	rec := w.marginCallRun(w.oracle, "AGR-B", "2025-06-02")
	if len(rec.Mints) != 1 || rec.Mints[0].Party != "bank-b" || rec.Mints[0].Quantity != "300" || rec.Transfers[0].Quantity != "500" || rec.GapAfter != "0" {
		t.Fatalf("call: %+v", rec)
	}
	if w.rawBalance("bank-b", "JP8306") != 0 || w.rawPosition("AGR-B", "JP8306") != 1500 {
		t.Fatal("ledger")
	}
	w.checkConservation()
}

func lagTerms(m map[string]any) {
	m["loan"] = map[string]any{"token": "JPY", "quantity": "2000000"}
	m["collateral"] = []any{map[string]any{"token": "JP8306", "quantity": "1000"}, map[string]any{"token": "JP8604", "quantity": "1000"}}
	m["haircut"], m["settlementLagDays"] = "0", 1
}

func TestMarginCallWithSettlementLag(t *testing.T) {
	w := newWorld(t)
	w.pair = pairAB // the oracle names the pair of its margin calls
	w.market()
	w.open("AGR-L", lagTerms)
	w.postDefaultPrices("2025-06-02")
	w.postDefaultPrices("2025-06-03")
	d1 := w.marginCallRun(w.oracle, "AGR-L", "2025-06-02")
	if len(d1.Transfers) != 1 || d1.Transfers[0].Quantity != "500" || d1.Transfers[0].SettleDate != "2025-06-03" ||
		len(d1.Settled) != 0 || len(d1.Pending) != 1 || d1.Held["JP8306"] != "1000" {
		t.Fatalf("day 1: %+v", d1)
	}
	if w.rawPosition("AGR-L", "JP8306") != 1000 {
		t.Fatal("a lagged transfer must not settle on its trade date")
	}
	var rep CollateralReport
	w.okJSON(w.lender, &rep, "agreements:CollateralHeld", "AGR-L")
	if len(rep.Pending) != 1 || rep.Pending[0].Quantity != "500" {
		t.Fatalf("pending: %+v", rep)
	}
	d2 := w.marginCallRun(w.oracle, "AGR-L", "2025-06-03")
	if len(d2.Settled) != 1 || d2.Settled[0].TradeDate != "2025-06-02" || d2.GapBefore != "0" || len(d2.Transfers) != 0 ||
		len(d2.Pending) != 0 || d2.Held["JP8306"] != "1500" {
		t.Fatalf("day 2: %+v", d2)
	}
	w.checkConservation()
}

// A lagged settlement the borrower cannot deliver fails alone: the day's call runs, the record
// names the missing quantity, the settlement stays pending and the next cycle settles it.
func TestLaggedSettlementFailsWhenBorrowerIsShort(t *testing.T) {
	w := newWorld(t)
	w.pair = pairAB // the oracle names the pair of its margin calls
	w.market()
	w.open("AGR-L", lagTerms)
	w.postDefaultPrices("2025-06-02")
	w.postDefaultPrices("2025-06-03")
	w.postDefaultPrices("2025-06-04")
	d1 := w.marginCallRun(w.oracle, "AGR-L", "2025-06-02")
	if len(d1.Pending) != 1 || d1.Pending[0].Quantity != "500" {
		t.Fatalf("day 1: %+v", d1)
	}
	w.ok(w.borrower, "tokens:Transfer", "JP8306", "bank-c", "99000")
	d2 := w.marginCallRun(w.oracle, "AGR-L", "2025-06-03")
	if len(d2.Fails) != 1 || d2.Fails[0].Token != "JP8306" || d2.Fails[0].Quantity != "500" || d2.Fails[0].Missing != "500" ||
		d2.Fails[0].DueDate != "2025-06-03" || len(d2.Settled) != 0 || len(d2.Pending) != 1 || d2.Held["JP8306"] != "1000" {
		t.Fatalf("day 2: %+v", d2)
	}
	var rep CollateralReport
	w.okJSON(w.lender, &rep, "agreements:CollateralHeld", "AGR-L")
	if len(rep.Pending) != 1 || rep.Pending[0].Quantity != "500" {
		t.Fatalf("still pending: %+v", rep)
	}
	w.ok(w.bankC, "tokens:Transfer", "JP8306", "bank-b", "1000")
	d3 := w.marginCallRun(w.oracle, "AGR-L", "2025-06-04")
	if len(d3.Fails) != 0 || len(d3.Settled) != 1 || d3.Settled[0].TradeDate != "2025-06-02" || d3.Held["JP8306"] != "1500" || len(d3.Pending) != 0 {
		t.Fatalf("day 3 retries: %+v", d3)
	}
	w.checkConservation()
}

func TestClosingDropsPendingSettlements(t *testing.T) {
	w := newWorld(t)
	w.pair = pairAB // the oracle names the pair of its margin calls
	w.market()
	w.open("AGR-L", func(m map[string]any) { lagTerms(m); endedTerms(m) })
	w.postDefaultPrices("2025-06-01")
	w.inPair(pairAB, func() { w.ok(w.oracle, "margin:MarginCall", "AGR-L", "2025-06-01") })
	if b, _ := w.rawBook("AGR-L"); len(b.Agreements["AGR-L"].Pending) != 1 {
		t.Fatalf("the lagged settlement is kept with the custody: %+v", b.Agreements["AGR-L"])
	}
	w.receipt(w.borrower, "agreements:Close", "AGR-L")
	ev := w.expectEvent(EventAgreementClosed)
	if _, ok := ev["cancelledSettlements"]; ok {
		t.Fatalf("event names the dropped settlements: %v", ev)
	}
	if b, _ := w.rawBook("AGR-L"); len(b.Agreements["AGR-L"].Pending) != 0 {
		t.Fatal("pending settlement left after close")
	}
	if rep := w.collateral(w.lender, "AGR-L"); len(rep.Pending) != 0 {
		t.Fatalf("pending settlement reported after close: %+v", rep)
	}
	w.checkConservation()
}

func TestMarginCallRefusals(t *testing.T) {
	w := newWorld(t)
	w.pair = pairAB // the oracle names the pair of its margin calls
	w.market()
	w.open("AGR-1", nil)
	w.propose("AGR-P", nil)
	w.ok(w.tokenAdmin, "tokens:DefineToken", `{"id":"GBP","kind":"CT","currency":"GBP"}`)
	w.issue(w.borrower, "GBP", "1000")
	w.open("AGR-G", func(m map[string]any) {
		m["collateral"] = []any{map[string]any{"token": "JP8306", "quantity": "10"}, map[string]any{"token": "GBP", "quantity": "10"}}
	})
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1000"}}`)
	w.refuse(w.oracle, "no prices posted for 2025-06-03: post them (oracle:PostPrices) before margin calls", "margin:MarginCall", "AGR-1", "2025-06-03")
	w.refuse(w.oracle, "cannot run the margin call of agreement AGR-1 on 2025-06-02: missing_price: no price for JP8604 on 2025-06-02", "margin:MarginCall", "AGR-1", "2025-06-02")
	w.refuse(w.oracle, "cannot run the margin call of agreement AGR-G on 2025-06-02: missing_fx: no FX rate from GBP to JPY: post GBPJPY, JPYGBP or pairs linking both through a common currency on 2025-06-02", "margin:MarginCall", "AGR-G", "2025-06-02")
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8604":"500"}}`)
	w.refuse(w.oracle, "agreement AGR-P is PROPOSED, not ACTIVE", "margin:MarginCall", "AGR-P", "2025-06-02")
	w.ok(w.oracle, "oracle:PostPrices", "2025-05-31", `{"prices":{"JP8306":"1000","JP8604":"500"}}`)
	w.refuse(w.oracle, "2025-05-31 is not after the start date 2025-06-01 of agreement AGR-1 (the opening exchange balanced it)", "margin:MarginCall", "AGR-1", "2025-05-31")
	w.ok(w.oracle, "margin:MarginCall", "AGR-1", "2025-06-02")
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-01", `{"prices":{"JP8306":"1000","JP8604":"500"}}`)
	// The start date itself is never checked: the opening exchange balanced the agreement.
	w.refuse(w.oracle, "2025-06-01 is not after the start date 2025-06-01 of agreement AGR-1 (the opening exchange balanced it)", "margin:MarginCall", "AGR-1", "2025-06-01")
	w.refuse(w.oracle, `invalid date "tomorrow": expected an ISO date YYYY-MM-DD`, "margin:MarginCall", "AGR-1", "tomorrow")
	w.refuse(w.oracle, "no agreement AGR-9", "margin:MarginCall", "AGR-9", "2025-06-02")
	w.refuse(w.bankC, "access denied: agreement AGR-1 does not exist or bank-c is not a party to it", "margin:MarginCall", "AGR-1", "2025-06-02")
	w.refuse(w.tokenAdmin, "access denied: CN=TokenAdmin@operator.example.com,OU=client,L=San Francisco,ST=California,C=US (party operator) does not have the oracle or party role", "margin:MarginCall", "AGR-1", "2025-06-02")
	w.refuse(w.opAdmin, "access denied: the caller (MSP OperatorMSP, subject CN=Admin@operator.example.com,OU=admin,L=San Francisco,ST=California,C=US) does not have the oracle or party role", "margin:MarginCall", "AGR-1", "2025-06-02")
}

func TestMarginCallAfterEndDateAndAfterClose(t *testing.T) {
	w := newWorld(t)
	w.pair = pairAB // the oracle names the pair of its margin calls
	w.market()
	w.open("AGR-E", endedTerms)
	w.postDefaultPrices("2025-06-01")
	w.postDefaultPrices("2025-06-02")
	w.refuse(w.oracle, "2025-06-02 is after the end date 2025-06-01 of agreement AGR-E", "margin:MarginCall", "AGR-E", "2025-06-02")
	w.ok(w.oracle, "margin:MarginCall", "AGR-E", "2025-06-01")
	w.ok(w.lender, "agreements:Close", "AGR-E")
	// the record stays readable and replayable after close
	rec := w.marginCallRun(w.oracle, "AGR-E", "2025-06-01")
	if !rec.Replayed {
		t.Fatal("want replay")
	}
}

func TestMarginRefusesMinimalUnitOtherThanOne(t *testing.T) {
	w := newWorld(t)
	w.pair = pairAB // the oracle names the pair of its margin calls
	w.market()
	w.ok(w.tokenAdmin, "tokens:DefineToken", `{"id":"USDC","kind":"CT","currency":"USD","minimalUnit":"0.01"}`)
	w.issue(w.lender, "USDC", "1000000")
	w.open("AGR-C", func(m map[string]any) { m["loan"] = map[string]any{"token": "USDC", "quantity": "1000000"} })
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1000","JP8604":"500"},"fx":{"USDJPY":"150"}}`)
	w.refuse(w.oracle, "cannot margin agreement AGR-C: token USDC has minimalUnit 0.01, but the margin engine values one token unit at one price unit (a cash token at 1 USD)",
		"margin:MarginCall", "AGR-C", "2025-06-02")
}

// TestFinishSweep: a pair's sweep of a date is complete only once every active agreement of the
// pair the date applies to has its call (closed, proposed and not-yet-started agreements do not
// hold it up), and the date is recorded as swept only once every active pair is complete.
func TestFinishSweep(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.issue(w.bankC, "JPY", "10000000")
	w.open("AGR-1", nil)
	w.open("AGR-2", nil)
	w.ok(w.bankC, "agreements:Propose", termsJSON("AGR-3", func(m map[string]any) { m["lender"] = "bank-c" }))
	w.ok(w.borrower, "agreements:Approve", "AGR-3")
	w.open("AGR-F", func(m map[string]any) { m["startDate"] = "2025-07-01" })
	w.open("AGR-X", endedTerms)
	w.ok(w.lender, "agreements:Close", "AGR-X")
	if b, _ := w.rawBook("AGR-X"); b == nil || !b.Agreements["AGR-X"].Closed || b.Agreements["AGR-1"].Closed {
		t.Fatalf("a closed agreement is flagged in its book: %+v", b)
	}
	w.propose("AGR-P", nil)
	const pairBC = "pair-bank-b-bank-c"
	w.refuse(w.oracle, "no prices posted for 2025-06-02: post them (oracle:PostPrices) before margin calls", "margin:FinishSweep", "2025-06-02")
	w.postDefaultPrices("2025-06-02")

	// the platform's sweep waits for both active pairs (bank-a/bank-c has no agreement)
	w.refuse(w.oracle, "cannot finish the sweep of 2025-06-02: 2 pairs with active agreements have not finished it (pair-bank-a-bank-b, pair-bank-b-bank-c)",
		"margin:FinishSweep", "2025-06-02")
	w.pair = pairAB
	w.refuse(w.oracle, "cannot finish the sweep of 2025-06-02: 2 active agreements have no margin call for it yet (AGR-1, AGR-2)",
		"margin:FinishSweep", "2025-06-02")
	w.ok(w.oracle, "margin:SweepAgreements", "2025-06-02", idList("AGR-1"))
	w.refuse(w.lender, "cannot finish the sweep of 2025-06-02: 1 active agreements have no margin call for it yet (AGR-2)",
		"margin:FinishSweep", "2025-06-02")
	w.ok(w.borrower, "margin:SweepAgreements", "2025-06-02", idList("AGR-2"))
	var done SweepFinished
	w.okJSON(w.oracle, &done, "margin:FinishSweep", "2025-06-02")
	if done != (SweepFinished{Date: "2025-06-02", Agreements: 3, Called: 2, Exempt: 1}) {
		t.Fatalf("pair finished: %+v", done)
	}
	if ev := w.expectEvent(EventSweepFinished); ev["date"] != "2025-06-02" || ev["agreements"] != float64(3) || ev["pair"] != pairAB {
		t.Fatalf("event: %v", ev)
	}
	marker := func(coll string) PairSweep {
		k, _ := createKey(keyPairSweep, coll)
		var m PairSweep
		if err := json.Unmarshal(w.ledger.state[k], &m); err != nil {
			t.Fatalf("marker of %s: %v", coll, err)
		}
		return m
	}
	if m := marker(pairAB); m != (PairSweep{Collection: pairAB, Active: true, Date: "2025-06-02"}) {
		t.Fatalf("marker: %+v", m)
	}
	w.okJSON(w.borrower, &done, "margin:FinishSweep", "2025-06-02")
	w.noWrites("FinishSweep of a pair again")

	// the other pair is behind: the platform's sweep is still refused
	w.pair = ""
	w.refuse(w.oracle, "cannot finish the sweep of 2025-06-02: 1 pairs with active agreements have not finished it (pair-bank-b-bank-c)",
		"margin:FinishSweep", "2025-06-02")
	var last DateRecord
	w.okJSON(w.bankC, &last, "margin:LastSweptDate")
	if last.Date != "" {
		t.Fatal("an unfinished sweep must not record the date")
	}
	w.ok(w.bankC, "margin:MarginCall", "AGR-3", "2025-06-02") // a bank finds its agreement in its own collections
	w.inPair(pairBC, func() {
		w.refuse(w.lender, "access denied: bank-a is not a party to the pair pair-bank-b-bank-c", "margin:FinishSweep", "2025-06-02")
		w.okJSON(w.bankC, &done, "margin:FinishSweep", "2025-06-02")
	})
	if done != (SweepFinished{Date: "2025-06-02", Agreements: 1, Called: 1}) {
		t.Fatalf("pair b/c finished: %+v", done)
	}
	w.okJSON(w.oracle, &done, "margin:FinishSweep", "2025-06-02")
	if done != (SweepFinished{Date: "2025-06-02", Agreements: 2, LastSweptDate: "2025-06-02"}) { // agreements: the active pairs
		t.Fatalf("finished: %+v", done)
	}
	if ev := w.expectEvent(EventSweepFinished); ev["date"] != "2025-06-02" || ev["pair"] != nil {
		t.Fatalf("event: %v", ev)
	}
	w.okJSON(w.bankC, &last, "margin:LastSweptDate")
	if last.Date != "2025-06-02" {
		t.Fatalf("last swept: %+v", last)
	}
	w.okJSON(w.oracle, &done, "margin:FinishSweep", "2025-06-02")
	w.noWrites("FinishSweep again")
	// an earlier date: every agreement of the pair has a later call, so it is complete, and the
	// pair's marker and the latest swept date stay
	w.postDefaultPrices("2025-06-01")
	w.inPair(pairAB, func() { w.okJSON(w.oracle, &done, "margin:FinishSweep", "2025-06-01") })
	w.noWrites("FinishSweep of an earlier date")
	if done.LastSweptDate != "2025-06-02" || done.Exempt != 3 {
		t.Fatalf("earlier date: %+v", done)
	}
	w.okJSON(w.oracle, &done, "margin:FinishSweep", "2025-06-01")
	w.noWrites("FinishSweep of an earlier date")
	// once a pair's agreements are all closed, its next finished sweep marks it inactive and it no
	// longer holds the platform's sweep up
	w.postDefaultPrices("2025-06-03")
	w.refuse(w.oracle, "cannot finish the sweep of 2025-06-03: 2 pairs with active agreements have not finished it (pair-bank-a-bank-b, pair-bank-b-bank-c)",
		"margin:FinishSweep", "2025-06-03")
	w.ok(w.borrower, "agreements:RequestTermination", "AGR-3", "")
	w.ok(w.bankC, "agreements:AcceptTermination", "AGR-3")
	w.inPair(pairBC, func() { w.okJSON(w.oracle, &done, "margin:FinishSweep", "2025-06-03") })
	if m := marker(pairBC); m.Active || done.Agreements != 0 {
		t.Fatalf("marker of a pair without active agreements: %+v (%+v)", m, done)
	}
	w.refuse(w.oracle, "cannot finish the sweep of 2025-06-03: 1 pairs with active agreements have not finished it (pair-bank-a-bank-b)",
		"margin:FinishSweep", "2025-06-03")
	w.checkConservation()
}

func TestFinishSweepRefusals(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.open("AGR-1", nil)
	w.postDefaultPrices("2025-06-02")
	// the platform's sweep is the oracle's
	for _, who := range []*testID{w.lender, w.borrower, w.tokenAdmin, w.stranger} {
		w.refusePrefix(who, "access denied: ", "margin:FinishSweep", "2025-06-02")
	}
	// a pair's, the oracle's or its banks'
	w.pair = pairAB
	for _, who := range []*testID{w.bankC, w.tokenAdmin, w.stranger} {
		w.refusePrefix(who, "access denied: ", "margin:FinishSweep", "2025-06-02")
	}
	w.refuse(w.oracle, `invalid date "": expected an ISO date YYYY-MM-DD`, "margin:FinishSweep", "")
	w.pair = "pair-bank-b-bank-a"
	w.refuse(w.oracle, `invalid transient field tanpo.pair "pair-bank-b-bank-a": expected a pair collection such as pair-bank-a-bank-b`, "margin:FinishSweep", "2025-06-02")
	_ = fmt.Sprint
}
