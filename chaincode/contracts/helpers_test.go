package contracts

import (
	"math"
	"strings"
	"testing"
)

func TestParseQuantity(t *testing.T) {
	good := map[string]int64{"1": 1, "42": 42, "9223372036854775807": math.MaxInt64}
	for s, want := range good {
		if got, err := parseQuantity("q", s); err != nil || got != want {
			t.Fatalf("%q: %d %v", s, got, err)
		}
	}
	for _, s := range []string{"", "0", "-1", "+1", "01", "1.0", "1e2", "0x10", " 1", "1 ", "١", "9223372036854775808", strings.Repeat("1", 30)} {
		if _, err := parseQuantity("q", s); err == nil {
			t.Fatalf("%q accepted", s)
		}
	}
	if q, err := parseNonNegativeQuantity("q", "0"); err != nil || q != 0 {
		t.Fatal("zero refused")
	}
}

func TestQuantityArithmeticOverflow(t *testing.T) {
	if _, err := addQuantity(math.MaxInt64, 1); err == nil {
		t.Fatal("add overflow")
	}
	if _, err := addQuantity(math.MinInt64, -1); err == nil {
		t.Fatal("add underflow")
	}
	if _, err := subQuantity(math.MinInt64, 1); err == nil {
		t.Fatal("sub underflow")
	}
	if _, err := subQuantity(math.MaxInt64, -1); err == nil {
		t.Fatal("sub overflow")
	}
	if v, err := addQuantity(math.MaxInt64-1, 1); err != nil || v != math.MaxInt64 {
		t.Fatal("add at limit")
	}
	if v, err := subQuantity(-1, math.MaxInt64); err != nil || v != math.MinInt64 {
		t.Fatal("sub at limit")
	}
}

func TestParseDecimal(t *testing.T) {
	good := map[string]string{"0": "0", "98.811": "98.811", "101.2500": "101.25", "5.0": "5", "0.05": "0.05", "0.000": "0"}
	for s, want := range good {
		r, c, err := parseDecimal("d", s)
		if err != nil || c != want {
			t.Fatalf("%q: %q %v", s, c, err)
		}
		if r.RatString() == "" {
			t.Fatal("no value")
		}
	}
	for _, s := range []string{"", ".5", "5.", "-1", "+1", "1e3", "1/3", "00.5", "1,000", "NaN", "Inf", "0x1p3", "1.2.3", strings.Repeat("1", 41)} {
		if _, _, err := parseDecimal("d", s); err == nil {
			t.Fatalf("%q accepted", s)
		}
	}
	if _, _, err := parseFraction("f", "0.999999"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := parseFraction("f", "1.0"); err == nil {
		t.Fatal("1 accepted as a fraction")
	}
	if _, _, err := parsePositiveDecimal("p", "0.0"); err == nil {
		t.Fatal("zero accepted as positive")
	}
}

func TestPartyMSPMapping(t *testing.T) {
	pairs := map[string]string{OperatorMSP: OperatorParty, "BankAMSP": "bank-a", "BankBMSP": "bank-b", "BankCMSP": "bank-c", "BankC2MSP": "bank-c2", "BankMSPMSP": "bank-msp"}
	for msp, party := range pairs {
		if p, ok := partyForMSP(msp); !ok || p != party {
			t.Fatalf("%s -> %q %v", msp, p, ok)
		}
		if m, ok := mspForParty(party); !ok || m != msp {
			t.Fatalf("%s -> %q %v", party, m, ok)
		}
	}
	for _, msp := range []string{"", "Org1MSP", "BankMSP", "BankaMSP", "bankAMSP", "Bank-AMSP", "OperatorMSP2"} {
		if _, ok := partyForMSP(msp); ok {
			t.Fatalf("%q mapped", msp)
		}
	}
	for _, party := range []string{"", "bank-", "bank-A", "Bank-a", "banka", "operator2"} {
		if _, ok := mspForParty(party); ok {
			t.Fatalf("%q mapped", party)
		}
	}
}

func TestParseDate(t *testing.T) {
	for _, s := range []string{"2024-02-29", "0001-01-01", "9999-12-31"} {
		if err := validateDate("d", s); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{"", "2023-02-29", "2024-13-01", "2024-1-01", "20240101", "2024-01-01T00:00:00Z", " 2024-01-01"} {
		if err := validateDate("d", s); err == nil {
			t.Fatalf("%q accepted", s)
		}
	}
}

func TestStrictJSON(t *testing.T) {
	var v map[string]any
	for _, s := range []string{`{"a":1}`, ` {"a":1} `, "{\"a\":1}\n"} {
		if err := strictJSON("x", s, 100, &v); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
	}
	for _, s := range []string{``, `{`, `{"a":1}{}`, `{"a":1}]`, `{"a":1} x`, strings.Repeat(" ", 101)} {
		if err := strictJSON("x", s, 100, &v); err == nil {
			t.Fatalf("%q accepted", s)
		}
	}
}

// substitutionJSON is a substitution of one token out for one token in.
func substitutionJSON(outToken, outQty, inToken, inQty string) string {
	return mustJSON(map[string]any{"out": []any{map[string]any{"token": outToken, "quantity": outQty}},
		"in": []any{map[string]any{"token": inToken, "quantity": inQty}}})
}

func TestParseFractionTakesExactRatios(t *testing.T) {
	for in, want := range map[string]string{"1/51": "1/51", "2/102": "1/51", "1/4": "0.25", "0/7": "0", "3/8": "0.375"} {
		_, c, err := parseFraction("haircut", in)
		if err != nil || c != want {
			t.Errorf("parseFraction(%q) = %q, %v; want %q", in, c, err, want)
		}
	}
	for _, in := range []string{"51/51", "52/51", "1/0", "/5", "1/", "-1/51", "01/51", "1/051", "1.5/3", "1/5/7"} {
		if _, _, err := parseFraction("haircut", in); err == nil {
			t.Errorf("parseFraction(%q) accepted", in)
		}
	}
}
