"""Fabric binaries: built once from the Fabric Go module at a pinned release commit, then reused.

The binaries and the sample configs that ship with the module (core.yaml, orderer.yaml) live in a
cache folder outside the repository (`$TANPO_CACHE_DIR`, default `~/.cache/tanpo`), one folder per
commit, so every clone on a machine shares one build.

Where the Go module proxy does not serve the Fabric module, `$TANPO_FABRIC_SOURCE` names a local
Fabric source tree at the pinned release (a git checkout at the commit, or an export of it): the
same five commands are built from it with its vendored dependencies, and its sampleconfig copied.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

FABRIC_MODULE = "github.com/hyperledger/fabric"
FABRIC_COMMIT = "86c1172bec37e6590c6b1ae6f847833df48d65fc"  # v3.1.5
FABRIC_VERSION = "v3.1.5"
TOOLS = ("peer", "orderer", "configtxgen", "cryptogen", "osnadmin")
SAMPLE_CONFIGS = ("core.yaml", "orderer.yaml", "configtx.yaml")


class FabricBinariesError(RuntimeError):
    """The Fabric binaries are missing and could not be built."""


@dataclass(frozen=True)
class FabricInstall:
    """Where one build of the Fabric tools and their sample configs live."""

    root: Path

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    def tool(self, name: str) -> Path:
        return self.bin_dir / name

    def is_complete(self) -> bool:
        stamp = self.root / "COMMIT"
        return (
            stamp.is_file()
            and stamp.read_text().strip() == FABRIC_COMMIT
            and all(os.access(self.tool(t), os.X_OK) for t in TOOLS)
            and all((self.config_dir / c).is_file() for c in SAMPLE_CONFIGS)
        )


def cache_dir() -> Path:
    base = os.environ.get("TANPO_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tanpo"
    )
    return Path(base)


def default_install() -> FabricInstall:
    return FabricInstall(cache_dir() / f"fabric-{FABRIC_COMMIT[:12]}")


def _go_env(key: str) -> str:
    out = subprocess.run(["go", "env", key], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def build(install: FabricInstall | None = None, log: object = sys.stderr,
          source: Path | None = None) -> FabricInstall:
    """Return a complete install, building it with `go install` when it is missing.

    The first build downloads the module and compiles five binaries: several minutes on two cores.
    With `source` (default: `$TANPO_FABRIC_SOURCE`) the binaries are built from that local Fabric
    source tree instead of the module proxy.
    """
    install = install or default_install()
    if install.is_complete():
        return install
    if shutil.which("go") is None:
        raise FabricBinariesError("Go is not installed: it is needed to build the Fabric binaries")

    def say(msg: str) -> None:
        print(f"[fabric] {msg}", file=log, flush=True)  # type: ignore[call-overload]

    if source is None and os.environ.get("TANPO_FABRIC_SOURCE"):
        source = Path(os.environ["TANPO_FABRIC_SOURCE"]).expanduser()
    install.bin_dir.mkdir(parents=True, exist_ok=True)
    if source is not None:
        how = source_release(source)
        vendored = (source / "vendor" / "modules.txt").is_file()
        _install_tools(install, say, lambda tool: f"./cmd/{tool}", f"from {source} ({how})",
                       cwd=source, mod_flag="-mod=vendor" if vendored else "-mod=mod",
                       origin=str(source), hint="")
        configs = source / "sampleconfig"
    else:
        _install_tools(
            install, say, lambda tool: f"{FABRIC_MODULE}/cmd/{tool}@{FABRIC_COMMIT}",
            f"at {FABRIC_VERSION} ({FABRIC_COMMIT[:12]})", cwd=None, mod_flag="-mod=mod",
            origin=f"{FABRIC_MODULE}@{FABRIC_COMMIT}",
            hint="\nIf the Go module proxy refuses this Fabric version, point TANPO_FABRIC_SOURCE "
                 f"at a Fabric source tree at {FABRIC_VERSION} ({FABRIC_COMMIT}) and run set-up "
                 f"again, or put prebuilt Fabric {FABRIC_VERSION} binaries ({', '.join(TOOLS)}) "
                 f"in {install.bin_dir}, the sample {', '.join(SAMPLE_CONFIGS)} in "
                 f"{install.config_dir}, and {FABRIC_COMMIT} into {install.root / 'COMMIT'}.")
        configs = _module_sampleconfig()
    install.config_dir.mkdir(parents=True, exist_ok=True)
    for name in SAMPLE_CONFIGS:
        shutil.copyfile(configs / name, install.config_dir / name)
    (install.root / "COMMIT").write_text(FABRIC_COMMIT + "\n")
    say(f"Fabric {FABRIC_VERSION} ready in {install.root}")
    return install


def _install_tools(install: FabricInstall, say: Callable[[str], None],
                   package: Callable[[str], str], where: str, *, cwd: Path | None,
                   mod_flag: str, origin: str, hint: str) -> None:
    """`go install` each tool not yet built into the install's bin folder; a failure names the
    tool, where it was built from (origin), Go's error and the hint."""
    env = dict(os.environ, GOBIN=str(install.bin_dir), GOFLAGS=mod_flag)
    for i, tool in enumerate(TOOLS, 1):
        if os.access(install.tool(tool), os.X_OK):
            say(f"[{i}/{len(TOOLS)}] {tool}: already built")
            continue
        say(f"[{i}/{len(TOOLS)}] go install {package(tool)} {where} ...")
        proc = subprocess.run(["go", "install", package(tool)], cwd=cwd, env=env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise FabricBinariesError(
                f"building {tool} from {origin} failed:\n{proc.stderr.strip()}{hint}")


def source_release(source: Path) -> str:
    """Check that `source` is a Fabric source tree at the pinned release; say how it was known.

    A git checkout must be at the pinned commit; an export without git history must carry the
    release's version in its Makefile (`FABRIC_VER ?= 3.1.5`).
    """
    go_mod = source / "go.mod"
    if not go_mod.is_file() or not go_mod.read_text().startswith(f"module {FABRIC_MODULE}\n"):
        raise FabricBinariesError(
            f"{source} is not a Fabric source tree (no go.mod of {FABRIC_MODULE})")
    if (source / ".git").exists():
        head = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"],
                              capture_output=True, text=True)
        commit = head.stdout.strip()
        if head.returncode != 0 or commit != FABRIC_COMMIT:
            raise FabricBinariesError(
                f"{source} is at commit {commit or '?'}, not {FABRIC_VERSION} ({FABRIC_COMMIT}): "
                f"check out {FABRIC_COMMIT} there first")
        return f"git commit {commit[:12]}"
    makefile = source / "Makefile"
    wanted = f"FABRIC_VER ?= {FABRIC_VERSION.removeprefix('v')}"
    lines = makefile.read_text().splitlines() if makefile.is_file() else []
    if wanted not in (line.strip() for line in lines):
        raise FabricBinariesError(
            f"{source} is not Fabric {FABRIC_VERSION}: its Makefile lacks `{wanted}`")
    return f"release {FABRIC_VERSION} per its Makefile"


def _module_sampleconfig() -> Path:
    """Where the downloaded module's sampleconfig (core.yaml, orderer.yaml, configtx.yaml) is."""
    modcache = Path(_go_env("GOMODCACHE"))
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
    candidates = sorted(modcache.glob("github.com/hyperledger/fabric@*/sampleconfig"))
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
