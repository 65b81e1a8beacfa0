"""Market data for scenarios and the oracle's file source: exact loaders and calendar windows.

See :mod:`tanpo.marketdata.series` for the file format and :mod:`tanpo.marketdata.calendar` for
the two conventions that give a price to a calendar day without trading.
"""

from tanpo.marketdata.calendar import Fill, Observation, calendar_days, observe, window
from tanpo.marketdata.series import (
    DATA_ENV_VAR,
    MarketData,
    MarketDataError,
    PriceSeries,
    default_data_dir,
    load_series,
    parse_decimal,
)

__all__ = [
    "DATA_ENV_VAR",
    "Fill",
    "MarketData",
    "MarketDataError",
    "Observation",
    "PriceSeries",
    "calendar_days",
    "default_data_dir",
    "load_series",
    "observe",
    "parse_decimal",
    "window",
]
