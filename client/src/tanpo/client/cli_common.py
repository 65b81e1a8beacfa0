"""What every ``tanpo`` command shares: who acts, exit codes, errors that say what to do, output.

Every participant, margin and price command talks to the ledger through `open_ledger`
(replaceable: unit tests put a fake there), inside `guarded`, which turns what can go wrong into
the documented exit codes. The other areas' commands (oracle, scenarios, risk, bench) take their
identity from `acting_as` and report a missing network through `connection_errors`.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any, NoReturn, Protocol

import click
from rich.console import Console
from rich.table import Table

from tanpo.client.api import OracleClient, Party, TokenAdministrator
from tanpo.client.errors import CommitError, CommitInterrupted, CommitStatusError, GatewayError
from tanpo.client.events import ChaincodeEvent, Checkpoint
from tanpo.client.gateway import Commit, CommitStatus
from tanpo.client.models import (
    Agreement,
    Balance,
    CollateralReport,
    Invoice,
    InvoiceReceipt,
    MarginCall,
    PriceSet,
    Request,
    Schedule,
    SweepOutcome,
    Terms,
    Token,
    decimal_string,
    json_text,
)
from tanpo.client.profile import ProfileError
from tanpo.client.session import Session
from tanpo.client.sweep import MAX_BATCH, AdjustRun, SweepRun

Json = dict[str, Any]

EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_FAILED = 4
EXIT_UNKNOWN = 5
EXIT_PARTIAL = 6
EXIT_INTERRUPTED = 130  # the shell's code for SIGINT

#: Appended to every participant command's --help.
EXIT_CODES = """\b
Exit codes:
  0  done
  2  bad usage or malformed input (nothing was sent to the network)
  3  refused by the chaincode (access denied, invalid input, unknown id,
     short balance): its message is printed and nothing changed
  4  failed: no connection profile, network unreachable, timeout, commit
     failed (run `tanpo network status`); nothing changed
  5  submitted, outcome unknown (Ctrl-C or a timeout while waiting for the
     commit): the transaction id is printed; check it with `tanpo tx status ID`
  6  partly done: earlier steps committed, a later one failed (each printed)
  130 interrupted (Ctrl-C) before anything was submitted: nothing changed"""

#: The token administrator (the operator's User1): the default for its commands.
TOKEN_ADMIN = "operator"
#: The price oracle (the operator's User1): the default for posting prices and for sweeps.
ORACLE = "operator/User1"
#: Everyone else's default: bank-a's User1 (the root command's documented default).
PARTY_DEFAULT = "bank-a"
#: How long a command waits, after its submit, for every organisation's peer (then it warns).
SETTLE_WARN_S = 15.0


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

    def platform_settings(self) -> Json: ...
    def set_business_time_zone(self, zone: str) -> Json: ...

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
    def recall(self, agreement_id: str, quantity: int, *, date: date | None = None,
               due: date | None = None, note: str = "") -> Agreement: ...
    def return_loan(self, agreement_id: str, quantity: int, *,
                    date: date | None = None) -> Agreement: ...
    def give_notice(self, agreement_id: str, *, date: date | None = None,
                    note: str = "") -> Agreement: ...
    def substitute(self, agreement_id: str, out: Mapping[str, int], in_: Mapping[str, int], *,
                   date: date | None = None) -> Agreement: ...
    def approve_substitution(self, agreement_id: str) -> Agreement: ...
    def cancel_substitution(self, agreement_id: str, reason: str = "") -> Agreement: ...
    def buy_in(self, agreement_id: str, *, date: date | None = None) -> Agreement: ...
    def margin_call(self, agreement_id: str, day: date) -> MarginCall: ...
    def get_margin_call(self, agreement_id: str, day: date) -> MarginCall: ...
    def margin_calls(self, agreement_id: str) -> list[MarginCall]: ...
    def define_schedule(self, counterparty: str, schedule_id: str, schedule: Schedule) -> Json: ...
    def dispute_call(self, agreement_id: str, day: date, agreed_value: Fraction | str,
                     note: str = "") -> MarginCall: ...
    def resolve_dispute(self, agreement_id: str, day: date, figure: str) -> MarginCall: ...
    def adjust(self, day: date, counterparty: str = "", batch_size: int = MAX_BATCH
               ) -> AdjustRun:
        """Re-run the date's calls at its corrected prices (the oracle: every pair)."""
        ...
    def sweep(self, day: date, batch_size: int, *,
              on_batch: Callable[[Sequence[SweepOutcome]], None] | None = None) -> SweepRun:
        """The day's sweep; ``on_batch`` sees each committed batch's outcomes."""
        ...
    def prices(self, day: date, version: int | None) -> PriceSet: ...
    def issue_invoice(self, month: str, currency: str, counterparty: str = "", *,
                      pair: str = "") -> InvoiceReceipt: ...
    def invoice(self, month: str, currency: str, counterparty: str) -> Invoice: ...
    def pay_invoice(self, month: str, currency: str, token: str,
                    counterparty: str) -> InvoiceReceipt: ...
    def query_invoice_line(self, month: str, currency: str, agreement_id: str, note: str,
                           counterparty: str = "") -> InvoiceReceipt: ...
    def post_batch_json(self, day: date, batch: Json) -> Json: ...
    def correct_batch_json(self, day: date, batch: Json, reason: str) -> Json: ...

    def events(self, start_block: int | None,
               checkpoint: Checkpoint | None) -> Iterator[ChaincodeEvent]:
        """Chaincode events from a block or after a checkpoint (default: the next commit)."""
        ...

    def settle(self, timeout: float | None = None) -> None:
        """Wait until every organisation's peer holds what this ledger view committed."""
        ...

    def commit_status(self, transaction_id: str, timeout: float) -> CommitStatus:
        """A submitted transaction's outcome on this identity's peer, waiting up to
        ``timeout`` for it to commit (`CommitStatusError` when it has not)."""
        ...

    def disconnect(self) -> None: ...


class GatewayLedger(Party, TokenAdministrator, OracleClient):
    """A `Ledger` over the Gateway SDK, signed as one participant of a session."""

    def __init__(self, session: Session, party: str, user: str) -> None:
        super().__init__(session.as_(party, user).connection)
        self.session = session

    def events(self, start_block: int | None,
               checkpoint: Checkpoint | None) -> Iterator[ChaincodeEvent]:
        conn = self.connection
        network = conn.gateway.network(conn.profile.channel)
        with network.chaincode_events(conn.profile.chaincode, start_block=start_block,
                                      checkpoint=checkpoint) as stream:
            yield from stream

    def settle(self, timeout: float | None = None) -> None:
        self.session.settle(timeout)

    def commit_status(self, transaction_id: str, timeout: float) -> CommitStatus:
        conn = self.connection
        return Commit(conn.gateway, conn.profile.channel, transaction_id).status(timeout)

    def disconnect(self) -> None:
        self.session.close()


def open_ledger(party: str, user: str) -> Ledger:
    """Connect as ``user`` of organisation ``party`` to the network of ``TANPO_STATE_DIR``."""
    from tanpo.client.profile import load_profile

    profile = load_profile()  # a missing profile is a failure (exit 4): the network is not up
    try:
        profile.user(party, user)
    except ProfileError as exc:  # an unknown organisation or user is bad usage (exit 2)
        raise click.BadParameter(str(exc), param_hint="--as") from None
    return GatewayLedger(Session(profile), party, user)


def acting_as(default: str, spec: str | None = None) -> tuple[str, str]:
    """(organisation, user) from ``spec`` (a command's own ``--as``), else the root ``--as``,
    else ``default`` (each ``ORG[/USER]``); a malformed one is bad usage (exit 2)."""
    from tanpo.client.connect import parse_as

    ctx = click.get_current_context(silent=True)
    root = ctx.find_root().obj if ctx is not None else None
    spec = spec or getattr(root, "as_", None) or default
    try:
        return parse_as(spec)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--as") from None


@contextmanager
def connection_errors() -> Iterator[None]:
    """For commands with their own exit codes: no usable connection profile (the network is not
    up, an unknown organisation) becomes click's error, printed without a traceback."""
    try:
        yield
    except ProfileError as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def ledger_as(default: str) -> Iterator[Ledger]:
    """The ledger as the acting identity (``--as``, else ``default``), disconnected after."""
    party, user = acting_as(default)
    ledger = open_ledger(party, user)
    try:
        yield ledger
    finally:
        ledger.disconnect()


@contextmanager
def session(default: str, as_json: bool) -> Iterator[Ledger]:
    """The acting participant's ledger, with failures turned into exit codes 3 and 4."""
    with guarded(as_json), ledger_as(default) as ledger:
        yield ledger


def settle(ledger: Ledger) -> None:
    """After a submit: wait (briefly) until every peer has it, so a next command acting through
    another organisation sees it. A peer that lags behind only earns a warning: it committed."""
    try:
        ledger.settle(SETTLE_WARN_S)
    except (TimeoutError, GatewayError, OSError) as exc:
        click.echo(f"warning: committed, but not every peer confirmed it yet ({exc})", err=True)
    except KeyboardInterrupt:
        # the transaction is committed: stop waiting, but never say that nothing changed
        click.echo("warning: committed; interrupted while waiting for every peer to confirm "
                   "it", err=True)


# ---- failures and exit codes ----------------------------------------------------------------


class CliFailure(Exception):
    """A failure found by the command itself (exit code 4)."""


_HINTS = (
    ("is not registered in the role registry",
     "organisation admins hold no role: act as a registered user, e.g. --as bank-a/User1"),
    ("insufficient balance", "the party short of tokens requests an issuance (tanpo token "
                             "issue-request) or receives a transfer first"),
)


def _orderers(exc: GatewayError) -> str:
    """The orderers the gateway could not reach, with why, from its details."""
    named = [f"{d.address} ({d.msp_id}): {d.message.rsplit('desc = ', 1)[-1].strip()[:120]}"
             for d in exc.details if d.address]
    return "; ".join(named) or "no orderer answered in time"


def _network_hint(exc: GatewayError) -> str:
    import grpc

    if exc.orderer_unavailable:
        return ("the ordering service is down or has no Raft leader yet: `tanpo network "
                "status` shows each orderer; `tanpo network up` restarts a stopped one and "
                "returns once it accepts transactions; then run the command again")
    if exc.code == grpc.StatusCode.UNAVAILABLE:
        return ("cannot reach the peer: is the network up? Check with `tanpo network status` "
                "(start it with `tanpo network up`)")
    if exc.code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return ("timed out: the network may be down or overloaded; check `tanpo network "
                "status` and try again (a submit that timed out may still have committed)")
    return ""


def fail(code: int, message: str, as_json: bool, hint: str = "",
         partial: Json | None = None) -> NoReturn:
    """Print the error (in JSON mode also a document on stdout: `partial`, what was done before
    the failure, with the error added) and exit with `code`."""
    kind = {EXIT_USAGE: "invalid", EXIT_REFUSED: "refused", EXIT_UNKNOWN: "unknown",
            EXIT_PARTIAL: "partial", EXIT_INTERRUPTED: "interrupted"}.get(code, "failed")
    if as_json:
        error: Json = {"kind": kind, "message": message}
        if hint:
            error["hint"] = hint
        click.echo(json.dumps({**(partial or {}), "error": error}, indent=2))
    click.echo(f"{kind}: {message}", err=True)
    if hint:
        click.echo(f"hint: {hint}", err=True)
    sys.exit(code)


@dataclass
class Guard:
    """What to show with an error: the JSON document so far, and hooks that print what was
    already done (a sweep that stopped on a later page)."""

    as_json: bool
    partial: Json | None = None
    on_error: list[Callable[[], None]] = field(default_factory=list)
    #: what already committed, in words: a failure after it is "partly done" (6), since 3 and 4
    #: promise that nothing changed
    done: list[str] = field(default_factory=list)

    def fail(self, code: int, message: str, hint: str = "") -> NoReturn:
        for hook in self.on_error:
            hook()
        if self.done:
            message = f"{message}\nalready committed before that: {'; '.join(self.done)}"
            if code in (EXIT_REFUSED, EXIT_FAILED, EXIT_INTERRUPTED):
                code = EXIT_PARTIAL
        fail(code, message, self.as_json, hint, self.partial)


def _check(transaction_id: str) -> str:
    return (f"check it with `tanpo tx status {transaction_id}` (or watch `tanpo events watch`)"
            "; do not simply run the command again")


@contextmanager
def guarded(as_json: bool) -> Iterator[Guard]:
    """Turn what can go wrong into the documented exit codes (3 refused, 4 failed, 5 outcome
    unknown, 130 interrupted before submitting; 6 is the caller's, via `Guard.partial_failure`)."""
    guard = Guard(as_json)
    try:
        yield guard
    except CommitInterrupted as exc:
        state = "submitted" if exc.sent else "being submitted"
        guard.fail(EXIT_UNKNOWN, f"interrupted while transaction {exc.transaction_id} was "
                                 f"{state}: it may still commit", _check(exc.transaction_id))
    except KeyboardInterrupt:
        guard.fail(EXIT_INTERRUPTED, "interrupted (Ctrl-C)" if guard.done else
                   "interrupted before anything was submitted: nothing changed")
    except CommitStatusError as exc:
        # the orderer accepted it; only the wait for its commit failed
        guard.fail(EXIT_UNKNOWN, f"transaction {exc.transaction_id} was submitted but its "
                                 f"commit was not confirmed: {exc.message or exc}",
                   _check(exc.transaction_id))
    except GatewayError as exc:
        if exc.orderer_unavailable:
            if exc.code is not None and exc.code.name == "DEADLINE_EXCEEDED":
                # the orderer may have it: as a commit that was not confirmed
                guard.fail(EXIT_UNKNOWN, f"transaction {exc.transaction_id} was sent to the "
                                         f"ordering service, which did not answer in time "
                                         f"({_orderers(exc)})", _network_hint(exc))
            guard.fail(EXIT_FAILED, f"orderer unreachable, the transaction was not ordered: "
                                    f"{_orderers(exc)}", _network_hint(exc))
        if exc.refusal is not None:
            hint = next((h for key, h in _HINTS if key in exc.refusal), "")
            guard.fail(EXIT_REFUSED, exc.refusal, hint)
        guard.fail(EXIT_FAILED, exc.message or str(exc), _network_hint(exc))
    except CommitError as exc:
        guard.fail(EXIT_FAILED, str(exc),
                   "nothing changed; run the command again" if exc.is_mvcc_conflict else "")
    except (CliFailure, ProfileError, TimeoutError, OSError) as exc:
        guard.fail(EXIT_FAILED, str(exc) or type(exc).__name__)


# ---- input the CLI can check before sending (exit 2, nothing sent) ---------------------------

# The chaincode's own rules (chaincode/contracts/names.go), checked here so a malformed value
# never reaches the network and the user learns what is wrong at once.
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_REQUEST_ID = re.compile(r"(ISS|RED)-[A-Za-z0-9]{1,60}")
_PARTY = re.compile(r"operator|bank-[a-z0-9]{1,16}")
_ISIN = re.compile(r"[A-Z]{2}[A-Z0-9]{9}[0-9]")


def isin_check_digit_ok(isin: str) -> bool:
    """ISO 6166: letters become two digits (A=10 … Z=35), then the Luhn check over them."""
    digits = "".join(str(int(c, 36)) for c in isin[:-1]) + isin[-1]
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def check_identifier(what: str, value: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise click.BadParameter(f"{value[:70]!r} is not a valid {what}: 1 to 64 characters "
                                 "from A-Z a-z 0-9 . _ - starting with a letter or digit")
    return value


def check_request_id(value: str) -> str:
    if not _REQUEST_ID.fullmatch(value):
        raise click.BadParameter(f"{value[:70]!r} is not a request id such as "
                                 "ISS-1a2b3c4d5e6f7a8b (issuance) or RED-… (redemption)")
    return value


def check_party(value: str) -> str:
    if not _PARTY.fullmatch(value):
        raise click.BadParameter(f"{value[:40]!r} is not a party id such as bank-a")
    return value


def check_isin(value: str) -> str:
    if value and not (_ISIN.fullmatch(value) and isin_check_digit_ok(value)):
        why = ("its check digit is wrong" if _ISIN.fullmatch(value)
               else "expected 2 letters, 9 letters or digits, and a check digit")
        raise click.BadParameter(f"{value[:40]!r} is not an ISIN: {why}")
    return value


def check_text(what: str, value: str, max_bytes: int = 512) -> str:
    """Free text (references, reasons, names): no control characters, bounded."""
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise click.BadParameter(f"the {what} contains a control character")
    if len(value.encode("utf-8", "surrogatepass")) > max_bytes:
        raise click.BadParameter(f"the {what} is longer than {max_bytes} bytes")
    return value


def checked(check: Callable[[str], str]) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A click callback running ``check`` on a value (or each of several) before the command."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None or value == "":
            return value
        if isinstance(value, tuple):
            return tuple(check(v) for v in value)
        return check(value)

    return callback


def text_option(what: str, max_bytes: int = 512) -> Callable[[click.Context, click.Parameter,
                                                              Any], Any]:
    return checked(lambda v: check_text(what, v, max_bytes))


# ---- output ----------------------------------------------------------------------------------


def console() -> Console:
    """Rich output; when not writing to a terminal, wide enough that tables keep every column."""
    out = Console()
    return out if out.is_terminal else Console(width=200)


def echo_json(value: Any) -> None:
    click.echo(json_text(value, indent=2))


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


def write_or_echo(text: str, out: Path | None, what: str) -> None:
    """Print ``text``, or write it to ``out`` (``--out``) and say so on stderr."""
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.BadParameter(f"cannot write {out}: {exc.strerror or exc}",
                                 param_hint="--out") from None
    click.echo(f"wrote {what} to {out}", err=True)
