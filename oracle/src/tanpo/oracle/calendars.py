"""Market calendars: which days a market trades and when its close is.

Exchange calendars (``XTKS`` Tokyo, ``XNYS`` New York, ``XFRA`` Frankfurt, any code that
``exchange_calendars`` knows) give sessions and close times with early closes and holidays.
Two simple calendars complete them: ``weekdays`` (the FX market, Monday to Friday) and
``daily`` (every calendar day). All times are timezone-aware.
"""

from __future__ import annotations

import bisect
import functools
import warnings
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

__all__ = ["CalendarError", "MarketCalendar", "SimpleCalendar", "get_calendar"]

_EARLIEST = date(1990, 1, 1)


class CalendarError(ValueError):
    """An unknown calendar, or a date outside the calendar's range."""


class MarketCalendar(Protocol):
    @property
    def name(self) -> str:
        """The calendar's code (``XTKS``, ``weekdays``)."""
        ...

    def is_session(self, d: date) -> bool:
        """True when the market trades on ``d``."""
        ...

    def close_time(self, d: date) -> datetime | None:
        """The close of the session on ``d`` (aware), or None when ``d`` is not a session."""
        ...

    def sessions_between(self, start: date, end: date) -> list[date]:
        """Sessions ``start <= d <= end``."""
        ...


@dataclass(frozen=True)
class SimpleCalendar:
    """``weekdays`` or ``daily``, closing at ``close`` in ``tz``."""

    name: str
    close: time = time(17, 0)
    tz: str = "America/New_York"

    def is_session(self, d: date) -> bool:
        return self.name == "daily" or d.weekday() < 5

    def close_time(self, d: date) -> datetime | None:
        if not self.is_session(d):
            return None
        return datetime.combine(d, self.close, tzinfo=ZoneInfo(self.tz))

    def sessions_between(self, start: date, end: date) -> list[date]:
        days = (start + timedelta(days=i) for i in range((end - start).days + 1))
        return [d for d in days if self.is_session(d)]


class ExchangeCalendar:
    """An ``exchange_calendars`` calendar with its sessions held as a sorted list of dates."""

    def __init__(self, name: str) -> None:
        import exchange_calendars as xcals

        with warnings.catch_warnings():
            # exchange_calendars reads tz-aware Series.values, which pandas 3.1 deprecates.
            warnings.filterwarnings("ignore", message="Series.values returning")
            try:
                dispatcher = xcals.calendar_utils.global_calendar_dispatcher
                bound = dispatcher.get_calendar(name).__class__.bound_min()
                start = max(_EARLIEST, bound.date()) if bound is not None else _EARLIEST
                cal = xcals.get_calendar(name, start=start.isoformat())
            except (xcals.errors.InvalidCalendarName, ValueError) as exc:
                raise CalendarError(f"unknown exchange calendar {name!r}: {exc}") from None
        self.name = name
        utc = ZoneInfo("UTC")
        self._closes: dict[date, datetime] = {
            ts.date(): datetime.fromtimestamp(close.timestamp(), tz=utc)
            for ts, close in cal.schedule["close"].items()
        }
        self._sessions = sorted(self._closes)
        self._set = frozenset(self._sessions)
        self._first, self._last = self._sessions[0], self._sessions[-1]

    def _check(self, d: date) -> None:
        if not self._first <= d <= self._last:
            raise CalendarError(
                f"calendar {self.name} covers {self._first}..{self._last}, not {d}"
            )

    def is_session(self, d: date) -> bool:
        self._check(d)
        return d in self._set

    def close_time(self, d: date) -> datetime | None:
        if not self.is_session(d):
            return None
        return self._closes[d]

    def sessions_between(self, start: date, end: date) -> list[date]:
        self._check(start)
        self._check(end)
        lo = bisect.bisect_left(self._sessions, start)
        hi = bisect.bisect_right(self._sessions, end)
        return self._sessions[lo:hi]


@functools.lru_cache(maxsize=32)
def get_calendar(
    name: str, close: time = time(17, 0), tz: str = "America/New_York"
) -> MarketCalendar:
    """``weekdays`` / ``daily`` (closing at ``close`` in ``tz``) or an exchange calendar code."""
    if name in ("weekdays", "daily"):
        return SimpleCalendar(name, close, tz)
    return ExchangeCalendar(name)
