package contracts

import (
	"fmt"
	"strings"
	"testing"
)

func TestProposeAgreement(t *testing.T) {
	w := newWorld(t)
	w.market()
	a := w.propose("AGR-1", nil)
	if a.Status != StatusProposed || a.Proposer != "bank-a" || len(a.History) != 1 || a.History[0].Action != "PROPOSED" {
		t.Fatalf("agreement: %+v", a)
	}
	if a.Terms.Threshold != "0" || a.Terms.Haircut != "0.05" || a.Terms.Collateral[0].Token != "JP8306" {
		t.Fatalf("terms: %+v", a.Terms)
	}
	// the event names the agreement and the step, not the terms (w.propose read them back)
	w.receipt(w.lender, "agreements:Propose", termsJSON("AGR-P", nil))
	ev := w.expectEvent(EventAgreementProposed)
	if ev["agreement"] != "AGR-P" || ev["terms"] != nil || ev["party"] != "bank-a" || ev["status"] != StatusProposed || len(ev) != 5 {
		t.Fatalf("event %v", ev)
	}
	// the agreement and its indexes are in the pair's collection (whose policy needs both banks)
	key, _ := createKey(keyAgreement, "AGR-1")
	if _, ok := w.ledger.state[privateKey(pairAB, key)]; !ok {
		t.Fatal("the agreement is not in the pair's collection")
	}
	if _, ok := w.ledger.state[key]; ok {
		t.Fatal("the agreement is in the public state")
	}
	for _, attrs := range [][]string{{"bank-a", StatusProposed, "AGR-1"}, {"bank-b", StatusProposed, "AGR-1"}} {
		k, _ := createKey(keyAgreementByParty, attrs...)
		if _, ok := w.ledger.state[privateKey(pairAB, k)]; !ok {
			t.Fatalf("missing index %v", attrs)
		}
	}
	// the borrower may propose too; the id defaults to one derived from the transaction id
	b := w.step(w.borrower, "agreements:Propose", termsJSON("", nil))
	if !strings.HasPrefix(b.ID, "AGR-") || len(b.ID) != 20 || b.Proposer != "bank-b" {
		t.Fatalf("derived id: %+v", b)
	}
	// normalisation of decimals and quantities
	w.propose("AGR-N", func(m map[string]any) {
		m["haircut"], m["threshold"], m["minimumTransferAmount"] = "0.050", "", "1000.00"
		m["collateral"] = []any{map[string]any{"token": "JP8306", "quantity": "0", "haircut": "0.10"}}
		m["endDate"] = ""
	})
	var n Agreement
	w.okJSON(w.lender, &n, "agreements:GetAgreement", "AGR-N")
	if n.Terms.Haircut != "0.05" || n.Terms.Threshold != "0" || n.Terms.MinimumTransferAmount != "1000" ||
		n.Terms.Collateral[0].Haircut != "0.1" || n.Terms.EndDate != "" {
		t.Fatalf("normalised terms: %+v", n.Terms)
	}
}

func TestProposeRefusals(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.propose("AGR-1", nil)
	set := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	cases := []struct {
		name string
		mut  func(map[string]any)
		want string
	}{
		{"duplicate id", nil, "agreement id AGR-1 is already in use: choose another or leave it out"},
		{"bad id", set("id", "AGR 2"), `invalid agreement id "AGR 2": expected 1 to 64 characters from A-Z a-z 0-9 . _ - starting with a letter or digit`},
		{"bad lender", set("lender", "operator"), `invalid lender "operator": expected a bank party id such as "bank-a"`},
		{"bad borrower", set("borrower", ""), `invalid borrower "": expected a bank party id such as "bank-a"`},
		{"same parties", set("borrower", "bank-a"), "lender and borrower are both bank-a"},
		{"unknown loan token", set("loan", map[string]any{"token": "EUR", "quantity": "1"}), "loan leg: unknown token EUR"},
		{"bad loan quantity", set("loan", map[string]any{"token": "JPY", "quantity": "1.5"}), `invalid loan quantity "1.5": expected a positive integer in decimal digits (no sign, decimal point or exponent)`},
		{"no collateral", set("collateral", []any{}), "the collateral leg needs at least one token"},
		{"too much collateral", set("collateral", func() []any {
			out := []any{}
			for i := 0; i < 33; i++ {
				out = append(out, map[string]any{"token": fmt.Sprint("T", i), "quantity": "1"})
			}
			return out
		}()), "the collateral leg has 33 tokens; at most 32"},
		{"unknown collateral", set("collateral", []any{map[string]any{"token": "JP0000", "quantity": "1"}}), "collateral leg 1: unknown token JP0000"},
		{"loan as collateral", set("collateral", []any{map[string]any{"token": "JPY", "quantity": "1"}}), "token JPY cannot be both the loan and collateral"},
		{"collateral twice", set("collateral", []any{map[string]any{"token": "JP8306", "quantity": "1"}, map[string]any{"token": "JP8306", "quantity": "2"}}), "collateral token JP8306 is listed twice"},
		{"negative collateral", set("collateral", []any{map[string]any{"token": "JP8306", "quantity": "-1"}}), `invalid collateral quantity of JP8306 "-1": expected a positive integer in decimal digits (no sign, decimal point or exponent)`},
		{"bad token haircut", set("collateral", []any{map[string]any{"token": "JP8306", "quantity": "1", "haircut": "1"}}), `invalid haircut of JP8306 "1": must be at least 0 and less than 1`},
		{"bad base", set("baseCurrency", "jpy"), `invalid baseCurrency "jpy": expected an ISO 4217 code such as "JPY"`},
		{"no haircut", set("haircut", ""), "invalid haircut: empty; expected a decimal number such as \"98.811\""},
		{"haircut one", set("haircut", "1"), `invalid haircut "1": must be at least 0 and less than 1`},
		{"haircut negative", set("haircut", "-0.1"), `invalid haircut "-0.1": expected a decimal number in digits with an optional fractional part (no sign or exponent)`},
		{"haircut float", set("haircut", 0.05), "invalid terms: json: cannot unmarshal number into Go struct field Terms.haircut of type string"},
		{"threshold percent", set("threshold", "2"), `invalid threshold "2": must be at least 0 and less than 1`},
		{"bad MTA", set("minimumTransferAmount", "1e6"), `invalid minimumTransferAmount "1e6": expected a decimal number in digits with an optional fractional part (no sign or exponent)`},
		{"bad mode", set("mode", "all"), `invalid mode "all": expected single or multi`},
		{"negative lag", set("settlementLagDays", -1), "invalid settlementLagDays -1: expected 0 to 30"},
		{"huge lag", set("settlementLagDays", 31), "invalid settlementLagDays 31: expected 0 to 30"},
		{"fractional lag", set("settlementLagDays", 1.5), "invalid terms: json: cannot unmarshal number 1.5 into Go struct field Terms.settlementLagDays of type int"},
		{"bad trade date", set("tradeDate", "2025-02-30"), `invalid tradeDate "2025-02-30": not a calendar date`},
		{"bad start date", set("startDate", "1/6/2025"), `invalid startDate "1/6/2025": expected an ISO date YYYY-MM-DD`},
		{"start before trade", set("startDate", "2025-05-01"), "startDate 2025-05-01 is before tradeDate 2025-05-30"},
		{"end before start", set("endDate", "2025-05-31"), "endDate 2025-05-31 is before startDate 2025-06-01"},
		{"unknown field", set("colour", "red"), `invalid terms: json: unknown field "colour"`},
		{"third party", func(m map[string]any) { m["id"] = "AGR-9"; m["lender"] = "bank-c" }, "access denied: bank-a can only propose agreements in which it is the lender or the borrower"},
	}
	for _, c := range cases {
		w.run(t, c.name, func() {
			mut := c.mut
			if c.name != "duplicate id" {
				mut = func(m map[string]any) {
					m["id"] = "AGR-2"
					c.mut(m)
				}
			}
			w.refuse(w.lender, c.want, "agreements:Propose", termsJSON("AGR-1", mut))
		})
	}
	w.refuse(w.lender, "invalid terms: empty; expected a JSON object", "agreements:Propose", "")
	w.refuse(w.lender, "invalid terms: longer than 65536 bytes", "agreements:Propose", strings.Repeat(" ", 65537))
	w.refuse(w.tokenAdmin, "access denied: CN=TokenAdmin@operator.example.com,OU=client,L=San Francisco,ST=California,C=US (party operator) does not have the party role", "agreements:Propose", termsJSON("AGR-3", nil))
}

func TestApproveOpensAtomically(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.propose("AGR-1", nil)
	a := w.step(w.borrower, "agreements:Approve", "AGR-1")
	if a.Status != StatusActive || len(a.History) != 2 || a.History[1].Action != "APPROVED" || a.History[1].Party != "bank-b" {
		t.Fatalf("approved: %+v", a)
	}
	if len(a.History[1].Transfers) != 3 {
		t.Fatalf("transfers: %+v", a.History[1].Transfers)
	}
	ev := w.expectEvent(EventAgreementApproved)
	if ev["transfers"] != nil || ev["agreement"] != "AGR-1" || ev["status"] != StatusActive || ev["party"] != "bank-b" {
		t.Fatalf("event %v", ev)
	}
	if w.rawBalance("bank-a", "JPY") != 99000000 || w.rawBalance("bank-b", "JPY") != 2000000 {
		t.Fatal("loan leg")
	}
	if w.rawBalance("bank-b", "JP8306") != 98000 || w.rawPosition("AGR-1", "JP8306") != 2000 || w.rawPosition("AGR-1", "JP8604") != 1000 {
		t.Fatal("collateral leg")
	}
	if w.rawBalance("bank-a", "JP8306") != 0 {
		t.Fatal("held collateral must not be in the lender's free balance")
	}
	if b, k := w.rawBook("AGR-1"); b == nil || !strings.HasPrefix(k, privateKey(pairAB, "")) || b.Lender != "bank-a" || b.Borrower != "bank-b" {
		t.Fatalf("the collateral must be in a custody book of bank-a/bank-b in their pair's collection: %+v", b)
	}
	w.refuse(w.oracle, errOperatorPrivate.Error(), "agreements:CollateralHeld", "AGR-1")
	rep := w.collateral(w.borrower, "AGR-1")
	if len(rep.Positions) != 2 || rep.Positions[0].Priority != 1 || rep.Positions[0].Held != "2000" || rep.Positions[1].Held != "1000" || rep.Pending == nil {
		t.Fatalf("collateral report: %+v", rep)
	}
	w.checkConservation()
	w.refuse(w.borrower, "agreement AGR-1 is ACTIVE, not PROPOSED", "agreements:Approve", "AGR-1")
}

func TestApproveShortBalanceChangesNothing(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.propose("AGR-1", func(m map[string]any) {
		m["collateral"] = []any{map[string]any{"token": "JP8306", "quantity": "2000"}, map[string]any{"token": "JP8604", "quantity": "50001"}}
	})
	w.refuse(w.borrower, "insufficient balance: bank-b needs 50001 JP8604 but has 50000 free", "agreements:Approve", "AGR-1")
	w.propose("AGR-2", func(m map[string]any) { m["loan"] = map[string]any{"token": "JPY", "quantity": "100000001"} })
	w.refuse(w.borrower, "insufficient balance: bank-a needs 100000001 JPY but has 100000000 free", "agreements:Approve", "AGR-2")
	w.refuse(w.lender, "access denied: bank-a proposed agreement AGR-2; only the counterparty bank-b can approve it", "agreements:Approve", "AGR-2")
	w.refuse(w.bankC, "access denied: agreement AGR-2 does not exist or bank-c is not a party to it", "agreements:Approve", "AGR-2")
	// a bank is not told whether an agreement that is not its own exists
	w.refuse(w.borrower, "access denied: agreement AGR-9 does not exist or bank-b is not a party to it", "agreements:Approve", "AGR-9")
}

func TestRejectAndWithdraw(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.propose("AGR-1", nil)
	w.refuse(w.borrower, "reason is required", "agreements:Reject", "AGR-1", "")
	w.refuse(w.lender, "access denied: bank-a proposed agreement AGR-1; only the counterparty bank-b can reject it", "agreements:Reject", "AGR-1", "no")
	a := w.step(w.borrower, "agreements:Reject", "AGR-1", "haircut too low")
	if a.Status != StatusRejected || a.History[1].Note != "haircut too low" {
		t.Fatalf("rejected: %+v", a)
	}
	if ev := w.expectEvent(EventAgreementRejected); ev["note"] != nil || ev["status"] != StatusRejected {
		t.Fatalf("the event carries the note: %v", ev)
	}
	w.refuse(w.lender, "agreement AGR-1 is REJECTED, not PROPOSED", "agreements:Withdraw", "AGR-1")

	w.propose("AGR-2", nil)
	w.refuse(w.borrower, "access denied: only the proposer bank-a can withdraw agreement AGR-2", "agreements:Withdraw", "AGR-2")
	a = w.step(w.lender, "agreements:Withdraw", "AGR-2")
	if a.Status != StatusWithdrawn {
		t.Fatalf("withdrawn: %+v", a)
	}
	w.expectEvent(EventAgreementWithdrawn)
	w.refuse(w.borrower, "agreement AGR-2 is WITHDRAWN, not PROPOSED", "agreements:Approve", "AGR-2")
	k, _ := createKey(keyAgreementByParty, "bank-a", StatusProposed, "AGR-2")
	if _, ok := w.ledger.state[privateKey(pairAB, k)]; ok {
		t.Fatal("stale PROPOSED index entry")
	}
	w.checkConservation()
}

func TestCloseAtEndDate(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.open("AGR-1", nil)
	w.refuse(w.lender, "agreement AGR-1 ends on 2025-12-31 (today is 2025-06-06 in Asia/Tokyo): before then close it by early termination (RequestTermination, then AcceptTermination by the counterparty)", "agreements:Close", "AGR-1")
	w.open("AGR-O", func(m map[string]any) { m["endDate"] = "" })
	w.refuse(w.lender, "agreement AGR-O is open (no end date): close it by early termination (RequestTermination, then AcceptTermination by the counterparty) or give notice (GiveNotice)", "agreements:Close", "AGR-O")

	w.open("AGR-E", endedTerms)
	a := w.step(w.borrower, "agreements:Close", "AGR-E")
	if a.Status != StatusClosed || a.History[len(a.History)-1].Note != "end-date" || len(a.History[len(a.History)-1].Transfers) != 3 {
		t.Fatalf("closed: %+v", a)
	}
	ev := w.expectEvent(EventAgreementClosed)
	if ev["reason"] != "end-date" || ev["transfers"] != nil {
		t.Fatalf("event: %v", ev)
	}
	if w.rawPosition("AGR-E", "JP8306") != 0 || w.rawPosition("AGR-E", "JP8604") != 0 {
		t.Fatal("positions not returned")
	}
	// AGR-1 and AGR-O still hold theirs: a lender never returns another agreement's collateral
	if w.rawPosition("AGR-1", "JP8306") != 2000 || w.rawPosition("AGR-O", "JP8306") != 2000 {
		t.Fatal("other agreements disturbed")
	}
	if w.rawBalance("bank-b", "JP8306") != 96000 || w.rawBalance("bank-b", "JPY") != 3000000 {
		t.Fatalf("borrower after close: JP8306 %d JPY %d", w.rawBalance("bank-b", "JP8306"), w.rawBalance("bank-b", "JPY"))
	}
	w.refuse(w.lender, "agreement AGR-E is CLOSED, not ACTIVE or MATURED", "agreements:Close", "AGR-E")
	w.refuse(w.bankC, "access denied: agreement AGR-1 does not exist or bank-c is not a party to it", "agreements:Close", "AGR-1")
	w.checkConservation()
}

func TestCloseFailsWhenBorrowerCannotReturnLoan(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.open("AGR-E", endedTerms)
	w.ok(w.borrower, "tokens:Transfer", "JPY", "bank-c", "1500000")
	w.refuse(w.lender, "insufficient balance: bank-b needs 1000000 JPY but has 500000 free", "agreements:Close", "AGR-E")
	w.checkConservation()
}

func TestEarlyTermination(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.open("AGR-1", nil)
	w.refuse(w.borrower, "no termination of agreement AGR-1 has been requested", "agreements:AcceptTermination", "AGR-1")
	w.refuse(w.borrower, "no termination of agreement AGR-1 has been requested", "agreements:CancelTermination", "AGR-1", "")
	a := w.step(w.borrower, "agreements:RequestTermination", "AGR-1", "repaying early")
	if a.Termination == nil || a.Termination.RequestedBy != "bank-b" || a.Status != StatusActive {
		t.Fatalf("requested: %+v", a)
	}
	w.expectEvent(EventTerminationRequest)
	w.refuse(w.borrower, "bank-b already requested the termination of agreement AGR-1; waiting for bank-a to accept it", "agreements:RequestTermination", "AGR-1", "")
	w.refuse(w.lender, "bank-b already requested the termination of agreement AGR-1; call AcceptTermination to accept it", "agreements:RequestTermination", "AGR-1", "")
	w.refuse(w.borrower, "access denied: bank-b requested the termination of agreement AGR-1; only bank-a can accept it", "agreements:AcceptTermination", "AGR-1")
	c := w.step(w.lender, "agreements:CancelTermination", "AGR-1", "not now")
	if c.Termination != nil {
		t.Fatal("not cancelled")
	}
	w.expectEvent(EventTerminationCancel)
	w.ok(w.lender, "agreements:RequestTermination", "AGR-1", "")
	a = w.step(w.borrower, "agreements:AcceptTermination", "AGR-1")
	if a.Status != StatusClosed || a.Termination != nil {
		t.Fatalf("closed: %+v", a)
	}
	if w.expectEvent(EventAgreementClosed)["reason"] != "early-termination" {
		t.Fatal("reason")
	}
	actions := []string{}
	for _, h := range a.History {
		actions = append(actions, h.Action)
	}
	if strings.Join(actions, ",") != "PROPOSED,APPROVED,TERMINATION_REQUESTED,TERMINATION_CANCELLED,TERMINATION_REQUESTED,CLOSED" {
		t.Fatalf("history: %v", actions)
	}
	w.refuse(w.lender, "agreement AGR-1 is CLOSED, not ACTIVE", "agreements:RequestTermination", "AGR-1", "")
	w.checkConservation()
}

func TestCloseReturnsNegativePositionFromBorrower(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.open("AGR-E", endedTerms)
	// a margin call with auto-issue can leave the lender owing less than it returned: simulate
	// the state (position -300 of JP8604) directly
	w.setRawPosition("AGR-E", "JP8604", -300)
	a := w.step(w.lender, "agreements:Close", "AGR-E")
	closing := a.History[len(a.History)-1].Transfers
	if last := closing[2]; last.Token != "JP8604" || last.From != "bank-b" || last.To != "bank-a" || last.Quantity != "300" || last.Held {
		t.Fatalf("redelivery: %+v", last)
	}
	if w.rawPosition("AGR-E", "JP8604") != 0 || w.rawBalance("bank-a", "JP8604") != 300 {
		t.Fatal("negative position not settled")
	}
}

func TestGetAndListAgreements(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.open("AGR-1", nil)
	w.propose("AGR-2", nil)
	w.ok(w.bankC, "agreements:Propose", termsJSON("AGR-3", func(m map[string]any) { m["lender"] = "bank-c" }))
	a := w.agreement(w.borrower, "AGR-1")
	if len(a.History) != 2 {
		t.Fatalf("history %+v", a.History)
	}
	w.refuse(w.bankC, "access denied: agreement AGR-1 does not exist or bank-c is not a party to it", "agreements:GetAgreement", "AGR-1")
	w.refuse(w.bankC, "access denied: agreement AGR-1 does not exist or bank-c is not a party to it", "agreements:CollateralHeld", "AGR-1")
	w.refuse(w.bankC, "access denied: agreement AGR-X does not exist or bank-c is not a party to it", "agreements:GetAgreement", "AGR-X")
	w.refuse(w.oracle, errOperatorPrivate.Error(), "agreements:GetAgreement", "AGR-1")
	w.refuse(w.oracle, errOperatorPrivate.Error(), "agreements:GetAgreement", "AGR-X")
	list := func(id *testID, party, status, size string) []string {
		out := []string{}
		bookmark := ""
		for {
			var page Page[Agreement]
			w.okJSON(id, &page, "agreements:ListAgreements", party, status, size, bookmark)
			for _, a := range page.Items {
				out = append(out, a.ID+"/"+a.Status)
			}
			if page.Bookmark == "" {
				return out
			}
			bookmark = page.Bookmark
		}
	}
	check := func(got []string, want string) {
		t.Helper()
		if strings.Join(got, ",") != want {
			t.Fatalf("got %v want %s", got, want)
		}
	}
	check(list(w.borrower, "", "", "1"), "AGR-1/ACTIVE,AGR-2/PROPOSED,AGR-3/PROPOSED")
	check(list(w.lender, "", "", ""), "AGR-1/ACTIVE,AGR-2/PROPOSED")
	check(list(w.lender, "bank-a", "PROPOSED", ""), "AGR-2/PROPOSED")
	check(list(w.bankC, "", "", ""), "AGR-3/PROPOSED")
	check(list(w.borrower, "", "PROPOSED", "1"), "AGR-2/PROPOSED,AGR-3/PROPOSED")
	check(list(w.borrower, "bank-b", "ACTIVE", ""), "AGR-1/ACTIVE")
	w.refuse(w.bankC, "access denied: bank-c cannot read the agreements of bank-a", "agreements:ListAgreements", "bank-a", "", "", "")
	w.refuse(w.oracle, errOperatorPrivate.Error(), "agreements:ListAgreements", "", "", "2", "")
	w.refuse(w.oracle, errOperatorPrivate.Error(), "agreements:ListAgreements", "bank-c", "", "", "")
	w.refuse(w.lender, `invalid status "OPEN": expected PROPOSED, ACTIVE, CLOSED, REJECTED or WITHDRAWN`, "agreements:ListAgreements", "", "OPEN", "", "")
	w.refuse(w.lender, `invalid pageSize "ten": expected a positive integer in decimal digits (no sign, decimal point or exponent)`, "agreements:ListAgreements", "", "", "ten", "")
	w.refuse(w.lender, "invalid bookmark: pass back the bookmark of the previous page", "agreements:ListAgreements", "", "", "", strings.Repeat("b", 2049))
}
