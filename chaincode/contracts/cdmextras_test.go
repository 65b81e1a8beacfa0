package contracts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// withExtras is the default terms of id with cdmExtras written as given (raw JSON, so that
// duplicate keys and odd values reach the chaincode unchanged).
func withExtras(id, raw string) string {
	s := termsJSON(id, nil)
	return s[:len(s)-1] + `,"cdmExtras":` + raw + `}`
}

// nested is an object nested depth levels deep ({"a":{"a":…{"a":1}}}).
func nested(depth int) string {
	return strings.Repeat(`{"a":`, depth-1) + `{"a":1}` + strings.Repeat("}", depth-1)
}

func TestCdmExtras(t *testing.T) {
	w := newWorld(t)
	w.market()
	extras := `{ "dividendTerms": {"manufacturedIncomeRequirement": {"totalRatio": 1.0}, "dividendEntitlement": "RecordDate"},
	  "deliveryMethod": "DeliveryVersusPayment", "price": {"value": 1234.5, "unit": {"currency": "JPY"}},
	  "settlementDates": ["2025-06-02", "2025-06-03"], "principal": null, "note": "<&>" }`
	w.step(w.lender, "agreements:Propose", withExtras("AGR-X", extras))
	check := func(stage string) {
		t.Helper()
		a := w.agreement(w.borrower, "AGR-X")
		var got, want any
		if err := json.Unmarshal(a.Terms.CdmExtras, &got); err != nil {
			t.Fatalf("%s: cdmExtras %s: %v", stage, a.Terms.CdmExtras, err)
		}
		_ = json.Unmarshal([]byte(extras), &want)
		if !jsonEqual(got, want) {
			t.Fatalf("%s: cdmExtras read back as %s", stage, a.Terms.CdmExtras)
		}
		if bytes.ContainsAny(a.Terms.CdmExtras, "\n\t") || bytes.Contains(a.Terms.CdmExtras, []byte(`": `)) {
			t.Fatalf("%s: not compact: %s", stage, a.Terms.CdmExtras)
		}
	}
	check("proposed")
	w.step(w.borrower, "agreements:Approve", "AGR-X")
	check("opened")
	// the terms book (what a sweep reads) keeps them too
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1100","JP8604":"300"}}`)
	w.inPair(pairAB, func() { w.marginCallRun(w.oracle, "AGR-X", "2025-06-02") })
	w.step(w.borrower, "agreements:RequestTermination", "AGR-X", "repaying early")
	w.step(w.lender, "agreements:AcceptTermination", "AGR-X")
	check("closed")
	// no cdmExtras: none written
	w.step(w.lender, "agreements:Propose", termsJSON("AGR-Y", nil))
	if raw := w.ok(w.lender, "agreements:GetAgreement", "AGR-Y"); strings.Contains(raw, "cdmExtras") {
		t.Fatalf("cdmExtras written when absent: %s", raw)
	}
	// the limits themselves are accepted
	w.step(w.lender, "agreements:Propose", withExtras("AGR-D", nested(maxCdmExtrasDepth)))
	big := `{"x":"` + strings.Repeat("y", maxCdmExtrasBytes-8) + `"}`
	if len(big) != maxCdmExtrasBytes {
		t.Fatalf("fixture: %d bytes", len(big))
	}
	w.step(w.lender, "agreements:Propose", withExtras("AGR-B", big))
	w.step(w.lender, "agreements:Propose", withExtras("AGR-E", `{}`))
}

// jsonEqual compares decoded JSON values.
func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestCdmExtrasRefusals(t *testing.T) {
	w := newWorld(t)
	w.market()
	tooBig := `{"x":"` + strings.Repeat("y", maxCdmExtrasBytes-7) + `"}`
	cases := []struct{ name, raw, want string }{
		{"array", `[{"a":1}]`, "invalid cdmExtras: expected a JSON object, got an array"},
		{"string", `"dividends"`, "invalid cdmExtras: expected a JSON object, got a string"},
		{"number", `12`, "invalid cdmExtras: expected a JSON object, got a number"},
		{"bool", `true`, "invalid cdmExtras: expected a JSON object, got true or false"},
		{"null", `null`, "invalid cdmExtras: expected a JSON object, got null"},
		{"too big", tooBig, "invalid cdmExtras: 16385 bytes; at most 16384"},
		{"too deep", nested(maxCdmExtrasDepth + 1), "invalid cdmExtras: nested more than 16 levels deep at cdmExtras" + strings.Repeat(".a", maxCdmExtrasDepth)},
		{"too deep in an array", `{"l":` + strings.Repeat("[", maxCdmExtrasDepth) + strings.Repeat("]", maxCdmExtrasDepth) + `}`,
			"invalid cdmExtras: nested more than 16 levels deep at cdmExtras.l" + strings.Repeat("[0]", maxCdmExtrasDepth-1)},
		{"duplicate key", `{"price":1,"price":2}`, `invalid cdmExtras: key "price" is given twice in cdmExtras`},
		{"nested duplicate key", `{"a":[{"b":{"c":1,"d":2,"c":3}}]}`, `invalid cdmExtras: key "c" is given twice in cdmExtras.a[0].b`},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", "invalid cdmExtras: not valid UTF-8"},
	}
	for _, c := range cases {
		w.run(t, c.name, func() { w.refuse(w.lender, c.want, "agreements:Propose", withExtras("AGR-R", c.raw)) })
	}
	// whitespace does not count towards the size: what is stored is compact
	w.step(w.lender, "agreements:Propose", withExtras("AGR-S", `{ "x" : "`+strings.Repeat("y", maxCdmExtrasBytes-8)+`" }`))
}

// FuzzCdmExtras: validateCdmExtras never panics, answers the same twice, accepts only JSON objects
// within the bounds, and refuses in its own words.
func FuzzCdmExtras(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,{"b":null}],"c":"\u00e9"}`, `[]`, `null`, `"x"`, nested(16), nested(17),
		`{"a":1,"a":2}`, `{"a":{"b":1,"b":1}}`, " {\"a\" : [ ] } "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !json.Valid([]byte(s)) {
			return // the terms' decoder refuses it first
		}
		err := validateCdmExtras(json.RawMessage(s))
		again := validateCdmExtras(json.RawMessage(s))
		if fmt.Sprint(err) != fmt.Sprint(again) {
			t.Fatalf("%q: %v, then %v", s, err, again)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid cdmExtras: ") {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) != nil || m == nil {
			t.Fatalf("accepted %q, not an object", s)
		}
		var compact bytes.Buffer
		if json.Compact(&compact, []byte(s)) != nil || compact.Len() > maxCdmExtrasBytes {
			t.Fatalf("accepted %q: %d bytes", s, compact.Len())
		}
	})
}
