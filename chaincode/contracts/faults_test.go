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
	if w.pair != "" {
		stub.transient = map[string][]byte{transientPair: []byte(w.pair)}
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
	w.propose("AGR-W", nil)
	cases := []struct{ method, fn, want string }{
		{"GetTxTimestamp", "ping:Ping", "failed to read the transaction timestamp: injected ledger fault"},
		{"GetState", "roles:WhoAmI", "failed to read state: injected ledger fault"},
		{"PutState", "ping:Ping", "failed to write state: injected ledger fault"},
		{"PutPrivateData", "agreements:Propose", "failed to write state: injected ledger fault"},
		{"DelPrivateData", "agreements:Reject", "failed to write state: injected ledger fault"},
		{"GetPrivateData", "agreements:Reject", "failed to read state: injected ledger fault"},
		{"GetPrivateDataHash", "agreements:Propose", "failed to read private data hashes: injected ledger fault"},
		{"GetPrivateDataHash", "agreements:GetAgreement", "failed to read private data hashes: injected ledger fault"},
		{"GetPrivateDataByPartialCompositeKey", "agreements:ListAgreements", "failed to query pair-bank-a-bank-b: injected ledger fault"},
		{"SetStateValidationParameter", "tokens:DefineToken", "failed to set the endorsement policy: injected ledger fault"},
		{"SetEvent", "ping:Ping", "failed to set event: injected ledger fault"},
		{"GetStateByPartialCompositeKey", "tokens:BalanceOf", "failed to query tanpo.balance: injected ledger fault"},
		{"GetStateByPartialCompositeKeyWithPagination", "tokens:ListTokens", "failed to query tanpo.token: injected ledger fault"},
		{"GetStateByPartialCompositeKey", "margin:FinishSweep", "failed to query tanpo.sweep~pair: injected ledger fault"},
		{"GetMultiplePrivateData", "margin:SweepAgreements", "failed to read state: injected ledger fault"},
	}
	args := map[string][]string{
		"ping:Ping": {"x"}, "roles:WhoAmI": nil, "tokens:Transfer": {"JP8604", "bank-c", "49000"},
		"agreements:Propose": {termsJSON("AGR-2", nil)}, "tokens:BalanceOf": {""}, "tokens:ListTokens": {"", ""},
		"agreements:Reject": {"AGR-W", "no"}, "agreements:GetAgreement": {"AGR-1"}, "agreements:ListAgreements": {"", "", "", ""},
		"tokens:DefineToken": {tokenJSON("EUR", KindCash, "EUR", nil)},
		"margin:FinishSweep": {"2025-06-02"}, "margin:SweepAgreements": {"2025-06-02", `["AGR-1"]`},
	}
	for _, c := range cases {
		w.run(t, c.method+"/"+c.fn, func() {
			before := w.ledger.snapshot()
			id := w.borrower
			switch {
			case c.fn == "tokens:DefineToken":
				id = w.tokenAdmin
			case c.fn == "margin:SweepAgreements":
				id = w.oracle
				w.pair = pairAB // the oracle names the pair it sweeps
				defer func() { w.pair = "" }()
			case strings.HasPrefix(c.fn, "margin:"):
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
