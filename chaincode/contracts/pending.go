package contracts

import (
	"encoding/json"
	"fmt"
)

// Pending is a margin-call adjustment computed on CallDate that settles on DueDate (agreements
// with a settlement lag). It is stored under tanpo.pending [agreement, dueDate, callDate].
type Pending struct {
	Agreement string           `json:"agreement"`
	CallDate  string           `json:"callDate"`
	DueDate   string           `json:"dueDate"`
	Transfers []MarginTransfer `json:"transfers"`
}

// dropPending deletes every pending settlement of an agreement (at close the closing exchange
// returns everything held, so lagged adjustments not yet settled no longer apply) and returns them.
func (t *txn) dropPending(a *Agreement) ([]Pending, error) {
	dropped := []Pending{}
	err := t.scanPartialKey(keyPending, []string{a.ID}, func(k string, v []byte) (bool, error) {
		var p Pending
		if err := json.Unmarshal(v, &p); err != nil {
			return false, fmt.Errorf("corrupt pending settlement: %w", err)
		}
		dropped = append(dropped, p)
		t.del(k)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return dropped, nil
}
