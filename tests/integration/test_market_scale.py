"""A small `tanpo bench market` run on the session's network: the batched registration and the
batched sweeps commit every transaction and margin every agreement exactly once per day.

The figures it prints are not asserted (speed is measured by the benchmark, never by tests)."""

from __future__ import annotations

import json

from tanpo.bench import market
from tanpo.client import connect, private
from tanpo.client.pairs import pair_collection
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
    assert all(result["checks"].values()), result["checks"]

    # each agreement has exactly one recorded call per day, and every call moved collateral
    # (β = 0): the records are private to the pair, so a party reads them, not the operator
    day1_date, day2_date = result["dates"]["day1"], result["dates"]["day2"]
    pair = pair_collection("bank-a", "bank-b")
    sample = [f"{result['run_id']}-{i:06d}" for i in range(0, 200, 25)]
    with connect("bank-a", "User1", profile) as lender:
        margin = lender.contract("margin")
        recorded = {}
        for agreement in sample:
            calls = json.loads(private.evaluate(margin, "ListMarginCalls", agreement, "10", "",
                                                pair=pair))["items"]
            assert [c["date"] for c in calls] == [day1_date, day2_date], agreement
            assert all(c["transfers"] for c in calls), (agreement, calls)
            again = json.loads(private.evaluate(margin, "GetMarginCall", agreement, day2_date,
                                                pair=pair))
            assert again["txId"] == calls[1]["txId"] and again["transfers"] == calls[1]["transfers"]
            recorded[agreement] = calls

    # sweeping again replays the call: the operator gets the receipt, not the record
    first = sample[0]
    with connect("operator", "User1", profile) as oracle:
        again = json.loads(private.submit(oracle.contract("margin"), "SweepAgreements",
                                          day1_date, json.dumps([first]), pair=pair).result)
        assert again["replayed"] == 1 and again["called"] == 0
        assert again["outcomes"][0]["agreement"] == first
        assert again["outcomes"][0]["status"] == "replayed"
        assert again["outcomes"][0]["txId"] == recorded[first][0]["txId"]
