"""`tanpo bench gateway`: what the network itself can commit, the baseline for every other figure.

N submitter threads each run the full Gateway flow (endorse, submit, wait for commit) on a
transaction that reads and writes nothing, so the figure measures the network, not the contract.
Evaluations are measured one at a time, after the submit phase.
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
) -> GatewayBenchResult:
    if submitters < 1 or transactions < 1 or evaluations < 0:
        raise ValueError("submitters and transactions must be positive, evaluations >= 0")
    ping = contract.with_contract("ping")
    latencies: list[float] = []
    retries = [0]
    failures: list[BaseException] = []
    lock = threading.Lock()
    remaining = [transactions]

    def worker() -> None:
        while True:
            with lock:
                if remaining[0] == 0:
                    return
                remaining[0] -= 1
            t0 = time.perf_counter()
            try:
                result = ping.submit(submit_fn, *submit_args)
            except Exception as exc:  # counted and reported with the figures, not hidden
                with lock:
                    failures.append(exc)
                continue
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                retries[0] += result.attempts - 1
            if progress:
                progress(1)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=submitters) as pool:
        for _ in range(submitters):
            pool.submit(worker)
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
        mvcc_retries=retries[0],
        elapsed_s=round(elapsed, 3),
        submit_tps=round(len(latencies) / elapsed, 2) if elapsed else 0.0,
        submit_latency=summary_ms(latencies),
        evaluations=len(eval_latencies),
        evaluate_latency=summary_ms(eval_latencies),
    )
