package contracts

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ledgerState is the committed world state shared by successive transactions of a test.
type ledgerState struct {
	state map[string][]byte
	sbe   map[string][]byte
}

// apply commits a successful transaction's writes and endorsement policies, as the peer would.
func (l *ledgerState) apply(stub *mockStub) {
	for k, v := range stub.writes {
		if v == nil {
			delete(l.state, k)
		} else {
			l.state[k] = v
		}
	}
	for k, v := range stub.sbeWrites {
		l.sbe[k] = v
	}
}

func newLedgerState() *ledgerState {
	return &ledgerState{state: map[string][]byte{}, sbe: map[string][]byte{}}
}

func (l *ledgerState) snapshot() map[string]string {
	out := make(map[string]string, len(l.state)+len(l.sbe))
	for k, v := range l.state {
		out["state/"+k] = string(v)
	}
	for k, v := range l.sbe {
		out["sbe/"+k] = string(v)
	}
	return out
}

// mockStub is a map-backed shim.ChaincodeStubInterface for one transaction. It follows Fabric's
// semantics where they matter to the chaincode: reads see the committed state only (never the
// transaction's own writes), writes are buffered until the transaction succeeds, one event per
// transaction (SetEvent replaces), paginated queries are refused in a transaction that writes, and
// iterators must be closed. Methods it does not implement panic through the embedded nil
// interface, which the chaincode's guard turns into an error.
type mockStub struct {
	shim.ChaincodeStubInterface

	ledger  *ledgerState
	txID    string
	ts      time.Time
	creator []byte
	args    [][]byte

	writes    map[string][]byte // nil value = delete
	sbeWrites map[string][]byte
	event     *peer.ChaincodeEvent

	openIterators  int
	paginated      bool
	privateQueried bool              // a private range query ran: no writes after it
	transient      map[string][]byte // the proposal's transient data
	calls          []string
	failOn         string // a method name that returns an injected error
}

var errInjected = errors.New("injected ledger fault")

func (s *mockStub) fail(method string) error {
	if s.failOn == method {
		return errInjected
	}
	return nil
}

func (s *mockStub) GetArgs() [][]byte { return s.args }

func (s *mockStub) GetStringArgs() []string {
	out := make([]string, len(s.args))
	for i, a := range s.args {
		out[i] = string(a)
	}
	return out
}

func (s *mockStub) GetFunctionAndParameters() (string, []string) {
	a := s.GetStringArgs()
	if len(a) == 0 {
		return "", nil
	}
	return a[0], a[1:]
}

func (s *mockStub) GetTxID() string                   { return s.txID }
func (s *mockStub) GetChannelID() string              { return "tanpo" }
func (s *mockStub) GetCreator() ([]byte, error)       { return s.creator, nil }
func (s *mockStub) GetDecorations() map[string][]byte { return nil }

func (s *mockStub) GetTxTimestamp() (*timestamppb.Timestamp, error) {
	if err := s.fail("GetTxTimestamp"); err != nil {
		return nil, err
	}
	return timestamppb.New(s.ts), nil
}

func (s *mockStub) GetState(key string) ([]byte, error) {
	s.calls = append(s.calls, "GetState")
	if err := s.fail("GetState"); err != nil {
		return nil, err
	}
	if key == "" {
		return nil, errors.New("key must not be empty")
	}
	v, ok := s.ledger.state[key]
	if !ok {
		return nil, nil
	}
	return append([]byte(nil), v...), nil
}

func (s *mockStub) PutState(key string, value []byte) error {
	s.calls = append(s.calls, "PutState")
	if err := s.fail("PutState"); err != nil {
		return err
	}
	if key == "" {
		return errors.New("key must not be empty")
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("key %q is not valid UTF-8", key)
	}
	if s.paginated || s.privateQueried {
		return errors.New("txSimulator does not support writes after a paginated query")
	}
	if len(value) == 0 {
		return errors.New("value must not be empty (use DelState)")
	}
	s.writes[key] = append([]byte(nil), value...)
	return nil
}

func (s *mockStub) DelState(key string) error {
	s.calls = append(s.calls, "DelState")
	if err := s.fail("DelState"); err != nil {
		return err
	}
	if key == "" {
		return errors.New("key must not be empty")
	}
	if s.paginated {
		return errors.New("txSimulator does not support writes after a paginated query")
	}
	s.writes[key] = nil
	return nil
}

func (s *mockStub) SetStateValidationParameter(key string, ep []byte) error {
	s.calls = append(s.calls, "SetStateValidationParameter")
	if err := s.fail("SetStateValidationParameter"); err != nil {
		return err
	}
	s.sbeWrites[key] = append([]byte(nil), ep...)
	return nil
}

func (s *mockStub) GetStateValidationParameter(key string) ([]byte, error) {
	return s.ledger.sbe[key], nil
}

func (s *mockStub) CreateCompositeKey(objectType string, attributes []string) (string, error) {
	return shim.CreateCompositeKey(objectType, attributes)
}

func (s *mockStub) SplitCompositeKey(compositeKey string) (string, []string, error) {
	if !strings.HasPrefix(compositeKey, "\x00") || !strings.HasSuffix(compositeKey, "\x00") {
		return "", nil, fmt.Errorf("not a composite key: %q", compositeKey)
	}
	parts := strings.Split(compositeKey[1:len(compositeKey)-1], "\x00")
	return parts[0], parts[1:], nil
}

func (s *mockStub) SetEvent(name string, payload []byte) error {
	s.calls = append(s.calls, "SetEvent")
	if err := s.fail("SetEvent"); err != nil {
		return err
	}
	if name == "" {
		return errors.New("event name can not be empty string")
	}
	s.event = &peer.ChaincodeEvent{EventName: name, Payload: append([]byte(nil), payload...), TxId: s.txID}
	return nil
}

// rangeKeys returns the committed keys in [start, end), sorted.
func (s *mockStub) rangeKeys(start, end string) []string {
	keys := []string{}
	for k := range s.ledger.state {
		if k >= start && (end == "" || k < end) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func (s *mockStub) partialRange(objectType string, attrs []string) (string, string, error) {
	start, err := shim.CreateCompositeKey(objectType, attrs)
	if err != nil {
		return "", "", err
	}
	return start, start + string(utf8.MaxRune), nil
}

func (s *mockStub) GetStateByPartialCompositeKey(objectType string, attrs []string) (shim.StateQueryIteratorInterface, error) {
	s.calls = append(s.calls, "GetStateByPartialCompositeKey")
	if err := s.fail("GetStateByPartialCompositeKey"); err != nil {
		return nil, err
	}
	start, end, err := s.partialRange(objectType, attrs)
	if err != nil {
		return nil, err
	}
	return s.iterator(s.rangeKeys(start, end)), nil
}

func (s *mockStub) GetStateByPartialCompositeKeyWithPagination(objectType string, attrs []string, pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	s.calls = append(s.calls, "GetStateByPartialCompositeKeyWithPagination")
	if err := s.fail("GetStateByPartialCompositeKeyWithPagination"); err != nil {
		return nil, nil, err
	}
	if len(s.writes) > 0 {
		return nil, nil, errors.New("txSimulator does not support paginated queries in transactions with writes")
	}
	s.paginated = true
	if pageSize <= 0 {
		return nil, nil, errors.New("pageSize must be positive")
	}
	start, end, err := s.partialRange(objectType, attrs)
	if err != nil {
		return nil, nil, err
	}
	if bookmark != "" {
		if bookmark < start || bookmark >= end {
			return nil, nil, fmt.Errorf("invalid bookmark %q", bookmark)
		}
		start = bookmark
	}
	keys := s.rangeKeys(start, end)
	next := ""
	if len(keys) > int(pageSize) {
		next = keys[pageSize]
		keys = keys[:pageSize]
	}
	return s.iterator(keys), &peer.QueryResponseMetadata{FetchedRecordsCount: int32(len(keys)), Bookmark: next}, nil
}

func (s *mockStub) iterator(keys []string) *mockIterator {
	s.openIterators++
	kvs := make([]*queryresult.KV, 0, len(keys))
	for _, k := range keys {
		kvs = append(kvs, &queryresult.KV{Namespace: "tanpo", Key: k, Value: append([]byte(nil), s.ledger.state[k]...)})
	}
	return &mockIterator{stub: s, kvs: kvs}
}

type mockIterator struct {
	stub   *mockStub
	kvs    []*queryresult.KV
	pos    int
	closed bool
}

func (it *mockIterator) HasNext() bool { return !it.closed && it.pos < len(it.kvs) }

func (it *mockIterator) Next() (*queryresult.KV, error) {
	if it.closed {
		return nil, errors.New("iterator is closed")
	}
	if it.pos >= len(it.kvs) {
		return nil, errors.New("no more results")
	}
	kv := it.kvs[it.pos]
	it.pos++
	return kv, nil
}

func (it *mockIterator) Close() error {
	if !it.closed {
		it.closed = true
		it.stub.openIterators--
	}
	return nil
}
