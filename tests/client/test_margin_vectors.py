"""Golden vectors (vectors/*.json), shared with the Go engine's tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tanpo.margin.vectors import check_expectations, iter_vector_cases, run_case

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
CASES = list(iter_vector_cases(VECTORS))


def test_vectors_exist() -> None:
    assert len(CASES) >= 40
    names = [case["name"] for _, case in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    assert "design-example-eur-bond-vs-usd-stock" in names


@pytest.mark.parametrize(
    ("file", "case"), CASES, ids=[f"{file}:{case['name']}" for file, case in CASES]
)
def test_vector(file: str, case: dict[str, Any]) -> None:
    output = run_case(case)
    problems = check_expectations(case, output)
    assert not problems, "\n".join(problems)
