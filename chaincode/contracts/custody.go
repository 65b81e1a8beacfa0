package contracts

import (
	"fmt"
)

// Collateral custody. The collateral a lender holds under an agreement lives in a custody book:
// one record (key tanpo.custody [bookId] in the pair's private collection, whose endorsement
// policy needs both banks) for up to bookSize agreements between the same lender and borrower.
// Approvals fill a pair's open book (key tanpo.custody~open [lender, borrower], which also lists
// every book of the pair) in approval order and start a new one, named after its first agreement,
// when it is full. A book also keeps each agreement's latest margin-call date and its lagged
// settlements still pending: Fabric allows range queries on private data only in transactions
// that write nothing, so whatever a margin call must find is reached by point reads.
//
// Why books and not a key per position: Fabric checks a written key's state-based policy once per
// key, verifying every endorsement over the whole transaction each time. A sweep margining a
// thousand agreements in one transaction would check it two thousand times (per agreement and
// token) and the cost grew with the batch size squared; with books it checks it once or twice.
// The protection is the same: no collateral moves without both parties' endorsement. Agreements
// of one pair already conflict on the borrower's free balances whenever collateral moves, and
// approvals of one pair on both parties' balances, so sharing a book costs no concurrency there.

// bookSize is the most agreements one custody book holds: a sweep batch (maxBatch) spans at most
// two books.
var bookSize = maxBatch // a variable only so that tests can fill a book quickly

// CustodyBook holds the collateral of up to bookSize agreements of one lender/borrower pair.
type CustodyBook struct {
	ID         string              `json:"id"` // the first agreement opened into it
	Lender     string              `json:"lender"`
	Borrower   string              `json:"borrower"`
	Agreements map[string]*Custody `json:"agreements"`
}

// Custody is one agreement's part of a book.
type Custody struct {
	Held     map[string]string `json:"held"`               // token -> signed quantity; negative = owed back by the borrower at close
	LastCall string            `json:"lastCall,omitempty"` // date of the agreement's latest margin call
	Closed   bool              `json:"closed,omitempty"`   // closed: no more margin calls (FinishSweep skips it)
	Pending  []Pending         `json:"pending,omitempty"`  // lagged margin settlements not yet due, by due date
	Accrual  *AccrualState     `json:"accrual,omitempty"`  // fees and rebates: the open period, month totals not yet invoiced
}

// openBook names the custody book a lender/borrower pair's next approval goes into, and every book
// of the pair (in the order they were opened; FinishSweep reads them all).
type openBook struct {
	Book  string   `json:"book"`
	Books []string `json:"books"`
}

// eachCustodyEntry calls f for every agreement's custody entry of the pair collection coll: both
// directions of the pair, each book in the order it was opened, agreements in id order.
func (t *txn) eachCustodyEntry(coll string, f func(bookID, agreementID string, entry *Custody) error) error {
	first, second, _ := collectionParties(coll)
	for _, pair := range [][2]string{{first, second}, {second, first}} {
		openKey, err := t.pairKey(coll, keyCustodyOpen, pair[0], pair[1])
		if err != nil {
			return err
		}
		var open openBook
		if _, err := t.getJSON(openKey, &open); err != nil {
			return err
		}
		for _, id := range open.Books {
			b, err := t.loadBook(coll, id)
			if err != nil {
				return err
			}
			if b == nil {
				return fmt.Errorf("internal error: custody book %s of the pair %s is not in the state", id, coll)
			}
			for _, aid := range sortedKeys(b.Agreements) {
				if entry := b.Agreements[aid]; entry != nil {
					if err := f(id, aid, entry); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// bookKey is the working-set key of custody book id in collection coll (built once per
// transaction: a sweep asks for it several times per agreement).
func (t *txn) bookKey(coll, id string) (string, error) {
	if k, ok := t.bookKeys[coll+"\x00"+id]; ok {
		return k, nil
	}
	k, err := t.pairKey(coll, keyCustody, id)
	if err != nil {
		return "", err
	}
	t.bookKeys[coll+"\x00"+id] = k
	return k, nil
}

// loadBook reads a custody book once per transaction (nil when absent).
func (t *txn) loadBook(coll, id string) (*CustodyBook, error) {
	key, err := t.bookKey(coll, id)
	if err != nil {
		return nil, err
	}
	b, err := t.books.load(t, key)
	if b != nil && b.Agreements == nil {
		b.Agreements = map[string]*Custody{}
	}
	return b, err
}

// custodyOf returns agreement a's part of its book, or nil when a holds no collateral (never
// approved, or closed before custody books existed).
func (t *txn) custodyOf(a *Agreement) (*Custody, string, error) {
	if a.Book == "" {
		if a.Status == StatusActive {
			// an active agreement always has a book: its state predates custody books, and
			// reading its collateral as zero would margin it wrongly
			return nil, "", fmt.Errorf("agreement %s is active but has no custody book: its state was written by an earlier chaincode version without custody books; recreate the ledger", a.ID)
		}
		return nil, "", nil
	}
	b, err := t.loadBook(a.coll(), a.Book)
	if err != nil {
		return nil, "", err
	}
	key, err := t.bookKey(a.coll(), a.Book)
	if err != nil {
		return nil, "", err
	}
	if b == nil || b.Agreements[a.ID] == nil {
		return nil, "", fmt.Errorf("internal error: agreement %s is missing from its custody book %s", a.ID, a.Book)
	}
	if b.Lender != a.Terms.Lender || b.Borrower != a.Terms.Borrower {
		return nil, "", fmt.Errorf("internal error: custody book %s belongs to %s/%s, not to the parties of agreement %s", a.Book, b.Lender, b.Borrower, a.ID)
	}
	return b.Agreements[a.ID], key, nil
}

// openCustody puts agreement a into its parties' open custody book, or into a new one (created
// with the bilateral endorsement policy of a's parties) when there is none or it is full.
func (t *txn) openCustody(a *Agreement) error {
	coll := a.coll()
	openKey, err := t.pairKey(coll, keyCustodyOpen, a.Terms.Lender, a.Terms.Borrower)
	if err != nil {
		return err
	}
	var open openBook
	if _, err := t.getJSON(openKey, &open); err != nil {
		return err
	}
	var b *CustodyBook
	if open.Book != "" {
		if b, err = t.loadBook(coll, open.Book); err != nil {
			return err
		}
		if b == nil {
			return fmt.Errorf("internal error: the open custody book %s of %s/%s is not in the state", open.Book, a.Terms.Lender, a.Terms.Borrower)
		}
	}
	if b == nil || len(b.Agreements) >= bookSize {
		key, err := t.bookKey(coll, a.ID)
		if err != nil {
			return err
		}
		if existing, err := t.loadBook(coll, a.ID); err != nil {
			return err
		} else if existing != nil {
			return fmt.Errorf("internal error: custody book %s already exists", a.ID)
		}
		b = &CustodyBook{ID: a.ID, Lender: a.Terms.Lender, Borrower: a.Terms.Borrower, Agreements: map[string]*Custody{}}
		t.books.set(key, b)
		open.Book = b.ID
		open.Books = append(open.Books, b.ID)
		if err := t.putJSON(openKey, open); err != nil {
			return err
		}
	}
	if b.Lender != a.Terms.Lender || b.Borrower != a.Terms.Borrower {
		return fmt.Errorf("internal error: custody book %s belongs to %s/%s, not to the parties of agreement %s", b.ID, b.Lender, b.Borrower, a.ID)
	}
	if b.Agreements[a.ID] != nil {
		return fmt.Errorf("internal error: agreement %s is already in custody book %s", a.ID, b.ID)
	}
	key, err := t.bookKey(coll, b.ID)
	if err != nil {
		return err
	}
	b.Agreements[a.ID] = &Custody{Held: map[string]string{}}
	t.books.dirty[key] = true
	a.Book = b.ID
	return nil
}

// position reads the collateral held under agreement a in token (0 when none).
func (t *txn) position(a *Agreement, token string) (int64, error) {
	c, _, err := t.custodyOf(a)
	if err != nil || c == nil {
		return 0, err
	}
	s, ok := c.Held[token]
	if !ok {
		return 0, nil
	}
	return parseStoredQuantity(s)
}

func (t *txn) setPosition(a *Agreement, token string, held int64) error {
	c, err := t.custodyToChange(a)
	if err != nil {
		return err
	}
	c.Held[token] = formatQuantity(held)
	return nil
}

// custodyToChange returns agreement a's part of its book, marking the book to be written back.
func (t *txn) custodyToChange(a *Agreement) (*Custody, error) {
	c, key, err := t.custodyOf(a)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("internal error: agreement %s holds no collateral (not approved)", a.ID)
	}
	if t.sp != nil {
		t.sp.saveCustody(t.books.records[key], key, a.ID, c, t.books.dirty[key])
	}
	t.books.dirty[key] = true
	return c, nil
}

// lastMarginDate is the date of agreement a's latest margin call ("" when none).
func (t *txn) lastMarginDate(a *Agreement) (string, error) {
	c, _, err := t.custodyOf(a)
	if err != nil || c == nil {
		return "", err
	}
	return c.LastCall, nil
}

func (t *txn) setLastMarginDate(a *Agreement, date string) error {
	c, err := t.custodyToChange(a)
	if err != nil {
		return err
	}
	c.LastCall = date
	return nil
}

// appendCustodyKeys appends the key of agreement a's custody book (for prefetch).
func (t *txn) appendCustodyKeys(keys []string, a *Agreement) ([]string, error) {
	if a.Book == "" {
		return keys, nil
	}
	k, err := t.bookKey(a.coll(), a.Book)
	if err != nil {
		return nil, err
	}
	return append(keys, k), nil
}
