package contracts

import (
	"sort"
)

// Pending is a margin-call adjustment computed on CallDate that settles on DueDate (agreements
// with a settlement lag). It is kept in the agreement's part of its custody book.
type Pending struct {
	Agreement string           `json:"agreement"`
	CallDate  string           `json:"callDate"`
	DueDate   string           `json:"dueDate"`
	Transfers []MarginTransfer `json:"transfers"`
}

// pendingOf returns agreement a's lagged settlements still pending, in due-date order.
func (t *txn) pendingOf(a *Agreement) ([]Pending, error) {
	c, _, err := t.custodyOf(a)
	if err != nil || c == nil {
		return nil, err
	}
	return c.Pending, nil
}

// addPending stores a lagged settlement with the agreement's custody, keeping due-date order.
func (t *txn) addPending(a *Agreement, p Pending) error {
	c, err := t.custodyToChange(a)
	if err != nil {
		return err
	}
	c.Pending = append(c.Pending, p)
	sort.SliceStable(c.Pending, func(i, j int) bool {
		if c.Pending[i].DueDate != c.Pending[j].DueDate {
			return c.Pending[i].DueDate < c.Pending[j].DueDate
		}
		return c.Pending[i].CallDate < c.Pending[j].CallDate
	})
	return nil
}

// dropPending removes every pending settlement of an agreement (at close the closing exchange
// returns everything held, so lagged adjustments not yet settled no longer apply) and returns them.
func (t *txn) dropPending(a *Agreement) ([]Pending, error) {
	c, err := t.custodyToChange(a)
	if err != nil {
		return nil, err
	}
	dropped := c.Pending
	c.Pending = nil
	if dropped == nil {
		dropped = []Pending{}
	}
	return dropped, nil
}
