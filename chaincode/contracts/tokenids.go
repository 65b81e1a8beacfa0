package contracts

import (
	"fmt"
	"regexp"
	"strings"
)

// Market identifiers of a token (TokenSpec.Identifiers), so that a record naming a security by
// SEDOL, CUSIP, FIGI or a market ticker (an ISDA/ISLA CDM trade, for one) resolves to its token.
// The keys are the CDM's AssetIdTypeEnum names; the ISIN and the ticker keep their own fields
// (isin, ticker). Each value is checked against the identifier's format where a standard defines
// one, and is otherwise 1 to 32 characters from A-Z a-z 0-9 . - : /.
const maxTokenIdentifiers = 8

type tokenIdentifierRule struct {
	pattern *regexp.Regexp
	expect  string // what the message says is expected
}

var (
	genericIdentifierPattern = regexp.MustCompile(`^[A-Za-z0-9.\-:/]{1,32}$`)
	genericIdentifier        = tokenIdentifierRule{genericIdentifierPattern, "1 to 32 characters from A-Z a-z 0-9 . - : /"}
	figiRule                 = tokenIdentifierRule{regexp.MustCompile(`^BBG[0-9A-Z]{9}$`), `12 capital letters or digits starting with BBG, such as "BBG000BB7XD0"`}

	// tokenIdentifierRules are the accepted identifier types (the only keys of
	// TokenSpec.Identifiers); tokenIdentifierTypes lists them in order for messages.
	tokenIdentifierRules = map[string]tokenIdentifierRule{
		"SEDOL": {regexp.MustCompile(`^[0-9A-Z]{7}$`), `7 capital letters or digits, such as "6335171"`},
		"CUSIP": {regexp.MustCompile(`^[0-9A-Z]{9}$`), `9 capital letters or digits, such as "037833100"`},
		"FIGI":  figiRule,
		"BBGID": figiRule,
		// A Bloomberg ticker has words separated by single spaces ("8306 JT Equity").
		"BBGTICKER": {regexp.MustCompile(`^[A-Za-z0-9.\-:/]+( [A-Za-z0-9.\-:/]+)*$`), `up to 32 characters from A-Z a-z 0-9 . - : / in words separated by single spaces, such as "8306 JT Equity"`},
		// A Refinitiv instrument code may carry "=" (bonds and rates: "JP10YT=RR").
		"RIC":          {regexp.MustCompile(`^[A-Za-z0-9.\-:/=]{1,32}$`), `1 to 32 characters from A-Z a-z 0-9 . - : / =, such as "8306.T"`},
		"Wertpapier":   {regexp.MustCompile(`^[0-9A-Z]{6}$`), `6 capital letters or digits, such as "840400"`},
		"ExchangeCode": genericIdentifier,
		"ClearingCode": genericIdentifier,
	}
	tokenIdentifierTypes = sortedKeys(tokenIdentifierRules)
)

// validateTokenIdentifiers checks a token's identifiers (in key order, so the first problem
// reported is always the same one) and returns them with an empty set as nil.
func validateTokenIdentifiers(tokenID string, ids map[string]string) (map[string]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if len(ids) > maxTokenIdentifiers {
		return nil, fmt.Errorf("token %s has %d identifiers; at most %d", tokenID, len(ids), maxTokenIdentifiers)
	}
	for _, kind := range sortedKeys(ids) {
		value := ids[kind]
		rule, known := tokenIdentifierRules[kind]
		if !known {
			if strings.EqualFold(kind, "ISIN") {
				return nil, fmt.Errorf("invalid identifiers key %q for token %s: give the ISIN in the isin field", truncate(kind, 20), tokenID)
			}
			hint := ""
			for _, k := range tokenIdentifierTypes {
				if strings.EqualFold(k, kind) {
					hint = fmt.Sprintf(" (did you mean %s?)", k)
				}
			}
			return nil, fmt.Errorf("invalid identifiers key %q for token %s%s: expected one of %s", truncate(kind, 40), tokenID, hint, strings.Join(tokenIdentifierTypes, ", "))
		}
		if len(value) > 32 || !rule.pattern.MatchString(value) {
			return nil, fmt.Errorf("invalid %s %q for token %s: expected %s", kind, truncate(value, 40), tokenID, rule.expect)
		}
	}
	return ids, nil
}
