"""The oracle's configuration: one typed object, read from YAML, with defaults.

Example (every key is optional; see ``oracle.example.yaml`` beside this file)::

    source: {kind: yfinance}              # yfinance | file (path: dir or long table)
    second_source: {kind: file, path: data/market}   # optional, confirms large moves
    instruments:
      JP8306: {symbol: 8306.T, market: XTKS, currency: JPY, tick: "0.1"}
      DE-BUND: {symbol: BUND, market: XFRA, asset_class: bond, max_move: "0.03"}
    fx:
      USDJPY: {symbol: JPY=X, tick: "0.001"}          # file source reads fx/USDJPY.csv
    rates:                                # benchmark fixings, percent p.a. (none by default)
      SOFR: {tick: "0.01"}                            # file source reads rates/SOFR.csv
    limits: {max_move: "0.25", max_bond_move: "0.05", max_fx_move: "0.08", max_carry_days: 2,
             cross_tolerance: "0.01", second_source_tolerance: "0.005"}
    schedule: {valuation_days: markets, fx_fixing: "17:00 America/New_York",
               post_delay_minutes: 30, missing_grace_minutes: 60, poll_seconds: 60}
    sweep: {batch_size: 1000}
    state_dir: .state/oracle
    http: {host: 127.0.0.1, port: 9464}

Symbols: ``symbol`` is the source's ticker. A per-source override goes in ``symbols``
(``{file: 8306.T, yfinance: 8306.T}``); the file source defaults to the ``symbol`` for
instruments and to the pair code for FX (``fx/USDJPY.csv``), the project's shipped layout.

Benchmark fixings (``rates``: what floating cash-collateral rebates accrue at) are read like FX:
the file source reads ``<path>/rates/<NAME>.csv`` (``date,value``), other sources the ``symbol``
(there is no default ticker: give one, or ``symbols``, for a source other than files). They
follow the FX calendar (``schedule.fx_calendar``) and are posted in the batch's ``rates``; any
sign is valid and no move limit applies (:mod:`tanpo.oracle.validation`).

``tick`` is the decimal quantum every close is rounded to (half-even) when it is read. yfinance
returns binary floats (``96.62000274658203``), and the CSV files that come from yfinance carry
the same noise, so each instrument names the precision its market quotes in; the rounded value
is the exact decimal posted. Without a tick the source's text is taken as is.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import date, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from tanpo.client.moves import DEFAULT_MAX_MOVE, limit_class

__all__ = [
    "ConfigError",
    "FxConfig",
    "HttpConfig",
    "InstrumentConfig",
    "LimitsConfig",
    "OracleConfig",
    "RateConfig",
    "ScheduleConfig",
    "SourceConfig",
    "default_config",
    "load_config",
]

CONFIG_ENV_VAR = "TANPO_ORACLE_CONFIG"
STATE_DIR_ENV_VAR = "TANPO_ORACLE_STATE_DIR"

SOURCE_KINDS = ("yfinance", "file", "static")
SPECIAL_DAYS = ("markets", "weekdays", "daily")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
_PAIR_RE = re.compile(r"^[A-Z]{3}[A-Z]{3}$")
_BENCHMARK_RE = re.compile(r"^[A-Z][A-Z0-9]{1,15}$")  # the chaincode's benchmark names
_CALENDAR_RE = re.compile(r"^[A-Z0-9_]{2,10}$")
_MARKET_CURRENCY = {"XTKS": "JPY", "XNYS": "USD", "XNAS": "USD", "XFRA": "EUR", "XETR": "EUR"}


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key."""


@dataclass(frozen=True)
class SourceConfig:
    """Where closes come from: ``yfinance``, ``file`` (``path``: a folder of ``<SYMBOL>.csv``
    files or one long ``date,symbol,close`` table) or ``static`` (tests only)."""

    kind: str = "yfinance"
    path: str | None = None


@dataclass(frozen=True)
class InstrumentConfig:
    """``asset_class`` (``equity`` by default, ``bond``, or the token's own wording such as
    ``government-bond``) picks the move limit; ``max_move`` overrides it for this one."""

    token: str
    symbol: str
    market: str
    currency: str
    tick: Decimal | None = None
    max_move: Decimal | None = None
    symbols: Mapping[str, str] = field(default_factory=dict)
    asset_class: str = "equity"

    def symbol_for(self, kind: str) -> str:
        return self.symbols.get(kind, self.symbol)


@dataclass(frozen=True)
class FxConfig:
    pair: str
    symbol: str
    tick: Decimal | None = None
    max_move: Decimal | None = None
    symbols: Mapping[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.pair[:3]

    @property
    def quote(self) -> str:
        return self.pair[3:]

    def symbol_for(self, kind: str) -> str:
        if kind in self.symbols:
            return self.symbols[kind]
        return self.pair if kind == "file" else self.symbol


@dataclass(frozen=True)
class RateConfig:
    """A benchmark whose daily fixing the oracle posts (percent per annum, any sign)."""

    name: str
    symbol: str = ""
    tick: Decimal | None = None
    symbols: Mapping[str, str] = field(default_factory=dict)

    def symbol_for(self, kind: str) -> str:
        if kind in self.symbols:
            return self.symbols[kind]
        return f"rates/{self.name}" if kind == "file" else (self.symbol or self.name)


@dataclass(frozen=True)
class LimitsConfig:
    """Validation limits. Moves and tolerances are relative (0.2 = 20 %).

    The largest daily move is per asset class: ``max_move`` for equities, ``max_bond_move``
    for bonds, ``max_fx_move`` for FX pairs (an instrument's or pair's own ``max_move``
    overrides its class). The defaults are the SDK's (:mod:`tanpo.client.moves`), which
    ``tanpo prices post`` applies too.

    ``max_carry_days`` counts the market's trading sessions without a close (a market holiday
    is not a missing close and is never counted).

    Defaults are set from the shipped 2008-2009 data: the largest genuine daily moves are 19 %
    for the five TSE stocks and 5.6 % for EURJPY; Yahoo's known day/month-swap rows move
    USDJPY/EURUSD by 8.5-18 % and break the EURJPY cross by 4.3-26 %, while genuine cross gaps
    stay below 0.6 % (timing differences between the three snapshots).
    """

    max_move: Decimal = DEFAULT_MAX_MOVE["equity"]
    max_bond_move: Decimal = DEFAULT_MAX_MOVE["bond"]
    max_fx_move: Decimal = DEFAULT_MAX_MOVE["fx"]
    max_carry_days: int = 2
    cross_tolerance: Decimal = Decimal("0.01")
    second_source_tolerance: Decimal = Decimal("0.005")
    lookback_days: int = 10

    def max_move_for(self, asset_class: str, *, fx: bool = False) -> Decimal:
        """The class limit of an instrument's asset class (or of an FX pair)."""
        cls = limit_class(asset_class, fx=fx)
        return {"equity": self.max_move, "bond": self.max_bond_move,
                "fx": self.max_fx_move}[cls]


@dataclass(frozen=True)
class ScheduleConfig:
    """When a valuation date is due.

    ``valuation_days``: ``markets`` (any day one of the instruments' exchanges trades),
    ``weekdays``, ``daily`` (every calendar day, the paper's backtest convention) or an exchange
    calendar code (``XTKS``). The FX fixing is taken after the US close (DESIGN §1): by default
    17:00 New York, on ``fx_calendar`` days. A date is posted ``post_delay_minutes`` after the
    latest of its market closes and the fixing; a close still missing then is waited for
    ``missing_grace_minutes`` before it is carried forward.
    """

    valuation_days: str = "markets"
    fx_fixing_time: time = time(17, 0)
    fx_fixing_tz: str = "America/New_York"
    fx_calendar: str = "weekdays"
    post_delay_minutes: int = 30
    missing_grace_minutes: int = 60
    poll_seconds: int = 60
    start_date: date | None = None


@dataclass(frozen=True)
class HttpConfig:
    """Health (``/healthz``) and Prometheus (``/metrics``) endpoint, loopback only.
    ``port: 0`` picks a free port; ``enabled: false`` turns it off."""

    host: str = "127.0.0.1"
    port: int = 9464
    enabled: bool = True


@dataclass(frozen=True)
class OracleConfig:
    source: SourceConfig = field(default_factory=SourceConfig)
    second_source: SourceConfig | None = None
    instruments: tuple[InstrumentConfig, ...] = ()
    fx: tuple[FxConfig, ...] = ()
    rates: tuple[RateConfig, ...] = ()
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    sweep_batch_size: int = 1000  # agreements of one pair per sweep transaction (≤ 1000)
    state_dir: str = ".state/oracle"
    http: HttpConfig = field(default_factory=HttpConfig)

    def markets(self) -> list[str]:
        """The exchange calendars of the configured instruments, in first-seen order."""
        return list(dict.fromkeys(i.market for i in self.instruments))

    def instrument(self, token: str) -> InstrumentConfig | None:
        return next((i for i in self.instruments if i.token == token), None)

    def fx_pair(self, pair: str) -> FxConfig | None:
        return next((f for f in self.fx if f.pair == pair), None)

    def rate(self, name: str) -> RateConfig | None:
        return next((r for r in self.rates if r.name == name), None)

    def with_source(self, source: SourceConfig) -> OracleConfig:
        return replace(self, source=source)

    def to_dict(self) -> dict[str, Any]:
        """The effective configuration as plain JSON-ready data (logged at start)."""
        plain: dict[str, Any] = _plain(asdict(self))
        return plain


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal | date | time):
        return str(value) if isinstance(value, Decimal) else value.isoformat()
    return value


def default_config() -> OracleConfig:
    """The paper's five TSE stocks (DESIGN §1) and the three FX pairs the project ships."""
    stocks = ("8306", "8604", "4901", "7013", "8031")
    return OracleConfig(
        instruments=tuple(
            InstrumentConfig(f"JP{code}", f"{code}.T", "XTKS", "JPY", Decimal("0.1"))
            for code in stocks
        ),
        fx=(
            FxConfig("USDJPY", "JPY=X", Decimal("0.001")),
            FxConfig("EURUSD", "EURUSD=X", Decimal("0.00001")),
            FxConfig("EURJPY", "EURJPY=X", Decimal("0.001")),
        ),
    )


# ---- loading ------------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str] | None = None) -> OracleConfig:
    """Read a YAML file (or ``$TANPO_ORACLE_CONFIG``); without either, :func:`default_config`.

    ``$TANPO_ORACLE_STATE_DIR`` overrides ``state_dir``.
    """
    chosen = path if path is not None else os.environ.get(CONFIG_ENV_VAR)
    if chosen is None:
        cfg = default_config()
    else:
        p = Path(chosen)
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read oracle config {p}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{p}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                              f"{exc.start})") from None
        except RecursionError:
            raise ConfigError(f"{p}: not valid YAML: nested too deeply") from None
        cfg = parse_config({} if raw is None else raw, origin=str(p))
    state_dir = os.environ.get(STATE_DIR_ENV_VAR)
    return replace(cfg, state_dir=state_dir) if state_dir else cfg


def parse_config(raw: Any, origin: str = "config") -> OracleConfig:
    """Build an :class:`OracleConfig` from parsed YAML; unknown keys are errors."""
    top = _mapping(raw, origin)
    _only(top, origin, {"source", "second_source", "instruments", "fx", "rates", "limits",
                        "schedule", "sweep", "state_dir", "http"})
    base = default_config()
    instruments = base.instruments
    if "instruments" in top:
        instruments = tuple(
            _instrument(str(k), v, f"{origin}: instruments.{k}")
            for k, v in _mapping(top["instruments"], f"{origin}: instruments").items()
        )
    fx = base.fx
    if "fx" in top:
        fx = tuple(
            _fx(str(k), v, f"{origin}: fx.{k}")
            for k, v in _mapping(top["fx"] or {}, f"{origin}: fx").items()
        )
    rates = tuple(
        _rate(str(k), v, f"{origin}: rates.{k}")
        for k, v in _mapping(top.get("rates") or {}, f"{origin}: rates").items()
    )
    sweep = _mapping(top.get("sweep") or {}, f"{origin}: sweep")
    # page_size is the name from the paged sweep; it now sets the batch size
    _only(sweep, f"{origin}: sweep", {"batch_size", "page_size"})
    batch_key = "batch_size" if "batch_size" in sweep else "page_size"
    batch_size = _int(sweep.get(batch_key, 1000), f"{origin}: sweep.{batch_key}", 1)
    if batch_size > 1000:
        raise ConfigError(f"{origin}: sweep.{batch_key}: at most 1000 (the chaincode's batch "
                          f"limit), got {batch_size}")
    cfg = OracleConfig(
        source=_source(top.get("source"), f"{origin}: source") or SourceConfig(),
        second_source=_source(top.get("second_source"), f"{origin}: second_source"),
        instruments=instruments,
        fx=fx,
        rates=rates,
        limits=_limits(top.get("limits") or {}, f"{origin}: limits"),
        schedule=_schedule(top.get("schedule") or {}, f"{origin}: schedule"),
        sweep_batch_size=batch_size,
        state_dir=str(top.get("state_dir", base.state_dir)),
        http=_http(top.get("http") or {}, f"{origin}: http"),
    )
    validate(cfg, origin)
    return cfg


def validate(cfg: OracleConfig, origin: str = "config") -> None:
    """Cross-field checks: unique keys, known calendars and a usable valuation calendar."""
    tokens = [i.token for i in cfg.instruments]
    if len(set(tokens)) != len(tokens):
        raise ConfigError(f"{origin}: instrument token ids must be unique")
    if not cfg.instruments and not cfg.fx and not cfg.rates:
        raise ConfigError(f"{origin}: nothing to post (no instruments, fx pairs or rates)")
    taken = set(tokens) | {f.pair for f in cfg.fx}
    clash = sorted(r.name for r in cfg.rates if r.name in taken)
    if clash:
        raise ConfigError(f"{origin}: rates.{clash[0]}: also an instrument or an fx pair; "
                          "a benchmark needs a name of its own")
    days = cfg.schedule.valuation_days
    if days not in SPECIAL_DAYS and not _CALENDAR_RE.match(days):
        raise ConfigError(
            f"{origin}: schedule.valuation_days must be one of {', '.join(SPECIAL_DAYS)} or an "
            f"exchange calendar code such as XTKS, got {days!r}"
        )
    if cfg.source.kind == "file" and not cfg.source.path:
        raise ConfigError(f"{origin}: source.path is required for the file source")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    return {str(k): v for k, v in value.items()}


def _only(m: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    unknown = sorted(set(m) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )


def _decimal(value: Any, where: str, positive: bool = True) -> Decimal:
    # A YAML float (``0.2``) arrives as a float; its shortest repr is the text that was written.
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"{where}: not a decimal number: {value!r}") from None
    if not d.is_finite() or (positive and d <= 0) or d < 0:
        raise ConfigError(f"{where}: must be a {'positive' if positive else 'non-negative'} "
                          f"decimal, got {value!r}")
    return d


def _int(value: Any, where: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}: must be an integer >= {minimum}, got {value!r}")
    return value


def _symbols(value: Any, where: str) -> dict[str, str]:
    m = _mapping(value or {}, where)
    for kind in m:
        if kind not in SOURCE_KINDS:
            raise ConfigError(f"{where}: unknown source kind {kind!r}")
    return {k: str(v) for k, v in m.items()}


def _source(value: Any, where: str) -> SourceConfig | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = {"kind": value}
    m = _mapping(value, where)
    _only(m, where, {"kind", "path"})
    kind = str(m.get("kind", "yfinance"))
    if kind not in SOURCE_KINDS:
        raise ConfigError(f"{where}: kind must be one of {', '.join(SOURCE_KINDS)}, got {kind!r}")
    path = m.get("path")
    if kind == "file" and not path:
        raise ConfigError(f"{where}: the file source needs a path (a folder or a CSV file)")
    return SourceConfig(kind, None if path is None else str(path))


def _instrument(token: str, value: Any, where: str) -> InstrumentConfig:
    m = _mapping(value if value is not None else {}, where)
    _only(m, where, {"symbol", "market", "currency", "tick", "max_move", "symbols",
                     "asset_class"})
    if "symbol" not in m:
        raise ConfigError(f"{where}: symbol is required")
    market = str(m.get("market", "XTKS"))
    if not _CALENDAR_RE.match(market):
        raise ConfigError(f"{where}: market must be an exchange calendar code, got {market!r}")
    currency = str(m.get("currency", _MARKET_CURRENCY.get(market, "")))
    if not re.match(r"^[A-Z]{3}$", currency):
        raise ConfigError(f"{where}: currency must be a 3-letter code, got {currency!r}")
    return InstrumentConfig(
        token=token,
        symbol=str(m["symbol"]),
        market=market,
        currency=currency,
        tick=_decimal(m["tick"], f"{where}.tick") if "tick" in m else None,
        max_move=_decimal(m["max_move"], f"{where}.max_move") if "max_move" in m else None,
        symbols=_symbols(m.get("symbols"), f"{where}.symbols"),
        asset_class=_asset_class(m.get("asset_class", "equity"), f"{where}.asset_class"),
    )


def _asset_class(value: Any, where: str) -> str:
    text = str(value).strip()
    if not re.match(r"^[a-z][a-z0-9-]{0,39}$", text):
        raise ConfigError(f"{where}: an asset class such as equity, bond or government-bond, "
                          f"got {value!r}")
    return text


def _fx(pair: str, value: Any, where: str) -> FxConfig:
    if not _PAIR_RE.match(pair) or pair[:3] == pair[3:]:
        raise ConfigError(f"{where}: an FX key is a market pair such as USDJPY, got {pair!r}")
    m = _mapping(value if value is not None else {}, where)
    _only(m, where, {"symbol", "tick", "max_move", "symbols"})
    return FxConfig(
        pair=pair,
        symbol=str(m.get("symbol", f"{pair}=X")),
        tick=_decimal(m["tick"], f"{where}.tick") if "tick" in m else None,
        max_move=_decimal(m["max_move"], f"{where}.max_move") if "max_move" in m else None,
        symbols=_symbols(m.get("symbols"), f"{where}.symbols"),
    )


def _rate(name: str, value: Any, where: str) -> RateConfig:
    if not _BENCHMARK_RE.match(name):
        raise ConfigError(f"{where}: a benchmark is named by 2-16 capital letters and digits "
                          f"such as SOFR, got {name!r}")
    m = _mapping(value if value is not None else {}, where)
    _only(m, where, {"symbol", "tick", "symbols"})
    return RateConfig(
        name=name,
        symbol=str(m.get("symbol", "")),
        tick=_decimal(m["tick"], f"{where}.tick") if "tick" in m else None,
        symbols=_symbols(m.get("symbols"), f"{where}.symbols"),
    )


def _limits(value: Any, where: str) -> LimitsConfig:
    m = _mapping(value, where)
    d = LimitsConfig()
    _only(m, where, set(asdict(d)))
    return LimitsConfig(
        max_move=_decimal(m.get("max_move", d.max_move), f"{where}.max_move"),
        max_bond_move=_decimal(m.get("max_bond_move", d.max_bond_move),
                               f"{where}.max_bond_move"),
        max_fx_move=_decimal(m.get("max_fx_move", d.max_fx_move), f"{where}.max_fx_move"),
        max_carry_days=_int(m.get("max_carry_days", d.max_carry_days), f"{where}.max_carry_days"),
        cross_tolerance=_decimal(m.get("cross_tolerance", d.cross_tolerance),
                                 f"{where}.cross_tolerance"),
        second_source_tolerance=_decimal(
            m.get("second_source_tolerance", d.second_source_tolerance),
            f"{where}.second_source_tolerance", positive=False),
        lookback_days=_int(m.get("lookback_days", d.lookback_days), f"{where}.lookback_days", 1),
    )


def _schedule(value: Any, where: str) -> ScheduleConfig:
    m = _mapping(value, where)
    d = ScheduleConfig()
    _only(m, where, {"valuation_days", "fx_fixing", "fx_calendar", "post_delay_minutes",
                     "missing_grace_minutes", "poll_seconds", "start_date"})
    fixing_time, fixing_tz = d.fx_fixing_time, d.fx_fixing_tz
    if "fx_fixing" in m:
        fixing_time, fixing_tz = _fixing(str(m["fx_fixing"]), f"{where}.fx_fixing")
    start = m.get("start_date")
    if start is not None and not isinstance(start, date):
        try:
            start = date.fromisoformat(str(start))
        except ValueError:
            raise ConfigError(f"{where}.start_date: expected YYYY-MM-DD, got {start!r}") from None
    return ScheduleConfig(
        valuation_days=str(m.get("valuation_days", d.valuation_days)),
        fx_fixing_time=fixing_time,
        fx_fixing_tz=fixing_tz,
        fx_calendar=str(m.get("fx_calendar", d.fx_calendar)),
        post_delay_minutes=_int(m.get("post_delay_minutes", d.post_delay_minutes),
                                f"{where}.post_delay_minutes"),
        missing_grace_minutes=_int(m.get("missing_grace_minutes", d.missing_grace_minutes),
                                   f"{where}.missing_grace_minutes"),
        poll_seconds=_int(m.get("poll_seconds", d.poll_seconds), f"{where}.poll_seconds", 1),
        start_date=start,
    )


def _fixing(text: str, where: str) -> tuple[time, str]:
    parts = text.split()
    if len(parts) != 2:
        raise ConfigError(f"{where}: expected 'HH:MM Area/City', got {text!r}")
    try:
        t = time.fromisoformat(parts[0])
        ZoneInfo(parts[1])
    except (ValueError, ZoneInfoNotFoundError):
        raise ConfigError(f"{where}: expected 'HH:MM Area/City', got {text!r}") from None
    return t, parts[1]


def _http(value: Any, where: str) -> HttpConfig:
    m = _mapping(value, where)
    _only(m, where, {"host", "port", "enabled"})
    host = str(m.get("host", "127.0.0.1"))
    if host not in LOOPBACK_HOSTS:
        raise ConfigError(f"{where}.host: the endpoint is loopback only "
                          f"({', '.join(LOOPBACK_HOSTS)}), got {host!r}")
    port = _int(m.get("port", 9464), f"{where}.port")
    if port > 65535:
        raise ConfigError(f"{where}.port: must be at most 65535, got {port}")
    return HttpConfig(host, port, bool(m.get("enabled", True)))
