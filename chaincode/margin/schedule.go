package margin

import (
	"math/big"
	"regexp"
	"strings"
)

// Eligibility schedules and concentration limits (vectors/README.md, "Eligibility schedules").
// An agreement without a schedule behaves exactly as one whose schedule is empty: every
// collateral token is eligible and nothing is capped.

// Ratings is the rating scale, best first (S&P style). "" means unrated.
var Ratings = []string{"AAA", "AA+", "AA", "AA-", "A+", "A", "A-", "BBB+", "BBB", "BBB-",
	"BB+", "BB", "BB-", "B+", "B", "B-", "CCC+", "CCC", "CCC-", "CC", "C", "D"}

var ratingRank = func() map[string]int {
	m := map[string]int{}
	for i, r := range Ratings {
		m[r] = i
	}
	return m
}()

// Cap groupings.
const (
	CapByIssuer     = "issuer"
	CapByAssetClass = "assetClass"
	CapByToken      = "token"
)

// Reasons a token is passed over in a shortfall (SkippedToken.Reason).
const (
	SkipIneligible = "ineligible"
	SkipCap        = "cap"
)

// Reasons Eligibility gives for an ineligible token.
const (
	ReasonNotCollateral = "not-collateral"
	ReasonAssetClass    = "asset-class"
	ReasonCurrency      = "currency"
	ReasonUnrated       = "unrated"
	ReasonRating        = "rating"
)

// CashClass is the asset class exempt from the minimum-rating rule.
const CashClass = "cash"

// Schedule is an agreement's eligibility schedule. Empty lists mean "any". Haircuts maps
// "token:<id>" or "class:<assetClass>" to a haircut in [0,1); Caps are concentration limits.
type Schedule struct {
	AssetClasses []string          `json:"assetClasses,omitempty"`
	Currencies   []string          `json:"currencies,omitempty"`
	MinRating    string            `json:"minRating,omitempty"`
	Haircuts     map[string]string `json:"haircuts,omitempty"`
	Caps         []Cap             `json:"caps,omitempty"`
}

// Cap limits the share of the held collateral's market value one group may have: By is
// "issuer", "assetClass" or "token"; Key names the group ("" = every group of that kind); Max is
// a fraction in (0,1].
type Cap struct {
	By  string `json:"by"`
	Key string `json:"key,omitempty"`
	Max string `json:"max"`
}

// Breach is a cap group whose share of the held collateral's market value exceeds its Max.
type Breach struct {
	By    string   `json:"by"`
	Key   string   `json:"key"`
	Share *big.Rat `json:"share"`
	Max   *big.Rat `json:"max"`
}

// SkippedToken is a token a shortfall call passed over (Reason "ineligible") or delivered less of
// than it could because of a cap (Reason "cap").
type SkippedToken struct {
	Token  string `json:"token"`
	Reason string `json:"reason"`
}

// capGroup is one group of one cap: the collateral indexes it contains.
type capGroup struct {
	by, key string
	max     *big.Rat
	members []int
}

// schedule is a parsed Schedule: eligibility by collateral index and the cap groups (caps in
// list order, the groups of a cap in key order); tokenGroups[i] lists the groups token i is in.
type schedule struct {
	reasons     []string // "" = eligible
	groups      []capGroup
	tokenGroups [][]int
}

// attrRe is an asset class, issuer or cap key: printable text (an issuer's name has spaces).
var attrRe = regexp.MustCompile(`^[^\x00-\x1f\x7f]{1,128}$`)

// checkAttr checks an asset class, issuer or cap key: "" or 1-128 characters without control
// characters.
func checkAttr(value, what string) error {
	if value != "" && !attrRe.MatchString(value) {
		return errorf(ErrInvalidInput, "%s %q is not 1-128 characters without control characters", what, value)
	}
	return nil
}

// checkTokenAttrs validates a token's optional asset class, rating and issuer.
func checkTokenAttrs(t Token) error {
	if err := checkAttr(t.AssetClass, "token "+t.ID+": asset class"); err != nil {
		return err
	}
	if _, ok := ratingRank[t.Rating]; t.Rating != "" && !ok {
		return errorf(ErrInvalidInput, "token %s: rating %q is not on the rating scale", t.ID, t.Rating)
	}
	return checkAttr(t.Issuer, "token "+t.ID+": issuer")
}

// attrOf is token t's value for a cap grouping.
func attrOf(t Token, by string) string {
	switch by {
	case CapByIssuer:
		return t.Issuer
	case CapByAssetClass:
		return t.AssetClass
	}
	return t.ID
}

// parseSchedule validates s against the agreement's collateral (checks in the order of
// vectors/README.md: asset classes, currencies, minimum rating, haircuts by sorted key, caps in
// list order — by, key, max) and returns the parsed schedule and the schedule haircut of each
// collateral token (nil where the schedule sets none).
func (a *Agreement) parseSchedule(s *Schedule) (*schedule, []*big.Rat, error) {
	for _, c := range s.AssetClasses {
		if c == "" {
			return nil, nil, errorf(ErrInvalidInput, "schedule: empty asset class")
		}
		if err := checkAttr(c, "schedule: asset class"); err != nil {
			return nil, nil, err
		}
	}
	for _, c := range s.Currencies {
		if !currencyRe.MatchString(c) {
			return nil, nil, errorf(ErrInvalidInput, "schedule: currency %q is not a 3-letter code", c)
		}
	}
	minRank, rated := 0, s.MinRating != ""
	if rated {
		r, ok := ratingRank[s.MinRating]
		if !ok {
			return nil, nil, errorf(ErrInvalidInput, "schedule: minimum rating %q is not on the rating scale", s.MinRating)
		}
		minRank = r
	}
	one := big.NewRat(1, 1)
	byToken, byClass := map[string]*big.Rat{}, map[string]*big.Rat{}
	for _, k := range sortedKeys(s.Haircuts) {
		var target map[string]*big.Rat
		name, ok := strings.CutPrefix(k, "token:")
		if ok {
			if _, found := a.index[name]; !found {
				return nil, nil, errorf(ErrInvalidInput, "schedule haircut %q: %q is not a collateral token", k, name)
			}
			target = byToken
		} else if name, ok = strings.CutPrefix(k, "class:"); ok && attrRe.MatchString(name) {
			target = byClass
		} else {
			return nil, nil, errorf(ErrInvalidInput, "schedule haircut key %q is not token:<id> or class:<assetClass>", k)
		}
		h, err := fractionIn(s.Haircuts[k], "schedule haircut "+k, one)
		if err != nil {
			return nil, nil, err
		}
		target[name] = h
	}
	sc := &schedule{tokenGroups: make([][]int, len(a.collateral))}
	for n, c := range s.Caps {
		if c.By != CapByIssuer && c.By != CapByAssetClass && c.By != CapByToken {
			return nil, nil, errorf(ErrInvalidInput, "schedule cap %d: by %q is not issuer, assetClass or token", n, c.By)
		}
		if c.By == CapByToken && c.Key != "" {
			if _, ok := a.index[c.Key]; !ok {
				return nil, nil, errorf(ErrInvalidInput, "schedule cap %d: %q is not a collateral token", n, c.Key)
			}
		} else if err := checkAttr(c.Key, "schedule cap key"); err != nil {
			return nil, nil, err
		}
		limit, err := ParseDecimal(c.Max, "schedule cap max")
		if err != nil {
			return nil, nil, err
		}
		if limit.Sign() <= 0 || limit.Cmp(one) > 0 {
			return nil, nil, errorf(ErrOutOfRange, "schedule cap %d: max %s is outside (0, 1]", n, limit.RatString())
		}
		members := map[string][]int{}
		for i, t := range a.collateral {
			if k := attrOf(t, c.By); k != "" && (c.Key == "" || k == c.Key) {
				members[k] = append(members[k], i)
			}
		}
		if c.Key != "" && members[c.Key] == nil {
			members[c.Key] = []int{}
		}
		for _, k := range sortedKeys(members) {
			for _, i := range members[k] {
				sc.tokenGroups[i] = append(sc.tokenGroups[i], len(sc.groups))
			}
			sc.groups = append(sc.groups, capGroup{by: c.By, key: k, max: limit, members: members[k]})
		}
	}
	classes := keySet(s.AssetClasses...)
	currencies := keySet(s.Currencies...)
	hcs := make([]*big.Rat, len(a.collateral))
	for _, t := range a.collateral {
		reason := ""
		switch {
		case len(classes) > 0 && !classes[t.AssetClass]:
			reason = ReasonAssetClass
		case len(currencies) > 0 && !currencies[t.Currency]:
			reason = ReasonCurrency
		case rated && t.AssetClass != CashClass && t.Rating == "":
			reason = ReasonUnrated
		case rated && t.AssetClass != CashClass && ratingRank[t.Rating] > minRank:
			reason = ReasonRating
		}
		sc.reasons = append(sc.reasons, reason)
		i := a.index[t.ID]
		if h, ok := byToken[t.ID]; ok {
			hcs[i] = h
		} else if h, ok := byClass[t.AssetClass]; ok && t.AssetClass != "" {
			hcs[i] = h
		}
	}
	return sc, hcs, nil
}

// Eligibility says whether tokenID may be delivered as collateral under a, and if not why:
// "not-collateral" (not in the agreement's collateral list), "asset-class", "currency",
// "unrated" or "rating" (below the schedule's minimum; cash is exempt).
func Eligibility(a *Agreement, tokenID string) (ok bool, reason string) {
	if a == nil {
		return false, ReasonNotCollateral
	}
	i, found := a.index[tokenID]
	if !found {
		return false, ReasonNotCollateral
	}
	if a.schedule == nil || a.schedule.reasons[i] == "" {
		return true, ""
	}
	return false, a.schedule.reasons[i]
}

// marketValues returns each held position's market value (positions floored at 0) and their sum.
func marketValues(unit []*big.Rat, held []int64) ([]*big.Rat, *big.Rat) {
	vals := make([]*big.Rat, len(held))
	total := new(big.Rat)
	for i, h := range held {
		vals[i] = new(big.Rat)
		if h > 0 {
			vals[i].Mul(ratInt(h), unit[i])
			total.Add(total, vals[i])
		}
	}
	return vals, total
}

func groupValue(g capGroup, vals []*big.Rat) *big.Rat {
	sum := new(big.Rat)
	for _, i := range g.members {
		sum.Add(sum, vals[i])
	}
	return sum
}

// correctiveOrder is the order an excess call returns collateral in under a schedule: the tokens
// the schedule no longer admits and those of cap groups over their limit (on the positions the
// call starts from) come back first, each part in the usual reverse priority order, so that a call
// corrects what prices or a changed schedule broke where it can. Single mode returns CT1 only, as
// ever.
func (a *Agreement) correctiveOrder(pricing *Pricing, held []int64) []int {
	if a.schedule == nil {
		return a.excessOrder
	}
	over := make([]bool, len(a.collateral))
	for i, r := range a.schedule.reasons {
		over[i] = r != ""
	}
	vals, total := marketValues(pricing.Unit, held)
	if total.Sign() > 0 {
		for _, g := range a.schedule.groups {
			share := groupValue(g, vals)
			if share.Quo(share, total).Cmp(g.max) > 0 {
				for _, i := range g.members {
					over[i] = true
				}
			}
		}
	}
	first, rest := []int{}, []int{}
	for _, i := range a.excessOrder {
		if over[i] {
			first = append(first, i)
		} else {
			rest = append(rest, i)
		}
	}
	return append(first, rest...)
}

// Concentration lists every cap group whose share of the held collateral's market value
// (Σ quantity × unit value, positions in priority order floored at 0) exceeds its Max, in the
// order of the schedule's caps and, within a cap, of group keys. Nothing is breached when the
// agreement has no caps or nothing is held.
func Concentration(a *Agreement, pricing *Pricing, held []int64) []Breach {
	out := []Breach{}
	if a == nil || a.schedule == nil || pricing == nil || len(held) != len(pricing.Unit) {
		return out
	}
	vals, total := marketValues(pricing.Unit, held)
	if total.Sign() == 0 {
		return out
	}
	for _, g := range a.schedule.groups {
		share := groupValue(g, vals)
		share.Quo(share, total)
		if share.Cmp(g.max) > 0 {
			out = append(out, Breach{By: g.by, Key: g.key, Share: share, Max: new(big.Rat).Set(g.max)})
		}
	}
	return out
}

// capLimit is the largest quantity of collateral token i that keeps every cap group containing it
// within its Max: with V the held market value, G the group's, u the token's unit value and c the
// Max, q ≤ floor((c·V − G) / (u·(1 − c))) for c < 1 (0 when c·V < G), no limit for c = 1. nil
// means no limit.
func (a *Agreement) capLimit(i int, unit []*big.Rat, held []int64) *big.Int {
	groups := a.schedule.tokenGroups[i]
	if len(groups) == 0 || unit[i].Sign() <= 0 {
		return nil
	}
	vals, total := marketValues(unit, held)
	one := big.NewRat(1, 1)
	var limit *big.Int
	for _, gi := range groups {
		g := a.schedule.groups[gi]
		if g.max.Cmp(one) >= 0 {
			continue
		}
		room := new(big.Rat).Mul(g.max, total)
		room.Sub(room, groupValue(g, vals))
		q := new(big.Int)
		if room.Sign() > 0 {
			per := new(big.Rat).Sub(one, g.max)
			per.Mul(per, unit[i])
			q = floorDiv(room, per)
		}
		if limit == nil || q.Cmp(limit) < 0 {
			limit = q
		}
	}
	return limit
}
