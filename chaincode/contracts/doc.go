// Package contracts is the tanpo chaincode: one Fabric chaincode (contractapi) with six named
// contracts, called as "<contract>:<function>":
//
//	roles       the role registry (which client identities act for which party, in which roles)
//	ping        the network smoke test and the gateway benchmark
//	tokens      token definitions, issuance and redemption on request, transfers, balances
//	agreements  securities-lending / repo agreements: proposal, atomic opening and closing exchanges
//	oracle      closing prices and FX rates per valuation date, versioned
//	margin      margin calls on the ledger, using the pure engine of package margin
//
// Conventions every function follows:
//
//   - Every argument is a string; numbers are decimal strings parsed strictly (quantities: positive
//     int64 integers; prices, rates, haircuts: exact decimals, never floats). Every function
//     returns JSON text (Noop returns nothing).
//   - Every exported transaction function first identifies the caller (cid, from the proposal's
//     creator) and checks its rights; helpers are unexported.
//   - Reads and writes go through a per-transaction working set (txn): Fabric does not let a
//     transaction read its own writes, and a refusal must write nothing, so writes reach the stub
//     only when the function succeeds, in key order.
//   - Exactly one chaincode event per state-changing transaction, named after its payload's "type".
//   - Determinism: the transaction timestamp instead of a clock, no randomness, sorted keys
//     whenever a map is walked, iterators always closed, and a guard that turns a panic into an
//     error response.
//
// The token invariant, for every token: supply = Σ free balances + Σ max(collateral position, 0)
// (see ledger.go). Keys are listed in txn.go; the API is documented in chaincode/README.md.
package contracts
