package margin

import (
	"encoding/json"
	"fmt"
)

// The JSON case format of vectors/lifecycle.json (see vectors/README.md): a margin-vector setup
// (tokens, terms, positions), one market and one action. RunLifecycleCase mirrors the Python
// tanpo.margin.lifecycle_vectors.run_lifecycle_case exactly, including the order in which
// problems are found:
//  1. shape: JSON types, unknown keys, integer literals, exactly one action (invalid_input);
//     null means absent;
//  2. every integer must fit int64 (overflow);
//  3. tokens and terms; starting positions (no null quantity); the action's quantities (no null);
//  4. the market; then the step itself (positions against the agreement, prices, its checks).

type wireLifecycleCase struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Tokens      []Token         `json:"tokens"`
	Terms       wireTerms       `json:"terms"`
	Positions   wirePositions   `json:"positions"`
	Market      wireMarket      `json:"market"`
	Action      wireAction      `json:"action"`
	Expect      json.RawMessage `json:"expect"`
	ExpectError json.RawMessage `json:"expectError"`
}

type wireMarket struct {
	Date   string            `json:"date"`
	Prices map[string]string `json:"prices"`
	FX     map[string]string `json:"fx"`
}

type wireAction struct {
	Return     *wireQuantity   `json:"return"`
	Substitute *wireSubstitute `json:"substitute"`
	BuyIn      *wireQuantity   `json:"buyIn"`
}

type wireQuantity struct {
	Quantity json.RawMessage `json:"quantity"`
}

type wireSubstitute struct {
	Out []wireMove `json:"out"`
	In  []wireMove `json:"in"`
}

type wireMove struct {
	Token    string          `json:"token"`
	Quantity json.RawMessage `json:"quantity"`
}

// LifecycleOutput is RunLifecycleCase's answer: Error, or the step's Result.
type LifecycleOutput struct {
	Name   string      `json:"name"`
	Error  *Error      `json:"error,omitempty"`
	Result *StepResult `json:"result,omitempty"`
}

var (
	lifecycleCaseKeys = keySet("name", "description", "tokens", "terms", "positions", "market", "action", "expect", "expectError")
	marketKeys        = keySet("date", "prices", "fx")
	actionKeys        = keySet("return", "substitute", "buyIn")
	quantityKeys      = keySet("quantity")
	substituteKeys    = keySet("out", "in")
	moveKeys          = keySet("token", "quantity")
)

func checkLifecycleKeys(line []byte) error {
	c, err := checkKeys(line, "case", lifecycleCaseKeys)
	if err != nil || c == nil {
		return err
	}
	if err := checkEachKeys(c["tokens"], "tokens", tokenKeys); err != nil {
		return err
	}
	if err := checkTermsKeys(c["terms"]); err != nil {
		return err
	}
	if _, err := checkKeys(c["positions"], "positions", positionKeys); err != nil {
		return err
	}
	if _, err := checkKeys(c["market"], "market", marketKeys); err != nil {
		return err
	}
	action, err := checkKeys(c["action"], "action", actionKeys)
	if err != nil {
		return err
	}
	for _, k := range []string{"return", "buyIn"} {
		if _, err := checkKeys(action[k], "action."+k, quantityKeys); err != nil {
			return err
		}
	}
	sub, err := checkKeys(action["substitute"], "action.substitute", substituteKeys)
	if err != nil {
		return err
	}
	for _, side := range []string{"out", "in"} {
		if err := checkEachKeys(sub[side], fmt.Sprintf("action.substitute.%s", side), moveKeys); err != nil {
			return err
		}
	}
	return nil
}

func decodeLifecycleCase(line []byte) (*wireLifecycleCase, error) {
	if err := checkLifecycleKeys(line); err != nil {
		return nil, err
	}
	var c wireLifecycleCase
	if err := decodeStrict(line, &c); err != nil {
		return nil, err
	}
	n := 0
	for _, given := range []bool{c.Action.Return != nil, c.Action.Substitute != nil, c.Action.BuyIn != nil} {
		if given {
			n++
		}
	}
	if n != 1 {
		return nil, errorf(ErrInvalidInput, "action must give exactly one of return, substitute, buyIn")
	}
	return &c, nil
}

// actionInts lists the action's integer fields in the order both engines check them.
func (c *wireLifecycleCase) actionInts() []rawInt {
	switch {
	case c.Action.Return != nil:
		return []rawInt{{"action.return.quantity", c.Action.Return.Quantity}}
	case c.Action.BuyIn != nil:
		return []rawInt{{"action.buyIn.quantity", c.Action.BuyIn.Quantity}}
	}
	var ints []rawInt
	for _, side := range []struct {
		name  string
		moves []wireMove
	}{{"out", c.Action.Substitute.Out}, {"in", c.Action.Substitute.In}} {
		for i, m := range side.moves {
			ints = append(ints, rawInt{fmt.Sprintf("action.substitute.%s[%d].quantity", side.name, i), m.Quantity})
		}
	}
	return ints
}

// RunLifecycleCase runs one life-cycle case (expectations are ignored) and never panics: every
// failure becomes an *Error in the output.
func RunLifecycleCase(line []byte) (out LifecycleOutput) {
	if err := duplicateKey(line); err != nil {
		return LifecycleOutput{Error: asError(err)}
	}
	out.Name = caseName(line)
	fail := func(err error) LifecycleOutput { return LifecycleOutput{Name: out.Name, Error: asError(err)} }
	c, err := decodeLifecycleCase(line)
	if err != nil {
		return fail(err)
	}
	setup := wireCase{Tokens: c.Tokens, Terms: c.Terms, Positions: c.Positions}
	actionInts := c.actionInts()
	ints, err := parseInts(append(setup.collectInts(), actionInts...))
	if err != nil {
		return fail(err)
	}
	a, pos, err := setup.setup(ints)
	if err != nil {
		return fail(err)
	}
	q := make([]int64, len(actionInts))
	for i, r := range actionInts {
		v, ok := ints[r.what]
		if !ok {
			return fail(errorf(ErrInvalidInput, "%s must be an integer, not null", r.what))
		}
		q[i] = v
	}
	m, err := NewMarket(c.Market.Date, c.Market.Prices, c.Market.FX)
	if err != nil {
		return fail(err)
	}
	var res *StepResult
	switch {
	case c.Action.Return != nil:
		res, err = ReturnLoan(a, m, pos, q[0])
	case c.Action.BuyIn != nil:
		res, err = BuyIn(a, m, pos, q[0])
	default:
		moves := make([]Move, 0, len(q))
		for _, w := range append(append([]wireMove{}, c.Action.Substitute.Out...), c.Action.Substitute.In...) {
			moves = append(moves, Move{Token: w.Token, Quantity: q[len(moves)]})
		}
		n := len(c.Action.Substitute.Out)
		res, err = Substitute(a, m, pos, moves[:n], moves[n:])
	}
	if err != nil {
		return fail(err)
	}
	return LifecycleOutput{Name: c.Name, Result: res}
}
