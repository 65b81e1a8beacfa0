package contracts

import (
	"fmt"
	"math/big"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"

	"tanpo/chaincode/margin"
)

// Disputes and price corrections.
//
// The party that must deliver under a margin call may dispute it with its own valuation (the
// haircut value it agrees to deliver) until the agreement's next call. The agreed part stands
// (it settled, or stays pending with a lag: market practice settles the undisputed part); the
// disputed part is held back — returned to the disputing party if it had settled, taken out of
// the pending settlement if not — in whole units, the call's last tokens first. The parties then
// settle it: the disputing party accepts the call's figure (the held-back part is delivered), or
// the other party accepts the disputed figure (nothing more moves). A price correction resolves it
// too: when the oracle corrects a date's prices after the calls ran, AdjustCalls re-runs each
// affected agreement's call at the corrected prices on its current positions and settles the
// difference, recorded against the correction's version; an open dispute of that call is then
// resolved by the correction. Only the latest call of an agreement can be disputed or adjusted:
// a later call already margined it at later prices.

// Dispute statuses and resolutions.
const (
	DisputeOpen     = "OPEN"
	DisputeResolved = "RESOLVED"

	ResolvedCallFigure    = "call"       // the disputing party accepted the call
	ResolvedDisputeFigure = "dispute"    // the other party accepted the disputed figure
	ResolvedByCorrection  = "correction" // a price correction re-ran the call
)

// CallDispute is a dispute of a margin call.
type CallDispute struct {
	By            string           `json:"by"`
	AgreedValue   string           `json:"agreedValue"`   // the haircut value the disputing party accepts
	DisputedValue string           `json:"disputedValue"` // the call's value minus the agreed value
	HeldBack      []MarginTransfer `json:"heldBack"`      // the disputed part, in whole units
	Note          string           `json:"note,omitempty"`
	Status        string           `json:"status"`
	Resolution    string           `json:"resolution,omitempty"`
	TxID          string           `json:"txId"`
	ResolvedTx    string           `json:"resolvedTx,omitempty"`
}

// CallAdjustment is a re-run of a call at corrected prices: what it moved, against which version.
type CallAdjustment struct {
	PriceVersion int              `json:"priceVersion"`
	GapBefore    string           `json:"gapBefore"`
	GapAfter     string           `json:"gapAfter"`
	Transfers    []MarginTransfer `json:"transfers"`
	TxID         string           `json:"txId"`
}

type disputeEvent struct {
	Event
	Agreement string `json:"agreement"`
	Date      string `json:"date"`
	Status    string `json:"status"`
}

// DisputeCall disputes the margin call of date (the delivering party, before the agreement's next
// call): agreedValue is the haircut value, in the base currency, it agrees to deliver.
func (c *MarginContract) DisputeCall(ctx contractapi.TransactionContextInterface, agreementID, date, agreedValue, note string) (string, error) {
	t, a, party, rec, err := beginOnCall(ctx, agreementID, date)
	if err != nil {
		return "", err
	}
	if len(rec.Transfers) == 0 {
		return "", fmt.Errorf("the margin call of agreement %s on %s moved nothing: there is nothing to dispute", a.ID, date)
	}
	deliverer := partyOf(a, margin.Borrower)
	if rec.Transfers[0].Direction == string(margin.LenderToBorrower) {
		deliverer = partyOf(a, margin.Lender)
	}
	if party != deliverer {
		return "", fmt.Errorf("access denied: only %s, which delivers under the margin call of agreement %s on %s, can dispute it", deliverer, a.ID, date)
	}
	if rec.Dispute != nil {
		return "", fmt.Errorf("%s already disputed the margin call of agreement %s on %s", rec.Dispute.By, a.ID, date)
	}
	if err := validateText("note", note, 512, false); err != nil {
		return "", err
	}
	agreed, agreedText, err := parseDecimal("agreedValue", agreedValue)
	if err != nil {
		return "", err
	}
	called := new(big.Rat)
	for _, tr := range rec.Transfers {
		called.Add(called, storedRat(tr.Value))
	}
	if agreed.Cmp(called) >= 0 {
		return "", fmt.Errorf("agreedValue %s is not below the call's value %s: there is nothing to dispute", agreedText, called.FloatString(2))
	}
	// the disputed value, in whole units of the call's tokens, last token first
	rest := new(big.Rat).Sub(called, agreed)
	held := []MarginTransfer{}
	for i := len(rec.Transfers) - 1; i >= 0 && rest.Sign() > 0; i-- {
		tr := rec.Transfers[i]
		q, err := parseStoredQuantity(tr.Quantity)
		if err != nil || q == 0 {
			continue
		}
		unit := new(big.Rat).Quo(storedRat(tr.Value), new(big.Rat).SetInt64(q))
		n := new(big.Int).Quo(new(big.Rat).Quo(rest, unit).Num(), new(big.Rat).Quo(rest, unit).Denom()).Int64()
		n = min(n, q)
		if n == 0 {
			continue
		}
		part := tr
		part.Quantity = formatQuantity(n)
		part.Value = new(big.Rat).Mul(unit, new(big.Rat).SetInt64(n)).RatString()
		part.MarketValue = new(big.Rat).Mul(new(big.Rat).Quo(storedRat(tr.MarketValue), new(big.Rat).SetInt64(q)), new(big.Rat).SetInt64(n)).RatString()
		held = append(held, part)
		rest.Sub(rest, storedRat(part.Value))
	}
	if len(held) == 0 {
		return "", fmt.Errorf("the disputed value %s is less than one unit of the call's tokens: nothing to hold back", new(big.Rat).Sub(called, agreed).FloatString(2))
	}
	if err := t.holdBack(a, rec, held); err != nil {
		return "", err
	}
	rec.Dispute = &CallDispute{By: party, AgreedValue: agreedText, DisputedValue: new(big.Rat).Sub(called, agreed).RatString(),
		HeldBack: held, Note: note, Status: DisputeOpen, TxID: t.txID}
	return t.saveCallChange(a, rec, "CALL_DISPUTED", fmt.Sprintf("%s: agreed %s of %s", date, agreedText, called.FloatString(2)), EventCallDisputed, DisputeOpen)
}

// ResolveDispute settles a disputed call: figure "call" (the disputing party accepts the call: the
// held-back part is delivered now) or "dispute" (the other party accepts the disputed figure).
func (c *MarginContract) ResolveDispute(ctx contractapi.TransactionContextInterface, agreementID, date, figure string) (string, error) {
	t, a, party, rec, err := beginOnCall(ctx, agreementID, date)
	if err != nil {
		return "", err
	}
	d := rec.Dispute
	if d == nil || d.Status != DisputeOpen {
		return "", fmt.Errorf("the margin call of agreement %s on %s has no open dispute", a.ID, date)
	}
	switch figure {
	case ResolvedCallFigure:
		if party != d.By {
			return "", fmt.Errorf("access denied: only %s, which disputed the call, can accept the call's figure", d.By)
		}
		for _, tr := range d.HeldBack {
			if err := t.applyMarginTransfer(a, tr); err != nil {
				return "", fmt.Errorf("cannot deliver the held-back part of the call: %w", err)
			}
		}
	case ResolvedDisputeFigure:
		if party == d.By {
			return "", fmt.Errorf("access denied: only %s can accept the disputed figure of %s", a.counterparty(d.By), d.By)
		}
	default:
		return "", fmt.Errorf("invalid figure %q: expected %s or %s", truncate(figure, 20), ResolvedCallFigure, ResolvedDisputeFigure)
	}
	d.Status, d.Resolution, d.ResolvedTx = DisputeResolved, figure, t.txID
	return t.saveCallChange(a, rec, "DISPUTE_RESOLVED", date+": "+figure+" figure", EventDisputeResolved, DisputeResolved)
}

// beginOnCall opens a step on the latest margin call of an agreement (a party of it).
func beginOnCall(ctx contractapi.TransactionContextInterface, agreementID, date string) (*txn, *Agreement, string, *MarginCallRecord, error) {
	t, a, party, err := beginOnAgreement(ctx, agreementID)
	if err != nil {
		return nil, nil, "", nil, err
	}
	if err := validateDate("date", date); err != nil {
		return nil, nil, "", nil, err
	}
	rec, err := t.loadMarginCall(a, date)
	if err != nil {
		return nil, nil, "", nil, err
	}
	if rec == nil {
		return nil, nil, "", nil, fmt.Errorf("no margin call of agreement %s on %s", a.ID, date)
	}
	last, err := t.lastMarginDate(a)
	if err != nil {
		return nil, nil, "", nil, err
	}
	if last != date {
		return nil, nil, "", nil, fmt.Errorf("a margin call of agreement %s ran on %s since the one on %s, at later prices", a.ID, last, date)
	}
	return t, a, party, rec, nil
}

// holdBack takes the disputed part out of the call: returned to the disputing party when the call
// settled, removed from the pending settlement when it waits for its lag.
func (t *txn) holdBack(a *Agreement, rec *MarginCallRecord, held []MarginTransfer) error {
	if a.Terms.SettlementLagDays == 0 {
		for _, tr := range held {
			back := tr
			back.From, back.To = tr.To, tr.From
			back.Direction = string(margin.BorrowerToLender)
			if tr.Direction == string(margin.BorrowerToLender) {
				back.Direction = string(margin.LenderToBorrower)
			}
			if err := t.applyMarginTransfer(a, back); err != nil {
				return fmt.Errorf("cannot hold back the disputed part: %w", err)
			}
		}
		return nil
	}
	c, err := t.custodyToChange(a)
	if err != nil {
		return err
	}
	left := map[string]int64{}
	for _, tr := range held {
		q, _ := parseStoredQuantity(tr.Quantity)
		left[tr.Token] += q
	}
	pending := make([]Pending, 0, len(c.Pending))
	for _, p := range c.Pending {
		if p.CallDate != rec.Date {
			pending = append(pending, p)
			continue
		}
		kept := Pending{Agreement: p.Agreement, CallDate: p.CallDate, DueDate: p.DueDate}
		for _, tr := range p.Transfers {
			q, _ := parseStoredQuantity(tr.Quantity)
			take := min(q, left[tr.Token])
			left[tr.Token] -= take
			if q-take > 0 {
				part := tr
				part.Quantity = formatQuantity(q - take)
				kept.Transfers = append(kept.Transfers, part)
			}
		}
		if len(kept.Transfers) > 0 {
			pending = append(pending, kept)
		}
	}
	c.Pending = pending
	return nil
}

// saveCallChange stores a changed call record, joins the step to the agreement's history and emits
// the step's event.
func (t *txn) saveCallChange(a *Agreement, rec *MarginCallRecord, step, note, event, status string) (string, error) {
	if err := t.putMarginCall(a, rec); err != nil {
		return "", err
	}
	t.record(a, step, note, nil)
	if err := t.putAgreement(a, a.Status); err != nil {
		return "", err
	}
	if err := t.emit(disputeEvent{Event: t.event(event), Agreement: a.ID, Date: rec.Date, Status: status}); err != nil {
		return "", err
	}
	return t.finish(CallReceipt{Agreement: a.ID, Date: rec.Date, Status: status, TxID: t.txID})
}

// AdjustStatus is one agreement's outcome in AdjustCalls.
type AdjustStatus struct {
	Agreement string `json:"agreement"`
	Status    string `json:"status"`           // adjusted | unaffected | failed
	Reason    string `json:"reason,omitempty"` // unaffected: no_call | later_call | no_correction; failed: a reason code
}

// AdjustCalls re-runs, at the corrected prices of date, the margin calls of the agreements listed
// (a JSON array of at most 1000 ids, in the pair named in tanpo.pair for the oracle) whose call on
// date used an earlier price version and is still their latest: the engine's call on the current
// positions at the latest version, settled at once, recorded in the call's adjustments against the
// version; an open dispute of the call is resolved by it. The others are unaffected.
func (c *MarginContract) AdjustCalls(ctx contractapi.TransactionContextInterface, date, agreementIDsJSON string) (string, error) {
	t, err := beginMarginDate(ctx, date)
	if err != nil {
		return "", err
	}
	ids, err := parseIDList("agreement ids", agreementIDsJSON)
	if err != nil {
		return "", err
	}
	if t.caller.operatorSide() {
		if _, err := t.requirePairHint("AdjustCalls"); err != nil {
			return "", err
		}
	}
	prices, err := t.pricesFor(date)
	if err != nil {
		return "", err
	}
	out := []AdjustStatus{}
	adjusted := []string{}
	for _, id := range ids {
		a, err := t.agreementFor(id, t.loadAgreement)
		if err != nil {
			return "", err
		}
		t.savepoint()
		st, err := t.adjustOne(a, date, prices)
		if err != nil {
			if isLedgerFault(err) {
				return "", err
			}
			t.rollback()
			st = AdjustStatus{Agreement: id, Status: SweepFailed, Reason: reasonCode(err)}
		} else {
			t.release()
		}
		if st.Status == "adjusted" {
			adjusted = append(adjusted, id)
		}
		out = append(out, st)
	}
	if len(adjusted) > 0 {
		if err := t.emit(adjustEvent{Event: t.event(EventCallsAdjusted), Date: date, Version: prices.Version, Adjusted: adjusted}); err != nil {
			return "", err
		}
	}
	return t.finish(out)
}

type adjustEvent struct {
	Event
	Date     string   `json:"date"`
	Version  int      `json:"version"`
	Adjusted []string `json:"adjusted"`
}

func (t *txn) adjustOne(a *Agreement, date string, prices *PriceSet) (AdjustStatus, error) {
	out := AdjustStatus{Agreement: a.ID, Status: "unaffected"}
	rec, err := t.loadMarginCall(a, date)
	if err != nil {
		return out, err
	}
	if rec == nil {
		out.Reason = "no_call"
		return out, nil
	}
	last, err := t.lastMarginDate(a)
	if err != nil {
		return out, err
	}
	if last != date {
		out.Reason = "later_call"
		return out, nil
	}
	version := rec.PriceVersion
	if n := len(rec.Adjustments); n > 0 {
		version = rec.Adjustments[n-1].PriceVersion
	}
	if prices.Version <= version {
		out.Reason = "no_correction"
		return out, nil
	}
	fail := func(err error) error {
		return fmt.Errorf("cannot adjust the margin call of agreement %s on %s: %w", a.ID, date, err)
	}
	cache := newMarginCache()
	ma, err := t.engineAgreement(a, cache)
	if err != nil {
		return out, err
	}
	market, err := cache.marketFor(date, prices)
	if err != nil {
		return out, fail(err)
	}
	pricing, err := margin.PriceAgreement(ma, market)
	if err != nil {
		return out, fail(err)
	}
	pending, err := t.pendingOf(a)
	if err != nil {
		return out, err
	}
	still := []MarginTransfer{}
	for _, p := range pending {
		still = append(still, p.Transfers...)
	}
	pos, err := t.callPositions(a, still, pricing)
	if err != nil {
		return out, fail(err)
	}
	res, err := margin.ComputeCall(ma, market, pos)
	if err != nil {
		return out, fail(err)
	}
	adj := CallAdjustment{PriceVersion: prices.Version, GapBefore: res.GapBefore.RatString(), GapAfter: res.GapAfter.RatString(),
		Transfers: []MarginTransfer{}, TxID: t.txID}
	for _, m := range res.Mints {
		if _, err := t.mintInPair(a.coll(), partyOf(a, m.Party), m.Token, m.Quantity); err != nil {
			return out, fail(err)
		}
	}
	for _, tr := range res.Transfers {
		mt := MarginTransfer{Token: tr.Token, Quantity: formatQuantity(tr.Quantity), Direction: string(tr.Direction),
			From: a.Terms.Borrower, To: a.Terms.Lender, Value: tr.Value.RatString(), MarketValue: tr.MarketValue.RatString(),
			TradeDate: date, SettleDate: date}
		if tr.Direction == margin.LenderToBorrower {
			mt.From, mt.To = a.Terms.Lender, a.Terms.Borrower
		}
		if err := t.applyMarginTransfer(a, mt); err != nil {
			return out, fail(err)
		}
		adj.Transfers = append(adj.Transfers, mt)
	}
	rec.Adjustments = append(rec.Adjustments, adj)
	if rec.Dispute != nil && rec.Dispute.Status == DisputeOpen {
		rec.Dispute.Status, rec.Dispute.Resolution, rec.Dispute.ResolvedTx = DisputeResolved, ResolvedByCorrection, t.txID
	}
	if err := t.putMarginCall(a, rec); err != nil {
		return out, err
	}
	out.Status = "adjusted"
	return out, nil
}

// storedRat parses a stored exact number (a record's own output).
func storedRat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return new(big.Rat)
	}
	return r
}
