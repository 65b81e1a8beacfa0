package margin

import (
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseDecimal(t *testing.T) {
	good := []struct{ in, want string }{
		{"101.25", "405/4"}, {"-3", "-3"}, {"0.05", "1/20"}, {"007.50", "15/2"},
		{"1/3", "1/3"}, {"-2/4", "-1/2"}, {"0", "0"},
	}
	for _, c := range good {
		r, err := ParseDecimal(c.in, "x")
		if err != nil || FormatRat(r) != c.want {
			t.Errorf("ParseDecimal(%q) = %v, %v; want %s", c.in, r, err, c.want)
		}
	}
	bad := []string{"", " 1", "1 ", "+1", "1e3", "1E3", "NaN", "inf", "1.", ".5", "1/0", "1/-2",
		"0x10", "1_000", "١٢", strings.Repeat("1", 51)}
	for _, in := range bad {
		if _, err := ParseDecimal(in, "price of X"); KindOf(err) != ErrInvalidNumber ||
			!strings.Contains(err.Error(), "price of X") {
			t.Errorf("ParseDecimal(%q): got %v, want an invalid_number error naming the value", in, err)
		}
	}
}

func TestFXPaths(t *testing.T) {
	rat := func(s string) *big.Rat { r, _ := new(big.Rat).SetString(s); return r }
	table := func(pairs map[ccyPair]string) *fxTable {
		m := map[ccyPair]*big.Rat{}
		for k, v := range pairs {
			m[k] = rat(v)
		}
		return newFXTable(m)
	}
	basic := table(map[ccyPair]string{{"EUR", "USD"}: "11/10", {"USD", "JPY"}: "150"})
	tests := []struct {
		name     string
		table    *fxTable
		from, to string
		want     string
		kind     ErrorKind
	}{
		{"direct", basic, "EUR", "USD", "11/10", ""},
		{"inverse", basic, "USD", "EUR", "10/11", ""},
		{"cross", basic, "EUR", "JPY", "165", ""},
		{"inverse cross", basic, "JPY", "EUR", "1/165", ""},
		{"same currency", basic, "GBP", "GBP", "1", ""},
		{"missing", basic, "GBP", "USD", "", ErrMissingFX},
		{"direct beats cross", table(map[ccyPair]string{{"EUR", "JPY"}: "160", {"EUR", "USD"}: "11/10",
			{"USD", "JPY"}: "150"}), "EUR", "JPY", "160", ""},
		{"direct beats inverse of reverse", table(map[ccyPair]string{{"EUR", "JPY"}: "160",
			{"JPY", "EUR"}: "1/100"}), "EUR", "JPY", "160", ""},
		{"alphabetical tie", table(map[ccyPair]string{{"GBP", "USD"}: "5/4", {"USD", "JPY"}: "150",
			{"GBP", "EUR"}: "6/5", {"EUR", "JPY"}: "160"}), "GBP", "JPY", "192", ""},
		{"two hops", table(map[ccyPair]string{{"AUD", "USD"}: "13/20", {"EUR", "USD"}: "11/10",
			{"EUR", "JPY"}: "160"}), "AUD", "JPY", "1040/11", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.table.rate(tc.from, tc.to)
			if tc.kind != "" {
				if KindOf(err) != tc.kind {
					t.Fatalf("got %v, %v; want %s", got, err, tc.kind)
				}
				return
			}
			if err != nil || got.RatString() != tc.want {
				t.Fatalf("got %v, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestParsePair(t *testing.T) {
	for _, p := range []string{"EURUSDX", "EURUS", "eurusd", "EUREUR", "EUR/USD"} {
		if _, _, err := ParsePair(p); KindOf(err) != ErrInvalidInput {
			t.Errorf("ParsePair(%q): %v", p, err)
		}
	}
}

var (
	bund = Token{ID: "DE-BUND", Kind: KindST, Currency: "EUR", Quote: QuotePercentOfPar}
	xyz  = Token{ID: "US-XYZ", Kind: KindST, Currency: "USD"}
)

func designTerms() Terms {
	return Terms{Base: "USD", Loan: LoanLeg{Token: "DE-BUND", Quantity: 1_000_000},
		Collateral: []string{"US-XYZ"}, Mode: ModeSingle}
}

func TestNewAgreementErrors(t *testing.T) {
	tests := []struct {
		name   string
		tokens []Token
		change func(*Terms)
		kind   ErrorKind
	}{
		{"haircut 1", nil, func(x *Terms) { x.Haircut = "1" }, ErrOutOfRange},
		{"haircut malformed", nil, func(x *Terms) { x.Haircut = "5%" }, ErrInvalidNumber},
		{"negative threshold", nil, func(x *Terms) { x.Threshold = "-1" }, ErrOutOfRange},
		{"negative MTA", nil, func(x *Terms) { x.MinTransfer = "-1" }, ErrOutOfRange},
		{"bad mode", nil, func(x *Terms) { x.Mode = "both" }, ErrInvalidInput},
		{"no collateral", nil, func(x *Terms) { x.Collateral = nil }, ErrInvalidInput},
		{"unknown collateral", nil, func(x *Terms) { x.Collateral = []string{"NOPE"} }, ErrInvalidInput},
		{"loan as collateral", nil, func(x *Terms) { x.Collateral = []string{"DE-BUND"} }, ErrInvalidInput},
		{"lag", nil, func(x *Terms) { x.LagDays = 367 }, ErrOutOfRange},
		{"loan quantity", nil, func(x *Terms) { x.Loan.Quantity = 0 }, ErrOutOfRange},
		{"haircut of non-collateral", nil, func(x *Terms) { x.Haircuts = map[string]string{"DE-BUND": "0.1"} }, ErrInvalidInput},
		{"bad base", nil, func(x *Terms) { x.Base = "usd" }, ErrInvalidInput},
		{"bad kind", []Token{bund, {ID: "US-XYZ", Kind: "BOND", Currency: "USD"}}, func(*Terms) {}, ErrInvalidInput},
		{"bad quote", []Token{bund, {ID: "US-XYZ", Kind: KindST, Currency: "USD", Quote: "yield"}}, func(*Terms) {}, ErrInvalidInput},
		{"duplicate token", []Token{bund, xyz, xyz}, func(*Terms) {}, ErrInvalidInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			terms := designTerms()
			tc.change(&terms)
			tokens := tc.tokens
			if tokens == nil {
				tokens = []Token{bund, xyz}
			}
			if _, err := NewAgreement(tokens, terms); KindOf(err) != tc.kind {
				t.Fatalf("got %v, want kind %s", err, tc.kind)
			}
		})
	}
}

func mustMarket(t *testing.T, date string, prices, fx map[string]string) *Market {
	t.Helper()
	m, err := NewMarket(date, prices, fx)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDesignExample walks DESIGN.md's cross-currency example through ComputeCall and ApplyCall.
func TestDesignExample(t *testing.T) {
	a, err := NewAgreement([]Token{bund, xyz}, designTerms())
	if err != nil {
		t.Fatal(err)
	}
	start := Positions{BorrowerFree: map[string]int64{"US-XYZ": 30000}}
	day1 := mustMarket(t, "2024-03-01", map[string]string{"DE-BUND": "101.25", "US-XYZ": "50.00"},
		map[string]string{"EURUSD": "1.1000"})
	r, err := ComputeCall(a, day1, start)
	if err != nil {
		t.Fatal(err)
	}
	if r.VL.RatString() != "1113750" || len(r.Transfers) != 1 || r.Transfers[0].Quantity != 22275 ||
		r.Transfers[0].Direction != BorrowerToLender {
		t.Fatalf("day 1: %+v", r)
	}
	after, err := ApplyCall(a, start, r)
	if err != nil || after.Held["US-XYZ"] != 22275 || after.BorrowerFree["US-XYZ"] != 7725 {
		t.Fatalf("after day 1: %+v %v", after, err)
	}
	day2 := mustMarket(t, "2024-03-04", map[string]string{"DE-BUND": "101.00", "US-XYZ": "50.40"},
		map[string]string{"EURUSD": "1.1050"})
	r2, err := ComputeCall(a, day2, after)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{r2.VL.RatString(), r2.VCBefore.RatString(), r2.GapBefore.RatString(), r2.GapAfter.RatString()}
	want := []string{"1116050", "1122660", "6610", "38/5"}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("day 2 figure %d = %s, want %s", i, got[i], want[i])
		}
	}
	if len(r2.Transfers) != 1 || r2.Transfers[0].Quantity != 131 || r2.Transfers[0].Direction != LenderToBorrower {
		t.Errorf("day 2 transfers: %+v", r2.Transfers)
	}
}

func TestBookFailingDayChangesNothing(t *testing.T) {
	tokens := []Token{{ID: "JPY", Kind: KindCT, Currency: "JPY"}, {ID: "A", Kind: KindST, Currency: "JPY"}}
	a, err := NewAgreement(tokens, Terms{Base: "JPY", Loan: LoanLeg{Token: "JPY", Quantity: 1_000_000},
		Collateral: []string{"A"}, Mode: ModeSingle, AutoIssue: true, LagDays: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBook(a, Positions{Held: map[string]int64{"A": 10000}, BorrowerFree: map[string]int64{"A": 100}})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := json.Marshal(b.Positions())
	if _, err := b.ApplyDay(mustMarket(t, "2024-08-01", nil, nil)); KindOf(err) != ErrMissingPrice {
		t.Fatalf("want missing_price, got %v", err)
	}
	if now, _ := json.Marshal(b.Positions()); string(now) != string(before) || len(b.Pending()) != 0 {
		t.Fatalf("a failing day changed the book: %s", now)
	}
	d, err := b.ApplyDay(mustMarket(t, "2024-08-01", map[string]string{"A": "95"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Mints) != 1 || d.Mints[0].Quantity != 427 || d.Positions.BorrowerFree["A"] != 527 ||
		len(d.Pending) != 1 || d.Pending[0].SettleDate != "2024-08-02" {
		t.Fatalf("day 1: %+v", d)
	}
	if len(b.Mints) != 1 || len(b.Issuances) != 1 || b.Issuances[0].Value.RatString() != "40500" {
		t.Fatalf("history: %+v %+v", b.Mints, b.Issuances)
	}
	if _, err := b.ApplyDay(mustMarket(t, "2024-08-01", map[string]string{"A": "95"}, nil)); KindOf(err) != ErrInvalidInput {
		t.Fatalf("repeated date: %v", err)
	}
	d2, err := b.ApplyDay(mustMarket(t, "2024-08-02", map[string]string{"A": "95"}, nil))
	if err != nil || len(d2.Settled) != 1 || b.Positions().Held["A"] != 10527 || d2.GapBefore.RatString() != "65" {
		t.Fatalf("day 2: %+v %v", d2, err)
	}
}

func TestNilArgumentsAreErrors(t *testing.T) {
	if _, err := ComputeCall(nil, nil, Positions{}); KindOf(err) != ErrInvalidInput {
		t.Error(err)
	}
	if _, err := NewBook(nil, Positions{}); KindOf(err) != ErrInvalidInput {
		t.Error(err)
	}
	if _, err := PriceAgreement(nil, nil); KindOf(err) != ErrInvalidInput {
		t.Error(err)
	}
	if _, err := ApplyCall(nil, Positions{}, nil); KindOf(err) != ErrInvalidInput {
		t.Error(err)
	}
}

// FuzzRunCase checks that no input makes the engine panic; the vector cases are the seed corpus.
func FuzzRunCase(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(vectorsDir, "*.json"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var doc struct {
			Cases []json.RawMessage `json:"cases"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			f.Fatal(err)
		}
		for _, c := range doc.Cases {
			f.Add([]byte(c))
		}
	}
	f.Add([]byte(`null`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, line []byte) {
		out := RunCase(line)
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("output does not marshal: %v", err)
		}
	})
}

func BenchmarkBookApplyDay(b *testing.B) {
	ids := []string{"8306", "8604", "4901", "7013", "8031"}
	tokens := []Token{{ID: "JPY", Kind: KindCT, Currency: "JPY"}}
	held, free, prices := map[string]int64{}, map[string]int64{}, map[string]string{}
	for i, id := range ids {
		tokens = append(tokens, Token{ID: id, Kind: KindST, Currency: "JPY"})
		held[id], free[id] = 1_000_000, 10_000_000
		prices[id] = []string{"512.5", "401.3", "2000", "150.7", "1200"}[i]
	}
	a, err := NewAgreement(tokens, Terms{Base: "JPY", Loan: LoanLeg{Token: "JPY", Quantity: 4_000_000_000},
		Collateral: ids, Mode: ModeMulti, Haircut: "0.05", AutoIssue: true})
	if err != nil {
		b.Fatal(err)
	}
	book, _ := NewBook(a, Positions{Held: held, BorrowerFree: free})
	markets := make([]*Market, 2)
	markets[0], _ = NewMarket("2009-07-01", prices, nil)
	prices["8306"] = "530"
	markets[1], _ = NewMarket("2009-07-02", prices, nil)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := *markets[i%2]
		m.day = markets[0].day.AddDate(0, 0, i) // strictly increasing dates
		if _, err := book.ApplyDay(&m); err != nil {
			b.Fatal(err)
		}
	}
}
