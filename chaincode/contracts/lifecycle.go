package contracts

import (
	"errors"
	"fmt"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"

	"tanpo/chaincode/margin"
)

// The desk's day beyond margin calls (GMSLA practice): recalls by the lender, returns by the
// borrower, termination on notice, collateral substitution and buy-ins. Each is a bilateral step
// like Approve: arguments in the transient field, records in the pair's collection, a receipt and
// an id-only event. A dated step (return, substitution, buy-in, recall, notice) names its value
// date: on or before today in the business time zone, not before the start date nor before the
// agreement's latest margin call (steps and calls run in date order); the steps that value
// collateral use that date's posted prices. The arithmetic is the margin engine's (margin.ReturnLoan,
// margin.Substitute, margin.BuyIn), shared with the Python engine through golden vectors.
//
// Maturity and fails are the daily cycle's (SweepAgreements, see cycle.go).

// StatusMatured: the agreement reached its end date (or its notice's effective date) and the
// closing exchange could not settle; it is margined every day until it closes or is bought in.
const StatusMatured = "MATURED"

// Recall statuses.
const (
	RecallOpen     = "OPEN"      // due, not yet returned in full
	RecallSettled  = "SETTLED"   // returned in full
	RecallFailed   = "FAILED"    // not returned by its due date
	RecallBoughtIn = "BOUGHT_IN" // closed out by a buy-in
)

// Recall is the lender's call for the return of part or all of the loan by a due date.
type Recall struct {
	ID       string `json:"id"` // R1, R2, … within the agreement
	Date     string `json:"date"`
	Due      string `json:"due"`
	Quantity string `json:"quantity"`
	Returned string `json:"returned"`
	Status   string `json:"status"`
	FailedOn string `json:"failedOn,omitempty"` // the due date it failed on: its age counts from there
	TxID     string `json:"txId"`
	Note     string `json:"note,omitempty"`
}

// Notice is a party's notice terminating an open agreement on its effective date (the notice's
// date plus the terms' noticeDays).
type Notice struct {
	By        string `json:"by"`
	Date      string `json:"date"`
	Effective string `json:"effective"`
	TxID      string `json:"txId"`
	Note      string `json:"note,omitempty"`
}

// SubstitutionLeg is a token and quantity in a substitution.
type SubstitutionLeg struct {
	Token    string `json:"token"`
	Quantity string `json:"quantity"`
}

// Substitution is a collateral substitution: Out comes back to the borrower, In is delivered.
type Substitution struct {
	Out []SubstitutionLeg `json:"out"`
	In  []SubstitutionLeg `json:"in"`
}

// SubstitutionRequest is a substitution waiting for the lender's approval.
type SubstitutionRequest struct {
	Substitution
	Date string `json:"date"`
	TxID string `json:"txId"`
}

// BuyInRecord is a buy-in: the lender kept collateral worth the unreturned quantity at the date's
// prices (Owed, in the base currency, exact); Uncovered is what the collateral did not cover.
type BuyInRecord struct {
	Date      string         `json:"date"`
	Quantity  string         `json:"quantity"`
	Owed      string         `json:"owed"`
	Uncovered string         `json:"uncovered"`
	Kept      []StepTransfer `json:"kept"`
	TxID      string         `json:"txId"`
}

// StepTransfer is a collateral movement of a life-cycle step with its values on the step's date.
type StepTransfer struct {
	Token       string `json:"token"`
	Quantity    string `json:"quantity"`
	Direction   string `json:"direction"`
	Value       string `json:"value"`
	MarketValue string `json:"marketValue"`
}

// Fail is a settlement of the daily cycle that could not complete because a party lacked tokens:
// the closing exchange at maturity, retried every cycle.
type Fail struct {
	Date     string `json:"date"`
	Step     string `json:"step"` // close
	Party    string `json:"party"`
	Token    string `json:"token"`
	Quantity string `json:"quantity"` // needed
	Missing  string `json:"missing"`  // needed minus available
}

// lifecycleEvent is the event of a life-cycle step: ids and the step only.
type lifecycleEvent struct {
	Event
	Agreement string `json:"agreement"`
	Status    string `json:"status"`
	Party     string `json:"party"`
	Recall    string `json:"recall,omitempty"`
}

// Recall asks the borrower to return quantity units of the loan by dueDate (the lender only, while
// ACTIVE). date is the recall's date; dueDate is on or after it (the SDK proposes the security's
// settlement cycle). Recalls outstanding together cannot exceed the loan.
func (c *AgreementsContract) Recall(ctx contractapi.TransactionContextInterface, agreementID, quantity, date, dueDate, note string) (string, error) {
	t, a, err := beginLoanStep(ctx, agreementID, true, "recall")
	if err != nil {
		return "", err
	}
	if a.Status == StatusMatured {
		return "", fmt.Errorf("agreement %s has matured: the whole loan is due already", a.ID)
	}
	q, err := parseQuantity("quantity", quantity)
	if err != nil {
		return "", err
	}
	if err := t.stepDate(a, date); err != nil {
		return "", err
	}
	if err := validateDate("dueDate", dueDate); err != nil {
		return "", err
	}
	if dueDate < date {
		return "", fmt.Errorf("dueDate %s is before the recall's date %s", dueDate, date)
	}
	if err := validateText("note", note, 512, false); err != nil {
		return "", err
	}
	loan, err := parseStoredQuantity(a.Terms.Loan.Quantity)
	if err != nil {
		return "", err
	}
	outstanding, err := a.recalledOutstanding()
	if err != nil {
		return "", err
	}
	if q > loan-outstanding {
		return "", fmt.Errorf("cannot recall %d %s under agreement %s: the loan is %d and %d are already recalled, so at most %d", q, a.Terms.Loan.Token, a.ID, loan, outstanding, loan-outstanding)
	}
	r := Recall{ID: fmt.Sprintf("R%d", len(a.Recalls)+1), Date: date, Due: dueDate, Quantity: formatQuantity(q),
		Returned: "0", Status: RecallOpen, TxID: t.txID, Note: note}
	a.Recalls = append(a.Recalls, r)
	return t.saveLifecycle(a, a.Status, "RECALLED", fmt.Sprintf("%s: %d %s due %s", r.ID, q, a.Terms.Loan.Token, dueDate), EventRecallRequested, r.ID, nil, nil)
}

// Return is the borrower's return of quantity units of the loan on date (ACTIVE or MATURED; a term
// loan whose terms say noEarlyReturn only from its end date). The loan tokens go back to the
// lender; a part return releases the excess collateral in the same transaction (margin.ReturnLoan
// at the date's prices) and counts against open and failed recalls, oldest first; a full return
// closes the agreement with the closing exchange.
func (c *AgreementsContract) Return(ctx contractapi.TransactionContextInterface, agreementID, quantity, date string) (string, error) {
	t, a, err := beginLoanStep(ctx, agreementID, false, "return")
	if err != nil {
		return "", err
	}
	q, err := parseQuantity("quantity", quantity)
	if err != nil {
		return "", err
	}
	if err := t.stepDate(a, date); err != nil {
		return "", err
	}
	if a.Terms.NoEarlyReturn && a.Terms.EndDate != "" && date < a.Terms.EndDate {
		return "", fmt.Errorf("agreement %s does not allow early returns (noEarlyReturn): return from its end date %s", a.ID, a.Terms.EndDate)
	}
	loan, err := parseStoredQuantity(a.Terms.Loan.Quantity)
	if err != nil {
		return "", err
	}
	if q > loan {
		return "", fmt.Errorf("cannot return %d %s under agreement %s: the loan is %d", q, a.Terms.Loan.Token, a.ID, loan)
	}
	a.countReturned(q)
	if q == loan {
		return t.closeAgreement(a, "returned", "", date)
	}
	res, err := t.runStep(a, date, func(ma *margin.Agreement, m *margin.Market, p margin.Positions) (*margin.StepResult, error) {
		return margin.ReturnLoan(ma, m, p, q)
	})
	if err != nil {
		return "", err
	}
	if err := t.move(a.Terms.Borrower, a.Terms.Lender, a.Terms.Loan.Token, q); err != nil {
		return "", err
	}
	transfers := []Transfer{{Token: a.Terms.Loan.Token, Quantity: formatQuantity(q), From: a.Terms.Borrower, To: a.Terms.Lender, Leg: "loan"}}
	moved, lines, err := t.applyStep(a, res, date)
	if err != nil {
		return "", err
	}
	a.Terms.Loan.Quantity = formatQuantity(res.LoanAfter)
	return t.saveLifecycle(a, a.Status, "RETURNED", fmt.Sprintf("%d of %d %s returned on %s", q, loan, a.Terms.Loan.Token, date), EventLoanReturned, "", append(transfers, moved...), lines)
}

// GiveNotice terminates an open agreement (no end date) on notice, by either party alone: it ends
// noticeDays (terms) after date, and from then the daily cycle closes it like an agreement at its
// end date (or Close does).
func (c *AgreementsContract) GiveNotice(ctx contractapi.TransactionContextInterface, agreementID, date, note string) (string, error) {
	t, a, party, err := beginOnAgreement(ctx, agreementID)
	if err != nil {
		return "", err
	}
	if err := a.requireStatus(StatusActive); err != nil {
		return "", err
	}
	if a.Terms.EndDate != "" {
		return "", fmt.Errorf("agreement %s is a term loan ending on %s: notice applies to open loans (early termination needs both parties: RequestTermination)", a.ID, a.Terms.EndDate)
	}
	if a.Notice != nil {
		return "", fmt.Errorf("%s already gave notice on agreement %s: it ends on %s", a.Notice.By, a.ID, a.Notice.Effective)
	}
	if err := t.stepDate(a, date); err != nil {
		return "", err
	}
	if err := validateText("note", note, 512, false); err != nil {
		return "", err
	}
	d, err := parseDate("date", date)
	if err != nil {
		return "", err
	}
	effective := d.AddDate(0, 0, a.Terms.NoticeDays).Format(isoDate)
	a.Notice = &Notice{By: party, Date: date, Effective: effective, TxID: t.txID, Note: note}
	return t.saveLifecycle(a, a.Status, "NOTICE_GIVEN", "ends on "+effective, EventNoticeGiven, "", nil, nil)
}

// Substitute swaps collateral on date (the borrower only; ACTIVE or MATURED): substitutionJSON is
// {"out": [{"token","quantity"}], "in": [...]}, tokens among the agreement's collateral tokens (its
// eligible set). Refused with the figures when the collateral would be worth less than the loan at
// the date's prices. When the terms pre-authorise substitutions (substitutionPreAuthorised) it
// settles at once; otherwise it waits for the lender's ApproveSubstitution.
func (c *AgreementsContract) Substitute(ctx contractapi.TransactionContextInterface, agreementID, substitutionJSON, date string) (string, error) {
	t, a, err := beginLoanStep(ctx, agreementID, false, "substitute collateral")
	if err != nil {
		return "", err
	}
	if a.Substitution != nil {
		return "", fmt.Errorf("a substitution of agreement %s requested on %s is waiting for %s: it must be approved or cancelled first", a.ID, a.Substitution.Date, a.Terms.Lender)
	}
	var sub Substitution
	if err := strictJSON("substitution", substitutionJSON, 16*1024, &sub); err != nil {
		return "", err
	}
	if err := t.stepDate(a, date); err != nil {
		return "", err
	}
	res, err := t.substitution(a, sub, date)
	if err != nil {
		return "", err
	}
	if !a.Terms.SubstitutionPreAuthorised {
		a.Substitution = &SubstitutionRequest{Substitution: sub, Date: date, TxID: t.txID}
		return t.saveLifecycle(a, a.Status, "SUBSTITUTION_REQUESTED", describeSubstitution(sub), EventSubstitutionRequest, "", nil, nil)
	}
	moved, lines, err := t.applyStep(a, res, date)
	if err != nil {
		return "", err
	}
	return t.saveLifecycle(a, a.Status, "SUBSTITUTED", describeSubstitution(sub)+" (pre-authorised)", EventCollateralSubstituted, "", moved, lines)
}

// ApproveSubstitution settles the borrower's pending substitution (the lender only), checked again
// at the prices of the date it was requested for.
func (c *AgreementsContract) ApproveSubstitution(ctx contractapi.TransactionContextInterface, agreementID string) (string, error) {
	t, a, err := beginLoanStep(ctx, agreementID, true, "approve a substitution")
	if err != nil {
		return "", err
	}
	if a.Substitution == nil {
		return "", fmt.Errorf("no substitution of agreement %s is waiting for approval", a.ID)
	}
	req := a.Substitution
	last, err := t.lastMarginDate(a)
	if err != nil {
		return "", err
	}
	if last > req.Date {
		return "", fmt.Errorf("the substitution of agreement %s was requested for %s and a margin call ran on %s since: cancel it and request it again", a.ID, req.Date, last)
	}
	res, err := t.substitution(a, req.Substitution, req.Date)
	if err != nil {
		return "", err
	}
	moved, lines, err := t.applyStep(a, res, req.Date)
	if err != nil {
		return "", err
	}
	a.Substitution = nil
	return t.saveLifecycle(a, a.Status, "SUBSTITUTED", describeSubstitution(req.Substitution), EventCollateralSubstituted, "", moved, lines)
}

// CancelSubstitution withdraws (borrower) or declines (lender) a pending substitution.
func (c *AgreementsContract) CancelSubstitution(ctx contractapi.TransactionContextInterface, agreementID, reason string) (string, error) {
	t, a, _, err := beginOnAgreement(ctx, agreementID)
	if err != nil {
		return "", err
	}
	if a.Substitution == nil {
		return "", fmt.Errorf("no substitution of agreement %s is waiting for approval", a.ID)
	}
	if err := validateText("reason", reason, 512, false); err != nil {
		return "", err
	}
	a.Substitution = nil
	return t.saveLifecycle(a, a.Status, "SUBSTITUTION_CANCELLED", reason, EventSubstitutionCancel, "", nil, nil)
}

// BuyIn closes out, on date, what the borrower failed to return (the lender only): the unreturned
// part of failed recalls, or the whole loan of a MATURED agreement. The lender keeps collateral worth
// it at the date's prices (margin.BuyIn), the loan shrinks by it, and the rest of the collateral is
// released as for a return, all of it (closing the agreement) when nothing remains lent.
func (c *AgreementsContract) BuyIn(ctx contractapi.TransactionContextInterface, agreementID, date string) (string, error) {
	t, a, err := beginLoanStep(ctx, agreementID, true, "buy in")
	if err != nil {
		return "", err
	}
	if err := t.stepDate(a, date); err != nil {
		return "", err
	}
	loan, err := parseStoredQuantity(a.Terms.Loan.Quantity)
	if err != nil {
		return "", err
	}
	var q int64
	if a.Status == StatusMatured {
		q = loan
	} else {
		for _, r := range a.Recalls {
			if r.Status == RecallFailed {
				left, err := r.unreturned()
				if err != nil {
					return "", err
				}
				q += left
			}
		}
	}
	if q == 0 {
		return "", fmt.Errorf("nothing to buy in under agreement %s: no recall has failed and it has not matured", a.ID)
	}
	q = min(q, loan)
	res, err := t.runStep(a, date, func(ma *margin.Agreement, m *margin.Market, p margin.Positions) (*margin.StepResult, error) {
		return margin.BuyIn(ma, m, p, q)
	})
	if err != nil {
		return "", err
	}
	for i := range a.Recalls {
		if a.Recalls[i].Status == RecallFailed || (a.Status == StatusMatured && a.Recalls[i].Status == RecallOpen) {
			a.Recalls[i].Status = RecallBoughtIn
		}
	}
	rec := BuyInRecord{Date: date, Quantity: formatQuantity(q), Owed: res.Owed.RatString(), Uncovered: res.Uncovered.RatString(),
		Kept: stepTransfers(res.Kept), TxID: t.txID}
	a.BuyIns = append(a.BuyIns, rec)
	for _, k := range res.Kept {
		held, err := t.position(a, k.Token)
		if err != nil {
			return "", err
		}
		if err := t.setPosition(a, k.Token, held-k.Quantity); err != nil {
			return "", err
		}
		// the kept tokens leave custody for the lender's free balance
		if err := t.credit(a.Terms.Lender, k.Token, k.Quantity); err != nil {
			return "", err
		}
	}
	note := fmt.Sprintf("%d %s bought in on %s: owed %s %s, uncovered %s", q, a.Terms.Loan.Token, date, res.Owed.FloatString(2), a.Terms.BaseCurrency, res.Uncovered.FloatString(2))
	if res.LoanAfter == 0 {
		a.Terms.Loan.Quantity = "0"
		return t.closeAgreement(a, "buy-in", note, date)
	}
	moved, lines, err := t.applyStep(a, res, date)
	if err != nil {
		return "", err
	}
	a.Terms.Loan.Quantity = formatQuantity(res.LoanAfter)
	return t.saveLifecycle(a, a.Status, "BOUGHT_IN", note, EventBuyIn, "", moved, lines)
}

// beginLoanStep opens a life-cycle step of the lender's (lender) or the borrower's on an agreement
// whose loan is out (ACTIVE or MATURED).
func beginLoanStep(ctx contractapi.TransactionContextInterface, agreementID string, lender bool, action string) (*txn, *Agreement, error) {
	t, a, party, err := beginOnAgreement(ctx, agreementID)
	if err != nil {
		return nil, nil, err
	}
	want := a.Terms.Borrower
	if lender {
		want = a.Terms.Lender
	}
	if err := a.requireRole(party, want, action); err != nil {
		return nil, nil, err
	}
	if err := a.requireOpenLoan(); err != nil {
		return nil, nil, err
	}
	return t, a, nil
}

// requireRole refuses a party other than the one the step belongs to.
func (a *Agreement) requireRole(party, want, action string) error {
	if party != want {
		role := "lender"
		if want == a.Terms.Borrower {
			role = "borrower"
		}
		return fmt.Errorf("access denied: only the %s %s can %s under agreement %s", role, want, action, a.ID)
	}
	return nil
}

// requireOpenLoan admits an agreement whose loan is still out: ACTIVE or MATURED.
func (a *Agreement) requireOpenLoan() error {
	if a.Status != StatusActive && a.Status != StatusMatured {
		return fmt.Errorf("agreement %s is %s, not %s or %s", a.ID, a.Status, StatusActive, StatusMatured)
	}
	return nil
}

// stepDate checks a step's value date: a date, not after today in the business time zone, not
// before the start date nor the latest margin call.
func (t *txn) stepDate(a *Agreement, date string) error {
	if err := validateDate("date", date); err != nil {
		return err
	}
	today, err := t.businessDate()
	if err != nil {
		return err
	}
	if date > today {
		return fmt.Errorf("date %s is after today (%s in %s)", date, today, t.platform.TimeZone)
	}
	if date < a.Terms.StartDate {
		return fmt.Errorf("date %s is before the start date %s of agreement %s", date, a.Terms.StartDate, a.ID)
	}
	last, err := t.lastMarginDate(a)
	if err != nil {
		return err
	}
	if date < last {
		return fmt.Errorf("date %s is before the latest margin call of agreement %s on %s: steps and calls run in date order", date, a.ID, last)
	}
	return nil
}

// recalledOutstanding is the quantity recalled and not yet returned (open and failed recalls).
func (a *Agreement) recalledOutstanding() (int64, error) {
	var total int64
	for _, r := range a.Recalls {
		if r.Status == RecallOpen || r.Status == RecallFailed {
			left, err := r.unreturned()
			if err != nil {
				return 0, err
			}
			total += left
		}
	}
	return total, nil
}

func (r *Recall) unreturned() (int64, error) {
	q, err := parseStoredQuantity(r.Quantity)
	if err != nil {
		return 0, err
	}
	done, err := parseStoredQuantity(r.Returned)
	if err != nil {
		return 0, err
	}
	return q - done, nil
}

// countReturned applies returned units to open and failed recalls, oldest first.
func (a *Agreement) countReturned(q int64) {
	for i := range a.Recalls {
		r := &a.Recalls[i]
		if q == 0 {
			return
		}
		if r.Status != RecallOpen && r.Status != RecallFailed {
			continue
		}
		left, err := r.unreturned()
		if err != nil || left <= 0 {
			continue
		}
		n := min(left, q)
		done, _ := parseStoredQuantity(r.Returned)
		r.Returned = formatQuantity(done + n)
		q -= n
		if n == left {
			r.Status = RecallSettled
		}
	}
}

// runStep runs a life-cycle step of the margin engine on a's positions at date's prices.
// stepRun is a step the engine decided, with the market and agreement it decided it on.
type stepRun struct {
	*margin.StepResult
	ma     *margin.Agreement
	market *margin.Market
	prices *PriceSet
}

func (t *txn) runStep(a *Agreement, date string, step func(*margin.Agreement, *margin.Market, margin.Positions) (*margin.StepResult, error)) (*stepRun, error) {
	prices, err := t.pricesFor(date)
	if err != nil {
		return nil, err
	}
	cache := newMarginCache()
	ma, err := t.engineAgreement(a, cache)
	if err != nil {
		return nil, err
	}
	market, err := cache.marketFor(date, prices)
	if err != nil {
		return nil, err
	}
	pos := margin.Positions{Held: map[string]int64{}, BorrowerFree: map[string]int64{}, LenderFree: map[string]int64{}}
	for _, leg := range a.Terms.Collateral {
		if pos.Held[leg.Token], err = t.position(a, leg.Token); err != nil {
			return nil, err
		}
		if pos.BorrowerFree[leg.Token], err = t.freeBalance(a.Terms.Borrower, leg.Token); err != nil {
			return nil, err
		}
	}
	res, err := step(ma, market, pos)
	if err != nil {
		var me *margin.Error
		if errors.As(err, &me) {
			return nil, fmt.Errorf("agreement %s on %s: %s", a.ID, date, me.Message)
		}
		return nil, err
	}
	return &stepRun{StepResult: res, ma: ma, market: market, prices: prices}, nil
}

// substitution checks a substitution at date's prices and returns what it moves.
func (t *txn) substitution(a *Agreement, sub Substitution, date string) (*stepRun, error) {
	out, err := engineMoves("out", sub.Out)
	if err != nil {
		return nil, err
	}
	in, err := engineMoves("in", sub.In)
	if err != nil {
		return nil, err
	}
	return t.runStep(a, date, func(ma *margin.Agreement, m *margin.Market, p margin.Positions) (*margin.StepResult, error) {
		return margin.Substitute(ma, m, p, out, in)
	})
}

func engineMoves(side string, legs []SubstitutionLeg) ([]margin.Move, error) {
	moves := make([]margin.Move, 0, len(legs))
	for _, leg := range legs {
		if err := validateIdentifier(side+" token", leg.Token); err != nil {
			return nil, err
		}
		q, err := parseQuantity(fmt.Sprintf("%s quantity of %s", side, leg.Token), leg.Quantity)
		if err != nil {
			return nil, err
		}
		moves = append(moves, margin.Move{Token: leg.Token, Quantity: q})
	}
	return moves, nil
}

func describeSubstitution(s Substitution) string {
	text := "out"
	for _, l := range s.Out {
		text += " " + l.Quantity + " " + l.Token
	}
	text += "; in"
	for _, l := range s.In {
		text += " " + l.Quantity + " " + l.Token
	}
	return text
}

// applyStep settles a step's collateral movements on the ledger on date, accrues fees and rebates
// up to date (the step changes what they accrue on), and returns the movements as history
// transfers and the accrual lines.
func (t *txn) applyStep(a *Agreement, run *stepRun, date string) ([]Transfer, []AccrualLine, error) {
	out := []Transfer{}
	for _, tr := range run.Transfers {
		from, to := a.Terms.Lender, a.Terms.Borrower
		var err error
		if tr.Direction == margin.BorrowerToLender {
			from, to = to, from
			err = t.deliverCollateral(a, tr.Token, tr.Quantity)
		} else {
			err = t.returnCollateral(a, tr.Token, tr.Quantity)
		}
		if err != nil {
			return nil, nil, err
		}
		out = append(out, Transfer{Token: tr.Token, Quantity: formatQuantity(tr.Quantity), From: from, To: to, Leg: "collateral", Held: true})
	}
	if !a.Terms.hasEconomics() {
		return out, nil, nil
	}
	pricing, err := margin.PriceAgreement(run.ma, run.market)
	if err != nil {
		return nil, nil, err
	}
	vals := valuesAt(a, run.ma, pricing, run.prices, run.HeldAfter, run.LoanAfter)
	lines, err := t.accrueTo(a, date, &vals)
	return out, lines, err
}

func stepTransfers(ts []margin.Transfer) []StepTransfer {
	out := make([]StepTransfer, 0, len(ts))
	for _, tr := range ts {
		out = append(out, StepTransfer{Token: tr.Token, Quantity: formatQuantity(tr.Quantity), Direction: string(tr.Direction),
			Value: tr.Value.RatString(), MarketValue: tr.MarketValue.RatString()})
	}
	return out
}

// saveLifecycle records a life-cycle step, stores the agreement and emits the step's event.
func (t *txn) saveLifecycle(a *Agreement, oldStatus, step, note, event, recall string, transfers []Transfer, accruals []AccrualLine) (string, error) {
	t.record(a, step, note, transfers)
	a.History[len(a.History)-1].Accruals = accruals
	if err := t.putAgreement(a, oldStatus); err != nil {
		return "", err
	}
	if err := t.emit(lifecycleEvent{Event: t.event(event), Agreement: a.ID, Status: a.Status, Party: t.caller.party(), Recall: recall}); err != nil {
		return "", err
	}
	return t.finish(t.receipt(a))
}

// maturity is the date an agreement's loan falls due: its end date, or its notice's effective date
// ("" for an open loan without notice).
func (a *Agreement) maturity() string {
	if a.Terms.EndDate != "" {
		return a.Terms.EndDate
	}
	if a.Notice != nil {
		return a.Notice.Effective
	}
	return ""
}

// joinNote is a history note of a reason code and an optional free text.
func joinNote(reason, note string) string {
	if note == "" {
		return reason
	}
	return reason + ": " + note
}
