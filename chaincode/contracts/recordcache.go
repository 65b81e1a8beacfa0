package contracts

import (
	"encoding/json"
	"fmt"
	"sort"
)

// recordCache holds the records of one kind (custody books, call books, terms books) that a
// transaction reads and changes in place: each is read and decoded once, and those marked changed
// are encoded into the write set once, at commit, however many agreements changed them.
type recordCache[T any] struct {
	what    string        // names the kind in errors
	records map[string]*T // by working-set key; nil = absent
	dirty   map[string]bool
}

func newRecordCache[T any](what string) recordCache[T] {
	return recordCache[T]{what: what, records: map[string]*T{}, dirty: map[string]bool{}}
}

// load returns the record under key (nil when absent), reading it once per transaction.
func (c *recordCache[T]) load(t *txn, key string) (*T, error) {
	if r, ok := c.records[key]; ok {
		return r, nil
	}
	var r T
	found, err := t.getJSON(key, &r)
	if err != nil {
		return nil, err
	}
	if !found {
		c.records[key] = nil
		return nil, nil
	}
	c.records[key] = &r
	return &r, nil
}

// set puts r under key and marks it changed.
func (c *recordCache[T]) set(key string, r *T) {
	c.records[key] = r
	c.dirty[key] = true
}

// flush encodes the changed records into the transaction's write set, in key order.
func (c *recordCache[T]) flush(t *txn) error {
	keys := make([]string, 0, len(c.dirty))
	for k := range c.dirty {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b, err := json.Marshal(c.records[k])
		if err != nil {
			return fmt.Errorf("failed to encode %s: %w", c.what, err)
		}
		t.put(k, b)
	}
	c.dirty = map[string]bool{}
	return nil
}
