package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/pkg/statebased"
	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"

	"tanpo/chaincode/margin"
)

// Key layout. Every record lives under a composite key (object type + attributes); the object types
// below are the whole key space of the chaincode. Index entries hold the single byte 0x00.
const (
	keyIdentity        = "tanpo.identity"       // [mspId, cidId]           -> Identity
	keyToken           = "tanpo.token"          // [tokenId]                -> Token
	keySupply          = "tanpo.supply"         // [tokenId]                -> Supply
	keyPairMint        = "tanpo.supply~pair"    // [tokenId, collection]    -> PairMint (auto-issued in the pair's margin calls)
	keyBalance         = "tanpo.balance"        // [party, tokenId]         -> Balance (free balance; created at 0, holder's policy)
	keyRequest         = "tanpo.request"        // [requestId]              -> Request
	keyRequestByParty  = "tanpo.request~party"  // [party, status, requestId]
	keyRequestByStatus = "tanpo.request~status" // [status, requestId]
	// in the pair's private collection (privacy.go): agreements, their indexes, custody, margin calls
	keyAgreement        = "tanpo.agreement"        // [agreementId]            -> Agreement
	keyAgreementByParty = "tanpo.agreement~party"  // [party, status, agreementId]
	keyAgreementStatus  = "tanpo.agreement~status" // [status, agreementId]
	keyCustody          = "tanpo.custody"          // [bookId]                 -> CustodyBook (collateral held, latest call dates)
	keyCustodyOpen      = "tanpo.custody~open"     // [lender, borrower]       -> {"book"}: the pair's book approvals fill
	keyPriceHead        = "tanpo.prices"           // [date]                   -> PriceHead (latest version)
	keyPriceVersion     = "tanpo.prices~version"   // [date, version as 6 digits] -> PriceSet
	keyMeta             = "tanpo.meta"             // ["lastPriceDate"] / ["lastSweptDate"] -> DateRecord
	keyPing             = "tanpo.ping"             // [txId]                   -> PingRecord
	keyTermsBook        = "tanpo.termsbook"        // [bookId]                 -> TermsBook (status and terms of the book's agreements)
	keyCallBook         = "tanpo.callbook"         // [bookId, date]           -> CallBook (the day's margin-call records of a custody book)
	keySweepFailure     = "tanpo.sweepfailure"     // [agreementId, date]      -> SweepFailure (pair collection)
	keyInvoice          = "tanpo.invoice"          // [month, currency]        -> Invoice (pair collection, billing.go)
	keySchedule         = "tanpo.schedule"         // [scheduleId]             -> ScheduleRecord (pair collection, schedule.go)
	keyPairSweep        = "tanpo.sweep~pair"       // [collection]             -> PairSweep (public, the pair's policy)
)

var indexValue = []byte{0x00}

// txn is the working set of one transaction. Fabric does not let a transaction read its own
// writes, so every point read and write goes through this cache: reads see earlier writes of the
// same transaction, and nothing reaches the stub until commit, which writes keys in sorted order
// and sets the transaction's single event. A transaction that returns an error never calls
// commit, so a refusal writes nothing.
type txn struct {
	stub   shim.ChaincodeStubInterface
	txID   string
	now    time.Time
	caller *caller

	platform   *PlatformSettings // the platform settings, once read (settings())
	zone       *time.Location    // their business time zone
	parties    map[string]bool   // bank parties known to be registered (registeredParty)
	currencies map[string]bool   // currencies known to be some token's (knownCurrency)
	banks      []string          // bank parties in the role registry (bankParties)
	hint       *string           // the pair collection the client named (pairHint), once read

	values map[string][]byte // cached value per key; nil = absent or deleted
	dirty  map[string]bool
	sbe    map[string][]byte

	books      recordCache[CustodyBook] // custody books read, by key (encoded at commit)
	bookKeys   map[string]string        // book id -> key
	callBooks  recordCache[CallBook]
	termsBooks recordCache[TermsBook]

	eventName    string
	eventPayload []byte

	sp *savepoint // set while a batch runs one agreement's step that it may undo

	accruers map[string]*margin.Accruer // by economic terms (economics.go)
}

// savepoint records the working set as it was before one step of a batch (one agreement's
// margin call), so that a step that fails can be undone and the batch go on with the others.
// Reads stay cached (they are the committed state); writes, deletes and custody entries are
// restored.
type savepoint struct {
	values  map[string]priorValue
	custody map[string]priorCustody // book key + agreement id
	calls   map[string]priorCall    // call book key + agreement id
	terms   map[string]priorTerms   // terms book key + agreement id (the cycle's status changes)
}

type priorCall struct {
	key, id string
	call    *storedMarginCall
	dirty   bool
}

type priorTerms struct {
	key, id string
	core    *agreementCore
	had     bool // the book existed in the working set
	dirty   bool
}

type priorValue struct {
	value         []byte
	cached, dirty bool
}

type priorCustody struct {
	book      *CustodyBook
	key, id   string
	entry     *Custody
	bookDirty bool
}

func (t *txn) savepoint() {
	t.sp = &savepoint{values: map[string]priorValue{}, custody: map[string]priorCustody{}, calls: map[string]priorCall{}, terms: map[string]priorTerms{}}
}

// release keeps the step's changes.
func (t *txn) release() { t.sp = nil }

// rollback undoes the step's changes.
func (t *txn) rollback() {
	sp := t.sp
	t.sp = nil
	if sp == nil {
		return
	}
	for k, p := range sp.values {
		if p.cached {
			t.values[k] = p.value
		} else {
			delete(t.values, k)
		}
		if p.dirty {
			t.dirty[k] = true
		} else {
			delete(t.dirty, k)
		}
	}
	for _, p := range sp.custody {
		p.book.Agreements[p.id] = p.entry
		if !p.bookDirty {
			delete(t.books.dirty, p.key)
		}
	}
	for _, p := range sp.terms {
		tb := t.termsBooks.records[p.key]
		switch {
		case !p.had:
			delete(t.termsBooks.records, p.key)
		case p.core == nil:
			delete(tb.Agreements, p.id)
		default:
			tb.Agreements[p.id] = p.core
		}
		if !p.dirty {
			delete(t.termsBooks.dirty, p.key)
		}
	}
	for _, p := range sp.calls {
		cb := t.callBooks.records[p.key]
		if p.call == nil {
			delete(cb.Calls, p.id)
		} else {
			cb.Calls[p.id] = p.call
		}
		if !p.dirty {
			delete(t.callBooks.dirty, p.key)
		}
	}
}

// saveCall remembers an agreement's entry in a call book before the step's first change to it.
func (sp *savepoint) saveCall(key, id string, call *storedMarginCall, dirty bool) {
	k := key + "\x00" + id
	if _, ok := sp.calls[k]; ok {
		return
	}
	sp.calls[k] = priorCall{key: key, id: id, call: call, dirty: dirty}
}

// saveTerms remembers an agreement's entry in a terms book before the step's first change to it.
func (sp *savepoint) saveTerms(t *txn, key, id string) {
	k := key + "\x00" + id
	if _, ok := sp.terms[k]; ok {
		return
	}
	tb, had := t.termsBooks.records[key]
	p := priorTerms{key: key, id: id, had: had && tb != nil, dirty: t.termsBooks.dirty[key]}
	if p.had {
		p.core = tb.Agreements[id]
	}
	sp.terms[k] = p
}

// journal remembers key's state before the step's first change to it.
func (sp *savepoint) journal(t *txn, key string) {
	if _, ok := sp.values[key]; ok {
		return
	}
	v, cached := t.values[key]
	sp.values[key] = priorValue{value: v, cached: cached, dirty: t.dirty[key]}
}

// saveCustody remembers an agreement's custody entry before the step's first change to it.
func (sp *savepoint) saveCustody(book *CustodyBook, key, id string, c *Custody, bookDirty bool) {
	if book == nil {
		return
	}
	k := key + "\x00" + id
	if _, ok := sp.custody[k]; ok {
		return
	}
	held := make(map[string]string, len(c.Held))
	for tok, q := range c.Held {
		held[tok] = q
	}
	pending := append([]Pending(nil), c.Pending...)
	// Accrual is replaced, never changed in place (accrueTo), so the pointer keeps its state
	sp.custody[k] = priorCustody{book: book, key: key, id: id, entry: &Custody{Held: held, LastCall: c.LastCall, Closed: c.Closed, Pending: pending, Accrual: c.Accrual}, bookDirty: bookDirty}
}

// ledgerFault marks a failure of the peer's state access rather than of the data: a batch stops
// on it instead of reporting it as one agreement's outcome (another endorser would not see it).
type ledgerFault struct{ error }

func (f ledgerFault) Unwrap() error { return f.error }

func isLedgerFault(err error) bool {
	var f ledgerFault
	return errors.As(err, &f)
}

// begin opens a transaction and resolves the caller. Every exported transaction function calls it
// first and then checks the caller's rights before doing anything else.
func begin(ctx contractapi.TransactionContextInterface) (*txn, error) {
	if ctx == nil || ctx.GetStub() == nil {
		return nil, errors.New("internal error: no transaction context")
	}
	stub := ctx.GetStub()
	ts, err := stub.GetTxTimestamp()
	if err != nil {
		return nil, fmt.Errorf("failed to read the transaction timestamp: %w", err)
	}
	if ts == nil {
		return nil, errors.New("failed to read the transaction timestamp: none in the proposal")
	}
	t := &txn{
		stub:   stub,
		txID:   stub.GetTxID(),
		now:    ts.AsTime().UTC(),
		values: make(map[string][]byte),
		dirty:  make(map[string]bool),
		sbe:    make(map[string][]byte),

		books:      newRecordCache[CustodyBook]("custody book"),
		bookKeys:   make(map[string]string),
		callBooks:  newRecordCache[CallBook]("call book"),
		termsBooks: newRecordCache[TermsBook]("terms book"),
	}
	c, err := resolveCaller(t)
	if err != nil {
		return nil, err
	}
	t.caller = c
	return t, nil
}

// timestamp is the transaction time (the proposal's timestamp, identical on every endorser).
func (t *txn) timestamp() string { return t.now.Format(time.RFC3339) }

func (t *txn) key(objectType string, attrs ...string) (string, error) {
	k, err := t.stub.CreateCompositeKey(objectType, attrs)
	if err != nil {
		return "", fmt.Errorf("invalid key %s%v: %w", objectType, attrs, err)
	}
	return k, nil
}

func (t *txn) get(key string) ([]byte, error) {
	if v, ok := t.values[key]; ok {
		return v, nil
	}
	var v []byte
	var err error
	if coll, k, private := splitPrivateKey(key); private {
		v, err = t.stub.GetPrivateData(coll, storedKey(k))
	} else {
		v, err = t.stub.GetState(key)
	}
	if err != nil {
		return nil, ledgerFault{fmt.Errorf("failed to read state: %w", err)}
	}
	if len(v) == 0 {
		v = nil
	}
	t.values[key] = v
	return v, nil
}

// getJSON reads key into out; it reports whether the key exists.
func (t *txn) getJSON(key string, out any) (bool, error) {
	v, err := t.get(key)
	if err != nil || v == nil {
		return false, err
	}
	if err := json.Unmarshal(v, out); err != nil {
		return false, fmt.Errorf("corrupt record in state: %w", err)
	}
	return true, nil
}

func (t *txn) put(key string, value []byte) {
	if t.sp != nil {
		t.sp.journal(t, key)
	}
	t.values[key] = value
	t.dirty[key] = true
}

func (t *txn) putJSON(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("failed to encode record: %w", err)
	}
	t.put(key, b)
	return nil
}

func (t *txn) del(key string) {
	if t.sp != nil {
		t.sp.journal(t, key)
	}
	t.values[key] = nil
	t.dirty[key] = true
}

// setBilateralPolicy makes key changeable only with endorsements from the peers of both
// organisations (state-based endorsement), whatever the chaincode-level policy says.
func (t *txn) setBilateralPolicy(key string, parties ...string) error {
	ep, err := statebased.NewStateEP(nil)
	if err != nil {
		return fmt.Errorf("failed to build the endorsement policy: %w", err)
	}
	msps := make([]string, 0, len(parties))
	for _, p := range parties {
		m, ok := mspForParty(p)
		if !ok {
			return fmt.Errorf("no MSP for party %q", p)
		}
		msps = append(msps, m)
	}
	if err := ep.AddOrgs(statebased.RoleTypePeer, msps...); err != nil {
		return fmt.Errorf("failed to build the endorsement policy: %w", err)
	}
	policy, err := ep.Policy()
	if err != nil {
		return fmt.Errorf("failed to build the endorsement policy: %w", err)
	}
	t.sbe[key] = policy
	return nil
}

// emit records the transaction's event. Fabric keeps one event per transaction, so a transaction
// calls emit once with a payload describing everything it did; a later call replaces the earlier.
func (t *txn) emit(payload eventPayload) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("failed to encode event: %w", err)
	}
	t.eventName = payload.eventType()
	t.eventPayload = b
	return nil
}

// commit flushes the working set to the stub: writes and deletes in key order, then endorsement
// policies, then the event.
func (t *txn) commit() error {
	if err := t.books.flush(t); err != nil {
		return err
	}
	if err := t.callBooks.flush(t); err != nil {
		return err
	}
	if err := t.termsBooks.flush(t); err != nil {
		return err
	}
	keys := make([]string, 0, len(t.dirty))
	for k := range t.dirty {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := t.write(k, t.values[k]); err != nil {
			return err
		}
	}
	sbeKeys := make([]string, 0, len(t.sbe))
	for k := range t.sbe {
		sbeKeys = append(sbeKeys, k)
	}
	sort.Strings(sbeKeys)
	for _, k := range sbeKeys {
		if err := t.stub.SetStateValidationParameter(k, t.sbe[k]); err != nil {
			return fmt.Errorf("failed to set the endorsement policy: %w", err)
		}
	}
	if t.eventName != "" {
		if err := t.stub.SetEvent(t.eventName, t.eventPayload); err != nil {
			return fmt.Errorf("failed to set event: %w", err)
		}
	}
	return nil
}

// write puts (or, for nil, deletes) one key of the working set through the stub.
func (t *txn) write(k string, v []byte) error {
	coll, pk, private := splitPrivateKey(k)
	var err error
	switch {
	case private && v == nil:
		err = t.stub.DelPrivateData(coll, storedKey(pk))
	case private:
		err = t.stub.PutPrivateData(coll, storedKey(pk), v)
	case v == nil:
		err = t.stub.DelState(k)
	default:
		err = t.stub.PutState(k, v)
	}
	if err != nil {
		return fmt.Errorf("failed to write state: %w", err)
	}
	return nil
}

// finish commits and returns v encoded as JSON (the payload every transaction returns).
func (t *txn) finish(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("failed to encode result: %w", err)
	}
	if err := t.commit(); err != nil {
		return "", err
	}
	return string(b), nil
}

// prefetch reads the keys not yet in the transaction's working set in one round trip to the peer
// (GetMultipleStates; the shim falls back to one read per key when the peer does not batch reads).
func (t *txn) prefetch(keys []string) error {
	missing := make([]string, 0, len(keys))
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if _, ok := t.values[k]; ok || seen[k] {
			continue
		}
		seen[k] = true
		missing = append(missing, k)
	}
	// one batched read per collection (public state is collection "")
	byColl := map[string][]string{}
	for _, k := range missing {
		coll, _, _ := splitPrivateKey(k)
		byColl[coll] = append(byColl[coll], k)
	}
	for _, coll := range sortedKeys(byColl) {
		keys := byColl[coll]
		var values [][]byte
		var err error
		if coll == "" {
			values, err = t.stub.GetMultipleStates(keys...)
		} else {
			plain := make([]string, len(keys))
			for i, k := range keys {
				_, pk, _ := splitPrivateKey(k)
				plain[i] = storedKey(pk)
			}
			values, err = t.stub.GetMultiplePrivateData(coll, plain...)
		}
		if err != nil {
			return ledgerFault{fmt.Errorf("failed to read state: %w", err)}
		}
		if len(values) != len(keys) {
			return fmt.Errorf("failed to read state: %d values for %d keys", len(values), len(keys))
		}
		for i, k := range keys {
			v := values[i]
			if len(v) == 0 {
				v = nil
			}
			t.values[k] = v
		}
	}
	return nil
}

// Pagination for evaluate queries. Fabric supports paginated range queries only in read-only
// transactions, which is what the List* functions are.

const (
	defaultPageSize = 50
	maxPageSize     = 500
	maxBookmarkLen  = 2048
)

func parsePageSize(s string) (int32, error) {
	if s == "" || s == "0" {
		return defaultPageSize, nil
	}
	n, err := parseQuantity("pageSize", s)
	if err != nil {
		return 0, err
	}
	if n > maxPageSize {
		return 0, fmt.Errorf("invalid pageSize %d: at most %d", n, maxPageSize)
	}
	return int32(n), nil
}

// Page is the shape of every List* result: the records of one page, their count, and the bookmark
// to pass to get the next page ("" when there are no more).
type Page[T any] struct {
	Items    []T    `json:"items"`
	Count    int    `json:"count"`
	Bookmark string `json:"bookmark"`

	lastColl, lastKey string // where a private listing stopped (listPrivatePage)
}

// listPage reads one page of the entries under (objectType, attrs), turning each key and value
// into an item with item: the one implementation of every List* and of SweepPlan.
func listPage[T any](t *txn, objectType string, attrs []string, pageSize, bookmark string,
	item func(key string, value []byte) (T, error)) (Page[T], error) {
	page := Page[T]{Items: []T{}}
	size, err := parsePageSize(pageSize)
	if err != nil {
		return page, err
	}
	if len(bookmark) > maxBookmarkLen {
		return page, fmt.Errorf("invalid bookmark: longer than %d bytes", maxBookmarkLen)
	}
	it, meta, err := t.stub.GetStateByPartialCompositeKeyWithPagination(objectType, attrs, size, bookmark)
	if err != nil {
		return page, ledgerFault{fmt.Errorf("failed to query %s: %w", objectType, err)}
	}
	defer it.Close()
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return page, ledgerFault{fmt.Errorf("failed to query %s: %w", objectType, err)}
		}
		v, err := item(kv.GetKey(), kv.GetValue())
		if err != nil {
			return page, err
		}
		page.Items = append(page.Items, v)
	}
	if meta != nil {
		page.Bookmark = meta.GetBookmark()
	}
	page.Count = len(page.Items)
	return page, nil
}

// asRecord decodes an entry that holds the record itself (what names it in an error).
func asRecord[T any](what string) func(string, []byte) (T, error) {
	return func(_ string, v []byte) (T, error) {
		var out T
		if err := json.Unmarshal(v, &out); err != nil {
			return out, fmt.Errorf("corrupt %s record: %w", what, err)
		}
		return out, nil
	}
}

// indexed loads the record an index entry names (its last key attribute) with load.
func indexed[T any](t *txn, load func(id string) (*T, error)) func(string, []byte) (T, error) {
	return func(k string, _ []byte) (T, error) {
		var out T
		parts, err := t.splitKey(k)
		if err != nil {
			return out, err
		}
		rec, err := load(parts[len(parts)-1])
		if err != nil {
			return out, err
		}
		return *rec, nil
	}
}

// scanPartialKey iterates all keys under (objectType, attrs) in key order, stopping when visit
// returns false. Usable in submit transactions (no pagination API).
func (t *txn) scanPartialKey(objectType string, attrs []string, visit func(key string, value []byte) (bool, error)) error {
	it, err := t.stub.GetStateByPartialCompositeKey(objectType, attrs)
	if err != nil {
		return ledgerFault{fmt.Errorf("failed to query %s: %w", objectType, err)}
	}
	defer it.Close()
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return ledgerFault{fmt.Errorf("failed to query %s: %w", objectType, err)}
		}
		more, err := visit(kv.GetKey(), kv.GetValue())
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
	return nil
}

func (t *txn) splitKey(key string) ([]string, error) {
	_, attrs, err := t.stub.SplitCompositeKey(key)
	if err != nil {
		return nil, fmt.Errorf("corrupt key in state: %w", err)
	}
	if len(attrs) == 0 {
		return nil, fmt.Errorf("corrupt key in state: %q has no attributes", key)
	}
	return attrs, nil
}

// strictJSON decodes exactly one JSON value into out, refusing unknown fields and trailing data.
func strictJSON(field, s string, maxLen int, out any) error {
	if s == "" {
		return fmt.Errorf("invalid %s: empty; expected a JSON object", field)
	}
	if len(s) > maxLen {
		return fmt.Errorf("invalid %s: longer than %d bytes", field, maxLen)
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("invalid %s: %w", field, err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("invalid %s: unexpected data after the JSON value", field)
	}
	return nil
}

// sortedKeys returns the keys of m in order (never range over a map when order matters).
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
