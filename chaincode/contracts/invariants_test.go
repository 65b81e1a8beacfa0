package contracts

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/big"
	"math/rand"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Invariant-based tests: random sequences of issuance, redemption, transfers, agreement life
// cycles, price moves (posts, additions, corrections) and margin calls and sweeps run against
// the chaincode on the map-backed stub, side by side with a small reference model of the ledger
// (free balances, supplies, collateral held and pending lagged settlements per agreement, prices).
//
// Each operation's outcome is predicted from the model first (success, or the refusal it must
// get), then the chaincode runs it and the model follows what the chaincode reports (the margin
// engine's quantities are read from the call record, everything else is recomputed
// independently). After every step:
//
//   - for every token: supply = Σ free balances + Σ max(position, 0) (ledger.go), and the
//     supply changed only by issuance, redemption and margin-call mints (the model's count);
//   - every free balance, collateral position and pending settlement equals the model's; every
//     active agreement's collateral recorded on the ledger is what its lender holds for it (the
//     position keys, CollateralHeld and the last call's "held" agree), and an agreement that is
//     not active holds nothing;
//   - the agreement and request index entries match the records they index;
//   - a refused transaction attempted no write and no event; a transaction writes iff it emits.
//
// After every margin call: V_L, V_C before and after and the gap in the record equal an
// independent valuation of the model's positions at the posted prices, and when the call was
// triggered without an issuance-required outcome (or with auto-issue) the haircut collateral
// covers the loan (g ≥ 0); a shortfall call never delivers a whole unit more than needed.

var invariantReasons = flag.Bool("invariant.reasons", false, "count refusals by reason in the operations log")
var invariantSeeds = flag.Int("invariant.seeds", 8, "seeds run by TestInvariantsUnderRandomOperations")
var invariantSteps = flag.Int("invariant.steps", 250, "operations per seed in TestInvariantsUnderRandomOperations")

func TestInvariantsUnderRandomOperations(t *testing.T) {
	total := map[string]int{}
	for seed := 1; seed <= *invariantSeeds; seed++ {
		s := newSim(t, rngChooser{rand.New(rand.NewSource(int64(seed)))})
		s.run(*invariantSteps)
		for k, v := range s.stats {
			total[k] += v
		}
	}
	keys := sortedKeys(total)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, total[k]))
	}
	t.Logf("operations: %s", strings.Join(parts, " "))
	// the sequences must really exercise the interesting paths, not only refusals
	for _, k := range []string{"approve/ok", "margin/ok", "margin/issuance", "margin/mint", "margin/lagged",
		"sweep/ok", "close/ok", "terminate/ok", "transfer/ok", "redeem/ok", "correct/ok"} {
		if total[k] == 0 && *invariantSeeds >= 8 && *invariantSteps >= 250 {
			t.Errorf("no %s in %d seeds: the generator does not reach it", k, *invariantSeeds)
		}
	}
}

// ---- sources of decisions --------------------------------------------------------------------

// chooser is where the driver's decisions come from: a seeded PRNG, or the fuzzer's bytes.
type chooser interface {
	intn(n int) int
	exhausted() bool
}

type rngChooser struct{ r *rand.Rand }

func (c rngChooser) intn(n int) int  { return c.r.Intn(n) }
func (c rngChooser) exhausted() bool { return false }

// byteChooser reads decisions from fuzz input; once it is used up every decision is 0.
type byteChooser struct {
	data []byte
	pos  int
}

func (c *byteChooser) intn(n int) int {
	if n <= 1 || c.pos >= len(c.data) {
		c.pos++
		return 0
	}
	v := int(c.data[c.pos])
	c.pos++
	if n > 256 && c.pos < len(c.data) {
		v = v<<8 | int(c.data[c.pos])
		c.pos++
	}
	return v % n
}

func (c *byteChooser) exhausted() bool { return c.pos >= len(c.data) }

// ---- the reference model ---------------------------------------------------------------------

type simToken struct {
	id, kind, ccy string
	pct           bool // percent-of-par
	lot           int64
}

var simTokens = []simToken{
	{"JPY", KindCash, "JPY", false, 1_000_000},
	{"USD", KindCash, "USD", false, 10_000},
	{"EUR", KindCash, "EUR", false, 10_000},
	{"JP8306", KindSecurity, "JPY", false, 1_000},
	{"JP8604", KindSecurity, "JPY", false, 2_000},
	{"US-AAPL", KindSecurity, "USD", false, 100},
	{"JGB10", KindSecurity, "JPY", true, 1_000_000},
	{"DE-BUND", KindSecurity, "EUR", true, 10_000},
}

// start prices in hundredths (securities) and FX in ten-thousandths
var simStartPrices = map[string]int64{
	"JP8306": 100000, "JP8604": 50000, "US-AAPL": 20000, "JGB10": 9900, "DE-BUND": 10125,
	"USDJPY": 1500000, "EURUSD": 11000,
}

var simFX = []string{"USDJPY", "EURUSD"}

type simPending struct {
	due, call string
	tr        MarginTransfer
}

type simAgreement struct {
	id, lender, borrower, proposer, status string
	loanToken                              string
	loanQty                                int64
	coll                                   []string
	collQty                                map[string]int64
	haircut                                map[string]*big.Rat
	threshold, mta                         *big.Rat
	mode, base, start, end                 string
	lag                                    int
	autoIssue                              bool
	held                                   map[string]int64
	pending                                []simPending
	lastCall                               string
	termBy                                 string
	calls                                  map[string]MarginCallRecord
	stepped                                bool // a life-cycle step moved collateral since the last call
}

func (a *simAgreement) clone() *simAgreement {
	c := *a
	c.held = map[string]int64{}
	for k, v := range a.held {
		c.held[k] = v
	}
	c.pending = append([]simPending(nil), a.pending...)
	return &c
}

type simRequest struct {
	id, kind, party, token string
	qty                    int64
}

type sim struct {
	t       testing.TB
	w       *world
	ch      chooser
	banks   []*testID
	name    map[*testID]string
	byName  map[string]*testID
	tokens  map[string]simToken
	supply  map[string]int64
	free    map[string]map[string]int64
	ags     map[string]*simAgreement
	agIDs   []string
	dates   []string                       // posted dates, ascending
	prices  map[string]map[string]*big.Rat // date -> token or FX pair -> latest value
	version map[string]int                 // date -> latest version
	walk    map[string]int64               // random-walk state
	reqs    []simRequest
	swept   string
	markers map[string]PairSweep // pair collection -> its sweep marker (FinishSweep)
	stats   map[string]int
}

// simPairs are the pair collections of the three banks.
var simPairs = []string{"pair-bank-a-bank-b", "pair-bank-a-bank-c", "pair-bank-b-bank-c"}

func (a *simAgreement) pair() string { return pairCollection(a.lender, a.borrower) }

var simDates = func() []string {
	out := []string{}
	for d := time.Date(2025, 5, 2, 0, 0, 0, 0, time.UTC); !d.After(time.Date(2025, 6, 5, 0, 0, 0, 0, time.UTC)); d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format(isoDate))
	}
	return out
}()

// the funded world every simulation starts from, built once per test binary
var (
	simBaseOnce  sync.Once
	simBaseState map[string]string
	simBaseSeq   int
	simBaseClock time.Time
)

// every bank starts with 60 lots of every token (a lot is worth about 1,000,000 JPY), so busy
// borrowers do run short
const simFundingLots = 60

func simFundingOf(tok simToken) int64 { return tok.lot * simFundingLots }

func newSim(t testing.TB, ch chooser) *sim {
	t.Helper()
	simBaseOnce.Do(func() {
		w := newWorld(t)
		for _, tok := range simTokens {
			spec := map[string]string{}
			if tok.pct {
				spec["quoteConvention"] = QuotePercentOfPar
				spec["assetClass"] = "government-bond"
			}
			w.ok(w.tokenAdmin, "tokens:DefineToken", tokenJSON(tok.id, tok.kind, tok.ccy, spec))
		}
		for _, b := range []*testID{w.lender, w.borrower, w.bankC} {
			for _, tok := range simTokens {
				w.issue(b, tok.id, formatQuantity(simFundingOf(tok)))
			}
		}
		simBaseState, simBaseSeq, simBaseClock = w.ledger.snapshot(), w.seq, w.clock
	})
	w := newBareWorld(t)
	restore(w.ledger, simBaseState)
	w.seq, w.clock = simBaseSeq, simBaseClock
	s := &sim{t: t, w: w, ch: ch, banks: []*testID{w.lender, w.borrower, w.bankC},
		name:   map[*testID]string{w.lender: "bank-a", w.borrower: "bank-b", w.bankC: "bank-c"},
		byName: map[string]*testID{"bank-a": w.lender, "bank-b": w.borrower, "bank-c": w.bankC},
		tokens: map[string]simToken{}, supply: map[string]int64{}, free: map[string]map[string]int64{},
		ags: map[string]*simAgreement{}, prices: map[string]map[string]*big.Rat{}, version: map[string]int{},
		walk: map[string]int64{}, stats: map[string]int{}, markers: map[string]PairSweep{}}
	for _, p := range simPairs {
		s.markers[p] = PairSweep{Collection: p}
	}
	for _, tok := range simTokens {
		s.tokens[tok.id] = tok
		s.supply[tok.id] = 3 * simFundingOf(tok)
	}
	for _, b := range []string{"bank-a", "bank-b", "bank-c"} {
		s.free[b] = map[string]int64{}
		for _, tok := range simTokens {
			s.free[b][tok.id] = simFundingOf(tok)
		}
	}
	for k, v := range simStartPrices {
		s.walk[k] = v
	}
	s.checkAll()
	return s
}

func (s *sim) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("step %d: "+format, append([]any{s.stats["steps"]}, args...)...)
}

func (s *sim) pick(n int) int { return s.ch.intn(n) }

func (s *sim) bank() *testID { return s.banks[s.pick(len(s.banks))] }

func (s *sim) txDate() string { return s.w.clock.Add(time.Second).Format(isoDate) }

// call runs one transaction and checks the properties every transaction has.
func (s *sim) call(id *testID, fn string, args ...string) result {
	s.t.Helper()
	res := s.w.call(id, fn, args...)
	if strings.Contains(res.message, "internal error") {
		s.fatalf("%s%q as %s: %s", fn, args, id.name, res.message)
	}
	writes := len(res.stub.writes) + len(res.stub.sbeWrites)
	if res.status != 200 && (writes != 0 || res.stub.event != nil) {
		s.fatalf("%s refused (%s) but attempted %d writes, event %v", fn, res.message, writes, res.stub.event != nil)
	}
	if res.status == 200 && (len(res.stub.writes) > 0) != (res.stub.event != nil) {
		s.fatalf("%s: %d writes but event %v (a transaction writes iff it emits an event)", fn, len(res.stub.writes), res.stub.event != nil)
	}
	return res
}

// expect checks a predicted outcome: wantErr "" means success, otherwise the error must contain it.
func (s *sim) expect(res result, op, wantErr string) bool {
	s.t.Helper()
	if wantErr == "" {
		if res.status != 200 {
			s.fatalf("%s: predicted success, got error: %s", op, res.message)
		}
		s.stats[op+"/ok"]++
		return true
	}
	if res.status == 200 {
		s.fatalf("%s: predicted error %q, succeeded: %s", op, wantErr, truncate(res.payload, 300))
	}
	if !strings.Contains(res.message, wantErr) {
		s.fatalf("%s: error\n got: %s\nwant: ...%s...", op, res.message, wantErr)
	}
	s.stats[op+"/refused"]++
	if *invariantReasons {
		r := wantErr
		if len(r) > 30 {
			r = r[:30]
		}
		s.stats[op+"/refused:"+strings.ReplaceAll(r, " ", "_")]++
	}
	return false
}

func (s *sim) decode(res result, out any) {
	s.t.Helper()
	if err := json.Unmarshal([]byte(res.payload), out); err != nil {
		s.fatalf("payload is not the expected JSON: %v\n%s", err, res.payload)
	}
}

// run performs n random operations (or until a fuzz input is used up), checking after each.
func (s *sim) run(n int) {
	ops := []struct {
		weight int
		f      func()
	}{
		{8, s.opTransfer}, {5, s.opRequestIssuance}, {4, s.opRequestRedemption}, {6, s.opDecide},
		{8, s.opPropose}, {10, s.opRespond}, {3, s.opClose}, {5, s.opTerminate},
		{7, s.opPostPrices}, {2, s.opAddMissing}, {2, s.opCorrect}, {18, s.opMarginCall},
		{5, s.opSweep}, {3, s.opReadBack}, {3, s.opReturn}, {3, s.opSubstitute},
	}
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	for i := 0; i < n && !s.ch.exhausted(); i++ {
		s.stats["steps"]++
		r := s.pick(total)
		for _, o := range ops {
			if r < o.weight {
				o.f()
				break
			}
			r -= o.weight
		}
		s.checkAll()
	}
}

// ---- operations ------------------------------------------------------------------------------

func (s *sim) amount(tok string) int64 {
	lot := s.tokens[tok].lot
	return []int64{1, lot / 10, lot, 5 * lot, 40 * lot, simFundingOf(s.tokens[tok]) + 1}[s.pick(6)]
}

func (s *sim) anyToken() string { return simTokens[s.pick(len(simTokens))].id }

func (s *sim) opTransfer() {
	from, to := s.bank(), s.bank()
	tok := s.anyToken()
	q := max(s.amount(tok), 1)
	p, r := s.name[from], s.name[to]
	want := ""
	switch {
	case p == r:
		want = "cannot transfer to " + p + ": it is the sender"
	case s.free[p][tok] < q:
		want = insufficient(p, tok, q, s.free[p][tok]).Error()
	}
	res := s.call(from, "tokens:Transfer", tok, r, formatQuantity(q))
	if s.expect(res, "transfer", want) {
		s.free[p][tok] -= q
		s.free[r][tok] += q
	}
}

func (s *sim) opRequestIssuance() {
	b := s.bank()
	tok := s.anyToken()
	q := max(s.amount(tok), 1)
	res := s.call(b, "tokens:RequestIssuance", tok, formatQuantity(q), "deposit")
	if s.expect(res, "issue-request", "") {
		var req Request
		s.decode(res, &req)
		s.reqs = append(s.reqs, simRequest{req.ID, RequestIssuance, s.name[b], tok, q})
	}
}

func (s *sim) opRequestRedemption() {
	b := s.bank()
	p := s.name[b]
	tok := s.anyToken()
	q := max(s.amount(tok), 1)
	want := ""
	if s.free[p][tok] < q {
		want = insufficient(p, tok, q, s.free[p][tok]).Error()
	}
	res := s.call(b, "tokens:RequestRedemption", tok, formatQuantity(q), "withdrawal")
	if s.expect(res, "redeem-request", want) {
		var req Request
		s.decode(res, &req)
		s.reqs = append(s.reqs, simRequest{req.ID, RequestRedemption, p, tok, q})
	}
}

func (s *sim) opDecide() {
	if len(s.reqs) == 0 {
		return
	}
	i := s.pick(len(s.reqs))
	r := s.reqs[i]
	approve := s.pick(4) != 0
	fn, args := "tokens:ApproveIssuance", []string{r.id}
	if r.kind == RequestRedemption {
		fn = "tokens:ApproveRedemption"
	}
	if !approve {
		fn = strings.Replace(fn, "Approve", "Reject", 1)
		args = append(args, "no deposit seen")
	}
	want := ""
	if approve && r.kind == RequestRedemption && s.free[r.party][r.token] < r.qty {
		want = insufficient(r.party, r.token, r.qty, s.free[r.party][r.token]).Error()
	}
	op := map[bool]string{true: "issue", false: "redeem"}[r.kind == RequestIssuance]
	if !approve {
		op += "-reject"
	}
	res := s.call(s.w.tokenAdmin, fn, args...)
	if !s.expect(res, op, want) {
		return // still pending
	}
	s.reqs = append(s.reqs[:i], s.reqs[i+1:]...)
	if !approve {
		return
	}
	sign := int64(1)
	if r.kind == RequestRedemption {
		sign = -1
	}
	s.free[r.party][r.token] += sign * r.qty
	s.supply[r.token] += sign * r.qty
	var req Request
	s.decode(res, &req)
	if req.Status != RequestApproved {
		s.fatalf("request %s approved but status %s", r.id, req.Status)
	}
}

// unitValue values one unit of tok in base on date, independently of the margin engine.
func (s *sim) unitValue(tok, base, date string) *big.Rat {
	t := s.tokens[tok]
	v := big.NewRat(1, 1)
	if t.kind == KindSecurity {
		v.Set(s.prices[date][tok])
	}
	if t.pct {
		v.Quo(v, big.NewRat(100, 1))
	}
	// value of one unit of each currency in USD
	usd := map[string]*big.Rat{
		"USD": big.NewRat(1, 1),
		"JPY": new(big.Rat).Inv(s.prices[date]["USDJPY"]),
		"EUR": new(big.Rat).Set(s.prices[date]["EURUSD"]),
	}
	v.Mul(v, usd[t.ccy])
	return v.Quo(v, usd[base])
}

func (s *sim) walkValue(key string, scale int64) *big.Rat { return big.NewRat(s.walk[key], scale) }

// walkUnit values one unit from the random-walk state (used to size new agreements).
func (s *sim) walkUnit(tok, base string) *big.Rat {
	t := s.tokens[tok]
	v := big.NewRat(1, 1)
	if t.kind == KindSecurity {
		v = s.walkValue(tok, 100)
	}
	if t.pct {
		v.Quo(v, big.NewRat(100, 1))
	}
	usd := map[string]*big.Rat{"USD": big.NewRat(1, 1), "JPY": new(big.Rat).Inv(s.walkValue("USDJPY", 10000)), "EUR": s.walkValue("EURUSD", 10000)}
	v.Mul(v, usd[t.ccy])
	return v.Quo(v, usd[base])
}

func ratQuantity(r *big.Rat) int64 {
	q := new(big.Int).Quo(r.Num(), r.Denom())
	if !q.IsInt64() {
		return 1 << 40
	}
	return q.Int64()
}

func (s *sim) opPropose() {
	i := s.pick(len(s.banks))
	lenderID, borrowerID := s.banks[i], s.banks[(i+1+s.pick(len(s.banks)-1))%len(s.banks)]
	lender, borrower := s.name[lenderID], s.name[borrowerID]
	id := fmt.Sprintf("AGR-%03d", len(s.agIDs)+1)
	order := []int{}
	for i := range simTokens {
		order = append(order, i)
	}
	// the loan token, then 1-3 other collateral tokens in a random priority order
	for i := len(order) - 1; i > 0; i-- {
		j := s.pick(i + 1)
		order[i], order[j] = order[j], order[i]
	}
	loan := simTokens[order[0]].id
	n := 1 + s.pick(3)
	a := &simAgreement{id: id, lender: lender, borrower: borrower, status: StatusProposed, loanToken: loan,
		collQty: map[string]int64{}, haircut: map[string]*big.Rat{}, held: map[string]int64{},
		calls: map[string]MarginCallRecord{}}
	a.base = []string{"JPY", "USD", "EUR"}[s.pick(3)]
	a.loanQty = s.tokens[loan].lot * int64(1+s.pick(20))
	a.mode = []string{ModeSingle, ModeMulti}[s.pick(2)]
	a.lag = []int{0, 0, 1, 2}[s.pick(4)]
	a.autoIssue = s.pick(2) == 0
	alpha := []string{"0", "0.05", "0.1"}[s.pick(3)]
	threshold := []string{"0", "0", "0.02"}[s.pick(3)]
	mta := []string{"0", "0", "1000"}[s.pick(3)]
	a.threshold, _, _ = parseDecimal("t", threshold)
	a.mta, _, _ = parseDecimal("m", mta)
	a.start = "2025-05-01"
	a.end = []string{"2025-05-20", "2025-06-01", "2025-06-02", "2025-06-05", ""}[s.pick(5)]
	vl := new(big.Rat).Mul(big.NewRat(a.loanQty, 1), s.walkUnit(loan, a.base))
	legs := []any{}
	for k := 1; k <= n; k++ {
		tok := simTokens[order[k]].id
		a.coll = append(a.coll, tok)
		leg := map[string]any{"token": tok}
		h := alpha
		if s.pick(4) == 0 {
			h = []string{"0", "0.02", "0.15"}[s.pick(3)]
			leg["haircut"] = h
		}
		a.haircut[tok], _, _ = parseDecimal("h", h)
		// size the legs so the collateral is worth about the loan (0.7x to 1.3x), split evenly
		share := new(big.Rat).Mul(vl, big.NewRat(int64(7+s.pick(7)), int64(10*n)))
		hu := new(big.Rat).Mul(s.walkUnit(tok, a.base), new(big.Rat).Sub(big.NewRat(1, 1), a.haircut[tok]))
		q := ratQuantity(new(big.Rat).Quo(share, hu)) + 1
		if k > 1 && s.pick(6) == 0 {
			q = 0
		}
		a.collQty[tok] = q
		leg["quantity"] = formatQuantity(q)
		legs = append(legs, leg)
	}
	terms := map[string]any{
		"id": id, "lender": lender, "borrower": borrower,
		"loan":       map[string]any{"token": loan, "quantity": formatQuantity(a.loanQty)},
		"collateral": legs, "baseCurrency": a.base, "haircut": alpha, "threshold": threshold, "mode": a.mode,
		"settlementLagDays": a.lag, "autoIssue": a.autoIssue, "minimumTransferAmount": mta,
		"tradeDate": "2025-04-30", "startDate": a.start, "endDate": a.end,
	}
	proposer := lenderID
	if s.pick(2) == 0 {
		proposer = borrowerID
	}
	a.proposer = s.name[proposer]
	res := s.call(proposer, "agreements:Propose", mustJSON(terms))
	if s.expect(res, "propose", "") {
		s.ags[id] = a
		s.agIDs = append(s.agIDs, id)
	}
}

func (s *sim) agreementIn(statuses ...string) *simAgreement {
	ids := []string{}
	for _, id := range s.agIDs {
		for _, st := range statuses {
			if s.ags[id].status == st {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return s.ags[ids[s.pick(len(ids))]]
}

func (a *simAgreement) counterparty(p string) string {
	if p == a.lender {
		return a.borrower
	}
	return a.lender
}

func (s *sim) opRespond() {
	a := s.agreementIn(StatusProposed)
	if a == nil {
		return
	}
	counter := a.counterparty(a.proposer)
	switch s.pick(9) {
	case 0: // a bank that is not a party
		other := "bank-a"
		for _, b := range []string{"bank-a", "bank-b", "bank-c"} {
			if b != a.lender && b != a.borrower {
				other = b
			}
		}
		res := s.call(s.byName[other], "agreements:Approve", a.id)
		s.expect(res, "approve", "access denied: agreement "+a.id+" does not exist or "+other+" is not a party to it")
	case 1: // the proposer cannot approve its own proposal
		res := s.call(s.byName[a.proposer], "agreements:Approve", a.id)
		s.expect(res, "approve", "access denied: "+a.proposer+" proposed agreement "+a.id)
	case 2:
		res := s.call(s.byName[counter], "agreements:Reject", a.id, "terms")
		if s.expect(res, "reject", "") {
			a.status = StatusRejected
		}
	case 3:
		res := s.call(s.byName[a.proposer], "agreements:Withdraw", a.id)
		if s.expect(res, "withdraw", "") {
			a.status = StatusWithdrawn
		}
	default:
		want := ""
		if have := s.free[a.lender][a.loanToken]; have < a.loanQty {
			want = insufficient(a.lender, a.loanToken, a.loanQty, have).Error()
		} else {
			for _, c := range a.coll {
				if have := s.free[a.borrower][c]; a.collQty[c] > 0 && have < a.collQty[c] {
					want = insufficient(a.borrower, c, a.collQty[c], have).Error()
					break
				}
			}
		}
		res := s.call(s.byName[counter], "agreements:Approve", a.id)
		if s.expect(res, "approve", want) {
			s.free[a.lender][a.loanToken] -= a.loanQty
			s.free[a.borrower][a.loanToken] += a.loanQty
			for _, c := range a.coll {
				if err := s.deliver(a, c, a.collQty[c]); err != nil {
					s.fatalf("approve %s: the model cannot open it: %v", a.id, err)
				}
			}
			a.status = StatusActive
			// the approval marks the pair active and behind (no date: the marker is public)
			m := s.markers[a.pair()]
			s.markers[a.pair()] = PairSweep{Collection: m.Collection, Active: true}
		}
	}
}

// closingRefusal predicts whether the closing exchange of a can run.
func (s *sim) closingRefusal(a *simAgreement) string {
	if have := s.free[a.borrower][a.loanToken]; have < a.loanQty {
		return insufficient(a.borrower, a.loanToken, a.loanQty, have).Error()
	}
	for _, c := range a.coll {
		if h := a.held[c]; h < 0 && s.free[a.borrower][c] < -h {
			return insufficient(a.borrower, c, -h, s.free[a.borrower][c]).Error()
		}
	}
	return ""
}

func (s *sim) applyClose(a *simAgreement) {
	s.free[a.borrower][a.loanToken] -= a.loanQty
	s.free[a.lender][a.loanToken] += a.loanQty
	for _, c := range a.coll {
		var err error
		switch h := a.held[c]; {
		case h > 0:
			err = s.giveBack(a, c, h)
		case h < 0:
			err = s.deliver(a, c, -h)
		}
		if err != nil {
			s.fatalf("close %s: %v", a.id, err)
		}
	}
	s.stats["close/pending-dropped"] += len(a.pending)
	a.pending = nil
	a.status = StatusClosed
	a.termBy = ""
}

func (s *sim) opClose() {
	a := s.agreementIn(StatusActive)
	if a == nil {
		return
	}
	who := []string{a.lender, a.borrower}[s.pick(2)]
	want := ""
	switch {
	case a.end == "":
		want = "is open (no end date)"
	case s.txDate() < a.end:
		want = "ends on " + a.end
	default:
		want = s.closingRefusal(a)
	}
	res := s.call(s.byName[who], "agreements:Close", a.id)
	if s.expect(res, "close", want) {
		s.applyClose(a)
	}
}

func (s *sim) opTerminate() {
	a := s.agreementIn(StatusActive)
	if a == nil {
		return
	}
	who := []string{a.lender, a.borrower}[s.pick(2)]
	switch s.pick(4) {
	case 0, 1:
		want := ""
		if a.termBy == who {
			want = who + " already requested the termination"
		} else if a.termBy != "" {
			want = "call AcceptTermination to accept it"
		}
		res := s.call(s.byName[who], "agreements:RequestTermination", a.id, "early repayment")
		if s.expect(res, "terminate-request", want) {
			a.termBy = who
		}
	case 2:
		if a.termBy != "" && s.pick(4) != 0 {
			who = a.counterparty(a.termBy)
		}
		want := ""
		switch {
		case a.termBy == "":
			want = "no termination of agreement " + a.id + " has been requested"
		case a.termBy == who:
			want = "access denied: " + who + " requested the termination"
		default:
			want = s.closingRefusal(a)
		}
		res := s.call(s.byName[who], "agreements:AcceptTermination", a.id)
		if s.expect(res, "terminate", want) {
			s.applyClose(a)
		}
	default:
		want := ""
		if a.termBy == "" {
			want = "no termination of agreement " + a.id + " has been requested"
		}
		res := s.call(s.byName[who], "agreements:CancelTermination", a.id, "")
		if s.expect(res, "terminate-cancel", want) {
			a.termBy = ""
		}
	}
}

// ---- life cycle ------------------------------------------------------------------------------

// stepDay picks an active agreement and a value date a life-cycle step can use (posted, fully
// priced, not before its start or latest call, not after today), or nil.
func (s *sim) stepDay() (*simAgreement, string) {
	a := s.agreementIn(StatusActive)
	date := s.postedDate()
	if a == nil || date == "" || date < a.start || date < a.lastCall || date > s.txDate() || s.missingPrice(a, date) != "" {
		return nil, ""
	}
	return a, date
}

// heldGap is the haircut value of what a holds (pending settlements not counted: a step values the
// positions as they stand) minus the loan's value, on date.
func (s *sim) heldGap(a *simAgreement, held map[string]int64, date string) *big.Rat {
	gap := new(big.Rat).Neg(new(big.Rat).Mul(big.NewRat(a.loanQty, 1), s.unitValue(a.loanToken, a.base, date)))
	for _, c := range a.coll {
		hu := new(big.Rat).Mul(s.unitValue(c, a.base, date), new(big.Rat).Sub(big.NewRat(1, 1), a.haircut[c]))
		gap.Add(gap, hu.Mul(hu, big.NewRat(held[c], 1)))
	}
	return gap
}

// applyStepTransfers follows a step's recorded collateral transfers on the model.
func (s *sim) applyStepTransfers(a *simAgreement, transfers []Transfer) {
	a.stepped = true
	for _, tr := range transfers {
		q, _ := parseStoredQuantity(tr.Quantity)
		var err error
		switch {
		case tr.Leg == "loan":
			s.free[tr.From][tr.Token] -= q
			s.free[tr.To][tr.Token] += q
		case tr.From == a.borrower:
			err = s.deliver(a, tr.Token, q)
		default:
			err = s.giveBack(a, tr.Token, q)
		}
		if err != nil {
			s.fatalf("step of %s: the chaincode moved %+v, the model cannot: %v", a.id, tr, err)
		}
	}
}

// opReturn has the borrower return part or all of a loan: the released collateral is what the
// history says, and a covered agreement stays covered.
func (s *sim) opReturn() {
	a, date := s.stepDay()
	if a == nil {
		return
	}
	q := a.loanQty
	if s.pick(4) != 0 && a.loanQty > 1 {
		q = 1 + int64(s.pick(int(a.loanQty-1)))
	}
	want := ""
	if have := s.free[a.borrower][a.loanToken]; have < q {
		want = insufficient(a.borrower, a.loanToken, q, have).Error()
	}
	covered := s.heldGap(a, a.held, date).Sign() >= 0
	res := s.call(s.byName[a.borrower], "agreements:Return", a.id, formatQuantity(q), date)
	if !s.expect(res, "return", want) {
		return
	}
	if q == a.loanQty {
		s.applyClose(a)
		return
	}
	var got Agreement
	s.decode(s.call(s.byName[a.lender], "agreements:GetAgreement", a.id), &got)
	last := got.History[len(got.History)-1]
	s.applyStepTransfers(a, last.Transfers)
	a.loanQty -= q
	if got.Terms.Loan.Quantity != formatQuantity(a.loanQty) {
		s.fatalf("return %s: loan %s, the model says %d", a.id, got.Terms.Loan.Quantity, a.loanQty)
	}
	if covered && s.heldGap(a, a.held, date).Sign() < 0 {
		s.fatalf("return %s on %s left a covered agreement short: %+v", a.id, date, last)
	}
}

// opSubstitute swaps some of one held collateral token for another of the agreement's tokens:
// refused exactly when the collateral would end worth less than the loan, else settled on approval.
func (s *sim) opSubstitute() {
	a, date := s.stepDay()
	if a == nil || len(a.coll) < 2 {
		return
	}
	out, in := a.coll[s.pick(len(a.coll))], a.coll[s.pick(len(a.coll))]
	if out == in || a.held[out] <= 0 || s.free[a.borrower][in] <= 0 {
		return
	}
	qOut := 1 + int64(s.pick(int(min(a.held[out], 1<<20))))
	qIn := 1 + int64(s.pick(int(min(s.free[a.borrower][in], 1<<20))))
	after := map[string]int64{}
	for k, v := range a.held {
		after[k] = v
	}
	after[out] -= qOut
	after[in] += qIn
	want := ""
	if s.heldGap(a, after, date).Sign() < 0 {
		want = "the substitution would leave the agreement short"
	}
	res := s.call(s.byName[a.borrower], "agreements:Substitute", a.id, substitutionJSON(out, formatQuantity(qOut), in, formatQuantity(qIn)), date)
	if !s.expect(res, "substitute", want) {
		return
	}
	s.expect(s.call(s.byName[a.lender], "agreements:ApproveSubstitution", a.id), "substitute-approve", "")
	var got Agreement
	s.decode(s.call(s.byName[a.lender], "agreements:GetAgreement", a.id), &got)
	s.applyStepTransfers(a, got.History[len(got.History)-1].Transfers)
	if !reflect.DeepEqual(a.held, after) {
		s.fatalf("substitute %s: held %v, the model says %v", a.id, a.held, after)
	}
}

// ---- prices ----------------------------------------------------------------------------------

func fmtScaled(v, scale int64) string {
	digits := map[int64]int{100: 2, 10000: 4}[scale]
	return fmt.Sprintf("%d.%0*d", v/scale, digits, v%scale)
}

func (s *sim) priceKeys() []string {
	keys := []string{}
	for _, t := range simTokens {
		if t.kind == KindSecurity {
			keys = append(keys, t.id)
		}
	}
	return keys
}

func scaleOf(key string) int64 {
	for _, fx := range simFX {
		if key == fx {
			return 10000
		}
	}
	return 100
}

func (s *sim) postBatch(date string, values map[string]string) string {
	batch := map[string]any{"prices": map[string]string{}, "fx": map[string]string{}}
	for k, v := range values {
		if scaleOf(k) == 10000 {
			batch["fx"].(map[string]string)[k] = v
		} else {
			batch["prices"].(map[string]string)[k] = v
		}
	}
	return mustJSON(batch)
}

func (s *sim) recordPrices(date string, values map[string]string) {
	if s.prices[date] == nil {
		s.prices[date] = map[string]*big.Rat{}
		s.dates = append(s.dates, date)
		sort.Strings(s.dates)
	}
	for k, v := range values {
		s.prices[date][k], _, _ = parseDecimal(k, v)
	}
	s.version[date]++
}

// opPostPrices posts the next date's closes after a random move (sometimes leaving one out).
func (s *sim) opPostPrices() {
	if len(s.dates) == len(simDates) {
		return
	}
	date := simDates[len(s.dates)]
	values := map[string]string{}
	moves := []int64{60, 85, 95, 99, 100, 100, 101, 105, 115, 150}
	skip := ""
	if s.pick(6) == 0 {
		skip = s.priceKeys()[s.pick(len(s.priceKeys()))]
	}
	for _, k := range append(s.priceKeys(), simFX...) {
		if scaleOf(k) == 100 {
			s.walk[k] = max(1, s.walk[k]*moves[s.pick(len(moves))]/100)
		} else {
			s.walk[k] = max(1, s.walk[k]*(95+int64(s.pick(11)))/100)
		}
		if k != skip {
			values[k] = fmtScaled(s.walk[k], scaleOf(k))
		}
	}
	res := s.call(s.w.oracle, "oracle:PostPrices", date, s.postBatch(date, values))
	if s.expect(res, "post", "") {
		s.recordPrices(date, values)
	}
}

// opAddMissing posts the latest date's full set again: only missing instruments are added.
func (s *sim) opAddMissing() {
	if len(s.dates) == 0 {
		return
	}
	date := s.dates[len(s.dates)-1]
	values := map[string]string{}
	missing := false
	for _, k := range append(s.priceKeys(), simFX...) {
		if v, ok := s.prices[date][k]; ok {
			values[k] = v.FloatString(map[int64]int{100: 2, 10000: 4}[scaleOf(k)])
		} else {
			values[k] = fmtScaled(s.walk[k], scaleOf(k))
			missing = true
		}
	}
	// a changed value for an instrument already posted is refused without CorrectPrices
	if !missing && s.pick(2) == 0 {
		k := s.priceKeys()[s.pick(len(s.priceKeys()))]
		values[k] = values[k] + "1"
		res := s.call(s.w.oracle, "oracle:PostPrices", date, s.postBatch(date, values))
		s.expect(res, "post-changed", "use CorrectPrices with a reason")
		return
	}
	res := s.call(s.w.oracle, "oracle:PostPrices", date, s.postBatch(date, values))
	if !s.expect(res, "add", "") {
		return
	}
	var pr PostResult
	s.decode(res, &pr)
	if pr.Changed != missing || (!missing && len(res.stub.writes) != 0) {
		s.fatalf("posting %s again: changed=%v, missing=%v, %d writes", date, pr.Changed, missing, len(res.stub.writes))
	}
	if missing {
		s.recordPrices(date, values)
	}
}

// opCorrect corrects one close of a posted date (later calls on that date use the correction).
func (s *sim) opCorrect() {
	if len(s.dates) == 0 {
		return
	}
	date := s.dates[len(s.dates)-1-s.pick(min(3, len(s.dates)))]
	keys := []string{}
	for _, k := range append(s.priceKeys(), simFX...) {
		if _, ok := s.prices[date][k]; ok {
			keys = append(keys, k)
		}
	}
	k := keys[s.pick(len(keys))]
	scale := scaleOf(k)
	old := new(big.Rat).Mul(s.prices[date][k], big.NewRat(scale, 1))
	v := max(1, ratQuantity(old)*int64(80+s.pick(41))/100)
	values := map[string]string{k: fmtScaled(v, scale)}
	res := s.call(s.w.oracle, "oracle:CorrectPrices", date, s.postBatch(date, values), "vendor restatement")
	if !s.expect(res, "correct", "") {
		return
	}
	var pr PostResult
	s.decode(res, &pr)
	if pr.Changed {
		s.recordPrices(date, values)
	}
}

// ---- margin calls ----------------------------------------------------------------------------

// collateral movements of the model, as ledger.go defines them
func (s *sim) deliver(a *simAgreement, tok string, q int64) error {
	h := a.held[tok]
	if have := s.free[a.borrower][tok]; have < q {
		return insufficient(a.borrower, tok, q, have)
	}
	s.free[a.borrower][tok] -= q
	if h < 0 {
		s.free[a.lender][tok] += min(-h, q)
	}
	a.held[tok] = h + q
	return nil
}

func (s *sim) giveBack(a *simAgreement, tok string, q int64) error {
	h := a.held[tok]
	if extra := q - min(max(h, 0), q); extra > 0 {
		if have := s.free[a.lender][tok]; have < extra {
			return insufficient(a.lender, tok, extra, have)
		}
		s.free[a.lender][tok] -= extra
	}
	s.free[a.borrower][tok] += q
	a.held[tok] = h - q
	return nil
}

func (s *sim) applyTransfer(a *simAgreement, tr MarginTransfer) error {
	q, err := parseStoredQuantity(tr.Quantity)
	if err != nil || q <= 0 {
		return fmt.Errorf("bad quantity %q", tr.Quantity)
	}
	if tr.Direction == "borrower->lender" {
		return s.deliver(a, tr.Token, q)
	}
	return s.giveBack(a, tr.Token, q)
}

// settleDues settles a's pending transfers due on or before date, in (due, call) order; one the
// delivering party cannot settle stays pending (a fail, retried next cycle).
func (s *sim) settleDues(a *simAgreement, date string) (settled []MarginTransfer, failed int) {
	sort.SliceStable(a.pending, func(i, j int) bool {
		if a.pending[i].due != a.pending[j].due {
			return a.pending[i].due < a.pending[j].due
		}
		return a.pending[i].call < a.pending[j].call
	})
	settled = []MarginTransfer{}
	still := []simPending{}
	for _, p := range a.pending {
		if p.due > date {
			still = append(still, p)
			continue
		}
		if err := s.applyTransfer(a, p.tr); err != nil {
			still = append(still, p)
			failed++
			continue
		}
		settled = append(settled, p.tr)
	}
	a.pending = still
	return settled, failed
}

// notMarginable mirrors margincalls.go's marginable: "" when a call may run on date.
func (a *simAgreement) notMarginable(date string) string {
	switch {
	case a.status != StatusActive && a.status != StatusMatured:
		return "is " + a.status + ", not ACTIVE"
	case date <= a.start:
		return "is not after the start date"
	case a.status == StatusActive && a.end != "" && date > a.end:
		return "is after the end date"
	case a.lastCall != "" && date <= a.lastCall:
		return "already had a margin call on " + a.lastCall
	}
	return ""
}

func (s *sim) missingPrice(a *simAgreement, date string) string {
	for _, tok := range append([]string{a.loanToken}, a.coll...) {
		if s.tokens[tok].kind == KindSecurity && s.prices[date][tok] == nil {
			return "missing_price: no price for " + tok + " on " + date
		}
	}
	return ""
}

// value is Σ (held + pending) × unit × (1 − haircut) over a's collateral on date.
func (s *sim) value(a *simAgreement, date string) *big.Rat {
	vc := new(big.Rat)
	for _, c := range a.coll {
		q := a.held[c]
		for _, p := range a.pending {
			if p.tr.Token == c {
				n, _ := parseStoredQuantity(p.tr.Quantity)
				if p.tr.Direction == "borrower->lender" {
					q += n
				} else {
					q -= n
				}
			}
		}
		hu := new(big.Rat).Mul(s.unitValue(c, a.base, date), new(big.Rat).Sub(big.NewRat(1, 1), a.haircut[c]))
		vc.Add(vc, hu.Mul(hu, big.NewRat(q, 1)))
	}
	return vc
}

// applyCall follows one recorded margin call on the model and checks it against the model.
func (s *sim) applyCall(a *simAgreement, rec MarginCallRecord) {
	date := rec.Date
	a.stepped = false
	settled, failed := s.settleDues(a, date)
	if len(rec.Fails) != failed {
		s.fatalf("call %s %s: %d settlements failed, the model says %d (record %+v)", a.id, date, len(rec.Fails), failed, rec)
	}
	if failed > 0 {
		s.stats["margin/settlement-fail"]++
	}
	vl := new(big.Rat).Mul(big.NewRat(a.loanQty, 1), s.unitValue(a.loanToken, a.base, date))
	vcBefore := s.value(a, date)
	check := func(what, got string, want *big.Rat) {
		if got != want.RatString() {
			s.fatalf("call %s %s: %s is %s, the model says %s (record %+v)", a.id, date, what, got, want.RatString(), rec)
		}
	}
	check("vl", rec.VL, vl)
	check("vcBefore", rec.VCBefore, vcBefore)
	check("gapBefore", rec.GapBefore, new(big.Rat).Sub(vcBefore, vl))
	if rec.PriceVersion != s.version[date] {
		s.fatalf("call %s %s used price version %d, latest is %d", a.id, date, rec.PriceVersion, s.version[date])
	}
	for tok, p := range rec.Prices {
		if p != s.prices[date][tok].RatString() {
			s.fatalf("call %s %s used price %s for %s, posted %s", a.id, date, p, tok, s.prices[date][tok].RatString())
		}
	}
	gapBefore := new(big.Rat).Sub(vcBefore, vl)
	for _, m := range rec.Mints {
		q, _ := parseStoredQuantity(m.Quantity)
		if !a.autoIssue || q <= 0 || m.Token != a.coll[0] || (m.Party != a.lender && m.Party != a.borrower) {
			s.fatalf("call %s %s: unexpected mint %+v (autoIssue %v)", a.id, date, m, a.autoIssue)
		}
		s.free[m.Party][m.Token] += q
		s.supply[m.Token] += q
		if m.Supply != formatQuantity(s.supply[m.Token]) {
			s.fatalf("call %s %s: mint says supply %s, the model %d", a.id, date, m.Supply, s.supply[m.Token])
		}
		s.stats["margin/mint"]++
	}
	for _, tr := range rec.Transfers {
		wantDir := "borrower->lender"
		if gapBefore.Sign() > 0 {
			wantDir = "lender->borrower"
		}
		if tr.Direction != wantDir || tr.TradeDate != date {
			s.fatalf("call %s %s: transfer %+v against a gap of %s", a.id, date, tr, gapBefore.RatString())
		}
		if a.mode == ModeSingle && tr.Token != a.coll[0] {
			s.fatalf("call %s %s: single mode moved %s, not CT1 %s", a.id, date, tr.Token, a.coll[0])
		}
	}
	if a.lag == 0 {
		for _, tr := range rec.Transfers {
			if err := s.applyTransfer(a, tr); err != nil {
				s.fatalf("call %s %s: the chaincode settled %+v, the model cannot: %v", a.id, date, tr, err)
			}
			settled = append(settled, tr)
		}
	} else if len(rec.Transfers) > 0 {
		due, _ := parseDate("date", date)
		for _, tr := range rec.Transfers {
			a.pending = append(a.pending, simPending{due: due.AddDate(0, 0, a.lag).Format(isoDate), call: date, tr: tr})
			if tr.SettleDate != due.AddDate(0, 0, a.lag).Format(isoDate) {
				s.fatalf("call %s %s: settle date %s with a lag of %d", a.id, date, tr.SettleDate, a.lag)
			}
		}
		s.stats["margin/lagged"]++
	}
	if !sameTransfers(settled, rec.Settled) {
		s.fatalf("call %s %s: settled\n got: %+v\nwant: %+v", a.id, date, rec.Settled, settled)
	}
	pending := []MarginTransfer{}
	for _, p := range a.pending {
		pending = append(pending, p.tr)
	}
	if !sameTransfers(pending, rec.Pending) {
		s.fatalf("call %s %s: pending\n got: %+v\nwant: %+v", a.id, date, rec.Pending, pending)
	}
	for _, c := range a.coll {
		if rec.Held[c] != formatQuantity(a.held[c]) {
			s.fatalf("call %s %s: record holds %s %s, the model %d", a.id, date, rec.Held[c], c, a.held[c])
		}
	}
	vcAfter := s.value(a, date)
	gapAfter := new(big.Rat).Sub(vcAfter, vl)
	check("vcAfter", rec.VCAfter, vcAfter)
	check("gapAfter", rec.GapAfter, gapAfter)

	// the margin rules themselves
	daily := a.threshold.Sign() == 0 && a.mta.Sign() == 0
	if daily && !rec.Triggered {
		s.fatalf("call %s %s: β = 0 and no minimum transfer, but not triggered", a.id, date)
	}
	if !rec.Triggered {
		if len(rec.Transfers)+len(rec.Mints)+len(rec.IssuanceRequired) != 0 {
			s.fatalf("call %s %s: not triggered but moved %+v", a.id, date, rec)
		}
		size := new(big.Rat).Abs(gapBefore)
		if size.Cmp(new(big.Rat).Mul(a.threshold, vl)) > 0 && size.Cmp(a.mta) >= 0 {
			s.fatalf("call %s %s: |g| = %s over the threshold and the minimum transfer, not triggered", a.id, date, size.RatString())
		}
		s.stats["margin/quiet"]++
		return
	}
	borrowerShort := false
	for _, ir := range rec.IssuanceRequired {
		if ir.Role == "borrower" {
			borrowerShort = true
		}
	}
	if len(rec.IssuanceRequired) > 0 {
		s.stats["margin/issuance"]++
	}
	if (len(rec.IssuanceRequired) == 0 || a.autoIssue || !borrowerShort) && gapAfter.Sign() < 0 {
		s.fatalf("call %s %s: after the call g = %s < 0 (issuance required %+v, autoIssue %v)",
			a.id, date, gapAfter.RatString(), rec.IssuanceRequired, a.autoIssue)
	}
	if gapBefore.Sign() < 0 && len(rec.IssuanceRequired) == 0 && len(rec.Transfers) > 0 {
		// quantities round up, by less than one unit of the last token delivered
		last := rec.Transfers[len(rec.Transfers)-1].Token
		hu := new(big.Rat).Mul(s.unitValue(last, a.base, date), new(big.Rat).Sub(big.NewRat(1, 1), a.haircut[last]))
		if gapAfter.Cmp(hu) >= 0 {
			s.fatalf("call %s %s: delivered a whole unit of %s too many (g after %s, unit %s)", a.id, date, last, gapAfter.RatString(), hu.RatString())
		}
	}
}

func (s *sim) postedDate() string {
	if len(s.dates) == 0 {
		return simDates[0]
	}
	if s.pick(3) == 0 {
		return s.dates[s.pick(len(s.dates))]
	}
	return s.dates[len(s.dates)-1]
}

func (s *sim) opMarginCall() {
	a := s.agreementIn(StatusActive, StatusActive, StatusActive, StatusActive, StatusActive, StatusActive, StatusClosed, StatusProposed)
	if a == nil {
		return
	}
	date := s.postedDate()
	if s.pick(10) == 0 && len(s.dates) < len(simDates) {
		date = simDates[len(s.dates)] // not posted yet
	}
	callers := []*testID{s.w.oracle, s.byName[a.lender], s.byName[a.borrower], s.w.bankC}
	caller := callers[s.pick(len(callers))]
	pair := ""
	if caller == s.w.oracle && s.pick(8) != 0 {
		pair = a.pair() // the operator names the pair (or is refused)
	}
	want := ""
	rec, replay := a.calls[date]
	switch {
	case caller == s.w.oracle && pair == "":
		want = "MarginCall: name the pair of banks in the transient field tanpo.pair"
	case caller == s.w.bankC && a.lender != "bank-c" && a.borrower != "bank-c":
		want = "access denied: agreement " + a.id + " does not exist or bank-c is not a party to it"
	case replay:
	case s.prices[date] == nil:
		want = "no prices posted for " + date
	case a.notMarginable(date) != "":
		want = a.notMarginable(date)
	case s.missingPrice(a, date) != "":
		want = s.missingPrice(a, date)
	}
	var res result
	s.w.inPair(pair, func() { res = s.call(caller, "margin:MarginCall", a.id, date) })
	if !s.expect(res, "margin", want) {
		return
	}
	// the receipt names the call; its parties read the record
	var receipt CallReceipt
	s.decode(res, &receipt)
	var got MarginCallRecord
	s.decode(s.call(s.byName[a.borrower], "margin:GetMarginCall", a.id, date), &got)
	if receipt.Agreement != a.id || receipt.Date != date || receipt.TxID != got.TxID {
		s.fatalf("call %s %s: receipt %+v, record %+v", a.id, date, receipt, got)
	}
	if replay {
		if receipt.Status != SweepReplayed || got.TxID != rec.TxID || len(res.stub.writes) != 0 {
			s.fatalf("call %s %s again: %s, tx %s (first %s), %d writes", a.id, date, receipt.Status, got.TxID, rec.TxID, len(res.stub.writes))
		}
		if !reflect.DeepEqual(got, rec) {
			s.fatalf("call %s %s again returned a different record", a.id, date)
		}
		s.stats["margin/replay"]++
		return
	}
	if receipt.Status != SweepCalled || got.TxID != res.stub.txID || got.Replayed || got.Agreement != a.id || got.Date != date {
		s.fatalf("call %s %s: receipt %+v, record %+v", a.id, date, receipt, got)
	}
	s.applyCall(a, got)
	a.calls[date], a.lastCall = got, date
}

// skipCode mirrors batch.go's skipCode for an agreement the date does not apply to.
func (a *simAgreement) skipCode(date string) string {
	switch {
	case a.status != StatusActive && a.status != StatusMatured:
		return "not_active"
	case date <= a.start:
		return "not_started"
	case a.status == StatusActive && a.end != "" && date > a.end:
		return "ended"
	}
	return "later_call"
}

// opSweep margins a few active agreements with SweepAgreements, in id order: the oracle those of
// one pair, which it names (maybe also an unknown id), a bank its own in any pair. Then it maybe
// finishes the sweep of the date for a pair, or for the platform.
func (s *sim) opSweep() {
	if len(s.dates) == 0 {
		return
	}
	date := s.postedDate()
	caller := s.w.oracle
	pair := simPairs[s.pick(len(simPairs))]
	if s.pick(3) == 0 {
		caller, pair = s.bank(), ""
	}
	ids := []string{}
	for _, id := range s.agIDs {
		a := s.ags[id]
		if a.status != StatusActive || (pair != "" && a.pair() != pair) || (caller != s.w.oracle && a.lender != s.name[caller] && a.borrower != s.name[caller]) {
			continue
		}
		if s.pick(3) != 0 {
			ids = append(ids, id)
		}
	}
	if s.pick(5) == 0 {
		ids = append(ids, "AGR-999")
		if caller != s.w.oracle {
			// a bank naming an unknown id is refused like one naming another's agreement
			res := s.call(caller, "margin:SweepAgreements", date, idList(ids...))
			s.expect(res, "sweep", "access denied: agreement AGR-999 does not exist or "+s.name[caller]+" is not a party to it")
			return
		}
	}
	if len(ids) > 0 {
		var res result
		s.w.inPair(pair, func() { res = s.call(caller, "margin:SweepAgreements", date, idList(ids...)) })
		if !s.expect(res, "sweep", "") {
			return
		}
		var out SweepAgreementsResult
		s.decode(res, &out)
		if len(out.Outcomes) != len(ids) || out.Count != len(ids) || out.Called+out.Replayed+out.Skipped+out.Failed+out.Closed != len(ids) {
			s.fatalf("sweep %s: %+v for %d agreements", date, out, len(ids))
		}
		for i, o := range out.Outcomes {
			id := ids[i]
			a := s.ags[id]
			want, reason, message := SweepCalled, "", ""
			// the cycle closes an agreement at maturity, or marks it MATURED and margins it
			matures := a != nil && a.calls[date].TxID == "" && (a.status == StatusActive || a.status == StatusMatured) && a.end != "" && date > a.end
			statusBefore := ""
			if matures && s.closingRefusal(a) != "" {
				statusBefore, a.status, reason = a.status, StatusMatured, "close_failed"
			}
			switch {
			case a == nil:
				want, reason = SweepFailed, "unknown_agreement"
			case a.calls[date].TxID != "":
				want = SweepReplayed
			case matures && statusBefore == "":
				want, reason = SweepClosed, "maturity"
			case a.notMarginable(date) != "":
				want, reason = SweepSkipped, a.skipCode(date)
			case s.missingPrice(a, date) != "":
				want, reason, message = SweepFailed, "missing_price", s.missingPrice(a, date)
			}
			if statusBefore != "" && want != SweepCalled {
				a.status = statusBefore // the agreement's step was undone
			}
			if o.Agreement != id || o.Status != want || o.Reason != reason {
				s.fatalf("sweep %s: outcome %d is %s %s (%s), the model says %s %s (%s)", date, i, o.Agreement, o.Status, o.Reason, id, want, reason)
			}
			if message != "" {
				// the failure's message stays private: its parties read it
				var f SweepFailure
				s.decode(s.call(s.byName[a.lender], "margin:GetSweepFailure", id, date), &f)
				if !strings.Contains(f.Reason, message) || f.TxID != res.stub.txID {
					s.fatalf("sweep %s: failure of %s is %+v, the model says %q", date, id, f, message)
				}
			}
			if o.Status == SweepClosed {
				s.applyClose(a)
				s.stats["sweep/closed-at-maturity"]++
			}
			if o.Status == SweepCalled && statusBefore != "" {
				s.stats["sweep/matured"]++
			}
			if o.Status == SweepCalled {
				var rec MarginCallRecord
				s.decode(s.call(s.byName[a.lender], "margin:GetMarginCall", id, date), &rec)
				if rec.TxID != res.stub.txID || rec.Agreement != id || rec.Date != date {
					s.fatalf("sweep %s: outcome %+v, record %+v", date, o, rec)
				}
				s.applyCall(a, rec)
				a.calls[date], a.lastCall = rec, date
				s.stats["sweep/call"]++
			}
		}
	}
	if s.pick(2) != 0 {
		return
	}
	if s.pick(2) == 0 {
		s.finishPair(date)
		return
	}
	behind := []string{}
	for _, p := range simPairs {
		if m := s.markers[p]; m.Active && m.Date < date {
			behind = append(behind, p)
		}
	}
	want := ""
	if len(behind) > 0 {
		want = fmt.Sprintf("cannot finish the sweep of %s: %d pairs with active agreements have not finished it (%s)", date, len(behind), shortList(behind))
	}
	res := s.call(s.w.oracle, "margin:FinishSweep", date)
	if !s.expect(res, "finish", want) {
		return
	}
	var out SweepFinished
	s.decode(res, &out)
	if date > s.swept {
		s.swept = date
	}
	if out.LastSweptDate != s.swept {
		s.fatalf("finish %s: last swept date %q, the model says %q", date, out.LastSweptDate, s.swept)
	}
}

// finishPair finishes the sweep of a date for one pair (as the oracle or one of its banks).
func (s *sim) finishPair(date string) {
	pair := simPairs[s.pick(len(simPairs))]
	a, b, _ := collectionParties(pair)
	caller := []*testID{s.w.oracle, s.byName[a], s.byName[b]}[s.pick(3)]
	missing, active := 0, false
	for _, id := range s.agIDs {
		ag := s.ags[id]
		if ag.pair() != pair || (ag.status != StatusActive && ag.status != StatusMatured) {
			continue
		}
		active = true
		due := ag.status == StatusActive && ag.end != "" && date > ag.end // the cycle's to close
		if ag.calls[date].TxID == "" && ag.lastCall < date && (ag.notMarginable(date) == "" || due) {
			missing++
		}
	}
	want := ""
	if missing > 0 {
		want = fmt.Sprintf("cannot finish the sweep of %s: %d active agreements have no margin call for it yet", date, missing)
	}
	var res result
	s.w.inPair(pair, func() { res = s.call(caller, "margin:FinishSweep", date) })
	if !s.expect(res, "finish-pair", want) {
		return
	}
	var out SweepFinished
	s.decode(res, &out)
	m := s.markers[pair]
	s.markers[pair] = PairSweep{Collection: pair, Active: active, Date: max(m.Date, date)}
	if out.LastSweptDate != s.swept {
		s.fatalf("finish %s of %s: last swept date %q, the model says %q", date, pair, out.LastSweptDate, s.swept)
	}
}

// opReadBack reads the ledger through the query functions and compares with the model.
func (s *sim) opReadBack() {
	b := s.bank()
	p := s.name[b]
	var sheet BalanceSheet
	s.decode(s.call(b, "tokens:BalanceOf", ""), &sheet)
	got := map[string]int64{}
	for _, bal := range sheet.Balances {
		q, _ := parseStoredQuantity(bal.Quantity)
		got[bal.Token] = q
	}
	for tok, q := range s.free[p] {
		if got[tok] != q {
			s.fatalf("BalanceOf %s: %s %d, the model %d", p, tok, got[tok], q)
		}
	}
	tok := s.anyToken()
	var sup Supply
	s.decode(s.call(s.w.oracle, "tokens:TotalSupply", tok), &sup)
	if sup.Supply != formatQuantity(s.supply[tok]) {
		s.fatalf("TotalSupply %s = %s, the model %d", tok, sup.Supply, s.supply[tok])
	}
	if a := s.agreementIn(StatusActive); a != nil {
		var rep CollateralReport
		s.decode(s.call(s.byName[a.lender], "agreements:CollateralHeld", a.id), &rep)
		for i, pos := range rep.Positions {
			if pos.Token != a.coll[i] || pos.Priority != i+1 || pos.Held != formatQuantity(a.held[a.coll[i]]) {
				s.fatalf("CollateralHeld %s: %+v, the model holds %d %s", a.id, pos, a.held[a.coll[i]], a.coll[i])
			}
		}
		if len(rep.Pending) != len(a.pending) {
			s.fatalf("CollateralHeld %s: %d pending, the model %d", a.id, len(rep.Pending), len(a.pending))
		}
		s.stats["readback/ok"]++
	}
}

// ---- the invariants, on the committed state --------------------------------------------------

func (s *sim) checkAll() {
	s.t.Helper()
	s.w.checkConservation()
	supply := map[string]int64{}
	free := map[string]map[string]int64{}
	held := map[string]map[string]int64{}
	pending := map[string]int{}
	calls := map[string]int{}
	index := map[string]bool{}
	for k, v := range s.w.ledger.state {
		obj, attrs := splitKeyForTest(k)
		coll, pk, private := splitPrivateKey(k)
		if private {
			obj, attrs = splitKeyForTest(pk)
		}
		switch obj {
		case keyAgreement, keyAgreementByParty, keyAgreementStatus, keyCustody, keyCustodyOpen, keyCallBook, keySweepFailure:
			if !private {
				s.fatalf("bilateral record %q in the public state", k)
			}
		}
		switch obj {
		case keySupply:
			var sp Supply
			_ = json.Unmarshal(v, &sp)
			q, _ := parseStoredQuantity(sp.Supply)
			supply[attrs[0]] += q
		case keyPairMint: // auto-issued in the pair's margin calls
			var pm PairMint
			_ = json.Unmarshal(v, &pm)
			q, _ := parseStoredQuantity(pm.Minted)
			supply[attrs[0]] += q
			if len(s.w.ledger.sbe[k]) == 0 || pm.Collection != attrs[1] {
				s.fatalf("mint account %q: %s without the pair's policy", k, v)
			}
		case keyPairSweep:
			var m PairSweep
			_ = json.Unmarshal(v, &m)
			if m != s.markers[attrs[0]] || len(s.w.ledger.sbe[k]) == 0 {
				s.fatalf("sweep marker %s is %+v, the model %+v (or it has no policy)", attrs[0], m, s.markers[attrs[0]])
			}
		case keyBalance:
			if len(s.w.ledger.sbe[k]) == 0 {
				s.fatalf("balance %q has no state-based policy", k)
			}
			var b Balance
			_ = json.Unmarshal(v, &b)
			if free[attrs[0]] == nil {
				free[attrs[0]] = map[string]int64{}
			}
			free[attrs[0]][attrs[1]], _ = parseStoredQuantity(b.Quantity)
		case keyCustody:
			var b CustodyBook
			_ = json.Unmarshal(v, &b)
			if b.ID != attrs[0] || len(b.Agreements) == 0 || len(b.Agreements) > bookSize || coll != pairCollection(b.Lender, b.Borrower) {
				s.fatalf("custody book %s: wrong id, size or collection %q: %s", attrs[0], coll, v)
			}
			for id, c := range b.Agreements {
				for _, p := range c.Pending {
					pending[id] += len(p.Transfers)
				}
				held[id] = map[string]int64{}
				for tok, q := range c.Held {
					held[id][tok], _ = parseStoredQuantity(q)
				}
				if a := s.ags[id]; a == nil || b.Lender != a.lender || b.Borrower != a.borrower {
					s.fatalf("custody book %s holds %s under the wrong parties: %s", attrs[0], id, v)
				}
				if a := s.ags[id]; a.lastCall != c.LastCall {
					s.fatalf("custody book %s: %s last called on %q, the model %q", attrs[0], id, c.LastCall, a.lastCall)
				}
			}
		case keyCallBook: // a custody book's calls of one date
			var cb CallBook
			_ = json.Unmarshal(v, &cb)
			if len(cb.Calls) == 0 {
				s.fatalf("empty call book %q", k)
			}
			for id := range cb.Calls {
				calls[id]++
			}
		case keyAgreementByParty, keyAgreementStatus, keyRequestByParty, keyRequestByStatus:
			index[obj+"|"+strings.Join(attrs, "|")] = true
		case keyAgreement:
			var a Agreement
			_ = json.Unmarshal(v, &a)
			m := s.ags[a.ID]
			if m == nil || m.status != a.Status {
				s.fatalf("agreement %s is %s on the ledger, the model has %+v", a.ID, a.Status, m)
			}
			if coll != m.pair() {
				s.fatalf("agreement %s is in collection %q, not its pair's", a.ID, coll)
			}
			if (a.Termination == nil) != (m.termBy == "") {
				s.fatalf("agreement %s: termination %+v, the model %q", a.ID, a.Termination, m.termBy)
			}
		}
	}
	for _, tok := range simTokens {
		if supply[tok.id] != s.supply[tok.id] {
			s.fatalf("supply + pair mints of %s is %d, the model %d (issuance, redemption and mints only)", tok.id, supply[tok.id], s.supply[tok.id])
		}
	}
	for p, m := range s.free {
		for tok, q := range m {
			if free[p][tok] != q {
				s.fatalf("free balance of %s in %s is %d, the model %d", p, tok, free[p][tok], q)
			}
		}
	}
	for p, m := range free {
		for tok, q := range m {
			if s.free[p] == nil || s.free[p][tok] != q {
				s.fatalf("free balance of %s in %s is %d, the model has none", p, tok, q)
			}
		}
	}
	wantIndex := map[string]bool{}
	for _, id := range s.agIDs {
		a := s.ags[id]
		for _, p := range []string{a.lender, a.borrower} {
			wantIndex[keyAgreementByParty+"|"+p+"|"+a.status+"|"+id] = true
		}
		wantIndex[keyAgreementStatus+"|"+a.status+"|"+id] = true
		for _, c := range a.coll {
			if held[id][c] != a.held[c] {
				s.fatalf("%s (%s) holds %d %s on the ledger, the model %d", id, a.status, held[id][c], c, a.held[c])
			}
			if a.status != StatusActive && a.held[c] != 0 {
				s.fatalf("%s is %s but holds %d %s", id, a.status, a.held[c], c)
			}
			if a.held[c] < 0 && !a.autoIssue {
				s.fatalf("%s holds %d %s without auto-issue", id, a.held[c], c)
			}
		}
		if pending[id] != len(a.pending) || (a.status != StatusActive && pending[id] != 0) {
			s.fatalf("%s (%s): %d pending transfers on the ledger, the model %d", id, a.status, pending[id], len(a.pending))
		}
		if calls[id] != len(a.calls) {
			s.fatalf("%s: %d margin call records on the ledger, the model %d", id, calls[id], len(a.calls))
		}
		if last, ok := a.calls[a.lastCall]; ok {
			for _, c := range a.coll {
				if a.status == StatusActive && a.lag == 0 && !a.stepped && last.Held[c] != formatQuantity(a.held[c]) {
					s.fatalf("%s: the last call (%s) recorded %s %s held, the lender holds %d", id, a.lastCall, last.Held[c], c, a.held[c])
				}
			}
		}
	}
	for _, r := range s.reqs {
		wantIndex[keyRequestByParty+"|"+r.party+"|"+RequestPending+"|"+r.id] = true
		wantIndex[keyRequestByStatus+"|"+RequestPending+"|"+r.id] = true
	}
	for k := range index {
		if strings.Contains(k, "|"+RequestPending+"|") || strings.HasPrefix(k, "tanpo.agreement") {
			if !wantIndex[k] {
				s.fatalf("stale index entry %q", k)
			}
		}
	}
	for k := range wantIndex {
		if !index[k] {
			s.fatalf("missing index entry %q", k)
		}
	}
}
