"""Errors of the scenario tooling."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ScenarioError"]


class ScenarioError(ValueError):
    """A scenario file (or a scenario built in code) is invalid, or a run cannot proceed.

    ``str(error)`` reads ``file.yaml:12: agreements[0].haircut: expected ..., found ...``.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.line = line
        self.key = key
        self.message = message
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        elif line is not None:
            where = f"line {line}: "
        super().__init__(f"{where}{key + ': ' if key else ''}{message}")
