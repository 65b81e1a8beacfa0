package margin

import (
	"math/big"
	"regexp"
	"sort"
)

// MaxLagDays is the longest settlement lag accepted, in calendar days.
const MaxLagDays = 366

// TokenKind: ST = security token (bond, stock), CT = cash token (its price is always 1).
type TokenKind string

// Quote is how a token's price is quoted.
type Quote string

// Mode is the adjustment mode: only CT1 moves (single) or CT1…CTn in priority order (multi).
type Mode string

// Party is a role in the agreement; the chaincode maps it to an identity.
type Party string

// Direction of a collateral transfer.
type Direction string

// Enumerations, spelled as in the JSON formats.
const (
	KindST TokenKind = "ST"
	KindCT TokenKind = "CT"

	// QuotePerUnit: the price is per token unit (stocks, cash).
	QuotePerUnit Quote = "per-unit"
	// QuotePercentOfPar: the price is per 100 of face value, one token unit being 1 of face
	// (bonds): quote factor 1/100.
	QuotePercentOfPar Quote = "percent-of-par"

	ModeSingle Mode = "single"
	ModeMulti  Mode = "multi"

	Borrower Party = "borrower"
	Lender   Party = "lender"

	// BorrowerToLender: collateral delivered into the agreement (shortfall).
	BorrowerToLender Direction = "borrower->lender"
	// LenderToBorrower: collateral returned out of the agreement (excess).
	LenderToBorrower Direction = "lender->borrower"
)

var (
	tokenIDRe  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$`)
	currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Token is a token definition reduced to what valuation and eligibility need. Quote "" means
// per-unit. AssetClass ("cash", "equity", "bond"…), Rating (one of Ratings, "" = unrated) and
// Issuer are optional; an eligibility schedule reads them.
type Token struct {
	ID         string    `json:"id"`
	Kind       TokenKind `json:"kind"`
	Currency   string    `json:"currency"`
	Quote      Quote     `json:"quote,omitempty"`
	AssetClass string    `json:"assetClass,omitempty"`
	Rating     string    `json:"rating,omitempty"`
	Issuer     string    `json:"issuer,omitempty"`
}

// LoanLeg is what the lender delivered and the borrower owes.
type LoanLeg struct {
	Token    string `json:"token"`
	Quantity int64  `json:"quantity"`
}

// Terms are the agreement terms the margin engine uses. Collateral is the priority order
// CT1…CTn. Haircut is the agreement's α, Haircuts overrides it per collateral token (an
// eligibility schedule), Threshold is β (a fraction of V_L), MinTransfer the minimum transfer
// amount in the base currency. Numbers are exact decimal strings; "" means "0". A haircut is
// resolved per token: Haircuts > the schedule's "token:" > its "class:" > Haircut.
type Terms struct {
	Base        string            `json:"base"`
	Loan        LoanLeg           `json:"loan"`
	Collateral  []string          `json:"collateral"`
	Mode        Mode              `json:"mode"`
	Haircut     string            `json:"haircut,omitempty"`
	Haircuts    map[string]string `json:"haircuts,omitempty"`
	Threshold   string            `json:"threshold,omitempty"`
	MinTransfer string            `json:"minTransfer,omitempty"`
	LagDays     int               `json:"lagDays,omitempty"`
	AutoIssue   bool              `json:"autoIssue,omitempty"`
	// Schedule is the optional eligibility schedule (nil: every collateral token is eligible,
	// nothing is capped).
	Schedule *Schedule `json:"schedule,omitempty"`
}

// Positions are quantities by token id: held by the lender under the agreement (negative after an
// auto-issued return in single mode: the borrower owes that quantity back), and the borrower's
// and lender's free balances. Keys must be collateral tokens; missing keys are 0.
type Positions struct {
	Held         map[string]int64 `json:"held"`
	BorrowerFree map[string]int64 `json:"borrowerFree"`
	LenderFree   map[string]int64 `json:"lenderFree"`
}

// Agreement is validated, parsed terms. Build it with NewAgreement; it is immutable afterwards
// and safe to share between goroutines.
type Agreement struct {
	base           string
	loan           Token
	loanQty        int64
	collateral     []Token
	haircuts       []*big.Rat
	threshold      *big.Rat
	minTransfer    *big.Rat
	mode           Mode
	lagDays        int
	autoIssue      bool
	schedule       *schedule // nil without a schedule
	index          map[string]int
	shortfallOrder []int
	excessOrder    []int
}

// Base returns the valuation currency.
func (a *Agreement) Base() string { return a.base }

// LagDays returns the settlement lag in calendar days.
func (a *Agreement) LagDays() int { return a.lagDays }

// CollateralToken returns the i-th collateral token in priority order (0 = CT1).
func (a *Agreement) CollateralToken(i int) Token { return a.collateral[i] }

// Collateral returns the collateral token ids in priority order.
func (a *Agreement) Collateral() []string {
	ids := make([]string, len(a.collateral))
	for i, t := range a.collateral {
		ids[i] = t.ID
	}
	return ids
}

// CheckToken validates one token definition and returns it with Quote "" replaced by per-unit.
func CheckToken(t Token) (Token, error) {
	if !tokenIDRe.MatchString(t.ID) {
		return t, errorf(ErrInvalidInput, "token id %q is not 1-64 characters of A-Z a-z 0-9 . _ : / -", t.ID)
	}
	if t.Kind != KindST && t.Kind != KindCT {
		return t, errorf(ErrInvalidInput, "token %s: kind %q is not ST or CT", t.ID, t.Kind)
	}
	if !currencyRe.MatchString(t.Currency) {
		return t, errorf(ErrInvalidInput, "token %s: currency %q is not a 3-letter code", t.ID, t.Currency)
	}
	if t.Quote == "" {
		t.Quote = QuotePerUnit
	}
	if t.Quote != QuotePerUnit && t.Quote != QuotePercentOfPar {
		return t, errorf(ErrInvalidInput, "token %s: quote %q is not per-unit or percent-of-par", t.ID, t.Quote)
	}
	if err := checkTokenAttrs(t); err != nil {
		return t, err
	}
	return t, nil
}

// fractionIn parses an optional number ("" = 0) that must be >= 0 and, if upper is set, < upper.
func fractionIn(text, what string, upper *big.Rat) (*big.Rat, error) {
	if text == "" {
		return new(big.Rat), nil
	}
	r, err := ParseDecimal(text, what)
	if err != nil {
		return nil, err
	}
	if r.Sign() < 0 || (upper != nil && r.Cmp(upper) >= 0) {
		if upper != nil {
			return nil, errorf(ErrOutOfRange, "%s %s is outside [0, %s)", what, r.RatString(), upper.RatString())
		}
		return nil, errorf(ErrOutOfRange, "%s %s is outside >= 0", what, r.RatString())
	}
	return r, nil
}

// NewAgreement validates tokens and terms and returns the parsed agreement. Checks run in a
// fixed order shared with the Python engine (tokens in list order; base; loan token; loan
// quantity; collateral; haircut; haircuts by sorted key; threshold; minimum transfer; mode; lag;
// then the schedule: asset classes, currencies, minimum rating, haircuts by sorted key, caps),
// so a multiply-broken input reports the same error kind in both.
func NewAgreement(tokens []Token, terms Terms) (*Agreement, error) {
	defs := make(map[string]Token, len(tokens))
	for _, t := range tokens {
		checked, err := CheckToken(t)
		if err != nil {
			return nil, err
		}
		if _, dup := defs[checked.ID]; dup {
			return nil, errorf(ErrInvalidInput, "token %s is defined twice", checked.ID)
		}
		defs[checked.ID] = checked
	}
	if !currencyRe.MatchString(terms.Base) {
		return nil, errorf(ErrInvalidInput, "base currency %q is not a 3-letter code", terms.Base)
	}
	loan, ok := defs[terms.Loan.Token]
	if !ok {
		return nil, errorf(ErrInvalidInput, "loan token %q is not among the token definitions", terms.Loan.Token)
	}
	if terms.Loan.Quantity <= 0 {
		return nil, errorf(ErrOutOfRange, "loan quantity %d must be positive", terms.Loan.Quantity)
	}
	if len(terms.Collateral) == 0 {
		return nil, errorf(ErrInvalidInput, "collateral priority list is empty")
	}
	a := &Agreement{base: terms.Base, loan: loan, loanQty: terms.Loan.Quantity, index: map[string]int{}}
	for _, id := range terms.Collateral {
		t, ok := defs[id]
		if !ok {
			return nil, errorf(ErrInvalidInput, "collateral token %q is not among the token definitions", id)
		}
		if _, dup := a.index[id]; dup {
			return nil, errorf(ErrInvalidInput, "collateral token %s is listed twice", id)
		}
		if id == loan.ID {
			return nil, errorf(ErrInvalidInput, "token %s cannot be both the loan and a collateral token", id)
		}
		a.index[id] = len(a.collateral)
		a.collateral = append(a.collateral, t)
	}
	one := big.NewRat(1, 1)
	alpha, err := fractionIn(terms.Haircut, "haircut", one)
	if err != nil {
		return nil, err
	}
	perToken := map[string]*big.Rat{}
	for _, id := range sortedKeys(terms.Haircuts) {
		if _, ok := a.index[id]; !ok {
			return nil, errorf(ErrInvalidInput, "haircut given for %q, which is not a collateral token", id)
		}
		h, err := fractionIn(terms.Haircuts[id], "haircut of "+id, one)
		if err != nil {
			return nil, err
		}
		perToken[id] = h
	}
	if a.threshold, err = fractionIn(terms.Threshold, "threshold", nil); err != nil {
		return nil, err
	}
	if a.minTransfer, err = fractionIn(terms.MinTransfer, "minimum transfer amount", nil); err != nil {
		return nil, err
	}
	if terms.Mode != ModeSingle && terms.Mode != ModeMulti {
		return nil, errorf(ErrInvalidInput, "mode %q is not single or multi", terms.Mode)
	}
	if terms.LagDays < 0 || terms.LagDays > MaxLagDays {
		return nil, errorf(ErrOutOfRange, "lag of %d days is outside 0..%d", terms.LagDays, MaxLagDays)
	}
	a.mode, a.lagDays, a.autoIssue = terms.Mode, terms.LagDays, terms.AutoIssue
	scheduled := make([]*big.Rat, len(a.collateral))
	if terms.Schedule != nil {
		if a.schedule, scheduled, err = a.parseSchedule(terms.Schedule); err != nil {
			return nil, err
		}
	}
	for i, t := range a.collateral {
		if h, ok := perToken[t.ID]; ok {
			a.haircuts = append(a.haircuts, h)
		} else if scheduled[i] != nil {
			a.haircuts = append(a.haircuts, scheduled[i])
		} else {
			a.haircuts = append(a.haircuts, alpha)
		}
	}
	if a.mode == ModeSingle {
		a.shortfallOrder, a.excessOrder = []int{0}, []int{0}
	} else {
		for i := range a.collateral {
			a.shortfallOrder = append(a.shortfallOrder, i)
			a.excessOrder = append(a.excessOrder, len(a.collateral)-1-i)
		}
	}
	return a, nil
}

// positionVectors checks p against the agreement and returns held, borrower-free and
// lender-free quantities in priority order. Keys are checked in sorted order, map by map.
func (a *Agreement) positionVectors(p Positions) (held, bfree, lfree []int64, err error) {
	out := [3][]int64{}
	for k, m := range []map[string]int64{p.Held, p.BorrowerFree, p.LenderFree} {
		name := [3]string{"held", "borrowerFree", "lenderFree"}[k]
		vec := make([]int64, len(a.collateral))
		for _, id := range sortedKeys(m) {
			i, ok := a.index[id]
			if !ok {
				return nil, nil, nil, errorf(ErrInvalidInput, "%s: %q is not a collateral token of the agreement", name, id)
			}
			if k > 0 && m[id] < 0 {
				return nil, nil, nil, errorf(ErrOutOfRange, "%s[%s]: free balance %d is negative", name, id, m[id])
			}
			vec[i] = m[id]
		}
		out[k] = vec
	}
	return out[0], out[1], out[2], nil
}

// positionsOf turns vectors in priority order back into maps with every collateral token listed.
func (a *Agreement) positionsOf(held, bfree, lfree []int64) Positions {
	p := Positions{Held: map[string]int64{}, BorrowerFree: map[string]int64{}, LenderFree: map[string]int64{}}
	for i, t := range a.collateral {
		p.Held[t.ID], p.BorrowerFree[t.ID], p.LenderFree[t.ID] = held[i], bfree[i], lfree[i]
	}
	return p
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
