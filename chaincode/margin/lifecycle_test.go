package margin

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

const lifecycleFormat = "tanpo-lifecycle-vectors/1"

// requiredLifecycleExpectKeys must be present in every "expect" of a life-cycle vector.
var requiredLifecycleExpectKeys = []string{"loanBefore", "loanAfter", "vl", "vcBefore", "vcAfter",
	"gapAfter", "transfers", "kept", "owed", "uncovered", "heldAfter"}

func loadLifecycleVectors(tb testing.TB) []json.RawMessage {
	return loadCaseFile(tb, "lifecycle.json", lifecycleFormat)
}

// checkLifecycleExpectations mirrors tanpo.margin.lifecycle_vectors.check_lifecycle_expectations.
func checkLifecycleExpectations(c, out map[string]any) []string {
	expect, got, p, done := resultAgainst(c, out, requiredLifecycleExpectKeys)
	if done {
		return p
	}
	for _, k := range sortedKeys(expect) {
		g, ok := got[k]
		if !ok {
			p = append(p, fmt.Sprintf("unknown expect key %q", k))
		} else if !reflect.DeepEqual(g, expect[k]) {
			p = append(p, fmt.Sprintf("%s: expected %v, got %v", k, expect[k], g))
		}
	}
	return p
}

func TestLifecycleGoldenVectors(t *testing.T) {
	cases := loadLifecycleVectors(t)
	if len(cases) < 16 {
		t.Fatalf("only %d life-cycle vector cases", len(cases))
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
			out, err := json.Marshal(RunLifecycleCase(raw))
			if err != nil {
				t.Fatal(err)
			}
			o, _ := decodeGeneric(t, out).(map[string]any)
			for _, problem := range checkLifecycleExpectations(c, o) {
				t.Error(problem)
			}
		})
	}
}

// lifecycleFixture: loan 100 L at 10 (V_L 1,000), collateral C (cash), S (45), T (20), haircut 0.2.
func lifecycleFixture(t *testing.T, mode Mode) (*Agreement, *Market) {
	t.Helper()
	a, err := NewAgreement([]Token{
		{ID: "L", Kind: KindST, Currency: "JPY"}, {ID: "C", Kind: KindCT, Currency: "JPY"},
		{ID: "S", Kind: KindST, Currency: "JPY"}, {ID: "T", Kind: KindST, Currency: "JPY"},
	}, Terms{Base: "JPY", Loan: LoanLeg{Token: "L", Quantity: 100}, Collateral: []string{"C", "S", "T"},
		Mode: mode, Haircut: "0.2"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMarket("2026-03-02", map[string]string{"L": "10", "S": "45", "T": "20"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a, m
}

func TestLifecycleStepsLeaveInputsAlone(t *testing.T) {
	a, m := lifecycleFixture(t, ModeMulti)
	p := Positions{Held: map[string]int64{"S": 30, "T": 10}, BorrowerFree: map[string]int64{"T": 40}}
	if _, err := ReturnLoan(a, m, p, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := Substitute(a, m, p, []Move{{"S", 5}}, []Move{{"T", 20}}); err != nil {
		t.Fatal(err)
	}
	if _, err := BuyIn(a, m, p, 100); err != nil {
		t.Fatal(err)
	}
	if p.Held["S"] != 30 || p.Held["T"] != 10 || p.BorrowerFree["T"] != 40 {
		t.Errorf("positions changed: %+v", p)
	}
}

func TestBuyInRoundsDownAndCountsTheRestUncovered(t *testing.T) {
	a, m := lifecycleFixture(t, ModeMulti)
	// owed 10 x 10 = 100; S at 45: floor(100/45) = 2 kept (90), 10 uncovered (less than one S)
	r, err := BuyIn(a, m, Positions{Held: map[string]int64{"S": 30}}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Kept) != 1 || r.Kept[0].Token != "S" || r.Kept[0].Quantity != 2 || r.Kept[0].Direction != Kept {
		t.Fatalf("kept %+v", r.Kept)
	}
	if r.Owed.Cmp(big.NewRat(100, 1)) != 0 || r.Uncovered.Cmp(big.NewRat(10, 1)) != 0 {
		t.Errorf("owed %s uncovered %s", r.Owed.RatString(), r.Uncovered.RatString())
	}
	if r.HeldAfter["S"] > 28 || r.LoanAfter != 90 || r.GapAfter.Sign() < 0 {
		t.Errorf("held after %v, loan after %d, gap %s", r.HeldAfter, r.LoanAfter, r.GapAfter.RatString())
	}
}

func TestLifecycleErrors(t *testing.T) {
	a, m := lifecycleFixture(t, ModeSingle)
	p := Positions{Held: map[string]int64{"S": 30}, BorrowerFree: map[string]int64{"T": 5}}
	checks := []struct {
		name string
		err  error
		kind ErrorKind
	}{
		{"nil agreement", second(ReturnLoan(nil, m, p, 1)), ErrInvalidInput},
		{"nil market", second(BuyIn(a, nil, p, 1)), ErrInvalidInput},
		{"bad position key", second(ReturnLoan(a, m, Positions{Held: map[string]int64{"X": 1}}, 1)), ErrInvalidInput},
		{"return negative", second(ReturnLoan(a, m, p, -1)), ErrOutOfRange},
		{"buy-in zero", second(BuyIn(a, m, p, 0)), ErrOutOfRange},
		{"out ineligible", second(Substitute(a, m, p, []Move{{"L", 1}}, []Move{{"T", 1}})), ErrIneligible},
		{"out non-positive", second(Substitute(a, m, p, []Move{{"S", 0}}, []Move{{"T", 1}})), ErrOutOfRange},
		{"in twice", second(Substitute(a, m, p, []Move{{"S", 1}}, []Move{{"T", 1}, {"T", 1}})), ErrInvalidInput},
		{"no in", second(Substitute(a, m, p, []Move{{"S", 1}}, nil)), ErrInvalidInput},
		// a full return owes back -held, which does not fit int64 for the most negative position
		{"full return of min int64", second(ReturnLoan(a, m, Positions{Held: map[string]int64{"C": math.MinInt64}}, 100)), ErrOverflow},
		{"substitution into an overflowing position", second(Substitute(a, m,
			Positions{Held: map[string]int64{"S": 30, "T": math.MaxInt64}, BorrowerFree: map[string]int64{"T": 1}},
			[]Move{{"S", 1}}, []Move{{"T", 1}})), ErrOverflow},
	}
	for _, c := range checks {
		if KindOf(c.err) != c.kind {
			t.Errorf("%s: got %v, want kind %s", c.name, c.err, c.kind)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// FuzzLifecycleCase checks that no input makes the life-cycle runner panic, that its output
// marshals, and that a successful step's figures are consistent; the vector cases are the seeds.
func FuzzLifecycleCase(f *testing.F) {
	for _, c := range loadLifecycleVectors(f) {
		f.Add([]byte(c))
	}
	f.Add([]byte(`null`))
	f.Add([]byte(`{"action":{"substitute":{"out":[null],"in":[{"token":"A","quantity":-0}]}}}`))
	f.Add([]byte(`{"action":{"return":{"quantity":9223372036854775808}}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		out := RunLifecycleCase(line)
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("output does not marshal: %v", err)
		}
		if (out.Error == nil) == (out.Result == nil) {
			t.Fatalf("exactly one of error and result expected: %+v", out)
		}
		r := out.Result
		if r == nil {
			return
		}
		if r.LoanAfter < 0 || r.LoanAfter > r.LoanBefore {
			t.Fatalf("loan %d -> %d", r.LoanBefore, r.LoanAfter)
		}
		if new(big.Rat).Sub(r.VCAfter, r.VL).Cmp(r.GapAfter) != 0 {
			t.Fatalf("gap after %s is not V_C %s - V_L %s", r.GapAfter.RatString(), r.VCAfter.RatString(), r.VL.RatString())
		}
		if r.LoanAfter == 0 {
			for id, h := range r.HeldAfter {
				if h != 0 {
					t.Fatalf("loan repaid but %d %s still held", h, id)
				}
			}
		}
	})
}

// loadCaseFile reads one vector file of the given format and returns its cases.
func loadCaseFile(tb testing.TB, name, format string) []json.RawMessage {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(vectorsDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	var doc struct {
		Format string            `json:"format"`
		Cases  []json.RawMessage `json:"cases"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		tb.Fatal(err)
	}
	if doc.Format != format {
		tb.Fatalf("%s: unknown format %q", name, doc.Format)
	}
	return doc.Cases
}

// resultAgainst checks what every vector format shares: an expected error against the output's
// error, or a result and an "expect" holding every required key. done says the case is settled
// (the problems are final); otherwise expect and got are compared further by the caller.
func resultAgainst(c, out map[string]any, required []string) (expect, got map[string]any, problems []string, done bool) {
	if want, ok := c["expectError"]; ok && want != nil {
		e, ok := out["error"]
		if !ok {
			return nil, nil, []string{fmt.Sprintf("expected error %v, got a result", want)}, true
		}
		return nil, nil, errorProblems("case", want, e), true
	}
	if e, ok := out["error"]; ok {
		return nil, nil, []string{fmt.Sprintf("unexpected error %v", e)}, true
	}
	expect, ok := c["expect"].(map[string]any)
	if !ok {
		return nil, nil, []string{"vector has neither expect nor expectError"}, true
	}
	for _, k := range required {
		if _, ok := expect[k]; !ok {
			problems = append(problems, fmt.Sprintf("vector lacks required expect key %q", k))
		}
	}
	got, _ = out["result"].(map[string]any)
	return expect, got, problems, false
}
