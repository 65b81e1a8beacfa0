"""Fabric binaries: found or built once, then reused.

Set-up looks for Fabric v3.1.5 (peer, orderer, configtxgen, cryptogen, osnadmin and the sample
core.yaml, orderer.yaml, configtx.yaml) in this order and says which it used:

1. ``$TANPO_FABRIC_BIN``: a folder laid out like Fabric's release archives (``bin/`` and
   ``config/``) that a Fabric user already has. It is used in place, not copied, once ``peer
   version`` and ``orderer version`` report the pinned release; any other version is refused.
2. The build cache (``$TANPO_CACHE_DIR``, default ``~/.cache/tanpo``), one folder per commit, so
   every clone on a machine shares one build.
3. ``$TANPO_FABRIC_SOURCE``: a Fabric source tree at the pinned release, or a ``.tar.gz`` /
   ``.tar.xz`` of one (extracted into a temporary folder under the cache and deleted after the
   build); the five commands are built from it with its vendored modules, its sampleconfig copied.
   When it is set, the module proxy is not tried: the user has said where Fabric comes from, and
   a proxy that refuses Fabric would only add a failure first.
4. ``go install`` from the Go module proxy at the pinned commit.

Builds (3 and 4) stamp the release version into the binaries as Fabric's Makefile does, so
``peer version`` reports it; a plain ``go install`` would report ``latest``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

FABRIC_MODULE = "github.com/hyperledger/fabric"
FABRIC_COMMIT = "86c1172bec37e6590c6b1ae6f847833df48d65fc"  # v3.1.5
FABRIC_VERSION = "v3.1.5"
TOOLS = ("peer", "orderer", "configtxgen", "cryptogen", "osnadmin")
SAMPLE_CONFIGS = ("core.yaml", "orderer.yaml", "configtx.yaml")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.xz", ".txz")
# What Fabric's Makefile passes to the linker: `peer version` then names the release.
LDFLAGS = (f"-X {FABRIC_MODULE}/common/metadata.Version={FABRIC_VERSION.removeprefix('v')} "
           f"-X {FABRIC_MODULE}/common/metadata.CommitSHA={FABRIC_COMMIT[:7]}")

Say = Callable[[str], None]


class FabricBinariesError(RuntimeError):
    """The Fabric binaries are missing and could not be found or built."""


@dataclass(frozen=True)
class FabricInstall:
    """Where one set of Fabric tools and their sample configs live (release layout)."""

    root: Path

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    def tool(self, name: str) -> Path:
        return self.bin_dir / name

    def missing(self) -> list[str]:
        """The tools and sample configs this folder lacks, as paths relative to it."""
        return [f"bin/{t}" for t in TOOLS if not os.access(self.tool(t), os.X_OK)] + [
            f"config/{c}" for c in SAMPLE_CONFIGS if not (self.config_dir / c).is_file()]

    def stamped_commit(self) -> str:
        stamp = self.root / "COMMIT"
        return stamp.read_text().strip() if stamp.is_file() else ""

    def is_complete(self) -> bool:
        """A finished build of the pinned commit (the stamp is written last)."""
        return self.stamped_commit() == FABRIC_COMMIT and not self.missing()


def cache_dir() -> Path:
    base = os.environ.get("TANPO_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tanpo"
    )
    return Path(base)


def default_install() -> FabricInstall:
    return FabricInstall(cache_dir() / f"fabric-{FABRIC_COMMIT[:12]}")


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else None


def build(install: FabricInstall | None = None, log: object = sys.stderr,
          source: Path | None = None, release: Path | None = None) -> FabricInstall:
    """Return a complete Fabric install, found or built in the order the module describes.

    `release` defaults to `$TANPO_FABRIC_BIN`, `source` to `$TANPO_FABRIC_SOURCE`, `install` to
    the build cache. A first build compiles five binaries: a few minutes on two cores.
    """

    def say(msg: str) -> None:
        print(f"[fabric] {msg}", file=log, flush=True)  # type: ignore[call-overload]

    install = install or default_install()
    release = release or _env_path("TANPO_FABRIC_BIN")
    if release is not None:
        found, how = release_install(release)
        say(f"using Fabric {FABRIC_VERSION} from TANPO_FABRIC_BIN in place: {found.root} ({how})")
        return found
    if install.is_complete():
        say(f"using Fabric {FABRIC_VERSION} from the build cache: {install.root}")
        return install
    source = source or _env_path("TANPO_FABRIC_SOURCE")
    if shutil.which("go") is None:
        raise FabricBinariesError(
            f"Fabric {FABRIC_VERSION} is not in the build cache and Go, needed to build it, is not "
            f"installed.\n{options_text(install)}")
    if source is not None:
        with source_tree(source, scratch_under=install.root.parent) as tree:
            how = source_release(tree, shown=source)
            say(f"building Fabric {FABRIC_VERSION} from TANPO_FABRIC_SOURCE={source} ({how}) "
                f"into {install.root}")
            vendored = (tree / "vendor" / "modules.txt").is_file()
            _install_tools(install, say, lambda tool: f"./cmd/{tool}", cwd=tree,
                           mod_flag="-mod=vendor" if vendored else "-mod=mod",
                           origin=str(source), hint="")
            _copy_configs(tree / "sampleconfig", install)
    else:
        say(f"building Fabric {FABRIC_VERSION} with go install from the Go module proxy into "
            f"{install.root}")
        _install_tools(
            install, say, lambda tool: f"{FABRIC_MODULE}/cmd/{tool}@{FABRIC_COMMIT}", cwd=None,
            mod_flag="-mod=mod", origin=f"{FABRIC_MODULE}@{FABRIC_COMMIT}",
            hint=f"\n{options_text(install)}")
        _copy_configs(_module_sampleconfig(), install)
    (install.root / "COMMIT").write_text(FABRIC_COMMIT + "\n")
    say(f"Fabric {FABRIC_VERSION} ready in {install.root}")
    return install


def options_text(install: FabricInstall) -> str:
    """Every way set-up can get Fabric, in the order it tries them."""
    return (
        f"Set-up finds Fabric {FABRIC_VERSION} in this order:\n"
        f"  1. TANPO_FABRIC_BIN=<folder> holding the release's bin/ ({', '.join(TOOLS)}) and "
        f"config/ ({', '.join(SAMPLE_CONFIGS)}), e.g. an unpacked Fabric "
        f"{FABRIC_VERSION.removeprefix('v')} release archive;\n"
        f"  2. a finished build in {install.root};\n"
        f"  3. TANPO_FABRIC_SOURCE=<a Fabric source tree at {FABRIC_VERSION}, or a .tar.gz/.tar.xz "
        f"of one> (built with Go, offline with its vendored modules);\n"
        f"  4. go install {FABRIC_MODULE}/cmd/<tool>@{FABRIC_COMMIT} from the Go module proxy "
        f"(needs Go and a proxy that serves Fabric).")


def release_install(folder: Path) -> tuple[FabricInstall, str]:
    """Check a folder of Fabric release binaries (`bin/`, `config/`; or its `bin/` itself) and
    return it with how its version was known. Refuses a missing tool or config, or another
    version."""
    root = folder.parent if folder.name == "bin" and not (folder / "bin").is_dir() else folder
    found = FabricInstall(root)
    missing = found.missing()
    if missing:
        raise FabricBinariesError(
            f"TANPO_FABRIC_BIN={folder} does not hold Fabric's release layout: missing "
            f"{', '.join(missing)} under {root}")
    stamped = found.stamped_commit() == FABRIC_COMMIT
    reports = {tool: tool_version(found.tool(tool), found) for tool in ("peer", "orderer")}
    for tool, version in reports.items():
        if version.removeprefix("v") == FABRIC_VERSION.removeprefix("v"):
            continue
        # A plain `go install` build says `latest`; tanpo's own earlier builds are stamped.
        if version == "latest" and stamped:
            continue
        raise FabricBinariesError(
            f"TANPO_FABRIC_BIN={folder}: `{tool} version` reports {version!r}, but tanpo needs "
            f"Fabric {FABRIC_VERSION}. Point TANPO_FABRIC_BIN at a {FABRIC_VERSION} release, or "
            "unset it to use the build cache or build Fabric.")
    if all(v == "latest" for v in reports.values()):
        return found, f"a development build stamped with commit {FABRIC_COMMIT[:12]}"
    return found, f"peer version {reports['peer']}"


def tool_version(tool: Path, install: FabricInstall) -> str:
    """What `<tool> version` prints after `Version:` (e.g. `3.1.5` for a release build)."""
    try:
        proc = subprocess.run([str(tool), "version"], capture_output=True, text=True, timeout=30,
                              env=dict(os.environ, FABRIC_CFG_PATH=str(install.config_dir)))
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FabricBinariesError(f"cannot run `{tool} version`: {exc}") from exc
    match = re.search(r"^\s*Version:\s*(\S+)", proc.stdout, re.MULTILINE)
    if proc.returncode != 0 or match is None:
        raise FabricBinariesError(
            f"`{tool} version` did not report a version (exit {proc.returncode}):\n"
            f"{(proc.stdout + proc.stderr).strip()}")
    return match.group(1)


@contextmanager
def source_tree(source: Path, scratch_under: Path) -> Iterator[Path]:
    """The Fabric source tree `source` names: the folder itself, or an archive's contents
    extracted into a temporary folder under `scratch_under`, deleted afterwards."""
    if source.is_dir():
        yield source
        return
    if not source.exists():
        raise FabricBinariesError(f"TANPO_FABRIC_SOURCE={source} does not exist")
    if not (source.is_file() and source.name.endswith(ARCHIVE_SUFFIXES)):
        raise FabricBinariesError(
            f"TANPO_FABRIC_SOURCE={source} is neither a folder nor a "
            f"{'/'.join(ARCHIVE_SUFFIXES)} archive")
    scratch_under.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="fabric-src-", dir=scratch_under))
    try:
        try:
            with tarfile.open(source) as tar:
                # the "data" filter refuses absolute paths, links out of the folder, devices
                tar.extractall(scratch, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise FabricBinariesError(f"cannot extract {source}: {exc}") from exc
        entries = list(scratch.iterdir())
        # an archive of a release has one top folder (fabric-3.1.5/); a bare tree has none
        single = len(entries) == 1 and entries[0].is_dir() and not (scratch / "go.mod").exists()
        yield entries[0] if single else scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _install_tools(install: FabricInstall, say: Say, package: Callable[[str], str], *,
                   cwd: Path | None, mod_flag: str, origin: str, hint: str) -> None:
    """`go install` each tool not yet built into the install's bin folder; a failure names the
    tool, where it was built from (origin), Go's error and the hint."""
    install.bin_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GOBIN=str(install.bin_dir), GOFLAGS=mod_flag)
    for i, tool in enumerate(TOOLS, 1):
        if os.access(install.tool(tool), os.X_OK):
            say(f"[{i}/{len(TOOLS)}] {tool}: already built")
            continue
        say(f"[{i}/{len(TOOLS)}] go install {package(tool)} ...")
        # -trimpath: Go's build cache then serves a rebuild from a tree extracted elsewhere
        proc = subprocess.run(
            ["go", "install", "-trimpath", "-buildvcs=false", f"-ldflags={LDFLAGS}",
             package(tool)],
            cwd=cwd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise FabricBinariesError(
                f"building {tool} from {origin} failed:\n{proc.stderr.strip()}{hint}")


def _copy_configs(sampleconfig: Path, install: FabricInstall) -> None:
    install.config_dir.mkdir(parents=True, exist_ok=True)
    for name in SAMPLE_CONFIGS:
        if not (sampleconfig / name).is_file():
            raise FabricBinariesError(f"Fabric's sample {name} is missing from {sampleconfig}")
        shutil.copyfile(sampleconfig / name, install.config_dir / name)


def source_release(source: Path, shown: Path | None = None) -> str:
    """Check that `source` is a Fabric source tree at the pinned release; say how it was known.

    A git checkout must be at the pinned commit; an export without git history must carry the
    release's version in its Makefile (`FABRIC_VER ?= 3.1.5`). Errors name `shown` (the archive
    the tree was extracted from) when given.
    """
    name = shown or source
    go_mod = source / "go.mod"
    if not go_mod.is_file() or not go_mod.read_text().startswith(f"module {FABRIC_MODULE}\n"):
        raise FabricBinariesError(
            f"{name} is not a Fabric source tree (no go.mod of {FABRIC_MODULE})")
    if (source / ".git").exists():
        head = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"],
                              capture_output=True, text=True)
        commit = head.stdout.strip()
        if head.returncode != 0 or commit != FABRIC_COMMIT:
            raise FabricBinariesError(
                f"{name} is at commit {commit or '?'}, not {FABRIC_VERSION} ({FABRIC_COMMIT}): "
                f"check out {FABRIC_COMMIT} there first")
        return f"git commit {commit[:12]}"
    makefile = source / "Makefile"
    wanted = f"FABRIC_VER ?= {FABRIC_VERSION.removeprefix('v')}"
    lines = makefile.read_text().splitlines() if makefile.is_file() else []
    if wanted not in (line.strip() for line in lines):
        raise FabricBinariesError(
            f"{name} is not Fabric {FABRIC_VERSION}: its Makefile lacks `{wanted}`")
    return f"release {FABRIC_VERSION} per its Makefile"


def _module_sampleconfig() -> Path:
    """Where the downloaded module's sampleconfig (core.yaml, orderer.yaml, configtx.yaml) is."""
    info = subprocess.run(
        ["go", "list", "-m", "-json", f"{FABRIC_MODULE}@{FABRIC_COMMIT}"],
        capture_output=True,
        text=True,
        env=dict(os.environ, GOFLAGS="-mod=mod"),
    )
    if info.returncode == 0:
        import json

        src = Path(json.loads(info.stdout).get("Dir") or "") / "sampleconfig"
        if src.is_dir():
            return src
    modcache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True,
                              check=True).stdout.strip()
    candidates = sorted(Path(modcache).glob("github.com/hyperledger/fabric@*/sampleconfig"))
    if not candidates:
        raise FabricBinariesError("Fabric's sampleconfig was not found in the Go module cache")
    return candidates[-1]


def main() -> None:
    try:
        install = build()
    except FabricBinariesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    print(install.bin_dir)


if __name__ == "__main__":
    main()
