package contracts

import (
	"errors"
	"fmt"
	"math/big"
	"time"

	"tanpo/chaincode/margin"
)

// Lending fees and cash-collateral rebates, accrued daily with the base currency's day count.
//
// An agreement's terms may carry a fee (basis points per annum on the loan's market value, with
// an optional minimum per monthly invoice) and a rebate on the cash collateral it holds (a fixed
// rate, or a benchmark fixing posted by the oracle plus a spread), paid by the lender. Each margin
// call accrues the period since the previous one at the values the previous one found (the loan's
// market value, the cash collateral's value, the fixing), split at month ends, and records the
// lines in the call; the month-to-date totals wait in the agreement's custody entry until the
// pair's invoice for the month takes them (billing.go). Life-cycle steps that change the loan or
// the cash (returns, substitutions, buy-ins) and the close accrue up to their date first. The
// arithmetic is the margin engine's (margin.Accruer), shared with the Python engine through
// vectors/accrual.json. The first period, from the start date, is valued at the first call's
// values: the opening exchange is not valued on the ledger.

// FeeTerms is the lending fee the borrower pays.
type FeeTerms struct {
	Bps     string `json:"bps"`               // per annum, on the loan's market value
	Minimum string `json:"minimum,omitempty"` // per monthly invoice, base currency
}

// RebateTerms is the rebate the lender pays on cash collateral: Fixed (percent per annum), or
// Benchmark (its fixing, posted with the prices) plus SpreadBps.
type RebateTerms struct {
	Fixed     string `json:"fixed,omitempty"`
	Benchmark string `json:"benchmark,omitempty"`
	SpreadBps string `json:"spreadBps,omitempty"`
}

// AccrualState is where an agreement's accrual stands: the open period's start and the values
// found then, and the month-to-date totals not yet invoiced.
type AccrualState struct {
	From      string                   `json:"from"`
	LoanValue string                   `json:"loanValue"`
	CashValue string                   `json:"cashValue"`
	Fixing    string                   `json:"fixing,omitempty"`
	Months    map[string]*MonthAccrual `json:"months,omitempty"` // "2025-06" -> totals
}

// MonthAccrual is a month's accrued totals of one agreement, exact.
type MonthAccrual struct {
	Fee    string `json:"fee"`
	Rebate string `json:"rebate"`
	Days   int    `json:"days"`
}

// AccrualLine is one accrued period, as a margin call or step records it.
type AccrualLine struct {
	From       string `json:"from"`
	To         string `json:"to"`
	Days       int    `json:"days"`
	LoanValue  string `json:"loanValue"`
	CashValue  string `json:"cashValue"`
	FeeRate    string `json:"feeRate"`
	RebateRate string `json:"rebateRate"`
	Fee        string `json:"fee"`
	Rebate     string `json:"rebate"`
}

// hasEconomics says whether the terms accrue anything.
func (terms *Terms) hasEconomics() bool { return terms.Fee != nil || terms.Rebate != nil }

// accruer builds the engine's accrual terms of an agreement (validated at proposal).
func accruer(terms *Terms) (*margin.Accruer, error) {
	at := margin.AccrualTerms{Currency: terms.BaseCurrency, DayCount: margin.DayCount(terms.DayCount)}
	if terms.Fee != nil {
		at.FeeBps, at.MinimumFee = terms.Fee.Bps, terms.Fee.Minimum
	}
	if terms.Rebate != nil {
		at.RebateFixed, at.RebateBenchmark, at.RebateSpreadBps = terms.Rebate.Fixed, terms.Rebate.Benchmark, terms.Rebate.SpreadBps
	}
	return margin.NewAccrualTerms(at)
}

// accruerOf is accruer, built once per transaction for each distinct set of economic terms (a
// sweep accrues a thousand agreements that mostly share them).
func (t *txn) accruerOf(terms *Terms) (*margin.Accruer, error) {
	key := terms.BaseCurrency + "|" + terms.DayCount
	if f := terms.Fee; f != nil {
		key += "|" + f.Bps + "|" + f.Minimum
	}
	if r := terms.Rebate; r != nil {
		key += "|" + r.Fixed + "|" + r.Benchmark + "|" + r.SpreadBps
	}
	if acc, ok := t.accruers[key]; ok {
		return acc, nil
	}
	acc, err := accruer(terms)
	if err != nil {
		return nil, err
	}
	if t.accruers == nil {
		t.accruers = map[string]*margin.Accruer{}
	}
	t.accruers[key] = acc
	return acc, nil
}

// accrualValues are what a period accrues on: the loan's market value, the cash collateral's value
// (both in the base currency) and the benchmark fixing.
type accrualValues struct {
	loan, cash *big.Rat
	fixing     string
}

// valuesAt values an agreement for accrual from a pricing of its tokens (the call's or the step's):
// V_L and Σ cash-token positions × unit value.
func valuesAt(a *Agreement, ma *margin.Agreement, pricing *margin.Pricing, prices *PriceSet, held map[string]int64, loanQty int64) accrualValues {
	v := accrualValues{loan: new(big.Rat).Mul(pricing.LoanUnit, new(big.Rat).SetInt64(loanQty)), cash: new(big.Rat)}
	tmp := new(big.Rat)
	for i, leg := range a.Terms.Collateral {
		if q := held[leg.Token]; q > 0 && ma.CollateralToken(i).Kind == margin.KindCT {
			v.cash.Add(v.cash, tmp.Mul(pricing.Unit[i], new(big.Rat).SetInt64(q)))
		}
	}
	if a.Terms.Rebate != nil && a.Terms.Rebate.Benchmark != "" {
		v.fixing = prices.Rates[a.Terms.Rebate.Benchmark]
	}
	return v
}

// accrueTo accrues agreement a's open period up to date at the values found at its start, then
// opens the next period at date with next (nil: the close, no next period). It returns the lines.
func (t *txn) accrueTo(a *Agreement, date string, next *accrualValues) ([]AccrualLine, error) {
	if !a.Terms.hasEconomics() {
		return nil, nil
	}
	c, err := t.custodyToChange(a)
	if err != nil {
		return nil, err
	}
	// copy on write: a savepoint keeps the entry's previous state by pointer
	st := &AccrualState{Months: map[string]*MonthAccrual{}}
	if c.Accrual != nil {
		*st = *c.Accrual
		st.Months = make(map[string]*MonthAccrual, len(c.Accrual.Months))
		for k, v := range c.Accrual.Months {
			st.Months[k] = v
		}
	} else if next != nil {
		// the first period, from the start date, at the first values found
		st.From, st.LoanValue, st.CashValue, st.Fixing = a.Terms.StartDate, next.loan.RatString(), next.cash.RatString(), next.fixing
	} else {
		return nil, nil
	}
	if st.Fixing == "" && next != nil {
		st.Fixing = next.fixing
	}
	lines := []AccrualLine{}
	if date > st.From {
		if a.Terms.Rebate != nil && a.Terms.Rebate.Benchmark != "" && st.Fixing == "" {
			return nil, fmt.Errorf("missing_price: no fixing of %s posted for %s, which agreement %s's rebate accrues at", a.Terms.Rebate.Benchmark, st.From, a.ID)
		}
		acc, err := t.accruerOf(&a.Terms)
		if err != nil {
			return nil, err
		}
		for from := st.From; from < date; {
			to := min(date, nextMonth(from))
			line, err := acc.Accrue(margin.Period{From: from, To: to, LoanValue: st.LoanValue, CashValue: st.CashValue, Fixing: st.Fixing})
			if err != nil {
				return nil, fmt.Errorf("accrual of agreement %s from %s to %s: %w", a.ID, from, to, err)
			}
			month := from[:7]
			prev := st.Months[month]
			fee, rebate, days := new(big.Rat), new(big.Rat), 0
			if prev != nil {
				fee, _ = new(big.Rat).SetString(prev.Fee)
				rebate, _ = new(big.Rat).SetString(prev.Rebate)
				days = prev.Days
			}
			st.Months[month] = &MonthAccrual{Fee: fee.Add(fee, line.Fee).RatString(), Rebate: rebate.Add(rebate, line.Rebate).RatString(), Days: days + int(line.Days)}
			lines = append(lines, AccrualLine{From: from, To: to, Days: int(line.Days), LoanValue: st.LoanValue, CashValue: st.CashValue,
				FeeRate: line.FeeRate.RatString(), RebateRate: line.RebateRate.RatString(), Fee: line.Fee.RatString(), Rebate: line.Rebate.RatString()})
			from = to
		}
		st.From = date
	}
	if next != nil {
		st.LoanValue, st.CashValue = next.loan.RatString(), next.cash.RatString()
		if next.fixing != "" {
			st.Fixing = next.fixing // a date without a fixing keeps the last one
		}
	}
	c.Accrual = st
	return lines, nil
}

// nextMonth is the first day of the month after the one date is in.
func nextMonth(date string) string {
	d, err := time.Parse(isoDate, date)
	if err != nil {
		return date
	}
	return time.Date(d.Year(), d.Month()+1, 1, 0, 0, 0, 0, time.UTC).Format(isoDate)
}

// parseEconomics validates the fee, rebate and day count of proposed terms with the engine.
func parseEconomics(terms *Terms) error {
	if terms.Fee != nil && terms.Fee.Bps == "" {
		return fmt.Errorf("invalid fee: bps is required (basis points per annum on the loan's market value)")
	}
	if terms.Rebate != nil && terms.Rebate.Fixed == "" && terms.Rebate.Benchmark == "" {
		return fmt.Errorf("invalid rebate: give fixed (percent per annum) or benchmark (with spreadBps)")
	}
	if !terms.hasEconomics() {
		if terms.DayCount != "" {
			return fmt.Errorf("invalid dayCount: the terms have no fee or rebate to accrue")
		}
		return nil
	}
	if _, err := accruer(terms); err != nil {
		var me *margin.Error
		if errors.As(err, &me) {
			return fmt.Errorf("invalid fee or rebate terms: %s", me.Message)
		}
		return err
	}
	return nil
}
