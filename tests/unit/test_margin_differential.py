"""Differential test: the Python engine and the Go engine (cmd/margin-vectors) on random cases.

Cases are drawn by hypothesis in batches; each batch goes through the Go command in one subprocess
call and through ``tanpo.margin.run_case``, and the outputs must be identical field by field
(values are canonical rational strings, so equal means equal to the last unit). The number of
cases is ``TANPO_DIFF_CASES`` (default 10,000).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tanpo.margin.vectors import run_case

CHAINCODE = Path(__file__).resolve().parents[2] / "chaincode"
TOTAL = int(os.environ.get("TANPO_DIFF_CASES", "10000"))
BATCH = 50

CCYS = ["JPY", "USD", "EUR", "GBP", "AUD"]
BAD_NUMBERS = ["abc", "1e3", "-5", "0", " 1", "NaN", "1/0", "", "1.", "+1", "0x10", "1_000"]

Draw = Callable[[st.SearchStrategy[Any]], Any]


@pytest.fixture(scope="session")
def go_engine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go margin-vectors command, built once per session."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("go is not on PATH: cannot build chaincode/cmd/margin-vectors")
    out = tmp_path_factory.mktemp("margin-go") / "margin-vectors"
    subprocess.run(
        [go, "build", "-o", str(out), "./cmd/margin-vectors"], cwd=CHAINCODE, check=True
    )
    return out


def _decimal(draw: Draw, max_int: int, max_frac: int) -> str:
    whole = draw(st.integers(0, max_int))
    digits = draw(st.integers(0, max_frac))
    if digits == 0:
        return str(whole)
    return f"{whole}.{draw(st.integers(0, 10**digits - 1)):0{digits}d}"


@st.composite
def positive_number(draw: Draw, max_int: int = 20000, max_frac: int = 4) -> str:
    kind = draw(st.integers(0, 99))
    if kind < 8:
        return f"{draw(st.integers(1, 10**6))}/{draw(st.integers(1, 10**6))}"
    if kind < 10:
        return str(draw(st.integers(1, 10**30)))
    text = _decimal(draw, max_int, max_frac)
    return text if text.strip("0.") else "1"


@st.composite
def fraction_below_one(draw: Draw) -> str:
    kind = draw(st.integers(0, 9))
    if kind < 4:
        return str(draw(st.sampled_from(["0", "0.05", "0.1", "1/3", "0.02", ""])))
    if kind == 9:
        return str(draw(st.sampled_from(["1", "-0.1", "1.5", "5%", "0.05 "])))  # rejected
    return f"0.{draw(st.integers(0, 9999)):04d}"


def _perturb(draw: Draw, price: str) -> str:
    """A nearby price: the same digits scaled by a small integer change of the last digit."""
    if "/" in price or not price.replace(".", "").isdigit():
        return price
    whole, _, frac = price.partition(".")
    units = int(whole + frac)
    units = max(1, units + draw(st.integers(-max(1, units // 25), max(1, units // 25))))
    text = str(units).rjust(len(frac) + 1, "0")
    return f"{text[: len(text) - len(frac)]}.{text[len(text) - len(frac):]}" if frac else text


@st.composite
def margin_case(draw: Draw) -> dict[str, Any]:
    ncol = draw(st.integers(1, 5))
    base = draw(st.sampled_from(CCYS))
    ids = [f"T{i}" for i in range(ncol + 1)]
    tokens = []
    for token_id in ids:
        tokens.append(
            {
                "id": token_id,
                "kind": draw(st.sampled_from(["ST", "ST", "CT"])),
                "currency": draw(st.sampled_from([base, base, *CCYS])),
                "quote": draw(st.sampled_from(["per-unit", "percent-of-par", ""])),
            }
        )
    collateral = draw(st.permutations(ids[1:]))
    scale = draw(st.sampled_from([10, 10**4, 10**7, 10**12, 10**18]))
    quantity = st.integers(0, scale)
    terms: dict[str, Any] = {
        "base": base,
        "loan": {"token": ids[0], "quantity": draw(st.integers(1, scale))},
        "collateral": list(collateral),
        "mode": draw(st.sampled_from(["single", "multi"])),
        "haircut": draw(fraction_below_one()),
        "haircuts": draw(st.dictionaries(st.sampled_from(ids[1:]), fraction_below_one(),
                                         max_size=2)),
        "threshold": draw(st.sampled_from(["0", "", "0.02", "0.005", "1/7", "0.5"])),
        "minTransfer": draw(st.sampled_from(["", "0", "0", "100", "5000.5", "1/3"])),
        "lagDays": draw(st.sampled_from([0, 0, 1, 1, 2, 3])),
        "autoIssue": draw(st.booleans()),
    }
    positions = {
        "held": draw(st.dictionaries(st.sampled_from(ids[1:]),
                                     st.integers(-(scale // 10), scale))),
        "borrowerFree": draw(st.dictionaries(st.sampled_from(ids[1:]), quantity)),
        "lenderFree": draw(st.dictionaries(st.sampled_from(ids[1:]), quantity, max_size=1)),
    }
    prices = {t: draw(positive_number()) for t in ids}
    rates: dict[str, str] = {}
    for ccy in CCYS:
        if ccy == base or draw(st.integers(0, 9)) == 0:
            continue
        hub = draw(st.sampled_from([base, base, "USD", "EUR"]))
        if hub == ccy:
            continue
        pair = ccy + hub if draw(st.booleans()) else hub + ccy
        rates[pair] = draw(positive_number(max_int=200, max_frac=4))
    day = date(2000, 1, 1) + timedelta(days=draw(st.integers(0, 9000)))
    days = []
    for _ in range(draw(st.integers(1, 4))):
        prices = {t: _perturb(draw, p) for t, p in prices.items()}
        day_prices = dict(prices)
        mishap = draw(st.integers(0, 59))
        day_fx = dict(rates)
        if mishap == 0 and day_prices:
            del day_prices[draw(st.sampled_from(sorted(day_prices)))]
        elif mishap == 1:
            day_prices[draw(st.sampled_from(ids))] = draw(st.sampled_from(BAD_NUMBERS))
        elif mishap == 2 and day_fx:
            del day_fx[draw(st.sampled_from(sorted(day_fx)))]
        elif mishap == 3:
            day_fx[draw(st.sampled_from(["EURUSDX", "JPYJPY", "eurusd"]))] = "1"
        days.append({"date": day.isoformat(), "prices": day_prices, "fx": day_fx})
        day += timedelta(days=draw(st.sampled_from([1, 1, 1, 2, 3, 0])))
    case = {"name": "random", "tokens": tokens, "terms": terms, "positions": positions,
            "days": days}
    mishap = draw(st.integers(0, 99))
    if mishap == 0:
        terms["collateral"].append("NOPE")
    elif mishap == 1:
        terms["mode"] = "both"
    elif mishap == 2:
        terms["loan"]["quantity"] = draw(st.sampled_from([0, -1, 2**63, 2**63 - 1, 1.5]))
    elif mishap == 3:
        positions["borrowerFree"][ids[1]] = -1
    elif mishap == 4:
        terms["lagDays"] = draw(st.sampled_from([-1, 367, 2**70]))
    return case


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key, "<absent>") != b.get(key, "<absent>"):
                return _first_difference(a.get(key, "<absent>"), b.get(key, "<absent>"),
                                         f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path or '<root>'}: python={a!r} go={b!r}"


def _outputs_of_go(engine: Path, lines: list[str]) -> Iterator[dict[str, Any]]:
    proc = subprocess.run(
        [str(engine)], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True,
        timeout=60,
    )
    outputs = proc.stdout.splitlines()
    assert len(outputs) == len(lines), proc.stderr
    for line in outputs:
        yield json.loads(line)


def _without_messages(output: dict[str, Any]) -> dict[str, Any]:
    """Error messages are for people and may be worded differently; kinds must match."""
    out = dict(output)
    if "error" in out:
        out["error"] = {"kind": out["error"]["kind"]}
    if "days" in out:
        out["days"] = [
            {"error": {"kind": d["error"]["kind"]}} if "error" in d else d for d in out["days"]
        ]
    return out


def test_python_and_go_engines_agree(go_engine: Path) -> None:
    stats = {"cases": 0, "days": 0, "day_errors": 0, "case_errors": 0, "transfers": 0,
             "mints": 0, "triggered": 0}

    @settings(
        max_examples=max(1, -(-TOTAL // BATCH)),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(margin_case(), min_size=BATCH, max_size=BATCH))
    def check(batch: list[dict[str, Any]]) -> None:
        lines = [json.dumps(case) for case in batch]
        for line, go_out in zip(lines, _outputs_of_go(go_engine, lines), strict=True):
            py_out = run_case(json.loads(line))
            py_cmp, go_cmp = _without_messages(py_out), _without_messages(go_out)
            assert py_cmp == go_cmp, f"{_first_difference(py_cmp, go_cmp)}\ncase: {line}"
            stats["cases"] += 1
            if "error" in py_out:
                stats["case_errors"] += 1
                continue
            for d in py_out["days"]:
                stats["days"] += 1
                if "error" in d:
                    stats["day_errors"] += 1
                    continue
                stats["transfers"] += len(d["transfers"])
                stats["mints"] += len(d["mints"])
                stats["triggered"] += d["triggered"]

    check()
    print(f"differential: {stats}")
    assert stats["cases"] >= TOTAL
    # the generator must exercise the interesting paths, not only errors
    assert stats["transfers"] > stats["cases"] // 4
    assert stats["mints"] > 0 and stats["day_errors"] > 0 and stats["case_errors"] > 0
