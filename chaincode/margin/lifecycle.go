package margin

import (
	"math/big"
)

// Life-cycle arithmetic: what a part or full return, a collateral substitution and a buy-in move,
// on one date's prices. Shared with the Python engine (tanpo/margin/lifecycle.py) and the golden
// vectors in vectors/lifecycle.json.
//
// Rules (DESIGN.md, "The desk's day beyond margin calls"):
//   - Return of q loan units (1 <= q <= loan): the loan becomes loan−q. A full return returns every
//     held position (a negative one is delivered back by the borrower). A part return releases the
//     excess collateral by the agreement's own excess rule (reverse priority order CTn→CT1, only CT1
//     in single mode, quantities rounded down, a token's available quantity its held position
//     floored at 0), without the threshold or minimum transfer (the borrower gets back what the
//     returned part freed) and without auto-issue, so the collateral still covers the loan.
//   - Substitution: the borrower takes Out (held under the agreement) back and delivers In (from its
//     free balance); every token must be one of the agreement's collateral tokens and, with a
//     schedule, eligible under it; refused when the haircut value after the swap is below the loan
//     value, or when it leaves a cap breached that was not breached before, or breached more.
//   - Buy-in of q unreturned loan units: the lender keeps collateral worth q units of the loan at
//     market value (no haircut), taken in priority order CT1→CTn, each token's quantity rounded down
//     and the rest of the value taken from the next token; what the held collateral cannot cover
//     (at most a fraction of a unit when enough is held) is Uncovered, the lender's claim on the
//     borrower. Rounding down keeps what still backs the rest of the loan: the kept value is at most
//     the loan value removed, so a covered agreement stays covered. The loan becomes loan−q and the
//     rest is released as for a return (all of it when the loan is then 0).

// Directions of life-cycle movements besides the margin call's two.
const (
	// Kept: collateral held under the agreement that the lender keeps outright (buy-in); no
	// token moves, the lender's held position becomes its own.
	Kept Direction = "kept"
)

// Error kinds of life-cycle steps.
const (
	// ErrIneligible: a token that is not one of the agreement's collateral tokens.
	ErrIneligible ErrorKind = "ineligible"
	// ErrShortfall: the step would leave the collateral worth less than the loan.
	ErrShortfall ErrorKind = "shortfall"
)

// Move is a token quantity in a substitution.
type Move struct {
	Token    string `json:"token"`
	Quantity int64  `json:"quantity"`
}

// StepResult is everything a life-cycle step decided, exact, in the base currency. VL is the loan
// value after the step; VCBefore and VCAfter the haircut value of the held collateral before and
// after; Transfers the collateral movements in order; Kept (buy-in) the collateral the lender keeps;
// Owed (buy-in) the market value of the unreturned units, Uncovered what the collateral did not
// cover. HeldAfter lists every collateral token.
type StepResult struct {
	Date       string              `json:"date"`
	Prices     map[string]*big.Rat `json:"prices"`
	FX         map[string]*big.Rat `json:"fx"`
	LoanBefore int64               `json:"loanBefore"`
	LoanAfter  int64               `json:"loanAfter"`
	VL         *big.Rat            `json:"vl"`
	VCBefore   *big.Rat            `json:"vcBefore"`
	VCAfter    *big.Rat            `json:"vcAfter"`
	GapAfter   *big.Rat            `json:"gapAfter"`
	Transfers  []Transfer          `json:"transfers"`
	Kept       []Transfer          `json:"kept"`
	Owed       *big.Rat            `json:"owed"`
	Uncovered  *big.Rat            `json:"uncovered"`
	HeldAfter  map[string]int64    `json:"heldAfter"`
}

// stepState is a step in progress: the agreement's pricing and held positions.
type stepState struct {
	a    *Agreement
	pr   *Pricing
	held []int64
	res  *StepResult
}

func newStep(a *Agreement, m *Market, p Positions) (*stepState, []int64, error) {
	if a == nil || m == nil {
		return nil, nil, errorf(ErrInvalidInput, "no agreement or no market")
	}
	held, bfree, _, err := a.positionVectors(p)
	if err != nil {
		return nil, nil, err
	}
	pr, err := PriceAgreement(a, m)
	if err != nil {
		return nil, nil, err
	}
	s := &stepState{a: a, pr: pr, held: held, res: &StepResult{
		Date: pr.Date, Prices: pr.Prices, FX: pr.FX, LoanBefore: a.loanQty, LoanAfter: a.loanQty,
		Transfers: []Transfer{}, Kept: []Transfer{}, Owed: new(big.Rat), Uncovered: new(big.Rat),
	}}
	s.res.VCBefore = s.collateralValue()
	return s, bfree, nil
}

func (s *stepState) collateralValue() *big.Rat {
	vc, tmp := new(big.Rat), new(big.Rat)
	for i, h := range s.held {
		vc.Add(vc, tmp.Mul(ratInt(h), s.pr.HaircutUnit[i]))
	}
	return vc
}

func (s *stepState) loanValue() *big.Rat {
	return new(big.Rat).Mul(ratInt(s.res.LoanAfter), s.pr.LoanUnit)
}

// move records a movement of qty units of collateral token i and updates the held position.
func (s *stepState) move(i int, qty int64, d Direction) error {
	var err error
	if d == BorrowerToLender {
		s.held[i], err = addInt64(s.held[i], qty, "held "+s.a.collateral[i].ID)
	} else {
		s.held[i], err = subInt64(s.held[i], qty, "held "+s.a.collateral[i].ID)
	}
	if err != nil {
		return err
	}
	q := ratInt(qty)
	t := Transfer{Token: s.a.collateral[i].ID, Quantity: qty, Direction: d,
		Value: new(big.Rat).Mul(q, s.pr.HaircutUnit[i]), MarketValue: new(big.Rat).Mul(q, s.pr.Unit[i])}
	if d == Kept {
		s.res.Kept = append(s.res.Kept, t)
	} else {
		s.res.Transfers = append(s.res.Transfers, t)
	}
	return nil
}

// settleLoan reduces the loan by qty and releases collateral: everything when the loan is repaid,
// else the excess by the agreement's excess rule.
func (s *stepState) settleLoan(qty int64) error {
	s.res.LoanAfter -= qty
	if s.res.LoanAfter == 0 {
		for i, h := range s.held {
			switch {
			case h > 0:
				if err := s.move(i, h, LenderToBorrower); err != nil {
					return err
				}
			case h < 0:
				if err := s.move(i, -h, BorrowerToLender); err != nil {
					return err
				}
			}
		}
		return nil
	}
	rest := new(big.Rat).Sub(s.collateralValue(), s.loanValue())
	if rest.Sign() <= 0 {
		return nil
	}
	tmp := new(big.Rat)
	for _, i := range s.a.excessOrder {
		want := floorDiv(rest, s.pr.HaircutUnit[i])
		var qty int64
		switch {
		case big.NewInt(s.held[i]).Cmp(want) >= 0:
			qty = want.Int64()
		case s.held[i] > 0:
			qty = s.held[i]
		}
		if qty > 0 {
			if err := s.move(i, qty, LenderToBorrower); err != nil {
				return err
			}
			rest.Sub(rest, tmp.Mul(ratInt(qty), s.pr.HaircutUnit[i]))
		}
		if big.NewInt(qty).Cmp(want) == 0 {
			break
		}
	}
	return nil
}

func (s *stepState) finish() *StepResult {
	s.res.VL = s.loanValue()
	s.res.VCAfter = s.collateralValue()
	s.res.GapAfter = new(big.Rat).Sub(s.res.VCAfter, s.res.VL)
	s.res.HeldAfter = map[string]int64{}
	for i, t := range s.a.collateral {
		s.res.HeldAfter[t.ID] = s.held[i]
	}
	return s.res
}

func (a *Agreement) checkLoanQuantity(qty int64, what string) error {
	if qty <= 0 || qty > a.loanQty {
		return errorf(ErrOutOfRange, "%s of %d units: expected 1 to the loan's %d", what, qty, a.loanQty)
	}
	return nil
}

// ReturnLoan is the borrower's return of qty units of the loan on m's date, from positions p.
func ReturnLoan(a *Agreement, m *Market, p Positions, qty int64) (*StepResult, error) {
	s, _, err := newStep(a, m, p)
	if err != nil {
		return nil, err
	}
	if err := a.checkLoanQuantity(qty, "return"); err != nil {
		return nil, err
	}
	if err := s.settleLoan(qty); err != nil {
		return nil, err
	}
	return s.finish(), nil
}

// Substitute swaps collateral: Out comes back to the borrower from the held positions, In is
// delivered from the borrower's free balance. Checks run in order: out, then in, each in list
// order (eligible token, positive quantity, not repeated, available); then the value.
func Substitute(a *Agreement, m *Market, p Positions, out, in []Move) (*StepResult, error) {
	s, bfree, err := newStep(a, m, p)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 || len(in) == 0 {
		return nil, errorf(ErrInvalidInput, "a substitution takes at least one token out and delivers at least one in")
	}
	seen := map[string]bool{}
	for k, side := range [][]Move{out, in} {
		name := [2]string{"out", "in"}[k]
		for _, mv := range side {
			i, ok := a.index[mv.Token]
			if !ok {
				return nil, errorf(ErrIneligible, "%s: %s is not an eligible collateral token of this agreement", name, mv.Token)
			}
			if mv.Quantity <= 0 {
				return nil, errorf(ErrOutOfRange, "%s: quantity %d of %s must be positive", name, mv.Quantity, mv.Token)
			}
			if seen[mv.Token] {
				return nil, errorf(ErrInvalidInput, "%s: %s appears twice in the substitution", name, mv.Token)
			}
			seen[mv.Token] = true
			have, source := s.held[i], "held under the agreement"
			if k == 1 {
				have, source = bfree[i], "free with the borrower"
			}
			if mv.Quantity > have {
				return nil, errorf(ErrOutOfRange, "%s: %d %s wanted, %d %s", name, mv.Quantity, mv.Token, max(have, 0), source)
			}
		}
	}
	for _, mv := range in {
		if ok, reason := Eligibility(a, mv.Token); !ok {
			return nil, errorf(ErrIneligible, "in: %s is not eligible under the agreement's schedule (%s)", mv.Token, reason)
		}
	}
	before := Concentration(a, s.pr, s.held)
	for k, side := range [][]Move{out, in} {
		d := [2]Direction{LenderToBorrower, BorrowerToLender}[k]
		for _, mv := range side {
			if err := s.move(a.index[mv.Token], mv.Quantity, d); err != nil {
				return nil, err
			}
		}
	}
	res := s.finish()
	if res.GapAfter.Sign() < 0 {
		return nil, errorf(ErrShortfall, "the substitution would leave the agreement short: loan value %s, collateral value after haircut %s, short by %s (%s)",
			res.VL.FloatString(2), res.VCAfter.FloatString(2), new(big.Rat).Neg(res.GapAfter).FloatString(2), a.base)
	}
	// a cap breached after the swap must have been breached before, by at least as much
	for _, b := range Concentration(a, s.pr, s.held) {
		worse := true
		for _, p := range before {
			if p.By == b.By && p.Key == b.Key && p.Share.Cmp(b.Share) >= 0 {
				worse = false
			}
		}
		if worse {
			hundred := big.NewRat(100, 1)
			return nil, errorf(ErrIneligible, "the substitution would breach the %s cap %s: %s%% of the collateral's market value, at most %s%%",
				b.By, b.Key, new(big.Rat).Mul(b.Share, hundred).FloatString(2), new(big.Rat).Mul(b.Max, hundred).FloatString(2))
		}
	}
	return res, nil
}

// BuyIn closes out qty unreturned loan units on m's date: the lender keeps collateral worth them and
// the rest is released as for a return.
func BuyIn(a *Agreement, m *Market, p Positions, qty int64) (*StepResult, error) {
	s, _, err := newStep(a, m, p)
	if err != nil {
		return nil, err
	}
	if err := a.checkLoanQuantity(qty, "buy-in"); err != nil {
		return nil, err
	}
	s.res.Owed = new(big.Rat).Mul(ratInt(qty), s.pr.LoanUnit)
	rest := new(big.Rat).Set(s.res.Owed)
	tmp := new(big.Rat)
	for i := range s.a.collateral {
		if rest.Sign() <= 0 {
			break
		}
		want := floorDiv(rest, s.pr.Unit[i])
		n := max(s.held[i], 0)
		if big.NewInt(n).Cmp(want) > 0 {
			n = want.Int64()
		}
		if n > 0 {
			if err := s.move(i, n, Kept); err != nil {
				return nil, err
			}
			rest.Sub(rest, tmp.Mul(ratInt(n), s.pr.Unit[i]))
		}
	}
	if rest.Sign() > 0 {
		s.res.Uncovered.Set(rest)
	}
	if err := s.settleLoan(qty); err != nil {
		return nil, err
	}
	return s.finish(), nil
}
