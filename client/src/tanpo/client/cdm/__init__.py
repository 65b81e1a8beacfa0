"""tanpo agreements as ISDA/ISLA Common Domain Model (CDM) JSON, both ways, and the industry's own
CDM records read as they are.

Modules: `jsontext` (exact JSON text, the path-aware reader), `export` (terms and agreements as a
``TradeState``), `reader` (a Trade or ExecutionInstruction into `Terms`), `parties` (party maps,
roles, agent lenders), `documents` (what a document asks of the ledger: each trade state and
event), `check` (``tanpo cdm check``: every field mapped or ignored with a reason), `events` (an
agreement's life as CDM BusinessEvents), `invoice` (SecurityLendingInvoice), `rules` (CDM's data
rules, checked in code).

Terms (paths below ``trade.``; ``ET`` = ``product.economicTerms``, ``C`` = ``ET.collateral``,
``P`` = ``ET.payout[0]``, the AssetPayout; ``L`` = ``tradeLot[0].priceQuantity``):

=========================  ========================================================================
tanpo term                 CDM
=========================  ========================================================================
id                         ``tradeIdentifier`` of issuer ``tanpo``
reference                  another issuer's ``tradeIdentifier`` (kept whole in ``cdmExtras``), or
                           the issuer ``tanpo:reference`` tanpo writes
lender, borrower           ``party`` and ``partyRole`` Lender / Borrower; without them, the
                           payout's payer (lender) and receiver (borrower); an agent lender for a
                           principal (`parties`): the principal is kept in ``cdmExtras``
tradeDate                  ``tradeDate``
startDate, endDate         ``ET.effectiveDate``, ``ET.terminationDate`` (absent: open)
loan token and quantity    ``P.underlier`` (a Security, or Cash for a cash loan) by its tanpo id or
                           any identifier a token definition lists (ISIN, SEDOL, CUSIP, FIGI,
                           ExchangeCode …); the quantity ``P.priceQuantity.quantitySchedule``
lending fee                an InterestRate price of the loan (``P.priceQuantity.priceSchedule``,
                           or beside the loan in ``L``): 0.01 a year = 100 bps
minimum fee                ``P.minimumFee`` in the base currency (another currency: kept)
rebate                     the cash collateral position's ``InterestRatePayout``: a fixed rate
                           (0.01 = 1 %) or a floating rate option (``GBP-SONIA`` → ``SONIA``) plus
                           its spread; its ``dayCountFraction`` (ACT/365.FIXED, ACT/360)
collateral legs            ``C.collateralPortfolio[0].collateralPosition[i]``: the asset and its
                           quantity (or the rebate leg's quantity); a portfolio given only by
                           ``portfolioIdentifier`` is an eligibility schedule (``scheduleId``)
haircut α                  ``haircutPercentage`` h: α = h; ``marginPercentage`` r (a ratio, 1.02 =
                           collateral worth 102 %): α = 1 − 1/r, exact (1.02 → 1/51); below 1 (as
                           real records write 0.02) read as 1 + r, with a note; per token on the
                           position's ``treatment``
collateral kind            ``C.collateralProvisions.collateralType``: Cash, NonCash, CashPool
kept verbatim              ``cdmExtras``: the trade price, dividend terms, asset legs (delivery
                           method, settlement dates), settlement terms, trade identifiers, the
                           rebate's dates and payment schedule, the loan's value
status                     ``state.positionState`` (and ``closedState``)
=========================  ========================================================================

An export writes each term back where the import reads it, so import → export → import keeps
every understood field; what CDM has no field for travels in one object at the document root,
``"tanpoExtension"`` (drop it before handing the document to a strict CDM reader): the priority
order, adjustment mode, lag, auto-issue, minimum transfer, base currency, threshold β (β is the
margin call trigger band, not a CDM margin), the notice, substitution and early-return terms, an
own eligibility schedule, the day count without a rebate, an exact haircut a percentage would
round, and any ``cdmExtras`` with no place in the document. Numbers are exact both ways: JSON
numbers are read as decimals and written digit for digit. Both JSON forms of metadata
(``{"@data": x}``, ``{"value": x}``) and of choice types are read.
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
