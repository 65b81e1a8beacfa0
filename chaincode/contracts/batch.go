package contracts

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// Batch entry points: many agreements in one transaction. Each agreement gets exactly what the
// single-agreement function gives it (the same checks, records and endorsement policies); a batch
// only saves the per-transaction cost (endorsement, ordering, validation), which at market scale is
// most of the cost.
//
//   - ProposeBatch, ApproveBatch: registration, all or nothing (one refused agreement refuses the
//     batch, naming it).
//   - SweepPlan (evaluate), SweepAgreements, FinishSweep: the daily sweep. The sweeper lists the
//     active agreements from a committed snapshot, margins them in batches of one
//     lender/borrower pair (one batch per borrower at a time: a call moves the borrower's free
//     balances), then asks FinishSweep to record the date as swept once every active agreement
//     has its call.

// maxBatch is the most agreements one batch transaction takes (SweepAgreements, ProposeBatch,
// ApproveBatch): large enough that one transaction carries many agreements, small enough that a
// transaction stays well inside the orderer's block size and the peer's execution timeout.
const maxBatch = 1000

// BatchAgreement is one agreement in the result and event of ProposeBatch and ApproveBatch: its
// id and status only (the result and the event are in the block; the records are private).
type BatchAgreement struct {
	Agreement string `json:"agreement"`
	Status    string `json:"status"`
}

// BatchResult is what ProposeBatch and ApproveBatch return (the agreements in the order given).
type BatchResult struct {
	Count      int              `json:"count"`
	Agreements []BatchAgreement `json:"agreements"`
}

type agreementBatchEvent struct {
	Event
	Party      string           `json:"party"` // the party that acted
	Agreements []BatchAgreement `json:"agreements"`
}

// maxTermsList bounds the JSON argument of ProposeBatch (16 MiB).
const maxTermsList = 16 << 20

// Events of the batch functions.
const (
	EventAgreementsProposed = "AgreementsProposed"
	EventAgreementsApproved = "AgreementsApproved"
)

// ProposeBatch registers up to 1000 agreements in one transaction (termsListJSON is a JSON array of
// Terms objects). Every agreement gets exactly Propose's checks and record, and its key the same
// bilateral endorsement policy; an id left out is AGR-<16 hex of the transaction id>-<n>, n its
// 1-based place in the list. One failing agreement refuses the whole batch, naming its place. The
// event lists the agreements (id, parties); the terms are in GetAgreement.
func (c *AgreementsContract) ProposeBatch(ctx contractapi.TransactionContextInterface, termsListJSON string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	party, err := t.requireParty()
	if err != nil {
		return "", err
	}
	var raw []json.RawMessage
	if err := strictJSON("terms list", termsListJSON, maxTermsList, &raw); err != nil {
		return "", err
	}
	if len(raw) == 0 {
		return "", fmt.Errorf("invalid terms list: the list is empty")
	}
	if len(raw) > maxBatch {
		return "", fmt.Errorf("invalid terms list: %d agreements; at most %d per transaction", len(raw), maxBatch)
	}
	all := make([]*Terms, len(raw))
	keys := make([]string, 0, len(raw))
	seen := make(map[string]int, len(raw))
	for i, r := range raw {
		terms, err := t.parseTerms(string(r))
		if err != nil {
			return "", fmt.Errorf("terms %d: %w", i+1, err)
		}
		if party != terms.Lender && party != terms.Borrower {
			return "", fmt.Errorf("access denied: %s can only propose agreements in which it is the lender or the borrower (terms %d)", party, i+1)
		}
		if err := t.registeredParties(terms); err != nil {
			return "", fmt.Errorf("terms %d: %w", i+1, err)
		}
		if terms.ID == "" {
			terms.ID = fmt.Sprintf("AGR-%s-%d", shortTxID(t.txID), i+1)
		} else if err := t.requireUnusedID(terms); err != nil {
			return "", fmt.Errorf("terms %d: %w", i+1, err)
		}
		if j, dup := seen[terms.ID]; dup {
			return "", fmt.Errorf("terms %d: agreement %s is also terms %d", i+1, terms.ID, j)
		}
		seen[terms.ID] = i + 1
		key, err := t.pairKey(pairCollection(terms.Lender, terms.Borrower), keyAgreement, terms.ID)
		if err != nil {
			return "", err
		}
		all[i] = terms
		keys = append(keys, key)
	}
	if err := t.prefetch(keys); err != nil {
		return "", err
	}
	res := BatchResult{Count: len(all), Agreements: make([]BatchAgreement, 0, len(all))}
	for i, terms := range all {
		if existing, err := t.get(keys[i]); err != nil {
			return "", err
		} else if existing != nil {
			return "", fmt.Errorf("terms %d: agreement %s already exists", i+1, terms.ID)
		}
		a := &Agreement{ID: terms.ID, Status: StatusProposed, Terms: *terms, Proposer: party,
			History: []HistoryEntry{}, CreatedAt: t.timestamp(), UpdatedAt: t.timestamp()}
		t.record(a, "PROPOSED", "", nil)
		if err := t.putAgreement(a, ""); err != nil {
			return "", err
		}
		res.Agreements = append(res.Agreements, BatchAgreement{Agreement: a.ID, Status: a.Status})
	}
	if err := t.emit(agreementBatchEvent{Event: t.event(EventAgreementsProposed), Party: party, Agreements: res.Agreements}); err != nil {
		return "", err
	}
	t.stub.StartWriteBatch()
	return t.finish(res)
}

// ApproveBatch approves up to 1000 proposals in one transaction (agreementIDsJSON is a JSON array
// of ids, no repeats): for each, exactly Approve's checks (the caller is the counterparty of its
// proposer, the agreement is PROPOSED) and its atomic opening exchange, in the order given. The
// batch is all or nothing: one refusal or short balance refuses every approval of the batch, and
// the error names the agreement. Approvals of agreements between the same parties touch the same
// free balances, so one batch carries many of them instead of many conflicting transactions.
func (c *AgreementsContract) ApproveBatch(ctx contractapi.TransactionContextInterface, agreementIDsJSON string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	party, err := t.requireParty()
	if err != nil {
		return "", err
	}
	ids, err := parseIDList("agreement ids", agreementIDsJSON)
	if err != nil {
		return "", err
	}
	if _, err := t.prefetchAgreements(ids); err != nil {
		return "", err
	}
	agreements := make([]*Agreement, len(ids))
	for i, id := range ids {
		a, err := t.agreementFor(id, t.loadAgreement)
		if err != nil {
			return "", err
		}
		if err := a.requireCounterparty(party, "approve"); err != nil {
			return "", err
		}
		if err := a.requireStatus(StatusProposed); err != nil {
			return "", err
		}
		agreements[i] = a
	}
	res := BatchResult{Count: len(agreements), Agreements: make([]BatchAgreement, 0, len(agreements))}
	for _, a := range agreements {
		if err := t.requireEligibleOpening(a); err != nil {
			return "", err
		}
		transfers, err := t.openingExchange(a)
		if err != nil {
			return "", fmt.Errorf("cannot approve agreement %s: %w", a.ID, err)
		}
		if err := t.markPairActive(a); err != nil {
			return "", err
		}
		a.Status = StatusActive
		t.record(a, "APPROVED", "", transfers)
		if err := t.putAgreement(a, StatusProposed); err != nil {
			return "", err
		}
		res.Agreements = append(res.Agreements, BatchAgreement{Agreement: a.ID, Status: a.Status})
	}
	if err := t.emit(agreementBatchEvent{Event: t.event(EventAgreementsApproved), Party: party, Agreements: res.Agreements}); err != nil {
		return "", err
	}
	t.stub.StartWriteBatch()
	return t.finish(res)
}

// parseIDList parses a JSON array of 1..maxBatch distinct identifiers.
func parseIDList(field, s string) ([]string, error) {
	var ids []string
	if err := strictJSON(field, s, maxBatch*70+2, &ids); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("invalid %s: the list is empty", field)
	}
	if len(ids) > maxBatch {
		return nil, fmt.Errorf("invalid %s: %d ids; at most %d per transaction", field, len(ids), maxBatch)
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if err := validateIdentifier("agreement id", id); err != nil {
			return nil, err
		}
		if seen[id] {
			return nil, fmt.Errorf("invalid %s: %s is listed twice", field, id)
		}
		seen[id] = true
	}
	return ids, nil
}

// SweepStatus is one agreement's outcome in SweepAgreements. The result is in the block, which
// every peer stores, so it says what happened and, for skipped and failed agreements, why as a
// code; the parties read the call (GetMarginCall) or the failure's message (GetSweepFailure).
type SweepStatus struct {
	Agreement string `json:"agreement"`
	Status    string `json:"status"`           // called | replayed | skipped | failed | closed (at maturity)
	Reason    string `json:"reason,omitempty"` // skipped or failed: a reason code (reasonCode)
	TxID      string `json:"txId,omitempty"`   // replayed: the transaction that made the call
}

// SweepAgreementsResult is what SweepAgreements returns: one outcome per agreement, in the order
// given.
type SweepAgreementsResult struct {
	Date     string        `json:"date"`
	Count    int           `json:"count"`
	Called   int           `json:"called"`
	Replayed int           `json:"replayed"`
	Skipped  int           `json:"skipped"`
	Failed   int           `json:"failed"`
	Closed   int           `json:"closed"`
	Outcomes []SweepStatus `json:"outcomes"`
}

// marginBatchEvent lists, by outcome, the agreements of a SweepAgreements transaction.
type marginBatchEvent struct {
	Event
	Date     string   `json:"date"`
	Calls    []string `json:"calls"`    // agreements called by this transaction
	Replayed []string `json:"replayed"` // agreements already called for the date
	Skipped  []string `json:"skipped"`
	Failed   []string `json:"failed"`
	// the daily cycle's life-cycle work (cycle.go)
	Closed          []string `json:"closed"`          // closed at maturity
	Matured         []string `json:"matured"`         // matured today; the closing exchange could not settle
	RecallsFailed   []string `json:"recallsFailed"`   // a recall fell due unreturned
	SettlementFails []string `json:"settlementFails"` // a lagged settlement due could not settle
	Breaches        []string `json:"breaches"`        // a concentration cap is exceeded after the call
}

// SweepPlanItem is one active agreement in SweepPlan.
type SweepPlanItem struct {
	Agreement string `json:"agreement"`
	Lender    string `json:"lender"`
	Borrower  string `json:"borrower"`
	Book      string `json:"book"`   // custody book: a batch of agreements sharing books checks fewer endorsement policies
	Called    bool   `json:"called"` // already has a margin call for the date
}

// SweepFinished is what FinishSweep returns.
type SweepFinished struct {
	Date          string `json:"date"`
	Agreements    int    `json:"agreements"` // active agreements checked
	Called        int    `json:"called"`     // of which with their call for the date
	Exempt        int    `json:"exempt"`     // of which the date does not apply to (outside the term, or a later call)
	LastSweptDate string `json:"lastSweptDate"`
}

// sweepStatus is the outcome of a call that was made (called) or found recorded (replayed).
func sweepStatus(rec *MarginCallRecord, status string) SweepStatus {
	out := SweepStatus{Agreement: rec.Agreement, Status: status}
	if status == SweepReplayed {
		out.TxID = rec.TxID
	}
	return out
}

// reasonCode classifies why an agreement was skipped or failed in a sweep, without its terms or
// quantities (the message itself stays private).
func reasonCode(err error) string {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "access denied"):
		return "refused"
	case strings.Contains(msg, "insufficient balance"):
		return "insufficient_balance"
	case strings.Contains(msg, "missing_price") || strings.Contains(msg, "no price") || strings.Contains(msg, "no FX"):
		return "missing_price"
	case strings.HasPrefix(msg, "no agreement"):
		return "unknown_agreement"
	}
	return "failed"
}

// skipCode is the reason code of a date that does not apply to an agreement (marginable).
func skipCode(a *Agreement, date string) string {
	switch {
	case a.Status != StatusActive && a.Status != StatusMatured:
		return "not_active"
	case date <= a.Terms.StartDate:
		return "not_started"
	case a.Status == StatusActive && a.maturity() != "" && date > a.maturity():
		return "ended"
	}
	return "later_call"
}

// SweepAgreements runs the margin calls of an explicit list of agreements (a JSON array of ids, at
// most 1000, no repeats) for a valuation date in one transaction: the sweep. The caller takes the
// list from a committed snapshot (SweepPlan) and splits it into batches that touch disjoint keys (a
// margin call writes its own agreement's custody book and record and the borrower's free balances,
// so batches of different borrowers can be submitted concurrently), instead of walking the active
// index inside the transaction, which a concurrent approval would invalidate.
//
// Each agreement gets the same margin call as MarginCall (once per agreement and date, recorded
// under its own key); agreements already called are replayed and those the date does not apply to
// are skipped with the reason. An agreement whose call fails (unknown, a price or FX rate missing
// for its tokens, a short balance for a lagged settlement) is reported as failed with the reason,
// its changes are undone, and the others go on. The oracle may list any agreement; a party only
// its own, and naming another's refuses the whole batch, as do a date without prices and a
// failure of the peer's state access. The result gives each agreement's outcome in order; the
// event summarises the calls with their parties.
func (c *MarginContract) SweepAgreements(ctx contractapi.TransactionContextInterface, date, agreementIDsJSON string) (string, error) {
	t, err := beginMarginDate(ctx, date)
	if err != nil {
		return "", err
	}
	ids, err := parseIDList("agreement ids", agreementIDsJSON)
	if err != nil {
		return "", err
	}
	coll, err := t.pairHint()
	if err != nil {
		return "", err
	}
	if coll == "" && t.caller.operatorSide() {
		if _, err := t.requirePairHint("SweepAgreements"); err != nil {
			return "", err
		}
	}
	prices, err := t.pricesFor(date)
	if err != nil {
		return "", err
	}
	// Status and terms from the terms books the sweeper names (one read per book), else from the
	// agreements' records; then, in one round trip, their custody books (collateral held and
	// latest call dates).
	fromBook, err := t.termsFromHints(coll, ids)
	if err != nil {
		return "", err
	}
	var unnamed []string
	for i, id := range ids {
		if fromBook[i] == nil {
			unnamed = append(unnamed, id)
		}
	}
	keys, err := t.prefetchAgreements(unnamed)
	if err != nil {
		return "", err
	}
	agreements := make([]*Agreement, len(ids))
	loadErrs := make([]error, len(ids))
	keys = keys[:0]
	for i, id := range ids {
		load := t.loadAgreementTerms
		if known := fromBook[i]; known != nil {
			load = func(string) (*Agreement, error) { return known, nil }
		}
		a, err := t.agreementFor(id, load)
		if err != nil {
			// a party naming an agreement that is not its own (or that does not exist: the
			// refusal reads the same) refuses the batch; the oracle's unknown id fails alone
			if isLedgerFault(err) || !t.caller.hasRole(RoleOracle) {
				return "", err
			}
			loadErrs[i] = err
			continue
		}
		if coll != "" && a.coll() != coll {
			return "", fmt.Errorf("agreement %s is not in the pair %s the batch names", a.ID, coll)
		}
		agreements[i] = a
		if keys, err = t.appendCustodyKeys(keys, a); err != nil {
			return "", err
		}
	}
	if err := t.prefetch(keys); err != nil {
		return "", err
	}
	res := SweepAgreementsResult{Date: date, Count: len(ids), Outcomes: make([]SweepStatus, 0, len(ids))}
	evt := marginBatchEvent{Event: t.event(EventMarginBatch), Date: date, Calls: []string{}, Replayed: []string{},
		Skipped: []string{}, Failed: []string{}, Closed: []string{}, Matured: []string{}, RecallsFailed: []string{},
		SettlementFails: []string{}, Breaches: []string{}}
	cache := newMarginCache()
	noted := 0 // failure notes written
	for i, a := range agreements {
		var out SweepStatus
		var flags cycleFlags
		if a == nil {
			err = loadErrs[i]
		} else {
			t.savepoint()
			out, err = t.sweepOne(a, date, prices, cache, &flags)
		}
		if err != nil {
			if isLedgerFault(err) {
				return "", err
			}
			t.rollback()
			out = SweepStatus{Agreement: ids[i], Status: SweepFailed, Reason: reasonCode(err)}
			if a != nil {
				// the parties read the message with GetSweepFailure
				if err := t.recordSweepFailure(a, date, err); err != nil {
					return "", err
				}
				noted++
			}
		} else {
			t.release()
			for _, f := range []struct {
				on   bool
				list *[]string
			}{{flags.matured, &evt.Matured}, {flags.recallsFailed, &evt.RecallsFailed}, {flags.settlementFailed, &evt.SettlementFails},
				{flags.breached, &evt.Breaches}} {
				if f.on {
					*f.list = append(*f.list, out.Agreement)
				}
			}
		}
		res.Outcomes = append(res.Outcomes, out)
		switch out.Status {
		case SweepCalled:
			res.Called++
			evt.Calls = append(evt.Calls, out.Agreement)
		case SweepReplayed:
			res.Replayed++
			evt.Replayed = append(evt.Replayed, out.Agreement)
		case SweepSkipped:
			res.Skipped++
			evt.Skipped = append(evt.Skipped, out.Agreement)
		case SweepClosed:
			res.Closed++
			evt.Closed = append(evt.Closed, out.Agreement)
		default:
			res.Failed++
			evt.Failed = append(evt.Failed, out.Agreement)
		}
	}
	// a transaction emits iff it writes: calls made or failure notes kept (an unknown id's
	// failure writes nothing)
	if res.Called > 0 || res.Closed > 0 || noted > 0 {
		if err := t.emit(evt); err != nil {
			return "", err
		}
		// Fabric 3.1 write batching: the writes reach the peer in one message instead of one per key.
		t.stub.StartWriteBatch()
	}
	return t.finish(res)
}

// sweepOne is one agreement of a sweep batch: replayed when already called for the date; else the
// cycle's life-cycle work (cycle.go), which may close it at maturity; then skipped when the date
// does not apply to it, else called.
func (t *txn) sweepOne(a *Agreement, date string, prices *PriceSet, cache *marginCache, flags *cycleFlags) (SweepStatus, error) {
	if rec, err := t.recordedCall(a, date); err != nil {
		return SweepStatus{}, err
	} else if rec != nil {
		return sweepStatus(rec, SweepReplayed), nil
	}
	a, err := t.cycleDue(a, date, flags)
	if err != nil {
		return SweepStatus{}, err
	}
	if flags.closed {
		return SweepStatus{Agreement: a.ID, Status: SweepClosed, Reason: "maturity"}, nil
	}
	reason, err := t.marginable(a, date)
	if err != nil {
		return SweepStatus{}, err
	}
	if reason != "" {
		return SweepStatus{Agreement: a.ID, Status: SweepSkipped, Reason: skipCode(a, date)}, nil
	}
	rec, err := t.runMarginCall(a, date, prices, cache)
	if err != nil {
		return SweepStatus{}, err
	}
	out := sweepStatus(rec, SweepCalled)
	if flags.closeFailed {
		out.Reason = "close_failed"
	}
	flags.settlementFailed = len(rec.Fails) > 0
	flags.breached = len(rec.Breaches) > 0
	return out, nil
}

// FinishSweep records that a valuation date's sweep is complete.
//
// For one pair (named in the transient field tanpo.pair; the oracle or either bank, endorsed by
// the pair's peers): it checks every custody book of the pair (each holds up to 1000 agreements,
// so 100,000 agreements cost about 100 reads): an active agreement without the date's call is fine
// only when the date does not apply to it (outside its term, or a later call already made);
// otherwise it refuses with the count and the first such agreements. It then records on the pair's
// public sweep marker that the pair is complete through the date, or has no active agreement.
//
// Without a pair (the oracle): it records the date as swept (LastSweptDate) once every pair's
// marker is complete through it or inactive, reading the markers, never a bilateral record.
// Recording an earlier date than the one already swept changes nothing.
func (c *MarginContract) FinishSweep(ctx contractapi.TransactionContextInterface, date string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireMarginCaller(); err != nil {
		return "", err
	}
	if err := validateDate("date", date); err != nil {
		return "", err
	}
	if _, err := t.pricesFor(date); err != nil {
		return "", err
	}
	coll, err := t.pairHint()
	if err != nil {
		return "", err
	}
	if coll != "" {
		return t.finishPairSweep(date)
	}
	if err := t.requireRole(RoleOracle); err != nil {
		return "", err
	}
	res := SweepFinished{Date: date}
	var behind []string
	err = t.scanPartialKey(keyPairSweep, nil, func(_ string, v []byte) (bool, error) {
		var m PairSweep
		if err := json.Unmarshal(v, &m); err != nil {
			return false, fmt.Errorf("corrupt sweep marker: %w", err)
		}
		if m.Active {
			res.Agreements++
			if m.Date < date {
				behind = append(behind, m.Collection)
			}
		}
		return true, nil
	})
	if err != nil {
		return "", err
	}
	if len(behind) > 0 {
		return "", fmt.Errorf("cannot finish the sweep of %s: %d pairs with active agreements have not finished it (%s)",
			date, len(behind), shortList(behind))
	}
	return t.recordSwept(date, res)
}

func shortList(items []string) string {
	sort.Strings(items)
	shown := strings.Join(items[:min(len(items), 5)], ", ")
	if len(items) > 5 {
		shown += ", …"
	}
	return shown
}

// recordSwept moves LastSweptDate forward to date (never back).
func (t *txn) recordSwept(date string, res SweepFinished) (string, error) {
	last, err := t.lastSweptDate()
	if err != nil {
		return "", err
	}
	res.LastSweptDate = last.Date
	if date > last.Date {
		key, err := t.key(keyMeta, "lastSweptDate")
		if err != nil {
			return "", err
		}
		if err := t.putJSON(key, DateRecord{Date: date}); err != nil {
			return "", err
		}
		res.LastSweptDate = date
		if err := t.emit(sweepFinishedEvent{Event: t.event(EventSweepFinished), Date: date, Agreements: res.Agreements}); err != nil {
			return "", err
		}
	}
	return t.finish(res)
}

// PairSweep is a pair's public sweep marker: whether it has active agreements and the latest date
// through which every one of them has its margin call. It names no agreement.
type PairSweep struct {
	Collection string `json:"collection"`
	Active     bool   `json:"active"`
	Date       string `json:"date"`
}

// provisionPairSweep creates the sweep marker of the pair of banks a and b, if absent, under the
// pair's endorsement policy (a bilateral transaction may update it, not create it).
func (t *txn) provisionPairSweep(a, b string) error {
	coll := pairCollection(a, b)
	key, err := t.key(keyPairSweep, coll)
	if err != nil {
		return err
	}
	return t.provisionKey(key, PairSweep{Collection: coll}, a, b)
}

// markPairActive records on a pair's marker that an agreement became active.
func (t *txn) markPairActive(a *Agreement) error {
	key, err := t.key(keyPairSweep, a.coll())
	if err != nil {
		return err
	}
	var m PairSweep
	found, err := t.getJSON(key, &m)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("no sweep marker for the pair %s: it is created when a bank is registered", a.coll())
	}
	if m.Active && m.Date == "" {
		return nil
	}
	// behind until the pair's next FinishSweep checks the new agreement: the marker is public, so
	// it must not carry the agreement's start date
	m.Active, m.Date = true, ""
	return t.putJSON(key, m)
}

// finishPairSweep is FinishSweep for the pair the client named.
func (t *txn) finishPairSweep(date string) (string, error) {
	coll, err := t.requirePairHint("FinishSweep")
	if err != nil {
		return "", err
	}
	res := SweepFinished{Date: date}
	var missing []string
	active := false
	err = t.eachCustodyEntry(coll, func(_, aid string, entry *Custody) error {
		if entry.Closed {
			return nil
		}
		active = true
		res.Agreements++
		switch {
		case entry.LastCall == date:
			res.Called++
			return nil
		case entry.LastCall > date:
			res.Exempt++
			return nil
		}
		// no call yet: the date may not apply to it (it starts on or after the date, or ended)
		a, err := t.loadAgreementIn(coll, aid)
		if err != nil {
			return err
		}
		reason, err := t.marginable(a, date)
		if err != nil {
			return err
		}
		// an active agreement past maturity is the cycle's to close or mark MATURED
		if due := a.maturity(); reason == "" || (a.Status == StatusActive && due != "" && date > due) {
			missing = append(missing, aid)
			return nil
		}
		res.Exempt++
		return nil
	})
	if err != nil {
		return "", err
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("cannot finish the sweep of %s: %d active agreements have no margin call for it yet (%s)",
			date, len(missing), shortList(missing))
	}
	key, err := t.key(keyPairSweep, coll)
	if err != nil {
		return "", err
	}
	var m PairSweep
	found, err := t.getJSON(key, &m)
	if err != nil {
		return "", err
	}
	if !found {
		return "", fmt.Errorf("no sweep marker for the pair %s: it is created when a bank is registered", coll)
	}
	next := PairSweep{Collection: coll, Active: active, Date: max(m.Date, date)}
	if next != m {
		if err := t.putJSON(key, next); err != nil {
			return "", err
		}
		if err := t.emit(sweepFinishedEvent{Event: t.event(EventSweepFinished), Date: date, Agreements: res.Agreements, Pair: coll}); err != nil {
			return "", err
		}
	}
	last, err := t.lastSweptDate()
	if err != nil {
		return "", err
	}
	res.LastSweptDate = last.Date
	return t.finish(res)
}

type sweepFinishedEvent struct {
	Event
	Date       string `json:"date"`
	Agreements int    `json:"agreements"`
	Pair       string `json:"pair,omitempty"` // a pair's sweep; absent for the whole platform's
}

// SweepFailure is why an agreement's call failed in a sweep (private to its parties).
type SweepFailure struct {
	Agreement string `json:"agreement"`
	Date      string `json:"date"`
	Reason    string `json:"reason"`
	TxID      string `json:"txId"`
}

// recordSweepFailure keeps the message of an agreement's failed call in its pair's collection.
func (t *txn) recordSweepFailure(a *Agreement, date string, cause error) error {
	key, err := t.pairKey(a.coll(), keySweepFailure, a.ID, date)
	if err != nil {
		return err
	}
	return t.putJSON(key, SweepFailure{Agreement: a.ID, Date: date, Reason: cause.Error(), TxID: t.txID})
}

// GetSweepFailure returns why an agreement's margin call failed in a sweep on a date (the latest
// failure). Its parties only.
func (c *MarginContract) GetSweepFailure(ctx contractapi.TransactionContextInterface, agreementID, date string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireBilateralReader(); err != nil {
		return "", err
	}
	a, err := t.agreementFor(agreementID, t.loadAgreementTerms)
	if err != nil {
		return "", err
	}
	if err := validateDate("date", date); err != nil {
		return "", err
	}
	key, err := t.pairKey(a.coll(), keySweepFailure, a.ID, date)
	if err != nil {
		return "", err
	}
	var f SweepFailure
	found, err := t.getJSON(key, &f)
	if err != nil {
		return "", err
	}
	if !found {
		return "", fmt.Errorf("no failed margin call of agreement %s on %s", a.ID, date)
	}
	return t.finish(f)
}

// SweepPlan lists one page of active agreements for a sweep on a date: id, lender, borrower,
// custody book and whether the agreement already has its call for the date. It is a read-only
// query on a committed snapshot; the sweeper groups the ids by pair and submits them with
// SweepAgreements. The oracle names the pair (transient field tanpo.pair) and evaluates on a peer
// of one of its banks: the plan is what the operator may know of a pair's book (no terms). A party
// lists its own, in every pair or the one it names.
func (c *MarginContract) SweepPlan(ctx contractapi.TransactionContextInterface, date, pageSize, bookmark string) (string, error) {
	t, err := beginMarginDate(ctx, date)
	if err != nil {
		return "", err
	}
	hint, err := t.pairHint()
	if err != nil {
		return "", err
	}
	var colls []string
	objectType, attrs := keyAgreementStatus, []string{StatusActive}
	switch {
	case hint != "":
		coll, err := t.requirePairHint("SweepPlan")
		if err != nil {
			return "", err
		}
		colls = []string{coll}
	case t.caller.operatorSide():
		_, err := t.requirePairHint("SweepPlan")
		return "", err
	default:
		if colls, err = t.callerCollections(); err != nil {
			return "", err
		}
	}
	page, err := listPrivatePage(t, colls, objectType, attrs, pageSize, bookmark, func(coll, k string, v []byte) (SweepPlanItem, bool, error) {
		parts, err := t.splitKey(k)
		if err != nil {
			return SweepPlanItem{}, false, err
		}
		var entry agreementIndexEntry
		if err := json.Unmarshal(v, &entry); err != nil {
			return SweepPlanItem{}, false, fmt.Errorf("corrupt agreement index entry %s: %w", parts[len(parts)-1], err)
		}
		return SweepPlanItem{Agreement: parts[len(parts)-1], Lender: entry.Lender, Borrower: entry.Borrower, Book: entry.Book}, true, nil
	})
	if err != nil {
		return "", err
	}
	// whether each has its call for the date, from the custody books' latest call dates (one read
	// per book, not one per agreement)
	keys := make([]string, 0, len(page.Items))
	for _, item := range page.Items {
		if item.Book != "" {
			k, err := t.bookKey(pairCollection(item.Lender, item.Borrower), item.Book)
			if err != nil {
				return "", err
			}
			keys = append(keys, k)
		}
	}
	if err := t.prefetch(keys); err != nil {
		return "", err
	}
	for i, item := range page.Items {
		a := &Agreement{ID: item.Agreement, Book: item.Book, Terms: Terms{Lender: item.Lender, Borrower: item.Borrower}}
		rec, err := t.recordedCall(a, date)
		if err != nil {
			return "", err
		}
		page.Items[i].Called = rec != nil
	}
	return t.finish(page)
}

// termsFromHints reads the status and terms of the agreements whose custody book the sweeper
// named (transient field tanpo.books) from those books' terms books in coll; nil for the others.
func (t *txn) termsFromHints(coll string, ids []string) ([]*Agreement, error) {
	out := make([]*Agreement, len(ids))
	books, err := t.bookHints(len(ids))
	if err != nil || coll == "" {
		return out, err
	}
	keys := []string{}
	for _, b := range books {
		if b != "" {
			k, err := t.termsBookKey(coll, b)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
	}
	if err := t.prefetch(keys); err != nil {
		return nil, err
	}
	for i, id := range ids {
		if books[i] == "" {
			continue
		}
		if out[i], err = t.termsFromBook(coll, books[i], id); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// prefetchAgreements reads the agreements' records in one round trip per collection and returns
// their keys (ids not found in the caller's collections are left for the load to refuse).
func (t *txn) prefetchAgreements(ids []string) ([]string, error) {
	keys := make([]string, 0, len(ids))
	for _, id := range ids {
		coll, err := t.locate(id)
		if err != nil {
			return nil, err
		}
		if coll == "" {
			continue
		}
		k, err := t.pairKey(coll, keyAgreement, id)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, t.prefetch(keys)
}
