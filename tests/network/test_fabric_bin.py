"""Finding or building the Fabric tools: release binaries a user has, the build cache, a source tree
or a tarball of one, the Go module proxy.

Release binaries here are small shell scripts that print a version; the source tree is a miniature
of Fabric's layout (a go.mod of the Fabric module, the five `cmd/` mains, the release line of its
Makefile, sampleconfig), so the real `go install` path runs in seconds."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tanpo.network import fabric_bin
from tanpo.network.fabric_bin import FabricBinariesError, FabricInstall

needs_go = pytest.mark.skipif(shutil.which("go") is None, reason="needs the Go toolchain")


@pytest.fixture(autouse=True)
def _no_fabric_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own TANPO_FABRIC_BIN/TANPO_FABRIC_SOURCE must not steer these tests."""
    monkeypatch.delenv("TANPO_FABRIC_BIN", raising=False)
    monkeypatch.delenv("TANPO_FABRIC_SOURCE", raising=False)


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


def fake_release(root: Path, version: str = "3.1.5") -> Path:
    """A folder laid out like Fabric's release archive, whose tools print `version`."""
    (root / "bin").mkdir(parents=True)
    for tool in fabric_bin.TOOLS:
        script = root / "bin" / tool
        script.write_text(f"#!/bin/sh\nprintf '{tool}:\\n Version: {version}\\n"
                          " Commit SHA: 86c1172\\n OS/Arch: linux/amd64\\n'\n")
        script.chmod(0o755)
    (root / "config").mkdir()
    for name in fabric_bin.SAMPLE_CONFIGS:
        (root / "config" / name).write_text(f"# {name}\n")
    return root


# --- (a) release binaries a user already has ----------------------------------------------------

@pytest.mark.parametrize("version", ["3.1.5", "v3.1.5"])
def test_release_binaries_are_used_in_place(tmp_path: Path, version: str) -> None:
    release = fake_release(tmp_path / "fabric", version)
    said: list[str] = []
    found = fabric_bin.build(FabricInstall(tmp_path / "cache"), release=release, log=_Sink(said))
    assert found.root == release
    assert not (tmp_path / "cache").exists()  # nothing copied, nothing built
    assert said == [f"[fabric] using Fabric v3.1.5 from TANPO_FABRIC_BIN in place: {release} "
                    f"(peer version {version})"]


def test_release_binaries_come_first_and_may_name_the_bin_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = fake_release(tmp_path / "fabric")
    cache = fake_release(tmp_path / "cache")  # a complete build cache is not preferred
    (cache / "COMMIT").write_text(fabric_bin.FABRIC_COMMIT + "\n")
    monkeypatch.setenv("TANPO_FABRIC_BIN", str(release / "bin"))
    assert fabric_bin.build(FabricInstall(cache), log=_Sink([])).root == release


def test_release_binaries_of_another_version_are_refused(tmp_path: Path) -> None:
    release = fake_release(tmp_path / "fabric", "2.5.12")
    with pytest.raises(FabricBinariesError,
                       match=r"`peer version` reports '2\.5\.12', but tanpo needs Fabric v3\.1\.5"):
        fabric_bin.build(FabricInstall(tmp_path / "cache"), release=release, log=_Sink([]))


def test_an_unstamped_development_build_is_refused_a_stamped_one_accepted(tmp_path: Path) -> None:
    """`go install` without Fabric's linker flags says `latest`: only tanpo's own build folder,
    stamped with the pinned commit, is known to be v3.1.5."""
    release = fake_release(tmp_path / "fabric", "latest")
    with pytest.raises(FabricBinariesError, match="reports 'latest'"):
        fabric_bin.release_install(release)
    (release / "COMMIT").write_text(fabric_bin.FABRIC_COMMIT + "\n")
    found, how = fabric_bin.release_install(release)
    assert found.root == release and "development build stamped" in how


def test_a_folder_without_the_release_layout_is_refused(tmp_path: Path) -> None:
    release = fake_release(tmp_path / "fabric")
    (release / "bin" / "osnadmin").unlink()
    (release / "config" / "core.yaml").unlink()
    with pytest.raises(FabricBinariesError, match=r"missing bin/osnadmin, config/core\.yaml"):
        fabric_bin.release_install(release)


# --- (b) the build cache ------------------------------------------------------------------------

def test_a_complete_build_cache_is_reused_and_named(tmp_path: Path) -> None:
    cache = fake_release(tmp_path / "cache")
    (cache / "COMMIT").write_text(fabric_bin.FABRIC_COMMIT + "\n")
    said: list[str] = []
    assert fabric_bin.build(FabricInstall(cache), log=_Sink(said)).root == cache
    assert said == [f"[fabric] using Fabric v3.1.5 from the build cache: {cache}"]


def test_without_go_the_error_lists_every_way(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fabric_bin.shutil, "which", lambda name: None)
    with pytest.raises(FabricBinariesError) as err:
        fabric_bin.build(FabricInstall(tmp_path / "cache"), log=_Sink([]))
    message = str(err.value)
    assert "Go, needed to build it, is not installed" in message
    for option in ("TANPO_FABRIC_BIN=", "a finished build in", "TANPO_FABRIC_SOURCE=",
                   "go install github.com/hyperledger/fabric/cmd/<tool>@86c1172bec37"):
        assert option in message


# --- (c) the Go module proxy --------------------------------------------------------------------

@needs_go
def test_a_proxy_failure_names_every_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOPROXY", "off")  # fails at once, offline, like a proxy refusing Fabric
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "modcache"))
    install = FabricInstall(tmp_path / "cache")
    with pytest.raises(FabricBinariesError) as err:
        fabric_bin.build(install, log=_Sink([]))
    message = str(err.value)
    assert message.startswith(f"building peer from {fabric_bin.FABRIC_MODULE}@")
    assert "TANPO_FABRIC_BIN=" in message and "TANPO_FABRIC_SOURCE=" in message
    assert not install.is_complete()


# --- (d) a source tree or a tarball of one ------------------------------------------------------

@needs_go
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
    assert said == [f"[fabric] using Fabric v3.1.5 from the build cache: {install.root}"]


@needs_go
@pytest.mark.parametrize("suffix,mode", [(".tar.xz", "w:xz"), (".tar.gz", "w:gz")])
def test_builds_from_a_tarball_and_deletes_the_extraction(tmp_path: Path, suffix: str,
                                                          mode: str) -> None:
    archive = _tarball(fake_fabric(tmp_path / "src" / "fabric-3.1.5"), tmp_path / f"f{suffix}",
                       mode)
    cache = tmp_path / "cache"
    install = FabricInstall(cache / "fabric-86c1172bec37")
    said: list[str] = []
    fabric_bin.build(install, source=archive, log=_Sink(said))
    assert install.is_complete()
    assert said[0].startswith(f"[fabric] building Fabric v3.1.5 from TANPO_FABRIC_SOURCE={archive}")
    assert [p.name for p in cache.iterdir()] == ["fabric-86c1172bec37"]  # extraction deleted


def test_a_tarball_of_another_release_is_refused_by_its_name(tmp_path: Path) -> None:
    archive = _tarball(fake_fabric(tmp_path / "src" / "fabric-2.5.9", version="2.5.9"),
                       tmp_path / "fabric-2.5.9.tar.xz", "w:xz")
    cache = tmp_path / "cache"
    with pytest.raises(FabricBinariesError, match=rf"^{archive} is not Fabric v3\.1\.5"):
        fabric_bin.build(FabricInstall(cache / "f"), source=archive, log=_Sink([]))
    assert list(cache.iterdir()) == []


def test_a_source_that_is_neither_a_folder_nor_an_archive_is_refused(tmp_path: Path) -> None:
    (tmp_path / "fabric.zip").write_bytes(b"PK")
    with pytest.raises(FabricBinariesError, match=r"neither a folder nor a \.tar\.gz"):
        fabric_bin.build(FabricInstall(tmp_path / "c"), source=tmp_path / "fabric.zip",
                         log=_Sink([]))
    with pytest.raises(FabricBinariesError, match="does not exist"):
        fabric_bin.build(FabricInstall(tmp_path / "c"), source=tmp_path / "nowhere.tar.xz",
                         log=_Sink([]))


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


def _tarball(tree: Path, archive: Path, mode: str) -> Path:
    """`tree` archived under its own folder name, as `git archive --prefix` does."""
    with tarfile.open(archive, mode) as tar:
        tar.add(tree, arcname=tree.name)
    return archive


class _Sink:
    """A file-like object that keeps what the build says."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def write(self, text: str) -> None:
        if text.strip():
            self.lines.append(text.strip())

    def flush(self) -> None:
        pass
