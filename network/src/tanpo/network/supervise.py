"""A tiny supervisor: keep one child process running, restart it when it dies, stop it on TERM.

Used for the chaincode-as-a-service server so a crash of the chaincode does not take the
network's only chaincode endpoint away. `python -m tanpo.network.supervise -- CMD ARGS...`
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from types import FrameType

MAX_BACKOFF = 5.0


def run(argv: list[str]) -> int:
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def on_term(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.terminate()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    backoff = 0.5
    while not stopping:
        started = time.monotonic()
        child = subprocess.Popen(argv)
        code = child.wait()
        if stopping:
            break
        print(
            f"[supervise] {argv[0]} exited with {code}; restarting in {backoff:.1f}s",
            file=sys.stderr,
            flush=True,
        )
        time.sleep(backoff)
        # A child that ran for a while gets a fresh backoff; a crash loop slows down.
        backoff = 0.5 if time.monotonic() - started > 30 else min(MAX_BACKOFF, backoff * 2)
    if child is not None and child.poll() is None:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    return 0


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        print("usage: python -m tanpo.network.supervise -- CMD [ARGS...]", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(run(args))


if __name__ == "__main__":
    main()
