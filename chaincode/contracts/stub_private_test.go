package contracts

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
)

// Private data in the mock: the chaincode passes keys in their stored form (storedKey: a composite
// key without its 0x00), and a collection's key lives in the ledger map under
// privateKey(coll, compositeKey(key)), the chaincode's own working-set name, so snapshots and
// invariants see it. Like the shim, a range query refuses keys that start with 0x00. Like Fabric, a range
// query on private data is refused in a transaction that writes, and writes after one are refused.

func (s *mockStub) GetTransient() (map[string][]byte, error) {
	if s.transient == nil {
		return map[string][]byte{}, nil
	}
	return s.transient, nil
}

func validCollection(coll string) error {
	if _, _, ok := collectionParties(coll); !ok {
		return errors.New("collection " + coll + " not defined")
	}
	return nil
}

func (s *mockStub) GetPrivateData(coll, key string) ([]byte, error) {
	s.calls = append(s.calls, "GetPrivateData")
	if err := s.fail("GetPrivateData"); err != nil {
		return nil, err
	}
	v, ok, err := s.privateValue(coll, key)
	if err != nil || !ok {
		return nil, err
	}
	return append([]byte(nil), v...), nil
}

// privateValue is a committed private value (ok false when absent).
func (s *mockStub) privateValue(coll, key string) ([]byte, bool, error) {
	if err := validCollection(coll); err != nil {
		return nil, false, err
	}
	v, ok := s.ledger.state[privateKey(coll, compositeKey(key))]
	return v, ok, nil
}

func (s *mockStub) GetMultiplePrivateData(coll string, keys ...string) ([][]byte, error) {
	s.calls = append(s.calls, "GetMultiplePrivateData")
	if err := s.fail("GetMultiplePrivateData"); err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		v, err := s.GetPrivateData(coll, k)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (s *mockStub) GetPrivateDataHash(coll, key string) ([]byte, error) {
	if err := s.fail("GetPrivateDataHash"); err != nil {
		return nil, err
	}
	v, ok, err := s.privateValue(coll, key)
	if err != nil || !ok {
		return nil, err
	}
	h := sha256.Sum256(v)
	return h[:], nil
}

func (s *mockStub) PutPrivateData(coll, key string, value []byte) error {
	s.calls = append(s.calls, "PutPrivateData")
	if err := s.fail("PutPrivateData"); err != nil {
		return err
	}
	if err := validCollection(coll); err != nil {
		return err
	}
	if s.privateQueried {
		return errors.New("Queries on pvt data is supported only in a read-only transaction")
	}
	if len(value) == 0 {
		return errors.New("value must not be empty (use DelPrivateData)")
	}
	s.writes[privateKey(coll, compositeKey(key))] = append([]byte(nil), value...)
	return nil
}

func (s *mockStub) DelPrivateData(coll, key string) error {
	s.calls = append(s.calls, "DelPrivateData")
	if err := s.fail("DelPrivateData"); err != nil {
		return err
	}
	if err := validCollection(coll); err != nil {
		return err
	}
	if s.privateQueried {
		return errors.New("Queries on pvt data is supported only in a read-only transaction")
	}
	s.writes[privateKey(coll, compositeKey(key))] = nil
	return nil
}

func (s *mockStub) GetPrivateDataByRange(coll, start, end string) (shim.StateQueryIteratorInterface, error) {
	s.calls = append(s.calls, "GetPrivateDataByRange")
	if err := s.fail("GetPrivateDataByRange"); err != nil {
		return nil, err
	}
	if err := validCollection(coll); err != nil {
		return nil, err
	}
	if len(s.writes) > 0 {
		return nil, errors.New("Queries on pvt data is supported only in a read-only transaction")
	}
	// the shim's own check: a range query takes simple keys, never composite ones
	for _, k := range []string{start, end} {
		if strings.HasPrefix(k, "\x00") {
			return nil, fmt.Errorf("first character of the key [%s] contains a null character which is not allowed", k)
		}
	}
	s.privateQueried = true
	prefix := privateKey(coll, "\x00")
	var keys []string
	for k := range s.ledger.state {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		plain := k[len(prefix):]
		if plain >= start && (end == "" || plain < end) {
			keys = append(keys, plain)
		}
	}
	sort.Strings(keys)
	s.openIterators++
	kvs := make([]*queryresult.KV, 0, len(keys))
	for _, k := range keys {
		kvs = append(kvs, &queryresult.KV{Namespace: "tanpo", Key: k, Value: append([]byte(nil), s.ledger.state[prefix+k]...)})
	}
	return &mockIterator{stub: s, kvs: kvs}, nil
}
