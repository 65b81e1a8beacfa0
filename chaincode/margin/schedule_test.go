package margin

import (
	"math/big"
	"math/rand"
	"strings"
	"testing"
)

func scheduleFixture(t *testing.T, s *Schedule) *Agreement {
	t.Helper()
	tokens := []Token{
		{ID: "L", Kind: KindCT, Currency: "USD"},
		{ID: "C1", Kind: KindCT, Currency: "USD", AssetClass: "cash"},
		{ID: "E1", Kind: KindST, Currency: "EUR", AssetClass: "equity", Issuer: "ACME"},
		{ID: "B1", Kind: KindST, Currency: "USD", AssetClass: "bond", Rating: "BB", Issuer: "ACME"},
		{ID: "B2", Kind: KindST, Currency: "USD", AssetClass: "bond", Issuer: "GOV"},
		{ID: "B3", Kind: KindST, Currency: "USD", AssetClass: "bond", Rating: "AA-", Issuer: "GOV"},
	}
	a, err := NewAgreement(tokens, Terms{Base: "USD", Loan: LoanLeg{Token: "L", Quantity: 1000},
		Collateral: []string{"C1", "E1", "B1", "B2", "B3"}, Mode: ModeMulti, Schedule: s})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestEligibilityReasons(t *testing.T) {
	a := scheduleFixture(t, &Schedule{AssetClasses: []string{"cash", "bond"}, Currencies: []string{"USD"}, MinRating: "BBB-"})
	want := map[string]string{"C1": "", "E1": ReasonAssetClass, "B1": ReasonRating, "B2": ReasonUnrated, "B3": "", "L": ReasonNotCollateral, "X": ReasonNotCollateral}
	for id, reason := range want {
		ok, got := Eligibility(a, id)
		if ok != (reason == "") || got != reason {
			t.Errorf("Eligibility(%s) = %v, %q; want %q", id, ok, got, reason)
		}
	}
	b := scheduleFixture(t, &Schedule{Currencies: []string{"USD"}})
	if ok, reason := Eligibility(b, "E1"); ok || reason != ReasonCurrency {
		t.Errorf("E1 in EUR: %v %q", ok, reason)
	}
	c := scheduleFixture(t, nil)
	for _, id := range c.Collateral() {
		if ok, _ := Eligibility(c, id); !ok {
			t.Errorf("without a schedule %s must be eligible", id)
		}
	}
}

func TestConcentrationGroupsAndOrder(t *testing.T) {
	a := scheduleFixture(t, &Schedule{Caps: []Cap{{By: CapByIssuer, Max: "0.5"}, {By: CapByAssetClass, Key: "bond", Max: "0.6"}, {By: CapByToken, Max: "1"}}})
	m, err := NewMarket("2025-01-02", map[string]string{"E1": "10", "B1": "10", "B2": "10", "B3": "10"}, map[string]string{"EURUSD": "1"})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := PriceAgreement(a, m)
	if err != nil {
		t.Fatal(err)
	}
	// market values: C1 100, E1 300, B1 300, B2 -> floored 0, B3 200: V = 900
	got := Concentration(a, pr, []int64{100, 30, 30, -5, 20})
	want := []Breach{{"issuer", "ACME", big.NewRat(2, 3), big.NewRat(1, 2)}}
	if len(got) != len(want) {
		t.Fatalf("breaches %v, want %v", got, want)
	}
	for i := range want {
		if got[i].By != want[i].By || got[i].Key != want[i].Key || got[i].Share.Cmp(want[i].Share) != 0 || got[i].Max.Cmp(want[i].Max) != 0 {
			t.Errorf("breach %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	got = Concentration(a, pr, []int64{0, 0, 0, 10, 10})
	if len(got) != 2 || got[0].Key != "GOV" || got[1].Key != "bond" {
		t.Errorf("GOV 100%% and bonds 100%%: got %+v", got)
	}
	if len(Concentration(a, pr, make([]int64, 5))) != 0 {
		t.Error("nothing held: no breach")
	}
}

// TestCapLimitIsTheLargestQuantity checks the closed form against the definition: the largest q
// with G + q·u <= c·(V + q·u) for every group containing the token.
func TestCapLimitIsTheLargestQuantity(t *testing.T) {
	a := scheduleFixture(t, &Schedule{Caps: []Cap{{By: CapByIssuer, Max: "2/5"}, {By: CapByToken, Key: "B1", Max: "0.3"}, {By: CapByAssetClass, Max: "0.9"}}})
	rnd := rand.New(rand.NewSource(7))
	unit := make([]*big.Rat, 5)
	for n := 0; n < 2000; n++ {
		held := make([]int64, 5)
		for i := range held {
			unit[i] = big.NewRat(rnd.Int63n(1000)+1, rnd.Int63n(50)+1)
			held[i] = rnd.Int63n(200) - 20
		}
		i := 1 + rnd.Intn(4)
		limit := a.capLimit(i, unit, held)
		if limit == nil {
			t.Fatal("E1/B1/B2/B3 are all capped")
		}
		fits := func(q int64) bool {
			h := append([]int64{}, held...)
			h[i] += q
			vals, total := marketValues(unit, h)
			for _, gi := range a.schedule.tokenGroups[i] {
				g := a.schedule.groups[gi]
				lhs := groupValue(g, vals)
				if lhs.Cmp(new(big.Rat).Mul(g.max, total)) > 0 {
					return false
				}
			}
			return true
		}
		q := limit.Int64()
		if held[i] >= 0 && ((q > 0 && !fits(q)) || fits(q+1)) {
			t.Fatalf("case %d: token %d held %v unit %v: limit %d is not the largest fitting quantity", n, i, held, unit, q)
		}
	}
}

func TestScheduleValidation(t *testing.T) {
	bad := []struct {
		s    Schedule
		kind ErrorKind
	}{
		{Schedule{AssetClasses: []string{""}}, ErrInvalidInput},
		{Schedule{Currencies: []string{"usd"}}, ErrInvalidInput},
		{Schedule{MinRating: "AAA+"}, ErrInvalidInput},
		{Schedule{Haircuts: map[string]string{"token:L": "0.1"}}, ErrInvalidInput},
		{Schedule{Haircuts: map[string]string{"class:": "0.1"}}, ErrInvalidInput},
		{Schedule{Haircuts: map[string]string{"class:bond": "-0.1"}}, ErrOutOfRange},
		{Schedule{Haircuts: map[string]string{"class:bond": "x"}}, ErrInvalidNumber},
		{Schedule{Caps: []Cap{{By: "sector", Max: "0.5"}}}, ErrInvalidInput},
		{Schedule{Caps: []Cap{{By: CapByToken, Key: "L", Max: "0.5"}}}, ErrInvalidInput},
		{Schedule{Caps: []Cap{{By: CapByIssuer, Key: "a\tb", Max: "0.5"}}}, ErrInvalidInput},
		{Schedule{Caps: []Cap{{By: CapByIssuer, Max: ""}}}, ErrInvalidNumber},
		{Schedule{Caps: []Cap{{By: CapByIssuer, Max: "1.01"}}}, ErrOutOfRange},
		{Schedule{MinRating: "X", Caps: []Cap{{By: "sector"}}}, ErrInvalidInput},
		{Schedule{Haircuts: map[string]string{"class:bond": "1"}, Caps: []Cap{{By: "sector"}}}, ErrOutOfRange},
	}
	tokens := []Token{{ID: "L", Kind: KindCT, Currency: "USD"}, {ID: "A", Kind: KindST, Currency: "USD", AssetClass: "bond"}}
	for n, c := range bad {
		s := c.s
		_, err := NewAgreement(tokens, Terms{Base: "USD", Loan: LoanLeg{Token: "L", Quantity: 1}, Collateral: []string{"A"}, Mode: ModeSingle, Schedule: &s})
		if KindOf(err) != c.kind {
			t.Errorf("case %d (%+v): got %v, want %s", n, s, err, c.kind)
		}
	}
	for _, tok := range []Token{{ID: "A", Kind: KindST, Currency: "USD", Rating: "aa"}, {ID: "A", Kind: KindST, Currency: "USD", Issuer: "x\ny"}, {ID: "A", Kind: KindST, Currency: "USD", AssetClass: strings.Repeat("x", 129)}} {
		if _, err := CheckToken(tok); KindOf(err) != ErrInvalidInput {
			t.Errorf("CheckToken(%+v) = %v", tok, err)
		}
	}
}
