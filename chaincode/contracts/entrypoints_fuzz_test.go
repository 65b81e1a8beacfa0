package contracts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fuzz targets over every chaincode entry point. Each input runs one transaction (or a short
// sequence) on a copy of a prepared ledger, twice, with the same transaction id, time and caller,
// and fails on:
//
//   - a panic (the dispatcher's guard turns it into an "internal error: ..." response) or any
//     other "internal error";
//   - a non-deterministic result: the response status, message and payload, the write set, the
//     endorsement policies and the event must be byte-identical between the two runs (Fabric
//     endorsers would disagree otherwise);
//   - a refusal that attempted a write or an event, a query (evaluate function) that wrote, an
//     iterator left open;
//   - a success that breaks conservation: supply = Σ free balances + Σ max(position, 0).
//
// The targets per contract take the function as a number and raw string arguments (sometimes the
// wrong number of them); the structured targets (FuzzProposeTerms, FuzzTokenSpec,
// FuzzPriceBatch) build well-formed JSON from fuzzed field values so the fuzzer reaches the
// validation of each field, and continue into the next steps (approve, margin call) when the
// first one is accepted. .ci/fuzz runs each for a bounded time; `go test` runs their seeds.

// fuzzCallers is the cast in the order the fuzzers index it.
func (w *world) fuzzCallers() []*testID {
	return []*testID{w.opAdmin, w.tokenAdmin, w.oracle, w.lender, w.borrower, w.bankC, w.stranger, w.bankAAdmin}
}

func cloneLedger(l *ledgerState) *ledgerState {
	c := newLedgerState()
	for k, v := range l.state {
		c.state[k] = v
	}
	for k, v := range l.sbe {
		c.sbe[k] = v
	}
	return c
}

// detRun is one execution of a transaction on a private copy of the committed state.
type detRun struct {
	status  int32
	message string
	payload []byte
	stub    *mockStub
}

func (w *world) runOnCopy(id *testID, txID string, ts time.Time, fn string, args []string) detRun {
	stub := &mockStub{ledger: cloneLedger(w.ledger), txID: txID, ts: ts, creator: id.creator,
		writes: map[string][]byte{}, sbeWrites: map[string][]byte{}}
	stub.args = [][]byte{[]byte(fn)}
	for _, a := range args {
		stub.args = append(stub.args, []byte(a))
	}
	if w.pair != "" {
		stub.transient = map[string][]byte{transientPair: []byte(w.pair)}
	}
	resp := w.cc.Invoke(stub)
	return detRun{status: resp.GetStatus(), message: resp.GetMessage(), payload: resp.GetPayload(), stub: stub}
}

var evaluateFunctions = map[string]bool{
	"roles:WhoAmI": true, "roles:ListIdentities": true, "ping:GetPing": true,
	"tokens:GetToken": true, "tokens:ListTokens": true, "tokens:TotalSupply": true, "tokens:BalanceOf": true,
	"tokens:GetRequest": true, "tokens:ListRequests": true,
	"agreements:GetAgreement": true, "agreements:ListAgreements": true, "agreements:CollateralHeld": true,
	"oracle:GetPrices": true, "oracle:LastPostedDate": true,
	"margin:GetMarginCall": true, "margin:ListMarginCalls": true, "margin:LastSweptDate": true,
	"margin:GetSweepFailure": true, "margin:SweepPlan": true,
}

// detCall runs a transaction twice on identical copies of the committed state, requires identical
// outcomes and the properties above, and commits a success.
func (w *world) detCall(id *testID, fn string, args ...string) result {
	w.t.Helper()
	w.seq++
	w.clock = w.clock.Add(time.Second)
	txID := fmt.Sprintf("%064x", w.seq)
	a := w.runOnCopy(id, txID, w.clock, fn, args)
	b := w.runOnCopy(id, txID, w.clock, fn, args)
	show := func() string { return fmt.Sprintf("%s%q as %s", fn, args, id.name) }
	if strings.Contains(a.message, "internal error") || strings.Contains(b.message, "internal error") {
		w.t.Fatalf("%s: %s", show(), a.message)
	}
	if a.status != b.status || a.message != b.message || !bytes.Equal(a.payload, b.payload) {
		w.t.Fatalf("%s is not deterministic:\n%d %s %s\n%d %s %s", show(), a.status, a.message, a.payload, b.status, b.message, b.payload)
	}
	if !reflect.DeepEqual(a.stub.writes, b.stub.writes) || !reflect.DeepEqual(a.stub.sbeWrites, b.stub.sbeWrites) {
		w.t.Fatalf("%s: the write sets differ between two runs", show())
	}
	if (a.stub.event == nil) != (b.stub.event == nil) ||
		(a.stub.event != nil && (a.stub.event.GetEventName() != b.stub.event.GetEventName() || !bytes.Equal(a.stub.event.GetPayload(), b.stub.event.GetPayload()))) {
		w.t.Fatalf("%s: the events differ between two runs", show())
	}
	if a.stub.openIterators != 0 {
		w.t.Fatalf("%s left %d iterators open", show(), a.stub.openIterators)
	}
	if a.status != 200 && (len(a.stub.writes) != 0 || len(a.stub.sbeWrites) != 0 || a.stub.event != nil) {
		w.t.Fatalf("%s: refused (%s) but attempted writes or an event", show(), a.message)
	}
	if a.status == 200 && evaluateFunctions[fn] && (len(a.stub.writes) != 0 || a.stub.event != nil) {
		w.t.Fatalf("%s: a query wrote", show())
	}
	if a.status == 200 && !json.Valid(a.payload) && len(a.payload) > 0 {
		w.t.Fatalf("%s: the result is not JSON: %q", show(), a.payload)
	}
	if a.status == 200 {
		for k, v := range a.stub.writes {
			if v == nil {
				delete(w.ledger.state, k)
			} else {
				w.ledger.state[k] = v
			}
		}
		for k, v := range a.stub.sbeWrites {
			w.ledger.sbe[k] = v
		}
		w.checkConservation()
	}
	w.lastStub = a.stub
	return result{status: a.status, payload: string(a.payload), message: a.message, stub: a.stub}
}

// ---- the prepared ledger -----------------------------------------------------------------------

// fuzzBase is a ledger with something for every function to find: tokens and balances, an
// active agreement (AGR-1, not yet margined), a lagged auto-issue one already called (AGR-L), a
// proposal (AGR-P), one with a termination requested (AGR-T), one past its end date (AGR-E),
// prices for two dates, pending issuance and redemption requests and a spare certificate.
type fuzzBase struct {
	state             map[string]string
	seq               int
	clock             time.Time
	issuance, redeem  string
	spareCert, revoke string
	pingTx            string
}

var (
	fuzzBaseOnce sync.Once
	fuzzBaseData fuzzBase
)

func theFuzzBase(t testing.TB) fuzzBase {
	fuzzBaseOnce.Do(func() {
		w := newWorld(t)
		w.market()
		w.issue(w.bankC, "JP8306", "5000")
		w.open("AGR-1", nil)
		w.open("AGR-L", func(m map[string]any) { lagTerms(m); m["autoIssue"] = true; m["mode"] = "single" })
		w.propose("AGR-P", nil)
		w.open("AGR-T", nil)
		w.ok(w.lender, "agreements:RequestTermination", "AGR-T", "")
		w.open("AGR-E", endedTerms)
		w.postDefaultPrices("2025-06-01")
		w.postDefaultPrices("2025-06-02")
		w.ok(w.lender, "agreements:Recall", "AGR-1", "1000", "2025-06-02", "2025-06-02", "")
		w.issue(w.lender, "JP8306", "5000")
		w.open("AGR-F", func(m map[string]any) {
			economicTerms(m)
			m["collateral"] = []any{map[string]any{"token": "JPY", "quantity": "850000"}}
		})
		w.inPair(pairAB, func() { w.ok(w.oracle, "margin:MarginCall", "AGR-F", "2025-06-01") })
		w.ok(w.borrower, "agreements:Substitute", "AGR-T", substitutionJSON("JP8306", "10", "JP8604", "20"), "2025-06-02")
		w.inPair(pairAB, func() { w.ok(w.oracle, "margin:MarginCall", "AGR-L", "2025-06-02") })
		var iss, red Request
		w.okJSON(w.lender, &iss, "tokens:RequestIssuance", "JPY", "1000", "deposit-9")
		w.okJSON(w.borrower, &red, "tokens:RequestRedemption", "JP8306", "10", "account-9")
		spare := w.cas["BankCMSP"].member(t, "spare", "User7", "client")
		extra := w.cas["BankCMSP"].member(t, "extra", "User8", "client")
		reg := w.register(extra, "bank-c", RoleParty)
		w.ok(w.lender, "ping:Ping", "hello")
		fuzzBaseData = fuzzBase{state: w.ledger.snapshot(), seq: w.seq, clock: w.clock, issuance: iss.ID, redeem: red.ID,
			spareCert: spare.certPEM, revoke: reg.ID, pingTx: w.lastStub.txID}
	})
	if fuzzBaseData.state == nil {
		t.Fatal("the fuzz base ledger could not be prepared")
	}
	return fuzzBaseData
}

func fuzzWorld(t testing.TB) (*world, fuzzBase) {
	base := theFuzzBase(t)
	w := newBareWorld(t)
	restore(w.ledger, base.state)
	w.seq, w.clock = base.seq, base.clock
	return w, base
}

// ---- raw entry points, per contract ------------------------------------------------------------

type entry struct {
	fn    string
	arity int
}

// fuzzedContracts are the contracts each raw target covers; every contract the chaincode exposes
// must be in one (TestFuzzTargetsCoverEveryContract).
var fuzzedContracts = map[string][]string{
	"FuzzRolesAndPing": {ContractRoles, ContractPing},
	"FuzzTokens":       {ContractTokens},
	"FuzzAgreements":   {ContractAgreements},
	"FuzzOracle":       {ContractOracle},
	"FuzzMargin":       {ContractMargin, ContractBilling},
}

var (
	entriesOnce sync.Once
	entriesByCC map[string][]entry
)

// exposedEntries reads the transactions and their parameter counts from the chaincode's own
// metadata, so a new function is fuzzed (and counted) without editing this file.
func exposedEntries(t testing.TB) map[string][]entry {
	entriesOnce.Do(func() {
		w := newBareWorld(t)
		var meta struct {
			Contracts map[string]struct {
				Transactions []struct {
					Name       string            `json:"name"`
					Parameters []json.RawMessage `json:"parameters"`
				} `json:"transactions"`
			} `json:"contracts"`
		}
		if err := json.Unmarshal([]byte(w.ok(w.lender, "org.hyperledger.fabric:GetMetadata")), &meta); err != nil {
			t.Fatal(err)
		}
		entriesByCC = map[string][]entry{}
		for name, c := range meta.Contracts {
			if name == "org.hyperledger.fabric" {
				continue
			}
			for _, tx := range c.Transactions {
				entriesByCC[name] = append(entriesByCC[name], entry{name + ":" + tx.Name, len(tx.Parameters)})
			}
			sort.Slice(entriesByCC[name], func(i, j int) bool { return entriesByCC[name][i].fn < entriesByCC[name][j].fn })
		}
	})
	if entriesByCC == nil {
		t.Fatal("the chaincode metadata could not be read")
	}
	return entriesByCC
}

func TestFuzzTargetsCoverEveryContract(t *testing.T) {
	covered := map[string]bool{}
	for _, cs := range fuzzedContracts {
		for _, c := range cs {
			covered[c] = true
		}
	}
	for c, entries := range exposedEntries(t) {
		if !covered[c] {
			t.Errorf("contract %s (%d functions) has no fuzz target: add it to fuzzedContracts", c, len(entries))
		}
	}
}

// caller indexes: 0 opAdmin, 1 tokenAdmin, 2 oracle, 3 lender (bank-a), 4 borrower (bank-b),
// 5 bank-c, 6 unregistered, 7 bank-a admin
const (
	cOpAdmin = iota
	cTokenAdmin
	cOracle
	cLender
	cBorrower
	cBankC
	cStranger
	cBankAdmin
)

// seed is one corpus entry of a raw target: the function by name, the caller, the arguments.
type seed struct {
	fn     string
	caller uint8
	args   []string
}

func fuzzContract(f *testing.F, target string, seeds func(b fuzzBase) []seed) {
	var entries []entry
	for _, c := range fuzzedContracts[target] {
		entries = append(entries, exposedEntries(f)[c]...)
	}
	base := theFuzzBase(f)
	for _, s := range seeds(base) {
		idx := -1
		for i, e := range entries {
			if e.fn == s.fn {
				idx = i
			}
		}
		if idx < 0 {
			f.Fatalf("seed for unknown function %s", s.fn)
		}
		args := append(append([]string{}, s.args...), "", "", "", "")
		argc := uint8(len(s.args))
		if len(s.args) == entries[idx].arity {
			argc = 0 // 0 = pass exactly the function's arity
		} else {
			argc += 100
		}
		f.Add(uint8(idx), s.caller, argc, args[0], args[1], args[2], args[3])
	}
	f.Fuzz(func(t *testing.T, fn, caller, argc uint8, a0, a1, a2, a3 string) {
		w, _ := fuzzWorld(t)
		e := entries[int(fn)%len(entries)]
		all := []string{a0, a1, a2, a3}
		n := e.arity
		if argc >= 100 {
			n = int(argc-100) % 5 // a wrong number of arguments, now and then
		}
		args := all[:min(n, 4)]
		if n > 4 {
			args = append(args, "x")
		}
		id := w.fuzzCallers()[int(caller)%8]
		if (caller/8)%2 == 0 {
			w.pair = pairAB // the pair of the prepared agreements, in the transient field (the seeds' way)
		}
		res := w.detCall(id, e.fn, args...)
		// contractapi refuses too few arguments; it silently ignores extra ones
		if res.status == 200 && n < e.arity {
			t.Fatalf("%s accepted %d arguments, takes %d", e.fn, n, e.arity)
		}
	})
}

func FuzzRolesAndPing(f *testing.F) {
	fuzzContract(f, "FuzzRolesAndPing", func(b fuzzBase) []seed {
		return []seed{
			{"roles:RegisterIdentity", cOpAdmin, []string{"BankCMSP", b.spareCert, "bank-c", `["party"]`}},
			{"roles:RegisterIdentity", cOpAdmin, []string{"OperatorMSP", b.spareCert, "operator", `["oracle","token-admin"]`}},
			{"roles:RegisterIdentity", cOpAdmin, []string{"BankCMSP", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "bank-c", `[]`}},
			{"roles:RevokeIdentity", cOpAdmin, []string{b.revoke, "left the bank"}},
			{"roles:RevokeIdentity", cLender, []string{b.revoke, ""}},
			{"roles:WhoAmI", cStranger, nil},
			{"roles:ListIdentities", cOracle, []string{"2", ""}},
			{"roles:ListIdentities", cOpAdmin, []string{"501", "\x00tanpo.identity\x00"}},
			{"ping:Ping", cBankC, []string{"hello"}},
			{"ping:Ping", cBankC, []string{strings.Repeat("é", 600)}},
			{"ping:GetPing", cLender, []string{b.pingTx}},
			{"ping:Noop", cBorrower, nil},
			{"ping:Ping", cLender, []string{"a", "b"}},
		}
	})
}

func FuzzTokens(f *testing.F) {
	fuzzContract(f, "FuzzTokens", func(b fuzzBase) []seed {
		return []seed{
			{"tokens:DefineToken", cTokenAdmin, []string{tokenJSON("EUR", KindCash, "EUR", nil)}},
			{"tokens:DefineToken", cTokenAdmin, []string{`{"id":"JGB","kind":"ST","currency":"JPY","isin":"JP1103601K95","quoteConvention":"percent-of-par","assetClass":"government-bond","minimalUnit":"100.0"}`}},
			{"tokens:UpdateToken", cTokenAdmin, []string{tokenJSON("JP8604", KindSecurity, "JPY", map[string]string{"creditRating": "A"})}},
			{"tokens:GetToken", cBankC, []string{"JP8306"}},
			{"tokens:ListTokens", cLender, []string{"2", ""}},
			{"tokens:TotalSupply", cOracle, []string{"JPY"}},
			{"tokens:BalanceOf", cOpAdmin, []string{"bank-b"}},
			{"tokens:BalanceOf", cBankC, []string{""}},
			{"tokens:RequestIssuance", cBankC, []string{"JPY", "100", "deposit-1"}},
			{"tokens:RequestIssuance", cLender, []string{"JPY", "9223372036854775807", "deposit-2"}},
			{"tokens:ApproveIssuance", cTokenAdmin, []string{b.issuance}},
			{"tokens:RejectIssuance", cTokenAdmin, []string{b.issuance, "no deposit"}},
			{"tokens:RequestRedemption", cBorrower, []string{"JP8306", "99000", "account-1"}},
			{"tokens:ApproveRedemption", cTokenAdmin, []string{b.redeem}},
			{"tokens:RejectRedemption", cTokenAdmin, []string{b.redeem, "closed"}},
			{"tokens:GetRequest", cLender, []string{b.issuance}},
			{"tokens:ListRequests", cOpAdmin, []string{"", "PENDING", "1", ""}},
			{"tokens:Transfer", cBorrower, []string{"JP8306", "bank-c", "250"}},
			{"tokens:Transfer", cLender, []string{"JPY", "bank-z9", "1"}},
		}
	})
}

func FuzzAgreements(f *testing.F) {
	fuzzContract(f, "FuzzAgreements", func(b fuzzBase) []seed {
		return []seed{
			{"agreements:Propose", cLender, []string{termsJSON("AGR-9", nil)}},
			{"agreements:Propose", cBorrower, []string{termsJSON("", func(m map[string]any) { delete(m, "id"); m["endDate"] = "" })}},
			{"agreements:Propose", cBankC, []string{termsJSON("AGR-X", func(m map[string]any) { m["lender"] = "bank-c" })}},
			{"agreements:Approve", cBorrower, []string{"AGR-P"}},
			{"agreements:Reject", cBorrower, []string{"AGR-P", "terms"}},
			{"agreements:Withdraw", cLender, []string{"AGR-P"}},
			{"agreements:Close", cLender, []string{"AGR-E"}},
			{"agreements:RequestTermination", cBorrower, []string{"AGR-1", "early"}},
			{"agreements:AcceptTermination", cBorrower, []string{"AGR-T"}},
			{"agreements:CancelTermination", cLender, []string{"AGR-T", ""}},
			{"agreements:GetAgreement", cOracle, []string{"AGR-L"}},
			{"agreements:ListAgreements", cLender, []string{"bank-a", "ACTIVE", "2", ""}},
			{"agreements:CollateralHeld", cBorrower, []string{"AGR-L"}},
			{"agreements:Recall", cLender, []string{"AGR-1", "5000", "2025-06-02", "2025-06-04", "sale"}},
			{"agreements:Return", cBorrower, []string{"AGR-1", "250000", "2025-06-02"}},
			{"agreements:Return", cBorrower, []string{"AGR-L", "1", "2025-06-02"}},
			{"agreements:GiveNotice", cLender, []string{"AGR-1", "2025-06-02", ""}},
			{"agreements:Substitute", cBorrower, []string{"AGR-1", substitutionJSON("JP8306", "100", "JP8604", "200"), "2025-06-02"}},
			{"agreements:ApproveSubstitution", cLender, []string{"AGR-T"}},
			{"agreements:CancelSubstitution", cBorrower, []string{"AGR-T", "no"}},
			{"agreements:BuyIn", cLender, []string{"AGR-1", "2025-06-02"}},
			{"agreements:DefineSchedule", cLender, []string{`{"id":"S-1","minRating":"BBB-","caps":[{"by":"issuer","max":"0.5"}]}`}},
		}
	})
}

func FuzzOracle(f *testing.F) {
	fuzzContract(f, "FuzzOracle", func(b fuzzBase) []seed {
		return []seed{
			{"oracle:PostPrices", cOracle, []string{"2025-06-03", `{"prices":{"JP8306":"1010.5","JP8604":{"value":"499","asOf":"2025-06-02","confirmedBy":"ops"}},"fx":{"USDJPY":"150.25"}}`}},
			{"oracle:PostPrices", cOracle, []string{"2025-06-02", `{"date":"2025-06-02","source":"file:market","prices":{"JP8306":"1000.000"},"fx":{}}`}},
			{"oracle:PostPrices", cOracle, []string{"2025-06-02", `{"prices":{"JP8306":"1001"}}`}},
			{"oracle:CorrectPrices", cOracle, []string{"2025-06-02", `{"prices":{"JP8306":"1001"}}`, "vendor correction"}},
			{"oracle:GetPrices", cBankC, []string{"2025-06-02", "1"}},
			{"oracle:GetPrices", cLender, []string{"2025-06-02", ""}},
			{"oracle:LastPostedDate", cBorrower, nil},
		}
	})
}

func FuzzMargin(f *testing.F) {
	fuzzContract(f, "FuzzMargin", func(b fuzzBase) []seed {
		return []seed{
			{"margin:MarginCall", cOracle, []string{"AGR-1", "2025-06-02"}},
			{"margin:MarginCall", cLender, []string{"AGR-L", "2025-06-02"}},
			{"margin:MarginCall", cBorrower, []string{"AGR-1", "2025-06-01"}},
			{"margin:SweepAgreements", cOracle, []string{"2025-06-02", `["AGR-1","AGR-L"]`}},
			{"margin:SweepAgreements", cOracle, []string{"2025-06-02", `["AGR-E","AGR-1","AGR-T"]`}},
			{"margin:SweepAgreements", cBorrower, []string{"2025-06-02", `["AGR-1","AGR-9"]`}},
			{"margin:SweepPlan", cLender, []string{"2025-06-02", "1", ""}},
			{"margin:FinishSweep", cOracle, []string{"2025-06-02"}},
			{"margin:GetMarginCall", cLender, []string{"AGR-L", "2025-06-02"}},
			{"margin:ListMarginCalls", cOracle, []string{"AGR-L", "1", ""}},
			{"margin:LastSweptDate", cBankC, nil},
			{"margin:DisputeCall", cBorrower, []string{"AGR-L", "2025-06-02", "100", "ours"}},
			{"margin:ResolveDispute", cLender, []string{"AGR-L", "2025-06-02", "dispute"}},
			{"margin:AdjustCalls", cOracle, []string{"2025-06-02", `["AGR-L","AGR-F"]`}},
			{"billing:IssueInvoice", cOracle, []string{"2025-05", "JPY"}},
			{"billing:IssueInvoice", cLender, []string{"2025-06", "JPY"}},
			{"billing:GetInvoice", cBorrower, []string{"2025-05", "JPY"}},
			{"billing:PayInvoice", cBorrower, []string{"2025-05", "JPY", "JPY"}},
			{"billing:QueryInvoiceLine", cLender, []string{"2025-05", "JPY", "AGR-F", "why"}},
		}
	})
}

// ---- structured inputs -------------------------------------------------------------------------

// FuzzProposeTerms proposes terms built from fuzzed fields, has the counterparty approve an
// accepted proposal, then margin-calls it on both priced dates.
func FuzzProposeTerms(f *testing.F) {
	f.Add("bank-a", "bank-b", "JPY", "1000000", "JP8306", "2000", "", "JP8604", "1000", "0.05", "0", "multi", 0, false, "0", "2025-05-30", "2025-06-01", "2025-12-31", true)
	f.Add("bank-a", "bank-b", "JPY", "1000000", "JP8306", "10", "0.5", "JP8604", "0", "0", "0.02", "single", 1, true, "1000", "2025-05-30", "2025-05-30", "", true)
	f.Add("bank-b", "bank-a", "JP8604", "100", "JPY", "10000", "0", "US-AAPL", "1", "0.999999", "0.5", "single", 30, true, "0.5", "2025-01-01", "2025-06-01", "2025-06-02", true)
	f.Add("bank-a", "bank-a", "JPY", "01", "JPY", "-1", "1", "JPY", "1e3", "1.0", "-0", "both", -1, false, "x", "2025-02-30", "2025-13-01", "20251231", false)
	f.Add("bank-a", "bank-c", "US-AAPL", "9223372036854775807", "JP8306", "9223372036854775807", "", "JP8604", "", "0.05", "", "multi", 0, true, "", "0001-01-01", "9999-12-31", "", true)
	f.Fuzz(func(t *testing.T, lender, borrower, loanToken, loanQty, c1, q1, h1, c2, q2, haircut, threshold, mode string,
		lag int, autoIssue bool, mta, trade, start, end string, approve bool) {
		w, _ := fuzzWorld(t)
		legs := []any{map[string]any{"token": c1, "quantity": q1, "haircut": h1}}
		if c2 != "" {
			legs = append(legs, map[string]any{"token": c2, "quantity": q2})
		}
		terms := map[string]any{"id": "AGR-F", "lender": lender, "borrower": borrower,
			"loan": map[string]any{"token": loanToken, "quantity": loanQty}, "collateral": legs,
			"baseCurrency": "JPY", "haircut": haircut, "threshold": threshold, "mode": mode,
			"settlementLagDays": lag, "autoIssue": autoIssue, "minimumTransferAmount": mta,
			"tradeDate": trade, "startDate": start, "endDate": end}
		banks := map[string]*testID{"bank-a": w.lender, "bank-b": w.borrower, "bank-c": w.bankC}
		proposer := banks[lender]
		if proposer == nil {
			proposer = banks[borrower]
		}
		if proposer == nil {
			proposer = w.lender
		}
		res := w.detCall(proposer, "agreements:Propose", mustJSON(terms))
		if res.status != 200 || !approve {
			return
		}
		var a Agreement
		mustUnmarshal(t, res.payload, &a)
		counter := banks[a.Terms.Lender]
		if a.Proposer == a.Terms.Lender {
			counter = banks[a.Terms.Borrower]
		}
		if counter == nil {
			return
		}
		if w.detCall(counter, "agreements:Approve", "AGR-F").status != 200 {
			return
		}
		for _, d := range []string{"2025-06-01", "2025-06-02"} {
			w.detCall(w.oracle, "margin:MarginCall", "AGR-F", d)
		}
		w.detCall(w.oracle, "margin:SweepAgreements", "2025-06-02", `["AGR-F"]`)
		w.detCall(w.oracle, "margin:FinishSweep", "2025-06-02")
		w.detCall(w.lender, "agreements:CollateralHeld", "AGR-F")
	})
}

// FuzzTokenSpec defines a token from fuzzed fields; an accepted definition must read back in
// canonical form, be a no-op when repeated, and be usable in a transfer after issuance.
func FuzzTokenSpec(f *testing.F) {
	f.Add("EUR", "CT", "EUR", "", "", "", "", "", "", "", "")
	f.Add("JGB10", "ST", "JPY", "JGB 10y", "JP1103601K95", "", "percent-of-par", "government-bond", "A+", "1.000", "MoF")
	f.Add("X", "ST", "usd", "\x00", "US0378331005", "AAPL", "per-unit", "equity", "", "0", "")
	f.Add("JPY", "CT", "JPY", "", "", "", "per-unit", "cash", "", "", "")
	f.Add("-bad", "XX", "JP", "", "JP39029000041", "", "percent", "", "", "1e2", "")
	f.Fuzz(func(t *testing.T, id, kind, ccy, name, isin, ticker, quote, assetClass, rating, unit, issuer string) {
		w, _ := fuzzWorld(t)
		spec := mustJSON(map[string]string{"id": id, "kind": kind, "currency": ccy, "name": name, "isin": isin, "ticker": ticker,
			"quoteConvention": quote, "assetClass": assetClass, "creditRating": rating, "minimalUnit": unit, "issuer": issuer})
		res := w.detCall(w.tokenAdmin, "tokens:DefineToken", spec)
		if res.status != 200 {
			return
		}
		var tok Token
		mustUnmarshal(t, res.payload, &tok)
		again := w.detCall(w.tokenAdmin, "tokens:DefineToken", spec)
		if again.status != 200 || len(again.stub.writes) != 0 {
			t.Fatalf("defining %s identically again: %d %s, %d writes", id, again.status, again.message, len(again.stub.writes))
		}
		got := w.detCall(w.bankC, "tokens:GetToken", tok.ID)
		var back Token
		mustUnmarshal(t, got.payload, &back)
		if !back.TokenSpec.sameAs(tok.TokenSpec) {
			t.Fatalf("token %s reads back as %+v, defined as %+v", id, back.TokenSpec, tok.TokenSpec)
		}
		w.detCall(w.tokenAdmin, "tokens:UpdateToken", spec)
		var req Request
		if r := w.detCall(w.lender, "tokens:RequestIssuance", tok.ID, "10", "deposit"); r.status == 200 {
			mustUnmarshal(t, r.payload, &req)
			w.detCall(w.tokenAdmin, "tokens:ApproveIssuance", req.ID)
			w.detCall(w.lender, "tokens:Transfer", tok.ID, "bank-b", "3")
		}
	})
}

// FuzzPriceBatch posts a batch built from fuzzed fields (as a plain value or a quote object, as a
// post or a correction); an accepted value must read back canonical and a repeat must be a no-op.
func FuzzPriceBatch(f *testing.F) {
	f.Add("2025-06-03", "JP8306", "1000.50", "", "", "USDJPY", "150.125", "file:market", false, false)
	f.Add("2025-06-02", "JP8604", "499.000", "2025-05-30", "ops", "EURUSD", "1.1", "", true, false)
	f.Add("2025-06-02", "JP8306", "1001", "", "", "USDJPY", "150", "", false, true)
	f.Add("2025-06-06", "JPY", "-1", "2025-06-07", "\n", "JPYJPY", "0", "\xff", true, false)
	f.Add("2025-06-02", "US-AAPL", "0.0000000000000000000000000000000000001", "0000-01-01", "", "USDJPY", "99999999999999999999999999999999999999.9", "", false, false)
	f.Fuzz(func(t *testing.T, date, tok, value, asOf, confirmedBy, pair, rate, source string, asObject, correct bool) {
		w, _ := fuzzWorld(t)
		var quote any = value
		if asObject {
			quote = map[string]string{"value": value, "asOf": asOf, "confirmedBy": confirmedBy}
		}
		batch := mustJSON(map[string]any{"source": source, "prices": map[string]any{tok: quote}, "fx": map[string]string{pair: rate}})
		fn, args := "oracle:PostPrices", []string{date, batch}
		if correct {
			fn, args = "oracle:CorrectPrices", []string{date, batch, "fuzz"}
		}
		res := w.detCall(w.oracle, fn, args...)
		if res.status != 200 {
			return
		}
		var set PriceSet
		mustUnmarshal(t, w.detCall(w.lender, "oracle:GetPrices", date, "").payload, &set)
		_, canonical, err := parseDecimal("v", value)
		if err != nil || set.Prices[tok] != canonical {
			t.Fatalf("posted %s = %q, reads back %q (canonical %q, %v)", tok, value, set.Prices[tok], canonical, err)
		}
		again := w.detCall(w.oracle, fn, args...)
		if again.status != 200 || len(again.stub.writes) != 0 {
			t.Fatalf("posting the same batch again: %d %s, %d writes", again.status, again.message, len(again.stub.writes))
		}
		w.detCall(w.oracle, "margin:SweepAgreements", date, `["AGR-1"]`)
		w.detCall(w.oracle, "margin:FinishSweep", date)
	})
}
