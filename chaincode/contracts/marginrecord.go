package contracts

import "tanpo/chaincode/margin"

// storedMarginCall is a margin-call record as stored: one is written per agreement and day, so a
// sweep's write volume (and the state database's compaction work) is mostly these records. It
// leaves out what its agreement or its own fields already say, and record() restores the full
// MarginCallRecord on every read:
//   - the parties and base currency (the agreement's);
//   - for the call's own transfers, from and to (given by the direction and the parties), the
//     trade date (the call's date) and the settle date (stored once, when it is not the call's
//     date);
//   - the call's own transfers again in Settled (no lag) or Pending (lagged): Own says which;
//   - empty lists and false flags.
type storedMarginCall struct {
	Agreement        string                `json:"agreement"`
	Date             string                `json:"date"`
	PriceVersion     int                   `json:"priceVersion"`
	Prices           map[string]string     `json:"prices"`
	FX               map[string]string     `json:"fx"`
	VL               string                `json:"vl"`
	VCBefore         string                `json:"vcBefore"`
	GapBefore        string                `json:"gapBefore"`
	Triggered        bool                  `json:"triggered,omitempty"`
	Transfers        []storedTransfer      `json:"transfers,omitempty"`
	SettleDate       string                `json:"settleDate,omitempty"` // of the call's transfers, when not its date
	Own              string                `json:"own,omitempty"`        // settled | pending: where the call's transfers are
	IssuanceRequired []MarginIssuance      `json:"issuanceRequired,omitempty"`
	Mints            []MarginMint          `json:"mints,omitempty"`
	VCAfter          string                `json:"vcAfter"`
	GapAfter         string                `json:"gapAfter"`
	Settled          []MarginTransfer      `json:"settled,omitempty"` // earlier calls' transfers settled by this one
	Pending          []MarginTransfer      `json:"pending,omitempty"` // earlier calls' transfers still pending
	Held             map[string]string     `json:"held"`
	Fails            []SettlementFail      `json:"fails,omitempty"`
	Accruals         []AccrualLine         `json:"accruals,omitempty"`
	Skipped          []margin.SkippedToken `json:"skipped,omitempty"`
	Breaches         []BreachRecord        `json:"breaches,omitempty"`
	Dispute          *CallDispute          `json:"dispute,omitempty"`
	Adjustments      []CallAdjustment      `json:"adjustments,omitempty"`
	CalledBy         string                `json:"calledBy"`
	TxID             string                `json:"txId"`
	Timestamp        string                `json:"timestamp"`
}

// storedTransfer is one of the call's own transfers without what record() restores.
type storedTransfer struct {
	Token       string `json:"token"`
	Quantity    string `json:"quantity"`
	Direction   string `json:"direction"`
	Value       string `json:"value"`
	MarketValue string `json:"marketValue"`
}

const (
	ownSettled = "settled"
	ownPending = "pending"
)

// storeMarginCall is the stored form of rec, a record just made by runMarginCall: the call's own
// transfers are the last entries of Settled (no lag) or of Pending (lagged).
func storeMarginCall(rec *MarginCallRecord) storedMarginCall {
	s := storedMarginCall{
		Agreement: rec.Agreement, Date: rec.Date, PriceVersion: rec.PriceVersion, Prices: rec.Prices, FX: rec.FX,
		VL: rec.VL, VCBefore: rec.VCBefore, GapBefore: rec.GapBefore, Triggered: rec.Triggered,
		IssuanceRequired: rec.IssuanceRequired, Mints: rec.Mints, VCAfter: rec.VCAfter, GapAfter: rec.GapAfter,
		Settled: rec.Settled, Pending: rec.Pending, Held: rec.Held, Fails: rec.Fails, Accruals: rec.Accruals,
		Skipped: rec.Skipped, Breaches: rec.Breaches, Dispute: rec.Dispute, Adjustments: rec.Adjustments,
		CalledBy: rec.CalledBy, TxID: rec.TxID, Timestamp: rec.Timestamp,
	}
	n := len(rec.Transfers)
	if n == 0 {
		return s
	}
	for _, tr := range rec.Transfers {
		s.Transfers = append(s.Transfers, storedTransfer{Token: tr.Token, Quantity: tr.Quantity, Direction: tr.Direction,
			Value: tr.Value, MarketValue: tr.MarketValue})
	}
	if settle := rec.Transfers[0].SettleDate; settle != rec.Date {
		s.SettleDate = settle
	}
	if len(rec.Settled) >= n && sameTransfers(rec.Settled[len(rec.Settled)-n:], rec.Transfers) {
		s.Own, s.Settled = ownSettled, rec.Settled[:len(rec.Settled)-n]
	} else if len(rec.Pending) >= n && sameTransfers(rec.Pending[len(rec.Pending)-n:], rec.Transfers) {
		s.Own, s.Pending = ownPending, rec.Pending[:len(rec.Pending)-n]
	}
	return s
}

func sameTransfers(a, b []MarginTransfer) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// record restores the full record of a call of agreement a.
func (s *storedMarginCall) record(a *Agreement) *MarginCallRecord {
	rec := &MarginCallRecord{
		Agreement: s.Agreement, Date: s.Date, Lender: a.Terms.Lender, Borrower: a.Terms.Borrower,
		BaseCurrency: a.Terms.BaseCurrency, PriceVersion: s.PriceVersion, Prices: s.Prices, FX: s.FX,
		VL: s.VL, VCBefore: s.VCBefore, GapBefore: s.GapBefore, Triggered: s.Triggered,
		Transfers: []MarginTransfer{}, IssuanceRequired: nonNil(s.IssuanceRequired), Mints: nonNil(s.Mints),
		VCAfter: s.VCAfter, GapAfter: s.GapAfter,
		Settled: append([]MarginTransfer{}, s.Settled...), Pending: append([]MarginTransfer{}, s.Pending...),
		Held: s.Held, Fails: nonNil(s.Fails), Accruals: nonNil(s.Accruals), Skipped: nonNil(s.Skipped),
		Breaches: nonNil(s.Breaches), Dispute: s.Dispute, Adjustments: s.Adjustments, CalledBy: s.CalledBy, TxID: s.TxID, Timestamp: s.Timestamp,
	}
	settle := s.Date
	if s.SettleDate != "" {
		settle = s.SettleDate
	}
	for _, st := range s.Transfers {
		tr := MarginTransfer{Token: st.Token, Quantity: st.Quantity, Direction: st.Direction, From: a.Terms.Borrower,
			To: a.Terms.Lender, Value: st.Value, MarketValue: st.MarketValue, TradeDate: s.Date, SettleDate: settle}
		if st.Direction != string(margin.BorrowerToLender) {
			tr.From, tr.To = a.Terms.Lender, a.Terms.Borrower
		}
		rec.Transfers = append(rec.Transfers, tr)
	}
	switch s.Own {
	case ownSettled:
		rec.Settled = append(rec.Settled, rec.Transfers...)
	case ownPending:
		rec.Pending = append(rec.Pending, rec.Transfers...)
	}
	if rec.Held == nil {
		rec.Held = map[string]string{}
	}
	return rec
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
