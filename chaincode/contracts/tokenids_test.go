package contracts

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestTokenIdentifiers(t *testing.T) {
	w := newWorld(t)
	spec := `{"id":"JP8306","kind":"ST","currency":"JPY","isin":"JP3902900004","ticker":"8306","quoteConvention":"per-unit","assetClass":"equity",` +
		`"identifiers":{"SEDOL":"6335171","FIGI":"BBG000BQWNP4","RIC":"8306.T","BBGTICKER":"8306 JT Equity","ExchangeCode":"XTKS:8306"}}`
	var tok Token
	w.okJSON(w.tokenAdmin, &tok, "tokens:DefineToken", spec)
	want := map[string]string{"SEDOL": "6335171", "FIGI": "BBG000BQWNP4", "RIC": "8306.T", "BBGTICKER": "8306 JT Equity", "ExchangeCode": "XTKS:8306"}
	if len(tok.Identifiers) != len(want) {
		t.Fatalf("identifiers %v", tok.Identifiers)
	}
	for k, v := range want {
		if tok.Identifiers[k] != v {
			t.Fatalf("identifier %s = %q, want %q", k, tok.Identifiers[k], v)
		}
	}
	ev := w.expectEvent(EventTokenDefined)
	if ids, _ := ev["token"].(map[string]any)["identifiers"].(map[string]any); ids["SEDOL"] != "6335171" {
		t.Fatalf("event: %v", ev)
	}
	// the stored record reads back the same, keys in order
	var back Token
	w.okJSON(w.bankC, &back, "tokens:GetToken", "JP8306")
	if !back.TokenSpec.sameAs(tok.TokenSpec) {
		t.Fatalf("reads back as %+v", back.TokenSpec)
	}
	raw := w.ok(w.bankC, "tokens:GetToken", "JP8306")
	if !strings.Contains(raw, `"identifiers":{"BBGTICKER":"8306 JT Equity","ExchangeCode":"XTKS:8306","FIGI":"BBG000BQWNP4","RIC":"8306.T","SEDOL":"6335171"}`) {
		t.Fatalf("stored: %s", raw)
	}
	// the same identifiers in another order are the same definition; different ones are not
	w.ok(w.tokenAdmin, "tokens:DefineToken", `{"id":"JP8306","kind":"ST","currency":"JPY","isin":"JP3902900004","ticker":"8306","quoteConvention":"per-unit","assetClass":"equity",`+
		`"identifiers":{"ExchangeCode":"XTKS:8306","RIC":"8306.T","FIGI":"BBG000BQWNP4","BBGTICKER":"8306 JT Equity","SEDOL":"6335171"}}`)
	w.noWrites("DefineToken again")
	w.refuse(w.tokenAdmin, "token JP8306 is already defined with a different specification; use UpdateToken", "tokens:DefineToken",
		strings.Replace(spec, `"SEDOL":"6335171"`, `"SEDOL":"6335172"`, 1))
	// an empty set is no identifiers
	var cash Token
	w.okJSON(w.tokenAdmin, &cash, "tokens:DefineToken", `{"id":"JPY","kind":"CT","currency":"JPY","identifiers":{}}`)
	if cash.Identifiers != nil || strings.Contains(w.ok(w.bankC, "tokens:GetToken", "JPY"), "identifiers") {
		t.Fatalf("empty identifiers: %+v", cash)
	}
	w.ok(w.tokenAdmin, "tokens:DefineToken", `{"id":"JPY","kind":"CT","currency":"JPY"}`)
	w.noWrites("DefineToken without the empty identifiers")
}

func TestUpdateTokenIdentifiers(t *testing.T) {
	w := newWorld(t)
	w.defineTokens()
	update := func(ids map[string]string) string {
		m := map[string]any{"id": "JP8306", "kind": "ST", "currency": "JPY", "isin": "JP3902900004", "name": "Mitsubishi UFJ", "ticker": "JP8306",
			"quoteConvention": "per-unit", "assetClass": "equity"}
		if ids != nil {
			m["identifiers"] = ids
		}
		return mustJSON(m)
	}
	var tok Token
	w.okJSON(w.tokenAdmin, &tok, "tokens:UpdateToken", update(map[string]string{"CUSIP": "J44497105", "Wertpapier": "A0JJ1N"}))
	if tok.Identifiers["CUSIP"] != "J44497105" || tok.Identifiers["Wertpapier"] != "A0JJ1N" {
		t.Fatalf("updated: %+v", tok)
	}
	w.expectEvent(EventTokenUpdated)
	var back Token
	w.okJSON(w.bankC, &back, "tokens:GetToken", "JP8306")
	if back.Identifiers["CUSIP"] != "J44497105" || len(back.Identifiers) != 2 {
		t.Fatalf("stored: %+v", back)
	}
	w.ok(w.tokenAdmin, "tokens:UpdateToken", update(map[string]string{"Wertpapier": "A0JJ1N", "CUSIP": "J44497105"}))
	w.noWrites("UpdateToken unchanged")
	w.refuse(w.tokenAdmin, `invalid CUSIP "J4449710" for token JP8306: expected 9 capital letters or digits, such as "037833100"`,
		"tokens:UpdateToken", update(map[string]string{"CUSIP": "J4449710"}))
	// leaving them out removes them
	var cleared Token
	w.okJSON(w.tokenAdmin, &cleared, "tokens:UpdateToken", update(nil))
	if cleared.Identifiers != nil {
		t.Fatalf("identifiers kept: %+v", cleared)
	}
	w.expectEvent(EventTokenUpdated)
}

func TestTokenIdentifierRefusals(t *testing.T) {
	w := newWorld(t)
	with := func(ids string) string {
		return `{"id":"X","kind":"ST","currency":"JPY","ticker":"X","quoteConvention":"per-unit","assetClass":"equity","identifiers":` + ids + `}`
	}
	nine := map[string]string{}
	for _, k := range []string{"SEDOL", "CUSIP", "FIGI", "BBGID", "BBGTICKER", "RIC", "Wertpapier", "ExchangeCode", "ClearingCode"} {
		nine[k] = map[string]string{"SEDOL": "B0YBKJ7", "CUSIP": "037833100", "FIGI": "BBG000B9XRY4", "BBGID": "BBG000B9XRY4", "Wertpapier": "865985"}[k]
		if nine[k] == "" {
			nine[k] = "AAPL"
		}
	}
	b, _ := json.Marshal(nine)
	cases := []struct{ name, ids, want string }{
		{"ISIN key", `{"ISIN":"JP3902900004"}`, `invalid identifiers key "ISIN" for token X: give the ISIN in the isin field`},
		{"isin key", `{"isin":"JP3902900004"}`, `invalid identifiers key "isin" for token X: give the ISIN in the isin field`},
		{"unknown key", `{"Ticker":"X"}`, `invalid identifiers key "Ticker" for token X: expected one of BBGID, BBGTICKER, CUSIP, ClearingCode, ExchangeCode, FIGI, RIC, SEDOL, Wertpapier`},
		{"wrong case", `{"sedol":"B0YBKJ7"}`, `invalid identifiers key "sedol" for token X (did you mean SEDOL?): expected one of BBGID, BBGTICKER, CUSIP, ClearingCode, ExchangeCode, FIGI, RIC, SEDOL, Wertpapier`},
		{"short SEDOL", `{"SEDOL":"B0YBKJ"}`, `invalid SEDOL "B0YBKJ" for token X: expected 7 capital letters or digits, such as "6335171"`},
		{"lower-case SEDOL", `{"SEDOL":"b0ybkj7"}`, `invalid SEDOL "b0ybkj7" for token X: expected 7 capital letters or digits, such as "6335171"`},
		{"long CUSIP", `{"CUSIP":"0378331005"}`, `invalid CUSIP "0378331005" for token X: expected 9 capital letters or digits, such as "037833100"`},
		{"FIGI not BBG", `{"FIGI":"ABC000B9XRY4"}`, `invalid FIGI "ABC000B9XRY4" for token X: expected 12 capital letters or digits starting with BBG, such as "BBG000BB7XD0"`},
		{"short FIGI", `{"FIGI":"BBG000B9XRY"}`, `invalid FIGI "BBG000B9XRY" for token X: expected 12 capital letters or digits starting with BBG, such as "BBG000BB7XD0"`},
		{"BBGTICKER double space", `{"BBGTICKER":"AAPL  US Equity"}`, `invalid BBGTICKER "AAPL  US Equity" for token X: expected up to 32 characters from A-Z a-z 0-9 . - : / in words separated by single spaces, such as "8306 JT Equity"`},
		{"BBGTICKER too long", `{"BBGTICKER":"` + strings.Repeat("A", 30) + ` US"}`, `invalid BBGTICKER "` + strings.Repeat("A", 30) + ` US" for token X: expected up to 32 characters from A-Z a-z 0-9 . - : / in words separated by single spaces, such as "8306 JT Equity"`},
		{"empty value", `{"ExchangeCode":""}`, `invalid ExchangeCode "" for token X: expected 1 to 32 characters from A-Z a-z 0-9 . - : /`},
		{"space in generic", `{"ClearingCode":"A B"}`, `invalid ClearingCode "A B" for token X: expected 1 to 32 characters from A-Z a-z 0-9 . - : /`},
		{"long generic", `{"ExchangeCode":"` + strings.Repeat("x", 33) + `"}`, `invalid ExchangeCode "` + strings.Repeat("x", 33) + `" for token X: expected 1 to 32 characters from A-Z a-z 0-9 . - : /`},
		{"RIC with space", `{"RIC":"8306 T"}`, `invalid RIC "8306 T" for token X: expected 1 to 32 characters from A-Z a-z 0-9 . - : / =, such as "8306.T"`},
		{"first problem in key order", `{"SEDOL":"x","CUSIP":"y"}`, `invalid CUSIP "y" for token X: expected 9 capital letters or digits, such as "037833100"`},
		{"too many", string(b), "token X has 9 identifiers; at most 8"},
	}
	for _, c := range cases {
		w.run(t, c.name, func() { w.refuse(w.tokenAdmin, c.want, "tokens:DefineToken", with(c.ids)) })
	}
	w.refusePrefix(w.tokenAdmin, "invalid token: json: cannot unmarshal number into Go struct field TokenSpec.identifiers", "tokens:DefineToken", with(`{"SEDOL":6335171}`))
	w.refusePrefix(w.tokenAdmin, "invalid token: json: cannot unmarshal array into Go struct field TokenSpec.identifiers", "tokens:DefineToken", with(`["SEDOL"]`))
	// the bounds themselves are accepted: eight identifiers, a RIC with "=", a 32-character ticker
	delete(nine, "ClearingCode")
	nine["RIC"] = "JP10YT=RR"
	nine["BBGTICKER"] = strings.Repeat("A", 22) + " JT Equity"
	b, _ = json.Marshal(nine)
	var tok Token
	w.okJSON(w.tokenAdmin, &tok, "tokens:DefineToken", with(string(b)))
	if len(tok.Identifiers) != 8 || tok.Identifiers["RIC"] != "JP10YT=RR" {
		t.Fatalf("identifiers %v", tok.Identifiers)
	}
}
