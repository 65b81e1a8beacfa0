package margin

import "math/big"

// Pricing holds the unit values of one agreement's tokens on one date, in the base currency:
// LoanUnit for the loan token, Unit (market) and HaircutUnit (after haircut) for collateral in
// priority order. Prices lists the market prices used (security tokens only), FX the rate used
// from each token currency to base.
type Pricing struct {
	Date        string
	LoanUnit    *big.Rat
	Unit        []*big.Rat
	HaircutUnit []*big.Rat
	Prices      map[string]*big.Rat
	FX          map[string]*big.Rat
}

// UnitValue is the value in base of one unit of t on m's date, no haircut:
// price × quote factor × fx(currency → base), a CT's price being 1 (never looked up).
func UnitValue(t Token, m *Market, base string) (*big.Rat, error) {
	if m == nil {
		return nil, errorf(ErrInvalidInput, "no market")
	}
	price := big.NewRat(1, 1)
	if t.Kind != KindCT {
		p, err := m.Price(t.ID)
		if err != nil {
			return nil, err
		}
		price = p
	}
	if t.Quote == QuotePercentOfPar {
		price.Quo(price, big.NewRat(100, 1))
	}
	rate, err := m.Rate(t.Currency, base)
	if err != nil {
		return nil, err
	}
	return price.Mul(price, rate), nil
}

// PriceAgreement computes a's unit values on m's date. Lookups run in a fixed order — loan token,
// then collateral in priority order; price before FX — so the first missing item reported is the
// same in both engines.
func PriceAgreement(a *Agreement, m *Market) (*Pricing, error) {
	if a == nil || m == nil {
		return nil, errorf(ErrInvalidInput, "no agreement or no market")
	}
	p := &Pricing{Date: m.Date, Prices: map[string]*big.Rat{}, FX: map[string]*big.Rat{}}
	tokens := append([]Token{a.loan}, a.collateral...)
	for i, t := range tokens {
		v, err := UnitValue(t, m, a.base)
		if err != nil {
			return nil, err
		}
		if t.Kind == KindST {
			p.Prices[t.ID], _ = m.Price(t.ID)
		}
		p.FX[t.Currency], _ = m.Rate(t.Currency, a.base)
		if i == 0 {
			p.LoanUnit = v
			continue
		}
		p.Unit = append(p.Unit, v)
		h := new(big.Rat).Sub(big.NewRat(1, 1), a.haircuts[i-1])
		p.HaircutUnit = append(p.HaircutUnit, h.Mul(h, v))
	}
	return p, nil
}
