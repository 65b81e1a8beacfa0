"""tanpo agreements as ISDA/ISLA Common Domain Model (CDM) JSON, both ways.

`agreement_to_cdm` writes an agreement as a CDM ``TradeState`` (CDM 7 structure, the ``@type`` /
``@data`` / ``@key`` JSON form of the CDM's own sample files); `terms_from_cdm` reads such a
document back into `Terms`, refusing what it cannot map with a `CdmError` that names the JSON path
and what was expected. Export then import reproduces the same terms.

Mapping (paths below ``trade.``; ``ET`` = ``product.economicTerms``, ``C`` = ``ET.collateral``):

=========================  ========================================================================
tanpo term                 CDM
=========================  ========================================================================
id                         ``tradeIdentifier[issuer "tanpo"].assignedIdentifier[0].identifier``
lender                     ``party[]`` (partyId scheme ``tanpo:party``) with ``partyRole`` Lender
                           and ``counterparty`` Party1
borrower                   the same with ``partyRole`` Borrower and ``counterparty`` Party2
tradeDate                  ``tradeDate``
startDate                  ``ET.effectiveDate.adjustableDate.unadjustedDate`` (and the near
                           ``assetLeg``'s settlement date)
endDate                    ``ET.terminationDate.adjustableDate.unadjustedDate``; absent = open
                           (and the far ``assetLeg``)
loan token                 ``ET.payout[0]``, an ``AssetPayout`` (payer Party2 = borrower, receiver
                           Party1 = lender): its ``underlier`` is a ``Security`` (an ST) or
                           ``Cash`` (a CT) identified by the tanpo token id (``identifierType``
                           Other, scheme ``tanpo:token``) and, when defined, its ISIN, ticker
                           (ExchangeCode) or currency (CurrencyCode)
loan quantity              ``tradeLot[0].priceQuantity[0].quantity`` (referenced by the payout's
                           ``priceQuantity.quantitySchedule``)
collateral legs            ``C.collateralPortfolio[0].collateralPosition[i]``: ``asset`` and
                           ``priceQuantity[0].quantity``, in priority order
per-token haircut          ``collateralPosition[i].treatment.valuationTreatment.haircutPercentage``
collateral kind            ``C.collateralProvisions.collateralType``: Cash (all CTs) or NonCash
haircut α                  ``C.collateralProvisions.eligibleCollateral[0]`` (criteria: the
                           collateral tokens) ``.treatment.valuationTreatment.haircutPercentage``
threshold β                ``C.collateralProvisions.eligibleCollateral[1]``
                           ``.treatment.valuationTreatment.marginPercentage`` = **1 + β**
legal agreement            ``contractDetails.documentation[0]``: MasterAgreement GMSLA (ISLA)
status                     ``state.positionState`` (export only)
=========================  ========================================================================

Two CDM rules shape the haircut and threshold: ``haircutPercentage`` and ``marginPercentage`` are a
*required choice* in one ``CollateralValuationTreatment`` (hence two eligible-collateral entries),
and ``marginPercentage`` must be at least 1 (a margin ratio: 1.02 = 102 %), hence 1 + β. Note that
CDM means a collateralisation ratio there, while tanpo's β is the tolerance band of the margin call
trigger (``|g| > β·V_L``); readers outside tanpo should take it as documented here.

**The tanpo extension.** What CDM has no field for lives in one object at the document root,
``"tanpoExtension"`` (the only key that is not CDM; drop it before handing the document to a strict
CDM reader): ``collateralPriority`` (the token ids CT1…CTn), ``adjustmentMode`` (single | multi),
``settlementLagDays``, ``autoIssue``, ``minimumTransferAmount`` (a decimal string) and
``baseCurrency`` (the valuation currency). Without it, an import takes the positions' order as the
priority, lag 0, no auto-issue, MTA 0 and the loan token's currency as the base; the mode is single
with one collateral token, and a trade with several is refused without ``adjustmentMode``.

Known departures from CDM's data rules (the structure follows CDM 7, but the output has not been
run through CDM's Java validators): a cash loan (a CT loan leg) is written as an ``AssetPayout``
on ``Cash``, which CDM's ``UnderlierNotCash`` condition forbids (CDM models a cash loan as a repo
whose AssetPayout underlier is the collateral security); an ST underlier carries no
``settlementTerms`` settlement centres (the ledger settles); the GMSLA documentation names the
agreement without ``agreementTerms``.

Import is strict: fees and rebates (other payouts, ``minimumFee``, ``dividendTerms``), collateral
given only by a schedule reference, relative dates, fractional quantities, and other asset kinds are
refused. Both JSON forms of metadata are read (``{"@data": x}`` and the older ``{"value": x}``), as
are both forms of choice types (``{"@type": "…Security", …}`` and ``{"Security": {…}}``).
Numbers are exact: JSON numbers are read as decimals, and written digit for digit.

**Invoices.** `invoice_to_cdm` writes a pair's monthly invoice (``tanpo billing export --cdm``) as
a CDM ``SecurityLendingInvoice`` (export only):

=========================  ========================================================================
tanpo invoice              CDM
=========================  ========================================================================
payee (owed the net)       ``sendingParty`` (it sends the invoice)
payer                      ``receivingParty``
month                      ``billingStartDate`` (its first day), ``billingEndDate`` (its last)
each line                  ``billingRecord[i]``: ``tradeState`` a reference to the agreement's
                           TradeState (``@ref:external`` naming the agreement id, the tanpo
                           ``tradeIdentifier`` of ``agreement export --cdm``),
                           ``recordStartDate`` / ``recordEndDate`` (the month), ``minimumFee``
                           (the line's top-up to the terms' minimum fee, as Money) and
                           ``recordTransfer``: the line's net as Money in ``quantity``, paid by
                           the borrower to the lender when positive (``payerReceiver``; the
                           other way when negative)
the net                    ``billingSummary[0]``: ``summaryAmountType`` GrandTotal,
                           ``summaryTransfer`` the invoice's net from payer to payee, settling
                           on the due date
=========================  ========================================================================

Amounts are decimals in the invoice's currency, written digit for digit; a line's exact value with
no finite decimal form (a day count's 1/365) is rounded to 10 decimal places, and the exact
invoice stays in ``tanpoExtension`` (``invoice``: id, pair, amount in whole units of the cash
token, due date, status and each line's exact fee, rebate and net).
"""


from tanpo.client.cdm.events import agreement_events, agreement_workflow
from tanpo.client.cdm.export import agreement_to_cdm, terms_to_cdm
from tanpo.client.cdm.invoice import invoice_to_cdm
from tanpo.client.cdm.jsontext import (
    CDM_VERSION,
    EXTENSION,
    EXTENSION_SCHEMA,
    LOAN_QUANTITY_KEY,
    PARTY_SCHEME,
    TOKEN_SCHEME,
    TRADE_ID_ISSUER,
    CdmError,
    dumps,
    loads,
)
from tanpo.client.cdm.reader import terms_from_cdm
from tanpo.client.cdm.rules import Violation, violations

__all__ = [
    "CDM_VERSION", "EXTENSION", "EXTENSION_SCHEMA", "LOAN_QUANTITY_KEY", "PARTY_SCHEME",
    "TOKEN_SCHEME", "TRADE_ID_ISSUER", "CdmError", "Violation", "agreement_events",
    "agreement_to_cdm", "agreement_workflow", "dumps", "invoice_to_cdm", "loads",
    "terms_from_cdm", "terms_to_cdm", "violations",
]
