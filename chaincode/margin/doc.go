// Package margin is tanpo's pure margin engine: token valuation in a base currency and the daily
// margin call of one securities-lending or repo agreement (DESIGN.md §1 "Valuation" and "Margin
// call algorithm").
//
// It imports no Fabric package, so the chaincode contracts, the margin-vectors command and plain
// Go tests use it alike. The same rules are implemented in Python (tanpo.margin) for the scenario
// runner; both engines read the golden vectors in vectors/ and are compared by a differential test,
// so every figure must agree to the last unit. That is why:
//
//   - all money arithmetic is exact (math/big.Rat), and decimal strings are parsed by a small
//     grammar of our own (no floats, no exponents), identical in both engines;
//   - outputs print rationals canonically (Rat.RatString: "n" or "n/d", reduced), which is also
//     Python's str(Fraction);
//   - inputs are validated in one documented order, so the first error reported for a bad input
//     has the same Kind in both engines;
//   - no function panics: bad input returns an *Error, and quantities that would leave int64 return
//     an overflow error.
//
// Entry points: NewAgreement validates terms; NewMarket parses one date's prices and FX pairs;
// ComputeCall runs a margin call on given positions (ApplyCall settles it immediately); a Book
// replays an agreement day by day with settlement lag, pending transfers and auto-issue mints.
// An agreement may carry an eligibility schedule (Terms.Schedule): Eligibility says whether a
// token may be delivered, Concentration reports the caps exceeded, and a call's shortfall skips
// ineligible tokens and respects the caps (CallResult.Skipped, CallResult.Breaches).
// RunCase runs one JSON case of the vector format (see vectors/README.md).
package margin
