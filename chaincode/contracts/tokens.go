package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// TokensContract is the token ledger: definitions, issuance and redemption on request, transfers,
// balances and supply.
type TokensContract struct {
	contractapi.Contract
}

// Token kinds and quote conventions.
const (
	KindSecurity      = "ST"
	KindCash          = "CT"
	QuotePerUnit      = "per-unit"
	QuotePercentOfPar = "percent-of-par"
)

// TokenSpec is the input of DefineToken and UpdateToken.
type TokenSpec struct {
	ID              string `json:"id"`
	Kind            string `json:"kind"`
	Name            string `json:"name,omitempty"`
	Currency        string `json:"currency"`
	ISIN            string `json:"isin,omitempty"`
	Ticker          string `json:"ticker,omitempty"`
	QuoteConvention string `json:"quoteConvention,omitempty"`
	AssetClass      string `json:"assetClass,omitempty"`
	CreditRating    string `json:"creditRating,omitempty"`
	MinimalUnit     string `json:"minimalUnit,omitempty"`
	Issuer          string `json:"issuer,omitempty"`
	// Identifiers are the token's other market identifiers by type (tokenids.go: SEDOL, CUSIP,
	// FIGI, BBGID, BBGTICKER, RIC, Wertpapier, ExchangeCode, ClearingCode), at most 8; the ISIN
	// and the ticker have their own fields.
	Identifiers map[string]string `json:"identifiers,omitempty"`
}

// sameAs reports whether two specifications are the same: they store the same JSON (a map's keys
// are written in order).
func (s TokenSpec) sameAs(o TokenSpec) bool {
	a, errA := json.Marshal(s)
	b, errB := json.Marshal(o)
	return errA == nil && errB == nil && bytes.Equal(a, b)
}

// Token is a token definition as stored.
type Token struct {
	TokenSpec
	DefinedBy string `json:"definedBy"`
	DefinedAt string `json:"definedAt"`
	UpdatedAt string `json:"updatedAt"`
}

// Request is an issuance or redemption request.
type Request struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"` // issuance | redemption
	Token       string `json:"token"`
	Party       string `json:"party"`
	Quantity    string `json:"quantity"`
	Reference   string `json:"reference"`
	Status      string `json:"status"` // PENDING | APPROVED | REJECTED
	RequestedBy string `json:"requestedBy"`
	RequestedAt string `json:"requestedAt"`
	RequestTx   string `json:"requestTx"`
	DecidedBy   string `json:"decidedBy,omitempty"`
	DecidedAt   string `json:"decidedAt,omitempty"`
	DecisionTx  string `json:"decisionTx,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// Request kinds and statuses.
const (
	RequestIssuance   = "issuance"
	RequestRedemption = "redemption"
	RequestPending    = "PENDING"
	RequestApproved   = "APPROVED"
	RequestRejected   = "REJECTED"
)

// BalanceSheet is what BalanceOf returns: a party's free balances, by token.
type BalanceSheet struct {
	Party    string    `json:"party"`
	Balances []Balance `json:"balances"`
}

type tokenEvent struct {
	Event
	Token Token `json:"token"`
}

type requestEvent struct {
	Event
	Request Request `json:"request"`
	Mint    *Mint   `json:"mint,omitempty"` // IssuanceApproved: the mint; RedemptionApproved: the burn
}

type transferEvent struct {
	Event
	Transfer Transfer `json:"transfer"`
}

// GetEvaluateTransactions tags the read-only functions in the metadata.
func (c *TokensContract) GetEvaluateTransactions() []string {
	return []string{"GetToken", "ListTokens", "BalanceOf", "TotalSupply", "GetRequest", "ListRequests"}
}

// DefineToken defines a token (token administrator only). tokenJSON is a TokenSpec. Defining the
// same token again with an identical specification is a no-op.
func (c *TokensContract) DefineToken(ctx contractapi.TransactionContextInterface, tokenJSON string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireRole(RoleTokenAdmin); err != nil {
		return "", err
	}
	spec, err := parseTokenSpec(tokenJSON)
	if err != nil {
		return "", err
	}
	key, err := t.key(keyToken, spec.ID)
	if err != nil {
		return "", err
	}
	var existing Token
	found, err := t.getJSON(key, &existing)
	if err != nil {
		return "", err
	}
	if found {
		if existing.TokenSpec.sameAs(spec) {
			return t.finish(existing)
		}
		return "", fmt.Errorf("token %s is already defined with a different specification; use UpdateToken", spec.ID)
	}
	tok := Token{TokenSpec: spec, DefinedBy: t.caller.id, DefinedAt: t.timestamp(), UpdatedAt: t.timestamp()}
	if err := t.putJSON(key, tok); err != nil {
		return "", err
	}
	if err := t.setSupply(spec.ID, 0); err != nil {
		return "", err
	}
	if err := t.provisionToken(spec.ID); err != nil {
		return "", err
	}
	if err := t.emit(tokenEvent{Event: t.event(EventTokenDefined), Token: tok}); err != nil {
		return "", err
	}
	return t.finish(tok)
}

// UpdateToken changes a token's descriptive fields (name, ISIN, ticker, other identifiers, asset
// class, credit rating, issuer). Token administrator only. Kind, currency, quote convention and
// minimal unit are fixed at definition because they change what existing balances are worth.
func (c *TokensContract) UpdateToken(ctx contractapi.TransactionContextInterface, tokenJSON string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireRole(RoleTokenAdmin); err != nil {
		return "", err
	}
	spec, err := parseTokenSpec(tokenJSON)
	if err != nil {
		return "", err
	}
	tok, key, err := t.loadToken(spec.ID)
	if err != nil {
		return "", err
	}
	for _, f := range []struct{ name, old, new string }{
		{"kind", tok.Kind, spec.Kind},
		{"currency", tok.Currency, spec.Currency},
		{"quoteConvention", tok.QuoteConvention, spec.QuoteConvention},
		{"minimalUnit", tok.MinimalUnit, spec.MinimalUnit},
	} {
		if f.old != f.new {
			return "", fmt.Errorf("cannot change %s of token %s from %q to %q: it is fixed at definition", f.name, spec.ID, f.old, f.new)
		}
	}
	if tok.TokenSpec.sameAs(spec) {
		return t.finish(tok)
	}
	tok.TokenSpec = spec
	tok.UpdatedAt = t.timestamp()
	if err := t.putJSON(key, tok); err != nil {
		return "", err
	}
	if err := t.emit(tokenEvent{Event: t.event(EventTokenUpdated), Token: *tok}); err != nil {
		return "", err
	}
	return t.finish(tok)
}

// GetToken returns a token definition. Any registered identity.
func (c *TokensContract) GetToken(ctx contractapi.TransactionContextInterface, tokenID string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireRegistered(); err != nil {
		return "", err
	}
	tok, _, err := t.loadToken(tokenID)
	if err != nil {
		return "", err
	}
	return t.finish(tok)
}

// ListTokens lists token definitions in id order, one page at a time. Any registered identity.
func (c *TokensContract) ListTokens(ctx contractapi.TransactionContextInterface, pageSize, bookmark string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireRegistered(); err != nil {
		return "", err
	}
	page, err := listPage(t, keyToken, nil, pageSize, bookmark, asRecord[Token]("token"))
	if err != nil {
		return "", err
	}
	return t.finish(page)
}

// TotalSupply returns a token's total supply. Any registered identity.
func (c *TokensContract) TotalSupply(ctx contractapi.TransactionContextInterface, tokenID string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireRegistered(); err != nil {
		return "", err
	}
	if _, _, err := t.loadToken(tokenID); err != nil {
		return "", err
	}
	s, err := t.totalSupply(tokenID)
	if err != nil {
		return "", err
	}
	return t.finish(Supply{Token: tokenID, Supply: formatQuantity(s)})
}

// BalanceOf returns a party's free balances (collateral held under agreements is reported by
// agreements:CollateralHeld). A party sees only its own; the operator sees every party's. An empty
// party means the caller's own.
func (c *TokensContract) BalanceOf(ctx contractapi.TransactionContextInterface, party string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireRegistered(); err != nil {
		return "", err
	}
	if party == "" {
		party = t.caller.party()
	}
	if err := t.requireViewer("the balances of "+truncate(party, 40), party); err != nil {
		return "", err
	}
	if err := validateBankParty("party", party); err != nil {
		return "", err
	}
	sheet := BalanceSheet{Party: party, Balances: []Balance{}}
	err = t.scanPartialKey(keyBalance, []string{party}, func(_ string, v []byte) (bool, error) {
		var b Balance
		if err := json.Unmarshal(v, &b); err != nil {
			return false, fmt.Errorf("corrupt balance record: %w", err)
		}
		if b.Quantity != "0" { // balances are kept at zero (ledger.go); report what is held
			sheet.Balances = append(sheet.Balances, b)
		}
		return true, nil
	})
	if err != nil {
		return "", err
	}
	return t.finish(sheet)
}

// RequestIssuance asks the token administrator to mint quantity of a token to the caller's party,
// against reference (the off-chain deposit). Party role. Returns the request.
func (c *TokensContract) RequestIssuance(ctx contractapi.TransactionContextInterface, tokenID, quantity, reference string) (string, error) {
	return c.request(ctx, RequestIssuance, tokenID, quantity, reference)
}

// RequestRedemption asks the token administrator to burn quantity of a token from the caller's
// party's free balance, against reference (where the off-chain asset is to be delivered). Party
// role. The balance is checked now and again at approval.
func (c *TokensContract) RequestRedemption(ctx contractapi.TransactionContextInterface, tokenID, quantity, reference string) (string, error) {
	return c.request(ctx, RequestRedemption, tokenID, quantity, reference)
}

// ApproveIssuance mints the requested quantity to the requesting party. Token administrator only.
func (c *TokensContract) ApproveIssuance(ctx contractapi.TransactionContextInterface, requestID string) (string, error) {
	return c.decide(ctx, RequestIssuance, requestID, true, "")
}

// RejectIssuance rejects a pending issuance request with a reason. Token administrator only.
func (c *TokensContract) RejectIssuance(ctx contractapi.TransactionContextInterface, requestID, reason string) (string, error) {
	return c.decide(ctx, RequestIssuance, requestID, false, reason)
}

// ApproveRedemption burns the requested quantity from the requesting party's free balance. Token
// administrator only.
func (c *TokensContract) ApproveRedemption(ctx contractapi.TransactionContextInterface, requestID string) (string, error) {
	return c.decide(ctx, RequestRedemption, requestID, true, "")
}

// RejectRedemption rejects a pending redemption request with a reason. Token administrator only.
func (c *TokensContract) RejectRedemption(ctx contractapi.TransactionContextInterface, requestID, reason string) (string, error) {
	return c.decide(ctx, RequestRedemption, requestID, false, reason)
}

// GetRequest returns one request. The requesting party or the operator.
func (c *TokensContract) GetRequest(ctx contractapi.TransactionContextInterface, requestID string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireRegistered(); err != nil {
		return "", err
	}
	req, _, err := t.loadRequest(requestID)
	if err != nil {
		return "", err
	}
	if err := t.requireViewer("request "+requestID, req.Party); err != nil {
		return "", err
	}
	return t.finish(req)
}

// beginListing starts a listing of one party's records (what names them in a refusal): a
// registered caller; an empty party means the caller's own, or every party's for the operator
// side; a party sees only its own.
func beginListing(ctx contractapi.TransactionContextInterface, what, party string) (*txn, string, error) {
	t, err := begin(ctx)
	if err != nil {
		return nil, "", err
	}
	if err := t.requireRegistered(); err != nil {
		return nil, "", err
	}
	if party == "" && !t.caller.operatorSide() {
		party = t.caller.party()
	}
	if party != "" {
		if err := t.requireViewer("the "+what+" of "+truncate(party, 40), party); err != nil {
			return nil, "", err
		}
		if err := validateBankParty("party", party); err != nil {
			return nil, "", err
		}
	}
	return t, party, nil
}

// ListRequests lists requests, one page at a time, filtered by party and status (either may be
// empty). A party sees only its own (an empty party means its own); the operator sees all.
func (c *TokensContract) ListRequests(ctx contractapi.TransactionContextInterface, party, status, pageSize, bookmark string) (string, error) {
	t, party, err := beginListing(ctx, "requests", party)
	if err != nil {
		return "", err
	}
	if status != "" && status != RequestPending && status != RequestApproved && status != RequestRejected {
		return "", fmt.Errorf("invalid status %q: expected %s, %s or %s", truncate(status, 40), RequestPending, RequestApproved, RequestRejected)
	}
	objectType, attrs, item := keyRequest, []string(nil), asRecord[Request]("request")
	byIndex := indexed(t, func(id string) (*Request, error) {
		r, _, err := t.loadRequest(id)
		return r, err
	})
	switch {
	case party != "":
		objectType, attrs, item = keyRequestByParty, []string{party}, byIndex
		if status != "" {
			attrs = append(attrs, status)
		}
	case status != "":
		objectType, attrs, item = keyRequestByStatus, []string{status}, byIndex
	}
	page, err := listPage(t, objectType, attrs, pageSize, bookmark, item)
	if err != nil {
		return "", err
	}
	return t.finish(page)
}

// Transfer moves quantity of a token from the caller's party's free balance to another party,
// which must be registered (an active identity with the party role). Party role.
func (c *TokensContract) Transfer(ctx contractapi.TransactionContextInterface, tokenID, to, quantity string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	from, err := t.requireParty()
	if err != nil {
		return "", err
	}
	if _, _, err := t.loadToken(tokenID); err != nil {
		return "", err
	}
	if err := validateBankParty("recipient", to); err != nil {
		return "", err
	}
	if to == from {
		return "", fmt.Errorf("cannot transfer to %s: it is the sender", to)
	}
	q, err := parseQuantity("quantity", quantity)
	if err != nil {
		return "", err
	}
	if err := t.registeredParty("recipient", to); err != nil {
		return "", err
	}
	if err := t.move(from, to, tokenID, q); err != nil {
		return "", err
	}
	tr := Transfer{Token: tokenID, Quantity: formatQuantity(q), From: from, To: to, Leg: "transfer"}
	if err := t.emit(transferEvent{Event: t.event(EventTransfer), Transfer: tr}); err != nil {
		return "", err
	}
	return t.finish(tr)
}

func (c *TokensContract) request(ctx contractapi.TransactionContextInterface, kind, tokenID, quantity, reference string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	party, err := t.requireParty()
	if err != nil {
		return "", err
	}
	if _, _, err := t.loadToken(tokenID); err != nil {
		return "", err
	}
	q, err := parseQuantity("quantity", quantity)
	if err != nil {
		return "", err
	}
	if err := validateText("reference", reference, 256, true); err != nil {
		return "", err
	}
	if kind == RequestRedemption {
		bal, err := t.freeBalance(party, tokenID)
		if err != nil {
			return "", err
		}
		if bal < q {
			return "", insufficient(party, tokenID, q, bal)
		}
	}
	prefix, evt := "ISS-", EventIssuanceRequested
	if kind == RequestRedemption {
		prefix, evt = "RED-", EventRedemptionRequested
	}
	req := Request{
		ID:          prefix + shortTxID(t.txID),
		Kind:        kind,
		Token:       tokenID,
		Party:       party,
		Quantity:    formatQuantity(q),
		Reference:   reference,
		Status:      RequestPending,
		RequestedBy: t.caller.id,
		RequestedAt: t.timestamp(),
		RequestTx:   t.txID,
	}
	key, err := t.key(keyRequest, req.ID)
	if err != nil {
		return "", err
	}
	if existing, err := t.get(key); err != nil {
		return "", err
	} else if existing != nil {
		return "", fmt.Errorf("request %s already exists; submit again (a new transaction gets a new id)", req.ID)
	}
	if err := t.putRequest(&req, ""); err != nil {
		return "", err
	}
	if err := t.emit(requestEvent{Event: t.event(evt), Request: req}); err != nil {
		return "", err
	}
	return t.finish(req)
}

func (c *TokensContract) decide(ctx contractapi.TransactionContextInterface, kind, requestID string, approve bool, reason string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireRole(RoleTokenAdmin); err != nil {
		return "", err
	}
	req, _, err := t.loadRequest(requestID)
	if err != nil {
		return "", err
	}
	if req.Kind != kind {
		if req.Kind == RequestRedemption {
			return "", fmt.Errorf("request %s is a redemption request; use ApproveRedemption or RejectRedemption", req.ID)
		}
		return "", fmt.Errorf("request %s is an issuance request; use ApproveIssuance or RejectIssuance", req.ID)
	}
	if req.Status != RequestPending {
		return "", fmt.Errorf("request %s is already %s", req.ID, req.Status)
	}
	if !approve {
		if err := validateText("reason", reason, 512, true); err != nil {
			return "", err
		}
	}
	q, err := parseStoredQuantity(req.Quantity)
	if err != nil {
		return "", err
	}
	var mint *Mint
	evt := EventIssuanceRejected
	switch {
	case kind == RequestIssuance && approve:
		evt = EventIssuanceApproved
	case kind == RequestRedemption && approve:
		evt = EventRedemptionApproved
	case kind == RequestRedemption:
		evt = EventRedemptionRejected
	}
	if approve {
		var supply int64
		if kind == RequestIssuance {
			supply, err = t.mint(req.Party, req.Token, q)
		} else {
			supply, err = t.burn(req.Party, req.Token, q)
		}
		if err != nil {
			return "", err
		}
		mint = &Mint{Token: req.Token, Party: req.Party, Quantity: req.Quantity, Supply: formatQuantity(supply)}
	}
	old := req.Status
	req.Status = RequestApproved
	if !approve {
		req.Status = RequestRejected
		req.Reason = reason
	}
	req.DecidedBy, req.DecidedAt, req.DecisionTx = t.caller.id, t.timestamp(), t.txID
	if err := t.putRequest(req, old); err != nil {
		return "", err
	}
	if err := t.emit(requestEvent{Event: t.event(evt), Request: *req, Mint: mint}); err != nil {
		return "", err
	}
	return t.finish(req)
}

// loadToken reads a token definition or fails with "unknown token".
func (t *txn) loadToken(tokenID string) (*Token, string, error) {
	return loadRecord[Token](t, "token", keyToken, tokenID, "unknown token")
}

func (t *txn) loadRequest(requestID string) (*Request, string, error) {
	return loadRecord[Request](t, "request", keyRequest, requestID, "no request")
}

// loadRecord reads the JSON record of a kind (agreement, request, …) under its identifier, with
// its key; an invalid identifier is refused, and a missing record is the error "<missing> <id>".
func loadRecord[T any](t *txn, kind, keyType, id, missing string) (*T, string, error) {
	v, key, err := loadRaw(t, kind, keyType, id, missing)
	if err != nil {
		return nil, "", err
	}
	var rec T
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, "", fmt.Errorf("corrupt record in state: %w", err)
	}
	return &rec, key, nil
}

// loadRaw reads the stored bytes of record id, refusing a malformed id or a missing record.
func loadRaw(t *txn, kind, keyType, id, missing string) ([]byte, string, error) {
	if err := validateIdentifier(kind+" id", id); err != nil {
		return nil, "", err
	}
	key, err := t.key(keyType, id)
	if err != nil {
		return nil, "", err
	}
	v, err := t.get(key)
	if err != nil {
		return nil, "", err
	}
	if v == nil {
		return nil, "", notFoundError{fmt.Sprintf("%s %s", missing, id)}
	}
	return v, key, nil
}

// notFoundError is the refusal of a record that does not exist ("no agreement X").
type notFoundError struct{ msg string }

func (e notFoundError) Error() string { return e.msg }

func isNotFound(err error) bool {
	var nf notFoundError
	return errors.As(err, &nf)
}

// putRequest writes a request and moves its index entries from oldStatus ("" for a new request).
func (t *txn) putRequest(req *Request, oldStatus string) error {
	key, err := t.key(keyRequest, req.ID)
	if err != nil {
		return err
	}
	if err := t.putJSON(key, req); err != nil {
		return err
	}
	if oldStatus != "" {
		for _, k := range [][]string{{keyRequestByParty, req.Party, oldStatus, req.ID}, {keyRequestByStatus, oldStatus, req.ID}} {
			ik, err := t.key(k[0], k[1:]...)
			if err != nil {
				return err
			}
			t.del(ik)
		}
	}
	for _, k := range [][]string{{keyRequestByParty, req.Party, req.Status, req.ID}, {keyRequestByStatus, req.Status, req.ID}} {
		ik, err := t.key(k[0], k[1:]...)
		if err != nil {
			return err
		}
		t.put(ik, indexValue)
	}
	return nil
}

// shortTxID is the first 16 characters of a transaction id: ids derived from it are unique in
// practice and a collision is refused, never overwritten.
func shortTxID(txID string) string {
	if len(txID) > 16 {
		return txID[:16]
	}
	return txID
}

// parseTokenSpec parses and validates a token specification, filling defaults.
func parseTokenSpec(s string) (TokenSpec, error) {
	var spec TokenSpec
	if err := strictJSON("token", s, 8*1024, &spec); err != nil {
		return TokenSpec{}, err
	}
	if err := validateIdentifier("token id", spec.ID); err != nil {
		return TokenSpec{}, err
	}
	if !currencyPattern.MatchString(spec.Currency) {
		return TokenSpec{}, fmt.Errorf("invalid currency %q for token %s: expected an ISO 4217 code such as \"JPY\"", truncate(spec.Currency, 20), spec.ID)
	}
	switch spec.Kind {
	case KindCash:
		if spec.QuoteConvention == "" {
			spec.QuoteConvention = QuotePerUnit
		}
		if spec.QuoteConvention != QuotePerUnit {
			return TokenSpec{}, fmt.Errorf("invalid quoteConvention %q for cash token %s: a cash token is %s", truncate(spec.QuoteConvention, 30), spec.ID, QuotePerUnit)
		}
		if spec.AssetClass == "" {
			spec.AssetClass = "cash"
		}
	case KindSecurity:
		if spec.ISIN == "" && spec.Ticker == "" {
			return TokenSpec{}, fmt.Errorf("security token %s needs an isin or a ticker", spec.ID)
		}
		if spec.QuoteConvention != QuotePerUnit && spec.QuoteConvention != QuotePercentOfPar {
			return TokenSpec{}, fmt.Errorf("invalid quoteConvention %q for token %s: expected %s or %s", truncate(spec.QuoteConvention, 30), spec.ID, QuotePerUnit, QuotePercentOfPar)
		}
		if spec.AssetClass == "" {
			return TokenSpec{}, fmt.Errorf("security token %s needs an assetClass (for example \"equity\" or \"government-bond\")", spec.ID)
		}
	default:
		return TokenSpec{}, fmt.Errorf("invalid kind %q for token %s: expected %s (security) or %s (cash)", truncate(spec.Kind, 20), spec.ID, KindSecurity, KindCash)
	}
	if spec.ISIN != "" && !isinPattern.MatchString(spec.ISIN) {
		return TokenSpec{}, fmt.Errorf("invalid isin %q for token %s: expected 12 characters such as \"JP3902900004\"", truncate(spec.ISIN, 20), spec.ID)
	}
	ids, err := validateTokenIdentifiers(spec.ID, spec.Identifiers)
	if err != nil {
		return TokenSpec{}, err
	}
	spec.Identifiers = ids
	if spec.MinimalUnit == "" {
		spec.MinimalUnit = "1"
	}
	_, unit, err := parsePositiveDecimal("minimalUnit", spec.MinimalUnit)
	if err != nil {
		return TokenSpec{}, err
	}
	spec.MinimalUnit = unit
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"name", spec.Name, 128}, {"ticker", spec.Ticker, 32}, {"assetClass", spec.AssetClass, 64},
		{"creditRating", spec.CreditRating, 16}, {"issuer", spec.Issuer, 128},
	} {
		if err := validateText(f.name, f.value, f.max, false); err != nil {
			return TokenSpec{}, err
		}
	}
	return spec, nil
}

// tokenIDs lists every defined token's id, in order.
func (t *txn) tokenIDs() ([]string, error) {
	ids := []string{}
	err := t.scanPartialKey(keyToken, nil, func(k string, _ []byte) (bool, error) {
		parts, err := t.splitKey(k)
		if err != nil {
			return false, err
		}
		ids = append(ids, parts[0])
		return true, nil
	})
	return ids, err
}

// knownCurrency refuses a currency that no defined token is denominated in: nothing could ever be
// priced in it (an agreement valued in it would have no FX rate to its tokens' currencies). The
// token ledger is scanned once per currency and transaction, and only when the caller's own
// tokens (have) do not already use it.
func (t *txn) knownCurrency(field, ccy string, have ...string) error {
	if !currencyPattern.MatchString(ccy) {
		return fmt.Errorf("invalid %s %q: expected an ISO 4217 code such as \"JPY\"", field, truncate(ccy, 20))
	}
	if slices.Contains(have, ccy) || t.currencies[ccy] {
		return nil
	}
	found := false
	err := t.scanPartialKey(keyToken, nil, func(_ string, v []byte) (bool, error) {
		var tok Token
		if err := json.Unmarshal(v, &tok); err != nil {
			return false, fmt.Errorf("corrupt token record: %w", err)
		}
		found = tok.Currency == ccy
		return !found, nil
	})
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("unknown %s %s: no token is denominated in it (define a token in %s first)", field, ccy, ccy)
	}
	if t.currencies == nil {
		t.currencies = map[string]bool{}
	}
	t.currencies[ccy] = true
	return nil
}
