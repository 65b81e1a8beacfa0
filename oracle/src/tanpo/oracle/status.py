"""The daemon's local files: the status it reports and the operator's confirmations.

Both are small JSON files in ``state_dir``, each replaced atomically (write, fsync, rename), and
each with one writer: the daemon writes ``status.json``; ``tanpo oracle confirm`` writes
``confirmations.json``. The status file is a report, never read back to decide anything: after a
restart the daemon rebuilds its position from the ledger alone. Confirmations are operator input;
once a confirmed value is posted the ledger records who confirmed it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from tanpo.oracle.validation import Confirmation, Refusal

__all__ = ["StateFiles", "StatusFileError"]

STATUS_VERSION = 1


class StatusFileError(ValueError):
    """A state file exists but cannot be read."""


def _write_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read(path: Path, default: Any) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return default
    except OSError as exc:
        raise StatusFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise StatusFileError(f"{path} is not valid JSON ({exc}); remove or fix it") from exc


@dataclass(frozen=True)
class StateFiles:
    directory: Path

    @property
    def status_path(self) -> Path:
        return Path(self.directory) / "status.json"

    @property
    def confirmations_path(self) -> Path:
        return Path(self.directory) / "confirmations.json"

    def read_status(self) -> dict[str, Any] | None:
        data = _read(self.status_path, None)
        if data is not None and not isinstance(data, dict):
            raise StatusFileError(f"{self.status_path}: expected a JSON object")
        return data

    def write_status(self, status: dict[str, Any]) -> None:
        _write_atomic(self.status_path, {"version": STATUS_VERSION, **status})

    def confirmations(self) -> list[Confirmation]:
        raw = _read(self.confirmations_path, [])
        if not isinstance(raw, list):
            raise StatusFileError(f"{self.confirmations_path}: expected a JSON list")
        out = []
        for i, item in enumerate(raw):
            try:
                out.append(Confirmation.from_dict(item))
            except (KeyError, TypeError, ValueError) as exc:
                raise StatusFileError(
                    f"{self.confirmations_path}: entry {i} is invalid ({exc})") from exc
        return out

    def add_confirmation(self, confirmation: Confirmation) -> None:
        """Append one confirmation; concurrent ``confirm`` commands queue on a lock file."""
        lock_path = Path(self.directory) / ".confirmations.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                existing = [c.to_dict() for c in self.confirmations()]
                existing.append(confirmation.to_dict())
                _write_atomic(self.confirmations_path, existing)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def blocking_refusals(self, valuation_date: date | None = None) -> list[Refusal]:
        """The refusals the last status reported as blocking a date or holding a quote back,
        including holds a later date has since superseded (optionally for one date)."""
        status = self.read_status() or {}
        blocked = status.get("blocked") or {}
        raw = [*blocked.get("refusals", []), *(status.get("held_back") or []),
               *(status.get("refusal_log") or [])]
        out = [Refusal.from_dict(r) for r in raw]
        return [r for r in out if valuation_date is None or r.valuation_date == valuation_date]
