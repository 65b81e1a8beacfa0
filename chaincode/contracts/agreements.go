package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"

	"tanpo/chaincode/margin"
)

// AgreementsContract holds securities-lending and repo agreements between two parties: proposal,
// approval with the atomic opening exchange, rejection, withdrawal, and closing (at the end date,
// or early by agreement of both) with the atomic closing exchange.
//
// Every agreement key and its collateral positions carry a state-based endorsement policy that
// requires the peers of both the lender's and the borrower's organisations, so once proposed no
// single other organisation can change them.
type AgreementsContract struct {
	contractapi.Contract
}

// Agreement statuses.
const (
	StatusProposed  = "PROPOSED"
	StatusActive    = "ACTIVE"
	StatusClosed    = "CLOSED"
	StatusRejected  = "REJECTED"
	StatusWithdrawn = "WITHDRAWN"
)

// Adjustment modes.
const (
	ModeSingle = "single"
	ModeMulti  = "multi"
)

const (
	maxCollateralTokens = 32
	maxSettlementLag    = 30
	maxNoticeDays       = 366
)

// LoanLeg is what the lender delivers.
type LoanLeg struct {
	Token    string `json:"token"`
	Quantity string `json:"quantity"`
}

// CollateralLeg is one collateral token: its initial quantity and, optionally, its own haircut. The
// order of the collateral list is the priority order CT1..CTn.
type CollateralLeg struct {
	Token    string `json:"token"`
	Quantity string `json:"quantity"`
	Haircut  string `json:"haircut,omitempty"`
}

// Terms are an agreement's terms. Decimals are strings; dates are ISO dates; EndDate "" = open.
type Terms struct {
	ID                    string          `json:"id,omitempty"`        // public: events and receipts name it
	Reference             string          `json:"reference,omitempty"` // the parties' own trade reference: private like every other term
	Lender                string          `json:"lender"`
	Borrower              string          `json:"borrower"`
	Loan                  LoanLeg         `json:"loan"`
	Collateral            []CollateralLeg `json:"collateral"`
	BaseCurrency          string          `json:"baseCurrency"`
	Haircut               string          `json:"haircut"`
	Threshold             string          `json:"threshold"`
	Mode                  string          `json:"mode"`
	SettlementLagDays     int             `json:"settlementLagDays"`
	AutoIssue             bool            `json:"autoIssue"`
	MinimumTransferAmount string          `json:"minimumTransferAmount"`
	TradeDate             string          `json:"tradeDate"`
	StartDate             string          `json:"startDate"`
	EndDate               string          `json:"endDate"`
	// Life cycle: days of notice that ends an open loan (GiveNotice), substitutions settled without
	// the lender's approval, and term loans that cannot be returned before their end date.
	NoticeDays                int  `json:"noticeDays,omitempty"`
	SubstitutionPreAuthorised bool `json:"substitutionPreAuthorised,omitempty"`
	NoEarlyReturn             bool `json:"noEarlyReturn,omitempty"`
	// Economics (economics.go): the lending fee, the rebate on cash collateral, and the day count
	// ("" = the base currency's: ACT/365F for JPY and GBP, ACT/360 for USD and EUR).
	Fee      *FeeTerms    `json:"fee,omitempty"`
	Rebate   *RebateTerms `json:"rebate,omitempty"`
	DayCount string       `json:"dayCount,omitempty"`
	// Eligibility (schedule.go): the agreement's own schedule, or the id of one its pair defined.
	Schedule   *margin.Schedule `json:"schedule,omitempty"`
	ScheduleID string           `json:"scheduleId,omitempty"`
	// CdmExtras: what a CDM record says that no term above holds, kept verbatim for a CDM export
	// (cdmextras.go): a JSON object of at most 16384 bytes, nested at most 16 levels.
	CdmExtras json.RawMessage `json:"cdmExtras,omitempty"`
}

// Agreement is an agreement as stored, with its history of state changes.
type Agreement struct {
	ID          string              `json:"id"`
	Status      string              `json:"status"`
	Terms       Terms               `json:"terms"`
	Proposer    string              `json:"proposer"`
	Termination *TerminationRequest `json:"termination,omitempty"`
	Book        string              `json:"book,omitempty"` // custody book of its collateral (from approval)
	// Life cycle (lifecycle.go). Stored before the history, which the sweep's decoder stops at.
	Recalls      []Recall             `json:"recalls,omitempty"`
	Notice       *Notice              `json:"notice,omitempty"`
	Substitution *SubstitutionRequest `json:"substitution,omitempty"`
	BuyIns       []BuyInRecord        `json:"buyIns,omitempty"`
	Fails        []Fail               `json:"fails,omitempty"`
	History      []HistoryEntry       `json:"history"`
	CreatedAt    string               `json:"createdAt"`
	UpdatedAt    string               `json:"updatedAt"`
}

// TerminationRequest is a pending request for early termination.
type TerminationRequest struct {
	RequestedBy string `json:"requestedBy"` // party
	Identity    string `json:"identity"`
	RequestedAt string `json:"requestedAt"`
	TxID        string `json:"txId"`
	Note        string `json:"note,omitempty"`
}

// HistoryEntry records one state change of an agreement.
type HistoryEntry struct {
	Action    string     `json:"action"` // PROPOSED APPROVED REJECTED WITHDRAWN TERMINATION_REQUESTED TERMINATION_CANCELLED CLOSED
	Status    string     `json:"status"` // status after the action
	Party     string     `json:"party"`
	Identity  string     `json:"identity"`
	TxID      string     `json:"txId"`
	Timestamp string     `json:"timestamp"`
	Note      string     `json:"note,omitempty"`
	Transfers []Transfer `json:"transfers,omitempty"`
	// fees and rebates accrued up to the step, which changed what they accrue on
	Accruals []AccrualLine `json:"accruals,omitempty"`
}

// HeldPosition is one line of CollateralHeld.
type HeldPosition struct {
	Priority int    `json:"priority"` // 1 = CT1
	Token    string `json:"token"`
	Held     string `json:"held"`
}

// CollateralReport is what CollateralHeld returns.
type CollateralReport struct {
	Agreement string           `json:"agreement"`
	Status    string           `json:"status"`
	Lender    string           `json:"lender"`
	Borrower  string           `json:"borrower"`
	Positions []HeldPosition   `json:"positions"`
	Pending   []MarginTransfer `json:"pending"` // margin adjustments computed but not settled yet (lagged)
}

// agreementEvent is the event of an agreement's life-cycle step. Every peer of the channel sees
// events, so they name the agreement and the step, never terms, quantities or notes: the parties
// read those with GetAgreement.
type agreementEvent struct {
	Event
	Agreement string `json:"agreement"`
	Status    string `json:"status"`
	Party     string `json:"party"`            // the party that acted
	Reason    string `json:"reason,omitempty"` // AgreementClosed: end-date | early-termination | returned | buy-in (a close at maturity is in the cycle's MarginBatch)
}

// GetEvaluateTransactions tags the read-only functions in the metadata.
func (c *AgreementsContract) GetEvaluateTransactions() []string {
	return []string{"GetAgreement", "ListAgreements", "CollateralHeld", "GetSchedule"}
}

// Propose registers an agreement's terms (termsJSON is a Terms object; id optional, derived from
// the transaction id as AGR-<16 hex> when absent). The caller's party must be the lender or the
// borrower. Returns the agreement.
func (c *AgreementsContract) Propose(ctx contractapi.TransactionContextInterface, termsJSON string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	party, err := t.requireParty()
	if err != nil {
		return "", err
	}
	terms, err := t.parseTerms(termsJSON)
	if err != nil {
		return "", err
	}
	if party != terms.Lender && party != terms.Borrower {
		return "", fmt.Errorf("access denied: %s can only propose agreements in which it is the lender or the borrower", party)
	}
	if err := t.registeredParties(terms); err != nil {
		return "", err
	}
	if terms.ID == "" {
		terms.ID = "AGR-" + shortTxID(t.txID)
	} else if err := t.requireUnusedID(terms); err != nil {
		return "", err
	}
	key, err := t.pairKey(pairCollection(terms.Lender, terms.Borrower), keyAgreement, terms.ID)
	if err != nil {
		return "", err
	}
	if existing, err := t.get(key); err != nil {
		return "", err
	} else if existing != nil {
		return "", fmt.Errorf("agreement %s already exists", terms.ID)
	}
	a := &Agreement{
		ID:        terms.ID,
		Status:    StatusProposed,
		Terms:     *terms,
		Proposer:  party,
		History:   []HistoryEntry{},
		CreatedAt: t.timestamp(),
		UpdatedAt: t.timestamp(),
	}
	t.record(a, "PROPOSED", "", nil)
	if err := t.putAgreement(a, ""); err != nil {
		return "", err
	}
	if err := t.emit(t.agreementEvent(EventAgreementProposed, a)); err != nil {
		return "", err
	}
	return t.finish(t.receipt(a))
}

// Approve accepts a proposal (the counterparty of the proposer only) and performs the opening
// exchange in this one transaction: the loan leg lender -> borrower and every collateral leg
// borrower -> lender (held under the agreement). If either party is short, nothing moves and the
// error names the party, token, quantity needed and quantity available.
func (c *AgreementsContract) Approve(ctx contractapi.TransactionContextInterface, agreementID string) (string, error) {
	t, a, party, err := beginOnAgreement(ctx, agreementID)
	if err != nil {
		return "", err
	}
	if err := a.requireCounterparty(party, "approve"); err != nil {
		return "", err
	}
	if err := a.requireStatus(StatusProposed); err != nil {
		return "", err
	}
	if err := t.requireEligibleOpening(a); err != nil {
		return "", err
	}
	transfers, err := t.openingExchange(a)
	if err != nil {
		return "", err
	}
	if err := t.markPairActive(a); err != nil {
		return "", err
	}
	a.Status = StatusActive
	return t.saveStep(a, StatusProposed, "APPROVED", "", EventAgreementApproved, transfers)
}

// Reject refuses a proposal with a reason (the counterparty of the proposer only).
func (c *AgreementsContract) Reject(ctx contractapi.TransactionContextInterface, agreementID, reason string) (string, error) {
	t, a, party, err := beginOnAgreement(ctx, agreementID)
	if err != nil {
		return "", err
	}
	if err := a.requireCounterparty(party, "reject"); err != nil {
		return "", err
	}
	if err := a.requireStatus(StatusProposed); err != nil {
		return "", err
	}
	if err := validateText("reason", reason, 512, true); err != nil {
		return "", err
	}
	a.Status = StatusRejected
	return t.saveStep(a, StatusProposed, "REJECTED", reason, EventAgreementRejected, nil)
}

// Withdraw takes back a proposal (the proposing party only, while PROPOSED).
func (c *AgreementsContract) Withdraw(ctx contractapi.TransactionContextInterface, agreementID string) (string, error) {
	t, a, party, err := beginOnAgreement(ctx, agreementID)
	if err != nil {
		return "", err
	}
	if party != a.Proposer {
		return "", fmt.Errorf("access denied: only the proposer %s can withdraw agreement %s", a.Proposer, a.ID)
	}
	if err := a.requireStatus(StatusProposed); err != nil {
		return "", err
	}
	a.Status = StatusWithdrawn
	return t.saveStep(a, StatusProposed, "WITHDRAWN", "", EventAgreementWithdrawn, nil)
}

// Close closes an active agreement at or after its end date (the transaction's date in the
// platform's business time zone, compared with the end date), by either party, with the closing exchange: the borrower returns the loan
// leg and the lender returns the collateral held under the agreement (a negative position is
// redelivered by the borrower). Before the end date, or for an open agreement, use early
// termination (RequestTermination, then AcceptTermination by the counterparty).
func (c *AgreementsContract) Close(ctx contractapi.TransactionContextInterface, agreementID string) (string, error) {
	t, a, _, err := beginOnAgreement(ctx, agreementID)
	if err != nil {
		return "", err
	}
	if err := a.requireOpenLoan(); err != nil {
		return "", err
	}
	due := a.maturity()
	if due == "" {
		return "", fmt.Errorf("agreement %s is open (no end date): close it by early termination (RequestTermination, then AcceptTermination by the counterparty) or give notice (GiveNotice)", a.ID)
	}
	today, err := t.businessDate()
	if err != nil {
		return "", err
	}
	if today < due {
		return "", fmt.Errorf("agreement %s ends on %s (today is %s in %s): before then close it by early termination (RequestTermination, then AcceptTermination by the counterparty)", a.ID, due, today, t.platform.TimeZone)
	}
	// interest accrues to the end date, whenever the close is done
	return t.closeAgreement(a, "end-date", "", min(today, due))
}

// RequestTermination asks the counterparty to terminate an active agreement early (either party;
// note optional).
func (c *AgreementsContract) RequestTermination(ctx contractapi.TransactionContextInterface, agreementID, note string) (string, error) {
	t, a, party, err := beginOnAgreement(ctx, agreementID)
	if err != nil {
		return "", err
	}
	if err := a.requireStatus(StatusActive); err != nil {
		return "", err
	}
	if err := validateText("note", note, 512, false); err != nil {
		return "", err
	}
	if a.Termination != nil {
		if a.Termination.RequestedBy == party {
			return "", fmt.Errorf("%s already requested the termination of agreement %s; waiting for %s to accept it", party, a.ID, a.counterparty(party))
		}
		return "", fmt.Errorf("%s already requested the termination of agreement %s; call AcceptTermination to accept it", a.Termination.RequestedBy, a.ID)
	}
	a.Termination = &TerminationRequest{RequestedBy: party, Identity: t.caller.id, RequestedAt: t.timestamp(), TxID: t.txID, Note: note}
	return t.saveStep(a, StatusActive, "TERMINATION_REQUESTED", note, EventTerminationRequest, nil)
}

// AcceptTermination accepts the counterparty's termination request and closes the agreement with
// the closing exchange.
func (c *AgreementsContract) AcceptTermination(ctx contractapi.TransactionContextInterface, agreementID string) (string, error) {
	t, a, party, err := beginOnAgreement(ctx, agreementID)
	if err != nil {
		return "", err
	}
	if err := a.requireStatus(StatusActive); err != nil {
		return "", err
	}
	if a.Termination == nil {
		return "", fmt.Errorf("no termination of agreement %s has been requested", a.ID)
	}
	if a.Termination.RequestedBy == party {
		return "", fmt.Errorf("access denied: %s requested the termination of agreement %s; only %s can accept it", party, a.ID, a.counterparty(party))
	}
	today, err := t.businessDate()
	if err != nil {
		return "", err
	}
	return t.closeAgreement(a, "early-termination", "", today)
}

// CancelTermination withdraws (requester) or declines (counterparty) a pending termination request;
// reason optional.
func (c *AgreementsContract) CancelTermination(ctx contractapi.TransactionContextInterface, agreementID, reason string) (string, error) {
	t, a, _, err := beginOnAgreement(ctx, agreementID)
	if err != nil {
		return "", err
	}
	if err := a.requireStatus(StatusActive); err != nil {
		return "", err
	}
	if a.Termination == nil {
		return "", fmt.Errorf("no termination of agreement %s has been requested", a.ID)
	}
	if err := validateText("reason", reason, 512, false); err != nil {
		return "", err
	}
	a.Termination = nil
	return t.saveStep(a, StatusActive, "TERMINATION_CANCELLED", reason, EventTerminationCancel, nil)
}

// GetAgreement returns an agreement with its history. Its parties or the operator.
func (c *AgreementsContract) GetAgreement(ctx contractapi.TransactionContextInterface, agreementID string) (string, error) {
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
	return t.finish(a)
}

// ListAgreements lists agreements, one page at a time, filtered by party and status (either may be
// empty). A party sees only its own (an empty party means its own); the operator sees all.
func (c *AgreementsContract) ListAgreements(ctx contractapi.TransactionContextInterface, party, status, pageSize, bookmark string) (string, error) {
	t, party, err := beginListing(ctx, "agreements", party)
	if err != nil {
		return "", err
	}
	if status != "" && !validAgreementStatus(status) {
		return "", fmt.Errorf("invalid status %q: expected %s, %s, %s, %s or %s", truncate(status, 40),
			StatusProposed, StatusActive, StatusClosed, StatusRejected, StatusWithdrawn)
	}
	if t.caller.operatorSide() {
		return "", errOperatorPrivate
	}
	colls, err := t.callerCollections()
	if err != nil {
		return "", err
	}
	attrs := []string{party}
	if status != "" {
		attrs = append(attrs, status)
	}
	page, err := listPrivatePage(t, colls, keyAgreementByParty, attrs, pageSize, bookmark,
		func(coll, k string, _ []byte) (Agreement, bool, error) {
			parts, err := t.splitKey(k)
			if err != nil {
				return Agreement{}, false, err
			}
			a, err := t.loadAgreementIn(coll, parts[len(parts)-1])
			if err != nil {
				return Agreement{}, false, err
			}
			return *a, true, nil
		})
	if err != nil {
		return "", err
	}
	return t.finish(page)
}

// CollateralHeld returns the collateral the lender holds under an agreement, in priority order.
// Its parties only.
func (c *AgreementsContract) CollateralHeld(ctx contractapi.TransactionContextInterface, agreementID string) (string, error) {
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
	rep := CollateralReport{Agreement: a.ID, Status: a.Status, Lender: a.Terms.Lender, Borrower: a.Terms.Borrower,
		Positions: []HeldPosition{}, Pending: []MarginTransfer{}}
	for i, leg := range a.Terms.Collateral {
		held, err := t.position(a, leg.Token)
		if err != nil {
			return "", err
		}
		rep.Positions = append(rep.Positions, HeldPosition{Priority: i + 1, Token: leg.Token, Held: formatQuantity(held)})
	}
	pending, err := t.pendingOf(a)
	if err != nil {
		return "", err
	}
	for _, p := range pending {
		rep.Pending = append(rep.Pending, p.Transfers...)
	}
	return t.finish(rep)
}

// beginOnAgreement opens a transaction on an existing agreement for one of its parties (party role).
func beginOnAgreement(ctx contractapi.TransactionContextInterface, agreementID string) (*txn, *Agreement, string, error) {
	t, err := begin(ctx)
	if err != nil {
		return nil, nil, "", err
	}
	party, err := t.requireParty()
	if err != nil {
		return nil, nil, "", err
	}
	a, err := t.agreementFor(agreementID, t.loadAgreement)
	if err != nil {
		return nil, nil, "", err
	}
	return t, a, party, nil
}

// agreementFor loads (with load) an agreement the caller acts on or reads. The operator side
// (which runs sweeps in the pair it names) is told when it does not exist ("no agreement X"). A bank is
// refused with the same words whether the agreement does not exist or exists between other
// parties, so that no refusal tells a bank whether another's agreement id exists.
func (t *txn) agreementFor(agreementID string, load func(string) (*Agreement, error)) (*Agreement, error) {
	a, err := load(agreementID)
	if t.caller.operatorSide() {
		return a, err
	}
	party := t.caller.party()
	if err != nil {
		if isNotFound(err) {
			return nil, notPartyError(agreementID, party)
		}
		return nil, err
	}
	if party == "" || (party != a.Terms.Lender && party != a.Terms.Borrower) {
		return nil, notPartyError(a.ID, party)
	}
	return a, nil
}

// notPartyError is a bank's refusal of an agreement it is not a party to, or that does not exist.
func notPartyError(agreementID, party string) error {
	return fmt.Errorf("access denied: agreement %s does not exist or %s is not a party to it", agreementID, party)
}

func (a *Agreement) counterparty(party string) string {
	if party == a.Terms.Lender {
		return a.Terms.Borrower
	}
	return a.Terms.Lender
}

func (a *Agreement) requireCounterparty(party, action string) error {
	if party == a.Proposer {
		return fmt.Errorf("access denied: %s proposed agreement %s; only the counterparty %s can %s it", party, a.ID, a.counterparty(party), action)
	}
	return nil
}

func (a *Agreement) requireStatus(status string) error {
	if a.Status != status {
		return fmt.Errorf("agreement %s is %s, not %s", a.ID, a.Status, status)
	}
	return nil
}

func validAgreementStatus(s string) bool {
	switch s {
	case StatusProposed, StatusActive, StatusMatured, StatusClosed, StatusRejected, StatusWithdrawn:
		return true
	}
	return false
}

func (t *txn) loadAgreement(agreementID string) (*Agreement, error) {
	v, err := t.agreementBytes(agreementID)
	if err != nil {
		return nil, err
	}
	var a Agreement
	if err := json.Unmarshal(v, &a); err != nil {
		return nil, fmt.Errorf("corrupt record in state: %w", err)
	}
	return &a, nil
}

// loadAgreementIn reads an agreement of a known collection.
func (t *txn) loadAgreementIn(coll, agreementID string) (*Agreement, error) {
	key, err := t.pairKey(coll, keyAgreement, agreementID)
	if err != nil {
		return nil, err
	}
	var a Agreement
	found, err := t.getJSON(key, &a)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFoundError{"no agreement " + agreementID}
	}
	return &a, nil
}

// agreementBytes reads the stored record of an agreement from the collection locate finds.
func (t *txn) agreementBytes(agreementID string) ([]byte, error) {
	if err := validateIdentifier("agreement id", agreementID); err != nil {
		return nil, err
	}
	coll, err := t.locate(agreementID)
	if err != nil {
		return nil, err
	}
	missing := notFoundError{"no agreement " + agreementID}
	if coll == "" {
		return nil, missing
	}
	key, err := t.pairKey(coll, keyAgreement, agreementID)
	if err != nil {
		return nil, err
	}
	v, err := t.get(key)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, missing
	}
	return v, nil
}

// requireUnusedID refuses a chosen agreement id that names an agreement in any collection of
// either party, so that looking an id up in a bank's collections finds one agreement. It reads
// hashes, which every peer has, so both endorsers see the same.
func (t *txn) requireUnusedID(terms *Terms) error {
	banks, err := t.bankParties()
	if err != nil {
		return err
	}
	key, err := t.key(keyAgreement, terms.ID)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, party := range []string{terms.Lender, terms.Borrower} {
		for _, other := range banks {
			if other == party {
				continue
			}
			coll := pairCollection(party, other)
			if seen[coll] {
				continue
			}
			seen[coll] = true
			h, err := t.stub.GetPrivateDataHash(coll, storedKey(key))
			if err != nil {
				if undefinedCollection(err) {
					continue
				}
				return ledgerFault{fmt.Errorf("failed to read private data hashes: %w", err)}
			}
			if len(h) > 0 {
				return fmt.Errorf("agreement id %s is already in use: choose another or leave it out", terms.ID)
			}
		}
	}
	return nil
}

// registeredParties refuses terms whose lender or borrower is not a registered party (a proposal
// to a bank nobody registered could never be approved, rejected or, by it, withdrawn).
func (t *txn) registeredParties(terms *Terms) error {
	if err := t.registeredParty("lender", terms.Lender); err != nil {
		return err
	}
	return t.registeredParty("borrower", terms.Borrower)
}

// agreementCore is an agreement record without its history.
type agreementCore struct {
	ID       string   `json:"id"`
	Status   string   `json:"status"`
	Terms    Terms    `json:"terms"`
	Proposer string   `json:"proposer"`
	Book     string   `json:"book,omitempty"`
	Recalls  []Recall `json:"recalls,omitempty"` // open ones in a terms book: the cycle fails them when due
	Notice   *Notice  `json:"notice,omitempty"`
}

// core is what a sweep needs of an agreement (see agreementCore).
func (c *agreementCore) agreement() *Agreement {
	return &Agreement{ID: c.ID, Status: c.Status, Terms: c.Terms, Proposer: c.Proposer, Book: c.Book, Recalls: c.Recalls, Notice: c.Notice}
}

// loadAgreementTerms reads an agreement without decoding its history (most of the record, and it
// grows with every action): for readers that only need the id, status and terms, such as a
// margin sweep. The result must not be written back.
func (t *txn) loadAgreementTerms(agreementID string) (*Agreement, error) {
	v, err := t.agreementBytes(agreementID)
	if err != nil {
		return nil, err
	}
	core, err := decodeAgreementCore(v)
	if err != nil {
		return nil, err
	}
	return core.agreement(), nil
}

// decodeAgreementCore decodes the fields of a stored agreement that precede its history. The
// history is stored last (field order of Agreement) and grows with every action; a sweep reads
// thousands of agreements for their terms alone, and scanning their histories was a fifth of its
// work in the chaincode.
func decodeAgreementCore(v []byte) (*agreementCore, error) {
	corrupt := func(err error) error { return fmt.Errorf("corrupt record in state: %w", err) }
	dec := json.NewDecoder(bytes.NewReader(v))
	if tok, err := dec.Token(); err != nil {
		return nil, corrupt(err)
	} else if tok != json.Delim('{') {
		return nil, corrupt(errors.New("an agreement is not a JSON object"))
	}
	var core agreementCore
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, corrupt(err)
		}
		var dst any
		switch tok {
		case "history":
			return checkedCore(&core)
		case "id":
			dst = &core.ID
		case "status":
			dst = &core.Status
		case "terms":
			dst = &core.Terms
		case "proposer":
			dst = &core.Proposer
		case "book":
			dst = &core.Book
		case "recalls":
			dst = &core.Recalls
		case "notice":
			dst = &core.Notice
		default:
			dst = new(json.RawMessage)
		}
		if err := dec.Decode(dst); err != nil {
			return nil, corrupt(err)
		}
	}
	return checkedCore(&core)
}

func checkedCore(core *agreementCore) (*agreementCore, error) {
	if core.ID == "" || core.Status == "" {
		return nil, errors.New("corrupt record in state: an agreement without id or status")
	}
	return core, nil
}

// putAgreement writes an agreement and moves its index entries from oldStatus ("" when new).
func (t *txn) putAgreement(a *Agreement, oldStatus string) error {
	a.UpdatedAt = t.timestamp()
	coll := a.coll()
	key, err := t.pairKey(coll, keyAgreement, a.ID)
	if err != nil {
		return err
	}
	if err := t.putJSON(key, a); err != nil {
		return err
	}
	if err := t.keepTerms(a); err != nil {
		return err
	}
	if oldStatus == a.Status {
		return nil
	}
	index := func(status string) ([]string, error) {
		keys := []string{}
		for _, attrs := range [][]string{{a.Terms.Lender, status, a.ID}, {a.Terms.Borrower, status, a.ID}} {
			k, err := t.pairKey(coll, keyAgreementByParty, attrs...)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
		k, err := t.pairKey(coll, keyAgreementStatus, status, a.ID)
		if err != nil {
			return nil, err
		}
		return append(keys, k), nil
	}
	if oldStatus != "" {
		old, err := index(oldStatus)
		if err != nil {
			return err
		}
		for _, k := range old {
			t.del(k)
		}
	}
	current, err := index(a.Status)
	if err != nil {
		return err
	}
	entry, err := json.Marshal(agreementIndexEntry{Lender: a.Terms.Lender, Borrower: a.Terms.Borrower, Book: a.Book})
	if err != nil {
		return fmt.Errorf("failed to encode index entry: %w", err)
	}
	for _, k := range current {
		t.put(k, entry)
	}
	return nil
}

// agreementIndexEntry is the value of an agreement's index entries: what a sweep plans batches
// by, so that listing a day's sweep reads the index and not every agreement record.
type agreementIndexEntry struct {
	Lender   string `json:"lender"`
	Borrower string `json:"borrower"`
	Book     string `json:"book,omitempty"`
}

func (t *txn) record(a *Agreement, action, note string, transfers []Transfer) {
	a.History = append(a.History, HistoryEntry{
		Action: action, Status: a.Status, Party: t.caller.party(), Identity: t.caller.id,
		TxID: t.txID, Timestamp: t.timestamp(), Note: note, Transfers: transfers,
	})
}

func (t *txn) agreementEvent(typ string, a *Agreement) agreementEvent {
	return agreementEvent{Event: t.event(typ), Agreement: a.ID, Status: a.Status, Party: t.caller.party()}
}

// openingExchange moves the loan leg to the borrower and the collateral legs into custody under
// the agreement, in the open custody book of its parties.
func (t *txn) openingExchange(a *Agreement) ([]Transfer, error) {
	transfers := []Transfer{}
	loanQty, err := parseStoredQuantity(a.Terms.Loan.Quantity)
	if err != nil {
		return nil, err
	}
	if err := t.move(a.Terms.Lender, a.Terms.Borrower, a.Terms.Loan.Token, loanQty); err != nil {
		return nil, err
	}
	transfers = append(transfers, Transfer{Token: a.Terms.Loan.Token, Quantity: a.Terms.Loan.Quantity, From: a.Terms.Lender, To: a.Terms.Borrower, Leg: "loan"})
	if err := t.openCustody(a); err != nil {
		return nil, err
	}
	for _, leg := range a.Terms.Collateral {
		q, err := parseStoredQuantity(leg.Quantity)
		if err != nil {
			return nil, err
		}
		if q > 0 {
			if err := t.deliverCollateral(a, leg.Token, q); err != nil {
				return nil, err
			}
			transfers = append(transfers, Transfer{Token: leg.Token, Quantity: leg.Quantity, From: a.Terms.Borrower, To: a.Terms.Lender, Leg: "collateral", Held: true})
		} else if err := t.setPosition(a, leg.Token, 0); err != nil {
			return nil, err
		}
	}
	return transfers, nil
}

// saveStep finishes a life-cycle step of agreement a, which had status oldStatus: the step joins
// the agreement's history with its note and transfers, the agreement is stored, and the step's
// event (carrying the note) is emitted.
func (t *txn) saveStep(a *Agreement, oldStatus, step, note, event string, transfers []Transfer) (string, error) {
	t.record(a, step, note, transfers)
	if err := t.putAgreement(a, oldStatus); err != nil {
		return "", err
	}
	if err := t.emit(t.agreementEvent(event, a)); err != nil {
		return "", err
	}
	return t.finish(t.receipt(a))
}

// closeAgreement performs the closing exchange (closeExchange), emits AgreementClosed with the
// reason and returns the receipt.
func (t *txn) closeAgreement(a *Agreement, reason, note, date string) (string, error) {
	if err := t.closeExchange(a, reason, note, date); err != nil {
		return "", err
	}
	evt := t.agreementEvent(EventAgreementClosed, a)
	evt.Reason = reason
	if err := t.emit(evt); err != nil {
		return "", err
	}
	return t.finish(t.receipt(a))
}

// closeExchange performs the closing exchange on date and marks the agreement CLOSED: fees and
// rebates accrue up to date, lagged settlements still pending are dropped (the exchange returns
// everything held), the borrower returns the loan leg, and every collateral position is brought
// to zero.
func (t *txn) closeExchange(a *Agreement, reason, note, date string) error {
	oldStatus := a.Status
	accruals, err := t.accrueTo(a, date, nil)
	if err != nil {
		return err
	}
	// lagged settlements still pending are dropped: the exchange returns everything held
	if _, err := t.dropPending(a); err != nil {
		return err
	}
	transfers := []Transfer{}
	loanQty, err := parseStoredQuantity(a.Terms.Loan.Quantity)
	if err != nil {
		return err
	}
	if loanQty > 0 { // 0 after a buy-in of the whole loan
		if err := t.move(a.Terms.Borrower, a.Terms.Lender, a.Terms.Loan.Token, loanQty); err != nil {
			return err
		}
		transfers = append(transfers, Transfer{Token: a.Terms.Loan.Token, Quantity: a.Terms.Loan.Quantity, From: a.Terms.Borrower, To: a.Terms.Lender, Leg: "loan"})
	}
	for _, leg := range a.Terms.Collateral {
		held, err := t.position(a, leg.Token)
		if err != nil {
			return err
		}
		switch {
		case held > 0:
			if err := t.returnCollateral(a, leg.Token, held); err != nil {
				return err
			}
			transfers = append(transfers, Transfer{Token: leg.Token, Quantity: formatQuantity(held), From: a.Terms.Lender, To: a.Terms.Borrower, Leg: "collateral", Held: true})
		case held < 0:
			if err := t.deliverCollateral(a, leg.Token, -held); err != nil {
				return err
			}
			transfers = append(transfers, Transfer{Token: leg.Token, Quantity: formatQuantity(-held), From: a.Terms.Borrower, To: a.Terms.Lender, Leg: "collateral"})
		}
	}
	// the book keeps the closed agreement's (zero) positions; the flag tells FinishSweep it has
	// no more calls without reading the agreement
	c, err := t.custodyToChange(a)
	if err != nil {
		return err
	}
	c.Closed = true
	a.Status = StatusClosed
	a.Termination = nil
	a.Substitution = nil
	t.record(a, "CLOSED", joinNote(reason, note), transfers)
	a.History[len(a.History)-1].Accruals = accruals
	return t.putAgreement(a, oldStatus)
}

// parseTerms parses, validates and normalises proposed terms.
func (t *txn) parseTerms(s string) (*Terms, error) {
	var terms Terms
	if err := strictJSON("terms", s, 64*1024, &terms); err != nil {
		return nil, err
	}
	if terms.ID != "" {
		if err := validateIdentifier("agreement id", terms.ID); err != nil {
			return nil, err
		}
	}
	if err := validateText("reference", terms.Reference, 128, false); err != nil {
		return nil, err
	}
	if err := validateCdmExtras(terms.CdmExtras); err != nil {
		return nil, err
	}
	if err := validateBankParty("lender", terms.Lender); err != nil {
		return nil, err
	}
	if err := validateBankParty("borrower", terms.Borrower); err != nil {
		return nil, err
	}
	if terms.Lender == terms.Borrower {
		return nil, fmt.Errorf("lender and borrower are both %s", terms.Lender)
	}
	currencies := make([]string, 0, 1+len(terms.Collateral))
	loanToken, _, err := t.loadToken(terms.Loan.Token)
	if err != nil {
		return nil, fmt.Errorf("loan leg: %w", err)
	}
	currencies = append(currencies, loanToken.Currency)
	loanQty, err := parseQuantity("loan quantity", terms.Loan.Quantity)
	if err != nil {
		return nil, err
	}
	terms.Loan.Quantity = formatQuantity(loanQty)
	if len(terms.Collateral) == 0 {
		return nil, fmt.Errorf("the collateral leg needs at least one token")
	}
	if len(terms.Collateral) > maxCollateralTokens {
		return nil, fmt.Errorf("the collateral leg has %d tokens; at most %d", len(terms.Collateral), maxCollateralTokens)
	}
	seen := map[string]bool{}
	for i := range terms.Collateral {
		leg := &terms.Collateral[i]
		tok, _, err := t.loadToken(leg.Token)
		if err != nil {
			return nil, fmt.Errorf("collateral leg %d: %w", i+1, err)
		}
		currencies = append(currencies, tok.Currency)
		if leg.Token == terms.Loan.Token {
			return nil, fmt.Errorf("token %s cannot be both the loan and collateral", leg.Token)
		}
		if seen[leg.Token] {
			return nil, fmt.Errorf("collateral token %s is listed twice", leg.Token)
		}
		seen[leg.Token] = true
		q, err := parseNonNegativeQuantity(fmt.Sprintf("collateral quantity of %s", leg.Token), leg.Quantity)
		if err != nil {
			return nil, err
		}
		leg.Quantity = formatQuantity(q)
		if leg.Haircut != "" {
			_, h, err := parseFraction("haircut of "+leg.Token, leg.Haircut)
			if err != nil {
				return nil, err
			}
			leg.Haircut = h
		}
	}
	if err := t.knownCurrency("baseCurrency", terms.BaseCurrency, currencies...); err != nil {
		return nil, err
	}
	if _, terms.Haircut, err = parseFraction("haircut", terms.Haircut); err != nil {
		return nil, err
	}
	if terms.Threshold == "" {
		terms.Threshold = "0"
	}
	if _, terms.Threshold, err = parseFraction("threshold", terms.Threshold); err != nil {
		return nil, err
	}
	if terms.MinimumTransferAmount == "" {
		terms.MinimumTransferAmount = "0"
	}
	if _, terms.MinimumTransferAmount, err = parseDecimal("minimumTransferAmount", terms.MinimumTransferAmount); err != nil {
		return nil, err
	}
	if terms.Mode != ModeSingle && terms.Mode != ModeMulti {
		return nil, fmt.Errorf("invalid mode %q: expected %s or %s", truncate(terms.Mode, 20), ModeSingle, ModeMulti)
	}
	if terms.SettlementLagDays < 0 || terms.SettlementLagDays > maxSettlementLag {
		return nil, fmt.Errorf("invalid settlementLagDays %d: expected 0 to %d", terms.SettlementLagDays, maxSettlementLag)
	}
	if terms.NoticeDays < 0 || terms.NoticeDays > maxNoticeDays {
		return nil, fmt.Errorf("invalid noticeDays %d: expected 0 to %d", terms.NoticeDays, maxNoticeDays)
	}
	if err := parseEconomics(&terms); err != nil {
		return nil, err
	}
	if err := t.checkSchedule(&terms); err != nil {
		return nil, err
	}
	if err := validateDate("tradeDate", terms.TradeDate); err != nil {
		return nil, err
	}
	if err := validateDate("startDate", terms.StartDate); err != nil {
		return nil, err
	}
	if terms.StartDate < terms.TradeDate {
		return nil, fmt.Errorf("startDate %s is before tradeDate %s", terms.StartDate, terms.TradeDate)
	}
	if terms.EndDate != "" {
		if err := validateDate("endDate", terms.EndDate); err != nil {
			return nil, err
		}
		if terms.EndDate < terms.StartDate {
			return nil, fmt.Errorf("endDate %s is before startDate %s", terms.EndDate, terms.StartDate)
		}
	}
	return &terms, nil
}
