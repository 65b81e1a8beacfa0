package margin

import "time"

// PendingTransfer is a transfer computed on TradeDate that settles (or settled) on SettleDate.
type PendingTransfer struct {
	Transfer
	TradeDate  string `json:"tradeDate"`
	SettleDate string `json:"settleDate"`
	settleDay  time.Time
}

// MintRecord is an auto-issue mint in a Book's history.
type MintRecord struct {
	Date string `json:"date"`
	Mint
}

// IssuanceRecord is an issuance-required outcome in a Book's history.
type IssuanceRecord struct {
	Date string `json:"date"`
	IssuanceRequired
}

// DayResult is one day of a Book: the call, the transfers settled that day (earlier ones falling
// due, then — with lag 0 — the call's own), those still pending, and the settled positions after.
type DayResult struct {
	CallResult
	Settled   []PendingTransfer `json:"settled"`
	Pending   []PendingTransfer `json:"pending"`
	Positions Positions         `json:"positions"`
}

// Book replays one agreement day by day: positions held under it, both parties' free balances,
// pending transfers and the issuance/mint history. It is not safe for concurrent use.
//
// ApplyDay does, in order: check the date is after the last one; settle the pending transfers
// due on or before it (in the order they were computed); compute the margin call; credit
// auto-issue mints at once; then settle the call's transfers immediately (lag 0) or queue them
// for date + lag calendar days. A caller processing business days only gets a transfer settled on
// the first processed day on or after its due date.
//
// Pending transfers count in a new call as if settled (the call works on projected positions),
// so a lag of two or more days never calls the same gap twice and the borrower cannot pledge
// tokens already promised. With lag 1 (model 0 of the evaluation) the previous day's transfers
// settle before the call, so nothing is pending when a call is computed.
type Book struct {
	agreement          *Agreement
	held, bfree, lfree []int64
	pending            []PendingTransfer
	last               time.Time
	started            bool
	Mints              []MintRecord
	Issuances          []IssuanceRecord
}

// NewBook starts a book from positions p (validated against a).
func NewBook(a *Agreement, p Positions) (*Book, error) {
	if a == nil {
		return nil, errorf(ErrInvalidInput, "no agreement")
	}
	held, bfree, lfree, err := a.positionVectors(p)
	if err != nil {
		return nil, err
	}
	return &Book{agreement: a, held: held, bfree: bfree, lfree: lfree}, nil
}

// Positions returns the settled positions now (pending transfers not included).
func (b *Book) Positions() Positions { return b.agreement.positionsOf(b.held, b.bfree, b.lfree) }

// Pending returns the transfers not settled yet, in the order they were computed.
func (b *Book) Pending() []PendingTransfer { return append([]PendingTransfer{}, b.pending...) }

// ApplyDay settles what is due, runs m's margin call and applies or queues its transfers. On
// error the book is left exactly as it was.
func (b *Book) ApplyDay(m *Market) (*DayResult, error) {
	if m == nil {
		return nil, errorf(ErrInvalidInput, "no market")
	}
	a := b.agreement
	day := m.day
	if b.started && !day.After(b.last) {
		return nil, errorf(ErrInvalidInput, "date %s is not after the last processed date %s",
			m.Date, b.last.Format(dateLayout))
	}
	settleDay := day
	if a.lagDays > 0 {
		settleDay = day.AddDate(0, 0, a.lagDays)
		if settleDay.Year() > 9999 {
			return nil, errorf(ErrInvalidInput, "settlement date of %s is after 9999-12-31", m.Date)
		}
	}
	held := append([]int64{}, b.held...)
	bfree := append([]int64{}, b.bfree...)
	lfree := append([]int64{}, b.lfree...)

	settled := []PendingTransfer{}
	still := []PendingTransfer{}
	for _, p := range b.pending {
		if !p.settleDay.After(day) {
			if err := moveQty(held, bfree, a.index[p.Token], p.Quantity, p.Direction, p.Token); err != nil {
				return nil, err
			}
			settled = append(settled, p)
		} else {
			still = append(still, p)
		}
	}
	projHeld, projBfree := held, bfree
	if a.lagDays > 0 {
		projHeld = append([]int64{}, held...)
		projBfree = append([]int64{}, bfree...)
		for _, p := range still {
			if err := moveQty(projHeld, projBfree, a.index[p.Token], p.Quantity, p.Direction, p.Token); err != nil {
				return nil, err
			}
		}
	}
	pr, err := PriceAgreement(a, m)
	if err != nil {
		return nil, err
	}
	plan, err := planCall(a, pr, projHeld, projBfree)
	if err != nil {
		return nil, err
	}
	if plan.minted != 0 {
		token := a.collateral[0].ID
		if plan.direction == BorrowerToLender {
			if bfree[0], err = addInt64(bfree[0], plan.minted, "borrower free "+token); err != nil {
				return nil, err
			}
			if a.lagDays > 0 {
				if projBfree[0], err = addInt64(projBfree[0], plan.minted, "borrower free "+token); err != nil {
					return nil, err
				}
			}
		} else if lfree[0], err = addInt64(lfree[0], plan.minted, "lender free "+token); err != nil {
			return nil, err
		}
	}
	settleDate := settleDay.Format(dateLayout)
	for _, t := range plan.result.Transfers {
		if err := moveQty(projHeld, projBfree, a.index[t.Token], t.Quantity, t.Direction, t.Token); err != nil {
			return nil, err
		}
		rec := PendingTransfer{Transfer: t, TradeDate: m.Date, SettleDate: settleDate, settleDay: settleDay}
		if a.lagDays > 0 {
			still = append(still, rec)
		} else {
			settled = append(settled, rec)
		}
	}

	b.held, b.bfree, b.lfree, b.pending = held, bfree, lfree, still
	b.last, b.started = day, true
	for _, mint := range plan.result.Mints {
		b.Mints = append(b.Mints, MintRecord{Date: m.Date, Mint: mint})
	}
	for _, r := range plan.result.IssuanceRequired {
		b.Issuances = append(b.Issuances, IssuanceRecord{Date: m.Date, IssuanceRequired: r})
	}
	return &DayResult{
		CallResult: *plan.result,
		Settled:    settled,
		Pending:    append([]PendingTransfer{}, still...),
		Positions:  a.positionsOf(held, bfree, lfree),
	}, nil
}
