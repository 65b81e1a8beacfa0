package contracts

import (
	"fmt"
	"strings"
	"testing"
)

func TestDefineToken(t *testing.T) {
	w := newWorld(t)
	var tok Token
	w.okJSON(w.tokenAdmin, &tok, "tokens:DefineToken",
		`{"id":"DE-BUND-2033","kind":"ST","currency":"EUR","isin":"DE0001102622","quoteConvention":"percent-of-par","assetClass":"government-bond","creditRating":"AAA","name":"Bund 2033"}`)
	if tok.ID != "DE-BUND-2033" || tok.MinimalUnit != "1" || tok.QuoteConvention != QuotePercentOfPar || tok.DefinedAt == "" || tok.DefinedBy == "" {
		t.Fatalf("token: %+v", tok)
	}
	ev := w.expectEvent(EventTokenDefined)
	if ev["token"].(map[string]any)["id"] != "DE-BUND-2033" {
		t.Fatalf("event: %v", ev)
	}
	var cash Token
	w.okJSON(w.tokenAdmin, &cash, "tokens:DefineToken", `{"id":"JPY","kind":"CT","currency":"JPY"}`)
	if cash.QuoteConvention != QuotePerUnit || cash.AssetClass != "cash" || cash.MinimalUnit != "1" {
		t.Fatalf("cash defaults: %+v", cash)
	}
	var s Supply
	w.okJSON(w.lender, &s, "tokens:TotalSupply", "JPY")
	if s.Supply != "0" {
		t.Fatalf("supply %v", s)
	}
	// defining it again identically is a no-op; differently is refused
	w.ok(w.tokenAdmin, "tokens:DefineToken", `{"id":"JPY","kind":"CT","currency":"JPY","quoteConvention":"per-unit","assetClass":"cash","minimalUnit":"1.0"}`)
	w.noWrites("DefineToken again")
	w.refuse(w.tokenAdmin, "token JPY is already defined with a different specification; use UpdateToken", "tokens:DefineToken", `{"id":"JPY","kind":"CT","currency":"JPY","name":"Yen"}`)
}

func TestDefineTokenRefusals(t *testing.T) {
	w := newWorld(t)
	cases := []struct{ name, spec, want string }{
		{"empty", ``, "invalid token: empty; expected a JSON object"},
		{"not JSON", `{`, "invalid token: unexpected EOF"},
		{"unknown field", `{"id":"X","kind":"CT","currency":"JPY","colour":"red"}`, `invalid token: json: unknown field "colour"`},
		{"trailing data", `{"id":"X","kind":"CT","currency":"JPY"} {}`, "invalid token: unexpected data after the JSON value"},
		{"trailing bracket", `{"id":"X","kind":"CT","currency":"JPY"}]`, "invalid token: unexpected data after the JSON value"},
		{"array", `[]`, "invalid token: json: cannot unmarshal array into Go value of type contracts.TokenSpec"},
		{"bad id", `{"id":"a b","kind":"CT","currency":"JPY"}`, `invalid token id "a b": expected 1 to 64 characters from A-Z a-z 0-9 . _ - starting with a letter or digit`},
		{"empty id", `{"kind":"CT","currency":"JPY"}`, `invalid token id "": expected 1 to 64 characters from A-Z a-z 0-9 . _ - starting with a letter or digit`},
		{"bad currency", `{"id":"X","kind":"CT","currency":"yen"}`, `invalid currency "yen" for token X: expected an ISO 4217 code such as "JPY"`},
		{"bad kind", `{"id":"X","kind":"NFT","currency":"JPY"}`, `invalid kind "NFT" for token X: expected ST (security) or CT (cash)`},
		{"cash quoted per cent", `{"id":"X","kind":"CT","currency":"JPY","quoteConvention":"percent-of-par"}`, `invalid quoteConvention "percent-of-par" for cash token X: a cash token is per-unit`},
		{"security without isin or ticker", `{"id":"X","kind":"ST","currency":"JPY","quoteConvention":"per-unit","assetClass":"equity"}`, "security token X needs an isin or a ticker"},
		{"security without quote", `{"id":"X","kind":"ST","currency":"JPY","ticker":"X","assetClass":"equity"}`, `invalid quoteConvention "" for token X: expected per-unit or percent-of-par`},
		{"security without asset class", `{"id":"X","kind":"ST","currency":"JPY","ticker":"X","quoteConvention":"per-unit"}`, `security token X needs an assetClass (for example "equity" or "government-bond")`},
		{"bad isin", `{"id":"X","kind":"ST","currency":"JPY","isin":"JP123","quoteConvention":"per-unit","assetClass":"equity"}`, `invalid isin "JP123" for token X: expected 12 characters such as "JP3902900004"`},
		{"zero unit", `{"id":"X","kind":"CT","currency":"JPY","minimalUnit":"0"}`, `invalid minimalUnit "0": must be greater than zero`},
		{"float unit", `{"id":"X","kind":"CT","currency":"JPY","minimalUnit":"1e-2"}`, `invalid minimalUnit "1e-2": expected a decimal number in digits with an optional fractional part (no sign or exponent)`},
		{"long name", `{"id":"X","kind":"CT","currency":"JPY","name":"` + strings.Repeat("n", 129) + `"}`, "name is longer than 128 bytes"},
		{"control char", `{"id":"X","kind":"CT","currency":"JPY","issuer":"a\u0007"}`, "issuer contains a control or invalid character"},
	}
	for _, c := range cases {
		w.run(t, c.name, func() { w.refuse(w.tokenAdmin, c.want, "tokens:DefineToken", c.spec) })
	}
	w.refuse(w.lender, "access denied: CN=User1@banka.example.com,OU=client,L=San Francisco,ST=California,C=US (party bank-a) does not have the token-admin role", "tokens:DefineToken", `{"id":"X","kind":"CT","currency":"JPY"}`)
	w.refuse(w.opAdmin, "access denied: the caller (MSP OperatorMSP, subject CN=Admin@operator.example.com,OU=admin,L=San Francisco,ST=California,C=US) does not have the token-admin role", "tokens:DefineToken", `{"id":"X","kind":"CT","currency":"JPY"}`)
}

func TestUpdateToken(t *testing.T) {
	w := newWorld(t)
	w.defineTokens()
	var tok Token
	w.okJSON(w.tokenAdmin, &tok, "tokens:UpdateToken", tokenJSON("JP8604", KindSecurity, "JPY", map[string]string{"creditRating": "BBB+", "name": "Nomura"}))
	if tok.CreditRating != "BBB+" || tok.Name != "Nomura" {
		t.Fatalf("updated: %+v", tok)
	}
	w.expectEvent(EventTokenUpdated)
	w.ok(w.tokenAdmin, "tokens:UpdateToken", tokenJSON("JP8604", KindSecurity, "JPY", map[string]string{"creditRating": "BBB+", "name": "Nomura"}))
	w.noWrites("UpdateToken unchanged")
	w.refuse(w.tokenAdmin, `cannot change currency of token JP8604 from "JPY" to "USD": it is fixed at definition`, "tokens:UpdateToken", tokenJSON("JP8604", KindSecurity, "USD", nil))
	w.refuse(w.tokenAdmin, `cannot change kind of token JPY from "CT" to "ST": it is fixed at definition`, "tokens:UpdateToken", tokenJSON("JPY", KindSecurity, "JPY", nil))
	w.refuse(w.tokenAdmin, `cannot change quoteConvention of token JP8604 from "per-unit" to "percent-of-par": it is fixed at definition`, "tokens:UpdateToken", tokenJSON("JP8604", KindSecurity, "JPY", map[string]string{"quoteConvention": "percent-of-par"}))
	w.refuse(w.tokenAdmin, `cannot change minimalUnit of token JPY from "1" to "100": it is fixed at definition`, "tokens:UpdateToken", tokenJSON("JPY", KindCash, "JPY", map[string]string{"minimalUnit": "100"}))
	w.refuse(w.tokenAdmin, "unknown token EUR", "tokens:UpdateToken", tokenJSON("EUR", KindCash, "EUR", nil))
	w.refuse(w.oracle, "access denied: CN=Oracle@operator.example.com,OU=client,L=San Francisco,ST=California,C=US (party operator) does not have the token-admin role", "tokens:UpdateToken", tokenJSON("JPY", KindCash, "JPY", nil))
}

func TestGetAndListTokens(t *testing.T) {
	w := newWorld(t)
	w.defineTokens()
	var tok Token
	w.okJSON(w.bankC, &tok, "tokens:GetToken", "JP8306")
	if tok.ISIN != "JP3902900004" || tok.Name != "Mitsubishi UFJ" {
		t.Fatalf("GetToken: %+v", tok)
	}
	w.refuse(w.bankC, "unknown token NOPE", "tokens:GetToken", "NOPE")
	w.refuse(w.bankC, `invalid token id "": expected 1 to 64 characters from A-Z a-z 0-9 . _ - starting with a letter or digit`, "tokens:GetToken", "")
	ids := []string{}
	bookmark := ""
	for {
		var page Page[Token]
		w.okJSON(w.bankC, &page, "tokens:ListTokens", "2", bookmark)
		for _, tk := range page.Items {
			ids = append(ids, tk.ID)
		}
		if page.Bookmark == "" {
			break
		}
		bookmark = page.Bookmark
	}
	if strings.Join(ids, ",") != "JP8306,JP8604,JPY,US-AAPL,USD" {
		t.Fatalf("ListTokens: %v", ids)
	}
	w.refuse(w.bankC, "unknown token NOPE", "tokens:TotalSupply", "NOPE")
}

func TestIssuance(t *testing.T) {
	w := newWorld(t)
	w.defineTokens()
	var req Request
	w.okJSON(w.lender, &req, "tokens:RequestIssuance", "JPY", "5000", "wire 2025-06-01 #77")
	if !strings.HasPrefix(req.ID, "ISS-") || req.Status != RequestPending || req.Party != "bank-a" || req.Quantity != "5000" {
		t.Fatalf("request: %+v", req)
	}
	w.expectEvent(EventIssuanceRequested)
	if w.rawBalance("bank-a", "JPY") != 0 {
		t.Fatal("a request must not mint")
	}
	var done Request
	w.okJSON(w.tokenAdmin, &done, "tokens:ApproveIssuance", req.ID)
	if done.Status != RequestApproved || done.DecidedBy == "" {
		t.Fatalf("approved: %+v", done)
	}
	ev := w.expectEvent(EventIssuanceApproved)
	mint := ev["mint"].(map[string]any)
	if mint["quantity"] != "5000" || mint["party"] != "bank-a" || mint["supply"] != "5000" {
		t.Fatalf("event: %v", ev)
	}
	if w.rawBalance("bank-a", "JPY") != 5000 {
		t.Fatal("not minted")
	}
	w.refuse(w.tokenAdmin, fmt.Sprintf("request %s is already APPROVED", req.ID), "tokens:ApproveIssuance", req.ID)
	w.refuse(w.tokenAdmin, fmt.Sprintf("request %s is already APPROVED", req.ID), "tokens:RejectIssuance", req.ID, "late")
	w.refuse(w.tokenAdmin, fmt.Sprintf("request %s is an issuance request; use ApproveIssuance or RejectIssuance", req.ID), "tokens:ApproveRedemption", req.ID)

	var rej Request
	w.okJSON(w.borrower, &rej, "tokens:RequestIssuance", "JP8306", "100", "custody receipt 12")
	w.refuse(w.tokenAdmin, "reason is required", "tokens:RejectIssuance", rej.ID, "")
	w.okJSON(w.tokenAdmin, &rej, "tokens:RejectIssuance", rej.ID, "no deposit received")
	if rej.Status != RequestRejected || rej.Reason != "no deposit received" {
		t.Fatalf("rejected: %+v", rej)
	}
	w.expectEvent(EventIssuanceRejected)
	if w.rawBalance("bank-b", "JP8306") != 0 {
		t.Fatal("a rejected request minted")
	}
	w.checkConservation()

	w.refuse(w.tokenAdmin, "no request ISS-0000", "tokens:ApproveIssuance", "ISS-0000")
	w.refuse(w.lender, "unknown token EUR", "tokens:RequestIssuance", "EUR", "1", "x")
	w.refuse(w.lender, "reference is required", "tokens:RequestIssuance", "JPY", "1", "")
	w.refuse(w.lender, "reference is longer than 256 bytes", "tokens:RequestIssuance", "JPY", "1", strings.Repeat("r", 257))
	w.refuse(w.oracle, "access denied: CN=Oracle@operator.example.com,OU=client,L=San Francisco,ST=California,C=US (party operator) does not have the party role", "tokens:RequestIssuance", "JPY", "1", "x")
}

func TestQuantityParsingInRequests(t *testing.T) {
	w := newWorld(t)
	w.defineTokens()
	cases := map[string]string{
		"":                       `invalid quantity: empty; expected a positive integer such as "100"`,
		"0":                      `invalid quantity "0": must be greater than zero`,
		"-5":                     `invalid quantity "-5": expected a positive integer in decimal digits (no sign, decimal point or exponent)`,
		"+5":                     `invalid quantity "+5": expected a positive integer in decimal digits (no sign, decimal point or exponent)`,
		"1e3":                    `invalid quantity "1e3": expected a positive integer in decimal digits (no sign, decimal point or exponent)`,
		"1.5":                    `invalid quantity "1.5": expected a positive integer in decimal digits (no sign, decimal point or exponent)`,
		"007":                    `invalid quantity "007": leading zeros are not allowed`,
		" 5":                     `invalid quantity " 5": expected a positive integer in decimal digits (no sign, decimal point or exponent)`,
		"1_000":                  `invalid quantity "1_000": expected a positive integer in decimal digits (no sign, decimal point or exponent)`,
		"9223372036854775808":    `invalid quantity "9223372036854775808": exceeds the maximum quantity 9223372036854775807`,
		"99999999999999999999":   `invalid quantity "99999999999999999999": exceeds the maximum quantity 9223372036854775807`,
		strings.Repeat("9", 100): `invalid quantity "999999999999999999999999...": more than 19 digits`,
	}
	for q, want := range cases {
		w.run(t, "q="+q, func() { w.refuse(w.lender, want, "tokens:RequestIssuance", "JPY", q, "ref") })
	}
	w.ok(w.lender, "tokens:RequestIssuance", "JPY", "9223372036854775807", "max")
}

func TestSupplyOverflowIsRefused(t *testing.T) {
	w := newWorld(t)
	w.defineTokens()
	w.issue(w.lender, "JPY", "9223372036854775807")
	var req Request
	w.okJSON(w.borrower, &req, "tokens:RequestIssuance", "JPY", "1", "more")
	w.refuse(w.tokenAdmin, "supply of JPY: quantity overflow: 9223372036854775807 + 1 exceeds the int64 range", "tokens:ApproveIssuance", req.ID)
	w.checkConservation()
}

func TestRedemption(t *testing.T) {
	w := newWorld(t)
	w.defineTokens()
	w.issue(w.borrower, "JP8306", "1000")
	w.refuse(w.borrower, "insufficient balance: bank-b needs 1001 JP8306 but has 1000 free", "tokens:RequestRedemption", "JP8306", "1001", "acct")
	var req Request
	w.okJSON(w.borrower, &req, "tokens:RequestRedemption", "JP8306", "600", "custody account 9")
	if !strings.HasPrefix(req.ID, "RED-") || req.Kind != RequestRedemption {
		t.Fatalf("request: %+v", req)
	}
	w.expectEvent(EventRedemptionRequested)
	w.refuse(w.tokenAdmin, fmt.Sprintf("request %s is a redemption request; use ApproveRedemption or RejectRedemption", req.ID), "tokens:ApproveIssuance", req.ID)
	// the party moves tokens away before approval: approval fails, nothing burns
	w.ok(w.borrower, "tokens:Transfer", "JP8306", "bank-c", "500")
	w.refuse(w.tokenAdmin, "insufficient balance: bank-b needs 600 JP8306 but has 500 free", "tokens:ApproveRedemption", req.ID)
	w.ok(w.bankC, "tokens:Transfer", "JP8306", "bank-b", "500")
	w.ok(w.tokenAdmin, "tokens:ApproveRedemption", req.ID)
	ev := w.expectEvent(EventRedemptionApproved)
	if ev["mint"].(map[string]any)["supply"] != "400" {
		t.Fatalf("event: %v", ev)
	}
	if w.rawBalance("bank-b", "JP8306") != 400 {
		t.Fatal("not burnt")
	}
	var second Request
	w.okJSON(w.borrower, &second, "tokens:RequestRedemption", "JP8306", "400", "custody account 9")
	w.ok(w.tokenAdmin, "tokens:RejectRedemption", second.ID, "account closed")
	w.expectEvent(EventRedemptionRejected)
	w.ok(w.tokenAdmin, "tokens:ApproveRedemption", func() string {
		var r Request
		w.okJSON(w.borrower, &r, "tokens:RequestRedemption", "JP8306", "400", "all")
		return r.ID
	}())
	// a zero balance is kept (with its holder's policy) and BalanceOf does not list it
	k, _ := createKey(keyBalance, "bank-b", "JP8306")
	if _, ok := w.ledger.state[k]; !ok || w.rawBalance("bank-b", "JP8306") != 0 || len(w.ledger.sbe[k]) == 0 {
		t.Fatal("a zero balance should be kept, under its holder's policy")
	}
	var sheet BalanceSheet
	w.okJSON(w.borrower, &sheet, "tokens:BalanceOf", "")
	for _, b := range sheet.Balances {
		if b.Token == "JP8306" {
			t.Fatalf("BalanceOf lists a zero balance: %+v", sheet)
		}
	}
	w.checkConservation()
}

func TestTransfer(t *testing.T) {
	w := newWorld(t)
	w.market()
	var tr Transfer
	w.okJSON(w.borrower, &tr, "tokens:Transfer", "JP8306", "bank-c", "250")
	if tr.From != "bank-b" || tr.To != "bank-c" || tr.Quantity != "250" || tr.Leg != "transfer" {
		t.Fatalf("transfer: %+v", tr)
	}
	ev := w.expectEvent(EventTransfer)
	if ev["transfer"].(map[string]any)["quantity"] != "250" {
		t.Fatalf("event %v", ev)
	}
	if w.rawBalance("bank-b", "JP8306") != 99750 || w.rawBalance("bank-c", "JP8306") != 250 {
		t.Fatal("balances")
	}
	w.refuse(w.bankC, "insufficient balance: bank-c needs 251 JP8306 but has 250 free", "tokens:Transfer", "JP8306", "bank-a", "251")
	w.refuse(w.bankC, "insufficient balance: bank-c needs 1 JPY but has 0 free", "tokens:Transfer", "JPY", "bank-a", "1")
	w.refuse(w.bankC, "cannot transfer to bank-c: it is the sender", "tokens:Transfer", "JP8306", "bank-c", "1")
	w.refuse(w.bankC, `invalid recipient "operator": expected a bank party id such as "bank-a"`, "tokens:Transfer", "JP8306", "operator", "1")
	w.refuse(w.bankC, `invalid recipient "Bank-A": expected a bank party id such as "bank-a"`, "tokens:Transfer", "JP8306", "Bank-A", "1")
	w.refuse(w.bankC, "unknown token XX", "tokens:Transfer", "XX", "bank-a", "1")
	w.refuse(w.bankC, `invalid quantity "0": must be greater than zero`, "tokens:Transfer", "JP8306", "bank-a", "0")
	w.refuse(w.tokenAdmin, "access denied: CN=TokenAdmin@operator.example.com,OU=client,L=San Francisco,ST=California,C=US (party operator) does not have the party role", "tokens:Transfer", "JP8306", "bank-a", "1")
	w.checkConservation()
}

func TestTransferToNewBankOverflow(t *testing.T) {
	w := newWorld(t)
	w.defineTokens()
	w.issue(w.lender, "JPY", "9223372036854775000")
	w.issue(w.bankC, "USD", "1")
	w.ok(w.lender, "tokens:Transfer", "JPY", "bank-c", "9223372036854775000")
	w.checkConservation()
}

func TestBalanceOf(t *testing.T) {
	w := newWorld(t)
	w.market()
	var sheet BalanceSheet
	w.okJSON(w.borrower, &sheet, "tokens:BalanceOf", "")
	got := []string{}
	for _, b := range sheet.Balances {
		got = append(got, b.Token+"="+b.Quantity)
	}
	if sheet.Party != "bank-b" || strings.Join(got, ",") != "JP8306=100000,JP8604=50000,JPY=1000000" {
		t.Fatalf("balances: %+v", sheet)
	}
	w.okJSON(w.oracle, &sheet, "tokens:BalanceOf", "bank-a")
	if len(sheet.Balances) != 1 || sheet.Balances[0].Quantity != "100000000" {
		t.Fatalf("operator view: %+v", sheet)
	}
	w.okJSON(w.bankC, &sheet, "tokens:BalanceOf", "bank-c")
	if len(sheet.Balances) != 0 || sheet.Balances == nil {
		t.Fatalf("empty sheet: %+v", sheet)
	}
	w.refuse(w.bankC, "access denied: bank-c cannot read the balances of bank-a", "tokens:BalanceOf", "bank-a")
	w.refuse(w.opAdmin, `invalid party "operator": expected a bank party id such as "bank-a"`, "tokens:BalanceOf", "")
	w.refuse(w.opAdmin, `invalid party "bank_a": expected a bank party id such as "bank-a"`, "tokens:BalanceOf", "bank_a")
}

func TestListAndGetRequests(t *testing.T) {
	w := newWorld(t)
	w.defineTokens()
	ids := map[string]string{}
	for i, p := range []*testID{w.lender, w.lender, w.borrower} {
		var r Request
		w.okJSON(p, &r, "tokens:RequestIssuance", "JPY", fmt.Sprint(100+i), "ref")
		ids[fmt.Sprint(i)] = r.ID
	}
	w.ok(w.tokenAdmin, "tokens:ApproveIssuance", ids["0"])
	list := func(id *testID, party, status string) []string {
		var page Page[Request]
		w.okJSON(id, &page, "tokens:ListRequests", party, status, "", "")
		out := []string{}
		for _, r := range page.Items {
			out = append(out, r.Party+"/"+r.Status+"/"+r.Quantity)
		}
		return out
	}
	check := func(got []string, want string) {
		t.Helper()
		if strings.Join(got, ",") != want {
			t.Fatalf("got %v want %s", got, want)
		}
	}
	check(list(w.lender, "", ""), "bank-a/APPROVED/100,bank-a/PENDING/101")
	check(list(w.lender, "bank-a", "PENDING"), "bank-a/PENDING/101")
	check(list(w.tokenAdmin, "", "PENDING"), map[bool]string{true: "bank-a/PENDING/101,bank-b/PENDING/102", false: "bank-b/PENDING/102,bank-a/PENDING/101"}[ids["1"] < ids["2"]])
	if got := list(w.tokenAdmin, "", ""); len(got) != 3 {
		t.Fatalf("all requests: %v", got)
	}
	w.refuse(w.borrower, "access denied: bank-b cannot read the requests of bank-a", "tokens:ListRequests", "bank-a", "", "", "")
	w.refuse(w.tokenAdmin, `invalid status "DONE": expected PENDING, APPROVED or REJECTED`, "tokens:ListRequests", "", "DONE", "", "")
	var r Request
	w.okJSON(w.lender, &r, "tokens:GetRequest", ids["1"])
	w.refuse(w.borrower, fmt.Sprintf("access denied: bank-b cannot read request %s", ids["1"]), "tokens:GetRequest", ids["1"])
	w.refuse(w.borrower, "no request RED-1", "tokens:GetRequest", "RED-1")
}
