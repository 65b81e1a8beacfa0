package contracts

import (
	"encoding/json"
	"fmt"
)

// Terms books. A sweep needs each agreement's status and terms, not its history. Reading a
// thousand agreement records was the largest part of a sweep batch on the peers (a private read
// each at endorsement, and a hashed read each for every peer to validate), so the status and terms
// of a custody book's agreements are also kept together, in tanpo.termsbook [bookId] of the pair's
// collection: written when an agreement enters the book and whenever it is saved (rarely), read by
// the sweep, which names each agreement's book (the plan gives it) in the transient field
// tanpo.books. A book that does not hold the agreement sends the sweep to its record instead.

// TermsBook holds the status and terms of a custody book's agreements.
type TermsBook struct {
	Agreements map[string]*agreementCore `json:"agreements"`
}

const transientBooks = "tanpo.books"

func (t *txn) termsBookKey(coll, book string) (string, error) {
	return t.pairKey(coll, keyTermsBook, book)
}

// keepTerms records an agreement's status and terms in its custody book's terms book.
func (t *txn) keepTerms(a *Agreement) error {
	if a.Book == "" {
		return nil
	}
	key, err := t.termsBookKey(a.coll(), a.Book)
	if err != nil {
		return err
	}
	tb, err := t.termsBooks.load(t, key)
	if err != nil {
		return err
	}
	if t.sp != nil {
		t.sp.saveTerms(t, key, a.ID)
	}
	if tb == nil {
		tb = &TermsBook{}
	}
	if tb.Agreements == nil {
		tb.Agreements = map[string]*agreementCore{}
	}
	var open []Recall
	for _, r := range a.Recalls {
		if r.Status == RecallOpen {
			open = append(open, r)
		}
	}
	tb.Agreements[a.ID] = &agreementCore{ID: a.ID, Status: a.Status, Terms: a.Terms, Proposer: a.Proposer, Book: a.Book, Recalls: open, Notice: a.Notice}
	t.termsBooks.set(key, tb)
	return nil
}

// termsFromBook reads an agreement's status and terms from the terms book of book in coll (nil
// when that book does not hold it).
func (t *txn) termsFromBook(coll, book, id string) (*Agreement, error) {
	key, err := t.termsBookKey(coll, book)
	if err != nil {
		return nil, err
	}
	tb, err := t.termsBooks.load(t, key)
	if err != nil || tb == nil || tb.Agreements[id] == nil {
		return nil, err
	}
	return tb.Agreements[id].agreement(), nil
}

// bookHints reads the books a sweep names for its agreements (tanpo.books, one per id; "" or
// absent: none).
func (t *txn) bookHints(n int) ([]string, error) {
	transient, err := t.stub.GetTransient()
	if err != nil {
		return nil, fmt.Errorf("failed to read the transient data: %w", err)
	}
	raw, ok := transient[transientBooks]
	if !ok {
		return make([]string, n), nil
	}
	var books []string
	if err := json.Unmarshal(raw, &books); err != nil || len(books) != n {
		return nil, fmt.Errorf("invalid transient field %s: expected a JSON array of %d book ids, one per agreement", transientBooks, n)
	}
	return books, nil
}
