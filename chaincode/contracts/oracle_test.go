package contracts

import (
	"fmt"
	"strings"
	"testing"
)

func TestPostPrices(t *testing.T) {
	w := newWorld(t)
	w.defineTokens()
	var res PostResult
	w.okJSON(w.oracle, &res, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1000.50","JP8604":"500"},"fx":{"USDJPY":"150.250"}}`)
	if res != (PostResult{Date: "2025-06-02", Version: 1, Kind: PricesInitial, Changed: true}) {
		t.Fatalf("result: %+v", res)
	}
	ev := w.expectEvent(EventPricesPosted)
	if ev["version"] != float64(1) || ev["prices"].(map[string]any)["JP8306"] != "1000.5" {
		t.Fatalf("event %v", ev)
	}
	var set PriceSet
	w.okJSON(w.lender, &set, "oracle:GetPrices", "2025-06-02", "")
	if set.Version != 1 || set.LatestVersion != 1 || set.Prices["JP8306"] != "1000.5" || set.FX["USDJPY"] != "150.25" || set.PostedBy == "" {
		t.Fatalf("set: %+v", set)
	}
	// identical values (spelled differently) are a no-op
	w.okJSON(w.oracle, &res, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1000.500"},"fx":{"USDJPY":"150.25"}}`)
	if res.Changed || res.Version != 1 {
		t.Fatalf("repeat: %+v", res)
	}
	w.noWrites("PostPrices repeat")
	// new instruments make an addition version; known ones must keep their values
	w.okJSON(w.oracle, &res, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1000.5","US-AAPL":"201"},"fx":{"EURUSD":"1.1"}}`)
	if !res.Changed || res.Version != 2 || res.Kind != PricesAddition {
		t.Fatalf("addition: %+v", res)
	}
	ev = w.expectEvent(EventPricesPosted)
	if len(ev["prices"].(map[string]any)) != 1 || len(ev["fx"].(map[string]any)) != 1 {
		t.Fatalf("addition event lists only what changed: %v", ev)
	}
	w.okJSON(w.lender, &set, "oracle:GetPrices", "2025-06-02", "")
	if set.Version != 2 || len(set.Prices) != 3 || len(set.FX) != 2 {
		t.Fatalf("merged set: %+v", set)
	}
	w.refuse(w.oracle, "price of JP8306 on 2025-06-02 is already 1000.5 (version 2): use CorrectPrices with a reason to change it to 1001",
		"oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1001","JP8604":"500"}}`)
	w.refuse(w.oracle, "FX rate USDJPY on 2025-06-02 is already 150.25 (version 2): use CorrectPrices with a reason to change it to 151",
		"oracle:PostPrices", "2025-06-02", `{"fx":{"USDJPY":"151"}}`)
	var last LastDate
	w.okJSON(w.bankC, &last, "oracle:LastPostedDate")
	if last.Date != "2025-06-02" || last.LatestVersion != 2 {
		t.Fatalf("last: %+v", last)
	}
	// an earlier date does not move the last posted date
	w.ok(w.oracle, "oracle:PostPrices", "2009-07-01", `{"prices":{"JP8306":"602"}}`)
	w.okJSON(w.bankC, &last, "oracle:LastPostedDate")
	if last.Date != "2025-06-02" {
		t.Fatalf("last: %+v", last)
	}
}

func TestCorrectPricesKeepsVersions(t *testing.T) {
	w := newWorld(t)
	w.defineTokens()
	w.postDefaultPrices("2025-06-02")
	w.refuse(w.oracle, "reason is required", "oracle:CorrectPrices", "2025-06-02", `{"prices":{"JP8306":"999"}}`, "")
	w.refuse(w.oracle, "no prices posted for 2025-06-01: use PostPrices", "oracle:CorrectPrices", "2025-06-01", `{"prices":{"JP8306":"999"}}`, "typo")
	var res PostResult
	w.okJSON(w.oracle, &res, "oracle:CorrectPrices", "2025-06-02", `{"prices":{"JP8306":"999","JP8604":"500"}}`, "vendor restated the close")
	if res != (PostResult{Date: "2025-06-02", Version: 2, Kind: PricesCorrection, Changed: true}) {
		t.Fatalf("correction: %+v", res)
	}
	ev := w.expectEvent(EventPricesCorrected)
	if ev["reason"] != "vendor restated the close" || ev["previousPrices"].(map[string]any)["JP8306"] != "1000" ||
		len(ev["prices"].(map[string]any)) != 1 {
		t.Fatalf("event %v", ev)
	}
	var v1, v2 PriceSet
	w.okJSON(w.lender, &v1, "oracle:GetPrices", "2025-06-02", "1")
	w.okJSON(w.lender, &v2, "oracle:GetPrices", "2025-06-02", "")
	if v1.Prices["JP8306"] != "1000" || v1.LatestVersion != 2 || v2.Prices["JP8306"] != "999" || v2.Reason != "vendor restated the close" {
		t.Fatalf("versions: %+v %+v", v1, v2)
	}
	w.okJSON(w.oracle, &res, "oracle:CorrectPrices", "2025-06-02", `{"prices":{"JP8306":"999"}}`, "again")
	if res.Changed || res.Version != 2 {
		t.Fatalf("no-op correction: %+v", res)
	}
	w.noWrites("CorrectPrices unchanged")
	w.refuse(w.lender, "no version 3 of the prices for 2025-06-02 (latest is 2)", "oracle:GetPrices", "2025-06-02", "3")
	w.refuse(w.lender, `invalid version "0": must be greater than zero`, "oracle:GetPrices", "2025-06-02", "0")
	w.refuse(w.lender, "no prices posted for 2025-06-03", "oracle:GetPrices", "2025-06-03", "")
}

func TestPriceQuoteObjects(t *testing.T) {
	w := newWorld(t)
	w.defineTokens()
	// the oracle daemon's batch format: per-quote provenance, a date and a source
	batch := `{"date":"2025-06-02","source":"replay:yfinance","prices":{"JP8306":{"value":"602.0","asOf":"2025-05-30"},"JP8604":{"value":"500","asOf":"2025-06-02","confirmedBy":"operator:sato"}},"fx":{"USDJPY":"150"}}`
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", batch)
	var set PriceSet
	w.okJSON(w.lender, &set, "oracle:GetPrices", "2025-06-02", "")
	if set.Prices["JP8306"] != "602" || set.PriceNotes["JP8306"].AsOf != "2025-05-30" || set.PriceNotes["JP8604"] != (QuoteNote{ConfirmedBy: "operator:sato"}) ||
		set.Source != "replay:yfinance" || len(set.FXNotes) != 0 {
		t.Fatalf("set: %+v", set)
	}
	// same values with other labels: no-op
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"602","JP8604":"500"}}`)
	w.noWrites("relabelled repost")
	cases := []struct{ batch, want string }{
		{`{"date":"2025-06-01","prices":{"JP8306":"1"}}`, "invalid batch: its date 2025-06-01 is not the date argument 2025-06-02"},
		{`{"prices":{"JP8306":{"value":"1","asOf":"2025-06-03"}}}`, "invalid price of JP8306: observed on 2025-06-03, after the valuation date 2025-06-02"},
		{`{"prices":{"JP8306":{"value":"1","asOf":"yesterday"}}}`, `invalid price of JP8306 asOf "yesterday": expected an ISO date YYYY-MM-DD`},
		{`{"prices":{"JP8306":{"value":"1","when":"x"}}}`, `invalid price of JP8306: json: unknown field "when"`},
		{`{"prices":{"JP8306":{"asOf":"2025-06-01"}}}`, `invalid price of JP8306: empty; expected a decimal number such as "98.811"`},
		{`{"prices":{"JP8306":1000}}`, `invalid price of JP8306: expected a decimal string such as "101.25" or an object {"value": ...}`},
		{`{"prices":{"JP8306":null}}`, `invalid price of JP8306: empty; expected a decimal number such as "98.811"`},
	}
	for i, c := range cases {
		w.run(t, fmt.Sprint(i), func() { w.refuse(w.oracle, c.want, "oracle:PostPrices", "2025-06-02", c.batch) })
	}
}

func TestPostPricesRefusals(t *testing.T) {
	w := newWorld(t)
	w.defineTokens()
	cases := []struct{ name, date, batch, want string }{
		{"bad date", "2025-6-2", `{"prices":{"JP8306":"1"}}`, `invalid date "2025-6-2": expected an ISO date YYYY-MM-DD`},
		{"impossible date", "2025-02-29", `{"prices":{"JP8306":"1"}}`, `invalid date "2025-02-29": not a calendar date`},
		{"tomorrow", "2025-06-07", `{"prices":{"JP8306":"1"}}`, "date 2025-06-07 is after the current business date 2025-06-06 (Asia/Tokyo): prices are posted for a date once it has come"},
		{"far future", "2025-06-09", `{"prices":{"JP8306":"1"}}`, "date 2025-06-09 is after the current business date 2025-06-06 (Asia/Tokyo): prices are posted for a date once it has come"},
		{"empty batch", "2025-06-02", `{}`, "invalid batch: no prices, no FX rates and no fixings"},
		{"empty maps", "2025-06-02", `{"prices":{},"fx":{}}`, "invalid batch: no prices, no FX rates and no fixings"},
		{"not JSON", "2025-06-02", `prices`, "invalid batch: invalid character 'p' looking for beginning of value"},
		{"unknown field", "2025-06-02", `{"price":{}}`, `invalid batch: json: unknown field "price"`},
		{"unknown instrument", "2025-06-02", `{"prices":{"JP9999":"1"}}`, "unknown instrument JP9999: no token with that id"},
		{"not an id", "2025-06-02", `{"prices":{"JP 9999":"1"}}`, `unknown instrument "JP 9999": not a token id`},
		{"cash token", "2025-06-02", `{"prices":{"JPY":"1"}}`, "instrument JPY is a cash token: its price is always 1 and is not posted"},
		{"zero price", "2025-06-02", `{"prices":{"JP8306":"0"}}`, `invalid price of JP8306 "0": must be greater than zero`},
		{"negative price", "2025-06-02", `{"prices":{"JP8306":"-1"}}`, `invalid price of JP8306 "-1": expected a decimal number in digits with an optional fractional part (no sign or exponent)`},
		{"exponent", "2025-06-02", `{"prices":{"JP8306":"1e3"}}`, `invalid price of JP8306 "1e3": expected a decimal number in digits with an optional fractional part (no sign or exponent)`},
		{"ratio", "2025-06-02", `{"prices":{"JP8306":"1/3"}}`, `invalid price of JP8306 "1/3": expected a decimal number in digits with an optional fractional part (no sign or exponent)`},
		{"NaN", "2025-06-02", `{"prices":{"JP8306":"NaN"}}`, `invalid price of JP8306 "NaN": expected a decimal number in digits with an optional fractional part (no sign or exponent)`},
		{"bare point", "2025-06-02", `{"prices":{"JP8306":".5"}}`, `invalid price of JP8306 ".5": expected a decimal number in digits with an optional fractional part (no sign or exponent)`},
		{"huge", "2025-06-02", `{"prices":{"JP8306":"` + strings.Repeat("9", 41) + `"}}`, `invalid price of JP8306 "999999999999999999999999...": longer than 40 characters`},
		{"bad pair", "2025-06-02", `{"fx":{"USD/JPY":"150"}}`, `invalid FX pair "USD/JPY": expected two different ISO currency codes such as "USDJPY"`},
		{"same currency pair", "2025-06-02", `{"fx":{"USDUSD":"1"}}`, `invalid FX pair "USDUSD": expected two different ISO currency codes such as "USDJPY"`},
		{"zero rate", "2025-06-02", `{"fx":{"USDJPY":"0.000"}}`, `invalid FX rate USDJPY "0.000": must be greater than zero`},
	}
	for _, c := range cases {
		w.run(t, c.name, func() { w.refuse(w.oracle, c.want, "oracle:PostPrices", c.date, c.batch) })
	}
	// the current business date is accepted
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-06", `{"prices":{"JP8306":"1"}}`)
	w.refuse(w.tokenAdmin, "access denied: CN=TokenAdmin@operator.example.com,OU=client,L=San Francisco,ST=California,C=US (party operator) does not have the oracle role", "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1"}}`)
	w.refuse(w.lender, "access denied: CN=User1@banka.example.com,OU=client,L=San Francisco,ST=California,C=US (party bank-a) does not have the oracle role", "oracle:CorrectPrices", "2025-06-06", `{"prices":{"JP8306":"2"}}`, "x")
}

func TestLastPostedDateEmpty(t *testing.T) {
	w := newWorld(t)
	var last LastDate
	w.okJSON(w.oracle, &last, "oracle:LastPostedDate")
	if last.Date != "" || last.LatestVersion != 0 {
		t.Fatalf("last: %+v", last)
	}
}

// Benchmark fixings travel with a date's prices: any sign, the same versioning (a changed value
// needs a correction).
func TestBenchmarkFixings(t *testing.T) {
	w := newWorld(t)
	w.defineTokens()
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1000"},"rates":{"SOFR":"5.31","ESTR":"-0.57"}}`)
	var ps PriceSet
	w.okJSON(w.lender, &ps, "oracle:GetPrices", "2025-06-02", "")
	if ps.Rates["SOFR"] != "5.31" || ps.Rates["ESTR"] != "-0.57" {
		t.Fatalf("rates: %+v", ps.Rates)
	}
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"rates":{"TONA":"0.077"}}`)
	w.refuse(w.oracle, "fixing of SOFR on 2025-06-02 is already 5.31 (version 2): use CorrectPrices with a reason to change it to 5.33",
		"oracle:PostPrices", "2025-06-02", `{"rates":{"SOFR":"5.33"}}`)
	w.refuse(w.oracle, `invalid benchmark "sofr": expected 2-16 capital letters and digits such as "SOFR"`,
		"oracle:PostPrices", "2025-06-02", `{"rates":{"sofr":"5.33"}}`)
	w.ok(w.oracle, "oracle:CorrectPrices", "2025-06-02", `{"rates":{"SOFR":"5.33"}}`, "republished fixing")
	w.okJSON(w.lender, &ps, "oracle:GetPrices", "2025-06-02", "")
	if ps.Rates["SOFR"] != "5.33" || ps.Rates["TONA"] != "0.077" || ps.Version != 3 {
		t.Fatalf("after the correction: %+v", ps)
	}
}
