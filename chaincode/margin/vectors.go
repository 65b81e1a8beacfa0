package margin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
)

// The JSON case format of vectors/ (see vectors/README.md). RunCase mirrors the Python
// tanpo.margin.vectors.run_case exactly, including the order in which problems are found:
//  1. shape: JSON types, unknown keys, integer literals (invalid_input); null means absent;
//  2. every integer must fit int64 (overflow);
//  3. tokens and terms, then starting positions (a case-level error: no day runs);
//  4. each day in turn: its market, then the book's day (a failing day is reported and skipped;
//     the book carries on unchanged).

type wireCase struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Tokens      []Token         `json:"tokens"`
	Terms       wireTerms       `json:"terms"`
	Positions   wirePositions   `json:"positions"`
	Days        []wireDay       `json:"days"`
	ExpectError json.RawMessage `json:"expectError"`
}

type wireTerms struct {
	Base        string            `json:"base"`
	Loan        wireLoan          `json:"loan"`
	Collateral  []string          `json:"collateral"`
	Haircut     string            `json:"haircut"`
	Haircuts    map[string]string `json:"haircuts"`
	Threshold   string            `json:"threshold"`
	Mode        Mode              `json:"mode"`
	LagDays     json.RawMessage   `json:"lagDays"`
	AutoIssue   bool              `json:"autoIssue"`
	MinTransfer string            `json:"minTransfer"`
	Schedule    *Schedule         `json:"schedule"`
}

type wireLoan struct {
	Token    string          `json:"token"`
	Quantity json.RawMessage `json:"quantity"`
}

type wirePositions struct {
	Held         map[string]json.RawMessage `json:"held"`
	BorrowerFree map[string]json.RawMessage `json:"borrowerFree"`
	LenderFree   map[string]json.RawMessage `json:"lenderFree"`
}

type wireDay struct {
	Date        string            `json:"date"`
	Prices      map[string]string `json:"prices"`
	FX          map[string]string `json:"fx"`
	Expect      json.RawMessage   `json:"expect"`
	ExpectError json.RawMessage   `json:"expectError"`
}

// CaseOutput is RunCase's answer: Error for a case that could not start, else one entry per day,
// a *DayResult or a DayError.
type CaseOutput struct {
	Name  string `json:"name"`
	Error *Error `json:"error,omitempty"`
	Days  []any  `json:"days,omitempty"`
}

// DayError is a day that failed (the book carried on unchanged).
type DayError struct {
	Error *Error `json:"error"`
}

var jsonIntRe = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// rawInt is one integer field of the wire format, still as JSON text.
type rawInt struct {
	what string
	raw  json.RawMessage
}

func (r rawInt) absent() bool {
	t := bytes.TrimSpace(r.raw)
	return len(t) == 0 || string(t) == "null"
}

// Object keys allowed at each level of a case. encoding/json matches struct fields
// case-insensitively ("Name" would fill Name); the Python engine does not, so exact keys are
// checked first.
var (
	caseKeys     = keySet("name", "description", "tokens", "terms", "positions", "days", "expectError")
	tokenKeys    = keySet("id", "kind", "currency", "quote", "assetClass", "rating", "issuer")
	termsKeys    = keySet("base", "loan", "collateral", "haircut", "haircuts", "threshold", "mode", "lagDays", "autoIssue", "minTransfer", "schedule")
	scheduleKeys = keySet("assetClasses", "currencies", "minRating", "haircuts", "caps")
	capKeys      = keySet("by", "key", "max")
	loanKeys     = keySet("token", "quantity")
	positionKeys = keySet("held", "borrowerFree", "lenderFree")
	dayKeys      = keySet("date", "prices", "fx", "expect", "expectError")
)

func keySet(keys ...string) map[string]bool {
	m := map[string]bool{}
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// checkKeys rejects keys outside allowed in raw if raw is a JSON object (other shapes are left to
// the struct decoder) and returns the object's members.
func checkKeys(raw json.RawMessage, what string, allowed map[string]bool) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return nil, nil
	}
	for _, k := range sortedKeys(obj) {
		if !allowed[k] {
			return nil, errorf(ErrInvalidInput, "%s: unknown field %q", what, k)
		}
	}
	return obj, nil
}

// checkTermsKeys checks the keys of terms, its loan, its schedule and the schedule's caps.
func checkTermsKeys(raw json.RawMessage) error {
	terms, err := checkKeys(raw, "terms", termsKeys)
	if err != nil {
		return err
	}
	if _, err := checkKeys(terms["loan"], "terms.loan", loanKeys); err != nil {
		return err
	}
	sched, err := checkKeys(terms["schedule"], "terms.schedule", scheduleKeys)
	if err != nil {
		return err
	}
	var caps []json.RawMessage
	if json.Unmarshal(sched["caps"], &caps) == nil {
		for i, c := range caps {
			if _, err := checkKeys(c, fmt.Sprintf("terms.schedule.caps[%d]", i), capKeys); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkCaseKeys(line []byte) error {
	c, err := checkKeys(line, "case", caseKeys)
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
	if err := checkEachKeys(c["days"], "days", dayKeys); err != nil {
		return err
	}
	return nil
}

// duplicateKey reports an object key repeated at any depth. encoding/json lets the last one
// win but decodes it into what the first one left (a repeated array reuses the old elements
// where the new ones are null), so repeated keys are refused, as in the Python engine.
func duplicateKey(line []byte) error {
	type frame struct {
		keys    map[string]bool // nil for an array
		wantKey bool
	}
	var stack []*frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // end of input, or a syntax error the decoder reports later
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, &frame{keys: map[string]bool{}, wantKey: true})
			case '[':
				stack = append(stack, &frame{})
			default:
				if len(stack) > 0 {
					stack = stack[:len(stack)-1]
				}
				valueDone()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].keys != nil && stack[n-1].wantKey {
				if stack[n-1].keys[v] {
					return errorf(ErrInvalidInput, "duplicate key %q", v)
				}
				stack[n-1].keys[v], stack[n-1].wantKey = true, false
				continue
			}
			valueDone()
		default:
			valueDone()
		}
	}
}

func decodeCase(line []byte) (*wireCase, error) {
	if err := checkCaseKeys(line); err != nil {
		return nil, err
	}
	var c wireCase
	if err := decodeStrict(line, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// collectInts lists the integer fields in the order both engines check them.
func (c *wireCase) collectInts() []rawInt {
	ints := []rawInt{{"terms.loan.quantity", c.Terms.Loan.Quantity}, {"terms.lagDays", c.Terms.LagDays}}
	for _, m := range []struct {
		what string
		m    map[string]json.RawMessage
	}{{"positions.held", c.Positions.Held}, {"positions.borrowerFree", c.Positions.BorrowerFree}, {"positions.lenderFree", c.Positions.LenderFree}} {
		for _, k := range sortedKeys(m.m) {
			ints = append(ints, rawInt{fmt.Sprintf("%s[%s]", m.what, k), m.m[k]})
		}
	}
	return ints
}

// parseInts checks every integer field: first that each is a JSON integer literal (shape), then
// that each fits int64, so the first error kind is the same as in the Python engine.
func parseInts(ints []rawInt) (map[string]int64, error) {
	for _, r := range ints {
		if !r.absent() && !jsonIntRe.Match(bytes.TrimSpace(r.raw)) {
			return nil, errorf(ErrInvalidInput, "%s must be an integer", r.what)
		}
	}
	out := map[string]int64{}
	for _, r := range ints {
		if r.absent() {
			continue
		}
		v, err := strconv.ParseInt(string(bytes.TrimSpace(r.raw)), 10, 64)
		if err != nil {
			return nil, errorf(ErrOverflow, "%s: %s does not fit 64 bits", r.what, bytes.TrimSpace(r.raw))
		}
		out[r.what] = v
	}
	return out, nil
}

func quantities(what string, m map[string]json.RawMessage, ints map[string]int64) (map[string]int64, error) {
	out := map[string]int64{}
	for _, k := range sortedKeys(m) {
		v, ok := ints[fmt.Sprintf("%s[%s]", what, k)]
		if !ok {
			return nil, errorf(ErrInvalidInput, "%s[%s] must be an integer, not null", what, k)
		}
		out[k] = v
	}
	return out, nil
}

// caseName extracts "name" if it is a string, for error outputs of cases that fail to decode.
func caseName(line []byte) string {
	var top map[string]json.RawMessage
	var name string
	if json.Unmarshal(line, &top) == nil && json.Unmarshal(top["name"], &name) == nil {
		return name
	}
	return ""
}

// RunCase runs one case of the vector format (expectations are ignored) and never panics: every
// failure becomes an *Error in the output.
func RunCase(line []byte) (out CaseOutput) {
	if err := duplicateKey(line); err != nil {
		return CaseOutput{Error: asError(err)}
	}
	out.Name = caseName(line)
	fail := func(err error) CaseOutput { return CaseOutput{Name: out.Name, Error: asError(err)} }
	c, err := decodeCase(line)
	if err != nil {
		return fail(err)
	}
	ints, err := parseInts(c.collectInts())
	if err != nil {
		return fail(err)
	}
	a, pos, err := c.setup(ints)
	if err != nil {
		return fail(err)
	}
	book, err := NewBook(a, pos)
	if err != nil {
		return fail(err)
	}
	out.Name = c.Name
	out.Days = []any{}
	for _, d := range c.Days {
		m, err := NewMarket(d.Date, d.Prices, d.FX)
		if err != nil {
			out.Days = append(out.Days, DayError{Error: asError(err)})
			continue
		}
		r, err := book.ApplyDay(m)
		if err != nil {
			out.Days = append(out.Days, DayError{Error: asError(err)})
			continue
		}
		out.Days = append(out.Days, r)
	}
	return out
}

// asError returns err as an *Error (every error of this package is one).
func asError(err error) *Error {
	if e, ok := err.(*Error); ok {
		return e
	}
	return &Error{Kind: ErrInvalidInput, Message: err.Error()}
}

// setup builds a case's agreement and starting positions from its parsed integers (ints).
func (c *wireCase) setup(ints map[string]int64) (*Agreement, Positions, error) {
	qty, ok := ints["terms.loan.quantity"]
	if !ok {
		return nil, Positions{}, errorf(ErrInvalidInput, "terms.loan.quantity is missing")
	}
	// NewAgreement range-checks the lag after the token checks; clamp it so that narrowing to int
	// cannot wrap on a 32-bit platform while keeping it out of range when it is.
	lag := ints["terms.lagDays"]
	if lag > MaxLagDays+1 {
		lag = MaxLagDays + 1
	} else if lag < -1 {
		lag = -1
	}
	a, err := NewAgreement(c.Tokens, Terms{
		Base: c.Terms.Base, Loan: LoanLeg{Token: c.Terms.Loan.Token, Quantity: qty},
		Collateral: c.Terms.Collateral, Mode: c.Terms.Mode, Haircut: c.Terms.Haircut,
		Haircuts: c.Terms.Haircuts, Threshold: c.Terms.Threshold, MinTransfer: c.Terms.MinTransfer,
		LagDays: int(lag), AutoIssue: c.Terms.AutoIssue, Schedule: c.Terms.Schedule,
	})
	if err != nil {
		return nil, Positions{}, err
	}
	var pos Positions
	if pos.Held, err = quantities("positions.held", c.Positions.Held, ints); err != nil {
		return nil, Positions{}, err
	}
	if pos.BorrowerFree, err = quantities("positions.borrowerFree", c.Positions.BorrowerFree, ints); err != nil {
		return nil, Positions{}, err
	}
	if pos.LenderFree, err = quantities("positions.lenderFree", c.Positions.LenderFree, ints); err != nil {
		return nil, Positions{}, err
	}
	return a, pos, nil
}

// decodeStrict decodes one case object: no unknown field, nothing after it.
func decodeStrict(line []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return errorf(ErrInvalidInput, "case: %v", err)
	}
	if dec.More() {
		return errorf(ErrInvalidInput, "case: data after the JSON object")
	}
	return nil
}

// checkEachKeys checks the keys of every object of a JSON list (what[i] in messages); a value that
// is not a list is left to the decoder.
func checkEachKeys(raw json.RawMessage, what string, allowed map[string]bool) error {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil
	}
	for i, item := range list {
		if _, err := checkKeys(item, fmt.Sprintf("%s[%d]", what, i), allowed); err != nil {
			return err
		}
	}
	return nil
}
