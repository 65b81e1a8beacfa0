"""Building the Fabric tools from a local source tree, for when the module proxy refuses Fabric.

The source tree here is a miniature of Fabric's layout (a go.mod of the Fabric module, the five
`cmd/` mains, the release line of its Makefile, sampleconfig), so the real `go install` path runs in
seconds."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tanpo.network import fabric_bin
from tanpo.network.fabric_bin import FabricBinariesError, FabricInstall

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="needs the Go toolchain")


def fake_fabric(root: Path, version: str = "3.1.5") -> Path:
    root.mkdir(parents=True)
    (root / "go.mod").write_text(f"module {fabric_bin.FABRIC_MODULE}\n\ngo 1.22\n")
    (root / "Makefile").write_text(f"BASE_VERSION = x\nFABRIC_VER ?= {version}\n")
    for tool in fabric_bin.TOOLS:
        (root / "cmd" / tool).mkdir(parents=True)
        (root / "cmd" / tool / "main.go").write_text(
            f'package main\n\nimport "fmt"\n\nfunc main() {{ fmt.Println("{tool}") }}\n')
    (root / "sampleconfig").mkdir()
    for name in fabric_bin.SAMPLE_CONFIGS:
        (root / "sampleconfig" / name).write_text(f"# {name}\n")
    return root


def test_builds_every_tool_and_copies_the_sample_configs(tmp_path: Path) -> None:
    source = fake_fabric(tmp_path / "fabric")
    install = FabricInstall(tmp_path / "cache")
    said: list[str] = []
    fabric_bin.build(install, source=source, log=_Sink(said))
    assert install.is_complete()
    for tool in fabric_bin.TOOLS:
        out = subprocess.run([str(install.tool(tool))], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == tool
    assert (install.config_dir / "core.yaml").read_text() == "# core.yaml\n"
    assert any("release v3.1.5 per its Makefile" in line for line in said)
    # a complete install is reused: nothing is built again
    said.clear()
    fabric_bin.build(install, source=source, log=_Sink(said))
    assert said == []


def test_refuses_another_release(tmp_path: Path) -> None:
    source = fake_fabric(tmp_path / "fabric", version="2.5.9")
    install = FabricInstall(tmp_path / "cache")
    with pytest.raises(FabricBinariesError, match=r"not Fabric v3\.1\.5"):
        fabric_bin.build(install, source=source, log=_Sink([]))
    assert not install.is_complete()


def test_refuses_a_checkout_at_another_commit(tmp_path: Path) -> None:
    source = fake_fabric(tmp_path / "fabric")
    git = ["git", "-C", str(source), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    with pytest.raises(FabricBinariesError, match="check out 86c1172bec37"):
        fabric_bin.source_release(source)


def test_refuses_a_tree_that_is_not_fabric(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "go.mod").write_text("module example.com/other\n")
    with pytest.raises(FabricBinariesError, match="not a Fabric source tree"):
        fabric_bin.source_release(tmp_path / "other")


class _Sink:
    """A file-like object that keeps what the build says."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def write(self, text: str) -> None:
        if text.strip():
            self.lines.append(text.strip())

    def flush(self) -> None:
        pass
