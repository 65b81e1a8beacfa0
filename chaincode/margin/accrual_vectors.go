package margin

import (
	"encoding/json"
)

// The JSON case format of vectors/accrual.json (see vectors/README.md): accrual terms, periods
// billed as one billing period. RunAccrualCase mirrors the Python
// tanpo.margin.accrual_vectors.run_accrual_case exactly, including the order in which problems are
// found:
//  1. shape: JSON types, unknown keys, repeated keys, at least one period (invalid_input); null
//     means absent;
//  2. the terms (NewAccrualTerms's order);
//  3. each period in list order (Accrue's order); the first failure is the case's error;
//  4. the bill.

type wireAccrualCase struct {
	Name        string             `json:"name"`
	Description string             `json:"description"`
	Terms       wireAccrualTerms   `json:"terms"`
	Periods     []wireAccrualRange `json:"periods"`
	Expect      json.RawMessage    `json:"expect"`
	ExpectError json.RawMessage    `json:"expectError"`
}

type wireAccrualTerms struct {
	Currency   string      `json:"currency"`
	DayCount   string      `json:"dayCount"`
	FeeBps     string      `json:"feeBps"`
	Rebate     *wireRebate `json:"rebate"`
	MinimumFee string      `json:"minimumFee"`
}

type wireRebate struct {
	Fixed     string `json:"fixed"`
	Benchmark string `json:"benchmark"`
	SpreadBps string `json:"spreadBps"`
}

type wireAccrualRange struct {
	From      string `json:"from"`
	To        string `json:"to"`
	LoanValue string `json:"loanValue"`
	CashValue string `json:"cashValue"`
	Fixing    string `json:"fixing"`
}

// AccrualJSON is one Accrual in a vector output.
type AccrualJSON struct {
	From       string `json:"from"`
	To         string `json:"to"`
	Days       int64  `json:"days"`
	FeeRate    string `json:"feeRate"`
	RebateRate string `json:"rebateRate"`
	Fee        string `json:"fee"`
	Rebate     string `json:"rebate"`
}

// AccrualResult is a case's accruals and bill, every value a canonical rational string (NetUnits
// an integer's).
type AccrualResult struct {
	Accruals     []AccrualJSON `json:"accruals"`
	FeeAccrued   string        `json:"feeAccrued"`
	FeeCharged   string        `json:"feeCharged"`
	MinimumTopUp string        `json:"minimumTopUp"`
	Rebate       string        `json:"rebate"`
	Net          string        `json:"net"`
	NetUnits     string        `json:"netUnits"`
}

// AccrualOutput is RunAccrualCase's answer: Error, or the Result.
type AccrualOutput struct {
	Name   string         `json:"name"`
	Error  *Error         `json:"error,omitempty"`
	Result *AccrualResult `json:"result,omitempty"`
}

var (
	accrualCaseKeys   = keySet("name", "description", "terms", "periods", "expect", "expectError")
	accrualTermsKeys  = keySet("currency", "dayCount", "feeBps", "rebate", "minimumFee")
	rebateKeys        = keySet("fixed", "benchmark", "spreadBps")
	accrualPeriodKeys = keySet("from", "to", "loanValue", "cashValue", "fixing")
)

func checkAccrualKeys(line []byte) error {
	c, err := checkKeys(line, "case", accrualCaseKeys)
	if err != nil || c == nil {
		return err
	}
	terms, err := checkKeys(c["terms"], "terms", accrualTermsKeys)
	if err != nil {
		return err
	}
	if _, err := checkKeys(terms["rebate"], "terms.rebate", rebateKeys); err != nil {
		return err
	}
	if err := checkEachKeys(c["periods"], "periods", accrualPeriodKeys); err != nil {
		return err
	}
	return nil
}

func decodeAccrualCase(line []byte) (*wireAccrualCase, error) {
	if err := checkAccrualKeys(line); err != nil {
		return nil, err
	}
	var c wireAccrualCase
	if err := decodeStrict(line, &c); err != nil {
		return nil, err
	}
	if len(c.Periods) == 0 {
		return nil, errorf(ErrInvalidInput, "periods must list at least one period")
	}
	return &c, nil
}

// RunAccrualCase runs one accrual case (expectations are ignored) and never panics: every failure
// becomes an *Error in the output.
func RunAccrualCase(line []byte) (out AccrualOutput) {
	if err := duplicateKey(line); err != nil {
		return AccrualOutput{Error: asError(err)}
	}
	out.Name = caseName(line)
	fail := func(err error) AccrualOutput { return AccrualOutput{Name: out.Name, Error: asError(err)} }
	c, err := decodeAccrualCase(line)
	if err != nil {
		return fail(err)
	}
	terms := AccrualTerms{Currency: c.Terms.Currency, DayCount: DayCount(c.Terms.DayCount),
		FeeBps: c.Terms.FeeBps, MinimumFee: c.Terms.MinimumFee}
	if r := c.Terms.Rebate; r != nil {
		terms.RebateFixed, terms.RebateBenchmark, terms.RebateSpreadBps = r.Fixed, r.Benchmark, r.SpreadBps
	}
	a, err := NewAccrualTerms(terms)
	if err != nil {
		return fail(err)
	}
	res := &AccrualResult{Accruals: []AccrualJSON{}}
	accruals := make([]*Accrual, 0, len(c.Periods))
	for _, p := range c.Periods {
		x, err := a.Accrue(Period{From: p.From, To: p.To, LoanValue: p.LoanValue, CashValue: p.CashValue, Fixing: p.Fixing})
		if err != nil {
			return fail(err)
		}
		accruals = append(accruals, x)
		res.Accruals = append(res.Accruals, AccrualJSON{From: x.From, To: x.To, Days: x.Days,
			FeeRate: FormatRat(x.FeeRate), RebateRate: FormatRat(x.RebateRate),
			Fee: FormatRat(x.Fee), Rebate: FormatRat(x.Rebate)})
	}
	b := a.Bill(accruals)
	res.FeeAccrued, res.FeeCharged = FormatRat(b.FeeAccrued), FormatRat(b.FeeCharged)
	res.MinimumTopUp, res.Rebate = FormatRat(b.MinimumTopUp), FormatRat(b.Rebate)
	res.Net, res.NetUnits = FormatRat(b.Net), b.NetUnits.String()
	return AccrualOutput{Name: c.Name, Result: res}
}
