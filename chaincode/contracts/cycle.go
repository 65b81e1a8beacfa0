package contracts

import (
	"fmt"
)

// The daily cycle's life-cycle work (SweepAgreements, before each agreement's margin call):
//   - an open recall still unreturned on its due date fails (status FAILED from that date, the
//     lender may then buy in);
//   - an agreement past its maturity (end date, or a notice's effective date) that its parties did
//     not close on that date (Close) closes with the closing exchange when the borrower holds what
//     it must redeliver; otherwise it becomes MATURED with a fail record naming the missing
//     quantities and is margined as usual, and the next cycle tries again. On the maturity date
//     itself it is margined like any other day. It is never left unmargined.
// Lagged margin settlements that cannot settle are the margin call's (settleDue): they stay
// pending, listed in the call's fails, and are retried the next cycle.
//
// All of it writes the agreement's record only when something falls due, so a sweep's normal day
// reads terms books alone.

// SweepClosed is the sweep outcome of an agreement the cycle closed at maturity.
const SweepClosed = "closed"

// cycleFlags says what the cycle did to one agreement, for the batch's event.
type cycleFlags struct {
	recallsFailed bool
	matured       bool // became MATURED today
	closeFailed   bool // at maturity, the closing exchange could not settle
	closed        bool
	// a lagged settlement due could not settle (the call's fails)
	settlementFailed bool
	// a concentration cap is exceeded after the call
	breached bool
}

// cycleDue runs the cycle's life-cycle checks of a on date and returns the agreement as it now
// stands (the full record when it was written).
func (t *txn) cycleDue(a *Agreement, date string, flags *cycleFlags) (*Agreement, error) {
	var full *Agreement
	loadFull := func() error {
		if full != nil {
			return nil
		}
		f, err := t.loadAgreementIn(a.coll(), a.ID)
		if err != nil {
			return err
		}
		full = f
		return nil
	}
	for _, r := range a.Recalls {
		if r.Status == RecallOpen && r.Due <= date {
			if err := loadFull(); err != nil {
				return nil, err
			}
			break
		}
	}
	if full != nil {
		for i := range full.Recalls {
			r := &full.Recalls[i]
			if r.Status != RecallOpen || r.Due > date {
				continue
			}
			left, err := r.unreturned()
			if err != nil {
				return nil, err
			}
			r.Status, r.FailedOn = RecallFailed, r.Due
			t.record(full, "RECALL_FAILED", fmt.Sprintf("%s: %d %s unreturned, due %s", r.ID, left, full.Terms.Loan.Token, r.Due), nil)
			flags.recallsFailed = true
		}
		if err := t.putAgreement(full, full.Status); err != nil {
			return nil, err
		}
	}
	due := a.maturity()
	if (a.Status != StatusActive && a.Status != StatusMatured) || due == "" || date <= due {
		if full != nil {
			return full, nil
		}
		return a, nil
	}
	if err := loadFull(); err != nil {
		return nil, err
	}
	fails, err := t.closeShortfalls(full, date)
	if err != nil {
		return nil, err
	}
	if len(fails) == 0 {
		if err := t.closeExchange(full, "maturity", "", due); err != nil {
			return nil, err
		}
		flags.closed = true
		return full, nil
	}
	old := full.Status
	full.Fails = append(full.Fails, fails...)
	step := "CLOSE_FAILED"
	if old == StatusActive {
		full.Status, step = StatusMatured, "MATURED"
		flags.matured = true
	}
	note := "matured on " + due + "; the closing exchange cannot settle:"
	for _, f := range fails {
		note += fmt.Sprintf(" %s lacks %s %s", f.Party, f.Missing, f.Token)
	}
	t.record(full, step, note, nil)
	if err := t.putAgreement(full, old); err != nil {
		return nil, err
	}
	flags.closeFailed = true
	return full, nil
}

// closeShortfalls lists what the borrower lacks for a's closing exchange: the loan quantity and the
// redelivery of negative positions (the lender returns only what it holds under the agreement).
func (t *txn) closeShortfalls(a *Agreement, date string) ([]Fail, error) {
	need := []struct {
		token string
		qty   int64
	}{}
	loan, err := parseStoredQuantity(a.Terms.Loan.Quantity)
	if err != nil {
		return nil, err
	}
	if loan > 0 {
		need = append(need, struct {
			token string
			qty   int64
		}{a.Terms.Loan.Token, loan})
	}
	for _, leg := range a.Terms.Collateral {
		held, err := t.position(a, leg.Token)
		if err != nil {
			return nil, err
		}
		if held < 0 {
			need = append(need, struct {
				token string
				qty   int64
			}{leg.Token, -held})
		}
	}
	var fails []Fail
	for _, n := range need {
		have, err := t.freeBalance(a.Terms.Borrower, n.token)
		if err != nil {
			return nil, err
		}
		if have < n.qty {
			fails = append(fails, Fail{Date: date, Step: "close", Party: a.Terms.Borrower, Token: n.token,
				Quantity: formatQuantity(n.qty), Missing: formatQuantity(n.qty - have)})
		}
	}
	return fails, nil
}
