"""A :class:`~tanpo.risk.portfolio.PortfolioSource` over a scenario run (off-chain engine).

The scenario is run once through the scenario runner with its off-chain
:class:`~tanpo.scenarios.engine_ledger.EngineLedger`. The book as of the end of a date D is
rebuilt from the run's records, which is exactly what the ledger would hold:

* agreements active at the end of D: ``start <= D < end`` (an agreement settles and closes on
  its end date);
* the loan leg: the agreement's loan quantity;
* collateral held by the lender: the opening quantities, plus every margin-call transfer computed
  on or before D that has settled by D (borrower→lender adds, lender→borrower subtracts);
* prices and FX: the market the runner posted for D (the scenario's fill convention applied).

Token attributes come from the scenario file (``asset_class``, ``rating`` keys) and otherwise
from :mod:`tanpo.marketdata.reference` by the token's ``source`` symbol; ``factors`` overrides the
stressed-history factor of a token (e.g. ``{"US-STOCK": "price:AAPL"}``).

The data version of a date is the sha256 of the posted values (``"sha256:…"``, first 16 hex
digits): the scenario's files have no version numbers, so the values name themselves, and a
corrected CSV row gives another version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from tanpo.marketdata.instruments import TokenInfo
from tanpo.marketdata.reference import describe_token
from tanpo.marketdata.series import MarketData, MarketDataError
from tanpo.risk.errors import RiskError
from tanpo.risk.portfolio import AgreementHolding, PriceSnapshot
from tanpo.scenarios.engine_ledger import EngineLedger
from tanpo.scenarios.errors import ScenarioError
from tanpo.scenarios.loader import load_scenario
from tanpo.scenarios.model import Scenario, TokenSpec
from tanpo.scenarios.prices import PriceBook
from tanpo.scenarios.runner import RunResult, run_scenario

__all__ = ["ScenarioSource", "snapshot_version"]


def snapshot_version(day: date, prices: Mapping[str, Fraction], fx: Mapping[str, Fraction]) -> str:
    """``"sha256:<16 hex>"`` of a date's values in canonical order."""
    text = "|".join(
        [day.isoformat()]
        + [f"{k}={v}" for k, v in sorted(prices.items())]
        + [f"{k}={v}" for k, v in sorted(fx.items())]
    )
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _raw_tokens(scenario: Scenario) -> dict[str, dict[str, Any]]:
    """The scenario file's token entries as plain mappings (for keys the loader does not keep)."""
    if scenario.path is None:
        return {}
    try:
        document = yaml.safe_load(scenario.path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):  # pragma: no cover - the loader read it already
        return {}
    out: dict[str, dict[str, Any]] = {}
    if isinstance(document, dict):
        for entry in document.get("tokens") or []:
            if isinstance(entry, dict) and "id" in entry:
                out[str(entry["id"])] = entry
    return out


def _token_info(spec: TokenSpec, raw: Mapping[str, Any], factor: str | None) -> TokenInfo:
    return describe_token(
        spec.id, spec.kind, spec.currency, spec.quote, spec.source,
        asset_class_text=raw.get("asset_class"), rating_text=raw.get("rating"),
        name=spec.name, factor=factor,
    )


class ScenarioSource:
    """The book of a scenario run, as of any date of its window."""

    def __init__(
        self,
        scenario: Scenario | Path | str,
        market: MarketData | None = None,
        factors: Mapping[str, str] | None = None,
    ) -> None:
        try:
            spec = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
            self.ledger = EngineLedger()
            book = PriceBook(spec, market or MarketData(spec.data_dir))
            self.run: RunResult = run_scenario(spec, self.ledger, book=book)
        except (ScenarioError, MarketDataError) as exc:
            raise RiskError(f"scenario run failed: {exc}") from None
        self.scenario = spec
        overrides = dict(factors or {})
        unknown = sorted(set(overrides) - {t.id for t in spec.tokens})
        if unknown:
            raise RiskError(f"factor given for unknown token(s): {', '.join(unknown)}")
        raw = _raw_tokens(spec)
        self._tokens = {
            t.id: _token_info(t, raw.get(t.id, {}), overrides.get(t.id)) for t in spec.tokens
        }

    def describe(self) -> str:
        where = f" ({self.scenario.path.name})" if self.scenario.path is not None else ""
        return f"scenario {self.scenario.name}{where}, off-chain engine"

    def last_active_day(self) -> date:
        """The last date on which some agreement is still active (the day before the last end)."""
        return max(o.terms.end for o in self.run.opens) - timedelta(days=1)

    def default_day(self) -> date:
        """The run's final state: its last margin-call date (without calls: the last active
        day). Every agreement is still open then; the closings follow."""
        if self.run.calls:
            return max(c.date for c in self.run.calls)
        return self.last_active_day()

    def tokens(self, day: date) -> Mapping[str, TokenInfo]:
        return dict(self._tokens)

    def agreements(self, day: date) -> Sequence[AgreementHolding]:
        self._check_day(day)
        out: list[AgreementHolding] = []
        for opened in self.run.opens:
            terms = opened.terms
            if not terms.start <= day < terms.end:
                continue
            held = dict(terms.collateral)
            for call in self.run.calls_of(terms.id):
                if call.date > day:
                    break
                for t in call.transfers:
                    if t.settle_date is not None and t.settle_date > day:
                        continue
                    sign = 1 if t.sender == terms.borrower else -1
                    held[t.token] = held.get(t.token, 0) + sign * t.quantity
            out.append(
                AgreementHolding(
                    id=terms.id,
                    lender=terms.lender,
                    borrower=terms.borrower,
                    base_currency=terms.base_currency,
                    loan={terms.loan_token: terms.loan_quantity},
                    collateral={t: q for t, q in sorted(held.items()) if q != 0},
                )
            )
        return out

    def prices(self, day: date, version: str | None = None) -> PriceSnapshot:
        self._check_day(day)
        market = self.ledger.markets.get(day)
        if market is None:  # pragma: no cover - the runner posts every calendar day
            raise RiskError(f"no prices posted for {day.isoformat()}")
        fx = {a + b: rate for (a, b), rate in market.fx_pairs.items()}
        prices = dict(market.prices)
        current = snapshot_version(day, prices, fx)
        if version is not None and version != current:
            raise RiskError(
                f"data version {version!r} of {day.isoformat()} is not available: the scenario's "
                f"files now give {current} (a scenario source keeps only the current data)"
            )
        return PriceSnapshot(day, current, prices, fx)

    def _check_day(self, day: date) -> None:
        s = self.scenario
        if not s.window_start <= day <= s.window_end:
            raise RiskError(
                f"{day.isoformat()} is outside the scenario window "
                f"{s.window_start.isoformat()}..{s.window_end.isoformat()}"
            )
