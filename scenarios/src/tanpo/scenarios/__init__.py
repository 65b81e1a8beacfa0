"""Scenario tooling: scenario files, the runner over a pluggable ledger, metrics and reports.

* :mod:`tanpo.scenarios.loader` - YAML scenario files to :class:`~tanpo.scenarios.model.Scenario`
  (errors name file, line and key);
* :mod:`tanpo.scenarios.runner` - day-by-day replay through a
  :class:`~tanpo.scenarios.ledger.Ledger` (off-chain:
  :class:`~tanpo.scenarios.engine_ledger.EngineLedger`, the pure margin engine);
* :mod:`tanpo.scenarios.metrics` - the DESIGN.md metrics from the call records;
* :mod:`tanpo.scenarios.paper` - the securities-lending paper's models 0-4 over cases 1-4;
* :mod:`tanpo.scenarios.compare` - the DLT study's indexed 1 vs 5 collaterals x threshold table;
* :mod:`tanpo.scenarios.cli` - ``tanpo scenario run | paper | compare | validate | bench``.
"""

from tanpo.scenarios.errors import ScenarioError
from tanpo.scenarios.ledger import AgreementTerms, CallRecord, Ledger
from tanpo.scenarios.loader import load_scenario, parse_scenario
from tanpo.scenarios.metrics import Metrics, compute_metrics
from tanpo.scenarios.model import AgreementSpec, Scenario, TokenSpec
from tanpo.scenarios.runner import RunResult, run_scenario

__all__ = [
    "AgreementSpec",
    "AgreementTerms",
    "CallRecord",
    "Ledger",
    "Metrics",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "TokenSpec",
    "compute_metrics",
    "load_scenario",
    "parse_scenario",
    "run_scenario",
]
