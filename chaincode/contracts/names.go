package contracts

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Organisations and parties. Every organisation is one MSP; its party id follows from the MSP id:
//
//	OperatorMSP      <-> operator
//	Bank<X>MSP       <-> bank-<x>     (X: upper-case letters and digits; x: the same in lower case)
//
// so BankAMSP is bank-a, BankBMSP is bank-b, BankC2MSP is bank-c2. The mapping is a bijection, which
// lets the chaincode name the MSPs whose peers must endorse changes to an agreement.
const (
	OperatorMSP   = "OperatorMSP"
	OperatorParty = "operator"
)

var (
	bankMSPPattern   = regexp.MustCompile(`^Bank([A-Z0-9]{1,16})MSP$`)
	bankPartyPattern = regexp.MustCompile(`^bank-([a-z0-9]{1,16})$`)
	// identifiers chosen by users: tokens, agreements
	identifierPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	currencyPattern   = regexp.MustCompile(`^[A-Z]{3}$`)
	isinPattern       = regexp.MustCompile(`^[A-Z]{2}[A-Z0-9]{9}[0-9]$`)
	fxPairPattern     = regexp.MustCompile(`^([A-Z]{3})([A-Z]{3})$`)
	datePattern       = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	txIDPattern       = regexp.MustCompile(`^[0-9A-Za-z]{1,128}$`)
)

// partyForMSP returns the party id of an organisation's MSP.
func partyForMSP(mspID string) (string, bool) {
	if mspID == OperatorMSP {
		return OperatorParty, true
	}
	if m := bankMSPPattern.FindStringSubmatch(mspID); m != nil {
		return "bank-" + strings.ToLower(m[1]), true
	}
	return "", false
}

// mspForParty returns the MSP id of a party.
func mspForParty(party string) (string, bool) {
	if party == OperatorParty {
		return OperatorMSP, true
	}
	if m := bankPartyPattern.FindStringSubmatch(party); m != nil {
		return "Bank" + strings.ToUpper(m[1]) + "MSP", true
	}
	return "", false
}

// validateBankParty checks that party names a bank (a possible lender, borrower or token holder).
func validateBankParty(field, party string) error {
	if !bankPartyPattern.MatchString(party) {
		return fmt.Errorf("invalid %s %q: expected a bank party id such as \"bank-a\"", field, truncate(party, 40))
	}
	return nil
}

func validateIdentifier(field, id string) error {
	if !identifierPattern.MatchString(id) {
		return fmt.Errorf("invalid %s %q: expected 1 to 64 characters from A-Z a-z 0-9 . _ - starting with a letter or digit", field, truncate(id, 70))
	}
	return nil
}

// validateText checks a free-text field: valid UTF-8, no control characters, at most max bytes.
func validateText(field, s string, max int, required bool) error {
	if s == "" {
		if required {
			return fmt.Errorf("%s is required", field)
		}
		return nil
	}
	if len(s) > max {
		return fmt.Errorf("%s is longer than %d bytes", field, max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError || r == 0x10FFFF {
			return fmt.Errorf("%s contains a control or invalid character", field)
		}
	}
	return nil
}

// Dates are ISO calendar dates (YYYY-MM-DD); as strings they sort chronologically.
const isoDate = "2006-01-02"

func parseDate(field, s string) (time.Time, error) {
	if !datePattern.MatchString(s) {
		return time.Time{}, fmt.Errorf("invalid %s %q: expected an ISO date YYYY-MM-DD", field, truncate(s, 40))
	}
	d, err := time.Parse(isoDate, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid %s %q: not a calendar date", field, s)
	}
	return d, nil
}

func validateDate(field, s string) error {
	_, err := parseDate(field, s)
	return err
}
