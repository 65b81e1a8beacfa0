"""The gateway benchmark's bookkeeping: warm-up submits are made but never counted."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pytest

from tanpo.bench import gateway


@dataclass
class _Result:
    attempts: int


class FakeContract:
    """Counts submits and evaluates; every third submit needed one MVCC retry."""

    def __init__(self) -> None:
        self.submits = 0
        self.evaluates = 0
        self.lock = threading.Lock()

    def with_contract(self, _name: str) -> FakeContract:
        return self

    def submit(self, fn: str, *args: str) -> _Result:
        assert fn == "Noop" and args == ()
        with self.lock:
            self.submits += 1
            n = self.submits
        return _Result(attempts=2 if n % 3 == 0 else 1)

    def evaluate(self, fn: str, *args: str) -> bytes:
        self.evaluates += 1
        return b"{}"


def test_warmup_submits_are_made_but_not_counted() -> None:
    fake = FakeContract()
    progressed: list[int] = []
    res = gateway.run(fake, submitters=4, transactions=30, evaluations=5, warmup=12,
                      progress=progressed.append)  # type: ignore[arg-type]
    assert fake.submits == 42
    assert res.transactions == 30 and res.warmup == 12 and res.failed == 0
    assert sum(progressed) == 30
    assert res.mvcc_retries == sum(1 for n in range(13, 43) if n % 3 == 0)
    assert res.evaluations == 5 and fake.evaluates == 5
    assert res.submit_tps > 0


def test_failures_are_reported_not_hidden() -> None:
    class Failing(FakeContract):
        def submit(self, fn: str, *args: str) -> Any:
            raise RuntimeError("orderer unavailable")

    with pytest.raises(RuntimeError, match="every submit failed; first error: orderer"):
        gateway.run(Failing(), submitters=2, transactions=4, evaluations=0)  # type: ignore[arg-type]


def test_refuses_a_negative_warmup() -> None:
    with pytest.raises(ValueError, match="warmup"):
        gateway.run(FakeContract(), warmup=-1)  # type: ignore[arg-type]
