"""A pair's monthly invoice written as a CDM SecurityLendingInvoice (export only)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from tanpo.client.cdm.export import party_json
from tanpo.client.cdm.jsontext import EXTENSION, EXTENSION_SCHEMA, Json
from tanpo.client.models import Invoice, decimal_string

INVOICE_PLACES = 10


def _amount(x: Fraction) -> Decimal:
    """An amount as a decimal: exact when it has a finite decimal form, else rounded."""
    try:
        return Decimal(decimal_string(x))
    except ValueError:
        return Decimal(decimal_string(Fraction(round(x * 10**INVOICE_PLACES),
                                               10**INVOICE_PLACES)))


def _money(x: Fraction, currency: str) -> Json:
    return {"value": _amount(x), "unit": {"currency": {"@data": currency}}}


def _payer_receiver(payer: str, receiver: str) -> Json:
    return {"payerPartyReference": {"@ref:external": payer},
            "receiverPartyReference": {"@ref:external": receiver}}


def invoice_to_cdm(invoice: Invoice) -> Json:
    """A pair's invoice as a CDM SecurityLendingInvoice (the mapping in the module's notes)."""
    start, end = invoice.start.isoformat(), invoice.end.isoformat()
    records = []
    for line in invoice.lines:
        payer, receiver = ((line.borrower, line.lender) if line.net >= 0
                           else (line.lender, line.borrower))
        records.append({
            "tradeState": {"@ref:external": line.agreement},
            "recordTransfer": {"quantity": _money(abs(line.net), invoice.currency),
                               "payerReceiver": _payer_receiver(payer, receiver)},
            "recordStartDate": start,
            "recordEndDate": end,
            "minimumFee": _money(line.minimum_top_up, invoice.currency),
        })
    return {
        "sendingParty": party_json(invoice.payee),
        "receivingParty": party_json(invoice.payer),
        "billingStartDate": start,
        "billingEndDate": end,
        "billingRecord": records,
        "billingSummary": [{
            "summaryTransfer": {"quantity": _money(invoice.net, invoice.currency),
                                "payerReceiver": _payer_receiver(invoice.payer, invoice.payee),
                                "settlementDate": {"adjustedDate": invoice.due_date.isoformat()}},
            "summaryAmountType": "GrandTotal",
        }],
        EXTENSION: {
            "schema": EXTENSION_SCHEMA,
            "invoice": {
                "id": invoice.id, "pair": invoice.pair, "currency": invoice.currency,
                "net": str(invoice.net), "amount": str(invoice.amount),
                "dueDate": invoice.due_date.isoformat(), "status": invoice.status,
                "lines": [{"agreement": x.agreement, "days": x.days,
                           "feeAccrued": str(x.fee_accrued), "feeCharged": str(x.fee_charged),
                           "rebate": str(x.rebate), "net": str(x.net)}
                          for x in invoice.lines],
            },
        },
    }
