"""The workspace's shape: one distribution per deployable folder, sharing the ``tanpo`` namespace.

``tanpo`` is a namespace package: an ``__init__.py`` in any distribution's ``tanpo/`` folder would
hide every other distribution's subpackages from an installed environment.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = {
    "client": "tanpo-client",
    "network": "tanpo-network",
    "oracle": "tanpo-oracle",
    "scenarios": "tanpo-scenarios",
    "dashboard": "tanpo-dashboard",
}
# Which distributions each one may import from (its declared dependencies, and itself).
ALLOWED = {
    "client": {"client"},
    "network": {"client", "network"},
    "oracle": {"client", "oracle"},
    "scenarios": {"client", "network", "oracle", "scenarios"},
    # the oracle only for the operator's prices page (the `oracle` extra)
    "dashboard": {"client", "oracle", "dashboard"},
}
# Heavy packages a bank embedding the SDK must not be made to install.
NOT_FOR_THE_CLIENT = {"pandas", "matplotlib", "yfinance", "exchange-calendars", "numpy"}


def _namespace_roots() -> list[Path]:
    return [ROOT / folder / "src" / "tanpo" for folder in DISTRIBUTIONS]


def test_no_tanpo_init_anywhere() -> None:
    found = [p for p in ROOT.rglob("tanpo/__init__.py") if ".venv" not in p.parts]
    assert found == [], f"tanpo is a namespace package; remove {found}"


@pytest.mark.parametrize("folder", sorted(DISTRIBUTIONS))
def test_each_folder_is_one_distribution(folder: str) -> None:
    project = tomllib.loads((ROOT / folder / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTIONS[folder]
    assert (ROOT / folder / "src" / "tanpo").is_dir()
    assert not (ROOT / folder / "src" / "tanpo" / "__init__.py").exists()


def test_client_needs_no_heavy_dependencies() -> None:
    project = tomllib.loads((ROOT / "client" / "pyproject.toml").read_text())["project"]
    required = [*project["dependencies"], *project["optional-dependencies"]["cli"]]
    names = {r.split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip() for r in required}
    assert not names & NOT_FOR_THE_CLIENT


def _owner(module: str) -> str | None:
    """The folder whose distribution provides ``tanpo.<sub>``."""
    parts = module.split(".")
    if parts[0] != "tanpo" or len(parts) < 2:
        return None
    for folder in DISTRIBUTIONS:
        base = ROOT / folder / "src" / "tanpo" / parts[1]
        if base.is_dir() or base.with_suffix(".py").is_file():
            return folder
    return None


@pytest.mark.parametrize("folder", sorted(DISTRIBUTIONS))
def test_imports_follow_the_dependencies(folder: str) -> None:
    """No distribution imports from one it does not depend on (the SDK never imports upward)."""
    wrong = []
    for path in sorted((ROOT / folder / "src").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [node.module or ""] if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names] if isinstance(node, ast.Import) else []
            )
            for name in names:
                owner = _owner(name)
                if owner is not None and owner not in ALLOWED[folder]:
                    wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert wrong == []
