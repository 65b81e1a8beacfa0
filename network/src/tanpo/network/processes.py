"""Native node processes: start detached with a log and a PID file, health-gate, stop by PID.

A PID file records the PID and the executable, so `down` stops exactly what `up` started and never
a process that merely reused the number.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class NodeStartError(RuntimeError):
    """A node did not come up; the message names it, its port and the tail of its log."""


@dataclass(frozen=True)
class Node:
    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    log: Path
    pidfile: Path
    cwd: Path | None = None


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text[-lines:])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def _exe_of(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def read_pid(pidfile: Path) -> int | None:
    """The PID recorded for a node if that process is still the one we started."""
    try:
        data = json.loads(pidfile.read_text())
        pid, exe = int(data["pid"]), str(data["exe"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    current = _exe_of(pid)
    if current is None:
        return None
    # The exe link gains " (deleted)" when the binary was rebuilt under the running process.
    return pid if current.removesuffix(" (deleted)") == exe else None


def start(node: Node) -> int:
    node.log.parent.mkdir(parents=True, exist_ok=True)
    node.pidfile.parent.mkdir(parents=True, exist_ok=True)
    running = read_pid(node.pidfile)
    if running is not None:
        return running
    env = dict(os.environ)
    env.update(node.env)
    with node.log.open("ab") as log:
        log.write(f"\n==== starting {node.name} at {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(node.argv),
            env=env,
            cwd=node.cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: survives the launcher, stopped by PID
        )
    exe = _exe_of(proc.pid) or os.path.realpath(node.argv[0])
    node.pidfile.write_text(json.dumps({"pid": proc.pid, "exe": exe, "argv": list(node.argv)}))
    return proc.pid


def stop(pidfile: Path, timeout: float = 15.0) -> bool:
    """Stop the process recorded in `pidfile` (TERM, then KILL). True if one was stopped."""
    pid = read_pid(pidfile)
    stopped = False
    if pid is not None:
        try:
            os.kill(pid, signal.SIGTERM)
            stopped = True
        except ProcessLookupError:
            pid = None
        deadline = time.monotonic() + timeout
        while pid is not None and _exe_of(pid) is not None and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
        if pid is not None:
            _reap(pid)  # a node started by this process lingers as a zombie until reaped
        if pid is not None and _exe_of(pid) is not None:
            # The node was started as its own process group: take any children with it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            _reap(pid)
    pidfile.unlink(missing_ok=True)
    return stopped


def _reap(pid: int) -> None:
    # Only our own children can be reaped; for others this is a harmless no-op.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def healthz_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1.0) as resp:
            return bool(json.loads(resp.read()).get("status") == "OK")
    except (urllib.error.URLError, OSError, ValueError):
        return False


def metric_value(port: int, name: str, labels: str = "") -> float | None:
    """One sample of a Prometheus metric from a node's operations endpoint (`name{labels}`),
    or None when the endpoint or the sample is not there."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1.0) as resp:
            text = resp.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError):
        return None
    sample = f"{name}{{{labels}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(sample):
            try:
                return float(line[len(sample):].split()[0])
            except (IndexError, ValueError):
                return None
    return None


def wait_until(
    node: Node, ready: Callable[[], bool], what: str, timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if read_pid(node.pidfile) is None:
            raise NodeStartError(
                f"{node.name} exited while waiting for {what}.\n"
                f"log {node.log}:\n{log_tail(node.log)}"
            )
        time.sleep(0.25)
    raise NodeStartError(
        f"{node.name} did not become ready ({what}) within {timeout:.0f}s.\n"
        f"log {node.log}:\n{log_tail(node.log)}"
    )


def ensure_ports_free(ports: Sequence[tuple[str, int]]) -> None:
    busy = [f"{name} port {port}" for name, port in ports if port_open(port)]
    if busy:
        raise NodeStartError(
            "ports already in use by another process: "
            + ", ".join(busy)
            + ". Stop that process or choose another --port-base."
        )
