package contracts

import (
	"fmt"
	"math/big"
	"regexp"
	"time"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"

	"tanpo/chaincode/margin"
)

// BillingContract invoices the fees and rebates accrued under a pair's agreements (economics.go):
// one invoice per pair of banks, month and currency, in the pair's collection, so both banks see
// the same invoice. Each agreement's line is its month's accrued fee (raised to the terms' minimum
// fee), less the rebate; the invoice nets the lines into what one bank owes the other, rounded to
// a whole unit of the cash token it is paid in (the only rounding: the lines stay exact). The
// payer settles it with a cash-token transfer, which marks it paid; either bank may query a line.
type BillingContract struct {
	contractapi.Contract
}

// ContractBilling is the billing contract's name.
const ContractBilling = "billing"

// Invoice statuses.
const (
	InvoiceIssued = "ISSUED"
	InvoicePaid   = "PAID"
)

// invoiceDueDays is how long after the end of its month an invoice is due.
const invoiceDueDays = 10

// Invoice is a pair's invoice for one month and currency.
type Invoice struct {
	ID       string        `json:"id"` // INV-<month>-<currency>, unique in the pair
	Pair     string        `json:"pair"`
	Month    string        `json:"month"` // 2025-06
	Currency string        `json:"currency"`
	Lines    []InvoiceLine `json:"lines"`
	// Net is what Payer owes Payee over all lines (exact); Amount is Net rounded to whole units.
	Net       string `json:"net"`
	Amount    string `json:"amount"`
	Payer     string `json:"payer"`
	Payee     string `json:"payee"`
	DueDate   string `json:"dueDate"`
	Status    string `json:"status"`
	IssuedBy  string `json:"issuedBy"`
	IssueTx   string `json:"issueTx"`
	PaidWith  string `json:"paidWith,omitempty"` // the cash token
	PaidTx    string `json:"paidTx,omitempty"`
	UpdatedAt string `json:"updatedAt"`
}

// InvoiceLine is one agreement's month: the fee the borrower owes the lender (accrued, raised to
// the minimum) and the rebate the lender owes the borrower; Net = FeeCharged − Rebate, owed by the
// borrower to the lender when positive.
type InvoiceLine struct {
	Agreement    string        `json:"agreement"`
	Lender       string        `json:"lender"`
	Borrower     string        `json:"borrower"`
	Days         int           `json:"days"`
	FeeAccrued   string        `json:"feeAccrued"`
	MinimumTopUp string        `json:"minimumTopUp"`
	FeeCharged   string        `json:"feeCharged"`
	Rebate       string        `json:"rebate"`
	Net          string        `json:"net"`
	Query        *InvoiceQuery `json:"query,omitempty"`
}

// InvoiceQuery is a bank's question about a line.
type InvoiceQuery struct {
	By   string `json:"by"`
	Note string `json:"note"`
	TxID string `json:"txId"`
}

// invoiceEvent names the invoice and what happened; the figures are the pair's to read.
type invoiceEvent struct {
	Event
	Invoice string `json:"invoice"`
	Pair    string `json:"pair"`
	Status  string `json:"status"`
}

var monthPattern = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

// GetEvaluateTransactions tags the read-only functions in the metadata.
func (c *BillingContract) GetEvaluateTransactions() []string {
	return []string{"GetInvoice"}
}

// IssueInvoice invoices a finished month's fees and rebates of the pair named in the transient
// field tanpo.pair, in one currency (the agreements' base currency). Either bank of the pair or the
// oracle, once the month has ended (business date). It takes each agreement's month totals from
// its custody entry (they leave it), so a month is invoiced once; an agreement accrues into the
// month until its close.
func (c *BillingContract) IssueInvoice(ctx contractapi.TransactionContextInterface, month, currency string) (string, error) {
	t, coll, err := beginBilling(ctx, "IssueInvoice", month, currency)
	if err != nil {
		return "", err
	}
	if !t.caller.operatorSide() {
		if _, err := t.requireParty(); err != nil {
			return "", err
		}
	} else if !t.caller.hasRole(RoleOracle) {
		return "", fmt.Errorf("access denied: %s does not have the %s role", t.caller.describe(), RoleOracle)
	}
	today, err := t.businessDate()
	if err != nil {
		return "", err
	}
	monthEnd := nextMonth(month + "-01")
	if today < monthEnd {
		return "", fmt.Errorf("the month %s has not ended (today is %s in %s): invoice it from %s", month, today, t.platform.TimeZone, monthEnd)
	}
	key, err := t.pairKey(coll, keyInvoice, month, currency)
	if err != nil {
		return "", err
	}
	if v, err := t.get(key); err != nil {
		return "", err
	} else if v != nil {
		return "", fmt.Errorf("the invoice of %s for %s in %s is already issued", coll, month, currency)
	}
	first, second, _ := collectionParties(coll)
	inv := &Invoice{ID: "INV-" + month + "-" + currency, Pair: coll, Month: month, Currency: currency, Lines: []InvoiceLine{},
		Status: InvoiceIssued, IssuedBy: t.caller.party(), IssueTx: t.txID, UpdatedAt: t.timestamp()}
	due, err := time.Parse(isoDate, monthEnd)
	if err != nil {
		return "", err
	}
	inv.DueDate = due.AddDate(0, 0, invoiceDueDays-1).Format(isoDate)
	owedToFirst := new(big.Rat) // what the second bank owes the first over all lines
	err = t.eachCustodyEntry(coll, func(bookID, id string, entry *Custody) error {
		if entry.Accrual == nil || entry.Accrual.Months[month] == nil {
			return nil
		}
		a, err := t.termsFromBook(coll, bookID, id)
		if err != nil {
			return err
		}
		if a == nil {
			if a, err = t.loadAgreementIn(coll, id); err != nil {
				return err
			}
		}
		if a.Terms.BaseCurrency != currency {
			return nil
		}
		line, err := invoiceLine(a, entry.Accrual.Months[month])
		if err != nil {
			return err
		}
		inv.Lines = append(inv.Lines, line)
		net, _ := new(big.Rat).SetString(line.Net)
		if a.Terms.Lender == first {
			owedToFirst.Add(owedToFirst, net)
		} else {
			owedToFirst.Sub(owedToFirst, net)
		}
		// the month leaves the custody entry: it is invoiced
		c, err := t.custodyToChange(a)
		if err != nil {
			return err
		}
		st := *c.Accrual
		st.Months = make(map[string]*MonthAccrual, len(c.Accrual.Months))
		for k, v := range c.Accrual.Months {
			if k != month {
				st.Months[k] = v
			}
		}
		c.Accrual = &st
		return nil
	})
	if err != nil {
		return "", err
	}
	if len(inv.Lines) == 0 {
		return "", fmt.Errorf("nothing to invoice for %s in %s: no agreement of %s accrued fees or rebates that month", month, currency, coll)
	}
	inv.Payer, inv.Payee = second, first
	if owedToFirst.Sign() < 0 {
		inv.Payer, inv.Payee = first, second
		owedToFirst.Neg(owedToFirst)
	}
	inv.Net = owedToFirst.RatString()
	inv.Amount = margin.RoundToUnit(owedToFirst).String()
	if err := t.putJSON(key, inv); err != nil {
		return "", err
	}
	if err := t.emit(invoiceEvent{Event: t.event(EventInvoiceIssued), Invoice: inv.ID, Pair: coll, Status: inv.Status}); err != nil {
		return "", err
	}
	return t.finish(invoiceReceipt(inv, t.txID))
}

// invoiceLine is an agreement's line for a month's totals: the engine's bill of the month.
func invoiceLine(a *Agreement, m *MonthAccrual) (InvoiceLine, error) {
	fee, ok1 := new(big.Rat).SetString(m.Fee)
	rebate, ok2 := new(big.Rat).SetString(m.Rebate)
	if !ok1 || !ok2 {
		return InvoiceLine{}, fmt.Errorf("corrupt accrual of agreement %s", a.ID)
	}
	acc, err := accruer(&a.Terms)
	if err != nil {
		return InvoiceLine{}, err
	}
	bill := acc.Bill([]*margin.Accrual{{Fee: fee, Rebate: rebate}})
	return InvoiceLine{Agreement: a.ID, Lender: a.Terms.Lender, Borrower: a.Terms.Borrower, Days: m.Days,
		FeeAccrued: bill.FeeAccrued.RatString(), MinimumTopUp: bill.MinimumTopUp.RatString(),
		FeeCharged: bill.FeeCharged.RatString(), Rebate: bill.Rebate.RatString(), Net: bill.Net.RatString()}, nil
}

// PayInvoice settles an issued invoice (its payer only) with a transfer of token, a cash token in
// the invoice's currency, of the invoice's amount to the payee.
func (c *BillingContract) PayInvoice(ctx contractapi.TransactionContextInterface, month, currency, token string) (string, error) {
	t, coll, err := beginBilling(ctx, "PayInvoice", month, currency)
	if err != nil {
		return "", err
	}
	party, err := t.requireParty()
	if err != nil {
		return "", err
	}
	inv, key, err := t.loadInvoice(coll, month, currency)
	if err != nil {
		return "", err
	}
	if party != inv.Payer {
		return "", fmt.Errorf("access denied: only the payer %s can pay invoice %s", inv.Payer, inv.ID)
	}
	if inv.Status != InvoiceIssued {
		return "", fmt.Errorf("invoice %s is %s", inv.ID, inv.Status)
	}
	tok, _, err := t.loadToken(token)
	if err != nil {
		return "", err
	}
	if tok.Kind != KindCash || tok.Currency != inv.Currency {
		return "", fmt.Errorf("token %s cannot pay invoice %s: it needs a cash token in %s", token, inv.ID, inv.Currency)
	}
	amount, err := parseStoredQuantity(inv.Amount)
	if err != nil {
		return "", err
	}
	if amount > 0 {
		if err := t.move(inv.Payer, inv.Payee, token, amount); err != nil {
			return "", err
		}
	}
	inv.Status, inv.PaidWith, inv.PaidTx, inv.UpdatedAt = InvoicePaid, token, t.txID, t.timestamp()
	if err := t.putJSON(key, inv); err != nil {
		return "", err
	}
	if err := t.emit(invoiceEvent{Event: t.event(EventInvoicePaid), Invoice: inv.ID, Pair: coll, Status: inv.Status}); err != nil {
		return "", err
	}
	return t.finish(invoiceReceipt(inv, t.txID))
}

// QueryInvoiceLine records a bank's question about an agreement's line (either bank of the pair).
func (c *BillingContract) QueryInvoiceLine(ctx contractapi.TransactionContextInterface, month, currency, agreementID, note string) (string, error) {
	t, coll, err := beginBilling(ctx, "QueryInvoiceLine", month, currency)
	if err != nil {
		return "", err
	}
	party, err := t.requireParty()
	if err != nil {
		return "", err
	}
	if err := validateText("note", note, 512, true); err != nil {
		return "", err
	}
	inv, key, err := t.loadInvoice(coll, month, currency)
	if err != nil {
		return "", err
	}
	for i := range inv.Lines {
		if inv.Lines[i].Agreement == agreementID {
			inv.Lines[i].Query = &InvoiceQuery{By: party, Note: note, TxID: t.txID}
			inv.UpdatedAt = t.timestamp()
			if err := t.putJSON(key, inv); err != nil {
				return "", err
			}
			if err := t.emit(invoiceEvent{Event: t.event(EventInvoiceQueried), Invoice: inv.ID, Pair: coll, Status: inv.Status}); err != nil {
				return "", err
			}
			return t.finish(invoiceReceipt(inv, t.txID))
		}
	}
	return "", fmt.Errorf("invoice %s has no line for agreement %s", inv.ID, truncate(agreementID, 70))
}

// GetInvoice returns the pair's invoice of a month and currency (either bank of the pair).
func (c *BillingContract) GetInvoice(ctx contractapi.TransactionContextInterface, month, currency string) (string, error) {
	t, coll, err := beginBilling(ctx, "GetInvoice", month, currency)
	if err != nil {
		return "", err
	}
	if err := t.requireBilateralReader(); err != nil {
		return "", err
	}
	inv, _, err := t.loadInvoice(coll, month, currency)
	if err != nil {
		return "", err
	}
	return t.finish(inv)
}

// InvoiceReceipt is what the billing submit functions return: no figures (they are in the block).
type InvoiceReceipt struct {
	Invoice string `json:"invoice"`
	Status  string `json:"status"`
	TxID    string `json:"txId"`
}

func invoiceReceipt(inv *Invoice, txID string) InvoiceReceipt {
	return InvoiceReceipt{Invoice: inv.ID, Status: inv.Status, TxID: txID}
}

// beginBilling opens a billing transaction: the pair it names, a month and a currency.
func beginBilling(ctx contractapi.TransactionContextInterface, what, month, currency string) (*txn, string, error) {
	t, err := begin(ctx)
	if err != nil {
		return nil, "", err
	}
	if err := t.requireRegistered(); err != nil {
		return nil, "", err
	}
	coll, err := t.requirePairHint(what)
	if err != nil {
		return nil, "", err
	}
	if !monthPattern.MatchString(month) {
		return nil, "", fmt.Errorf("invalid month %q: expected YYYY-MM", truncate(month, 20))
	}
	if !currencyPattern.MatchString(currency) {
		return nil, "", fmt.Errorf("invalid currency %q: expected an ISO 4217 code such as JPY", truncate(currency, 20))
	}
	return t, coll, nil
}

func (t *txn) loadInvoice(coll, month, currency string) (*Invoice, string, error) {
	key, err := t.pairKey(coll, keyInvoice, month, currency)
	if err != nil {
		return nil, "", err
	}
	var inv Invoice
	found, err := t.getJSON(key, &inv)
	if err != nil {
		return nil, "", err
	}
	if !found {
		return nil, "", fmt.Errorf("no invoice of %s for %s in %s", coll, month, currency)
	}
	return &inv, key, nil
}
