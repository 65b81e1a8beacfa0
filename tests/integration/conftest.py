"""One real Fabric network per test session, on its own ports and state folder, always stopped."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tanpo.client.connect import Connection
from tanpo.client.profile import Profile, load_profile
from tanpo.client.session import Session
from tanpo.network.launcher import Launcher
from tanpo.network.topology import Topology

# Far from the default port base, so a developer's own network can keep running.
TEST_PORT_BASE = int(os.environ.get("TANPO_TEST_PORT_BASE", "27000"))

#: The `tanpo` command line run by this interpreter.
TANPO = (sys.executable, "-m", "tanpo.client.cli_main")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.network)


@contextmanager
def running_network(state: Path, port_base: int, **options: int) -> Iterator[Launcher]:
    """A network up for the block's duration; afterwards no process of it may be left."""
    topo = Topology(port_base=port_base, state_dir=state, **options)
    launcher = Launcher(topo, say=lambda msg: print(msg, flush=True))
    try:
        launcher.up()
        yield launcher
    finally:
        pids = launcher.running_pids()
        launcher.down(wipe=False)
        left = {name: pid for name, pid in pids.items() if alive(pid)}
        launcher.wipe()
        assert not left, f"processes left running after down: {left}"


@pytest.fixture(scope="session")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    with running_network(tmp_path_factory.mktemp("network") / "state", TEST_PORT_BASE) as net:
        yield net


@pytest.fixture(scope="session")
def profile(launcher: Launcher) -> Profile:
    return load_profile(launcher.topo.profile_file)


@pytest.fixture(scope="module")
def session(profile: Profile) -> Iterator[Session]:
    """A module's identities on the session's network: each step's submit is settled on every
    organisation's peer (`Session.settle`) before the next step reads or endorses elsewhere."""
    with Session(profile) as s:
        yield s


def submit_json(session: Session, conn: Connection, fn: str, *args: str) -> Any:
    """Submit ``contract:Function`` through ``conn`` (a connection of ``session``), wait until
    every peer has it, and return its decoded JSON result."""
    contract, _, function = fn.partition(":")
    result = conn.contract(contract).submit(function, *args)
    session.settle()
    return json.loads(result.result) if result.result else None


@pytest.fixture(scope="session")
def state_env(launcher: Launcher) -> dict[str, str]:
    """Environment for running the `tanpo` CLI against the test network."""
    return dict(os.environ, TANPO_STATE_DIR=str(launcher.topo.state_dir))


def alive(pid: int) -> bool:
    """A process exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
