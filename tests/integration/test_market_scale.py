"""A small `tanpo bench market` run on the session's network: the batched registration and the
batched sweeps commit every transaction and margin every agreement exactly once per day.

The figures it prints are not asserted (speed is measured by the benchmark, never by tests)."""

from __future__ import annotations

import json

from tanpo.bench import market
from tanpo.client import connect
from tanpo.client.profile import Profile


def test_market_bench_small_run(profile: Profile) -> None:
    cfg = market.MarketConfig(agreements=200, parties=2, collaterals=2, register_batch=50,
                              sweep_batch=40, concurrency=4, noop_submitters=8,
                              noop_transactions=50)
    result = market.run(cfg, profile)
    print(json.dumps({p["phase"]: {k: p[k] for k in ("agreements", "transactions", "elapsed_s",
                                                     "agreements_per_s", "mvcc_conflicts")}
                      for p in result["phases"]}, indent=1))

    assert result["failed_transactions"] == 0, [p["errors"] for p in result["phases"]]
    register, day1, day2 = result["phases"]
    assert register["agreements"] == 200 and register["detail"]["approved"] == 200
    assert register["detail"]["proposed"] == 200
    for day in (day1, day2):
        assert day["detail"]["called"] == 200, day["detail"]
        assert day["detail"].get("replayed", 0) == 0 and day["detail"].get("skipped", 0) == 0
        assert day["detail"]["margined_once"] is True
        assert day["detail"]["transfers"] >= 200  # β = 0: every call moves collateral
    assert all(result["checks"].values()), result["checks"]

    # each agreement has exactly one recorded call per day, and sweeping again replays it
    first = f"{result['run_id']}-000000"
    day1_date, day2_date = result["dates"]["day1"], result["dates"]["day2"]
    with connect("operator", "User1", profile) as oracle:
        calls = json.loads(oracle.contract("margin").evaluate("ListMarginCalls", first, "10", ""))
        assert [c["date"] for c in calls["items"]] == [day1_date, day2_date]
        again = json.loads(oracle.contract("margin").submit(
            "SweepAgreements", day1_date, json.dumps([first]),
            endorsing_organizations=market.endorsers(["bank-a", "bank-b"], {
                p: o.msp_id for p, o in profile.orgs.items()})).result)
        assert again["replayed"] == 1 and again["called"] == 0
