package contracts

import (
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"strings"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// OracleContract holds closing prices and FX rates per valuation date. Every date has numbered
// versions: version 1 is the first post; a later post that only adds instruments makes an
// "addition" version; a changed value needs CorrectPrices with a reason and makes a "correction"
// version. Versions are never overwritten, so a report can name the data version it used. Every
// version holds the full set for its date.
type OracleContract struct {
	contractapi.Contract
}

const (
	maxPriceEntries  = 2000
	maxPriceVersions = 999999
)

// Price-set kinds.
const (
	PricesInitial    = "initial"
	PricesAddition   = "addition"
	PricesCorrection = "correction"
)

// PriceBatch is the input of PostPrices and CorrectPrices: closing prices by token id and FX rates
// by market pair ("USDJPY" = JPY per USD). Each value is either a decimal string ("602.5") or a
// quote object {"value": "602.5", "asOf": "2009-07-01", "confirmedBy": "..."} where asOf (optional,
// not after the valuation date) is the market date the value was observed on, earlier when it was
// carried forward, and confirmedBy (optional) who let a held-back value through. Date (optional)
// must equal the date argument; source (optional) names the data source.
type PriceBatch struct {
	Date   string                     `json:"date,omitempty"`
	Source string                     `json:"source,omitempty"`
	Prices map[string]json.RawMessage `json:"prices"`
	FX     map[string]json.RawMessage `json:"fx"`
	// benchmark fixings (TONA, SOFR, ESTR, SONIA…) in percent per annum, any sign: what a
	// floating cash-collateral rebate accrues at
	Rates map[string]json.RawMessage `json:"rates,omitempty"`
}

type quoteInput struct {
	Value       string `json:"value"`
	AsOf        string `json:"asOf,omitempty"`
	ConfirmedBy string `json:"confirmedBy,omitempty"`
}

// QuoteNote is the provenance of a value observed before the valuation date or confirmed by
// someone; values without a note were observed on the valuation date.
type QuoteNote struct {
	AsOf        string `json:"asOf,omitempty"`
	ConfirmedBy string `json:"confirmedBy,omitempty"`
}

// cleanBatch is a validated batch: canonical values and their notes.
type cleanBatch struct {
	source     string
	prices     map[string]string
	fx         map[string]string
	priceNotes map[string]QuoteNote
	fxNotes    map[string]QuoteNote
	rates      map[string]string
	rateNotes  map[string]QuoteNote
}

// PriceSet is one version of the prices of one date.
type PriceSet struct {
	Date          string               `json:"date"`
	Version       int                  `json:"version"`
	LatestVersion int                  `json:"latestVersion"` // filled in on read
	Kind          string               `json:"kind"`
	Reason        string               `json:"reason,omitempty"`
	Prices        map[string]string    `json:"prices"`
	FX            map[string]string    `json:"fx"`
	PriceNotes    map[string]QuoteNote `json:"priceNotes"`
	FXNotes       map[string]QuoteNote `json:"fxNotes"`
	Rates         map[string]string    `json:"rates,omitempty"` // benchmark fixings, percent p.a.
	RateNotes     map[string]QuoteNote `json:"rateNotes,omitempty"`
	Source        string               `json:"source,omitempty"`
	PostedBy      string               `json:"postedBy"`
	PostedAt      string               `json:"postedAt"`
	TxID          string               `json:"txId"`
}

// PriceHead points at the latest version of a date.
type PriceHead struct {
	Date          string `json:"date"`
	LatestVersion int    `json:"latestVersion"`
}

// PostResult is what PostPrices and CorrectPrices return.
type PostResult struct {
	Date    string `json:"date"`
	Version int    `json:"version"` // the version now latest
	Kind    string `json:"kind"`    // kind of the version created, or of the latest when unchanged
	Changed bool   `json:"changed"` // false: identical values, nothing written
}

// LastDate is what LastPostedDate returns ("" when nothing is posted yet).
type LastDate struct {
	Date          string `json:"date"`
	LatestVersion int    `json:"latestVersion"`
}

type pricesEvent struct {
	Event
	Date           string            `json:"date"`
	Version        int               `json:"version"`
	Kind           string            `json:"kind"`
	Reason         string            `json:"reason,omitempty"`
	Prices         map[string]string `json:"prices"` // entries new or changed in this version
	FX             map[string]string `json:"fx"`
	PreviousPrices map[string]string `json:"previousPrices,omitempty"` // corrections: the replaced values
	PreviousFX     map[string]string `json:"previousFx,omitempty"`
	Rates          map[string]string `json:"rates,omitempty"`
	PreviousRates  map[string]string `json:"previousRates,omitempty"`
}

// GetEvaluateTransactions tags the read-only functions in the metadata.
func (c *OracleContract) GetEvaluateTransactions() []string {
	return []string{"GetPrices", "LastPostedDate"}
}

// PostPrices posts the closing prices and FX rates of one valuation date (oracle only). Posting
// values identical to the latest version is a no-op; adding instruments creates an addition
// version; a different value for an instrument already posted is refused (use CorrectPrices).
func (c *OracleContract) PostPrices(ctx contractapi.TransactionContextInterface, date, batchJSON string) (string, error) {
	return c.post(ctx, date, batchJSON, "", false)
}

// CorrectPrices replaces values of a date already posted, with a reason (oracle only). The
// corrected set is a new version; earlier versions stay readable. A correction that changes
// nothing is a no-op.
func (c *OracleContract) CorrectPrices(ctx contractapi.TransactionContextInterface, date, batchJSON, reason string) (string, error) {
	return c.post(ctx, date, batchJSON, reason, true)
}

// GetPrices returns the prices of a date: the latest version, or the version named ("" = latest).
// Any registered identity.
func (c *OracleContract) GetPrices(ctx contractapi.TransactionContextInterface, date, version string) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireRegistered(); err != nil {
		return "", err
	}
	if err := validateDate("date", date); err != nil {
		return "", err
	}
	v := 0
	if version != "" {
		n, err := parseQuantity("version", version)
		if err != nil {
			return "", err
		}
		if n > maxPriceVersions {
			return "", fmt.Errorf("invalid version %s: at most %d", version, maxPriceVersions)
		}
		v = int(n)
	}
	set, err := t.loadPrices(date, v)
	if err != nil {
		return "", err
	}
	if set == nil {
		return "", fmt.Errorf("no prices posted for %s", date)
	}
	return t.finish(set)
}

// LastPostedDate returns the latest valuation date with prices ("" when none). Any registered
// identity.
func (c *OracleContract) LastPostedDate(ctx contractapi.TransactionContextInterface) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireRegistered(); err != nil {
		return "", err
	}
	last, err := t.lastPriceDate()
	if err != nil {
		return "", err
	}
	return t.finish(last)
}

func (c *OracleContract) post(ctx contractapi.TransactionContextInterface, date, batchJSON, reason string, correction bool) (string, error) {
	t, err := begin(ctx)
	if err != nil {
		return "", err
	}
	if err := t.requireRole(RoleOracle); err != nil {
		return "", err
	}
	if err := validateDate("date", date); err != nil {
		return "", err
	}
	today, err := t.businessDate()
	if err != nil {
		return "", err
	}
	if date > today {
		return "", fmt.Errorf("date %s is after the current business date %s (%s): prices are posted for a date once it has come", date, today, t.platform.TimeZone)
	}
	if correction {
		if err := validateText("reason", reason, 512, true); err != nil {
			return "", err
		}
	}
	batch, err := t.parsePriceBatch(date, batchJSON)
	if err != nil {
		return "", err
	}
	headKey, err := t.key(keyPriceHead, date)
	if err != nil {
		return "", err
	}
	latest, err := t.loadPrices(date, 0)
	if err != nil {
		return "", err
	}
	if latest == nil && correction {
		return "", fmt.Errorf("no prices posted for %s: use PostPrices", date)
	}
	next := &PriceSet{Date: date, Version: 1, Kind: PricesInitial, Prices: map[string]string{}, FX: map[string]string{},
		PriceNotes: map[string]QuoteNote{}, FXNotes: map[string]QuoteNote{}, Rates: map[string]string{},
		RateNotes: map[string]QuoteNote{}, Source: batch.source}
	evt := pricesEvent{Event: t.event(EventPricesPosted), Date: date, Prices: map[string]string{}, FX: map[string]string{},
		Rates: map[string]string{}}
	if latest != nil {
		next.Version = latest.Version + 1
		next.Kind = PricesAddition
		for _, k := range sortedKeys(latest.Prices) {
			next.Prices[k] = latest.Prices[k]
		}
		for _, k := range sortedKeys(latest.FX) {
			next.FX[k] = latest.FX[k]
		}
		for _, k := range sortedKeys(latest.PriceNotes) {
			next.PriceNotes[k] = latest.PriceNotes[k]
		}
		for _, k := range sortedKeys(latest.FXNotes) {
			next.FXNotes[k] = latest.FXNotes[k]
		}
		for _, k := range sortedKeys(latest.Rates) {
			next.Rates[k] = latest.Rates[k]
		}
		for _, k := range sortedKeys(latest.RateNotes) {
			next.RateNotes[k] = latest.RateNotes[k]
		}
		if batch.source == "" {
			next.Source = latest.Source
		}
		if correction {
			next.Kind, next.Reason = PricesCorrection, reason
			evt.Type, evt.Reason = EventPricesCorrected, reason
			evt.PreviousPrices, evt.PreviousFX, evt.PreviousRates = map[string]string{}, map[string]string{}, map[string]string{}
		}
	}
	if next.Version > maxPriceVersions {
		return "", fmt.Errorf("prices for %s have reached %d versions", date, maxPriceVersions)
	}
	merge := func(what string, target, incoming, changed, previous map[string]string, notes, incomingNotes map[string]QuoteNote) error {
		for _, k := range sortedKeys(incoming) {
			old, exists := target[k]
			if exists && old == incoming[k] {
				continue
			}
			if exists && !correction {
				return fmt.Errorf("%s %s on %s is already %s (version %d): use CorrectPrices with a reason to change it to %s",
					what, k, date, old, latest.Version, incoming[k])
			}
			if exists {
				previous[k] = old
			}
			target[k] = incoming[k]
			changed[k] = incoming[k]
			delete(notes, k)
			if n, ok := incomingNotes[k]; ok {
				notes[k] = n
			}
		}
		return nil
	}
	// one direction per currency pair: with both, which rate values a token would be ambiguous
	for _, pair := range sortedKeys(batch.fx) {
		inverse := pair[3:] + pair[:3]
		if _, ok := batch.fx[inverse]; ok {
			return "", fmt.Errorf("invalid FX pair %s: the batch also has its inverse %s; post one direction (the other is derived)", pair, inverse)
		}
		if _, ok := next.FX[inverse]; ok {
			return "", fmt.Errorf("invalid FX pair %s: %s is already posted for %s; post one direction (the other is derived)", pair, inverse, date)
		}
	}
	if err := merge("price of", next.Prices, batch.prices, evt.Prices, evt.PreviousPrices, next.PriceNotes, batch.priceNotes); err != nil {
		return "", err
	}
	if err := merge("FX rate", next.FX, batch.fx, evt.FX, evt.PreviousFX, next.FXNotes, batch.fxNotes); err != nil {
		return "", err
	}
	if err := merge("fixing of", next.Rates, batch.rates, evt.Rates, evt.PreviousRates, next.RateNotes, batch.rateNotes); err != nil {
		return "", err
	}
	if latest != nil && len(evt.Prices) == 0 && len(evt.FX) == 0 && len(evt.Rates) == 0 {
		return t.finish(PostResult{Date: date, Version: latest.Version, Kind: latest.Kind, Changed: false})
	}
	next.PostedBy, next.PostedAt, next.TxID = t.caller.id, t.timestamp(), t.txID
	versionKey, err := t.key(keyPriceVersion, date, fmt.Sprintf("%06d", next.Version))
	if err != nil {
		return "", err
	}
	if err := t.putJSON(versionKey, next); err != nil {
		return "", err
	}
	if err := t.putJSON(headKey, PriceHead{Date: date, LatestVersion: next.Version}); err != nil {
		return "", err
	}
	last, err := t.lastPriceDate()
	if err != nil {
		return "", err
	}
	if date > last.Date {
		metaKey, err := t.key(keyMeta, "lastPriceDate")
		if err != nil {
			return "", err
		}
		if err := t.putJSON(metaKey, DateRecord{Date: date}); err != nil {
			return "", err
		}
	}
	evt.Version, evt.Kind = next.Version, next.Kind
	if err := t.emit(evt); err != nil {
		return "", err
	}
	return t.finish(PostResult{Date: date, Version: next.Version, Kind: next.Kind, Changed: true})
}

// parsePriceBatch parses and validates a batch: every price names a defined security token and is
// a positive decimal; every FX pair is two different ISO codes with a positive decimal rate.
func (t *txn) parsePriceBatch(date, s string) (*cleanBatch, error) {
	var b PriceBatch
	if err := strictJSON("batch", s, 512*1024, &b); err != nil {
		return nil, err
	}
	if b.Date != "" && b.Date != date {
		return nil, fmt.Errorf("invalid batch: its date %s is not the date argument %s", truncate(b.Date, 20), date)
	}
	if err := validateText("batch source", b.Source, 256, false); err != nil {
		return nil, err
	}
	entries := len(b.Prices) + len(b.FX) + len(b.Rates)
	if entries == 0 {
		return nil, fmt.Errorf("invalid batch: no prices, no FX rates and no fixings")
	}
	if entries > maxPriceEntries {
		return nil, fmt.Errorf("invalid batch: %d entries; at most %d per transaction", entries, maxPriceEntries)
	}
	clean := &cleanBatch{source: b.Source, prices: map[string]string{}, fx: map[string]string{},
		priceNotes: map[string]QuoteNote{}, fxNotes: map[string]QuoteNote{}, rates: map[string]string{},
		rateNotes: map[string]QuoteNote{}}
	for _, id := range sortedKeys(b.Prices) {
		if !identifierPattern.MatchString(id) {
			return nil, fmt.Errorf("unknown instrument %q: not a token id", truncate(id, 70))
		}
		key, err := t.key(keyToken, id)
		if err != nil {
			return nil, err
		}
		var tok Token
		found, err := t.getJSON(key, &tok)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, fmt.Errorf("unknown instrument %s: no token with that id", id)
		}
		if tok.Kind == KindCash {
			return nil, fmt.Errorf("instrument %s is a cash token: its price is always 1 and is not posted", id)
		}
		value, note, err := parseQuote("price of "+id, date, b.Prices[id])
		if err != nil {
			return nil, err
		}
		clean.prices[id] = value
		if note != (QuoteNote{}) {
			clean.priceNotes[id] = note
		}
	}
	for _, pair := range sortedKeys(b.FX) {
		m := fxPairPattern.FindStringSubmatch(pair)
		if m == nil || m[1] == m[2] {
			return nil, fmt.Errorf("invalid FX pair %q: expected two different ISO currency codes such as \"USDJPY\"", truncate(pair, 20))
		}
		value, note, err := parseQuote("FX rate "+pair, date, b.FX[pair])
		if err != nil {
			return nil, err
		}
		clean.fx[pair] = value
		if note != (QuoteNote{}) {
			clean.fxNotes[pair] = note
		}
	}
	for _, name := range sortedKeys(b.Rates) {
		if !benchmarkPattern.MatchString(name) {
			return nil, fmt.Errorf("invalid benchmark %q: expected 2-16 capital letters and digits such as \"SOFR\"", truncate(name, 20))
		}
		value, note, err := parseSignedQuote("fixing of "+name, date, b.Rates[name])
		if err != nil {
			return nil, err
		}
		clean.rates[name] = value
		if note != (QuoteNote{}) {
			clean.rateNotes[name] = note
		}
	}
	return clean, nil
}

// benchmarkPattern is a benchmark rate's name (TONA, SOFR, ESTR, SONIA).
var benchmarkPattern = regexp.MustCompile(`^[A-Z][A-Z0-9]{1,15}$`)

// parseQuote reads a positive value given as a decimal string or as a quote object.
func parseQuote(what, date string, raw json.RawMessage) (string, QuoteNote, error) {
	return readQuote(what, date, raw, parsePositiveDecimal)
}

// parseSignedQuote reads a value of any sign (a benchmark fixing) like parseQuote.
func parseSignedQuote(what, date string, raw json.RawMessage) (string, QuoteNote, error) {
	return readQuote(what, date, raw, parseSignedDecimal)
}

func readQuote(what, date string, raw json.RawMessage, parse func(string, string) (*big.Rat, string, error)) (string, QuoteNote, error) {
	var q quoteInput
	trimmed := strings.TrimSpace(string(raw))
	if strings.HasPrefix(trimmed, "{") {
		if err := strictJSON(what, trimmed, 4096, &q); err != nil {
			return "", QuoteNote{}, err
		}
	} else if err := json.Unmarshal(raw, &q.Value); err != nil {
		return "", QuoteNote{}, fmt.Errorf("invalid %s: expected a decimal string such as \"101.25\" or an object {\"value\": ...}", what)
	}
	_, value, err := parse(what, q.Value)
	if err != nil {
		return "", QuoteNote{}, err
	}
	note := QuoteNote{ConfirmedBy: q.ConfirmedBy}
	if q.AsOf != "" {
		if err := validateDate(what+" asOf", q.AsOf); err != nil {
			return "", QuoteNote{}, err
		}
		if q.AsOf > date {
			return "", QuoteNote{}, fmt.Errorf("invalid %s: observed on %s, after the valuation date %s", what, q.AsOf, date)
		}
		if q.AsOf != date {
			note.AsOf = q.AsOf
		}
	}
	if err := validateText(what+" confirmedBy", q.ConfirmedBy, 128, false); err != nil {
		return "", QuoteNote{}, err
	}
	return value, note, nil
}

// loadPrices reads a version of a date's prices (0 = latest); nil when the date has none.
func (t *txn) loadPrices(date string, version int) (*PriceSet, error) {
	headKey, err := t.key(keyPriceHead, date)
	if err != nil {
		return nil, err
	}
	var head PriceHead
	found, err := t.getJSON(headKey, &head)
	if err != nil || !found {
		return nil, err
	}
	if version == 0 {
		version = head.LatestVersion
	}
	if version > head.LatestVersion {
		return nil, fmt.Errorf("no version %d of the prices for %s (latest is %d)", version, date, head.LatestVersion)
	}
	key, err := t.key(keyPriceVersion, date, fmt.Sprintf("%06d", version))
	if err != nil {
		return nil, err
	}
	var set PriceSet
	found, err = t.getJSON(key, &set)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("internal error: version %d of the prices for %s is missing", version, date)
	}
	set.LatestVersion = head.LatestVersion
	return &set, nil
}

func (t *txn) lastPriceDate() (LastDate, error) {
	key, err := t.key(keyMeta, "lastPriceDate")
	if err != nil {
		return LastDate{}, err
	}
	var stored DateRecord
	if _, err := t.getJSON(key, &stored); err != nil {
		return LastDate{}, err
	}
	last := LastDate{Date: stored.Date}
	if last.Date != "" {
		headKey, err := t.key(keyPriceHead, last.Date)
		if err != nil {
			return LastDate{}, err
		}
		var head PriceHead
		if _, err := t.getJSON(headKey, &head); err != nil {
			return LastDate{}, err
		}
		last.LatestVersion = head.LatestVersion
	}
	return last, nil
}
