package contracts

import (
	"strings"
	"testing"
)

// callWithFault runs one transaction whose stub fails the named method.
func (w *world) callWithFault(id *testID, method, fn string, args ...string) string {
	w.t.Helper()
	stub := &mockStub{ledger: w.ledger, txID: "faulttx", ts: w.clock, creator: id.creator,
		writes: map[string][]byte{}, sbeWrites: map[string][]byte{}, failOn: method}
	stub.args = [][]byte{[]byte(fn)}
	for _, a := range args {
		stub.args = append(stub.args, []byte(a))
	}
	resp := w.cc.Invoke(stub)
	if resp.GetStatus() == 200 {
		w.t.Fatalf("%s with %s failing: succeeded", fn, method)
	}
	return resp.GetMessage()
}

func TestLedgerFaultsSurfaceAsErrors(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.open("AGR-1", nil)
	w.postDefaultPrices("2025-06-02")
	cases := []struct{ method, fn, want string }{
		{"GetTxTimestamp", "ping:Ping", "failed to read the transaction timestamp: injected ledger fault"},
		{"GetState", "roles:WhoAmI", "failed to read state: injected ledger fault"},
		{"PutState", "ping:Ping", "failed to write state: injected ledger fault"},
		{"DelState", "tokens:Transfer", "failed to delete state: injected ledger fault"},
		{"SetStateValidationParameter", "agreements:Propose", "failed to set the endorsement policy: injected ledger fault"},
		{"SetEvent", "ping:Ping", "failed to set event: injected ledger fault"},
		{"GetStateByPartialCompositeKey", "tokens:BalanceOf", "failed to query tanpo.balance: injected ledger fault"},
		{"GetStateByPartialCompositeKeyWithPagination", "tokens:ListTokens", "failed to query tanpo.token: injected ledger fault"},
		{"GetStateByPartialCompositeKey", "margin:FinishSweep", "failed to query tanpo.custody: injected ledger fault"},
		{"GetMultipleStates", "margin:SweepAgreements", "failed to read state: injected ledger fault"},
	}
	args := map[string][]string{
		"ping:Ping": {"x"}, "roles:WhoAmI": nil, "tokens:Transfer": {"JP8604", "bank-c", "49000"},
		"agreements:Propose": {termsJSON("AGR-2", nil)}, "tokens:BalanceOf": {""}, "tokens:ListTokens": {"", ""},
		"margin:FinishSweep": {"2025-06-02"}, "margin:SweepAgreements": {"2025-06-02", `["AGR-1"]`},
	}
	for _, c := range cases {
		w.run(t, c.method+"/"+c.fn, func() {
			before := w.ledger.snapshot()
			id := w.borrower
			if strings.HasPrefix(c.fn, "margin:") {
				id = w.oracle
			}
			if got := w.callWithFault(id, c.method, c.fn, args[c.fn]...); got != c.want {
				w.t.Fatalf("got %q want %q", got, c.want)
			}
			w.assertUnchanged(before, c.fn)
		})
	}
}

func TestInitDelegatesToInvoke(t *testing.T) {
	w := newWorld(t)
	if resp := w.cc.Init(&mockStub{}); resp.GetStatus() != 200 {
		t.Fatalf("empty Init: %s", resp.GetMessage())
	}
	stub := &mockStub{ledger: w.ledger, txID: "inittx", ts: w.clock, creator: w.lender.creator,
		writes: map[string][]byte{}, sbeWrites: map[string][]byte{}, args: [][]byte{[]byte("roles:WhoAmI")}}
	if resp := w.cc.Init(stub); resp.GetStatus() != 200 {
		t.Fatalf("Init with a function: %s", resp.GetMessage())
	}
}
