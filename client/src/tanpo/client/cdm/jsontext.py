"""CDM JSON text: exact numbers both ways, and a reader that says where in the document it is."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tanpo.client.models import json_text

Json = dict[str, Any]

CDM_VERSION = "7.0.0"
EXTENSION = "tanpoExtension"
EXTENSION_SCHEMA = "tanpo.cdm-extension/1"
PARTY_SCHEME = "tanpo:party"
TOKEN_SCHEME = "tanpo:token"
TRADE_ID_ISSUER = "tanpo"
LOAN_QUANTITY_KEY = "LoanQuantity-1"


class CdmError(ValueError):
    """A CDM document that cannot be mapped: where in the JSON, and what was expected."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


# ---- export ---------------------------------------------------------------------------------

def dumps(doc: Any, indent: int = 2) -> str:
    """JSON text with exact numbers: a Decimal is written digit for digit, never as a float."""
    return json_text(doc, indent) + "\n"


def loads(text: str) -> Any:
    """Parse CDM JSON text, reading every number exactly (as int or Decimal)."""
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise CdmError("$", f"not JSON: {exc}") from None


@dataclass(frozen=True)
class At:
    """A JSON value and the path that leads to it, for messages that say where."""

    value: Any
    path: str
    #: the paths read so far (shared by every `At` of one reading): what `cdm check` lists as
    #: understood, and the rest of the document it must account for as ignored
    seen: set[str] | None = field(default=None, compare=False, repr=False)

    def child(self, value: Any, path: str) -> At:
        return At(value, path, self.seen)

    def mark(self) -> At:
        """Record this value (the whole subtree) as read."""
        if self.seen is not None:
            self.seen.add(self.path)
        return self

    def get(self, key: str) -> At | None:
        obj = self.obj()
        return self.child(obj[key], f"{self.path}.{key}") if obj.get(key) is not None else None

    def need(self, key: str, expected: str) -> At:
        found = self.get(key)
        if found is None:
            raise CdmError(f"{self.path}.{key}", f"missing; expected {expected}")
        return found

    def obj(self) -> Json:
        if not isinstance(self.value, dict):
            raise CdmError(self.path, f"expected a JSON object, got {show(self.value)}")
        return self.value

    def items(self) -> list[At]:
        """A list's elements; a single object counts as a list of one (CDM writers differ)."""
        if isinstance(self.value, dict):
            return [self]
        if not isinstance(self.value, list):
            raise CdmError(self.path, f"expected a JSON array, got {show(self.value)}")
        return [self.child(v, f"{self.path}[{i}]") for i, v in enumerate(self.value)]

    def first(self, expected: str) -> At:
        """The only (or first) element of a list, or a single object."""
        found = self.items()
        if not found:
            raise CdmError(self.path, f"empty; expected {expected}")
        return found[0]

    def scalar(self) -> Any:
        """A field value, unwrapped from CDM metadata (``{"@data": x}`` or ``{"value": x}``)."""
        self.mark()
        value = self.value
        if isinstance(value, dict):
            if "@data" in value:
                value = value["@data"]
            elif "value" in value and set(value) <= {"value", "meta"}:
                value = value["value"]
        return value

    def text(self, expected: str = "a string") -> str:
        value = self.scalar()
        if not isinstance(value, str) or not value:
            raise CdmError(self.path, f"expected {expected}, got {show(value)}")
        return value


def show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def walk(root: At, path: str) -> At | None:
    at: At | None = root
    for key in path.split("."):
        if at is None:
            return None
        at = at.get(key)
    return at


