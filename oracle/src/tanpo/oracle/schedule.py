"""When each valuation date is posted: pure functions of the configuration and a given clock.

DESIGN §1: prices are each market's close on valuation date D; FX is the fixing taken after the
US close on D (the conversion is done before Tokyo opens on D+1). So D is due
``post_delay_minutes`` after the latest of (the close of every configured market that trades
on D, the FX fixing on D). Nothing here reads the wall clock: ``now`` is always passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from tanpo.oracle.calendars import MarketCalendar, get_calendar
from tanpo.oracle.config import OracleConfig

__all__ = ["Schedule"]

_LOOK_BACK_FOR_FIRST = 31


@dataclass(frozen=True)
class Schedule:
    """The posting schedule for one configuration."""

    config: OracleConfig
    _markets: dict[str, MarketCalendar] = field(init=False, repr=False, compare=False)
    _fx: MarketCalendar = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        s = self.config.schedule
        object.__setattr__(
            self, "_markets", {m: get_calendar(m) for m in self.config.markets()}
        )
        object.__setattr__(
            self, "_fx", get_calendar(s.fx_calendar, s.fx_fixing_time, s.fx_fixing_tz)
        )

    # ---- calendars -----------------------------------------------------------------------

    def market(self, code: str) -> MarketCalendar:
        """The calendar of an instrument's market."""
        return self._markets[code] if code in self._markets else get_calendar(code)

    @property
    def fx_calendar(self) -> MarketCalendar:
        return self._fx

    def is_valuation_day(self, d: date, days: str | None = None) -> bool:
        """Whether ``d`` is a valuation date under ``days`` (default: the configured rule)."""
        rule = days or self.config.schedule.valuation_days
        if rule == "daily":
            return True
        if rule == "weekdays":
            return d.weekday() < 5
        if rule == "markets":
            if not self._markets:
                return self._fx.is_session(d)
            return any(cal.is_session(d) for cal in self._markets.values())
        return get_calendar(rule).is_session(d)

    def valuation_days(self, start: date, end: date, days: str | None = None) -> list[date]:
        """Valuation dates ``start <= d <= end``."""
        out: list[date] = []
        d = start
        while d <= end:
            if self.is_valuation_day(d, days):
                out.append(d)
            d += timedelta(days=1)
        return out

    # ---- times ---------------------------------------------------------------------------

    def fixing_time(self, d: date) -> datetime:
        """The FX fixing on ``d`` (after the US close)."""
        s = self.config.schedule
        return datetime.combine(d, s.fx_fixing_time, tzinfo=ZoneInfo(s.fx_fixing_tz))

    def closes(self, d: date) -> dict[str, datetime]:
        """The close of each configured market that trades on ``d``."""
        out: dict[str, datetime] = {}
        for code, cal in self._markets.items():
            close = cal.close_time(d)
            if close is not None:
                out[code] = close
        return out

    def posting_time(self, d: date) -> datetime:
        """When date ``d`` may be posted: the latest market close and FX fixing, plus the delay."""
        latest = max([self.fixing_time(d), *self.closes(d).values()])
        delay = timedelta(minutes=self.config.schedule.post_delay_minutes)
        return (latest + delay).astimezone(UTC)

    def carry_deadline(self, d: date) -> datetime:
        """After this, a close still missing for ``d`` is carried forward instead of waited for."""
        grace = timedelta(minutes=self.config.schedule.missing_grace_minutes)
        return self.posting_time(d) + grace

    # ---- what is due ---------------------------------------------------------------------

    def due_dates(self, now: datetime, last_posted: date | None) -> list[date]:
        """Valuation dates after ``last_posted`` whose posting time has passed, oldest first.

        With nothing posted yet: from ``schedule.start_date`` if set, otherwise only the most
        recent due date (a new ledger does not backfill history; use replay for that).
        """
        _aware(now)
        horizon = now.astimezone(UTC).date() + timedelta(days=1)
        if last_posted is None:
            start = self.config.schedule.start_date
            if start is None:
                latest = self.latest_due(now)
                return [] if latest is None else [latest]
        else:
            start = last_posted + timedelta(days=1)
        return [d for d in self.valuation_days(start, horizon) if self.posting_time(d) <= now]

    def latest_due(self, now: datetime) -> date | None:
        """The most recent valuation date whose posting time has passed."""
        d = now.astimezone(UTC).date() + timedelta(days=1)
        for _ in range(_LOOK_BACK_FOR_FIRST):
            if self.is_valuation_day(d) and self.posting_time(d) <= now:
                return d
            d -= timedelta(days=1)
        return None

    def next_due(self, now: datetime, last_posted: date | None) -> tuple[date, datetime]:
        """The first valuation date after ``last_posted`` that is not yet due, and its time."""
        _aware(now)
        d = (last_posted or now.astimezone(UTC).date() - timedelta(days=1)) + timedelta(days=1)
        while not (self.is_valuation_day(d) and self.posting_time(d) > now):
            d += timedelta(days=1)
        return d, self.posting_time(d)


def _aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("the clock must give timezone-aware datetimes")
