package contracts

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"

	"tanpo/chaincode/margin"
)

// MarginContract runs margin calls on the ledger with the pure engine of package margin: one call
// per (agreement, valuation date), on the latest prices posted for that date, settling lagged
// adjustments as they fall due.
//
// A call, in order: refuses a date without prices or with a needed price or FX rate missing
// (naming it); settles the agreement's pending adjustments due on or before the date; computes the
// call on the positions after that (with lag > 0, adjustments still pending count as if settled,
// as in margin.Book); credits auto-issue mints at once; settles the call's own transfers now (lag
// 0) or stores them as pending for date + lag days; records everything under
// tanpo.margincall [agreement, date]. Calling again for the same agreement and date returns the
// record (replayed = true) and changes nothing.
type MarginContract struct {
	contractapi.Contract
}

// ContractMargin is the margin contract's name.
const ContractMargin = "margin"

// Outcome statuses of a sweep. A failed agreement's call (a missing price, a short balance, an
// unknown agreement) is undone inside the batch, and the batch goes on.
const (
	SweepCalled   = "called"
	SweepReplayed = "replayed"
	SweepSkipped  = "skipped"
	SweepFailed   = "failed"
)

// MarginTransfer is one collateral adjustment of a margin call. Values are exact rationals in the
// base currency ("n" or "n/d"): Value after haircut, MarketValue before.
type MarginTransfer struct {
	Token       string `json:"token"`
	Quantity    string `json:"quantity"`
	Direction   string `json:"direction"` // borrower->lender | lender->borrower
	From        string `json:"from"`
	To          string `json:"to"`
	Value       string `json:"value"`
	MarketValue string `json:"marketValue"`
	TradeDate   string `json:"tradeDate"`  // the call that computed it
	SettleDate  string `json:"settleDate"` // when it settles (= tradeDate with no lag)
}

// MarginIssuance is an issuance-required outcome: Party (in Role) ran out of adjustment tokens and
// Value (base currency, after haircut) stays uncovered (borrower) or unreturned (lender) until
// tokens are issued. Token is CT1, the token auto-issue would mint.
type MarginIssuance struct {
	Party string `json:"party"`
	Role  string `json:"role"` // borrower | lender
	Token string `json:"token"`
	Value string `json:"value"`
}

// MarginMint is a token auto-issued inside the call (agreement option autoIssue).
type MarginMint struct {
	Party    string `json:"party"`
	Role     string `json:"role"`
	Token    string `json:"token"`
	Quantity string `json:"quantity"`
	Supply   string `json:"supply"` // total supply of the token after the mint
}

// MarginCallRecord is everything one margin call did.
type MarginCallRecord struct {
	Agreement        string                `json:"agreement"`
	Date             string                `json:"date"`
	Lender           string                `json:"lender"`
	Borrower         string                `json:"borrower"`
	BaseCurrency     string                `json:"baseCurrency"`
	PriceVersion     int                   `json:"priceVersion"` // version of the date's prices used
	Prices           map[string]string     `json:"prices"`       // security prices used
	FX               map[string]string     `json:"fx"`           // rate used from each token currency to base
	VL               string                `json:"vl"`
	VCBefore         string                `json:"vcBefore"`
	GapBefore        string                `json:"gapBefore"`
	Triggered        bool                  `json:"triggered"`
	Transfers        []MarginTransfer      `json:"transfers"` // this call's adjustments
	IssuanceRequired []MarginIssuance      `json:"issuanceRequired"`
	Mints            []MarginMint          `json:"mints"`
	VCAfter          string                `json:"vcAfter"`
	GapAfter         string                `json:"gapAfter"`
	Settled          []MarginTransfer      `json:"settled"`               // settled by this transaction: earlier ones due, then this call's own (lag 0)
	Pending          []MarginTransfer      `json:"pending"`               // still pending afterwards
	Held             map[string]string     `json:"held"`                  // collateral held under the agreement afterwards
	Fails            []SettlementFail      `json:"fails"`                 // lagged settlements due that could not settle: still pending, retried next cycle
	Accruals         []AccrualLine         `json:"accruals"`              // fees and rebates accrued since the previous call (economics.go)
	Skipped          []margin.SkippedToken `json:"skipped"`               // tokens a top-up passed over (ineligible, or at a cap)
	Breaches         []BreachRecord        `json:"breaches"`              // caps still exceeded after the call (prices moved)
	Dispute          *CallDispute          `json:"dispute,omitempty"`     // disputes.go
	Adjustments      []CallAdjustment      `json:"adjustments,omitempty"` // re-runs at corrected prices
	CalledBy         string                `json:"calledBy"`              // party; the caller's certificate is in the transaction
	TxID             string                `json:"txId"`
	Timestamp        string                `json:"timestamp"`
	Replayed         bool                  `json:"replayed"` // true when returned from the record of an earlier call
}

// SettlementFail is a lagged margin settlement due that could not settle because the delivering
// party lacked Missing of the tokens: it stays pending and the next cycle tries again.
type SettlementFail struct {
	MarginTransfer
	DueDate string `json:"dueDate"`
	Missing string `json:"missing"`
}

// marginCallEvent names the agreement and date of a margin call; the record is private to the
// agreement's parties (GetMarginCall).
type marginCallEvent struct {
	Event
	Agreement string `json:"agreement"`
	Date      string `json:"date"`
}

// CallReceipt is what MarginCall returns: the call's agreement, date and whether it ran now
// (called) or had run before (replayed). Its parties read the record with GetMarginCall.
type CallReceipt struct {
	Agreement string `json:"agreement"`
	Date      string `json:"date"`
	Status    string `json:"status"` // called | replayed
	TxID      string `json:"txId"`   // the transaction that ran the call
}

// GetEvaluateTransactions tags the read-only functions in the metadata.
func (c *MarginContract) GetEvaluateTransactions() []string {
	return []string{"GetMarginCall", "ListMarginCalls", "LastSweptDate", "SweepPlan", "GetSweepFailure"}
}

// MarginCall runs the margin call of one agreement for a valuation date (the oracle, or a party to
// the agreement). A second call for the same agreement and date returns the recorded result.
func (c *MarginContract) MarginCall(ctx contractapi.TransactionContextInterface, agreementID, date string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireMarginCaller(); err != nil {
		return "", err
	}
	if t.caller.operatorSide() {
		// the operator names the pair (without it no agreement would be found, which would
		// read as "no agreement X")
		if _, err := t.requirePairHint("MarginCall"); err != nil {
			return "", err
		}
	}
	a, err := t.agreementFor(agreementID, t.loadAgreement)
	if err != nil {
		return "", err
	}
	if err := validateDate("date", date); err != nil {
		return "", err
	}
	if rec, err := t.recordedCall(a, date); err != nil || rec != nil {
		if err != nil {
			return "", err
		}
		return t.finish(CallReceipt{Agreement: a.ID, Date: date, Status: SweepReplayed, TxID: rec.TxID})
	}
	prices, err := t.pricesFor(date)
	if err != nil {
		return "", err
	}
	if reason, err := t.marginable(a, date); err != nil {
		return "", err
	} else if reason != "" {
		return "", errors.New(reason)
	}
	rec, err := t.runMarginCall(a, date, prices, nil)
	if err != nil {
		return "", err
	}
	if err := t.emit(marginCallEvent{Event: t.event(EventMarginCall), Agreement: a.ID, Date: date}); err != nil {
		return "", err
	}
	return t.finish(CallReceipt{Agreement: a.ID, Date: date, Status: SweepCalled, TxID: rec.TxID})
}

// beginMarginDate starts a margin transaction on a valuation date: the caller may run margin
// calls (the oracle, or a party for its own agreements) and the date is valid.
func beginMarginDate(ctx contractapi.TransactionContextInterface, date string) (*txn, error) {
	t, err := begin(ctx)
	if err != nil {
		return nil, err
	}
	if err := t.requireMarginCaller(); err != nil {
		return nil, err
	}
	if err := validateDate("date", date); err != nil {
		return nil, err
	}
	return t, nil
}

// GetMarginCall returns the record of the margin call of an agreement on a date. Its parties only.
func (c *MarginContract) GetMarginCall(ctx contractapi.TransactionContextInterface, agreementID, date string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireBilateralReader(); err != nil {
		return "", err
	}
	a, err := t.agreementFor(agreementID, t.loadAgreement)
	if err != nil {
		return "", err
	}
	if err := validateDate("date", date); err != nil {
		return "", err
	}
	rec, err := t.loadMarginCall(a, date)
	if err != nil {
		return "", err
	}
	if rec == nil {
		return "", fmt.Errorf("no margin call of agreement %s on %s", a.ID, date)
	}
	return t.finish(rec)
}

// ListMarginCalls lists the margin calls of an agreement in date order, one page at a time. Its
// parties only.
func (c *MarginContract) ListMarginCalls(ctx contractapi.TransactionContextInterface, agreementID, pageSize, bookmark string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireBilateralReader(); err != nil {
		return "", err
	}
	a, err := t.agreementFor(agreementID, t.loadAgreement)
	if err != nil {
		return "", err
	}
	if a.Book == "" { // never approved: no calls
		return t.finish(Page[MarginCallRecord]{Items: []MarginCallRecord{}})
	}
	// the call books of its custody book, one per date, in date order
	page, err := listPrivatePage(t, []string{a.coll()}, keyCallBook, []string{a.Book}, pageSize, bookmark, func(_, _ string, v []byte) (MarginCallRecord, bool, error) {
		var cb CallBook
		if err := json.Unmarshal(v, &cb); err != nil {
			return MarginCallRecord{}, false, fmt.Errorf("corrupt call book: %w", err)
		}
		rec := cb.Calls[a.ID]
		if rec == nil {
			return MarginCallRecord{}, false, nil
		}
		return *rec.record(a), true, nil
	})
	if err != nil {
		return "", err
	}
	return t.finish(page)
}

// LastSweptDate returns the latest date whose oracle sweep reached the end of the agreement list
// ("" when none). Any registered identity.
func (c *MarginContract) LastSweptDate(ctx contractapi.TransactionContextInterface) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireRegistered(); err != nil {
		return "", err
	}
	last, err := t.lastSweptDate()
	if err != nil {
		return "", err
	}
	return t.finish(last)
}

// DateRecord is a stored date (the latest sweep); LastSweptDate returns it.
type DateRecord struct {
	Date string `json:"date"`
}

// requireMarginCaller admits the oracle and party identities (a party is further checked against
// each agreement).
func (t *txn) requireMarginCaller() error {
	if t.caller.hasRole(RoleOracle) {
		return nil
	}
	if t.caller.identity == nil {
		if t.caller.admin {
			return fmt.Errorf("access denied: the caller (%s) does not have the %s or %s role", t.caller.describe(), RoleOracle, RoleParty)
		}
		return t.caller.notRegistered()
	}
	if !t.caller.hasRole(RoleParty) {
		return fmt.Errorf("access denied: %s (party %s) does not have the %s or %s role", t.caller.subject, t.caller.identity.PartyID, RoleOracle, RoleParty)
	}
	return nil
}

// pricesFor reads the latest prices of a date or refuses.
func (t *txn) pricesFor(date string) (*PriceSet, error) {
	prices, err := t.loadPrices(date, 0)
	if err != nil {
		return nil, err
	}
	if prices == nil {
		return nil, fmt.Errorf("no prices posted for %s: post them (oracle:PostPrices) before margin calls", date)
	}
	return prices, nil
}

// marginable returns why agreement a cannot have a margin call on date ("" if it can).
func (t *txn) marginable(a *Agreement, date string) (string, error) {
	if a.Status != StatusActive && a.Status != StatusMatured {
		return fmt.Sprintf("agreement %s is %s, not %s", a.ID, a.Status, StatusActive), nil
	}
	// The first check is the day after the start date: on the start date the opening exchange
	// balanced the agreement at that day's prices (DESIGN §1: day 0 opens, checks follow).
	if date <= a.Terms.StartDate {
		return fmt.Sprintf("%s is not after the start date %s of agreement %s (the opening exchange balanced it)", date, a.Terms.StartDate, a.ID), nil
	}
	// a MATURED agreement is margined until it closes; an ACTIVE one up to its maturity, where
	// the daily cycle closes it or makes it MATURED
	if due := a.maturity(); a.Status == StatusActive && due != "" && date > due {
		return fmt.Sprintf("%s is after the end date %s of agreement %s", date, due, a.ID), nil
	}
	last, err := t.lastMarginDate(a)
	if err != nil {
		return "", err
	}
	if last != "" && date <= last {
		return fmt.Sprintf("agreement %s already had a margin call on %s: calls run in date order", a.ID, last), nil
	}
	return "", nil
}

// recordedCall returns agreement a's margin-call record for date, if any. The custody book's
// latest call date answers without reading the record's key when the agreement was last called
// before date (calls run in date order): absent keys are the state database's costliest reads,
// and a sweep would otherwise make one per agreement on every endorsing and validating peer.
func (t *txn) recordedCall(a *Agreement, date string) (*MarginCallRecord, error) {
	last, err := t.lastMarginDate(a)
	if err != nil || last < date {
		return nil, err
	}
	return t.loadMarginCall(a, date)
}

func (t *txn) loadMarginCall(a *Agreement, date string) (*MarginCallRecord, error) {
	rec, err := t.storedCall(a, date)
	if err != nil || rec == nil {
		return nil, err
	}
	return rec.record(a), nil
}

func (t *txn) lastSweptDate() (DateRecord, error) {
	key, err := t.key(keyMeta, "lastSweptDate")
	if err != nil {
		return DateRecord{}, err
	}
	var last DateRecord
	if _, err := t.getJSON(key, &last); err != nil {
		return DateRecord{}, err
	}
	return last, nil
}

// engineAgreement builds the margin engine's view of an agreement from its terms and token
// definitions.
func (t *txn) engineAgreement(a *Agreement, cache *marginCache) (*margin.Agreement, error) {
	ids := make([]string, 0, 1+len(a.Terms.Collateral))
	ids = append(ids, a.Terms.Loan.Token)
	for _, leg := range a.Terms.Collateral {
		ids = append(ids, leg.Token)
	}
	tokens := make([]margin.Token, 0, len(ids))
	for _, id := range ids {
		tok, err := t.engineToken(id, cache)
		if err != nil {
			return nil, err
		}
		if tok.minimalUnit != "1" {
			return nil, fmt.Errorf("cannot margin agreement %s: token %s has minimalUnit %s, but the margin engine values one token unit at one price unit (a cash token at 1 %s)",
				a.ID, id, tok.minimalUnit, tok.token.Currency)
		}
		tokens = append(tokens, tok.token)
	}
	loanQty, err := parseStoredQuantity(a.Terms.Loan.Quantity)
	if err != nil {
		return nil, err
	}
	terms := margin.Terms{
		Base:        a.Terms.BaseCurrency,
		Loan:        margin.LoanLeg{Token: a.Terms.Loan.Token, Quantity: loanQty},
		Collateral:  ids[1:],
		Mode:        margin.Mode(a.Terms.Mode),
		Haircut:     a.Terms.Haircut,
		Haircuts:    map[string]string{},
		Threshold:   a.Terms.Threshold,
		MinTransfer: a.Terms.MinimumTransferAmount,
		LagDays:     a.Terms.SettlementLagDays,
		AutoIssue:   a.Terms.AutoIssue,
	}
	for _, leg := range a.Terms.Collateral {
		if leg.Haircut != "" {
			terms.Haircuts[leg.Token] = leg.Haircut
		}
	}
	if terms.Schedule, err = t.scheduleOf(&a.Terms); err != nil {
		return nil, err
	}
	if terms.Schedule != nil {
		// a schedule reads each token's asset class, rating and issuer
		for i := range tokens {
			def, _, err := t.loadToken(tokens[i].ID)
			if err != nil {
				return nil, err
			}
			tokens[i].AssetClass, tokens[i].Rating, tokens[i].Issuer = def.AssetClass, def.CreditRating, def.Issuer
		}
	}
	ma, err := margin.NewAgreement(tokens, terms)
	if err != nil {
		return nil, fmt.Errorf("cannot margin agreement %s: %w", a.ID, err)
	}
	return ma, nil
}

// partyOf maps an engine role to the agreement's party.
func partyOf(a *Agreement, role margin.Party) string {
	if role == margin.Lender {
		return a.Terms.Lender
	}
	return a.Terms.Borrower
}

// applyMarginTransfer settles one adjustment on the ledger.
func (t *txn) applyMarginTransfer(a *Agreement, tr MarginTransfer) error {
	q, err := parseStoredQuantity(tr.Quantity)
	if err != nil {
		return err
	}
	if tr.Direction == string(margin.BorrowerToLender) {
		return t.deliverCollateral(a, tr.Token, q)
	}
	return t.returnCollateral(a, tr.Token, q)
}

// settleDue settles the agreement's pending adjustments due on or before date (in due-date order)
// and returns them, those still pending, and those that could not settle for want of tokens (kept
// pending: the next cycle tries again).
func (t *txn) settleDue(a *Agreement, date string) (settled, still []MarginTransfer, fails []SettlementFail, err error) {
	settled, still, fails = []MarginTransfer{}, []MarginTransfer{}, []SettlementFail{}
	pending, err := t.pendingOf(a)
	if err != nil || len(pending) == 0 {
		return settled, still, fails, err
	}
	var keep []Pending
	for _, p := range pending {
		if p.DueDate > date {
			still = append(still, p.Transfers...)
			keep = append(keep, p)
			continue
		}
		var failed []MarginTransfer
		for _, tr := range p.Transfers {
			missing, err := t.settlementShortfall(a, tr)
			if err != nil {
				return nil, nil, nil, err
			}
			if missing > 0 {
				failed = append(failed, tr)
				fails = append(fails, SettlementFail{MarginTransfer: tr, DueDate: p.DueDate, Missing: formatQuantity(missing)})
				continue
			}
			if err := t.applyMarginTransfer(a, tr); err != nil {
				return nil, nil, nil, fmt.Errorf("cannot settle the margin transfer of %s due %s under agreement %s: %w", tr.Token, p.DueDate, a.ID, err)
			}
			settled = append(settled, tr)
		}
		if failed != nil {
			still = append(still, failed...)
			keep = append(keep, Pending{Agreement: p.Agreement, CallDate: p.CallDate, DueDate: p.DueDate, Transfers: failed})
		}
	}
	c, err := t.custodyToChange(a)
	if err != nil {
		return nil, nil, nil, err
	}
	c.Pending = keep
	return settled, still, fails, nil
}

// settlementShortfall is how many tokens the delivering party lacks for a margin transfer: the
// borrower delivers from its free balance; the lender returns from custody, then (beyond what it
// holds) from its free balance.
func (t *txn) settlementShortfall(a *Agreement, tr MarginTransfer) (int64, error) {
	q, err := parseStoredQuantity(tr.Quantity)
	if err != nil {
		return 0, err
	}
	party := a.Terms.Borrower
	if tr.Direction != string(margin.BorrowerToLender) {
		held, err := t.position(a, tr.Token)
		if err != nil {
			return 0, err
		}
		party, q = a.Terms.Lender, q-min(max(held, 0), q)
	}
	if q == 0 {
		return 0, nil
	}
	have, err := t.freeBalance(party, tr.Token)
	if err != nil {
		return 0, err
	}
	return max(q-have, 0), nil
}

// marginCache holds what every margin call of one transaction on one date shares: the parsed
// market and the engine's view of each token. A batch (SweepAgreements) builds them once instead of
// once per agreement.
type marginCache struct {
	date   string
	market *margin.Market
	tokens map[string]cachedToken
}

type cachedToken struct {
	token       margin.Token
	minimalUnit string
}

func newMarginCache() *marginCache { return &marginCache{tokens: map[string]cachedToken{}} }

// engineToken reads a token definition once per transaction (per cache).
func (t *txn) engineToken(id string, cache *marginCache) (cachedToken, error) {
	if cache != nil {
		if tok, ok := cache.tokens[id]; ok {
			return tok, nil
		}
	}
	tok, _, err := t.loadToken(id)
	if err != nil {
		return cachedToken{}, err
	}
	ct := cachedToken{
		token:       margin.Token{ID: tok.ID, Kind: margin.TokenKind(tok.Kind), Currency: tok.Currency, Quote: margin.Quote(tok.QuoteConvention)},
		minimalUnit: tok.MinimalUnit,
	}
	if cache != nil {
		cache.tokens[id] = ct
	}
	return ct, nil
}

// marketFor parses the date's prices into the engine's market once per cache.
func (c *marginCache) marketFor(date string, prices *PriceSet) (*margin.Market, error) {
	if c != nil && c.market != nil && c.date == date {
		return c.market, nil
	}
	m, err := margin.NewMarket(date, prices.Prices, prices.FX)
	if err != nil {
		return nil, err
	}
	if c != nil {
		c.date, c.market = date, m
	}
	return m, nil
}

// runMarginCall performs one margin call (the checks of marginable already passed). cache may be
// nil; a batch passes one cache for all its calls on the date.
//
// It reads only the keys the call needs, so that calls of different borrowers never share a key:
// the borrower's free balances only when the collateral (with pending adjustments) is short of the
// loan, since only a shortfall draws on them; the lender's free balances never (the engine does
// not use them; returning more than is held, or redelivering a negative position, reads them when
// it moves tokens); the pending settlements only for an agreement with a settlement lag (a lag-0
// agreement never has any).
func (t *txn) runMarginCall(a *Agreement, date string, prices *PriceSet, cache *marginCache) (*MarginCallRecord, error) {
	fail := func(err error) error {
		return fmt.Errorf("cannot run the margin call of agreement %s on %s: %w", a.ID, date, err)
	}
	ma, err := t.engineAgreement(a, cache)
	if err != nil {
		return nil, err
	}
	market, err := cache.marketFor(date, prices)
	if err != nil {
		return nil, fail(err)
	}
	pricing, err := margin.PriceAgreement(ma, market)
	if err != nil {
		return nil, fail(err)
	}
	settled, still, fails := []MarginTransfer{}, []MarginTransfer{}, []SettlementFail{}
	if a.Terms.SettlementLagDays > 0 {
		if settled, still, fails, err = t.settleDue(a, date); err != nil {
			return nil, err
		}
	}
	pos, err := t.callPositions(a, still, pricing)
	if err != nil {
		return nil, fail(err)
	}
	res, err := margin.ComputeCall(ma, market, pos)
	if err != nil {
		return nil, fail(err)
	}

	settleDate := date
	if a.Terms.SettlementLagDays > 0 {
		d, err := parseDate("date", date)
		if err != nil {
			return nil, err
		}
		settleDate = d.AddDate(0, 0, a.Terms.SettlementLagDays).Format(isoDate)
	}
	rec := &MarginCallRecord{
		Agreement: a.ID, Date: date, Lender: a.Terms.Lender, Borrower: a.Terms.Borrower,
		BaseCurrency: a.Terms.BaseCurrency, PriceVersion: prices.Version,
		Prices: ratMap(res.Prices), FX: ratMap(res.FX),
		VL: res.VL.RatString(), VCBefore: res.VCBefore.RatString(), GapBefore: res.GapBefore.RatString(),
		Triggered: res.Triggered, Transfers: []MarginTransfer{}, IssuanceRequired: []MarginIssuance{},
		Mints: []MarginMint{}, VCAfter: res.VCAfter.RatString(), GapAfter: res.GapAfter.RatString(),
		Settled: settled, Pending: still, Held: map[string]string{}, Fails: fails, Accruals: []AccrualLine{},
		Skipped: nonNil(res.Skipped), Breaches: breachRecords(res.Breaches),
		CalledBy: t.caller.party(), TxID: t.txID, Timestamp: t.timestamp(),
	}
	ct1 := a.Terms.Collateral[0].Token
	for _, ir := range res.IssuanceRequired {
		rec.IssuanceRequired = append(rec.IssuanceRequired, MarginIssuance{
			Party: partyOf(a, ir.Party), Role: string(ir.Party), Token: ct1, Value: ir.Value.RatString()})
	}
	for _, m := range res.Mints {
		supply, err := t.mintInPair(a.coll(), partyOf(a, m.Party), m.Token, m.Quantity)
		if err != nil {
			return nil, fail(err)
		}
		rec.Mints = append(rec.Mints, MarginMint{Party: partyOf(a, m.Party), Role: string(m.Party), Token: m.Token,
			Quantity: formatQuantity(m.Quantity), Supply: formatQuantity(supply)})
	}
	for _, tr := range res.Transfers {
		mt := MarginTransfer{
			Token: tr.Token, Quantity: formatQuantity(tr.Quantity), Direction: string(tr.Direction),
			From: a.Terms.Borrower, To: a.Terms.Lender, Value: tr.Value.RatString(),
			MarketValue: tr.MarketValue.RatString(), TradeDate: date, SettleDate: settleDate,
		}
		if tr.Direction == margin.LenderToBorrower {
			mt.From, mt.To = a.Terms.Lender, a.Terms.Borrower
		}
		rec.Transfers = append(rec.Transfers, mt)
	}
	if len(rec.Transfers) > 0 {
		if a.Terms.SettlementLagDays == 0 {
			for _, tr := range rec.Transfers {
				if err := t.applyMarginTransfer(a, tr); err != nil {
					return nil, fail(err)
				}
				rec.Settled = append(rec.Settled, tr)
			}
		} else {
			if err := t.addPending(a, Pending{Agreement: a.ID, CallDate: date, DueDate: settleDate, Transfers: rec.Transfers}); err != nil {
				return nil, err
			}
			rec.Pending = append(rec.Pending, rec.Transfers...)
		}
	}
	for _, leg := range a.Terms.Collateral {
		held, err := t.position(a, leg.Token)
		if err != nil {
			return nil, err
		}
		rec.Held[leg.Token] = formatQuantity(held)
	}
	if a.Terms.hasEconomics() {
		held := make(map[string]int64, len(a.Terms.Collateral))
		for _, leg := range a.Terms.Collateral {
			if held[leg.Token], err = t.position(a, leg.Token); err != nil {
				return nil, err
			}
		}
		loanQty, err := parseStoredQuantity(a.Terms.Loan.Quantity)
		if err != nil {
			return nil, err
		}
		vals := valuesAt(a, ma, pricing, prices, held, loanQty)
		if rec.Accruals, err = t.accrueTo(a, date, &vals); err != nil {
			return nil, fail(err)
		}
	}
	if err := t.putMarginCall(a, rec); err != nil {
		return nil, err
	}
	if err := t.setLastMarginDate(a, date); err != nil {
		return nil, err
	}
	return rec, nil
}

// callPositions are the positions a margin call works on: what is held, with the adjustments still
// pending counted as if settled (margin.Book's projection), and — only when the collateral is short
// of the loan, since only a shortfall draws on them — the borrower's free balances less what it
// owes pending, floored at zero (it may have moved tokens since).
func (t *txn) callPositions(a *Agreement, still []MarginTransfer, pricing *margin.Pricing) (margin.Positions, error) {
	var err error
	pos := margin.Positions{Held: map[string]int64{}, BorrowerFree: map[string]int64{}, LenderFree: map[string]int64{}}
	for _, leg := range a.Terms.Collateral {
		if pos.Held[leg.Token], err = t.position(a, leg.Token); err != nil {
			return margin.Positions{}, err
		}
	}
	// Adjustments still pending count as if settled (margin.Book's projection); the borrower's
	// projected free balance is floored at zero (it may have moved tokens since).
	pendingQty := make([]int64, len(still))
	for i, tr := range still {
		q, err := parseStoredQuantity(tr.Quantity)
		if err != nil {
			return margin.Positions{}, err
		}
		if tr.Direction == string(margin.LenderToBorrower) {
			q = -q
		}
		pendingQty[i] = q
		if pos.Held[tr.Token], err = addQuantity(pos.Held[tr.Token], q); err != nil {
			return margin.Positions{}, err
		}
	}
	if short, err := collateralShort(a, pos.Held, pricing); err != nil {
		return margin.Positions{}, err
	} else if short {
		for _, leg := range a.Terms.Collateral {
			if pos.BorrowerFree[leg.Token], err = t.freeBalance(a.Terms.Borrower, leg.Token); err != nil {
				return margin.Positions{}, err
			}
		}
		for i, tr := range still {
			if pos.BorrowerFree[tr.Token], err = subQuantity(pos.BorrowerFree[tr.Token], pendingQty[i]); err != nil {
				return margin.Positions{}, err
			}
			pos.BorrowerFree[tr.Token] = max(pos.BorrowerFree[tr.Token], 0)
		}
	}
	return pos, nil
}

// collateralShort reports whether the haircut value of the collateral held is below the loan's
// value (g < 0): only then can the call draw on the borrower's free balances.
func collateralShort(a *Agreement, held map[string]int64, pricing *margin.Pricing) (bool, error) {
	if len(pricing.HaircutUnit) != len(a.Terms.Collateral) || pricing.LoanUnit == nil {
		return false, fmt.Errorf("internal error: pricing of agreement %s does not match its collateral", a.ID)
	}
	loanQty, err := parseStoredQuantity(a.Terms.Loan.Quantity)
	if err != nil {
		return false, err
	}
	vl := new(big.Rat).Mul(new(big.Rat).SetInt64(loanQty), pricing.LoanUnit)
	vc, tmp := new(big.Rat), new(big.Rat)
	for i, leg := range a.Terms.Collateral {
		vc.Add(vc, tmp.Mul(new(big.Rat).SetInt64(held[leg.Token]), pricing.HaircutUnit[i]))
	}
	return vc.Cmp(vl) < 0, nil
}

func ratMap(m map[string]*big.Rat) map[string]string {
	out := make(map[string]string, len(m))
	for _, k := range sortedKeys(m) {
		out[k] = m[k].RatString()
	}
	return out
}
