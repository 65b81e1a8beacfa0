package contracts

// Every transaction that changes state emits exactly one chaincode event. Its name equals the
// payload's "type" field, and the payload describes everything the transaction did. Transactions
// that change nothing (idempotent repeats) emit no event.
const (
	EventIdentityRegistered  = "IdentityRegistered"
	EventIdentityRevoked     = "IdentityRevoked"
	EventSettingsChanged     = "PlatformSettingsChanged"
	EventPing                = "Ping"
	EventTokenDefined        = "TokenDefined"
	EventTokenUpdated        = "TokenUpdated"
	EventIssuanceRequested   = "IssuanceRequested"
	EventIssuanceApproved    = "IssuanceApproved"
	EventIssuanceRejected    = "IssuanceRejected"
	EventRedemptionRequested = "RedemptionRequested"
	EventRedemptionApproved  = "RedemptionApproved"
	EventRedemptionRejected  = "RedemptionRejected"
	EventTransfer            = "Transfer"
	EventAgreementProposed   = "AgreementProposed"
	EventAgreementApproved   = "AgreementApproved"
	EventAgreementRejected   = "AgreementRejected"
	EventAgreementWithdrawn  = "AgreementWithdrawn"
	EventTerminationRequest  = "TerminationRequested"
	EventTerminationCancel   = "TerminationCancelled"
	EventAgreementClosed     = "AgreementClosed"
	// life cycle (lifecycle.go); maturity, failed recalls and settlement fails of the daily cycle
	// are listed in its MarginBatch event
	EventRecallRequested       = "RecallRequested"
	EventLoanReturned          = "LoanReturned"
	EventNoticeGiven           = "NoticeGiven"
	EventSubstitutionRequest   = "SubstitutionRequested"
	EventSubstitutionCancel    = "SubstitutionCancelled"
	EventCollateralSubstituted = "CollateralSubstituted"
	EventBuyIn                 = "BuyIn"
	// billing (billing.go)
	EventInvoiceIssued  = "InvoiceIssued"
	EventInvoicePaid    = "InvoicePaid"
	EventInvoiceQueried = "InvoiceLineQueried"
	// eligibility (schedule.go)
	EventScheduleDefined = "ScheduleDefined"
	// disputes and price corrections (disputes.go)
	EventCallDisputed    = "CallDisputed"
	EventDisputeResolved = "DisputeResolved"
	EventCallsAdjusted   = "CallsAdjusted"
	EventPricesPosted    = "PricesPosted"
	EventPricesCorrected = "PricesCorrected"
	EventMarginCall      = "MarginCall"
	EventMarginBatch     = "MarginBatch"   // SweepAgreements
	EventSweepFinished   = "SweepFinished" // FinishSweep
)

type eventPayload interface{ eventType() string }

// Event is embedded in every payload; it contributes the "type" field.
type Event struct {
	Type string `json:"type"`
	TxID string `json:"txId"`
}

func (e Event) eventType() string { return e.Type }

func (t *txn) event(typ string) Event { return Event{Type: typ, TxID: t.txID} }

// Transfer is one movement of tokens. From and To are party ids. Leg says why the tokens moved:
//
//	transfer     a free transfer between parties
//	loan         the loan leg of an agreement (lender -> borrower at opening, back at close)
//	collateral   collateral into (borrower -> lender) or out of (lender -> borrower) the custody of an
//	             agreement; at close a negative position is redelivered borrower -> lender
//	margin       a margin-call adjustment of collateral
//
// Held is true when the tokens enter or leave collateral held under an agreement rather than a
// free balance.
type Transfer struct {
	Token    string `json:"token"`
	Quantity string `json:"quantity"`
	From     string `json:"from"`
	To       string `json:"to"`
	Leg      string `json:"leg"`
	Held     bool   `json:"held"`
}

// Mint is an issuance (tokens created into a party's free balance) or, in RedemptionApproved, a
// burn.
type Mint struct {
	Token    string `json:"token"`
	Party    string `json:"party"`
	Quantity string `json:"quantity"`
	Supply   string `json:"supply"` // total supply after the mint or burn
}
