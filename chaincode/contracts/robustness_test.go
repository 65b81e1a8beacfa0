package contracts

import (
	"bytes"
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

// hostile inputs every function must refuse cleanly (or accept) without panicking.
var hostile = []string{
	"", " ", "\x00", "\xff\xfe", "null", "{}", "[]", `{"a":`, strings.Repeat("[", 10000),
	strings.Repeat("9", 5000), "-1", "1e309", "NaN", "AGR-1", "bank-a", "JPY", "2025-06-02",
	"\u202e", strings.Repeat("x", 70000), `{"prices":{"JP8306":"1"}}`, `["party"]`,
}

func TestNoFunctionPanicsOnHostileInput(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.open("AGR-1", nil)
	w.postDefaultPrices("2025-06-02")
	rng := rand.New(rand.NewSource(1))
	ids := []*testID{w.opAdmin, w.tokenAdmin, w.oracle, w.lender, w.borrower, w.stranger}
	for _, row := range roleRows() {
		for n := 0; n <= 5; n++ { // also wrong argument counts
			for trial := 0; trial < 12; trial++ {
				args := make([]string, n)
				for i := range args {
					args[i] = hostile[rng.Intn(len(hostile))]
				}
				id := ids[rng.Intn(len(ids))]
				res := w.call(id, row.fn, args...)
				if strings.Contains(res.message, "internal error") {
					t.Fatalf("%s%q as %s: %s", row.fn, args, id.name, res.message)
				}
			}
		}
	}
	w.checkConservation()
}

func TestGuardTurnsPanicIntoError(t *testing.T) {
	broken := &Chaincode{} // no dispatcher: Invoke dereferences nil
	resp := broken.Invoke(&mockStub{})
	if resp.GetStatus() != 500 || !strings.HasPrefix(resp.GetMessage(), "internal error: ") {
		t.Fatalf("got %d %q", resp.GetStatus(), resp.GetMessage())
	}
}

func TestUnknownFunctionAndContract(t *testing.T) {
	w := newWorld(t)
	res := w.call(w.lender, "tokens:Steal", "x")
	if res.status == 200 || res.message != "Function Steal not found in contract tokens" {
		t.Fatalf("got %q", res.message)
	}
	res = w.call(w.lender, "vault:Open")
	if res.status == 200 || res.message != "Contract not found with name vault" {
		t.Fatalf("got %q", res.message)
	}
	// helpers are not transactions
	for _, fn := range []string{"tokens:request", "tokens:decide", "agreements:GetEvaluateTransactions", "roles:GetName"} {
		res = w.call(w.lender, fn)
		if res.status == 200 {
			t.Fatalf("%s is callable", fn)
		}
	}
}

// TestConservationUnderRandomOperations runs random sequences of transfers, issuance, redemption,
// agreement life cycles and margin calls, checking supply = Σ free + Σ max(held, 0) after each.
func TestConservationUnderRandomOperations(t *testing.T) {
	for seed := int64(1); seed <= 4; seed++ {
		w := newWorld(t)
		w.market()
		w.issue(w.bankC, "JP8306", "5000")
		rng := rand.New(rand.NewSource(seed))
		parties := []*testID{w.lender, w.borrower, w.bankC}
		names := map[*testID]string{w.lender: "bank-a", w.borrower: "bank-b", w.bankC: "bank-c"}
		tokens := []string{"JPY", "JP8306", "JP8604"}
		dates := []string{"2025-06-01", "2025-06-02", "2025-06-03"}
		for _, d := range dates {
			w.ok(w.oracle, "oracle:PostPrices", d, `{"prices":{"JP8306":"`+[]string{"900", "1000", "1300"}[rng.Intn(3)]+`","JP8604":"500"}}`)
		}
		agreements := []string{}
		pairs := map[string]string{} // agreement -> its pair (the oracle names it)
		for step := 0; step < 120; step++ {
			p := parties[rng.Intn(3)]
			q := parties[rng.Intn(3)]
			tok := tokens[rng.Intn(3)]
			amount := []string{"1", "250", "5000", "100000"}[rng.Intn(4)]
			switch rng.Intn(7) {
			case 0:
				w.call(p, "tokens:Transfer", tok, names[q], amount)
			case 1:
				res := w.call(p, "tokens:RequestRedemption", tok, amount, "r")
				if res.status == 200 {
					var r Request
					mustUnmarshal(t, res.payload, &r)
					w.call(w.tokenAdmin, "tokens:ApproveRedemption", r.ID)
				}
			case 2:
				w.issue(p, tok, amount)
			case 3:
				id := "AGR-" + string(rune('A'+step%26)) + string(rune('a'+step/26))
				lender, borrower := names[p], names[q]
				res := w.call(p, "agreements:Propose", termsJSON(id, func(m map[string]any) {
					m["lender"], m["borrower"] = lender, borrower
					m["autoIssue"] = rng.Intn(2) == 0
					m["mode"] = []string{"single", "multi"}[rng.Intn(2)]
					m["settlementLagDays"] = rng.Intn(2)
					m["tradeDate"], m["startDate"], m["endDate"] = "2025-05-01", "2025-05-01", "2025-06-03"
				}))
				if res.status == 200 {
					counter := q
					if res := w.call(counter, "agreements:Approve", id); res.status == 200 {
						agreements = append(agreements, id)
						pairs[id] = pairCollection(lender, borrower)
					}
				}
			case 4, 5:
				if len(agreements) > 0 {
					id := agreements[rng.Intn(len(agreements))]
					w.inPair(pairs[id], func() { w.call(w.oracle, "margin:MarginCall", id, dates[rng.Intn(3)]) })
				}
			case 6:
				if len(agreements) > 0 {
					w.call(p, "agreements:Close", agreements[rng.Intn(len(agreements))])
				}
			}
			w.checkConservation()
		}
	}
}

// TestTransactionsAreDeterministic re-executes the same transactions against the same state with
// the same transaction id and time, many times, and requires byte-identical write sets, policies,
// events and responses (Go randomises map iteration, so order dependence would show).
func TestTransactionsAreDeterministic(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.open("AGR-1", nil)
	w.open("AGR-2", func(m map[string]any) { lagTerms(m); m["autoIssue"] = true })
	w.open("AGR-E", endedTerms)
	w.postDefaultPrices("2025-06-02")
	w.postDefaultPrices("2025-05-01") // no agreement is margined on or before its start date: FinishSweep records it
	calls := []struct {
		id   *testID
		fn   string
		args []string
	}{
		{w.oracle, "margin:SweepAgreements", []string{"2025-06-02", `["AGR-1","AGR-2","AGR-E"]`}},
		{w.oracle, "margin:FinishSweep", []string{"2025-05-01"}}, // the pair's sweep (the oracle names the pair)
		{w.oracle, "oracle:PostPrices", []string{"2025-06-03", `{"prices":{"JP8306":"1","JP8604":"2","US-AAPL":"3"},"fx":{"USDJPY":"150","EURUSD":"1.1","GBPUSD":"1.3"}}`}},
		{w.oracle, "oracle:CorrectPrices", []string{"2025-06-02", `{"prices":{"JP8306":"1100","JP8604":"400"}}`, "restated"}},
		{w.lender, "agreements:Close", []string{"AGR-E"}},
		{w.borrower, "agreements:Propose", []string{termsJSON("AGR-9", nil)}},
	}
	for _, c := range calls {
		base := w.ledger.snapshot()
		var first *mockStub
		var firstResp *peer.Response
		for i := 0; i < 25; i++ {
			restore(w.ledger, base)
			stub := &mockStub{ledger: w.ledger, txID: "fixedtx", ts: testEpoch, creator: c.id.creator,
				writes: map[string][]byte{}, sbeWrites: map[string][]byte{}}
			stub.args = [][]byte{[]byte(c.fn)}
			for _, a := range c.args {
				stub.args = append(stub.args, []byte(a))
			}
			if c.id == w.oracle {
				stub.transient = map[string][]byte{transientPair: []byte(pairAB)}
			}
			resp := w.cc.Invoke(stub)
			if resp.GetStatus() != 200 {
				t.Fatalf("%s: %s", c.fn, resp.GetMessage())
			}
			if first == nil {
				first, firstResp = stub, resp
				continue
			}
			if !reflect.DeepEqual(first.writes, stub.writes) || !reflect.DeepEqual(first.sbeWrites, stub.sbeWrites) ||
				!bytes.Equal(first.event.GetPayload(), stub.event.GetPayload()) || !bytes.Equal(firstResp.GetPayload(), resp.GetPayload()) {
				t.Fatalf("%s is not deterministic", c.fn)
			}
		}
		restore(w.ledger, base)
	}
}

func restore(l *ledgerState, snap map[string]string) {
	l.state, l.sbe = map[string][]byte{}, map[string][]byte{}
	for k, v := range snap {
		if rest, ok := strings.CutPrefix(k, "state/"); ok {
			l.state[rest] = []byte(v)
		} else if rest, ok := strings.CutPrefix(k, "sbe/"); ok {
			l.sbe[rest] = []byte(v)
		}
	}
}

func mustUnmarshal(t *testing.T, s string, out any) {
	t.Helper()
	if err := jsonUnmarshal([]byte(s), out); err != nil {
		t.Fatal(err)
	}
}
