package contracts

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
)

// Confidentiality. Everything one agreement is made of (terms, custody books, margin-call records,
// pending settlements) lives in the private data collection of its two banks, "pair-<a>-<b>"
// (party ids in order), which the launcher defines in the chaincode definition with the two banks
// as members and AND(<A>.peer, <B>.peer) as its endorsement policy. Other peers of the channel
// store only the hashes Fabric writes for private data. What every validator must check stays
// public: identities, token definitions, supply, free balances (each under a state-based policy
// naming its holder's peers), prices and sweep progress.
//
// Three things keep terms out of every block:
//   - arguments: a client sends a bilateral function's arguments in the transient field
//     "tanpo.args" (a JSON array of strings) with only the function name in the proposal; Fabric
//     drops the transient field from the transaction it orders;
//   - results: bilateral submit functions return receipts (ids and statuses), because a
//     transaction's response is in the block; the records are read with evaluate queries;
//   - events carry ids and types only.
//
// The pair: a client names the collection in the transient field "tanpo.pair" (the SDK derives it
// from the terms or from a lookup on its own peer). Without it the chaincode looks the agreement up
// in the calling bank's own collections, which only works on that bank's peers; every endorser
// must read the same keys, so submitted transactions name the pair.

// Transient fields.
const (
	transientArgs = "tanpo.args"
	transientPair = "tanpo.pair"
)

var pairCollectionPattern = regexp.MustCompile(`^pair-(bank-[a-z0-9]+)-(bank-[a-z0-9]+)$`)

// pairCollection is the private data collection of two bank parties, in either order.
func pairCollection(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return "pair-" + a + "-" + b
}

// collectionParties returns the two parties of a pair collection's name.
func collectionParties(coll string) (string, string, bool) {
	m := pairCollectionPattern.FindStringSubmatch(coll)
	if m == nil || m[1] >= m[2] {
		return "", "", false
	}
	return m[1], m[2], true
}

// privateArgsStub serves a proposal's arguments from the transient field tanpo.args, so that
// contractapi dispatches the function with arguments that never reach the block.
type privateArgsStub struct {
	shim.ChaincodeStubInterface
	args [][]byte
}

func (s *privateArgsStub) GetArgs() [][]byte { return s.args }

func (s *privateArgsStub) GetStringArgs() []string {
	out := make([]string, len(s.args))
	for i, a := range s.args {
		out[i] = string(a)
	}
	return out
}

func (s *privateArgsStub) GetFunctionAndParameters() (string, []string) {
	all := s.GetStringArgs()
	if len(all) == 0 {
		return "", nil
	}
	return all[0], all[1:]
}

// withPrivateArgs returns stub, or a stub whose arguments come from the transient field
// tanpo.args when the client sent them there.
func withPrivateArgs(stub shim.ChaincodeStubInterface) (shim.ChaincodeStubInterface, error) {
	transient, err := stub.GetTransient()
	if err != nil {
		return nil, fmt.Errorf("failed to read the transient data: %w", err)
	}
	raw, ok := transient[transientArgs]
	if !ok {
		return stub, nil
	}
	visible := stub.GetArgs()
	if len(visible) != 1 {
		return nil, fmt.Errorf("invalid proposal: with arguments in the transient field %s the proposal carries the function name only, not %d arguments", transientArgs, len(visible)-1)
	}
	var args []string
	if err := json.Unmarshal(raw, &args); err != nil {
		return nil, fmt.Errorf("invalid transient field %s: expected a JSON array of strings: %w", transientArgs, err)
	}
	all := make([][]byte, 0, len(args)+1)
	all = append(all, visible[0])
	for _, a := range args {
		all = append(all, []byte(a))
	}
	return &privateArgsStub{ChaincodeStubInterface: stub, args: all}, nil
}

// privateKey is how the transaction's working set names key in a collection: the byte 0x01 (never
// the first byte of a composite key), the collection, 0x01, the key.
func privateKey(coll, key string) string { return "\x01" + coll + "\x01" + key }

// splitPrivateKey reverses privateKey; ok is false for a public key.
func splitPrivateKey(k string) (coll, key string, ok bool) {
	if !strings.HasPrefix(k, "\x01") {
		return "", "", false
	}
	coll, key, ok = strings.Cut(k[1:], "\x01")
	return coll, key, ok
}

// storedKey is how a private composite key is stored: without its leading 0x00. The shim refuses
// range queries over private keys that start with it, and private data has no paginated query, so
// a listing resumes after its last key with a plain range; compositeKey restores the 0x00.
func storedKey(k string) string { return strings.TrimPrefix(k, "\x00") }

func compositeKey(stored string) string { return "\x00" + stored }

// pairKey is the working-set name of a composite key in a pair collection.
func (t *txn) pairKey(coll, objectType string, attrs ...string) (string, error) {
	k, err := t.key(objectType, attrs...)
	if err != nil {
		return "", err
	}
	return privateKey(coll, k), nil
}

// collOf is the collection of an agreement's records.
func (a *Agreement) coll() string { return pairCollection(a.Terms.Lender, a.Terms.Borrower) }

// pairHint is the collection the client named in the transient field tanpo.pair ("" when none).
func (t *txn) pairHint() (string, error) {
	if t.hint != nil {
		return *t.hint, nil
	}
	transient, err := t.stub.GetTransient()
	if err != nil {
		return "", fmt.Errorf("failed to read the transient data: %w", err)
	}
	hint := string(transient[transientPair])
	if hint != "" {
		if _, _, ok := collectionParties(hint); !ok {
			return "", fmt.Errorf("invalid transient field %s %q: expected a pair collection such as pair-bank-a-bank-b", transientPair, truncate(hint, 60))
		}
	}
	t.hint = &hint
	return hint, nil
}

// requirePairHint returns the collection a transaction acts in: the one the client named, which a
// bank must be a party to. The operator never is; it names the pair whose peers endorse.
func (t *txn) requirePairHint(what string) (string, error) {
	coll, err := t.pairHint()
	if err != nil {
		return "", err
	}
	if coll == "" {
		return "", fmt.Errorf("%s: name the pair of banks in the transient field %s (the SDK does)", what, transientPair)
	}
	if party := t.caller.party(); !t.caller.operatorSide() {
		a, b, _ := collectionParties(coll)
		if party != a && party != b {
			return "", fmt.Errorf("access denied: %s is not a party to the pair %s", party, coll)
		}
	}
	return coll, nil
}

// locate returns the collection holding agreement id for the caller: the named pair, else the first
// of the calling bank's own collections whose hashed state has the key. "" when none has it.
func (t *txn) locate(id string) (string, error) {
	hint, err := t.pairHint()
	if err != nil {
		return "", err
	}
	party := t.caller.party()
	if hint != "" {
		// a bank naming a pair it is not in finds nothing there (the uniform refusal follows),
		// without a read that a peer outside the pair could not answer
		if a, b, _ := collectionParties(hint); !t.caller.operatorSide() && party != a && party != b {
			return "", nil
		}
		return hint, nil
	}
	if t.caller.operatorSide() {
		return "", nil
	}
	banks, err := t.bankParties()
	if err != nil {
		return "", err
	}
	key, err := t.key(keyAgreement, id)
	if err != nil {
		return "", err
	}
	for _, other := range banks {
		if other == party {
			continue
		}
		coll := pairCollection(party, other)
		h, err := t.stub.GetPrivateDataHash(coll, storedKey(key))
		if err != nil {
			if undefinedCollection(err) {
				continue // a pair the chaincode definition has no collection for holds nothing
			}
			return "", ledgerFault{fmt.Errorf("failed to read private data hashes: %w", err)}
		}
		if len(h) > 0 {
			return coll, nil
		}
	}
	return "", nil
}

// undefinedCollection reports the peer's refusal of a collection the chaincode definition lacks.
func undefinedCollection(err error) bool {
	s := err.Error()
	return strings.Contains(s, "not defined") || strings.Contains(s, "does not exist") || strings.Contains(s, "no such collection")
}

// bankRegistry is the list of every bank party ever registered (key tanpo.meta ["banks"]). A
// bank's first registration adds itself, creating the keys of its pairs with the banks listed, so
// two first registrations in the same block conflict on this record (one is retried and sees the
// other) instead of each missing the pair they make.
type bankRegistry struct {
	Banks []string `json:"banks"`
}

// bankParties lists, in order, every bank party ever registered.
func (t *txn) bankParties() ([]string, error) {
	if t.banks != nil {
		return t.banks, nil
	}
	key, err := t.key(keyMeta, "banks")
	if err != nil {
		return nil, err
	}
	var reg bankRegistry
	if _, err := t.getJSON(key, &reg); err != nil {
		return nil, err
	}
	t.banks = append([]string{}, reg.Banks...)
	return t.banks, nil
}

// addBank records a bank's first registration; it reports whether the bank is new.
func (t *txn) addBank(party string) (bool, error) {
	banks, err := t.bankParties()
	if err != nil {
		return false, err
	}
	if slices.Contains(banks, party) {
		return false, nil
	}
	key, err := t.key(keyMeta, "banks")
	if err != nil {
		return false, err
	}
	next := append(append([]string{}, banks...), party)
	sort.Strings(next)
	if err := t.putJSON(key, bankRegistry{Banks: next}); err != nil {
		return false, err
	}
	return true, nil
}

// callerCollections lists the collections of the calling bank's pairs, in order.
func (t *txn) callerCollections() ([]string, error) {
	party := t.caller.party()
	banks, err := t.bankParties()
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, b := range banks {
		if b != party {
			out = append(out, pairCollection(party, b))
		}
	}
	sort.Strings(out)
	return out, nil
}

// Receipt is what a bilateral submit function returns: which agreement, its status after the
// transaction, the transaction. The record itself is read with an evaluate query.
type Receipt struct {
	Agreement string `json:"agreement"`
	Status    string `json:"status"`
	TxID      string `json:"txId"`
}

func (t *txn) receipt(a *Agreement) Receipt {
	return Receipt{Agreement: a.ID, Status: a.Status, TxID: t.txID}
}

// errOperatorPrivate refuses the operator a bilateral record: the trust model gives it the sweep
// plan (ids, parties, books, whether the day's call ran), never terms, collateral or calls.
var errOperatorPrivate = errors.New("access denied: the operator does not see bilateral agreements; their terms, collateral and margin calls are private to the two parties (the sweep plan lists what the operator needs)")

// requireBilateralReader admits the registered banks to read bilateral records (each is then
// checked against the agreement) and refuses the operator.
func (t *txn) requireBilateralReader() error {
	if err := t.requireRegistered(); err != nil {
		return err
	}
	if t.caller.operatorSide() {
		return errOperatorPrivate
	}
	return nil
}

// privateBookmark is where a listing over private collections stopped: the collection and the
// last key returned. Fabric has no paginated query for private data, so the chaincode pages itself.
type privateBookmark struct {
	Coll string `json:"c"`
	Key  string `json:"k"`
}

// listPrivatePage reads one page of the entries under (objectType, attrs) across collections colls
// (in order), turning each into an item, or skipping it (keep false): the private counterpart of
// listPage. It may run only in an
// evaluate (Fabric refuses private range queries in a transaction that writes).
func listPrivatePage[T any](t *txn, colls []string, objectType string, attrs []string, pageSize, bookmark string,
	item func(coll, key string, value []byte) (T, bool, error)) (Page[T], error) {
	page := Page[T]{Items: []T{}}
	size, err := parsePageSize(pageSize)
	if err != nil {
		return page, err
	}
	var from privateBookmark
	if bookmark != "" {
		raw, err := base64.RawURLEncoding.DecodeString(bookmark)
		if err != nil || len(bookmark) > maxBookmarkLen || json.Unmarshal(raw, &from) != nil || !slices.Contains(colls, from.Coll) {
			return page, fmt.Errorf("invalid bookmark: pass back the bookmark of the previous page")
		}
	}
	prefix, err := t.key(objectType, attrs...)
	if err != nil {
		return page, err
	}
	end := prefix + string(utf8.MaxRune)
	for _, coll := range colls {
		if from.Coll != "" && coll < from.Coll {
			continue
		}
		start := prefix
		if coll == from.Coll {
			start = from.Key + "\x00" // the smallest key after the last one returned
		}
		more, err := t.scanPrivateRange(coll, start, end, func(k string, v []byte) (bool, error) {
			if len(page.Items) == int(size) {
				b, err := json.Marshal(privateBookmark{Coll: page.lastColl, Key: page.lastKey})
				if err != nil {
					return false, err
				}
				page.Bookmark = base64.RawURLEncoding.EncodeToString(b)
				return false, nil
			}
			it, keep, err := item(coll, k, v)
			if err != nil {
				return false, err
			}
			page.lastColl, page.lastKey = coll, k
			if keep {
				page.Items = append(page.Items, it)
			}
			return true, nil
		})
		if err != nil {
			return page, err
		}
		if !more {
			break
		}
	}
	page.Count = len(page.Items)
	return page, nil
}

// scanPrivateRange visits the keys of coll in [start, end) in order until visit returns false; it
// reports whether the range was read to its end. A collection the chaincode definition lacks holds
// nothing.
func (t *txn) scanPrivateRange(coll, start, end string, visit func(key string, value []byte) (bool, error)) (bool, error) {
	it, err := t.stub.GetPrivateDataByRange(coll, storedKey(start), storedKey(end))
	if err != nil {
		if undefinedCollection(err) {
			return true, nil
		}
		return false, ledgerFault{fmt.Errorf("failed to query %s: %w", coll, err)}
	}
	defer it.Close()
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return false, ledgerFault{fmt.Errorf("failed to query %s: %w", coll, err)}
		}
		more, err := visit(compositeKey(kv.GetKey()), kv.GetValue())
		if err != nil || !more {
			return false, err
		}
	}
	return true, nil
}
