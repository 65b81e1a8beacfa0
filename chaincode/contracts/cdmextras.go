package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Terms.CdmExtras holds what an ISDA/ISLA CDM record says that tanpo has no term for (dividend
// terms, the delivery method, settlement dates, the trade price, a principal's identity …), kept
// verbatim so that a CDM export gives it back. The chaincode reads none of it; it is private like
// every other term. It must be a JSON object of at most maxCdmExtrasBytes (compact), nested at
// most maxCdmExtrasDepth levels (the object itself is level 1), with no key twice in one object.
const (
	maxCdmExtrasBytes = 16384
	maxCdmExtrasDepth = 16
)

// validateCdmExtras checks terms' cdmExtras (nil: absent).
func validateCdmExtras(raw json.RawMessage) error {
	if raw == nil {
		return nil
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return fmt.Errorf("invalid cdmExtras: expected a JSON object, got %s", jsonKind(trimmed))
	}
	if !utf8.Valid(trimmed) {
		return errors.New("invalid cdmExtras: not valid UTF-8")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, trimmed); err != nil {
		return fmt.Errorf("invalid cdmExtras: %w", err)
	}
	if compact.Len() > maxCdmExtrasBytes {
		return fmt.Errorf("invalid cdmExtras: %d bytes; at most %d", compact.Len(), maxCdmExtrasBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(compact.Bytes()))
	dec.UseNumber()
	return checkJSONValue(dec, 1, "cdmExtras")
}

// jsonKind names the kind of a JSON value by its first byte, for messages.
func jsonKind(v []byte) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "true or false"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// checkJSONValue reads one value from dec, at nesting level depth (where: its path), refusing
// nesting deeper than maxCdmExtrasDepth and a key given twice in one object.
func checkJSONValue(dec *json.Decoder, depth int, where string) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("invalid cdmExtras: %w", err)
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth > maxCdmExtrasDepth {
		return fmt.Errorf("invalid cdmExtras: nested more than %d levels deep at %s", maxCdmExtrasDepth, truncate(where, 120))
	}
	switch delim {
	case '{':
		seen := map[string]bool{} // looked up only, never ranged over
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return fmt.Errorf("invalid cdmExtras: %w", err)
			}
			key, _ := kt.(string)
			if seen[key] {
				return fmt.Errorf("invalid cdmExtras: key %q is given twice in %s", truncate(key, 40), truncate(where, 120))
			}
			seen[key] = true
			if err := checkJSONValue(dec, depth+1, where+"."+key); err != nil {
				return err
			}
		}
	case '[':
		for i := 0; dec.More(); i++ {
			if err := checkJSONValue(dec, depth+1, fmt.Sprintf("%s[%d]", where, i)); err != nil {
				return err
			}
		}
	default:
		return errors.New("invalid cdmExtras: unexpected " + delim.String())
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return fmt.Errorf("invalid cdmExtras: %w", err)
	}
	return nil
}
