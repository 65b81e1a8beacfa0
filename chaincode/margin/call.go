package margin

import "math/big"

// Transfer is a movement of collateral. Value is its collateral value after haircut (what it
// changes in V_C and the gap), MarketValue its value before haircut; both in base currency.
type Transfer struct {
	Token       string    `json:"token"`
	Quantity    int64     `json:"quantity"`
	Direction   Direction `json:"direction"`
	Value       *big.Rat  `json:"value"`
	MarketValue *big.Rat  `json:"marketValue"`
}

// IssuanceRequired says Party ran out of adjustment tokens; Value (base currency, after haircut)
// is the part of the gap it could not cover (borrower) or could not return (lender).
type IssuanceRequired struct {
	Party Party    `json:"party"`
	Value *big.Rat `json:"value"`
}

// Mint records tokens auto-issued to Party inside the call and delivered in the same call.
type Mint struct {
	Party    Party  `json:"party"`
	Token    string `json:"token"`
	Quantity int64  `json:"quantity"`
}

// CallResult is everything one margin call decided; values are exact, in the base currency.
// VCBefore/GapBefore value the positions the call started from; VCAfter/GapAfter the same
// positions after this call's transfers (same prices), whether those settle now or later.
// Skipped lists the tokens a shortfall passed over as ineligible or limited by a cap, in order;
// Breaches the cap groups still over their limit after the call (see Concentration).
// Slices are never nil, so JSON shows [] rather than null.
type CallResult struct {
	Date             string              `json:"date"`
	Prices           map[string]*big.Rat `json:"prices"`
	FX               map[string]*big.Rat `json:"fx"`
	VL               *big.Rat            `json:"vl"`
	VCBefore         *big.Rat            `json:"vcBefore"`
	GapBefore        *big.Rat            `json:"gapBefore"`
	Triggered        bool                `json:"triggered"`
	Transfers        []Transfer          `json:"transfers"`
	IssuanceRequired []IssuanceRequired  `json:"issuanceRequired"`
	Mints            []Mint              `json:"mints"`
	Skipped          []SkippedToken      `json:"skipped"`
	Breaches         []Breach            `json:"breaches"`
	VCAfter          *big.Rat            `json:"vcAfter"`
	GapAfter         *big.Rat            `json:"gapAfter"`
}

type plannedMove struct {
	index int
	qty   int64
}

// callPlan is a call's result plus the raw quantities a Book needs to apply it.
type callPlan struct {
	result    *CallResult
	moves     []plannedMove
	direction Direction
	minted    int64 // CT1 auto-issued to the delivering party, 0 if none
}

// planCall is the margin call of DESIGN.md §1 on positions in priority order.
//
// Choices the design leaves open, shared with the Python engine (tanpo/margin/call.py):
//   - triggered = (β = 0 or |g| > β·V_L) and |g| >= MTA: the minimum transfer amount is compared with the
//     gap before the call (the call amount, as in a CSA); below it nothing moves and the day is
//     not a call. MTA 0 never suppresses, so with β = 0 every check is a call, even at g = 0.
//   - a token is exhausted when its available quantity (borrower free balance for a shortfall,
//     lender's held position for an excess, floored at 0) is smaller than the quantity wanted;
//     only then does the call go on to the next token.
//   - when all eligible tokens are exhausted, IssuanceRequired names the party and the remaining
//     gap; with auto-issue CT1 is minted (ceil for the borrower, floor for the lender) and added
//     to the CT1 transfer, so there is one transfer per token per call.
//   - with an eligibility schedule, a shortfall skips ineligible tokens and delivers no more of a
//     token than every cap containing it allows (capLimit); a token so limited counts as
//     exhausted. Auto-issue mints CT1 only if CT1 is eligible, and is not capped. An excess call
//     returns ineligible and over-cap tokens first (correctiveOrder), then the usual reverse order.
func planCall(a *Agreement, pr *Pricing, held, bfree []int64) (*callPlan, error) {
	hu := pr.HaircutUnit
	vl := new(big.Rat).Mul(ratInt(a.loanQty), pr.LoanUnit)
	vc := new(big.Rat)
	tmp := new(big.Rat)
	for i, h := range held {
		vc.Add(vc, tmp.Mul(ratInt(h), hu[i]))
	}
	gap := new(big.Rat).Sub(vc, vl)
	size := new(big.Rat).Abs(gap)
	// β = 0 margins daily: every check is a call, even when g == 0 (|g| > 0 would miss it).
	triggered := a.threshold.Sign() == 0 || size.Cmp(new(big.Rat).Mul(a.threshold, vl)) > 0
	if triggered && a.minTransfer.Sign() != 0 {
		triggered = size.Cmp(a.minTransfer) >= 0
	}

	plan := &callPlan{result: &CallResult{
		Date: pr.Date, Prices: pr.Prices, FX: pr.FX, VL: vl, VCBefore: vc, GapBefore: gap,
		Triggered: triggered, Transfers: []Transfer{}, IssuanceRequired: []IssuanceRequired{},
		Mints: []Mint{}, Skipped: []SkippedToken{}, Breaches: []Breach{},
	}}
	sched := a.schedule
	var now []int64 // held positions including this call's moves so far (caps only)
	if sched != nil && len(sched.groups) > 0 {
		now = append([]int64{}, held...)
	}
	gapAfter := new(big.Rat).Set(gap)
	if triggered && gap.Sign() != 0 {
		shortfall := gap.Sign() < 0
		rest := new(big.Rat).Set(size)
		order, have, party := a.correctiveOrder(pr, held), held, Lender
		plan.direction = LenderToBorrower
		if shortfall {
			order, have, party = a.shortfallOrder, bfree, Borrower
			plan.direction = BorrowerToLender
		}
		exhausted := true
		for _, i := range order {
			if shortfall && sched != nil && sched.reasons[i] != "" {
				plan.result.Skipped = append(plan.result.Skipped, SkippedToken{a.collateral[i].ID, SkipIneligible})
				continue
			}
			var want *big.Int
			if shortfall {
				want = ceilDiv(rest, hu[i])
			} else {
				want = floorDiv(rest, hu[i])
			}
			var qty int64
			switch {
			case big.NewInt(have[i]).Cmp(want) >= 0:
				qty = want.Int64() // want <= have[i], so it fits
			case have[i] > 0:
				qty = have[i]
			}
			if shortfall && now != nil {
				if limit := a.capLimit(i, pr.Unit, now); limit != nil && limit.Cmp(big.NewInt(qty)) < 0 {
					qty = limit.Int64() // 0 <= limit < qty
					plan.result.Skipped = append(plan.result.Skipped, SkippedToken{a.collateral[i].ID, SkipCap})
				}
				var err error
				if now[i], err = addInt64(now[i], qty, "held "+a.collateral[i].ID); err != nil {
					return nil, err
				}
			}
			if qty != 0 {
				plan.moves = append(plan.moves, plannedMove{i, qty})
				rest.Sub(rest, tmp.Mul(ratInt(qty), hu[i]))
			}
			if big.NewInt(qty).Cmp(want) == 0 {
				exhausted = false
				break
			}
		}
		if exhausted {
			plan.result.IssuanceRequired = append(plan.result.IssuanceRequired,
				IssuanceRequired{Party: party, Value: new(big.Rat).Set(rest)})
			if a.autoIssue && (!shortfall || sched == nil || sched.reasons[0] == "") {
				ct1 := a.collateral[0].ID
				var m *big.Int
				if shortfall {
					m = ceilDiv(rest, hu[0])
				} else {
					m = floorDiv(rest, hu[0])
				}
				if m.Cmp(maxInt64) > 0 {
					return nil, errorf(ErrOverflow, "auto-issued quantity of %s: %s does not fit 64 bits", ct1, m)
				}
				plan.minted = m.Int64()
				found := false
				for k := range plan.moves {
					if plan.moves[k].index == 0 {
						total, err := addInt64(plan.moves[k].qty, plan.minted, "transfer of "+ct1)
						if err != nil {
							return nil, err
						}
						plan.moves[k].qty, found = total, true
					}
				}
				if !found {
					plan.moves = append(plan.moves, plannedMove{0, plan.minted})
				}
				rest.Sub(rest, tmp.Mul(ratInt(plan.minted), hu[0]))
				plan.result.Mints = append(plan.result.Mints, Mint{Party: party, Token: ct1, Quantity: plan.minted})
			}
		}
		if shortfall {
			gapAfter.Neg(rest)
		} else {
			gapAfter.Set(rest)
		}
	}
	if now != nil {
		// the concentration after the call: the positions the call started from plus its moves
		after := append([]int64{}, held...)
		for _, mv := range plan.moves {
			var err error
			if plan.direction == BorrowerToLender {
				after[mv.index], err = addInt64(after[mv.index], mv.qty, "held "+a.collateral[mv.index].ID)
			} else {
				after[mv.index], err = subInt64(after[mv.index], mv.qty, "held "+a.collateral[mv.index].ID)
			}
			if err != nil {
				return nil, err
			}
		}
		plan.result.Breaches = Concentration(a, pr, after)
	}
	for _, mv := range plan.moves {
		q := ratInt(mv.qty)
		plan.result.Transfers = append(plan.result.Transfers, Transfer{
			Token: a.collateral[mv.index].ID, Quantity: mv.qty, Direction: plan.direction,
			Value: new(big.Rat).Mul(q, hu[mv.index]), MarketValue: new(big.Rat).Mul(q, pr.Unit[mv.index]),
		})
	}
	plan.result.GapAfter = gapAfter
	plan.result.VCAfter = new(big.Rat).Add(gapAfter, vl)
	return plan, nil
}

// ComputeCall runs the margin call of agreement a on m's date from positions p (validated
// first). It is pure: nothing is changed; see ApplyCall and Book for applying the result.
func ComputeCall(a *Agreement, m *Market, p Positions) (*CallResult, error) {
	if a == nil || m == nil {
		return nil, errorf(ErrInvalidInput, "no agreement or no market")
	}
	held, bfree, _, err := a.positionVectors(p)
	if err != nil {
		return nil, err
	}
	pr, err := PriceAgreement(a, m)
	if err != nil {
		return nil, err
	}
	plan, err := planCall(a, pr, held, bfree)
	if err != nil {
		return nil, err
	}
	return plan.result, nil
}

// moveQty applies one settled transfer to position vectors, debiting the source first.
func moveQty(held, bfree []int64, i int, qty int64, d Direction, token string) error {
	var err error
	if d == BorrowerToLender {
		if bfree[i], err = subInt64(bfree[i], qty, "borrower free "+token); err != nil {
			return err
		}
		held[i], err = addInt64(held[i], qty, "held "+token)
		return err
	}
	if held[i], err = subInt64(held[i], qty, "held "+token); err != nil {
		return err
	}
	bfree[i], err = addInt64(bfree[i], qty, "borrower free "+token)
	return err
}

// ApplyCall returns the positions after r settles immediately (lag 0): mints credited to the
// minted party's free balance, then the transfers in order. p is not modified.
func ApplyCall(a *Agreement, p Positions, r *CallResult) (Positions, error) {
	if a == nil || r == nil {
		return Positions{}, errorf(ErrInvalidInput, "no agreement or no call result")
	}
	held, bfree, lfree, err := a.positionVectors(p)
	if err != nil {
		return Positions{}, err
	}
	for _, m := range r.Mints {
		i, ok := a.index[m.Token]
		if !ok {
			return Positions{}, errorf(ErrInvalidInput, "mint of %q, not a collateral token", m.Token)
		}
		free := lfree
		if m.Party == Borrower {
			free = bfree
		}
		if free[i], err = addInt64(free[i], m.Quantity, string(m.Party)+" free "+m.Token); err != nil {
			return Positions{}, err
		}
	}
	for _, t := range r.Transfers {
		i, ok := a.index[t.Token]
		if !ok {
			return Positions{}, errorf(ErrInvalidInput, "transfer of %q, not a collateral token", t.Token)
		}
		if err := moveQty(held, bfree, i, t.Quantity, t.Direction, t.Token); err != nil {
			return Positions{}, err
		}
	}
	return a.positionsOf(held, bfree, lfree), nil
}
