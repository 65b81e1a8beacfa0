package contracts

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"tanpo/chaincode/margin"
)

// Quantities are token counts: integers, carried as decimal strings on the wire and in state,
// held as int64 in memory. Every addition and subtraction is overflow-checked.

const maxQuantityDigits = 19 // len("9223372036854775807")

// parseQuantity parses a strictly positive quantity: ASCII digits only, no sign, no leading zero,
// no exponent, no separators, at most math.MaxInt64.
func parseQuantity(field, s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("invalid %s: empty; expected a positive integer such as \"100\"", field)
	}
	if len(s) > maxQuantityDigits+1 {
		return 0, fmt.Errorf("invalid %s %q: more than %d digits", field, truncate(s, 24), maxQuantityDigits)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("invalid %s %q: expected a positive integer in decimal digits (no sign, decimal point or exponent)", field, s)
		}
	}
	if s[0] == '0' {
		if s == "0" {
			return 0, fmt.Errorf("invalid %s \"0\": must be greater than zero", field)
		}
		return 0, fmt.Errorf("invalid %s %q: leading zeros are not allowed", field, s)
	}
	q, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid %s %q: exceeds the maximum quantity %d", field, s, int64(math.MaxInt64))
	}
	return q, nil
}

// parseNonNegativeQuantity is parseQuantity that also accepts "0".
func parseNonNegativeQuantity(field, s string) (int64, error) {
	if s == "0" {
		return 0, nil
	}
	return parseQuantity(field, s)
}

// parseStoredQuantity parses a signed integer written by this chaincode (state is trusted but is
// still parsed defensively).
func parseStoredQuantity(s string) (int64, error) {
	q, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("corrupt quantity %q in state: %w", truncate(s, 24), err)
	}
	return q, nil
}

func formatQuantity(q int64) string { return strconv.FormatInt(q, 10) }

// addQuantity returns a+b or an error on int64 overflow.
func addQuantity(a, b int64) (int64, error) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, fmt.Errorf("quantity overflow: %d + %d exceeds the int64 range", a, b)
	}
	return a + b, nil
}

// subQuantity returns a-b or an error on int64 overflow.
func subQuantity(a, b int64) (int64, error) {
	if (b < 0 && a > math.MaxInt64+b) || (b > 0 && a < math.MinInt64+b) {
		return 0, fmt.Errorf("quantity overflow: %d - %d exceeds the int64 range", a, b)
	}
	return a - b, nil
}

// Decimals (prices, FX rates, haircuts, thresholds, amounts) are exact: strict decimal strings
// parsed into big.Rat, never floats.

const maxDecimalLen = 40

// parseDecimal parses a non-negative decimal written as digits with an optional fractional part
// ("0", "98.811", "0.05"). It refuses signs, exponents, fractions ("1/3"), separators, leading
// zeros ("007") and a bare point (".5", "5."). It returns the value and its canonical spelling
// (trailing fractional zeros removed: "101.2500" -> "101.25", "5.0" -> "5").
func parseDecimal(field, s string) (*big.Rat, string, error) {
	if s == "" {
		return nil, "", fmt.Errorf("invalid %s: empty; expected a decimal number such as \"98.811\"", field)
	}
	if len(s) > maxDecimalLen {
		return nil, "", fmt.Errorf("invalid %s %q: longer than %d characters", field, truncate(s, 24), maxDecimalLen)
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if intPart == "" || (hasPoint && frac == "") || !allDigits(intPart) || !allDigits(frac) {
		return nil, "", fmt.Errorf("invalid %s %q: expected a decimal number in digits with an optional fractional part (no sign or exponent)", field, s)
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return nil, "", fmt.Errorf("invalid %s %q: leading zeros are not allowed", field, s)
	}
	frac = strings.TrimRight(frac, "0")
	canonical := intPart
	if frac != "" {
		canonical += "." + frac
	}
	r, ok := new(big.Rat).SetString(canonical)
	if !ok {
		return nil, "", fmt.Errorf("invalid %s %q: not a decimal number", field, s)
	}
	return r, canonical, nil
}

// parseSignedDecimal is parseDecimal that also accepts a leading minus sign (benchmark fixings,
// rebate rates and spreads); "-0" is 0.
func parseSignedDecimal(field, s string) (*big.Rat, string, error) {
	body, negative := strings.CutPrefix(s, "-")
	r, c, err := parseDecimal(field, body)
	if err != nil {
		if negative {
			return nil, "", fmt.Errorf("invalid %s %q: expected a decimal number such as \"5.31\" or \"-0.57\"", field, s)
		}
		return nil, "", err
	}
	if negative && r.Sign() != 0 {
		return r.Neg(r), "-" + c, nil
	}
	return r, c, nil
}

// parsePositiveDecimal is parseDecimal that refuses zero.
func parsePositiveDecimal(field, s string) (*big.Rat, string, error) {
	r, c, err := parseDecimal(field, s)
	if err != nil {
		return nil, "", err
	}
	if r.Sign() <= 0 {
		return nil, "", fmt.Errorf("invalid %s %q: must be greater than zero", field, s)
	}
	return r, c, nil
}

// parseFraction parses a value in [0, 1) (haircuts, thresholds): a decimal, or an exact ratio
// "n/d" for a haircut with no finite decimal form (a CDM margin ratio of 1.02 is a haircut of 1/51).
// A ratio's canonical spelling is its reduced form, or the decimal when it has one.
func parseFraction(field, s string) (*big.Rat, string, error) {
	var r *big.Rat
	c := s
	if strings.Contains(s, "/") {
		num, den, _ := strings.Cut(s, "/")
		if len(s) > margin.MaxRatioLen || num == "" || den == "" || !allDigits(num) || !allDigits(den) ||
			(len(num) > 1 && num[0] == '0') || den[0] == '0' {
			return nil, "", fmt.Errorf("invalid %s %q: expected a decimal such as \"0.05\" or a ratio of whole numbers such as \"1/51\"", field, truncate(s, 24))
		}
		r, _ = new(big.Rat).SetString(s)
		c = r.RatString()
		if d := decimalForm(r); d != "" {
			c = d
		}
	} else {
		var err error
		if r, c, err = parseDecimal(field, s); err != nil {
			return nil, "", err
		}
	}
	if r.Cmp(big.NewRat(1, 1)) >= 0 {
		return nil, "", fmt.Errorf("invalid %s %q: must be at least 0 and less than 1", field, s)
	}
	return r, c, nil
}

// decimalForm is r's exact decimal spelling, or "" when its denominator has a prime factor other
// than 2 and 5.
func decimalForm(r *big.Rat) string {
	den := new(big.Int).Set(r.Denom())
	places := 0
	for _, p := range []int64{2, 5} {
		bp, m := big.NewInt(p), new(big.Int)
		for n := 0; ; n++ {
			q, rem := new(big.Int).QuoRem(den, bp, m)
			if rem.Sign() != 0 {
				if n > places {
					places = n
				}
				break
			}
			den = q
		}
	}
	if den.Cmp(big.NewInt(1)) != 0 {
		return ""
	}
	if places == 0 {
		return r.FloatString(0)
	}
	return strings.TrimRight(strings.TrimRight(r.FloatString(places), "0"), ".")
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// truncate shortens s for error messages so that huge inputs do not produce huge errors.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
