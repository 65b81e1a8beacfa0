"""Scenario files: YAML in, a validated :class:`~tanpo.scenarios.model.Scenario` out.

Every error names the file, the line, the key and what was expected. The format::

    name: st-ct-cross-currency          # optional, default: the file name
    description: ...                    # optional
    base_currency: USD                  # valuation currency of every agreement (overridable)
    data: ../data/market                # optional market-data folder, relative to this file
    fill: next-trading-day              # or carry-forward (days without trading)
    checks: every-day                   # or weekdays (which days between start and end are checked)
    parties: [bank-a, bank-b]           # optional; default: the agreements' parties
    tokens:                             # id, kind ST|CT, currency, quote, source symbol
      - {id: JGB, kind: ST, currency: JPY, quote: percent-of-par, source: JGB-SYN-2033}
      - {id: USD, kind: CT, currency: USD}
      - {id: MUFG, kind: ST, currency: JPY, source: "8306",
         identifiers: {SEDOL: "6335171"}}  # optional market identifiers (the on-chain
                                           # definition's; types as `token define --identifier`)
    fx: [USDJPY]                        # FX market pairs read from <data>/fx/<PAIR>.csv
    prices:                             # inline prices per date (token ids and FX pairs)
      2024-01-02: {JGB: "100.25", USDJPY: "141.00"}
    balances:                           # extra holdings beyond what the openings need
      bank-b: {JGB: 100000000}
    agreements:
      - id: A1
        lender: bank-a
        borrower: bank-b
        loan: {USD: 10000000}
        collateral: {JGB: auto}         # auto: sized on the start date to cover the other leg
        priority: [JGB]                 # default: the collateral tokens in the order given
        haircut: "0.02"                 # or per token: haircuts: {JGB: "0.02"}
        threshold: "0"
        mode: single                    # or multi
        lag: 0                          # settlement lag in days
        auto_issue: true
        min_transfer: "0"
        start: 2023-03-01
        end: 2023-05-01
        fee: {bps: "40", minimum: "500"}   # optional lending fee: bp p.a. of the loan's value
        rebate: {fixed: "0.1"}             # optional cash rebate: percent p.a., or
                                           # {benchmark: SOFR, spread_bps: "-5"}
        day_count: ACT/360                 # optional, default: the base currency's
    rates:                              # inline benchmark fixings per date (percent p.a.); a
      2023-03-01: {SOFR: "4.55"}        # benchmark not given here is read from rates/<NAME>.csv
    window: {start: 2023-03-01, end: 2023-05-01}   # optional, default: the agreements' span
    events:                             # optional: the desk's steps, before that day's calls
      - {date: 2023-03-10, agreement: A1, recall: {quantity: 4000000, due: 2023-03-14}}
      - {date: 2023-03-14, agreement: A1, return: {quantity: 4000000}}
      - {date: 2023-04-03, agreement: A1, substitute: {out: {JGB: 1000000}, in: {USD: 990000}}}

An agreement may instead come from an ISDA/ISLA CDM trade file, mapped as `agreement propose
--cdm` maps it, with the scenario's tokens as the token definitions (give securities their
``isin`` or ``identifiers``)::

      - {id: A2, cdm: trades/execution.json, parties: parties.yaml, end: 2025-06-30}
"""

from __future__ import annotations

import re
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Literal, cast

import yaml

from tanpo.margin import RATINGS, Cap, MarginError
from tanpo.margin import Schedule as EngineSchedule
from tanpo.margin.accrual import DayCount, day_count_for
from tanpo.marketdata.calendar import Fill
from tanpo.scenarios.accrual import accrual_terms
from tanpo.scenarios.errors import ScenarioError
from tanpo.scenarios.model import (
    AUTO,
    AgreementSpec,
    Checks,
    Economics,
    LifecycleEvent,
    Quantity,
    Scenario,
    TokenSpec,
)
from tanpo.scenarios.yamlnodes import Item, parse_yaml

__all__ = ["load_scenario", "parse_scenario"]

_CCY = re.compile(r"^[A-Z]{3}$")
_PAIR = re.compile(r"^[A-Z]{3}[A-Z]{3}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")
#: A benchmark name, as the chaincode takes it: SOFR, TONA, SONIA, €STR, ESTR...
_BENCHMARK = re.compile(r"^[A-Z€][A-Z0-9€]{0,15}$")

_TOP_KEYS = {
    "name",
    "description",
    "base_currency",
    "data",
    "fill",
    "checks",
    "parties",
    "tokens",
    "fx",
    "prices",
    "balances",
    "agreements",
    "window",
    "max_gap_days",
    "events",
    "rates",
}
_TOKEN_KEYS = {
    "id",
    "kind",
    "currency",
    "quote",
    "source",
    "name",
    "isin",
    "ticker",
    "asset_class",
    "rating",
    "identifiers",
}
_AGREEMENT_KEYS = {
    "id",
    "lender",
    "borrower",
    "loan",
    "collateral",
    "priority",
    "haircut",
    "haircuts",
    "threshold",
    "mode",
    "lag",
    "auto_issue",
    "min_transfer",
    "start",
    "end",
    "base_currency",
    "fee",
    "rebate",
    "schedule",
    "day_count",
}


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate a scenario file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(
            f"cannot read the scenario file: {exc.strerror or exc}", path=p
        ) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"the file is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start}); save it as UTF-8",
            path=p,
        ) from None
    return parse_scenario(text, p)


def _ident(item: Item, what: str) -> str:
    value = item.text(what)
    if not _ID.match(value):
        raise item.expected(what + " (letters, digits, '.', '_', ':' or '-')")
    return value


def _currency(item: Item) -> str:
    value = item.text("a currency code such as JPY")
    if not _CCY.match(value):
        raise item.expected("a three-letter upper-case currency code such as JPY")
    return value


def _fx_pair(item: Item) -> str:
    value = item.text("an FX pair such as USDJPY")
    if not _PAIR.match(value) or value[:3] == value[3:]:
        raise item.expected("an FX pair of two different currencies, such as USDJPY")
    return value


def _tokens(item: Item) -> tuple[tuple[TokenSpec, ...], dict[str, Item]]:
    specs: list[TokenSpec] = []
    where: dict[str, Item] = {}
    for entry in item.sequence("a list of token definitions"):
        fields = entry.mapping(_TOKEN_KEYS, ("id", "kind", "currency"), "a token definition")
        token_id = _ident(fields["id"], "a token id")
        if token_id in where:
            raise fields["id"].error(
                f"duplicate token id {token_id!r} (first defined on line {where[token_id].line})"
            )
        kind = fields["kind"].choice(("ST", "CT"))
        currency = _currency(fields["currency"])
        quote = (
            fields["quote"].choice(("per-unit", "percent-of-par"))
            if "quote" in fields
            else "per-unit"
        )
        source = (
            fields["source"].text("a price source symbol or CSV path")
            if "source" in fields
            else None
        )
        if kind == "CT":
            if quote != "per-unit":
                raise fields["quote"].error("a cash token (CT) is quoted per-unit (its price is 1)")
            if source is not None:
                raise fields["source"].error(
                    "a cash token (CT) has no price source (its price is 1)"
                )
        name = fields["name"].text() if "name" in fields else None
        identifiers = (
            _identifiers(fields["identifiers"], token_id) if "identifiers" in fields else ()
        )
        isin = _isin(fields["isin"]) if "isin" in fields and kind == "ST" else ""
        specs.append(
            TokenSpec(
                token_id,
                cast(Literal["ST", "CT"], kind),
                currency,
                cast(Literal["per-unit", "percent-of-par"], quote),
                source,
                name,
                identifiers,
                isin,
            )
        )
        where[token_id] = entry
    if not specs:
        raise item.expected("at least one token definition")
    return tuple(specs), where


def _isin(item: Item) -> str:
    import click

    from tanpo.client.cli_common import check_isin

    value = item.text("an ISIN such as JP3902900004")
    try:
        check_isin(value)
    except click.BadParameter as exc:
        raise item.error(exc.format_message()) from None
    return value


def _identifiers(item: Item, token_id: str) -> tuple[tuple[str, str], ...]:
    """A token's market identifiers, ``{SEDOL: "6335171", FIGI: BBG000BQWNP4}``, checked as the
    chaincode checks them."""
    from tanpo.client.cli_terms import InputError, check_token_identifier
    from tanpo.client.models import MAX_TOKEN_IDENTIFIERS

    out: dict[str, str] = {}
    entries = item.entries("a mapping of identifier type to value, such as {SEDOL: \"6335171\"}")
    if len(entries) > MAX_TOKEN_IDENTIFIERS:
        raise item.error(f"at most {MAX_TOKEN_IDENTIFIERS} identifiers, found {len(entries)}")
    for key, value in entries:
        kind, text = str(key.node.value), value.text("an identifier")
        try:
            check_token_identifier(kind, text, token_id)
        except InputError as exc:
            raise value.error(str(exc)) from None
        out[kind] = text
    return tuple(sorted(out.items()))


def _leg(item: Item, tokens: dict[str, TokenSpec], what: str) -> tuple[tuple[str, Quantity], ...]:
    legs: list[tuple[str, Quantity]] = []
    for key, value in item.entries(f"a mapping of token id to quantity ({what})"):
        token_id = str(key.node.value)
        if token_id not in tokens:
            raise key.error(f"unknown token {token_id!r}; defined tokens: {', '.join(tokens)}")
        if value.is_scalar() and str(value.node.value) == "auto":
            legs.append((token_id, AUTO))
            continue
        qty = value.integer("a positive whole quantity of token units, or auto")
        if qty <= 0:
            raise value.expected("a positive whole quantity of token units, or auto")
        legs.append((token_id, qty))
    if not legs:
        raise item.expected(f"at least one token in the {what}")
    return tuple(legs)


def _fraction(item: Item, lo: Fraction, hi: Fraction | None, what: str) -> Fraction:
    value = item.decimal(what)
    if value < lo or (hi is not None and value >= hi):
        raise item.expected(what)
    return value


def _benchmark(item: Item) -> str:
    value = item.text("a benchmark name such as TONA")
    if not _BENCHMARK.match(value):
        raise item.expected(
            "a benchmark name of 1-16 characters A-Z, 0-9 and €, starting with a letter, such as "
            "TONA"
        )
    return value


def _economics(f: dict[str, Item], base: str, where: Item) -> Economics | None:
    """The fee, rebate and day count of an agreement (None when it has neither a fee nor a
    rebate), validated as the chaincode validates proposed terms."""
    fee_bps = minimum = fixed = spread = None
    benchmark = ""
    if "fee" in f:
        g = f["fee"].mapping({"bps", "minimum"}, ("bps",), "a fee {bps, minimum}")
        fee_bps = _fraction(g["bps"], Fraction(0), None,
                            'a fee in basis points per annum of "0" or more, such as "40"')
        if "minimum" in g:
            minimum = _fraction(g["minimum"], Fraction(0), None,
                                'a minimum fee per monthly invoice of "0" or more, such as "500"')
    if "rebate" in f:
        item = f["rebate"]
        g = item.mapping({"fixed", "benchmark", "spread_bps"}, (),
                         "a rebate {fixed} or {benchmark, spread_bps}")
        if "fixed" in g and "benchmark" in g:
            raise item.error("a rebate is either fixed or a benchmark plus a spread, not both")
        if "fixed" in g:
            fixed = g["fixed"].decimal('a rebate rate in percent per annum such as "0.1"')
            if "spread_bps" in g:
                raise g["spread_bps"].error("a rebate spread needs a rebate benchmark")
        elif "benchmark" in g:
            benchmark = _benchmark(g["benchmark"])
            if "spread_bps" in g:
                spread = g["spread_bps"].decimal('a spread in basis points such as "-5"')
        else:
            raise item.expected("a rebate {fixed: ...} or {benchmark: ..., spread_bps: ...}")
    day_count = ""
    if "day_count" in f:
        day_count = f["day_count"].choice([d.value for d in DayCount])
    economics = Economics(fee_bps, minimum, fixed, benchmark, spread, day_count)
    if not economics.has_fee and not economics.has_rebate:
        if "day_count" in f:
            raise f["day_count"].error("the agreement has no fee or rebate to accrue")
        return None
    if not day_count:
        try:
            day_count_for(base)
        except MarginError:
            raise where.error(
                f"no day-count convention is known for {base}: give day_count (ACT/365F or "
                "ACT/360) with the fee or rebate"
            ) from None
    from tanpo.margin.accrual import new_accrual_terms

    try:
        new_accrual_terms(accrual_terms(economics, base))
    except MarginError as exc:  # pragma: no cover - the checks above come first
        raise where.error(f"invalid fee or rebate terms: {exc}") from None
    return economics


def _agreement(
    entry: Item, tokens: dict[str, TokenSpec], parties: set[str] | None, scenario_base: str
) -> AgreementSpec:
    f = entry.mapping(
        _AGREEMENT_KEYS,
        ("id", "lender", "borrower", "loan", "collateral", "start", "end"),
        "an agreement",
    )
    agreement_id = _ident(f["id"], "an agreement id")
    lender = _ident(f["lender"], "a party name")
    borrower = _ident(f["borrower"], "a party name")
    for role in ("lender", "borrower"):
        name = lender if role == "lender" else borrower
        if parties is not None and name not in parties:
            raise f[role].error(f"party {name!r} is not in parties ({', '.join(sorted(parties))})")
    if lender == borrower:
        raise f["borrower"].error("the borrower must differ from the lender")
    loan = _leg(f["loan"], tokens, "loan leg")
    if len(loan) != 1:
        raise f["loan"].expected("exactly one loan token, such as {JPY: 1000000}")
    collateral = _leg(f["collateral"], tokens, "collateral leg")
    for token_id, _ in collateral:
        if any(token_id == t for t, _ in loan):
            raise f["collateral"].error(
                f"token {token_id!r} is in both the loan and the collateral leg"
            )
    autos = [t for t, q in (*loan, *collateral) if q is AUTO]
    if len(autos) > 1:
        raise f["collateral"].error(
            f"only one quantity can be auto (found {', '.join(autos)}): it is sized against the "
            "other, fixed quantities"
        )
    if "priority" in f:
        prio: list[str] = []
        for p in f["priority"].sequence("a list of collateral token ids (CT1 first)"):
            token_id = p.text("a token id")
            if token_id not in tokens:
                raise p.error(f"unknown token {token_id!r}; defined tokens: {', '.join(tokens)}")
            if token_id in prio:
                raise p.error(f"token {token_id!r} appears twice in the priority order")
            if any(token_id == t for t, _ in loan):
                raise p.error(f"token {token_id!r} is the loan token; it cannot be collateral")
            prio.append(token_id)
        if not prio:
            raise f["priority"].expected("at least one collateral token")
        priority = tuple(prio)
        for token_id, _ in collateral:
            if token_id not in priority:
                raise f["priority"].error(
                    f"collateral token {token_id!r} is missing from the priority order "
                    f"({', '.join(priority)}); list every collateral token"
                )
    else:
        priority = tuple(t for t, _ in collateral)
    haircut = (
        _fraction(
            f["haircut"], Fraction(0), Fraction(1), 'a haircut from "0" up to (not incl.) "1"'
        )
        if "haircut" in f
        else Fraction(0)
    )
    haircuts: dict[str, Fraction] = {}
    if "haircuts" in f:
        for key, value in f["haircuts"].entries("a mapping of token id to haircut"):
            token_id = str(key.node.value)
            if token_id not in tokens:
                raise key.error(f"unknown token {token_id!r}; defined tokens: {', '.join(tokens)}")
            haircuts[token_id] = _fraction(
                value, Fraction(0), Fraction(1), 'a haircut from "0" up to (not incl.) "1"'
            )
    threshold = (
        _fraction(f["threshold"], Fraction(0), None, 'a threshold of "0" or more, such as "0.02"')
        if "threshold" in f
        else Fraction(0)
    )
    mode = f["mode"].choice(("single", "multi")) if "mode" in f else "single"
    lag = f["lag"].integer("a settlement lag in days (0, 1, ...)") if "lag" in f else 0
    if lag < 0:
        raise f["lag"].expected("a settlement lag in days (0, 1, ...)")
    auto_issue = f["auto_issue"].boolean() if "auto_issue" in f else False
    min_transfer = (
        _fraction(f["min_transfer"], Fraction(0), None, 'an amount of "0" or more')
        if "min_transfer" in f
        else Fraction(0)
    )
    start = f["start"].day()
    end = f["end"].day()
    # end == start is an intraday trade: opened and closed on the same day, no check between.
    if end < start:
        raise f["end"].error(f"the end date {end} is before the start date {start}")
    base = _currency(f["base_currency"]) if "base_currency" in f else None
    economics = _economics(f, base or scenario_base, entry)
    return AgreementSpec(
        id=agreement_id,
        lender=lender,
        borrower=borrower,
        loan=loan,
        collateral=collateral,
        priority=priority,
        start=start,
        end=end,
        haircut=haircut,
        haircuts=haircuts,
        threshold=threshold,
        mode=cast(Literal["single", "multi"], mode),
        lag=lag,
        auto_issue=auto_issue,
        min_transfer=min_transfer,
        base_currency=base,
        economics=economics,
        schedule=_schedule(f["schedule"]) if "schedule" in f else None,
    )


def _is_cdm(entry: Item) -> bool:
    node = entry.node
    return isinstance(node, yaml.MappingNode) and any(
        isinstance(k, yaml.ScalarNode) and k.value == "cdm" for k, _ in node.value)


def _cdm_agreement(entry: Item, tokens: dict[str, TokenSpec], parties: set[str] | None,
                   path: Path | None) -> AgreementSpec:
    """An agreement read from a CDM trade file (`tanpo.client.cdm`, as ``agreement propose --cdm``
    reads it), with the scenario's tokens as the token definitions and an optional party map;
    ``end`` is needed when the trade is open."""
    from tanpo.client.cdm import CdmError, loads
    from tanpo.client.cdm.documents import proposed_terms
    from tanpo.client.cdm.parties import PartyMap
    from tanpo.client.models import Token

    f = entry.mapping({"id", "cdm", "parties", "end"}, ("id", "cdm"),
                      "an agreement from a CDM file {id, cdm, parties?, end?}")
    agreement_id = _ident(f["id"], "an agreement id")

    def file(item: Item) -> Path:
        given = Path(item.text("a file path"))
        return given if given.is_absolute() or path is None else path.parent / given

    try:
        doc = loads(file(f["cdm"]).read_text(encoding="utf-8"))
        party_map = PartyMap.load(file(f["parties"])) if "parties" in f else None
    except (OSError, ValueError) as exc:
        raise f["cdm"].error(f"cannot read: {exc}") from None
    defined = {t.id: Token(t.id, t.kind, t.currency, t.quote, isin=t.isin,
                           identifiers=dict(t.identifiers)) for t in tokens.values()}
    try:
        terms = proposed_terms(doc, defined, party_map)
    except CdmError as exc:
        raise f["cdm"].error(f"cannot map: {exc}") from None
    for name in (terms.lender, terms.borrower):
        if parties is not None and name not in parties:
            raise f["cdm"].error(f"party {name!r} is not in parties ({', '.join(sorted(parties))})")
    if terms.schedule_id or terms.schedule is not None:
        raise f["cdm"].error("the trade's collateral is an eligibility schedule: a scenario "
                             "needs its collateral tokens and quantities")
    assert terms.start_date is not None
    end = terms.end_date
    if "end" in f:
        if end is not None:
            raise f["end"].error(f"the trade ends on {end}: drop end")
        end = f["end"].day()
    if end is None:
        raise f["cdm"].error("the trade is open (no end date): give end")
    if end < terms.start_date:
        raise f["cdm"].error(f"the end date {end} is before the start date {terms.start_date}")
    fee, rebate = terms.fee, terms.rebate
    economics = None
    if fee is not None or rebate is not None:
        economics = Economics(
            fee_bps=fee.bps if fee else None, minimum_fee=fee.minimum if fee else None,
            rebate_fixed=rebate.fixed if rebate else None,
            rebate_benchmark=rebate.benchmark if rebate else "",
            rebate_spread_bps=rebate.spread_bps if rebate else None, day_count=terms.day_count)
    return AgreementSpec(
        id=agreement_id, lender=terms.lender, borrower=terms.borrower,
        loan=((terms.loan_token, terms.loan_quantity),),
        collateral=tuple((c.token, c.quantity) for c in terms.collateral),
        priority=tuple(c.token for c in terms.collateral),
        start=terms.start_date, end=end, haircut=terms.haircut,
        haircuts={c.token: c.haircut for c in terms.collateral if c.haircut is not None},
        threshold=terms.threshold, mode=cast(Literal["single", "multi"], terms.mode),
        lag=terms.settlement_lag_days, auto_issue=terms.auto_issue,
        min_transfer=terms.minimum_transfer_amount, base_currency=terms.base_currency,
        economics=economics,
    )


def _schedule(item: Item) -> EngineSchedule:
    """An eligibility schedule, as the chaincode takes it (the engine validates it with the
    agreement's tokens when the run starts)."""
    g = item.mapping({"asset_classes", "currencies", "min_rating", "haircuts", "caps"}, (),
                     "a schedule {asset_classes, currencies, min_rating, haircuts, caps}")
    classes = [c.text("an asset class") for c in g["asset_classes"].sequence()] \
        if "asset_classes" in g else []
    currencies = [_currency(c) for c in g["currencies"].sequence()] if "currencies" in g else []
    min_rating = g["min_rating"].choice(list(RATINGS)) if "min_rating" in g else ""
    haircuts: dict[str, Fraction] = {}
    if "haircuts" in g:
        what = "a mapping of token:<id> or class:<asset class> to a haircut"
        for key, value in g["haircuts"].entries(what):
            name = str(key.node.value)
            if not name.startswith(("token:", "class:")):
                raise key.expected("token:<id> or class:<asset class>")
            haircuts[name] = _fraction(value, Fraction(0), Fraction(1),
                                       'a haircut from "0" up to (not incl.) "1"')
    caps: list[Cap] = []
    if "caps" in g:
        for c in g["caps"].sequence("a list of caps {by, key, max}"):
            h = c.mapping({"by", "key", "max"}, ("by", "max"), "a cap {by, key, max}")
            caps.append(Cap(h["by"].choice(["issuer", "assetClass", "token"]),
                            h["key"].text("a group key") if "key" in h else "",
                            _fraction(h["max"], Fraction(0), None, 'a share such as "0.5"')))
    return EngineSchedule(tuple(classes), tuple(currencies), min_rating, haircuts, tuple(caps))


def _connected(currencies: set[str], pairs: set[str]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {c: set() for c in currencies}
    for pair in pairs:
        a, b = pair[:3], pair[3:]
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set()).add(a)
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for nxt in graph.get(todo.pop(), set()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _positive(item: Item, what: str) -> int:
    qty = item.integer(what)
    if qty <= 0:
        raise item.expected(what)
    return qty


def _event_legs(item: Item, agreement: AgreementSpec, what: str) -> tuple[tuple[str, int], ...]:
    legs = []
    for key, value in item.entries(f"a mapping of collateral token id to quantity ({what})"):
        token_id = str(key.node.value)
        if token_id not in agreement.priority:
            raise key.error(
                f"{token_id!r} is not a collateral token of agreement {agreement.id!r} "
                f"({', '.join(agreement.priority)})"
            )
        legs.append((token_id, _positive(value, "a positive whole quantity")))
    if not legs:
        raise item.expected(f"at least one token {what}")
    return tuple(legs)


def _event(entry: Item, agreements: dict[str, AgreementSpec]) -> LifecycleEvent:
    f = entry.mapping(
        {"date", "agreement", "recall", "return", "substitute"}, ("date", "agreement"), "an event"
    )
    day = f["date"].day()
    agreement_id = f["agreement"].text("an agreement id")
    agreement = agreements.get(agreement_id)
    if agreement is None:
        raise f["agreement"].error(
            f"unknown agreement {agreement_id!r}; agreements: {', '.join(agreements)}"
        )
    if not agreement.start < day < agreement.end:
        raise f["date"].error(
            f"{day} is not strictly between the start {agreement.start} and the end "
            f"{agreement.end} of agreement {agreement_id!r}"
        )
    actions = [a for a in ("recall", "return", "substitute") if a in f]
    if len(actions) != 1:
        raise entry.expected("exactly one of recall, return or substitute")
    action = actions[0]
    if action == "substitute":
        g = f[action].mapping({"out", "in"}, ("out", "in"), "a substitution {out, in}")
        out = _event_legs(g["out"], agreement, "taken out")
        in_ = _event_legs(g["in"], agreement, "delivered in")
        both = {t for t, _ in out} & {t for t, _ in in_}
        if both:
            raise f[action].error(f"token {sorted(both)[0]!r} is both taken out and delivered")
        return LifecycleEvent(day, agreement_id, "substitute", out=out, in_=in_)
    keys = {"quantity", "due"} if action == "recall" else {"quantity"}
    g = f[action].mapping(keys, ("quantity",), f"a {action} {{quantity}}")
    quantity = _positive(g["quantity"], "a positive whole quantity of the loan token")
    due = None
    if "due" in g:
        due = g["due"].day()
        if due < day:
            raise g["due"].error(f"the due date {due} is before the recall's date {day}")
    kind: Literal["recall", "return"] = "recall" if action == "recall" else "return"
    return LifecycleEvent(day, agreement_id, kind, quantity, due)


def parse_scenario(text: str, path: Path | None = None) -> Scenario:
    """Validate the YAML text of a scenario (``path`` is used for messages and relative paths)."""
    root = parse_yaml(text, path)
    top = root.mapping(
        _TOP_KEYS, ("base_currency", "tokens", "agreements"), "a mapping of scenario keys"
    )
    name = top["name"].text() if "name" in top else (path.stem if path else "scenario")
    description = top["description"].text() if "description" in top else ""
    base = _currency(top["base_currency"])
    fill = (
        Fill(top["fill"].choice([f.value for f in Fill]))
        if "fill" in top
        else Fill.NEXT_TRADING_DAY
    )
    checks = (
        Checks(top["checks"].choice([c.value for c in Checks]))
        if "checks" in top
        else Checks.EVERY_DAY
    )
    max_gap = top["max_gap_days"].integer() if "max_gap_days" in top else 7
    if max_gap < 0:
        raise top["max_gap_days"].expected("a number of days (0 or more)")
    data_dir: Path | None = None
    if "data" in top:
        data_dir = Path(top["data"].text("a folder path"))
        if not data_dir.is_absolute() and path is not None:
            data_dir = path.parent / data_dir

    parties: set[str] | None = None
    party_list: list[str] = []
    if "parties" in top:
        for p in top["parties"].sequence("a list of party names"):
            party = _ident(p, "a party name")
            if party in party_list:
                raise p.error(f"party {party!r} is listed twice")
            party_list.append(party)
        parties = set(party_list)

    token_specs, token_items = _tokens(top["tokens"])
    tokens = {t.id: t for t in token_specs}

    fx_pairs: list[str] = []
    if "fx" in top:
        for p in top["fx"].sequence("a list of FX pairs such as [USDJPY]"):
            pair = _fx_pair(p)
            if pair in fx_pairs:
                raise p.error(f"FX pair {pair!r} is listed twice")
            fx_pairs.append(pair)

    prices: dict[date, dict[str, Fraction]] = {}
    inline_names: set[str] = set()
    if "prices" in top:
        for key, value in top["prices"].entries("a mapping of date to prices"):
            day = key.day("a date YYYY-MM-DD as the key")
            row: dict[str, Fraction] = {}
            for k2, v2 in value.entries("a mapping of token id or FX pair to price"):
                label = str(k2.node.value)
                if label in tokens:
                    if tokens[label].kind == "CT":
                        raise k2.error(f"{label!r} is a cash token; its price is always 1")
                    if tokens[label].source is not None:
                        raise k2.error(
                            f"token {label!r} has a price source ({tokens[label].source}); "
                            "give its prices either inline or by source, not both"
                        )
                elif not _PAIR.match(label):
                    raise k2.error(
                        f"unknown name {label!r}: expected a token id ({', '.join(tokens)}) or an "
                        "FX pair such as EURUSD"
                    )
                elif label in fx_pairs:
                    raise k2.error(
                        f"FX pair {label!r} is read from the data folder (fx:); not inline"
                    )
                price = v2.decimal('a price as a decimal string such as "101.25"')
                if price <= 0:
                    raise v2.expected("a positive price")
                row[label] = price
                inline_names.add(label)
            prices[day] = row

    for token in token_specs:
        if token.kind == "ST" and token.source is None and token.id not in inline_names:
            raise token_items[token.id].error(
                f"token {token.id!r} has no prices: give it a source (a market-data symbol) or "
                "inline prices"
            )

    agreements: list[AgreementSpec] = []
    seen: dict[str, int] = {}
    for entry in top["agreements"].sequence("a list of agreements"):
        agreement = (_cdm_agreement(entry, tokens, parties, path) if _is_cdm(entry)
                     else _agreement(entry, tokens, parties, base))
        if agreement.id in seen:
            raise entry.error(
                f"duplicate agreement id {agreement.id!r} (first on line {seen[agreement.id]})"
            )
        seen[agreement.id] = entry.line
        agreements.append(agreement)
        if parties is None:
            for party in (agreement.lender, agreement.borrower):
                if party not in party_list:
                    party_list.append(party)
    if not agreements:
        raise top["agreements"].expected("at least one agreement")

    # Every currency an agreement values must be reachable from its base through the FX pairs.
    pairs = set(fx_pairs) | {n for n in inline_names if _PAIR.match(n) and n not in tokens}
    graph = _connected({t.currency for t in token_specs}, pairs)
    for entry, agreement in zip(top["agreements"].sequence(), agreements, strict=True):
        agreement_base = agreement.base_currency or base
        reach = _reachable(graph, agreement_base)
        for token_id in {t for t, _ in (*agreement.loan, *agreement.collateral)} | set(
            agreement.priority
        ):
            ccy = tokens[token_id].currency
            if ccy not in reach:
                raise entry.error(
                    f"agreement {agreement.id!r}: no FX rate converts {ccy} (token {token_id!r}) "
                    f"to the base currency {agreement_base}; add a pair to fx: or to prices:"
                )

    balances: dict[str, dict[str, int]] = {}
    if "balances" in top:
        for key, value in top["balances"].entries("a mapping of party to token quantities"):
            party = str(key.node.value)
            if party not in party_list:
                raise key.error(f"unknown party {party!r}; parties: {', '.join(party_list)}")
            holding: dict[str, int] = {}
            for k2, v2 in value.entries("a mapping of token id to quantity"):
                token_id = str(k2.node.value)
                if token_id not in tokens:
                    raise k2.error(
                        f"unknown token {token_id!r}; defined tokens: {', '.join(tokens)}"
                    )
                qty = v2.integer("a whole quantity of 0 or more")
                if qty < 0:
                    raise v2.expected("a whole quantity of 0 or more")
                holding[token_id] = qty
            balances[party] = holding

    benchmarks = {
        a.economics.rebate_benchmark for a in agreements
        if a.economics is not None and a.economics.rebate_benchmark
    }
    rates: dict[date, dict[str, Fraction]] = {}
    if "rates" in top:
        for key, value in top["rates"].entries("a mapping of date to benchmark fixings"):
            day = key.day("a date YYYY-MM-DD as the key")
            fixings: dict[str, Fraction] = {}
            for k2, v2 in value.entries("a mapping of benchmark name to fixing (percent)"):
                name = str(k2.node.value)
                if name not in benchmarks:
                    raise k2.error(
                        f"{name!r} is not the rebate benchmark of any agreement"
                        + (f" ({', '.join(sorted(benchmarks))})" if benchmarks else "")
                    )
                fixings[name] = v2.decimal('a fixing in percent per annum such as "0.1"')
            rates[day] = fixings

    events: list[LifecycleEvent] = []
    if "events" in top:
        by_id = {a.id: a for a in agreements}
        for entry in top["events"].sequence("a list of events"):
            event = _event(entry, by_id)
            if events and event.date < events[-1].date:
                raise entry.error(
                    f"events are in date order; {event.date} comes after {events[-1].date}"
                )
            events.append(event)

    start = min(a.start for a in agreements)
    end = max(a.end for a in agreements)
    if "window" in top:
        w = top["window"].mapping({"start", "end"}, ("start", "end"), "a window {start, end}")
        w_start, w_end = w["start"].day(), w["end"].day()
        if w_end < w_start:
            raise w["end"].error(f"the window end {w_end} is before its start {w_start}")
        if w_start > start or w_end < end:
            raise top["window"].error(
                f"the window {w_start}..{w_end} must cover every agreement ({start}..{end})"
            )
        start, end = w_start, w_end

    return Scenario(
        name=name,
        base_currency=base,
        tokens=token_specs,
        agreements=tuple(agreements),
        window_start=start,
        window_end=end,
        description=description,
        fill=fill,
        checks=checks,
        parties=tuple(party_list),
        fx_pairs=tuple(fx_pairs),
        prices=prices,
        balances=balances,
        data_dir=data_dir,
        path=path,
        max_gap_days=max_gap,
        events=tuple(events),
        rates=rates,
    )
