package contracts

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// The role table: every transaction function run as every kind of caller, asserting who is let
// in. An allowed caller must succeed (each row prepares a state in which the call is valid); a
// denied caller must get an "access denied" error and change nothing.

var tableRoles = []string{"opAdmin", "tokenAdmin", "oracle", "lender", "borrower", "bankC", "unregistered", "bankAdmin"}

func (w *world) as(role string) *testID {
	return map[string]*testID{
		"opAdmin": w.opAdmin, "tokenAdmin": w.tokenAdmin, "oracle": w.oracle, "lender": w.lender,
		"borrower": w.borrower, "bankC": w.bankC, "unregistered": w.stranger, "bankAdmin": w.bankAAdmin,
	}[role]
}

type roleRow struct {
	fn      string
	allowed []string
	// setup prepares the state and returns the arguments; it may depend on the caller's role.
	setup func(w *world, role string) []string
}

var (
	everyone      = []string{"opAdmin", "tokenAdmin", "oracle", "lender", "borrower", "bankC"}
	operatorSide  = []string{"opAdmin", "tokenAdmin", "oracle"}
	allParties    = []string{"lender", "borrower", "bankC"}
	agreementSide = []string{"lender", "borrower"} // bilateral records: the operator is refused them (privacy.go)
	marginSide    = []string{"oracle", "lender", "borrower"}
)

func plus(a []string, b ...string) []string { return append(append([]string{}, a...), b...) }

// partyOfRole is the party id of a bank role.
func partyOfRole(role string) string {
	return map[string]string{"lender": "bank-a", "borrower": "bank-b", "bankC": "bank-c"}[role]
}

// shortfall opens AGR-D and margin-calls it on 2025-06-02 at prices that make the borrower deliver,
// with the pair named for the role table's calls.
func (w *world) shortfall() {
	w.market()
	w.open("AGR-D", nil)
	w.pair = pairAB
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"400","JP8604":"200"}}`)
	w.ok(w.oracle, "margin:MarginCall", "AGR-D", "2025-06-02")
}

// invoiceable opens AGR-F with a fee and margins it over May's end, with the pair named for the
// role table's calls.
func (w *world) invoiceable() {
	w.market()
	w.issue(w.lender, "JP8306", "5000")
	w.open("AGR-F", economicTerms)
	w.postDefaultPrices("2025-05-29")
	w.postDefaultPrices("2025-06-02")
	w.inPair(pairAB, func() {
		w.ok(w.oracle, "margin:MarginCall", "AGR-F", "2025-05-29")
		w.ok(w.oracle, "margin:MarginCall", "AGR-F", "2025-06-02")
	})
	w.pair = pairAB
}

// pricedWorld posts prices for 2025-06-02 so margin calls can run.
func (w *world) postDefaultPrices(date string) {
	w.ok(w.oracle, "oracle:PostPrices", date, `{"prices":{"JP8306":"1000","JP8604":"500","US-AAPL":"200"},"fx":{"USDJPY":"150"}}`)
}

func roleRows() []roleRow {
	noArgs := func(w *world, role string) []string { return nil }
	withAgreement := func(w *world, role string) []string {
		w.market()
		w.open("AGR-1", nil)
		return []string{"AGR-1"}
	}
	return append([]roleRow{
		// roles
		{"roles:RegisterIdentity", []string{"opAdmin"}, func(w *world, role string) []string {
			id := w.cas["BankCMSP"].member(w.t, "new", "User9", "client")
			return []string{"BankCMSP", id.certPEM, "bank-c", `["party"]`}
		}},
		{"roles:RevokeIdentity", []string{"opAdmin"}, func(w *world, role string) []string {
			id := w.cas["BankCMSP"].member(w.t, "new", "User9", "client")
			reg := w.register(id, "bank-c", RoleParty)
			return []string{reg.ID, "left the bank"}
		}},
		{"roles:WhoAmI", everyone, noArgs},
		{"roles:ListIdentities", operatorSide, func(w *world, role string) []string { return []string{"10", ""} }},
		{"roles:SetBusinessTimeZone", []string{"opAdmin"}, func(w *world, role string) []string { return []string{"Asia/Seoul"} }},
		{"roles:GetPlatformSettings", everyone, noArgs},
		// ping
		{"ping:Ping", everyone, func(w *world, role string) []string { return []string{"hello"} }},
		{"ping:GetPing", everyone, func(w *world, role string) []string {
			w.ok(w.lender, "ping:Ping", "hello")
			return []string{w.lastStub.txID}
		}},
		{"ping:Noop", everyone, noArgs},
		// tokens
		{"tokens:DefineToken", []string{"tokenAdmin"}, func(w *world, role string) []string {
			return []string{tokenJSON("EUR", KindCash, "EUR", nil)}
		}},
		{"tokens:UpdateToken", []string{"tokenAdmin"}, func(w *world, role string) []string {
			w.defineTokens()
			return []string{tokenJSON("JP8604", KindSecurity, "JPY", map[string]string{"creditRating": "A"})}
		}},
		{"tokens:GetToken", everyone, func(w *world, role string) []string { w.defineTokens(); return []string{"JPY"} }},
		{"tokens:ListTokens", everyone, func(w *world, role string) []string { w.defineTokens(); return []string{"", ""} }},
		{"tokens:TotalSupply", everyone, func(w *world, role string) []string { w.defineTokens(); return []string{"JPY"} }},
		{"tokens:BalanceOf", plus(operatorSide, "lender"), func(w *world, role string) []string {
			w.market()
			return []string{"bank-a"}
		}},
		{"tokens:RequestIssuance", allParties, func(w *world, role string) []string {
			w.defineTokens()
			return []string{"JPY", "100", "deposit-1"}
		}},
		{"tokens:RequestRedemption", allParties, func(w *world, role string) []string {
			w.defineTokens()
			w.issue(w.lender, "JPY", "100")
			w.issue(w.borrower, "JPY", "100")
			w.issue(w.bankC, "JPY", "100")
			return []string{"JPY", "100", "account-1"}
		}},
		{"tokens:ApproveIssuance", []string{"tokenAdmin"}, func(w *world, role string) []string {
			w.defineTokens()
			var r Request
			w.okJSON(w.lender, &r, "tokens:RequestIssuance", "JPY", "100", "deposit-1")
			return []string{r.ID}
		}},
		{"tokens:RejectIssuance", []string{"tokenAdmin"}, func(w *world, role string) []string {
			w.defineTokens()
			var r Request
			w.okJSON(w.lender, &r, "tokens:RequestIssuance", "JPY", "100", "deposit-1")
			return []string{r.ID, "no deposit seen"}
		}},
		{"tokens:ApproveRedemption", []string{"tokenAdmin"}, func(w *world, role string) []string {
			w.defineTokens()
			w.issue(w.lender, "JPY", "100")
			var r Request
			w.okJSON(w.lender, &r, "tokens:RequestRedemption", "JPY", "100", "account-1")
			return []string{r.ID}
		}},
		{"tokens:RejectRedemption", []string{"tokenAdmin"}, func(w *world, role string) []string {
			w.defineTokens()
			w.issue(w.lender, "JPY", "100")
			var r Request
			w.okJSON(w.lender, &r, "tokens:RequestRedemption", "JPY", "100", "account-1")
			return []string{r.ID, "account closed"}
		}},
		{"tokens:GetRequest", plus(operatorSide, "lender"), func(w *world, role string) []string {
			w.defineTokens()
			var r Request
			w.okJSON(w.lender, &r, "tokens:RequestIssuance", "JPY", "100", "deposit-1")
			return []string{r.ID}
		}},
		{"tokens:ListRequests", plus(operatorSide, "lender"), func(w *world, role string) []string {
			w.defineTokens()
			w.ok(w.lender, "tokens:RequestIssuance", "JPY", "100", "deposit-1")
			return []string{"bank-a", "", "", ""}
		}},
		{"tokens:Transfer", allParties, func(w *world, role string) []string {
			w.defineTokens()
			w.issue(w.lender, "JPY", "100")
			w.issue(w.borrower, "JPY", "100")
			w.issue(w.bankC, "JPY", "100")
			to := "bank-b"
			if role == "borrower" {
				to = "bank-a"
			}
			return []string{"JPY", to, "40"}
		}},
		// agreements
		{"agreements:Propose", []string{"lender", "borrower"}, func(w *world, role string) []string {
			w.defineTokens()
			return []string{termsJSON("AGR-1", nil)}
		}},
		{"agreements:Approve", []string{"borrower"}, func(w *world, role string) []string {
			w.market()
			w.propose("AGR-1", nil)
			return []string{"AGR-1"}
		}},
		{"agreements:Reject", []string{"borrower"}, func(w *world, role string) []string {
			w.market()
			w.propose("AGR-1", nil)
			return []string{"AGR-1", "terms not acceptable"}
		}},
		{"agreements:Withdraw", []string{"lender"}, func(w *world, role string) []string {
			w.market()
			w.propose("AGR-1", nil)
			return []string{"AGR-1"}
		}},
		{"agreements:Close", []string{"lender", "borrower"}, func(w *world, role string) []string {
			w.market()
			w.open("AGR-1", endedTerms)
			return []string{"AGR-1"}
		}},
		{"agreements:RequestTermination", []string{"lender", "borrower"}, func(w *world, role string) []string {
			return append(withAgreement(w, role), "early repayment")
		}},
		{"agreements:AcceptTermination", []string{"borrower"}, func(w *world, role string) []string {
			args := withAgreement(w, role)
			w.ok(w.lender, "agreements:RequestTermination", "AGR-1", "")
			return args
		}},
		{"agreements:CancelTermination", []string{"lender", "borrower"}, func(w *world, role string) []string {
			args := withAgreement(w, role)
			w.ok(w.lender, "agreements:RequestTermination", "AGR-1", "")
			return append(args, "")
		}},
		// life cycle (lifecycle.go)
		{"agreements:Recall", []string{"lender"}, func(w *world, role string) []string {
			return append(withAgreement(w, role), "100000", "2025-06-02", "2025-06-04", "to sell")
		}},
		{"agreements:Return", []string{"borrower"}, func(w *world, role string) []string {
			args := withAgreement(w, role)
			w.postDefaultPrices("2025-06-02")
			return append(args, "100000", "2025-06-02")
		}},
		{"agreements:GiveNotice", []string{"lender", "borrower"}, func(w *world, role string) []string {
			w.market()
			w.open("AGR-1", func(m map[string]any) { m["endDate"], m["noticeDays"] = "", 3 })
			return []string{"AGR-1", "2025-06-02", ""}
		}},
		{"agreements:Substitute", []string{"borrower"}, func(w *world, role string) []string {
			args := withAgreement(w, role)
			w.postDefaultPrices("2025-06-02")
			return append(args, substitutionJSON("JP8306", "100", "JP8604", "200"), "2025-06-02")
		}},
		{"agreements:ApproveSubstitution", []string{"lender"}, func(w *world, role string) []string {
			args := withAgreement(w, role)
			w.postDefaultPrices("2025-06-02")
			w.ok(w.borrower, "agreements:Substitute", "AGR-1", substitutionJSON("JP8306", "100", "JP8604", "200"), "2025-06-02")
			return args
		}},
		{"agreements:CancelSubstitution", []string{"lender", "borrower"}, func(w *world, role string) []string {
			args := withAgreement(w, role)
			w.postDefaultPrices("2025-06-02")
			w.ok(w.borrower, "agreements:Substitute", "AGR-1", substitutionJSON("JP8306", "100", "JP8604", "200"), "2025-06-02")
			return append(args, "")
		}},
		{"agreements:BuyIn", []string{"lender"}, func(w *world, role string) []string {
			args := withAgreement(w, role)
			w.ok(w.lender, "agreements:Recall", "AGR-1", "100000", "2025-06-02", "2025-06-03", "")
			w.postDefaultPrices("2025-06-03")
			w.inPair(pairAB, func() { w.ok(w.oracle, "margin:SweepAgreements", "2025-06-03", idList("AGR-1")) })
			return append(args, "2025-06-03")
		}},
		// billing (billing.go): the pair is named in the transient field
		{"billing:IssueInvoice", marginSide, func(w *world, role string) []string {
			w.invoiceable()
			return []string{"2025-05", "JPY"}
		}},
		{"billing:GetInvoice", agreementSide, func(w *world, role string) []string {
			w.invoiceable()
			w.inPair(pairAB, func() { w.ok(w.lender, "billing:IssueInvoice", "2025-05", "JPY") })
			return []string{"2025-05", "JPY"}
		}},
		{"billing:PayInvoice", []string{"borrower"}, func(w *world, role string) []string {
			w.invoiceable()
			w.inPair(pairAB, func() { w.ok(w.lender, "billing:IssueInvoice", "2025-05", "JPY") })
			return []string{"2025-05", "JPY", "JPY"}
		}},
		{"billing:QueryInvoiceLine", agreementSide, func(w *world, role string) []string {
			w.invoiceable()
			w.inPair(pairAB, func() { w.ok(w.lender, "billing:IssueInvoice", "2025-05", "JPY") })
			return []string{"2025-05", "JPY", "AGR-F", "why?"}
		}},
		{"agreements:DefineSchedule", []string{"lender", "borrower"}, func(w *world, role string) []string {
			w.defineTokens()
			w.pair = pairAB
			return []string{`{"id":"SCH-1","assetClasses":["equity","cash"],"caps":[{"by":"issuer","max":"0.5"}]}`}
		}},
		{"agreements:GetSchedule", agreementSide, func(w *world, role string) []string {
			w.defineTokens()
			w.inPair(pairAB, func() { w.ok(w.lender, "agreements:DefineSchedule", `{"id":"SCH-1","minRating":"A-"}`) })
			w.pair = pairAB
			return []string{"SCH-1"}
		}},
		{"agreements:GetAgreement", agreementSide, withAgreement},
		{"agreements:CollateralHeld", agreementSide, withAgreement},
		{"agreements:ListAgreements", []string{"lender"}, func(w *world, role string) []string {
			withAgreement(w, role)
			return []string{"bank-a", "", "", ""}
		}},
		// oracle
		{"oracle:PostPrices", []string{"oracle"}, func(w *world, role string) []string {
			w.defineTokens()
			return []string{"2025-06-02", `{"prices":{"JP8306":"1000"},"fx":{"USDJPY":"150"}}`}
		}},
		{"oracle:CorrectPrices", []string{"oracle"}, func(w *world, role string) []string {
			w.defineTokens()
			w.postDefaultPrices("2025-06-02")
			return []string{"2025-06-02", `{"prices":{"JP8306":"1001"}}`, "vendor correction"}
		}},
		{"oracle:GetPrices", everyone, func(w *world, role string) []string {
			w.defineTokens()
			w.postDefaultPrices("2025-06-02")
			return []string{"2025-06-02", ""}
		}},
		{"oracle:LastPostedDate", everyone, noArgs},
		// margin: the transactions run in the pair of AGR-1, named in the transient field (which
		// the operator must name; bank-c is not a party to it)
		{"margin:MarginCall", marginSide, func(w *world, role string) []string {
			args := withAgreement(w, role)
			w.postDefaultPrices("2025-06-02")
			w.pair = pairAB
			return append(args, "2025-06-02")
		}},
		{"margin:FinishSweep", marginSide, func(w *world, role string) []string {
			withAgreement(w, role)
			w.postDefaultPrices("2025-06-02")
			w.pair = pairAB
			w.ok(w.oracle, "margin:MarginCall", "AGR-1", "2025-06-02")
			return []string{"2025-06-02"}
		}},
		{"margin:DisputeCall", []string{"borrower"}, func(w *world, role string) []string {
			w.shortfall()
			return []string{"AGR-D", "2025-06-02", "20000", ""}
		}},
		{"margin:ResolveDispute", []string{"borrower"}, func(w *world, role string) []string {
			w.shortfall()
			w.ok(w.borrower, "margin:DisputeCall", "AGR-D", "2025-06-02", "20000", "")
			return []string{"AGR-D", "2025-06-02", "call"}
		}},
		{"margin:AdjustCalls", marginSide, func(w *world, role string) []string {
			w.shortfall()
			w.ok(w.oracle, "oracle:CorrectPrices", "2025-06-02", `{"prices":{"JP8306":"410"}}`, "vendor correction")
			return []string{"2025-06-02", idList("AGR-D")}
		}},
		{"margin:GetMarginCall", agreementSide, func(w *world, role string) []string {
			args := withAgreement(w, role)
			w.postDefaultPrices("2025-06-02")
			w.inPair(pairAB, func() { w.ok(w.oracle, "margin:MarginCall", "AGR-1", "2025-06-02") })
			return append(args, "2025-06-02")
		}},
		{"margin:GetSweepFailure", agreementSide, func(w *world, role string) []string {
			args := withAgreement(w, role)
			w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1000"}}`) // JP8604 missing
			w.inPair(pairAB, func() { w.ok(w.oracle, "margin:SweepAgreements", "2025-06-02", idList("AGR-1")) })
			return append(args, "2025-06-02")
		}},
		{"margin:ListMarginCalls", agreementSide, func(w *world, role string) []string {
			return append(withAgreement(w, role), "", "")
		}},
		{"margin:LastSweptDate", everyone, noArgs},
	}, batchRoleRows()...)
}

func TestRoleTable(t *testing.T) {
	for _, row := range roleRows() {
		allowed := map[string]bool{}
		for _, r := range row.allowed {
			allowed[r] = true
		}
		for _, role := range tableRoles {
			t.Run(row.fn+"/"+role, func(t *testing.T) {
				w := newWorld(t)
				args := row.setup(w, role)
				before := w.ledger.snapshot()
				res := w.call(w.as(role), row.fn, args...)
				if allowed[role] {
					if res.status != 200 {
						t.Fatalf("%s as %s: want allowed, got error: %s", row.fn, role, res.message)
					}
					return
				}
				if res.status == 200 {
					t.Fatalf("%s as %s: want access denied, succeeded: %s", row.fn, role, res.payload)
				}
				if !strings.HasPrefix(res.message, "access denied: ") {
					t.Fatalf("%s as %s: want access denied, got: %s", row.fn, role, res.message)
				}
				w.assertUnchanged(before, row.fn)
			})
		}
	}
}

// TestRoleTableCoversEveryTransaction compares the table with the functions the chaincode really
// exposes (its contractapi metadata), so a new transaction cannot be added without a row.
func TestRoleTableCoversEveryTransaction(t *testing.T) {
	w := newWorld(t)
	var meta struct {
		Contracts map[string]struct {
			Transactions []struct {
				Name string   `json:"name"`
				Tags []string `json:"tags"`
			} `json:"transactions"`
		} `json:"contracts"`
	}
	if err := json.Unmarshal([]byte(w.ok(w.lender, "org.hyperledger.fabric:GetMetadata")), &meta); err != nil {
		t.Fatal(err)
	}
	exposed := []string{}
	for name, c := range meta.Contracts {
		if name == "org.hyperledger.fabric" {
			continue
		}
		for _, tx := range c.Transactions {
			exposed = append(exposed, name+":"+tx.Name)
		}
	}
	sort.Strings(exposed)
	covered := []string{}
	for _, row := range roleRows() {
		covered = append(covered, row.fn)
	}
	sort.Strings(covered)
	if !reflect.DeepEqual(exposed, covered) {
		t.Fatalf("exposed transactions and role table differ\nexposed: %v\ncovered: %v", exposed, covered)
	}
}
