"""A pair's monthly invoice written as a CDM SecurityLendingInvoice (export only).

Each record's and the summary's transfer is a CDM ``ScheduledTransfer`` of type NetInterest (the
net of fee and rebate) in Cash of the invoice's currency, settling on the due date. The summary
is a ``ParentTotal`` (the pair's total): CDM's ``GrandTotal`` condition asks for a summary transfer
without payer and receiver, which no Transfer can be (``TransferBase.payerReceiver`` is 1..1).
"""

from __future__ import annotations

from fractions import Fraction

from tanpo.client.cdm.export import money_json, party_json
from tanpo.client.cdm.jsontext import EXTENSION, EXTENSION_SCHEMA, Json
from tanpo.client.models import Invoice


def cash_asset(currency: str) -> Json:
    """A currency as a CDM Cash asset."""
    return {"@type": "cdm.base.staticdata.asset.common.Cash",
            "identifier": [{"identifier": {"@data": currency}, "identifierType": "CurrencyCode"}],
            "assetType": "Cash"}


def _transfer(amount: Fraction, currency: str, payer: str, receiver: str, due: str) -> Json:
    # A CDM Transfer (a choice type): the net of fee and rebate is a scheduled NetInterest
    # transfer; AssetFlowBase needs its quantity, asset and settlement date.
    return {"@type": "cdm.event.common.ScheduledTransfer",
            "quantity": money_json(amount, currency),
            "asset": cash_asset(currency),
            "settlementDate": {"adjustedDate": due},
            "payerReceiver": _payer_receiver(payer, receiver),
            "transferType": "NetInterest"}


def _payer_receiver(payer: str, receiver: str) -> Json:
    return {"payerPartyReference": {"@ref:external": payer},
            "receiverPartyReference": {"@ref:external": receiver}}


def invoice_to_cdm(invoice: Invoice) -> Json:
    """A pair's invoice as a CDM SecurityLendingInvoice (the mapping in the module's notes)."""
    start, end = invoice.start.isoformat(), invoice.end.isoformat()
    due = invoice.due_date.isoformat()
    records = []
    for line in invoice.lines:
        payer, receiver = ((line.borrower, line.lender) if line.net >= 0
                           else (line.lender, line.borrower))
        records.append({
            "tradeState": {"@ref:external": line.agreement},
            "recordTransfer": _transfer(abs(line.net), invoice.currency, payer, receiver, due),
            "recordStartDate": start,
            "recordEndDate": end,
            "minimumFee": money_json(line.minimum_top_up, invoice.currency),
        })
    return {
        "sendingParty": party_json(invoice.payee),
        "receivingParty": party_json(invoice.payer),
        "billingStartDate": start,
        "billingEndDate": end,
        "billingRecord": records,
        # ParentTotal, the pair's total: CDM's GrandTotal condition wants a summary transfer
        # without payerReceiver, which every Transfer must have (TransferBase, 1..1)
        "billingSummary": [{
            "summaryTransfer": _transfer(invoice.net, invoice.currency, invoice.payer,
                                         invoice.payee, due),
            "summaryAmountType": "ParentTotal",
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
