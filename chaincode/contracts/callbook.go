package contracts

import (
	"fmt"
)

// Call books. The margin-call records of one custody book's agreements on one date live in one
// record of the pair's collection, tanpo.callbook [bookId, date], not in a key per agreement. Fabric
// pays for every private key a transaction writes: at endorsement it looks up the key's
// state-based policy, and every peer, when it validates, resolves the collection's configuration
// from the chaincode definition again for each key. For a sweep batch of a thousand agreements that
// per-key work cost more than the calls themselves; with call books the batch writes one or two
// private records. Agreements of one book are in one pair and already share the custody book, so
// sharing the call book adds no conflict.

// CallBook holds the records of one date's margin calls of a custody book's agreements.
type CallBook struct {
	Calls map[string]*storedMarginCall `json:"calls"`
}

// callBookKey is the working-set key of the call book of (book, date) in collection coll.
func (t *txn) callBookKey(coll, book, date string) (string, error) {
	return t.pairKey(coll, keyCallBook, book, date)
}

// putMarginCall stores agreement a's record of a call in its book's call book of the date.
func (t *txn) putMarginCall(a *Agreement, rec *MarginCallRecord) error {
	if a.Book == "" {
		return fmt.Errorf("internal error: agreement %s has no custody book for its margin calls", a.ID)
	}
	key, err := t.callBookKey(a.coll(), a.Book, rec.Date)
	if err != nil {
		return err
	}
	cb, err := t.callBooks.load(t, key)
	if err != nil {
		return err
	}
	if cb == nil {
		cb = &CallBook{}
	}
	if cb.Calls == nil {
		cb.Calls = map[string]*storedMarginCall{}
	}
	if t.sp != nil {
		t.sp.saveCall(key, a.ID, cb.Calls[a.ID], t.callBooks.dirty[key])
	}
	stored := storeMarginCall(rec)
	cb.Calls[a.ID] = &stored
	t.callBooks.set(key, cb)
	return nil
}

// storedCall reads agreement a's record of the call on date (nil when none).
func (t *txn) storedCall(a *Agreement, date string) (*storedMarginCall, error) {
	if a.Book == "" {
		return nil, nil
	}
	key, err := t.callBookKey(a.coll(), a.Book, date)
	if err != nil {
		return nil, err
	}
	cb, err := t.callBooks.load(t, key)
	if err != nil || cb == nil {
		return nil, err
	}
	return cb.Calls[a.ID], nil
}
