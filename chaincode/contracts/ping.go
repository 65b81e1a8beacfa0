package contracts

import (
	"fmt"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// PingContract is the network smoke test and the gateway benchmark: a write that never conflicts
// with another (one key per transaction id), its read, and a submit that does nothing beyond the
// access check. Any registered identity (and the operator's admin) may call it.
type PingContract struct {
	contractapi.Contract
}

// PingRecord is what Ping stores and GetPing returns.
type PingRecord struct {
	TxID      string `json:"txId"`
	Message   string `json:"message"`
	Party     string `json:"party"`
	Identity  string `json:"identity"`
	Timestamp string `json:"timestamp"`
}

type pingEvent struct {
	Event
	Message string `json:"message"`
	Party   string `json:"party"`
}

// GetEvaluateTransactions tags the read-only functions in the metadata.
func (c *PingContract) GetEvaluateTransactions() []string { return []string{"GetPing"} }

// Ping stores message under the transaction id and emits a Ping event.
func (c *PingContract) Ping(ctx contractapi.TransactionContextInterface, message string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireRegistered(); err != nil {
		return "", err
	}
	if err := validateText("message", message, 1024, false); err != nil {
		return "", err
	}
	key, err := t.key(keyPing, t.txID)
	if err != nil {
		return "", err
	}
	rec := PingRecord{TxID: t.txID, Message: message, Party: t.caller.party(), Identity: t.caller.id, Timestamp: t.timestamp()}
	if err := t.putJSON(key, rec); err != nil {
		return "", err
	}
	if err := t.emit(pingEvent{Event: t.event(EventPing), Message: message, Party: rec.Party}); err != nil {
		return "", err
	}
	return t.finish(rec)
}

// GetPing returns the record a Ping transaction stored.
func (c *PingContract) GetPing(ctx contractapi.TransactionContextInterface, txID string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireRegistered(); err != nil {
		return "", err
	}
	if !txIDPattern.MatchString(txID) {
		return "", fmt.Errorf("invalid transaction id %q", truncate(txID, 70))
	}
	key, err := t.key(keyPing, txID)
	if err != nil {
		return "", err
	}
	var rec PingRecord
	found, err := t.getJSON(key, &rec)
	if err != nil {
		return "", err
	}
	if !found {
		return "", fmt.Errorf("no ping with transaction id %s", txID)
	}
	return t.finish(rec)
}

// Noop is the benchmark baseline: a submit that reads only the caller's registration (for the
// access check) and writes nothing.
func (c *PingContract) Noop(ctx contractapi.TransactionContextInterface) error {
	t, err := begin(ctx)
	if err != nil {
		return err
	}
	return t.requireRegistered()
}
