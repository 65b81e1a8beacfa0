"""`tanpo bench market`: arithmetic, statistics, scheduling and arguments (no network)."""

from __future__ import annotations

import json
import threading
import time
from datetime import date
from fractions import Fraction

import pytest
from click.testing import CliRunner
from fabric_protos.peer import transaction_pb2

from tanpo.bench import market
from tanpo.bench.cli import bench, market_table
from tanpo.bench.market import (
    AgreementSpec,
    BenchError,
    MarketConfig,
    PhaseStats,
    Task,
    batches,
    choose_dates,
    choose_parties,
    collateral_legs,
    funding,
    loan_quantity,
    ordered_pairs,
    phase_figures,
    plan_agreements,
    prices_for,
    run_tasks,
    set_ratios,
    terms_for,
)
from tanpo.client.errors import CommitError, EndorseError
from tests.client.test_gateway_client import fake_gateway

# ---- configuration ------------------------------------------------------------------------


def test_config_validation_names_the_option() -> None:
    MarketConfig(agreements=10, parties=2, collaterals=3).validate()
    bad: list[tuple[dict[str, object], str]] = [
        (dict(agreements=0), "--agreements"),
        (dict(parties=1), "--parties"),
        (dict(collaterals=0), "--collaterals"),
        (dict(collaterals=33), "--collaterals"),
        (dict(sweep_batch=1001), "--sweep-batch"),
        (dict(register_batch=0), "--register-batch"),
        (dict(register_batch=5000), "--register-batch"),
        (dict(concurrency=0), "--concurrency"),
        (dict(noop_transactions=0), "--noop"),
        (dict(threshold=Fraction(1)), "--threshold"),
    ]
    for change, option in bad:
        args: dict[str, object] = {"agreements": 10, "parties": 2, "collaterals": 2}
        args.update(change)
        with pytest.raises(BenchError, match=option):
            MarketConfig(**args).validate()  # type: ignore[arg-type]


def test_choose_parties_needs_enough_banks() -> None:
    orgs = ["operator", "bank-b", "bank-a", "bank-c"]
    assert choose_parties(orgs, 2) == ["bank-a", "bank-b"]
    assert choose_parties(orgs, 3) == ["bank-a", "bank-b", "bank-c"]
    with pytest.raises(BenchError, match=r"tanpo network up --banks 4"):
        choose_parties(orgs, 4)


# ---- the synthetic market -----------------------------------------------------------------


def test_agreements_spread_over_every_ordered_pair() -> None:
    parties = ["bank-a", "bank-b", "bank-c"]
    assert len(ordered_pairs(parties)) == 6
    specs = plan_agreements("R1", 12, parties, 3)
    assert [s.id for s in specs[:2]] == ["R1-000000", "R1-000001"]
    assert len({s.pair for s in specs}) == 6
    assert all(s.lender != s.borrower for s in specs)
    assert [s.main for s in specs[:4]] == [0, 1, 2, 0]


def test_collateral_covers_the_loan_at_day0() -> None:
    for k in (1, 2, 3, 5):
        for main in range(k):
            legs = collateral_legs(AgreementSpec("X", "bank-a", "bank-b", main), k)
            assert len(legs) == k and sum(q for _, q in legs) == market.UNITS
            assert legs[0][0] == f"MKT-S{main + 1}"  # CT1 is the agreement's main token
            # haircut 5%: the collateral's haircut value equals the loan exactly
            value = sum(q for _, q in legs) * market.PRICE_DAY0 * Fraction(95, 100)
            assert loan_quantity(legs) == value


def test_terms_are_what_the_chaincode_expects() -> None:
    spec = AgreementSpec("R1-000007", "bank-b", "bank-a", 1)
    t = terms_for(spec, 2, date(2024, 1, 1))
    assert t["id"] == "R1-000007" and t["lender"] == "bank-b" and t["borrower"] == "bank-a"
    assert t["loan"] == {"token": market.LOAN_TOKEN, "quantity": "950000"}
    assert [c["token"] for c in t["collateral"]] == ["MKT-S2", "MKT-S1"]
    assert t["startDate"] == "2024-01-01" and t["endDate"] == ""
    assert t["threshold"] == "0" and t["settlementLagDays"] == 0
    json.dumps(t)  # serialisable as the ProposeBatch argument
    with_threshold = terms_for(spec, 2, date(2024, 1, 1), Fraction(2, 100))
    assert with_threshold["threshold"] == "0.02"


def test_prices_move_both_ways() -> None:
    d1, d2 = prices_for(1, 3), prices_for(2, 3)
    assert d1 == {"MKT-S1": "980", "MKT-S2": "1020", "MKT-S3": "980"}
    assert d2 == {"MKT-S1": "1010", "MKT-S2": "990", "MKT-S3": "1010"}


def test_funding_covers_loans_collateral_and_spares() -> None:
    specs = plan_agreements("R", 4, ["bank-a", "bank-b"], 2)
    need = funding(specs, 2)
    # two agreements lent by each bank, 950,000 each
    assert need[("bank-a", market.LOAN_TOKEN)] == 2 * 950_000
    # bank-b borrows agreements 0 and 2 (CT1 = MKT-S1 both): 600 + 400... per agreement + spares
    legs = collateral_legs(specs[0], 2)
    assert need[("bank-b", "MKT-S1")] == 2 * (dict(legs)["MKT-S1"] + market.SPARE_UNITS)


def test_dates_follow_what_is_posted() -> None:
    today = date(2026, 1, 10)
    assert choose_dates(None, today) == (date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3))
    assert choose_dates(date(2025, 3, 1), today)[0] == date(2025, 3, 2)
    assert choose_dates(date(2026, 1, 7), today)[2] == date(2026, 1, 10)
    with pytest.raises(BenchError, match="fresh network"):  # prices wait for their date
        choose_dates(date(2026, 1, 8), today)


def test_batches_group_by_pair_and_interleave() -> None:
    specs = plan_agreements("R", 10, ["bank-a", "bank-b"], 2)
    out = batches(specs, 2)
    assert sum(len(b) for b in out) == 10
    assert all(len({s.pair for s in b}) == 1 for b in out)  # one pair per batch
    assert all(len(b) <= 2 for b in out)
    # pairs alternate, so that concurrent workers start on different parties' keys
    assert out[0][0].pair != out[1][0].pair
    assert {s.id for b in out for s in b} == {s.id for s in specs}


def test_phase_figures_and_ratios() -> None:
    stats = PhaseStats("sweep day 1")
    for latency, attempts in ((0.1, 1), (0.2, 2), (0.3, 1), (0.4, 3)):
        stats.committed(latency, attempts, 100)
    stats.failure(CommitError("tx1", 11, 7))  # 11 = MVCC_READ_CONFLICT
    stats.failure(RuntimeError("endorse refused"))
    stats.add("called", 400)
    fig = phase_figures(stats, elapsed=2.0, noop_tps=50.0, cpu={"cpus": 2, "cpu_busy_pct": 90.0})
    assert fig["agreements"] == 400 and fig["transactions"] == 4 and fig["failed"] == 2
    assert fig["agreements_per_s"] == 200.0 and fig["tx_per_s"] == 2.0
    assert fig["ratio_agreements_to_noop"] == 4.0 and fig["ratio_tx_to_noop"] == 0.04
    assert fig["retries"] == 3 and fig["mvcc_conflicts"] == 4  # 3 retried + 1 that failed for good
    assert fig["commit_latency"]["p50_ms"] == 200.0 and fig["commit_latency"]["p99_ms"] == 400.0
    assert fig["detail"] == {"called": 400} and fig["cpu_busy_pct"] == 90.0
    assert len(fig["errors"]) == 2 and "endorse refused" in fig["errors"][1]


def test_phase_figures_without_time_or_baseline() -> None:
    fig = phase_figures(PhaseStats("x"), elapsed=0.0, noop_tps=0.0, cpu={})
    assert fig["agreements_per_s"] == 0.0 and fig["ratio_tx_to_noop"] is None


def test_stats_are_thread_safe() -> None:
    stats = PhaseStats("x")

    def work() -> None:
        for _ in range(1000):
            stats.committed(0.01, 2, 1)
            stats.add("called")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stats.transactions == 8000 and stats.retries == 8000 and stats.detail["called"] == 8000


# ---- scheduling ---------------------------------------------------------------------------


def test_tasks_sharing_a_key_never_overlap() -> None:
    active: dict[str, int] = {}
    peak = {"overall": 0}
    lock = threading.Lock()
    order: list[int] = []

    def task(i: int, keys: frozenset[str]) -> Task:
        def go() -> None:
            with lock:
                for k in keys:
                    active[k] = active.get(k, 0) + 1
                    assert active[k] == 1, f"key {k} held twice"
                peak["overall"] = max(peak["overall"], sum(active.values()))
                order.append(i)
            time.sleep(0.01)
            with lock:
                for k in keys:
                    active[k] -= 1
        return Task(keys, go)

    tasks = [task(i, frozenset({"bank-a" if i % 2 else "bank-b"})) for i in range(12)]
    tasks += [task(100 + i, frozenset()) for i in range(4)]
    run_tasks(tasks, concurrency=4)
    assert sorted(order) == sorted([*range(12), *range(100, 104)])
    assert peak["overall"] <= 4


def test_task_exception_stops_scheduling_and_is_raised() -> None:
    ran: list[int] = []

    def ok(i: int) -> Task:
        return Task(frozenset({"k"}), lambda: ran.append(i))

    def boom() -> None:
        raise ValueError("bad batch")

    with pytest.raises(ValueError, match="bad batch"):
        run_tasks([ok(1), Task(frozenset({"k"}), boom), ok(2), ok(3)], concurrency=1)
    assert ran == [1]


def test_task_waits_for_its_event() -> None:
    order: list[str] = []
    proposed = threading.Event()

    def propose() -> None:
        time.sleep(0.05)
        order.append("propose")
        proposed.set()

    run_tasks([Task(frozenset({"a"}), lambda: order.append("approve"), after=proposed),
               Task(frozenset(), propose),
               Task(frozenset({"b"}), lambda: order.append("other"))], concurrency=2)
    assert order.index("propose") < order.index("approve")
    assert order.index("other") < order.index("approve")


def test_no_tasks() -> None:
    run_tasks([], concurrency=3)


# ---- the command line ---------------------------------------------------------------------


def test_cli_refuses_bad_arguments_before_connecting() -> None:
    runner = CliRunner()
    env = {"TANPO_STATE_DIR": "/nonexistent"}
    for args, message in ((["--agreements", "0"], "--agreements must be at least 1"),
                          (["--parties", "1"], "--parties must be at least 2"),
                          (["--sweep-batch", "2000"], "--sweep-batch must be between 1 and 1000"),
                          (["--threshold", "abc"], "--threshold 'abc' is not a decimal"),
                          (["--threshold", "1.5"], "--threshold must be at least 0")):
        res = runner.invoke(bench, ["market", *args], env=env)
        assert res.exit_code == 2, args
        assert message in res.output, res.output
    res = runner.invoke(bench, ["market"], env=env)
    assert res.exit_code == 2 and "no connection profile" in res.output
    res = runner.invoke(bench, ["market", "--registration", "sometimes"])
    assert res.exit_code == 2 and "sometimes" in res.output


def test_cli_reports_too_few_banks(monkeypatch: pytest.MonkeyPatch) -> None:
    from tanpo.client.profile import OrgInfo, Profile

    profile = Profile("tanpo", "tanpo", {
        p: OrgInfo(p, m, (), {}) for p, m in
        (("operator", "OperatorMSP"), ("bank-a", "BankAMSP"), ("bank-b", "BankBMSP"))})
    monkeypatch.setattr("tanpo.client.profile.load_profile", lambda *a: profile)
    res = CliRunner().invoke(bench, ["market", "--parties", "3"])
    assert res.exit_code == 2
    assert "--parties 3 needs 3 bank organisations" in res.output
    assert "tanpo network up --banks 3" in res.output


def test_market_table_shows_every_phase() -> None:
    phase = phase_figures(PhaseStats("register"), 1.0, 100.0, {"cpus": 2})
    result = {
        "config": {"agreements": 10, "parties": 2, "collaterals": 2},
        "machine": {"cpus": 2},
        "baseline": {"transactions": 10, "elapsed_s": 0.1, "submit_tps": 100.0,
                     "submit_latency": {"p50_ms": 1.0, "p99_ms": 2.0}, "mvcc_retries": 0,
                     "failed": 0},
        "phases": [phase, phase | {"phase": "sweep day 1"}],
    }
    table = market_table(result)
    assert [c.header for c in table.columns] == ["figure", "no-op", "register", "sweep day 1"]
    figures = list(table.columns[0].cells)
    assert "agreements/s" in figures and "failed" in figures
    tx_ratio = list(table.columns[1].cells)[figures.index("tx/s ÷ no-op tx/s")]
    assert tx_ratio == "1.00"


def test_ratios_use_the_rate_given_and_can_be_reset() -> None:
    stats = PhaseStats("sweep day 1")
    stats.committed(0.5, 1, 3000)
    phase = phase_figures(stats, 1.0, 200.0, {})
    assert phase["agreements_per_s"] == 3000.0
    assert phase["ratio_agreements_to_noop"] == 15.0
    # a higher no-op rate measured at the end of the run lowers every ratio
    set_ratios(phase, 300.0)
    assert phase["ratio_agreements_to_noop"] == 10.0
    assert phase["ratio_tx_to_noop"] == round(1 / 300.0, 3)


def test_market_table_names_both_no_op_runs() -> None:
    base = {"transactions": 10, "elapsed_s": 0.1, "submit_tps": 192.0,
            "submit_latency": {"p50_ms": 1.0, "p99_ms": 2.0}, "mvcc_retries": 0, "failed": 0}
    result = {
        "config": {"agreements": 10, "parties": 2, "collaterals": 2},
        "machine": {"cpus": 2},
        "baseline": base,
        "baseline_end": base | {"submit_tps": 281.25},
        "noop_tps": 281.25,
        "phases": [],
    }
    caption = str(market_table(result).caption)
    assert "192.0 tx/s at the start, 281.2 at the end; ratios use 281.2" in caption


def test_timed_submit_retries_conflicts_and_differing_endorsements() -> None:
    with fake_gateway() as (servicer, gw, _):
        servicer.mismatches = 2
        servicer.commit_codes = [transaction_pb2.MVCC_READ_CONFLICT]
        result, endorse_s, commit_s, mismatches = market.timed_submit(
            gw.network("tanpo").contract("tanpo"), "Move", ["x"], "pair-bank-a-bank-b")
        assert (mismatches, result.attempts) == (2, 2)  # two mismatches, then one MVCC retry
        assert len(servicer.submits) == 2 and endorse_s > 0 and commit_s > 0
        servicer.mismatches = 9
        with pytest.raises(EndorseError) as info:
            market.timed_submit(gw.network("tanpo").contract("tanpo"), "Move", [],
                                "pair-bank-a-bank-b")
        assert info.value.endorsements_differ
        assert servicer.mismatches == 9 - market.MISMATCH_RETRY.attempts
