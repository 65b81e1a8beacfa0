"""Counterparty risk and capital: what a lending custodian shows its regulator.

* :mod:`tanpo.risk.portfolio` - the :class:`PortfolioSource` protocol and the book by
  counterparty, valued exactly with the margin engine;
* :mod:`tanpo.risk.scenario_source`, :mod:`tanpo.risk.memory` - sources over a scenario run and
  in memory (the ledger source is wired to the Fabric SDK elsewhere);
* :mod:`tanpo.marketdata.instruments`, :mod:`tanpo.marketdata.reference` - asset class, rating;
* :mod:`tanpo.risk.history`, :mod:`tanpo.risk.bonds`, :mod:`tanpo.risk.var` - the stressed window
  and historical-simulation VaR with full revaluation;
* :mod:`tanpo.risk.regimes`, :mod:`tanpo.risk.haircuts` - eligibility by regime and Basel II
  supervisory haircuts;
* :mod:`tanpo.risk.report`, :mod:`tanpo.risk.compare`, :mod:`tanpo.risk.output`,
  :mod:`tanpo.risk.cli` - the report, its comparison, its files and ``tanpo risk``;
  :mod:`tanpo.risk.exact` - exact values as text.
"""

from tanpo.marketdata.instruments import AssetClass, BondTerms, TokenInfo
from tanpo.risk.compare import Comparison, FigureChange, InputChange, compare
from tanpo.risk.errors import RiskError
from tanpo.risk.history import DEFAULT_WINDOW, MarketDataFactors, MemoryFactors, StressWindow
from tanpo.risk.memory import MemorySource
from tanpo.risk.portfolio import AgreementHolding, Book, PortfolioSource, PriceSnapshot, build_book
from tanpo.risk.regimes import Regime
from tanpo.risk.report import Report, ReportConfig, make_report, run_report
from tanpo.risk.var import ReturnMethod, VarConfig

__all__ = [
    "DEFAULT_WINDOW",
    "AgreementHolding",
    "AssetClass",
    "BondTerms",
    "Book",
    "Comparison",
    "FigureChange",
    "InputChange",
    "MarketDataFactors",
    "MemoryFactors",
    "MemorySource",
    "PortfolioSource",
    "PriceSnapshot",
    "Regime",
    "Report",
    "ReportConfig",
    "ReturnMethod",
    "RiskError",
    "StressWindow",
    "TokenInfo",
    "VarConfig",
    "build_book",
    "compare",
    "make_report",
    "run_report",
]
