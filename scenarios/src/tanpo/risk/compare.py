"""What changed between two reports: typically the same date re-run after corrected prices
arrived (a new data version).

:func:`compare` takes :class:`~tanpo.risk.report.Report` objects or their JSON documents (so a
report saved months ago can be compared with today's re-run) and lists, exactly:

* the inputs that changed: prices and FX rates (old → new);
* per counterparty and in total, every figure that changed (old, new, new − old);
* counterparties present in only one of the two;
* notes when the two are not the same question (different date, regime or currency).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from tanpo.risk.exact import exact_text
from tanpo.risk.report import Report

__all__ = ["Comparison", "FigureChange", "InputChange", "compare"]


@dataclass(frozen=True, slots=True)
class InputChange:
    kind: str  # "price" or "fx"
    name: str
    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class FigureChange:
    """``scope`` is ``"lender->borrower"`` or ``"total"``; None = absent on that side."""

    scope: str
    figure: str
    old: Fraction | None
    new: Fraction | None

    @property
    def delta(self) -> Fraction | None:
        if self.old is None or self.new is None:
            return None
        return self.new - self.old


@dataclass(frozen=True, slots=True)
class Comparison:
    old_version: str
    new_version: str
    old_digest: str
    new_digest: str
    notes: tuple[str, ...]
    inputs: tuple[InputChange, ...]
    figures: tuple[FigureChange, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]

    @property
    def unchanged(self) -> bool:
        return not (self.inputs or self.figures or self.added or self.removed or self.notes)

    def to_dict(self) -> dict[str, Any]:
        def s(v: Fraction | None) -> str | None:
            return None if v is None else exact_text(v)

        return {
            "old": {"data_version": self.old_version, "inputs_digest": self.old_digest},
            "new": {"data_version": self.new_version, "inputs_digest": self.new_digest},
            "notes": list(self.notes),
            "inputs": [
                {"kind": c.kind, "name": c.name, "old": c.old, "new": c.new} for c in self.inputs
            ],
            "figures": [
                {
                    "scope": c.scope,
                    "figure": c.figure,
                    "old": s(c.old),
                    "new": s(c.new),
                    "delta": s(c.delta),
                }
                for c in self.figures
            ],
            "added": list(self.added),
            "removed": list(self.removed),
        }


_FIGURE_ORDER = (
    "lent", "collateral", "excluded", "net", "exposure", "var", "capital", "e_star",
    "var_undiversified", "diversification",
)  # fmt: skip


def _figure_rank(name: str) -> tuple[int, str]:
    return (_FIGURE_ORDER.index(name) if name in _FIGURE_ORDER else len(_FIGURE_ORDER), name)


def _doc(report: Report | Mapping[str, Any]) -> Mapping[str, Any]:
    return report.to_dict() if isinstance(report, Report) else report


def _figures(block: Mapping[str, Any]) -> dict[str, Fraction]:
    return {name: Fraction(v["exact"]) for name, v in block.items()}


def _scopes(doc: Mapping[str, Any]) -> dict[str, dict[str, Fraction]]:
    out = {
        f"{cp['lender']}->{cp['borrower']}": _figures(cp["figures"]) for cp in doc["counterparties"]
    }
    out["total"] = _figures(doc["total"]["figures"])
    return out


def compare(old: Report | Mapping[str, Any], new: Report | Mapping[str, Any]) -> Comparison:
    """The differences between two reports (see the module docstring)."""
    a, b = _doc(old), _doc(new)
    notes = [
        f"{key} differs: {a[key]} -> {b[key]}"
        for key in ("as_of", "regime", "currency")
        if a[key] != b[key]
    ]
    inputs: list[InputChange] = []
    for kind, key in (("price", "prices"), ("fx", "fx")):
        pa, pb = a["market"][key], b["market"][key]
        for name in sorted(set(pa) | set(pb)):
            va, vb = pa.get(name), pb.get(name)
            if va is None or vb is None or Fraction(va) != Fraction(vb):
                inputs.append(InputChange(kind, name, va, vb))
    sa, sb = _scopes(a), _scopes(b)
    figures: list[FigureChange] = []
    ordered = sorted(set(sa) & set(sb), key=lambda k: (k == "total", k))
    for scope in ordered:
        fa, fb = sa[scope], sb[scope]
        for name in sorted(set(fa) | set(fb), key=_figure_rank):
            va, vb = fa.get(name), fb.get(name)
            if va != vb:
                figures.append(FigureChange(scope, name, va, vb))
    return Comparison(
        old_version=a["data_version"],
        new_version=b["data_version"],
        old_digest=a.get("inputs_digest", ""),
        new_digest=b.get("inputs_digest", ""),
        notes=tuple(notes),
        inputs=tuple(inputs),
        figures=tuple(figures),
        added=tuple(sorted(set(sb) - set(sa))),
        removed=tuple(sorted(set(sa) - set(sb))),
    )
