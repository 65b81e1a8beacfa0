"""`tanpo bench gateway`: what the network itself can commit, the baseline for every other figure.

N submitter threads each run the full Gateway flow (endorse, submit, wait for commit) on a
transaction that reads and writes nothing, so the figure measures the network, not the contract.
A warm-up of unmeasured submits at the same concurrency comes first: on a network that has just
started, the first submits wait for connections, discovery and the chaincode's first streams, a
stall of seconds that would otherwise count. Evaluations are measured one at a time, after the
submit phase.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from tanpo.bench.stats import summary_ms
from tanpo.client.gateway import Contract


@dataclass(frozen=True)
class GatewayBenchResult:
    submitters: int
    transactions: int
    failed: int
    mvcc_retries: int
    elapsed_s: float
    submit_tps: float
    submit_latency: dict[str, float]
    evaluations: int
    evaluate_latency: dict[str, float]
    warmup: int = 0  # unmeasured submits before the figures

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run(
    contract: Contract,
    submitters: int = 8,
    transactions: int = 400,
    evaluations: int = 200,
    submit_fn: str = "Noop",
    evaluate_fn: str = "WhoAmI",
    submit_args: tuple[str, ...] = (),
    progress: Callable[[int], None] | None = None,
    warmup: int = 0,
) -> GatewayBenchResult:
    if submitters < 1 or transactions < 1 or evaluations < 0 or warmup < 0:
        raise ValueError("submitters and transactions must be positive, evaluations and warmup "
                         ">= 0")
    ping = contract.with_contract("ping")
    if warmup > 0:
        _submit_all(ping, submit_fn, submit_args, submitters, warmup)
    start = time.perf_counter()
    latencies, retries, failures = _submit_all(ping, submit_fn, submit_args, submitters,
                                               transactions, progress)
    elapsed = time.perf_counter() - start

    eval_latencies = []
    evaluator = contract.with_contract("roles") if evaluate_fn == "WhoAmI" else ping
    for _ in range(evaluations):
        t0 = time.perf_counter()
        evaluator.evaluate(evaluate_fn)
        eval_latencies.append(time.perf_counter() - t0)

    if failures and not latencies:
        raise RuntimeError(f"every submit failed; first error: {failures[0]}")
    return GatewayBenchResult(
        submitters=submitters,
        transactions=len(latencies),
        failed=len(failures),
        mvcc_retries=retries,
        elapsed_s=round(elapsed, 3),
        submit_tps=round(len(latencies) / elapsed, 2) if elapsed else 0.0,
        submit_latency=summary_ms(latencies),
        evaluations=len(eval_latencies),
        evaluate_latency=summary_ms(eval_latencies),
        warmup=warmup,
    )


def _submit_all(ping: Contract, fn: str, args: tuple[str, ...], submitters: int, total: int,
                progress: Callable[[int], None] | None = None,
                ) -> tuple[list[float], int, list[BaseException]]:
    """`total` submits from `submitters` threads: each commit's latency, the MVCC retries, and
    the failures (counted and reported with the figures, not hidden)."""
    latencies: list[float] = []
    retries = [0]
    failures: list[BaseException] = []
    lock = threading.Lock()
    remaining = [total]

    def worker() -> None:
        while True:
            with lock:
                if remaining[0] == 0:
                    return
                remaining[0] -= 1
            t0 = time.perf_counter()
            try:
                result = ping.submit(fn, *args)
            except Exception as exc:
                with lock:
                    failures.append(exc)
                continue
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                retries[0] += result.attempts - 1
            if progress:
                progress(1)

    with ThreadPoolExecutor(max_workers=submitters) as pool:
        for _ in range(submitters):
            pool.submit(worker)
    return latencies, retries[0], failures
