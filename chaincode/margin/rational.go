package margin

import (
	"math"
	"math/big"
	"regexp"
	"strings"
)

// MaxNumberLen bounds the length of number strings. It keeps exact intermediate results small
// (and the Python engine clear of its int/str conversion limit); real prices are far shorter.
const MaxNumberLen = 50

// MaxRatioLen bounds a ratio's text: long enough for the reduced ratio of any decimal of
// MaxNumberLen characters (a sign, 49 digits, "/", a power of ten of 49 digits), so that every
// value the engines print reads back.
const MaxRatioLen = 2*MaxNumberLen + 1

var (
	decimalRe = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)
	ratioRe   = regexp.MustCompile(`^-?[0-9]+/[0-9]+$`)
)

// ParseDecimal parses "101.25", "-3", "0.05" or "1/3" exactly. The grammar is deliberately small
// (no exponent, no '+', no spaces, no NaN/Inf) and the same in both engines, so they accept and
// reject exactly the same strings; big.Rat.SetString alone would accept more ("1e3", "0x10").
// what names the value in the error message.
func ParseDecimal(text, what string) (*big.Rat, error) {
	limit := MaxNumberLen
	if strings.Contains(text, "/") {
		limit = MaxRatioLen
	}
	if len(text) > limit {
		return nil, errorf(ErrInvalidNumber, "%s: number longer than %d characters", what, limit)
	}
	switch {
	case decimalRe.MatchString(text):
		neg := text[0] == '-'
		body := text
		if neg {
			body = text[1:]
		}
		digits, scale := body, 0
		for i := 0; i < len(body); i++ {
			if body[i] == '.' {
				digits = body[:i] + body[i+1:]
				scale = len(body) - i - 1
				break
			}
		}
		num, _ := new(big.Int).SetString(digits, 10)
		den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
		r := new(big.Rat).SetFrac(num, den)
		if neg {
			r.Neg(r)
		}
		return r, nil
	case ratioRe.MatchString(text):
		r, ok := new(big.Rat).SetString(text)
		if !ok {
			return nil, errorf(ErrInvalidNumber, "%s: %q has a zero denominator", what, text)
		}
		return r, nil
	}
	return nil, errorf(ErrInvalidNumber,
		"%s: %q is not an exact decimal such as '101.25' or a ratio such as '1/3'", what, text)
}

// FormatRat is the canonical text of an exact value: reduced "n" or "n/d" (Python str(Fraction)).
func FormatRat(r *big.Rat) string { return r.RatString() }

var (
	maxInt64 = big.NewInt(math.MaxInt64)
	minInt64 = big.NewInt(math.MinInt64)
)

// addInt64 returns a+b or an overflow error naming what.
func addInt64(a, b int64, what string) (int64, error) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, errorf(ErrOverflow, "%s: %d%+d does not fit a 64-bit quantity", what, a, b)
	}
	return s, nil
}

// subInt64 returns a-b or an overflow error naming what.
func subInt64(a, b int64, what string) (int64, error) {
	s := a - b
	if (b > 0 && s > a) || (b < 0 && s < a) {
		return 0, errorf(ErrOverflow, "%s: %d-(%d) does not fit a 64-bit quantity", what, a, b)
	}
	return s, nil
}

// floorDiv returns floor(x / y) for y > 0.
func floorDiv(x, y *big.Rat) *big.Int {
	q := new(big.Rat).Quo(x, y)
	// big.Int.Div is Euclidean division; with a positive denominator that is the floor.
	return new(big.Int).Div(q.Num(), q.Denom())
}

// ceilDiv returns ceil(x / y) for y > 0.
func ceilDiv(x, y *big.Rat) *big.Int {
	f := floorDiv(new(big.Rat).Neg(x), y)
	return f.Neg(f)
}

func ratInt(n int64) *big.Rat { return new(big.Rat).SetInt64(n) }
