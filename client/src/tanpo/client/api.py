"""The typed domain API over the Gateway client, shaped by role.

`TanpoClient` wraps one participant's connection and exposes what any registered identity can do
(read tokens, prices, its own balances and agreements). `TokenAdministrator`, `Party` and
`OracleClient` add what each role may submit; the chaincode enforces the same rules, so these
shapes only make the right call the easy one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from tanpo.client import private
from tanpo.client.connect import Connection
from tanpo.client.gateway import Contract, SubmitResult
from tanpo.client.models import (
    Agreement,
    Balance,
    CollateralReport,
    Invoice,
    InvoiceReceipt,
    MarginCall,
    Position,
    PriceSet,
    Request,
    Schedule,
    SweepOutcome,
    Terms,
    Token,
    decimal_string,
    decode,
    json_text,
    settlement_due,
    substitution_json,
)
from tanpo.client.pairs import collection_parties, pair_collection
from tanpo.client.sweep import MAX_BATCH, AdjustRun, SweepRun, adjust_day, sweep_day

Json = dict[str, Any]

_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def _month(month: str) -> str:
    """An invoice's month as the chaincode takes it (``YYYY-MM``)."""
    if not _MONTH.fullmatch(month):
        raise ValueError(f"a month is YYYY-MM, such as 2025-06, got {month!r}")
    return month


class TanpoClient:
    """Read access for any registered identity, and the submit plumbing shared by the roles."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    @property
    def last_block(self) -> int:
        """The highest block this client's connection committed a transaction in."""
        return self.connection.gateway.commits.last_block

    @property
    def party(self) -> str:
        return self.connection.party

    def _contract(self, name: str) -> Contract:
        return self.connection.contract(name)

    def _submit(self, contract: str, function: str, *args: str) -> Json:
        result: SubmitResult = self._contract(contract).submit(function, *args)
        return decode(result.result) if result.result else {}

    def _evaluate(self, contract: str, function: str, *args: str) -> Any:
        raw = self._contract(contract).evaluate(function, *args)
        return decode(raw) if raw else None

    def _submit_private(self, contract: str, function: str, *args: str, pair: str) -> Json:
        """Submit a bilateral function in ``pair``: arguments in the transient field, endorsed
        by the pair's peers (:mod:`tanpo.client.private`)."""
        result = private.submit(self._contract(contract), function, *args, pair=pair)
        return decode(result.result) if result.result else {}

    def pair_of(self, agreement_id: str) -> str:
        """The private collection of one of this bank's agreements (read on its own peer)."""
        terms = self.agreement(agreement_id).terms
        return pair_collection(terms.lender, terms.borrower)

    def _pages(self, contract: str, function: str, *args: str,
               page_size: int = 200) -> Iterator[Json]:
        bookmark = ""
        while True:
            page = self._evaluate(contract, function, *args, str(page_size), bookmark)
            yield from page.get("items") or []
            bookmark = page.get("bookmark", "")
            if not bookmark:
                return

    # --- identity -----------------------------------------------------------------------------
    def whoami(self) -> Json:
        return dict(self._evaluate("roles", "WhoAmI"))

    def platform_settings(self) -> Json:
        """The platform's settings: its business time zone (``timeZone``, ``utcOffset``) and the
        current ``businessDate`` in it."""
        return dict(self._evaluate("roles", "GetPlatformSettings"))

    def set_business_time_zone(self, zone: str) -> Json:
        """Set the platform's business time zone (the operator's admin only): a zone without
        daylight saving time such as ``Asia/Tokyo``, or a fixed offset such as ``UTC+09:00``."""
        return self._submit("roles", "SetBusinessTimeZone", zone)

    def business_date(self) -> date:
        """Today in the platform's business time zone (Asia/Tokyo unless the operator set
        another): the latest date prices may be posted for, and the date closes are checked on."""
        return date.fromisoformat(self.platform_settings()["businessDate"])

    # --- tokens -------------------------------------------------------------------------------
    def token(self, token_id: str) -> Token:
        return Token.from_json(self._evaluate("tokens", "GetToken", token_id))

    def tokens(self) -> list[Token]:
        return [Token.from_json(t) for t in self._pages("tokens", "ListTokens")]

    def balances(self, party: str = "") -> list[Balance]:
        sheet = self._evaluate("tokens", "BalanceOf", party)
        return [Balance(b["party"], b["token"], int(b["quantity"]))
                for b in sheet.get("balances") or []]

    def balance(self, token: str, party: str = "") -> int:
        return sum(b.quantity for b in self.balances(party) if b.token == token)

    def total_supply(self, token: str) -> int:
        return int(self._evaluate("tokens", "TotalSupply", token)["supply"])

    def request(self, request_id: str) -> Request:
        return Request.from_json(self._evaluate("tokens", "GetRequest", request_id))

    def requests(self, party: str = "", status: str = "") -> list[Request]:
        return [Request.from_json(r) for r in self._pages("tokens", "ListRequests", party, status)]

    def request_issuance(self, token: str, quantity: int, reference: str) -> Request:
        return Request.from_json(
            self._submit("tokens", "RequestIssuance", token, str(quantity), reference)
        )

    def request_redemption(self, token: str, quantity: int, reference: str) -> Request:
        return Request.from_json(
            self._submit("tokens", "RequestRedemption", token, str(quantity), reference)
        )

    def transfer(self, token: str, to: str, quantity: int) -> Json:
        return self._submit("tokens", "Transfer", token, to, str(quantity))

    # --- agreements ---------------------------------------------------------------------------
    def agreement(self, agreement_id: str) -> Agreement:
        return Agreement.from_json(self._evaluate("agreements", "GetAgreement", agreement_id))

    def agreements(self, party: str = "", status: str = "") -> list[Agreement]:
        return [Agreement.from_json(a)
                for a in self._pages("agreements", "ListAgreements", party, status)]

    def collateral_held(self, agreement_id: str) -> list[Position]:
        return list(self.collateral_report(agreement_id).positions)

    def collateral_report(self, agreement_id: str) -> CollateralReport:
        """Positions held under the agreement and its pending (lagged) margin transfers."""
        return CollateralReport.from_json(
            self._evaluate("agreements", "CollateralHeld", agreement_id)
        )

    # --- prices and margin --------------------------------------------------------------------
    def prices(self, day: date, version: int | None = None) -> PriceSet:
        return PriceSet.from_json(
            self._evaluate("oracle", "GetPrices", day.isoformat(),
                           "" if version is None else str(version))
        )

    def last_posted_date(self) -> date | None:
        d = self._evaluate("oracle", "LastPostedDate").get("date")
        return date.fromisoformat(d) if d else None

    def last_swept_date(self) -> date | None:
        d = self._evaluate("margin", "LastSweptDate").get("date")
        return date.fromisoformat(d) if d else None

    def margin_call(self, agreement_id: str, day: date) -> MarginCall:
        """Run the margin call for (agreement, date), or read back the recorded one (a party to
        the agreement: the record is private to its two banks)."""
        receipt = self.call_margin(agreement_id, day, self.pair_of(agreement_id))
        call = self.get_margin_call(agreement_id, day)
        return dataclasses.replace(call, replayed=receipt.get("status") == "replayed")

    def call_margin(self, agreement_id: str, day: date, pair: str) -> Json:
        """Run the margin call for (agreement, date) in ``pair`` and return its receipt
        (agreement, date, status called or replayed, txId): what the operator may know."""
        return self._submit_private("margin", "MarginCall", agreement_id, day.isoformat(),
                                    pair=pair)

    def get_margin_call(self, agreement_id: str, day: date) -> MarginCall:
        return MarginCall.from_json(
            self._evaluate("margin", "GetMarginCall", agreement_id, day.isoformat())
        )

    def margin_calls(self, agreement_id: str) -> list[MarginCall]:
        return [MarginCall.from_json(c)
                for c in self._pages("margin", "ListMarginCalls", agreement_id)]

    def sweep(self, day: date, batch_size: int = MAX_BATCH, finish: bool | None = None,
              on_batch: Callable[[Sequence[SweepOutcome]], None] | None = None) -> SweepRun:
        """Margin every active agreement this identity may sweep for ``day``
        (:func:`tanpo.client.sweep.sweep_day`). The oracle (the operator) then records the day as
        swept; a party sweeps its own agreements and records nothing. ``on_batch`` sees each
        committed batch's outcomes as it commits."""
        if finish is None:
            finish = self.party == "operator"
        return sweep_day(self.connection, day, batch_size=batch_size, finish=finish,
                         on_batch=on_batch)

    def adjust(self, day: date, counterparty: str = "", batch_size: int = MAX_BATCH) -> AdjustRun:
        """Re-run, at the corrected prices of ``day``, the calls of that date that are still
        their agreements' latest (:func:`tanpo.client.sweep.adjust_day`): the oracle every pair's,
        a bank its own pairs' (or only its pair with ``counterparty``)."""
        pairs = None
        if counterparty:
            if self.party == "operator":
                raise ValueError("the oracle adjusts every pair: name no counterparty")
            pairs = [pair_collection(self.party, counterparty)]
        return adjust_day(self.connection, day, batch_size=batch_size, pairs=pairs)

    # --- billing --------------------------------------------------------------------------------
    def billing_pair(self, counterparty: str = "", pair: str = "") -> str:
        """The pair collection a billing call names: ``pair`` as given, or this bank's pair with
        ``counterparty`` (a bank has one pair per counterparty; the oracle names the pair)."""
        if pair:
            collection_parties(pair)  # ValueError when it is not a pair collection
            if counterparty and pair != pair_collection(self.party, counterparty):
                raise ValueError(f"{pair} is not the pair of {self.party} and {counterparty}")
            return pair
        if not counterparty:
            raise ValueError("name the counterparty (or the pair) the invoice is between")
        return pair_collection(self.party, counterparty)

    def issue_invoice(self, month: str, currency: str, counterparty: str = "", *,
                      pair: str = "") -> InvoiceReceipt:
        """Invoice a finished month's fees and rebates of a pair in one currency (its
        agreements' base currency): either bank of the pair (naming its ``counterparty``) or the
        oracle (naming the ``pair``), once the month has ended on the ledger's business date.
        The month's accruals leave the agreements' custody entries: a month is invoiced once."""
        return InvoiceReceipt.from_json(self._submit_private(
            "billing", "IssueInvoice", _month(month), currency,
            pair=self.billing_pair(counterparty, pair)))


class Party(TanpoClient):
    """A lender or borrower: proposes, approves, closes its own agreements.

    Every action is private to the agreement's pair: its arguments travel in the transient field
    and the pair's peers endorse it; the chaincode answers with a receipt, and the agreement is
    then read back on this bank's own peer."""

    def _act(self, function: str, agreement_id: str, *args: str) -> Agreement:
        receipt = self._submit_private("agreements", function, agreement_id, *args,
                                       pair=self.pair_of(agreement_id))
        return self.agreement(receipt.get("agreement", agreement_id))

    def propose(self, terms: Terms) -> Agreement:
        receipt = self._submit_private("agreements", "Propose", json_text(terms.to_json()),
                                       pair=pair_collection(terms.lender, terms.borrower))
        return self.agreement(receipt["agreement"])

    def approve(self, agreement_id: str) -> Agreement:
        return self._act("Approve", agreement_id)

    def reject(self, agreement_id: str, reason: str) -> Agreement:
        return self._act("Reject", agreement_id, reason)

    def withdraw(self, agreement_id: str) -> Agreement:
        return self._act("Withdraw", agreement_id)

    def close(self, agreement_id: str) -> Agreement:
        return self._act("Close", agreement_id)

    def request_termination(self, agreement_id: str, note: str = "") -> Agreement:
        return self._act("RequestTermination", agreement_id, note)

    def accept_termination(self, agreement_id: str) -> Agreement:
        return self._act("AcceptTermination", agreement_id)

    def cancel_termination(self, agreement_id: str, reason: str = "") -> Agreement:
        """Withdraw (the requester) or decline (the counterparty) a termination request."""
        return self._act("CancelTermination", agreement_id, reason)

    # --- eligibility schedules and disputes ------------------------------------------------------
    def define_schedule(self, counterparty: str, schedule_id: str, schedule: Schedule) -> Json:
        """Define an eligibility schedule for this bank's pair with ``counterparty``
        (``agreements:DefineSchedule``): immutable once defined; terms then name it with
        ``Terms.schedule_id``. Returns the receipt ``{"schedule", "txId"}``."""
        doc = {"id": schedule_id, **schedule.to_json()}
        return self._submit_private("agreements", "DefineSchedule", json.dumps(doc),
                                    pair=pair_collection(self.party, counterparty))

    def schedule(self, counterparty: str, schedule_id: str) -> Schedule:
        """A schedule this bank's pair with ``counterparty`` defined (``GetSchedule``)."""
        raw = private.evaluate(self._contract("agreements"), "GetSchedule", schedule_id,
                               pair=pair_collection(self.party, counterparty))
        return Schedule.from_json(decode(raw)["schedule"])

    def dispute_call(self, agreement_id: str, day: date, agreed_value: Number,
                     note: str = "") -> MarginCall:
        """Dispute the margin call of ``day`` (the party that delivers under it, before the
        agreement's next call): ``agreed_value`` is the haircut value, base currency, it agrees
        to deliver; the rest is held back in whole units. Returns the call read back."""
        self._submit_private("margin", "DisputeCall", agreement_id, day.isoformat(),
                             _decimal(agreed_value, "agreed value"), note,
                             pair=self.pair_of(agreement_id))
        return self.get_margin_call(agreement_id, day)

    def resolve_dispute(self, agreement_id: str, day: date, figure: str) -> MarginCall:
        """Settle the open dispute of the call of ``day``: ``"call"`` (the disputing party
        accepts the call's figure: the held-back part is delivered) or ``"dispute"`` (the other
        party accepts the disputed figure). Returns the call read back."""
        if figure not in ("call", "dispute"):
            raise ValueError(f"the figure accepted is call or dispute, got {figure!r}")
        self._submit_private("margin", "ResolveDispute", agreement_id, day.isoformat(), figure,
                             pair=self.pair_of(agreement_id))
        return self.get_margin_call(agreement_id, day)

    # --- life cycle: recalls, returns, notice, substitution, buy-in -----------------------------
    # A dated step names its value date: on or before today in the platform's business time zone,
    # not before the start date nor the agreement's latest margin call. The steps that value
    # collateral (return, substitution, buy-in) use that date's posted prices, so their default
    # date is the latest date with prices (`priced_date`); the others default to today.

    def priced_date(self) -> date:
        """The latest date with posted prices on or before today (the ledger's business date):
        the default value date of the steps that value collateral. Today when none is posted
        (the chaincode then says which prices are missing)."""
        today = self.business_date()
        last = self.last_posted_date()
        return min(last, today) if last is not None else today

    def recall(self, agreement_id: str, quantity: int, *, date: dt.date | None = None,
               due: dt.date | None = None, note: str = "") -> Agreement:
        """Recall ``quantity`` units of the loan (the lender), to be returned by ``due``.

        ``date`` defaults to today (the ledger's business date); ``due`` to ``date`` plus the
        security's settlement cycle, two business days (:func:`settlement_due`: Monday to Friday,
        market holidays unknown to the client, so give ``due`` when one falls in between)."""
        day = date or self.business_date()
        due_day = due or settlement_due(day)
        return self._act("Recall", agreement_id, _quantity(quantity), day.isoformat(),
                         due_day.isoformat(), note)

    def return_loan(self, agreement_id: str, quantity: int, *,
                    date: dt.date | None = None) -> Agreement:
        """Return ``quantity`` units of the loan (the borrower): a part return releases the
        excess collateral at ``date``'s prices and counts against recalls, oldest first; the whole
        loan closes the agreement. ``date`` defaults to :meth:`priced_date`."""
        day = date or self.priced_date()
        return self._act("Return", agreement_id, _quantity(quantity), day.isoformat())

    def give_notice(self, agreement_id: str, *, date: dt.date | None = None,
                    note: str = "") -> Agreement:
        """Give notice ending an open agreement (either party, alone): it ends the terms' notice
        days after ``date`` (default today), and is then closed like one at its end date."""
        day = date or self.business_date()
        return self._act("GiveNotice", agreement_id, day.isoformat(), note)

    def substitute(self, agreement_id: str, out: Mapping[str, int], in_: Mapping[str, int], *,
                   date: dt.date | None = None) -> Agreement:
        """Substitute collateral (the borrower): ``out`` (token -> quantity) comes back, ``in_``
        is delivered, valued at ``date``'s prices (default :meth:`priced_date`). It settles at
        once when the terms pre-authorise substitutions, else waits for the lender's
        :meth:`approve_substitution` (the agreement's ``substitution``)."""
        legs = substitution_json({t: int(_quantity(q)) for t, q in out.items()},
                                 {t: int(_quantity(q)) for t, q in in_.items()})
        day = date or self.priced_date()
        return self._act("Substitute", agreement_id, json.dumps(legs), day.isoformat())

    def approve_substitution(self, agreement_id: str) -> Agreement:
        """Settle the borrower's pending substitution (the lender), at the prices of the date it
        was requested for."""
        return self._act("ApproveSubstitution", agreement_id)

    def cancel_substitution(self, agreement_id: str, reason: str = "") -> Agreement:
        """Withdraw (the borrower) or decline (the lender) a pending substitution."""
        return self._act("CancelSubstitution", agreement_id, reason)

    def buy_in(self, agreement_id: str, *, date: dt.date | None = None) -> Agreement:
        """Buy in what the borrower failed to return (the lender): the unreturned part of failed
        recalls, or the whole loan of a MATURED agreement, against collateral at ``date``'s
        prices (default :meth:`priced_date`)."""
        day = date or self.priced_date()
        return self._act("BuyIn", agreement_id, day.isoformat())

    # --- billing: the pair's monthly invoices (issue_invoice is shared with the oracle) ---------
    def invoice(self, month: str, currency: str, counterparty: str) -> Invoice:
        """The invoice of this bank's pair with ``counterparty`` for a month and currency, read
        on this bank's own peer (the operator may not read it)."""
        raw = private.evaluate(self._contract("billing"), "GetInvoice", _month(month), currency,
                               pair=self.billing_pair(counterparty))
        return Invoice.from_json(decode(raw))

    def pay_invoice(self, month: str, currency: str, token: str,
                    counterparty: str) -> InvoiceReceipt:
        """Pay an issued invoice (its payer only) with a transfer of ``token``, a cash token in
        the invoice's currency, of the invoice's amount to the payee; it is then PAID."""
        return InvoiceReceipt.from_json(self._submit_private(
            "billing", "PayInvoice", _month(month), currency, token,
            pair=self.billing_pair(counterparty)))

    def query_invoice_line(self, month: str, currency: str, agreement_id: str, note: str,
                           counterparty: str = "") -> InvoiceReceipt:
        """Record a question about an agreement's line of an invoice (either bank of the pair).
        The pair is the agreement's unless ``counterparty`` names it (read from the agreement,
        which this bank can read on its own peer)."""
        pair = (self.billing_pair(counterparty) if counterparty
                else self.pair_of(agreement_id))
        return InvoiceReceipt.from_json(self._submit_private(
            "billing", "QueryInvoiceLine", _month(month), currency, agreement_id, note,
            pair=pair))


def _decimal(value: object, what: str) -> str:
    """A non-negative exact decimal as the chaincode takes it (digits and a point)."""
    if isinstance(value, bool):
        raise ValueError(f"the {what} is a decimal number, got {value!r}")
    if isinstance(value, Fraction):
        text = decimal_string(value)
    elif isinstance(value, Decimal):
        text = format(value, "f")
    else:
        text = str(value).strip()
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        raise ValueError(f"the {what} is a decimal number of 0 or more such as 1000.50, "
                         f"got {value!r}")
    return text


def _quantity(quantity: int) -> str:
    """A step's quantity as the chaincode takes it: whole units, more than zero."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise ValueError(f"a quantity is a whole number of units above zero, got {quantity!r}")
    return str(quantity)


class TokenAdministrator(TanpoClient):
    """The operator's token administrator: defines tokens, decides issuance and redemption."""

    def define_token(self, token: Token) -> Token:
        return Token.from_json(self._submit("tokens", "DefineToken", json.dumps(token.to_spec())))

    def approve_issuance(self, request_id: str) -> Request:
        return Request.from_json(self._submit("tokens", "ApproveIssuance", request_id))

    def reject_issuance(self, request_id: str, reason: str) -> Request:
        return Request.from_json(self._submit("tokens", "RejectIssuance", request_id, reason))

    def approve_redemption(self, request_id: str) -> Request:
        return Request.from_json(self._submit("tokens", "ApproveRedemption", request_id))

    def reject_redemption(self, request_id: str, reason: str) -> Request:
        return Request.from_json(self._submit("tokens", "RejectRedemption", request_id, reason))


Number = Fraction | Decimal | str | int


def _price_json(prices: Mapping[str, Number]) -> dict[str, str]:
    out = {}
    for key, value in prices.items():
        if isinstance(value, Fraction):
            out[key] = decimal_string(value)
        elif isinstance(value, Decimal):
            # str() would write small or large values with an exponent ("1E-7", "1.2E+3"),
            # which the chaincode refuses; fixed-point keeps every digit.
            out[key] = format(value, "f")
        else:
            out[key] = str(value)
    return out


def price_batch(day: date, prices: Mapping[str, Number], fx: Mapping[str, Number],
                rates: Mapping[str, Number] | None = None, source: str = "") -> Json:
    """A batch in the chaincode's JSON form: closes by token id, FX by market pair and benchmark
    fixings by name (percent per annum, any sign: ``{"SOFR": "5.31", "ESTR": "-0.57"}``),
    every value an exact decimal string. ``rates`` is left out when there are none."""
    batch: Json = {"date": day.isoformat(), "prices": _price_json(prices),
                   "fx": _price_json(fx)}
    if rates:
        batch["rates"] = _price_json(rates)
    if source:
        batch["source"] = source
    return batch


class OracleClient(TanpoClient):
    """The price oracle: posts a date's closes, FX pairs and benchmark fixings in one
    transaction, and may issue a pair's monthly invoice (`issue_invoice`, naming the pair)."""

    def post_prices(self, day: date, prices: Mapping[str, Number],
                    fx: Mapping[str, Number], source: str = "",
                    rates: Mapping[str, Number] | None = None) -> Json:
        batch = price_batch(day, prices, fx, rates, source)
        return self._submit("oracle", "PostPrices", day.isoformat(), json.dumps(batch))

    def post_batch_json(self, day: date, batch: Json) -> Json:
        """Post a batch already in the chaincode's JSON form (the daemon's `PriceBatch.to_json`)."""
        return self._submit("oracle", "PostPrices", day.isoformat(), json.dumps(batch))

    def correct_prices(self, day: date, prices: Mapping[str, Number],
                       fx: Mapping[str, Number], reason: str,
                       rates: Mapping[str, Number] | None = None) -> Json:
        batch = price_batch(day, prices, fx, rates)
        return self._submit("oracle", "CorrectPrices", day.isoformat(), json.dumps(batch), reason)

    def correct_batch_json(self, day: date, batch: Json, reason: str) -> Json:
        """Correct a date's prices with a batch already in the chaincode's JSON form."""
        return self._submit("oracle", "CorrectPrices", day.isoformat(), json.dumps(batch), reason)
