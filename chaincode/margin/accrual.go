package margin

import (
	"math/big"
	"regexp"
)

// Daily accrual of securities-lending economics: the lending fee the borrower pays the lender and
// the rebate the lender pays the borrower on cash collateral. Shared with the Python engine
// (tanpo/margin/accrual.py) and the golden vectors in vectors/accrual.json.
//
// Formulas (exact, with the currency's day count; Basis is 365 or 360):
//
//	Days       = To − From (calendar days)
//	FeeRate    = FeeBps / 10000                                  (a fraction per annum)
//	Fee        = LoanValue × FeeRate × Days / Basis
//	RebateRate = (RebateFixed, or Fixing + RebateSpreadBps/100) / 100
//	Rebate     = CashValue × RebateRate × Days / Basis           (negative: the borrower pays)
//
// A bill over one billing period: FeeAccrued = Σ Fee, FeeCharged = max(FeeAccrued, MinimumFee),
// MinimumTopUp = FeeCharged − FeeAccrued, Rebate = Σ Rebate, Net = FeeCharged − Rebate (positive:
// the borrower pays the lender) and NetUnits = RoundToUnit(Net), the only rounding of the module.

// DayCount is a day-count convention: the number of days in the year that an annual rate is
// divided by (the days of a period are always calendar days).
type DayCount string

// Day-count conventions.
const (
	// ACT365F: actual days over a fixed 365-day year (JPY, GBP), leap years included.
	ACT365F DayCount = "ACT/365F"
	// ACT360: actual days over a 360-day year (USD, EUR).
	ACT360 DayCount = "ACT/360"
)

// ParseDayCount returns the convention named s ("ACT/365F" or "ACT/360").
func ParseDayCount(s string) (DayCount, error) {
	switch DayCount(s) {
	case ACT365F, ACT360:
		return DayCount(s), nil
	}
	return "", errorf(ErrInvalidInput, "day count %q is not ACT/365F or ACT/360", s)
}

// dayCounts are the money-market conventions known by currency.
var dayCounts = map[string]DayCount{"JPY": ACT365F, "GBP": ACT365F, "USD": ACT360, "EUR": ACT360}

// DayCountFor returns the money-market day count of a currency: ACT/365F for JPY and GBP, ACT/360
// for USD and EUR. Any other currency must give its day count in the terms.
func DayCountFor(currency string) (DayCount, error) {
	if d, ok := dayCounts[currency]; ok {
		return d, nil
	}
	return "", errorf(ErrInvalidInput, "no day-count convention known for %s: give dayCount in the terms", currency)
}

// Basis is the length of the convention's year in days: 365 or 360.
func (d DayCount) Basis() int64 {
	if d == ACT360 {
		return 360
	}
	return 365
}

// AccrualTerms are the economic terms of a loan's accrual. Numbers are exact decimal strings.
type AccrualTerms struct {
	Currency        string   // 3-letter code of the currency the values are in
	DayCount        DayCount // "" = DayCountFor(Currency)
	FeeBps          string   // lending fee, basis points per annum of the loan value, ≥ 0; "" = no fee
	RebateFixed     string   // fixed rebate rate, percent per annum, may be negative; "" = none
	RebateBenchmark string   // floating rebate: benchmark name such as "SOFR" or "€STR"; "" = none
	RebateSpreadBps string   // spread over the benchmark, basis points, may be negative; "" = 0
	MinimumFee      string   // minimum fee per billing period, ≥ 0; "" = none
}

// Accruer accrues fees and rebates under validated terms. It is immutable and safe to share.
type Accruer struct {
	currency  string
	dayCount  DayCount
	feeRate   *big.Rat // fraction per annum
	fixed     *big.Rat // fraction per annum; nil unless a fixed rebate
	benchmark string
	spread    *big.Rat // fraction per annum
	minimum   *big.Rat
}

// benchmarkRe: a benchmark name, such as SOFR, TONA, SONIA, €STR or ESTR.
var benchmarkRe = regexp.MustCompile(`^[A-Z€][A-Z0-9€]{0,15}$`)

// optionalDecimal parses text, "" meaning 0.
func optionalDecimal(text, what string) (*big.Rat, error) {
	if text == "" {
		return new(big.Rat), nil
	}
	return ParseDecimal(text, what)
}

// nonNegative parses text ("" = 0) and requires it ≥ 0.
func nonNegative(text, what string) (*big.Rat, error) {
	v, err := optionalDecimal(text, what)
	if err != nil {
		return nil, err
	}
	if v.Sign() < 0 {
		return nil, errorf(ErrOutOfRange, "%s is %s, not >= 0", what, v.RatString())
	}
	return v, nil
}

// NewAccrualTerms validates t, in this order: the currency code, the day count, the fee, the
// rebate (not both fixed and benchmark; a spread only with a benchmark; the benchmark name; the
// fixed rate; the spread), the minimum fee.
func NewAccrualTerms(t AccrualTerms) (*Accruer, error) {
	if !currencyRe.MatchString(t.Currency) {
		return nil, errorf(ErrInvalidInput, "currency %q is not a 3-letter code", t.Currency)
	}
	a := &Accruer{currency: t.Currency, benchmark: t.RebateBenchmark}
	var err error
	if t.DayCount == "" {
		a.dayCount, err = DayCountFor(t.Currency)
	} else {
		a.dayCount, err = ParseDayCount(string(t.DayCount))
	}
	if err != nil {
		return nil, err
	}
	bps, err := nonNegative(t.FeeBps, "feeBps")
	if err != nil {
		return nil, err
	}
	a.feeRate = bps.Quo(bps, ratInt(10000))
	if t.RebateFixed != "" && t.RebateBenchmark != "" {
		return nil, errorf(ErrInvalidInput, "a rebate is either fixed or a benchmark plus a spread, not both")
	}
	if t.RebateSpreadBps != "" && t.RebateBenchmark == "" {
		return nil, errorf(ErrInvalidInput, "a rebate spread needs a rebate benchmark")
	}
	if t.RebateBenchmark != "" && !benchmarkRe.MatchString(t.RebateBenchmark) {
		return nil, errorf(ErrInvalidInput,
			"rebate benchmark %q is not 1-16 characters of A-Z, 0-9 and € starting with a letter", t.RebateBenchmark)
	}
	if t.RebateFixed != "" {
		f, err := ParseDecimal(t.RebateFixed, "rebate fixed rate")
		if err != nil {
			return nil, err
		}
		a.fixed = f.Quo(f, ratInt(100))
	}
	spread, err := optionalDecimal(t.RebateSpreadBps, "rebate spreadBps")
	if err != nil {
		return nil, err
	}
	a.spread = spread.Quo(spread, ratInt(10000))
	if a.minimum, err = nonNegative(t.MinimumFee, "minimumFee"); err != nil {
		return nil, err
	}
	return a, nil
}

// Currency is the terms' currency code.
func (a *Accruer) Currency() string { return a.currency }

// DayCount is the day count in force (given or the currency's).
func (a *Accruer) DayCount() DayCount { return a.dayCount }

// Period is one accrual period, [From, To): the values are those at From and hold until To.
type Period struct {
	From, To  string // ISO dates, To > From
	LoanValue string // market value of the loan at From, base currency, ≥ 0
	CashValue string // cash collateral held at From, base currency, ≥ 0; "" = 0
	Fixing    string // benchmark rate at From, percent; required iff the rebate has a benchmark
}

// Accrual is what one period accrued, exact. FeeRate and RebateRate are fractions per annum.
type Accrual struct {
	From, To   string
	Days       int64
	FeeRate    *big.Rat
	RebateRate *big.Rat
	Fee        *big.Rat
	Rebate     *big.Rat
}

// Accrue computes one period's fee and rebate. Checks, in order: From, To (dates), To > From,
// LoanValue (given, a number, ≥ 0), CashValue (a number, ≥ 0), the fixing (given iff the rebate
// has a benchmark, a number).
func (a *Accruer) Accrue(p Period) (*Accrual, error) {
	from, err := ParseDate(p.From)
	if err != nil {
		return nil, err
	}
	to, err := ParseDate(p.To)
	if err != nil {
		return nil, err
	}
	// Unix seconds of dates 0001-9999 fit int64 (a time.Duration would not).
	days := (to.Unix() - from.Unix()) / 86400
	if days <= 0 {
		return nil, errorf(ErrInvalidInput, "period to %s is not after from %s", p.To, p.From)
	}
	if p.LoanValue == "" {
		return nil, errorf(ErrInvalidInput, "period %s: loanValue is missing", p.From)
	}
	loan, err := nonNegative(p.LoanValue, "loanValue")
	if err != nil {
		return nil, err
	}
	cash, err := nonNegative(p.CashValue, "cashValue")
	if err != nil {
		return nil, err
	}
	var rate *big.Rat
	switch {
	case a.benchmark != "" && p.Fixing == "":
		return nil, errorf(ErrInvalidInput, "period %s: the %s fixing is missing", p.From, a.benchmark)
	case a.benchmark == "" && p.Fixing != "":
		return nil, errorf(ErrInvalidInput, "period %s: a fixing is given but the rebate has no benchmark", p.From)
	case a.benchmark != "":
		fixing, err := ParseDecimal(p.Fixing, a.benchmark+" fixing")
		if err != nil {
			return nil, err
		}
		rate = fixing.Quo(fixing, ratInt(100))
		rate.Add(rate, a.spread)
	case a.fixed != nil:
		rate = new(big.Rat).Set(a.fixed)
	default:
		rate = new(big.Rat)
	}
	yearFraction := new(big.Rat).SetFrac64(days, a.dayCount.Basis())
	fee := new(big.Rat).Mul(loan, a.feeRate)
	fee.Mul(fee, yearFraction)
	rebate := new(big.Rat).Mul(cash, rate)
	rebate.Mul(rebate, yearFraction)
	return &Accrual{From: p.From, To: p.To, Days: days, FeeRate: new(big.Rat).Set(a.feeRate),
		RebateRate: rate, Fee: fee, Rebate: rebate}, nil
}

// Bill is one billing period's invoice, exact except NetUnits.
type Bill struct {
	FeeAccrued   *big.Rat // Σ Fee
	FeeCharged   *big.Rat // max(FeeAccrued, MinimumFee)
	MinimumTopUp *big.Rat // FeeCharged − FeeAccrued
	Rebate       *big.Rat // Σ Rebate
	Net          *big.Rat // FeeCharged − Rebate; positive: the borrower pays the lender
	NetUnits     *big.Int // RoundToUnit(Net): what settles, in whole cash-token units
}

// Bill totals the accruals of one billing period (the minimum fee applies once per call; nil
// entries are skipped).
func (a *Accruer) Bill(accruals []*Accrual) *Bill {
	b := &Bill{FeeAccrued: new(big.Rat), Rebate: new(big.Rat)}
	for _, x := range accruals {
		if x == nil {
			continue
		}
		b.FeeAccrued.Add(b.FeeAccrued, x.Fee)
		b.Rebate.Add(b.Rebate, x.Rebate)
	}
	b.FeeCharged = new(big.Rat).Set(b.FeeAccrued)
	if b.FeeCharged.Cmp(a.minimum) < 0 {
		b.FeeCharged.Set(a.minimum)
	}
	b.MinimumTopUp = new(big.Rat).Sub(b.FeeCharged, b.FeeAccrued)
	b.Net = new(big.Rat).Sub(b.FeeCharged, b.Rebate)
	b.NetUnits = RoundToUnit(b.Net)
	return b
}

// RoundToUnit rounds r to an integer, half away from zero (2.5 → 3, −2.5 → −3): invoices settle in
// whole cash-token units. It is the only rounding of the accrual module; every other figure is
// exact.
func RoundToUnit(r *big.Rat) *big.Int {
	// floor((2|n| + d) / 2d) for r = n/d, d > 0, then r's sign.
	num := new(big.Int).Abs(r.Num())
	num.Lsh(num, 1)
	num.Add(num, r.Denom())
	den := new(big.Int).Lsh(r.Denom(), 1)
	q := num.Quo(num, den)
	if r.Sign() < 0 {
		q.Neg(q)
	}
	return q
}
