package margin

import (
	"errors"
	"fmt"
)

// ErrorKind is a stable, machine-readable error class shared with the Python engine, so golden
// vectors and the differential test compare failures without comparing wording.
type ErrorKind string

// Error kinds (see vectors/README.md).
const (
	// ErrInvalidInput: structurally or semantically invalid input (unknown token, bad currency
	// code, bad date, bad JSON shape, dates out of order).
	ErrInvalidInput ErrorKind = "invalid_input"
	// ErrInvalidNumber: a string that should hold an exact decimal or ratio does not.
	ErrInvalidNumber ErrorKind = "invalid_number"
	// ErrNonPositive: a price or FX rate is zero or negative.
	ErrNonPositive ErrorKind = "non_positive"
	// ErrOutOfRange: a well-formed number outside its allowed range (haircut not in [0,1) …).
	ErrOutOfRange ErrorKind = "out_of_range"
	// ErrMissingPrice: the market of the date has no price for a token the agreement needs.
	ErrMissingPrice ErrorKind = "missing_price"
	// ErrMissingFX: no FX rate can be derived between a token currency and the base currency.
	ErrMissingFX ErrorKind = "missing_fx"
	// ErrOverflow: a quantity or position would leave the int64 range of the ledger.
	ErrOverflow ErrorKind = "overflow"
)

// Error is every error the package returns.
type Error struct {
	Kind    ErrorKind `json:"kind"`
	Message string    `json:"message"`
}

func (e *Error) Error() string { return string(e.Kind) + ": " + e.Message }

func errorf(kind ErrorKind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the Kind of an *Error in err's chain, or "" if there is none.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}
