"""Reading YAML with line numbers, so a bad scenario file gets an error that points at the line.

PyYAML's ``compose`` keeps each node's position; :class:`Item` wraps a node with its key path
(``agreements[0].haircut``) and converts it to exact Python values, raising
:class:`~tanpo.scenarios.errors.ScenarioError` with file, line, key and what was expected.
Numbers are read from the node's text, so an unquoted ``0.05`` is exactly 1/20 (never a float).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from pathlib import Path

import yaml

from tanpo.marketdata.series import parse_decimal
from tanpo.scenarios.errors import ScenarioError

__all__ = ["Item", "parse_yaml"]

_BOOL_TRUE = {"true", "yes", "on"}
_BOOL_FALSE = {"false", "no", "off"}
_NULL = "tag:yaml.org,2002:null"


def parse_yaml(text: str, path: Path | None = None) -> Item:
    """Compose ``text`` into a node tree; YAML syntax errors become :class:`ScenarioError`."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ScenarioError(f"invalid YAML: {problem}", path=path, line=line) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"invalid YAML: {exc}", path=path) from None
    except RecursionError:
        raise ScenarioError("invalid YAML: nested too deeply", path=path) from None
    if node is None:
        raise ScenarioError(
            "the file is empty: expected a mapping of scenario keys", path=path, line=1
        )
    return Item(node, "", path)


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _NULL:
        return "nothing (null)"
    return repr(str(node.value))


@dataclass(frozen=True)
class Item:
    """A YAML node with its key path and source file."""

    node: yaml.Node
    key: str
    path: Path | None

    @property
    def line(self) -> int:
        return int(self.node.start_mark.line) + 1

    def child_key(self, name: str | int) -> str:
        if isinstance(name, int):
            return f"{self.key}[{name}]"
        return f"{self.key}.{name}" if self.key else name

    def error(self, message: str) -> ScenarioError:
        return ScenarioError(message, path=self.path, line=self.line, key=self.key or None)

    def expected(self, what: str) -> ScenarioError:
        return self.error(f"expected {what}, found {_describe(self.node)}")

    # -- containers -----------------------------------------------------------------------
    def is_mapping(self) -> bool:
        return isinstance(self.node, yaml.MappingNode)

    def is_sequence(self) -> bool:
        return isinstance(self.node, yaml.SequenceNode)

    def is_scalar(self) -> bool:
        return isinstance(self.node, yaml.ScalarNode)

    def entries(self, what: str = "a mapping") -> list[tuple[Item, Item]]:
        """The (key, value) pairs of a mapping, in file order; duplicate keys are an error."""
        if not isinstance(self.node, yaml.MappingNode):
            raise self.expected(what)
        seen: dict[str, int] = {}
        out: list[tuple[Item, Item]] = []
        for key_node, value_node in self.node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise Item(key_node, self.key, self.path).expected("a plain key")
            name = str(key_node.value)
            key_item = Item(key_node, self.child_key(name), self.path)
            if name in seen:
                raise key_item.error(f"duplicate key (first given on line {seen[name]})")
            seen[name] = key_item.line
            out.append((key_item, Item(value_node, self.child_key(name), self.path)))
        return out

    def mapping(
        self, allowed: Collection[str], required: Collection[str] = (), what: str = "a mapping"
    ) -> dict[str, Item]:
        """A mapping with known keys: unknown keys and missing required keys are errors."""
        items: dict[str, Item] = {}
        for key_item, value in self.entries(what):
            name = str(key_item.node.value)
            if name not in allowed:
                raise key_item.error(
                    f"unknown key {name!r}; expected one of: {', '.join(sorted(allowed))}"
                )
            items[name] = value
        for name in required:
            if name not in items:
                raise ScenarioError(
                    f"missing required key {name!r}",
                    path=self.path,
                    line=self.line,
                    key=self.key or None,
                )
        return items

    def sequence(self, what: str = "a list") -> list[Item]:
        if not isinstance(self.node, yaml.SequenceNode):
            raise self.expected(what)
        return [Item(n, self.child_key(i), self.path) for i, n in enumerate(self.node.value)]

    # -- scalars --------------------------------------------------------------------------
    def _scalar(self, what: str) -> str:
        if not isinstance(self.node, yaml.ScalarNode) or self.node.tag == _NULL:
            raise self.expected(what)
        return str(self.node.value)

    def text(self, what: str = "a string") -> str:
        value = self._scalar(what).strip()
        if not value:
            raise self.expected(what)
        return value

    def choice(self, options: Collection[str]) -> str:
        value = self._scalar("one of " + ", ".join(options))
        if value not in options:
            raise self.expected("one of " + ", ".join(repr(o) for o in options))
        return value

    def decimal(self, what: str = 'a decimal number such as "0.05"') -> Fraction:
        value = self._scalar(what)
        try:
            return parse_decimal(value)
        except ValueError:
            raise self.expected(what) from None

    def integer(self, what: str = "a whole number") -> int:
        value = self._scalar(what).replace("_", "")
        try:
            number = parse_decimal(value)
        except ValueError:
            raise self.expected(what) from None
        if number.denominator != 1:
            raise self.expected(what)
        return int(number)

    def boolean(self, what: str = "true or false") -> bool:
        value = self._scalar(what).lower()
        if value in _BOOL_TRUE:
            return True
        if value in _BOOL_FALSE:
            return False
        raise self.expected(what)

    def day(self, what: str = "a date YYYY-MM-DD") -> date:
        value = self._scalar(what).strip()
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self.expected(what) from None
        if parsed.time() != datetime.min.time():
            raise self.expected(what + " (without a time of day)")
        return parsed.date()
