"""The prices a scenario posts each calendar day: tokens from market data or inline, FX, and the
benchmark fixings floating rebates accrue at (inline, or ``<data>/rates/<NAME>.csv``)."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from pathlib import Path

from tanpo.marketdata.calendar import Fill, calendar_days, observe
from tanpo.marketdata.series import (
    MarketData,
    MarketDataError,
    PriceSeries,
    load_series,
    parse_decimal,
)
from tanpo.scenarios.errors import ScenarioError
from tanpo.scenarios.model import Scenario

__all__ = ["DayPrices", "PriceBook", "load_rates"]


def load_rates(path: Path, name: str) -> PriceSeries:
    """A benchmark's fixings from a ``date,value`` CSV file (the oracle's ``rates/<NAME>.csv``;
    the second column may be named ``close``): percent per annum, any sign."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise MarketDataError(
            f"no fixings of {name}: cannot read {path}: {exc.strerror or exc}"
        ) from None
    values: dict[date, Fraction] = {}
    with handle:
        reader = csv.reader(handle)
        header = [h.strip().lower() for h in next(reader, None) or []]
        if len(header) < 2 or header[0] != "date":
            raise MarketDataError(
                f"{path}:1: header must be 'date,value' (or 'date,close'), found "
                f"{','.join(header)!r}"
            )
        last: date | None = None
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) < 2:
                raise MarketDataError(f"{path}:{line}: expected 'date,value', found {row!r}")
            try:
                day = date.fromisoformat(row[0].strip())
            except ValueError:
                raise MarketDataError(
                    f"{path}:{line}: date must be YYYY-MM-DD, found {row[0]!r}"
                ) from None
            try:
                value = parse_decimal(row[1])
            except ValueError:
                raise MarketDataError(
                    f"{path}:{line}: a fixing must be a decimal number (percent), found "
                    f"{row[1].strip()!r}"
                ) from None
            if last is not None and day <= last:
                raise MarketDataError(
                    f"{path}:{line}: dates must be strictly increasing ({last} then {day})"
                )
            values[day], last = value, day
    return PriceSeries.from_mapping(name, values)


@dataclass(frozen=True)
class DayPrices:
    """Prices of security tokens (by token id) and FX market pairs for one calendar day, with the
    trading day each value was taken from."""

    day: date
    prices: Mapping[str, Fraction]
    fx: Mapping[str, Fraction]
    source_days: Mapping[str, date]
    #: benchmark fixings (percent per annum, any sign)
    rates: Mapping[str, Fraction] = field(default_factory=dict)


class PriceBook:
    """Every token's and FX pair's series for a scenario, filled to calendar days."""

    def __init__(self, scenario: Scenario, market: MarketData | None = None) -> None:
        self.scenario = scenario
        self.market = market or MarketData(scenario.data_dir)
        self.token_series: dict[str, PriceSeries] = {}
        self.fx_series: dict[str, PriceSeries] = {}
        inline: dict[str, dict[date, Fraction]] = {}
        for day, row in scenario.prices.items():
            for label, value in row.items():
                inline.setdefault(label, {})[day] = value
        token_ids = {t.id for t in scenario.tokens}
        for token in scenario.tokens:
            if token.kind != "ST":
                continue
            if token.id in inline:
                self.token_series[token.id] = PriceSeries.from_mapping(token.id, inline[token.id])
            elif token.source is not None:
                self.token_series[token.id] = self._load_source(token.id, token.source)
            else:
                raise ScenarioError(f"token {token.id!r} has no prices", path=scenario.path)
        for pair in scenario.fx_pairs:
            try:
                self.fx_series[pair] = self.market.fx(pair)
            except MarketDataError as exc:
                raise ScenarioError(f"FX pair {pair}: {exc}", path=scenario.path) from None
        for label, values in inline.items():
            if label not in token_ids:
                self.fx_series[label] = PriceSeries.from_mapping(label, values)
        self.rate_series: dict[str, PriceSeries] = {}
        inline_rates: dict[str, dict[date, Fraction]] = {}
        for day, row in scenario.rates.items():
            for label, value in row.items():
                inline_rates.setdefault(label, {})[day] = value
        for name in dict.fromkeys([*inline_rates, *scenario.benchmarks]):
            if name in inline_rates:
                self.rate_series[name] = PriceSeries.from_mapping(name, inline_rates[name])
                continue
            try:
                self.rate_series[name] = load_rates(self.market.root / "rates" / f"{name}.csv",
                                                    name)
            except MarketDataError as exc:
                raise ScenarioError(
                    f"rebate benchmark {name}: {exc} (give its fixings inline under rates:, or "
                    f"in <data>/rates/{name}.csv)",
                    path=scenario.path,
                ) from None

    def _load_source(self, token_id: str, source: str) -> PriceSeries:
        try:
            if source.endswith(".csv"):
                path = Path(source)
                if not path.is_absolute() and self.scenario.path is not None:
                    path = self.scenario.path.parent / path
                return load_series(path, source)
            return self.market.instrument(source)
        except MarketDataError as exc:
            raise ScenarioError(f"token {token_id!r}: {exc}", path=self.scenario.path) from None

    def on(self, day: date, fill: Fill | None = None) -> DayPrices:
        """The prices posted for calendar day ``day`` under the scenario's (or the given) fill."""
        convention = fill or self.scenario.fill
        prices: dict[str, Fraction] = {}
        fx: dict[str, Fraction] = {}
        rates: dict[str, Fraction] = {}
        sources: dict[str, date] = {}
        for store, table in (
            (prices, self.token_series), (fx, self.fx_series), (rates, self.rate_series)
        ):
            for label, series in table.items():
                try:
                    obs = observe(series, day, convention, self.scenario.max_gap_days)
                except MarketDataError as exc:
                    raise ScenarioError(str(exc), path=self.scenario.path) from None
                store[label] = obs.value
                sources[label] = obs.source_day
        return DayPrices(day, prices, fx, sources, rates)

    def days(self) -> list[DayPrices]:
        """One :class:`DayPrices` per calendar day of the scenario window."""
        return [
            self.on(d) for d in calendar_days(self.scenario.window_start, self.scenario.window_end)
        ]
