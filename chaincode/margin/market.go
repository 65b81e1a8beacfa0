package margin

import (
	"math/big"
	"regexp"
	"time"
)

const dateLayout = "2006-01-02"

var dateRe = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// ParseDate parses a strict YYYY-MM-DD calendar date, year 0001-9999 (as Python's date).
func ParseDate(text string) (time.Time, error) {
	if !dateRe.MatchString(text) {
		return time.Time{}, errorf(ErrInvalidInput, "date %q is not YYYY-MM-DD", text)
	}
	d, err := time.Parse(dateLayout, text)
	if err != nil || d.Year() < 1 {
		return time.Time{}, errorf(ErrInvalidInput, "date %q does not exist", text)
	}
	return d, nil
}

// Market is one valuation date's prices (by token id) and posted FX pairs, parsed once. It is
// immutable after NewMarket and safe to share between agreements and goroutines.
type Market struct {
	Date   string
	day    time.Time
	prices map[string]*big.Rat
	fx     *fxTable
}

// NewMarket validates and parses one date's market data: the date, then prices and FX pairs each
// in sorted key order. Prices and rates must be exact positive decimal strings; FX keys are market
// pairs such as "USDJPY" (JPY per USD) or "EURUSD" (USD per EUR).
func NewMarket(date string, prices, fx map[string]string) (*Market, error) {
	day, err := ParseDate(date)
	if err != nil {
		return nil, err
	}
	m := &Market{Date: date, day: day, prices: map[string]*big.Rat{}}
	for _, id := range sortedKeys(prices) {
		v, err := ParseDecimal(prices[id], "price of "+id)
		if err != nil {
			return nil, err
		}
		if v.Sign() <= 0 {
			return nil, errorf(ErrNonPositive, "price of %s on %s is %s, not > 0", id, date, v.RatString())
		}
		m.prices[id] = v
	}
	pairs := map[ccyPair]*big.Rat{}
	for _, key := range sortedKeys(fx) {
		base, quote, err := ParsePair(key)
		if err != nil {
			return nil, err
		}
		v, err := ParseDecimal(fx[key], "FX rate "+key)
		if err != nil {
			return nil, err
		}
		if v.Sign() <= 0 {
			return nil, errorf(ErrNonPositive, "FX rate %s on %s is %s, not > 0", key, date, v.RatString())
		}
		pairs[ccyPair{base, quote}] = v
	}
	m.fx = newFXTable(pairs)
	return m, nil
}

// Price returns the price of a token on the market's date (a fresh copy).
func (m *Market) Price(id string) (*big.Rat, error) {
	v, ok := m.prices[id]
	if !ok {
		return nil, errorf(ErrMissingPrice, "no price for %s on %s", id, m.Date)
	}
	return new(big.Rat).Set(v), nil
}

// Rate returns the units of target per unit of source on the market's date, derived from the
// posted pairs (see fxTable for the path rule).
func (m *Market) Rate(source, target string) (*big.Rat, error) {
	r, err := m.fx.rate(source, target)
	if e, ok := err.(*Error); ok {
		return nil, errorf(e.Kind, "%s on %s", e.Message, m.Date)
	}
	return r, err
}
