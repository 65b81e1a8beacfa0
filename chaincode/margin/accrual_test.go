package margin

import (
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"testing"
)

const accrualFormat = "tanpo-accrual-vectors/1"

// requiredAccrualExpectKeys must be present in every "expect" of an accrual vector, and
// requiredAccrualKeys in every expected accrual.
var (
	requiredAccrualExpectKeys = []string{"accruals", "feeAccrued", "feeCharged", "minimumTopUp", "rebate", "net", "netUnits"}
	requiredAccrualKeys       = []string{"days", "feeRate", "rebateRate", "fee", "rebate"}
)

func loadAccrualVectors(tb testing.TB) []json.RawMessage {
	return loadCaseFile(tb, "accrual.json", accrualFormat)
}

// checkAccrualExpectations mirrors tanpo.margin.accrual_vectors.check_accrual_expectations.
func checkAccrualExpectations(c, out map[string]any) []string {
	expect, got, p, done := resultAgainst(c, out, requiredAccrualExpectKeys)
	if done {
		return p
	}
	for _, k := range sortedKeys(expect) {
		g, ok := got[k]
		switch {
		case !ok:
			p = append(p, fmt.Sprintf("unknown expect key %q", k))
		case k == "accruals":
			p = append(p, accrualProblems(expect[k], g)...)
		case !reflect.DeepEqual(g, expect[k]):
			p = append(p, fmt.Sprintf("%s: expected %v, got %v", k, expect[k], g))
		}
	}
	return p
}

func accrualProblems(want, got any) []string {
	w, _ := want.([]any)
	g, _ := got.([]any)
	if w == nil || len(w) != len(g) {
		return []string{fmt.Sprintf("accruals: expected %v, got %v", want, got)}
	}
	var p []string
	for i := range w {
		wi, ok := w[i].(map[string]any)
		if !ok {
			p = append(p, fmt.Sprintf("accruals[%d]: expected an object, got %v", i, w[i]))
			continue
		}
		gi, _ := g[i].(map[string]any)
		for _, k := range requiredAccrualKeys {
			if _, ok := wi[k]; !ok {
				p = append(p, fmt.Sprintf("accruals[%d]: vector lacks required key %q", i, k))
			}
		}
		for _, k := range sortedKeys(wi) {
			if v, ok := gi[k]; !ok {
				p = append(p, fmt.Sprintf("accruals[%d]: unknown key %q", i, k))
			} else if !reflect.DeepEqual(v, wi[k]) {
				p = append(p, fmt.Sprintf("accruals[%d].%s: expected %v, got %v", i, k, wi[k], v))
			}
		}
	}
	return p
}

func TestAccrualGoldenVectors(t *testing.T) {
	cases := loadAccrualVectors(t)
	if len(cases) < 14 {
		t.Fatalf("only %d accrual vector cases", len(cases))
	}
	seen := map[string]bool{}
	for _, raw := range cases {
		c, _ := decodeGeneric(t, raw).(map[string]any)
		name, _ := c["name"].(string)
		if seen[name] {
			t.Errorf("duplicate case name %q", name)
		}
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			out, err := json.Marshal(RunAccrualCase(raw))
			if err != nil {
				t.Fatal(err)
			}
			o, _ := decodeGeneric(t, out).(map[string]any)
			for _, problem := range checkAccrualExpectations(c, o) {
				t.Error(problem)
			}
		})
	}
}

func TestDayCountFor(t *testing.T) {
	for ccy, want := range map[string]DayCount{"JPY": ACT365F, "GBP": ACT365F, "USD": ACT360, "EUR": ACT360} {
		if got, err := DayCountFor(ccy); err != nil || got != want {
			t.Errorf("DayCountFor(%s) = %q, %v; want %q", ccy, got, err, want)
		}
	}
	if _, err := DayCountFor("CHF"); KindOf(err) != ErrInvalidInput {
		t.Errorf("DayCountFor(CHF): %v", err)
	}
	if ACT365F.Basis() != 365 || ACT360.Basis() != 360 {
		t.Error("wrong bases")
	}
	if _, err := ParseDayCount("30/360"); KindOf(err) != ErrInvalidInput {
		t.Errorf("ParseDayCount(30/360): %v", err)
	}
}

func TestRoundToUnit(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0", "5/2": "3", "-5/2": "-3", "1/2": "1", "-1/2": "-1", "3/2": "2", "-3/2": "-2",
		"49/100": "0", "-49/100": "0", "51/100": "1", "-51/100": "-1", "7": "7", "-7": "-7",
		"2400000/73": "32877", "-11502000/73": "-157562",
	} {
		r, _ := new(big.Rat).SetString(in)
		if got := RoundToUnit(r).String(); got != want {
			t.Errorf("RoundToUnit(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestAccrueLeavesAccruerAlone(t *testing.T) {
	a, err := NewAccrualTerms(AccrualTerms{Currency: "USD", FeeBps: "40", RebateFixed: "1.5"})
	if err != nil {
		t.Fatal(err)
	}
	x, err := a.Accrue(Period{From: "2026-03-06", To: "2026-03-09", LoanValue: "1000", CashValue: "1000"})
	if err != nil {
		t.Fatal(err)
	}
	x.FeeRate.SetInt64(99)
	x.RebateRate.SetInt64(99)
	y, err := a.Accrue(Period{From: "2026-03-06", To: "2026-03-09", LoanValue: "1000", CashValue: "1000"})
	if err != nil {
		t.Fatal(err)
	}
	if y.FeeRate.RatString() != "1/250" || y.RebateRate.RatString() != "3/200" {
		t.Errorf("accruer changed: %s %s", y.FeeRate.RatString(), y.RebateRate.RatString())
	}
	b := a.Bill([]*Accrual{y, nil})
	if b.Net.Cmp(new(big.Rat).Sub(y.Fee, y.Rebate)) != 0 {
		t.Errorf("net %s", b.Net.RatString())
	}
}

func FuzzAccrualCase(f *testing.F) {
	for _, c := range loadAccrualVectors(f) {
		f.Add([]byte(c))
	}
	for _, s := range []string{"", "null", "[]", `{"periods":[null]}`, `{"terms":{"rebate":null}}`,
		`{"terms":{"currency":"USD"},"periods":[{"from":"0001-01-01","to":"9999-12-31","loanValue":"1/3"}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		out := RunAccrualCase(line)
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if (out.Error == nil) == (out.Result == nil) {
			t.Fatalf("exactly one of error and result: %+v", out)
		}
	})
}
