"""``tanpo dashboard``: serve the operations desk of one identity on 127.0.0.1.

::

    tanpo [--as ORG[/USER]] dashboard [--port N] [--oracle-state DIR] [--checkpoint FILE]

It prints ``tanpo dashboard for ORG: http://127.0.0.1:PORT/`` once it listens, and runs until
interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import click

from tanpo.client.cli_common import acting_as, connection_errors
from tanpo.client.events import FileCheckpointer
from tanpo.client.profile import default_state_dir, load_profile

HOST = "127.0.0.1"
DEFAULT_PORT = 8470


@click.command("dashboard")
@click.option("--as", "as_", metavar="ORG[/USER]", default=None,
              help="The identity the dashboard acts as (default: the root --as, else bank-a).")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--oracle-state", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The oracle daemon's state folder: its status and held-back quotes on the "
                   "prices page, and confirmations from it (the operator).")
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where the event stream's checkpoint is kept (default: dashboard/ORG-USER"
                   ".json in the network's state folder).")
def dashboard(as_: str | None, port: int, oracle_state: Path | None,
              checkpoint: Path | None) -> None:
    """Serve a live web dashboard acting as ONE identity: today's margin calls, agreements,
    counterparties, prices and billing, and the desk's actions (approve or reject a proposal,
    accept a termination, return, approve a substitution, dispute a call, pay an invoice).

    Every read and action goes through the SDK as that identity, so a page shows only what the
    chaincode gives it. Pages update from the chaincode's events, read on one stream."""
    import uvicorn

    from tanpo.dashboard.app import Desk, create_app
    from tanpo.dashboard.ledger import open_desk
    from tanpo.dashboard.live import LiveFeed

    party, user = acting_as("bank-a", as_)
    with connection_errors():
        profile = load_profile()
        try:
            reader = open_desk(party, user, profile)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--as") from None
    path = checkpoint or default_state_dir() / "dashboard" / f"{party}-{user}.json"
    desk = Desk(reader, user=user, oracle_state=oracle_state,
                heading=f"channel {profile.channel}")
    desk.feed = LiveFeed(reader.event_stream, FileCheckpointer(path), on_event=desk.seen)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}; "
                                   "choose another --port") from None
    bound = sock.getsockname()[1]
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    config = uvicorn.Config(create_app(desk), log_level="warning", timeout_graceful_shutdown=2,
                            lifespan="off")
    server = uvicorn.Server(config)
    desk.feed.start()
    click.echo(f"tanpo dashboard for {party}: http://{HOST}:{bound}/", err=False)
    click.echo(f"  acting as {party}/{user}; event checkpoint {path}; Ctrl-C stops it",
               err=True)
    try:
        server.run(sockets=[sock])
    finally:
        desk.feed.stop()
        reader.disconnect()
        sock.close()
