package contracts

import (
	"encoding/json"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"tanpo/chaincode/margin"
)

// Fuzz targets for the argument parsers (amounts, decimals, dates, identifiers, party names,
// JSON; the chaincode's and the margin engine's) and for the margin engine's call. Besides "no panic" and "same input, same
// bytes", they check the properties the rest of the code relies on: what the chaincode accepts
// and stores in canonical form reads back the same, and every value the chaincode accepts is
// accepted with the same value by the engine it hands it to.

func FuzzArgumentParsers(f *testing.F) {
	for _, s := range []string{"1", "100", "9223372036854775807", "9223372036854775808", "0", "01", "-1", "+1", "1e3",
		"98.811", "101.2500", "0.05", "0.999999", "1.0", "00.5", ".5", "5.", "1/3", "NaN", "１", "٣",
		"2024-02-29", "2023-02-29", "0000-01-01", "9999-12-31", "2024-1-01", "AGR-1", "JP8306", "a.b_c-d", "-x",
		strings.Repeat("9", 41), "bank-a", "bank-zz9", "BankAMSP", "BankC2MSP", "OperatorMSP", "bank-", "Bank-AMSP",
		`{"a":1}`, `{"a":1}{}`, "[1,2]", `{"id":"X","kind":"CT","currency":"EUR"}`, "\x00", "\xff", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if q, err := parseQuantity("q", s); err == nil {
			if q <= 0 || formatQuantity(q) != s {
				t.Fatalf("parseQuantity(%q) = %d: not the canonical positive integer", s, q)
			}
			if q2, err2 := parseNonNegativeQuantity("q", s); err2 != nil || q2 != q {
				t.Fatalf("parseNonNegativeQuantity(%q) disagrees: %d %v", s, q2, err2)
			}
		} else if !strings.HasPrefix(err.Error(), "invalid q") {
			t.Fatalf("parseQuantity(%q): error does not name the field: %v", s, err)
		}
		if r, c, err := parseDecimal("d", s); err == nil {
			if len(s) > maxDecimalLen || r.Sign() < 0 || strings.HasSuffix(c, "0") && strings.Contains(c, ".") || strings.HasSuffix(c, ".") {
				t.Fatalf("parseDecimal(%q) = %s %q", s, r.RatString(), c)
			}
			r2, c2, err2 := parseDecimal("d", c)
			if err2 != nil || c2 != c || r2.Cmp(r) != 0 {
				t.Fatalf("the canonical %q of %q does not read back: %q %v", c, s, c2, err2)
			}
			want, ok := new(big.Rat).SetString(s)
			if !ok || want.Cmp(r) != 0 {
				t.Fatalf("parseDecimal(%q) = %s, big.Rat says %v", s, r.RatString(), want)
			}
			// the engine reads what the chaincode stores, with the same value
			e, err := margin.ParseDecimal(c, "d")
			if err != nil || e.Cmp(r) != 0 {
				t.Fatalf("the engine reads the stored %q as %v (%v)", c, e, err)
			}
			if f, _, err := parseFraction("f", s); err == nil && (f.Sign() < 0 || f.Cmp(big.NewRat(1, 1)) >= 0) {
				t.Fatalf("parseFraction(%q) = %s", s, f.RatString())
			}
		}
		if n, err := parsePageSize(s); err == nil && (n < 1 || n > maxPageSize) {
			t.Fatalf("parsePageSize(%q) = %d", s, n)
		}
		if d, err := parseDate("d", s); err == nil {
			if d.Format(isoDate) != s {
				t.Fatalf("parseDate(%q) reads %s", s, d.Format(isoDate))
			}
			if d.Year() >= 1 {
				if _, err := margin.ParseDate(s); err != nil {
					t.Fatalf("the engine refuses the date %q the chaincode accepts: %v", s, err)
				}
			}
		}
		if validateIdentifier("id", s) == nil {
			if _, err := margin.CheckToken(margin.Token{ID: s, Kind: margin.KindCT, Currency: "JPY"}); err != nil {
				t.Fatalf("the engine refuses the token id %q the chaincode accepts: %v", s, err)
			}
			if _, err := createKey(keyToken, s); err != nil {
				t.Fatalf("identifier %q makes no key: %v", s, err)
			}
		}
		if validateBankParty("p", s) == nil {
			if m, ok := mspForParty(s); !ok {
				t.Fatalf("bank party %q has no MSP", s)
			} else if p, ok := partyForMSP(m); !ok || p != s {
				t.Fatalf("%q -> %q -> %q", s, m, p)
			}
		}
		if p, ok := partyForMSP(s); ok {
			if m, ok := mspForParty(p); !ok || m != s {
				t.Fatalf("MSP %q -> %q -> %q", s, p, m)
			}
		}
		if err := validateText("t", s, 1024, false); err == nil && (!utf8.ValidString(s) || len(s) > 1024) {
			t.Fatalf("validateText accepted %q", s)
		}
		for _, out := range []any{&Terms{}, &TokenSpec{}, &PriceBatch{}, &map[string]any{}} {
			a, b := reflect.New(reflect.TypeOf(out).Elem()).Interface(), reflect.New(reflect.TypeOf(out).Elem()).Interface()
			errA, errB := strictJSON("j", s, 4096, a), strictJSON("j", s, 4096, b)
			if (errA == nil) != (errB == nil) || (errA != nil && errA.Error() != errB.Error()) || !reflect.DeepEqual(a, b) {
				t.Fatalf("strictJSON(%q) is not deterministic", s)
			}
			if errA == nil && !json.Valid([]byte(s)) {
				t.Fatalf("strictJSON accepted invalid JSON %q", s)
			}
		}
		if _, err := parseTokenSpec(s); err == nil && !json.Valid([]byte(s)) {
			t.Fatalf("parseTokenSpec accepted %q", s)
		}
		checkEngineParsers(t, s)
	})
}

// checkEngineParsers: the engine's parsers of decimals, dates, FX pairs and a day's market are
// deterministic, read back what they print, and fail only with a classified error.
func checkEngineParsers(t *testing.T, s string) {
	r1, err1 := margin.ParseDecimal(s, "x")
	r2, err2 := margin.ParseDecimal(s, "x")
	if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) || (err1 == nil && r1.Cmp(r2) != 0) {
		t.Fatalf("ParseDecimal(%q) is not deterministic", s)
	}
	if err1 == nil {
		back, err := margin.ParseDecimal(margin.FormatRat(r1), "x")
		if err != nil || back.Cmp(r1) != 0 {
			t.Fatalf("ParseDecimal(%q) = %s does not read back: %v", s, margin.FormatRat(r1), err)
		}
	} else if margin.KindOf(err1) != margin.ErrInvalidNumber {
		t.Fatalf("ParseDecimal(%q): error kind %q", s, margin.KindOf(err1))
	}
	if d, err := margin.ParseDate(s); err == nil && d.Format(isoDate) != s {
		t.Fatalf("ParseDate(%q) reads %s", s, d.Format(isoDate))
	}
	if b, q, err := margin.ParsePair(s); err == nil && (b+q != s || b == q) {
		t.Fatalf("ParsePair(%q) = %s %s", s, b, q)
	}
	// the string as a price, as an FX rate, as an FX pair and as the date of a market
	for _, in := range []struct {
		date          string
		prices, rates map[string]string
	}{
		{"2025-06-02", map[string]string{"A": s, "B": "1"}, map[string]string{"USDJPY": "150"}},
		{"2025-06-02", map[string]string{"A": "1"}, map[string]string{"USDJPY": s, "EURUSD": "1.1"}},
		{"2025-06-02", map[string]string{s: "2"}, map[string]string{s: "1.5", "EURUSD": "1.1"}},
		{s, map[string]string{"A": "1"}, nil},
	} {
		m1, err1 := margin.NewMarket(in.date, in.prices, in.rates)
		m2, err2 := margin.NewMarket(in.date, in.prices, in.rates)
		if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
			t.Fatalf("NewMarket is not deterministic: %v / %v", err1, err2)
		}
		if err1 != nil {
			if margin.KindOf(err1) == "" {
				t.Fatalf("NewMarket: an error without a kind: %v", err1)
			}
			continue
		}
		for _, ccy := range []string{"USD", "JPY", "EUR", s[:min(3, len(s))]} {
			a, errA := m1.Rate(ccy, "JPY")
			b, errB := m2.Rate(ccy, "JPY")
			if (errA == nil) != (errB == nil) || (errA == nil && a.Cmp(b) != 0) || (errA != nil && errA.Error() != errB.Error()) {
				t.Fatalf("Rate(%s, JPY) is not deterministic", ccy)
			}
			if errA == nil && a.Sign() <= 0 {
				t.Fatalf("Rate(%s, JPY) = %s", ccy, a.RatString())
			}
		}
	}
}

// FuzzEngineCall runs the margin call on fuzzed terms, prices and positions: a loan of a USD
// security (optionally quoted per cent of par) against a JPY stock (CT1) and a JPY cash token
// (CT2), base JPY. Checked: determinism, g ≥ 0 after a triggered call unless the borrower ran out
// without auto-issue, deliveries within what the borrower has (plus mints), returns within what
// is held (plus mints), and that applying the result moves exactly the call's quantities and
// leaves collateral worth V_C after.
func FuzzEngineCall(f *testing.F) {
	f.Add(int64(1000), int64(2000), int64(500000), int64(100000), int64(100000), int64(0), "200", "1000", "150", "0.05", "", "0", "0", false, false, false, uint8(0))
	f.Add(int64(1000000), int64(22275), int64(0), int64(100), int64(0), int64(0), "101.25", "50.40", "1.105", "0", "0.02", "0.02", "1000", true, true, true, uint8(1))
	f.Add(int64(1), int64(-5), int64(7), int64(0), int64(0), int64(3), "0.0001", "99999", "1/3", "0.999999", "0.5", "0", "0", true, true, false, uint8(2))
	f.Add(int64(9223372036854775807), int64(9223372036854775807), int64(-9223372036854775808), int64(9223372036854775807), int64(1), int64(1), "99999999999999999999", "0.0000001", "1", "0", "0", "0", "0", false, true, false, uint8(0))
	f.Fuzz(func(t *testing.T, loanQty, held1, held2, bfree1, bfree2, lfree1 int64, loanPrice, p1, fx, haircut, h2, threshold, mta string,
		single, autoIssue, pct bool, lag uint8) {
		quote := margin.QuotePerUnit
		if pct {
			quote = margin.QuotePercentOfPar
		}
		tokens := []margin.Token{{ID: "LOAN", Kind: margin.KindST, Currency: "USD", Quote: quote},
			{ID: "C1", Kind: margin.KindST, Currency: "JPY"}, {ID: "C2", Kind: margin.KindCT, Currency: "JPY"}}
		mode := margin.ModeMulti
		if single {
			mode = margin.ModeSingle
		}
		terms := margin.Terms{Base: "JPY", Loan: margin.LoanLeg{Token: "LOAN", Quantity: loanQty}, Collateral: []string{"C1", "C2"},
			Mode: mode, Haircut: haircut, Haircuts: map[string]string{}, Threshold: threshold, MinTransfer: mta,
			LagDays: int(lag % 4), AutoIssue: autoIssue}
		if h2 != "" {
			terms.Haircuts["C2"] = h2
		}
		a, err := margin.NewAgreement(tokens, terms)
		if err != nil {
			return
		}
		m, err := margin.NewMarket("2025-06-02", map[string]string{"LOAN": loanPrice, "C1": p1}, map[string]string{"USDJPY": fx})
		if err != nil {
			return
		}
		pos := margin.Positions{Held: map[string]int64{"C1": held1, "C2": held2},
			BorrowerFree: map[string]int64{"C1": bfree1, "C2": bfree2}, LenderFree: map[string]int64{"C1": lfree1}}
		r1, err1 := margin.ComputeCall(a, m, pos)
		r2, err2 := margin.ComputeCall(a, m, pos)
		j1, _ := json.Marshal(r1)
		j2, _ := json.Marshal(r2)
		if (err1 == nil) != (err2 == nil) || string(j1) != string(j2) || (err1 != nil && err1.Error() != err2.Error()) {
			t.Fatalf("ComputeCall is not deterministic:\n%s %v\n%s %v", j1, err1, j2, err2)
		}
		if err1 != nil {
			if margin.KindOf(err1) == "" {
				t.Fatalf("ComputeCall: an error without a kind: %v", err1)
			}
			return
		}
		r := r1
		if r.VCAfter.Cmp(new(big.Rat).Add(r.VL, r.GapAfter)) != 0 || r.GapBefore.Cmp(new(big.Rat).Sub(r.VCBefore, r.VL)) != 0 {
			t.Fatalf("V_C, V_L and g disagree: %s", j1)
		}
		borrowerShort := false
		for _, ir := range r.IssuanceRequired {
			if ir.Party == margin.Borrower {
				borrowerShort = true
			}
		}
		if r.Triggered && r.GapAfter.Sign() < 0 && !(borrowerShort && !autoIssue) {
			t.Fatalf("g = %s < 0 after a triggered call: %s", r.GapAfter.RatString(), j1)
		}
		if !r.Triggered && len(r.Transfers)+len(r.Mints) != 0 {
			t.Fatalf("not triggered but moved: %s", j1)
		}
		minted := map[string]int64{}
		for _, mt := range r.Mints {
			if !autoIssue || mt.Token != "C1" || mt.Quantity <= 0 {
				t.Fatalf("unexpected mint %+v", mt)
			}
			minted[mt.Token] += mt.Quantity
		}
		for _, tr := range r.Transfers {
			if tr.Quantity <= 0 || (single && tr.Token != "C1") {
				t.Fatalf("bad transfer %+v", tr)
			}
			if tr.Direction == margin.BorrowerToLender {
				if r.GapBefore.Sign() >= 0 || big.NewInt(tr.Quantity).Cmp(new(big.Int).Add(big.NewInt(pos.BorrowerFree[tr.Token]), big.NewInt(minted[tr.Token]))) > 0 {
					t.Fatalf("delivery %+v beyond the borrower's %d (+%d minted), gap %s", tr, pos.BorrowerFree[tr.Token], minted[tr.Token], r.GapBefore.RatString())
				}
			} else if r.GapBefore.Sign() <= 0 || big.NewInt(tr.Quantity).Cmp(new(big.Int).Add(big.NewInt(max(pos.Held[tr.Token], 0)), big.NewInt(minted[tr.Token]))) > 0 {
				t.Fatalf("return %+v beyond the %d held (+%d minted), gap %s", tr, pos.Held[tr.Token], minted[tr.Token], r.GapBefore.RatString())
			}
		}
		after, err := margin.ApplyCall(a, pos, r)
		if err != nil {
			if margin.KindOf(err) != margin.ErrOverflow {
				t.Fatalf("ApplyCall: %v", err)
			}
			return
		}
		pr, err := margin.PriceAgreement(a, m)
		if err != nil {
			t.Fatalf("PriceAgreement after a successful call: %v", err)
		}
		vc := new(big.Rat)
		for i, id := range []string{"C1", "C2"} {
			vc.Add(vc, new(big.Rat).Mul(big.NewRat(after.Held[id], 1), pr.HaircutUnit[i]))
			total := func(p margin.Positions) *big.Int {
				s := big.NewInt(p.Held[id])
				s.Add(s, big.NewInt(p.BorrowerFree[id]))
				return s.Add(s, big.NewInt(p.LenderFree[id]))
			}
			if want := new(big.Int).Add(total(pos), big.NewInt(minted[id])); total(after).Cmp(want) != 0 {
				t.Fatalf("%s: %s units after the call, want %s (mints only)", id, total(after), want)
			}
		}
		if vc.Cmp(r.VCAfter) != 0 {
			t.Fatalf("the applied positions are worth %s, the call says V_C after = %s", vc.RatString(), r.VCAfter.RatString())
		}
		// the same day through a Book (lagged or not) decides the same call
		book, err := margin.NewBook(a, pos)
		if err != nil {
			t.Fatalf("NewBook: %v", err)
		}
		day, err := book.ApplyDay(m)
		if err != nil {
			if margin.KindOf(err) != margin.ErrOverflow {
				t.Fatalf("ApplyDay: %v", err)
			}
			return
		}
		jd, _ := json.Marshal(day.CallResult)
		if string(jd) != string(j1) {
			t.Fatalf("a Book decides differently:\n%s\n%s", jd, j1)
		}
	})
}
