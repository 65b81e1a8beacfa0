"""What the participant commands share: who acts, exit codes, errors that say what to do, output.

Every command talks to the ledger through `open_ledger` (replaceable: unit tests put a fake there),
inside `guarded`, which turns what can go wrong into the documented exit codes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Any, NoReturn, Protocol

import click
from rich.console import Console
from rich.table import Table

from tanpo.client.api import Party, TokenAdministrator
from tanpo.client.errors import CommitError, GatewayError
from tanpo.client.events import ChaincodeEvent, Checkpoint
from tanpo.client.models import (
    Agreement,
    Balance,
    CollateralReport,
    Request,
    Terms,
    Token,
    decimal_string,
)

Json = dict[str, Any]

EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_FAILED = 4

#: Appended to every participant command's --help.
EXIT_CODES = """\b
Exit codes:
  0  done
  2  bad usage or malformed input (nothing was sent to the network)
  3  refused by the chaincode (access denied, invalid input, unknown id,
     short balance): its message is printed and nothing changed
  4  failed: no connection profile, network unreachable, timeout, commit
     failed (run `tanpo network status`)"""

#: The token administrator (the operator's User1): the default for its commands.
TOKEN_ADMIN = "operator"
#: Everyone else's default: bank-a's User1 (the root command's documented default).
PARTY_DEFAULT = "bank-a"


class TanpoCommand(click.Command):
    """A command whose help ends with the exit codes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("epilog", EXIT_CODES)
        super().__init__(*args, **kwargs)


class TanpoGroup(click.Group):
    """A group whose commands (and its own help) end with the exit codes."""

    command_class = TanpoCommand

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("epilog", EXIT_CODES)
        super().__init__(*args, **kwargs)


# ---- the ledger, as the commands see it ------------------------------------------------------


class Ledger(Protocol):
    """One participant's view of the ledger (the SDK's roles in one object; a fake in tests)."""

    @property
    def party(self) -> str: ...

    def tokens(self) -> list[Token]: ...
    def token(self, token_id: str) -> Token: ...
    def total_supply(self, token: str) -> int: ...
    def balances(self, party: str = "") -> list[Balance]: ...
    def requests(self, party: str = "", status: str = "") -> list[Request]: ...
    def request(self, request_id: str) -> Request: ...
    def request_issuance(self, token: str, quantity: int, reference: str) -> Request: ...
    def request_redemption(self, token: str, quantity: int, reference: str) -> Request: ...
    def define_token(self, token: Token) -> Token: ...
    def approve_issuance(self, request_id: str) -> Request: ...
    def reject_issuance(self, request_id: str, reason: str) -> Request: ...
    def approve_redemption(self, request_id: str) -> Request: ...
    def reject_redemption(self, request_id: str, reason: str) -> Request: ...
    def transfer(self, token: str, to: str, quantity: int) -> Json: ...
    def agreement(self, agreement_id: str) -> Agreement: ...
    def agreements(self, party: str = "", status: str = "") -> list[Agreement]: ...
    def collateral_report(self, agreement_id: str) -> CollateralReport: ...
    def propose(self, terms: Terms) -> Agreement: ...
    def approve(self, agreement_id: str) -> Agreement: ...
    def reject(self, agreement_id: str, reason: str) -> Agreement: ...
    def withdraw(self, agreement_id: str) -> Agreement: ...
    def close(self, agreement_id: str) -> Agreement: ...
    def request_termination(self, agreement_id: str, note: str = "") -> Agreement: ...
    def accept_termination(self, agreement_id: str) -> Agreement: ...
    def cancel_termination(self, agreement_id: str, reason: str = "") -> Agreement: ...

    def events(self, start_block: int | None,
               checkpoint: Checkpoint | None) -> Iterator[ChaincodeEvent]:
        """Chaincode events from a block or after a checkpoint (default: the next commit)."""
        ...

    def settle(self) -> None:
        """Wait until every organisation's peer holds what this ledger view committed."""
        ...

    def disconnect(self) -> None: ...


class GatewayLedger(Party, TokenAdministrator):
    """A `Ledger` over the Gateway SDK, signed as one participant."""

    def events(self, start_block: int | None,
               checkpoint: Checkpoint | None) -> Iterator[ChaincodeEvent]:
        conn = self.connection
        network = conn.gateway.network(conn.profile.channel)
        with network.chaincode_events(conn.profile.chaincode, start_block=start_block,
                                      checkpoint=checkpoint) as stream:
            yield from stream

    def settle(self) -> None:
        if self.last_block:
            self.connection.wait_for_all_peers(self.last_block, timeout=15.0)

    def disconnect(self) -> None:
        self.connection.close()


def open_ledger(party: str, user: str) -> Ledger:
    """Connect as ``user`` of organisation ``party`` to the network of ``TANPO_STATE_DIR``."""
    from tanpo.client.connect import connect
    from tanpo.client.profile import ProfileError, load_profile

    profile = load_profile()  # a missing profile is a failure (exit 4): the network is not up
    try:
        profile.user(party, user)
    except ProfileError as exc:  # an unknown organisation or user is bad usage (exit 2)
        raise click.BadParameter(str(exc), param_hint="--as") from None
    return GatewayLedger(connect(party, user, profile))


def acting_as(default: str) -> tuple[str, str]:
    """(organisation, user) from the root ``--as``, else ``default``'s User1."""
    from tanpo.client.connect import parse_as

    root = click.get_current_context().find_root().obj
    spec = getattr(root, "as_", None) or default
    try:
        return parse_as(spec)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--as") from None


@contextmanager
def session(default: str, as_json: bool) -> Iterator[Ledger]:
    """The acting participant's ledger, with failures turned into exit codes 3 and 4."""
    with guarded(as_json):
        party, user = acting_as(default)
        ledger = open_ledger(party, user)
        try:
            yield ledger
        finally:
            ledger.disconnect()


def settle(ledger: Ledger) -> None:
    """After a submit: wait (briefly) until every peer has it, so a next command acting through
    another organisation sees it. A peer that lags behind only earns a warning: it committed."""
    try:
        ledger.settle()
    except (TimeoutError, GatewayError, OSError) as exc:
        click.echo(f"warning: committed, but not every peer confirmed it yet ({exc})", err=True)


# ---- failures and exit codes ----------------------------------------------------------------


def refusal(exc: GatewayError) -> str | None:
    """The chaincode's message when the chaincode itself refused, else None."""
    texts = [d.message for d in exc.details] + [exc.message]
    if any("chaincode response" in t for t in texts):
        return exc.chaincode_message
    return None


_HINTS = (
    ("is not registered in the role registry",
     "organisation admins hold no role: act as a registered user, e.g. --as bank-a/User1"),
    ("insufficient balance", "the party short of tokens requests an issuance (tanpo token "
                             "issue-request) or receives a transfer first"),
)


def _network_hint(exc: GatewayError) -> str:
    import grpc

    if exc.code == grpc.StatusCode.UNAVAILABLE:
        return ("cannot reach the peer: is the network up? Check with `tanpo network status` "
                "(start it with `tanpo network up`)")
    if exc.code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return ("timed out: the network may be down or overloaded; check `tanpo network "
                "status` and try again (a submit that timed out may still have committed)")
    return ""


def fail(code: int, message: str, as_json: bool, hint: str = "") -> NoReturn:
    kind = "refused" if code == EXIT_REFUSED else "failed"
    if as_json:
        error: Json = {"kind": kind, "message": message}
        if hint:
            error["hint"] = hint
        click.echo(json.dumps({"error": error}, indent=2))
    click.echo(f"{kind}: {message}", err=True)
    if hint:
        click.echo(f"hint: {hint}", err=True)
    sys.exit(code)


@contextmanager
def guarded(as_json: bool) -> Iterator[None]:
    """Turn what can go wrong into the documented exit codes (3 refused, 4 failed)."""
    from tanpo.client.profile import ProfileError

    try:
        yield
    except GatewayError as exc:
        refused = refusal(exc)
        if refused is not None:
            hint = next((h for key, h in _HINTS if key in refused), "")
            fail(EXIT_REFUSED, refused, as_json, hint)
        fail(EXIT_FAILED, exc.message or str(exc), as_json, _network_hint(exc))
    except CommitError as exc:
        fail(EXIT_FAILED, str(exc), as_json,
             "nothing changed; run the command again" if exc.is_mvcc_conflict else "")
    except ProfileError as exc:
        fail(EXIT_FAILED, str(exc), as_json)
    except (TimeoutError, OSError) as exc:
        fail(EXIT_FAILED, str(exc) or type(exc).__name__, as_json)


# ---- output ----------------------------------------------------------------------------------


def console() -> Console:
    """Rich output; when not writing to a terminal, wide enough that tables keep every column."""
    out = Console()
    return out if out.is_terminal else Console(width=200)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def qty(n: int) -> str:
    return f"{n:,}"


def dec(x: Fraction) -> str:
    """An exact decimal for display (the terms only hold finite decimals)."""
    try:
        return decimal_string(x)
    except ValueError:
        return f"≈{float(x):.6g}"


def pct(x: Fraction) -> str:
    """A fraction as a percentage, exactly: 0.05 -> 5%."""
    return dec(x * 100) + "%"


def day(d: date | None, open_text: str = "open") -> str:
    return d.isoformat() if d else open_text


@dataclass(frozen=True)
class Row:
    """A key/value line of a details table."""

    key: str
    value: str


def new_table(title: str, **options: Any) -> Table:
    """A table whose title never wraps (narrow tables would otherwise break it in lines)."""
    return Table(title=title, min_width=len(title) + 4, **options)


def details(title: str, rows: Sequence[Row]) -> None:
    table = new_table(title, show_header=False)
    table.add_column(no_wrap=True, style="bold")
    table.add_column()
    for row in rows:
        table.add_row(row.key, row.value)
    console().print(table)
