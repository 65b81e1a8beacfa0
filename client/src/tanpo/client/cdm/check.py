"""`tanpo cdm check`: what tanpo makes of a CDM document, field by field.

Every leaf of the document is accounted for: *mapped* (the reading used it: a term, a ledger
action's figure, or kept verbatim in ``cdmExtras``), *ignored* with the reason (`IGNORED`), or
*unaccounted*, which fails the check like a refusal does: nothing is dropped without a word.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tanpo.client.cdm.documents import Finding, read_document
from tanpo.client.cdm.jsontext import CdmError
from tanpo.client.cdm.parties import PartyMap
from tanpo.client.models import Token

#: (pattern over a leaf's path with list indices as ``[]``, why tanpo does not use it)
IGNORED: tuple[tuple[str, str], ...] = (
    (r"\.@(key|ref)(:\w+)?$", "CDM metadata: keys and references, followed while reading"),
    (r"\.(@key|@ref)(:\w+)?\.", "CDM metadata: keys and references, followed while reading"),
    (r"\.meta\.", "CDM metadata: keys and references, followed while reading"),
    (r"\.taxonomy\[\]\.", "the product taxonomy: a tanpo agreement is a securities loan, and "
     "an export writes the taxonomy again"),
    (r"\.dateAdjustments\.", "business-day adjustment rules: tanpo dates are business dates "
     "as given"),
    (r"\.executionDetails\.", "how the trade was executed (e.g. OffFacility): not a term of the "
     "agreement"),
    (r"\.messageInformation\.", "the workflow message's envelope"),
    (r"\.timestamp\[\]\.", "the workflow message's timestamps (the ledger stamps its own)"),
    (r"\.eventIdentifier\[\]\.", "the workflow's event ids (the ledger's transaction ids "
     "identify each step)"),
    (r"\.previousWorkflowStep\.", "the workflow's chaining (the ledger orders the steps)"),
    (r"^\$\.intent$", "an empty intent"),
    (r"\.resetHistory\[\]\.(resetDate|resetValue|averagingMethodology)\b",
     "the rebate's computed reset: the ledger computes the accrual from the posted fixings"),
    (r"\.resetHistory\[\]\.observations\[\]\.", "benchmark fixings: the oracle posts them with "
     "its prices (rates/<NAME>.csv); listed under fixings"),
    (r"\.billingRecordInstruction\[\]\.observation\[\]\.", "benchmark fixings: the oracle "
     "posts them with its prices (rates/<NAME>.csv); listed under fixings"),
    (r"\.state\.positionState$", "the trade's state: the ledger keeps the agreement's status"),
)
_IGNORED = tuple((re.compile(pattern), why) for pattern, why in IGNORED)


@dataclass
class Report:
    """One document's check: what it maps to and where every field went."""

    source: str
    findings: list[Finding] = field(default_factory=list)
    mapped: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)
    unaccounted: list[str] = field(default_factory=list)
    refusal: CdmError | None = None

    @property
    def ok(self) -> bool:
        return (self.refusal is None and not self.unaccounted
                and all(f.refusal is None for f in self.findings))

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "ok": self.ok,
            "refusal": str(self.refusal) if self.refusal else None,
            "items": [{
                "path": f.path, "kind": f.kind, "action": f.action,
                "terms": f.terms.to_json() if f.terms is not None else None,
                "details": f.details, "notes": f.notes,
                "refusal": {"path": f.refusal.path, "problem": f.refusal.problem}
                if f.refusal else None,
            } for f in self.findings],
            "mapped": self.mapped,
            "ignored": self.ignored,
            "unaccounted": self.unaccounted,
        }


def check(doc: Any, source: str = "", tokens: Mapping[str, Token] | None = None,
          parties: PartyMap | None = None) -> Report:
    report = Report(source)
    seen: set[str] = set()
    try:
        report.findings = read_document(doc, tokens, parties, seen)
    except CdmError as exc:
        report.refusal = exc
        return report
    for path, value in leaves(doc):
        if _covered(path, seen):
            report.mapped.append(path)
            continue
        if value is None:
            report.ignored[path] = "null: no value"
            continue
        general = re.sub(r"\[\d+\]", "[]", path)
        why = next((why for pattern, why in _IGNORED if pattern.search(general)), None)
        if why is None:
            report.unaccounted.append(path)
        else:
            report.ignored[path] = why
    return report


def leaves(doc: Any, path: str = "$") -> Iterator[tuple[str, Any]]:
    """(path, value) of every scalar (and empty container) in a JSON value."""
    if isinstance(doc, dict) and doc:
        for key, value in doc.items():
            yield from leaves(value, f"{path}.{key}")
    elif isinstance(doc, list) and doc:
        for i, value in enumerate(doc):
            yield from leaves(value, f"{path}[{i}]")
    else:
        yield path, doc


def _covered(path: str, seen: set[str]) -> bool:
    """Whether the leaf, or an object or list holding it, was read."""
    at = path
    while True:
        if at in seen:
            return True
        cut = max(at.rfind("."), at.rfind("["))
        if cut <= 0:
            return False
        at = at[:cut]
