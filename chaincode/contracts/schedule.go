package contracts

import (
	"fmt"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"

	"tanpo/chaincode/margin"
)

// Eligibility schedules and concentration limits. An agreement's terms carry its own schedule
// (`schedule`), or name one its two banks defined for the pair (`scheduleId`, DefineSchedule):
// eligible asset classes and currencies, a minimum rating (cash exempt), per-token and per-class
// haircuts, and caps on the share of the collateral's market value per issuer, asset class or
// token. The margin engine applies it (margin/schedule.go, vectors/eligibility.json): a top-up
// skips ineligible tokens and delivers no more of a token than its caps allow; a call records
// the tokens it skipped and the caps still breached after it (prices moved), which the daily
// cycle's event lists. Approval refuses ineligible opening collateral. A schedule reads the
// tokens' definitions: asset class, credit rating (S&P scale) and issuer.

// ScheduleRecord is a schedule a pair defined, immutable once defined.
type ScheduleRecord struct {
	ID        string          `json:"id"`
	Schedule  margin.Schedule `json:"schedule"`
	DefinedBy string          `json:"definedBy"`
	TxID      string          `json:"txId"`
}

// scheduleInput is DefineSchedule's argument.
type scheduleInput struct {
	ID string `json:"id"`
	margin.Schedule
}

type scheduleEvent struct {
	Event
	Schedule string `json:"schedule"`
	Pair     string `json:"pair"`
}

// DefineSchedule defines an eligibility schedule for the pair named in the transient field
// tanpo.pair (either bank of it): {"id", "assetClasses"?, "currencies"?, "minRating"?, "haircuts"?,
// "caps"?}. Immutable: an agreement that names it was approved under exactly these rules.
func (c *AgreementsContract) DefineSchedule(ctx contractapi.TransactionContextInterface, scheduleJSON string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	party, err := t.requireParty()
	if err != nil {
		return "", err
	}
	coll, err := t.requirePairHint("DefineSchedule")
	if err != nil {
		return "", err
	}
	var in scheduleInput
	if err := strictJSON("schedule", scheduleJSON, 16*1024, &in); err != nil {
		return "", err
	}
	if err := validateIdentifier("schedule id", in.ID); err != nil {
		return "", err
	}
	key, err := t.pairKey(coll, keySchedule, in.ID)
	if err != nil {
		return "", err
	}
	if v, err := t.get(key); err != nil {
		return "", err
	} else if v != nil {
		return "", fmt.Errorf("schedule %s is already defined for %s: schedules do not change; define another id", in.ID, coll)
	}
	if err := validSchedule(&in.Schedule); err != nil {
		return "", err
	}
	if err := t.putJSON(key, ScheduleRecord{ID: in.ID, Schedule: in.Schedule, DefinedBy: party, TxID: t.txID}); err != nil {
		return "", err
	}
	if err := t.emit(scheduleEvent{Event: t.event(EventScheduleDefined), Schedule: in.ID, Pair: coll}); err != nil {
		return "", err
	}
	return t.finish(map[string]string{"schedule": in.ID, "txId": t.txID})
}

// GetSchedule returns a schedule the pair named in tanpo.pair defined (either bank of it).
func (c *AgreementsContract) GetSchedule(ctx contractapi.TransactionContextInterface, scheduleID string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireBilateralReader(); err != nil {
		return "", err
	}
	coll, err := t.requirePairHint("GetSchedule")
	if err != nil {
		return "", err
	}
	if err := validateIdentifier("schedule id", scheduleID); err != nil {
		return "", err
	}
	rec, err := t.loadSchedule(coll, scheduleID)
	if err != nil {
		return "", err
	}
	if rec == nil {
		return "", fmt.Errorf("no schedule %s defined for %s", scheduleID, coll)
	}
	return t.finish(rec)
}

// validSchedule checks a schedule's own rules with the engine (an agreement with one cash token as
// both sides' stand-in), so that a broken schedule is refused when defined, not at a margin call.
func validSchedule(s *margin.Schedule) error {
	tokens := []margin.Token{{ID: "LOAN", Kind: margin.KindCT, Currency: "XXX"}, {ID: "COLLATERAL", Kind: margin.KindCT, Currency: "XXX"}}
	terms := margin.Terms{Base: "XXX", Loan: margin.LoanLeg{Token: "LOAN", Quantity: 1}, Collateral: []string{"COLLATERAL"}, Mode: margin.ModeSingle}
	// token haircuts and token caps name the agreement's tokens: checked with its terms
	probe := *s
	probe.Haircuts = map[string]string{}
	for k, v := range s.Haircuts {
		if len(k) < 6 || k[:6] != "token:" {
			probe.Haircuts[k] = v
		}
	}
	probe.Caps = nil
	for _, c := range s.Caps {
		if c.By != margin.CapByToken {
			probe.Caps = append(probe.Caps, c)
		}
	}
	terms.Schedule = &probe
	if _, err := margin.NewAgreement(tokens, terms); err != nil {
		return fmt.Errorf("invalid schedule: %w", err)
	}
	return nil
}

// scheduleOf returns the schedule an agreement's terms carry or name (nil when none).
func (t *txn) scheduleOf(terms *Terms) (*margin.Schedule, error) {
	if terms.ScheduleID == "" {
		return terms.Schedule, nil
	}
	rec, err := t.loadSchedule(pairCollection(terms.Lender, terms.Borrower), terms.ScheduleID)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, fmt.Errorf("no schedule %s defined for %s and %s (DefineSchedule)", terms.ScheduleID, terms.Lender, terms.Borrower)
	}
	return &rec.Schedule, nil
}

// loadSchedule reads a schedule of the pair collection coll (nil when it has none of that id).
func (t *txn) loadSchedule(coll, id string) (*ScheduleRecord, error) {
	key, err := t.pairKey(coll, keySchedule, id)
	if err != nil {
		return nil, err
	}
	var rec ScheduleRecord
	found, err := t.getJSON(key, &rec)
	if err != nil || !found {
		return nil, err
	}
	return &rec, nil
}

// checkSchedule validates proposed terms' schedule against their tokens with the engine.
func (t *txn) checkSchedule(terms *Terms) error {
	if terms.Schedule == nil && terms.ScheduleID == "" {
		return nil
	}
	if terms.Schedule != nil && terms.ScheduleID != "" {
		return fmt.Errorf("invalid terms: give a schedule or a scheduleId, not both")
	}
	if terms.ScheduleID != "" {
		if err := validateIdentifier("scheduleId", terms.ScheduleID); err != nil {
			return err
		}
	}
	if _, err := t.scheduleOf(terms); err != nil {
		return err
	}
	a := &Agreement{ID: terms.ID, Terms: *terms}
	a.Terms.Loan.Quantity = "1" // the engine needs a positive loan; the quantity is checked elsewhere
	if _, err := t.engineAgreement(a, newMarginCache()); err != nil {
		return fmt.Errorf("invalid schedule: %w", err)
	}
	return nil
}

// BreachRecord is a cap exceeded after a call: its group and the share held against the limit.
type BreachRecord struct {
	By    string `json:"by"`
	Key   string `json:"key"`
	Share string `json:"share"`
	Max   string `json:"max"`
}

func breachRecords(bs []margin.Breach) []BreachRecord {
	out := make([]BreachRecord, 0, len(bs))
	for _, b := range bs {
		out = append(out, BreachRecord{By: b.By, Key: b.Key, Share: b.Share.RatString(), Max: b.Max.RatString()})
	}
	return out
}

// requireEligibleOpening refuses an approval whose opening collateral the schedule does not admit.
func (t *txn) requireEligibleOpening(a *Agreement) error {
	if a.Terms.Schedule == nil && a.Terms.ScheduleID == "" {
		return nil
	}
	ma, err := t.engineAgreement(a, newMarginCache())
	if err != nil {
		return err
	}
	for _, leg := range a.Terms.Collateral {
		if q, err := parseStoredQuantity(leg.Quantity); err != nil || q == 0 {
			continue
		}
		if ok, reason := margin.Eligibility(ma, leg.Token); !ok {
			return fmt.Errorf("cannot approve agreement %s: collateral %s is not eligible under its schedule (%s)", a.ID, leg.Token, reason)
		}
	}
	return nil
}
