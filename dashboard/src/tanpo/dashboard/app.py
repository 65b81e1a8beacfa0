"""The web application: server-rendered pages, the desk's actions, and the live feed.

Pages are plain HTML rendered from :mod:`tanpo.dashboard.views`; a small script listens to
``/live`` (server-sent events) and, when the ledger changed, fetches the open page's ``<main>``
again and swaps it in. Actions are forms posting to the same SDK calls as the CLI; a refusal
shows the chaincode's own message. Forms carry a per-process token and requests must name
127.0.0.1 or localhost, so another site open in the browser cannot act as this identity.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tanpo.client.errors import CommitError, CommitInterrupted, GatewayError
from tanpo.client.events import ChaincodeEvent
from tanpo.client.models import AGREEMENT_STATUSES
from tanpo.client.pairs import collection_parties
from tanpo.dashboard import charts, fmt, views
from tanpo.dashboard.live import LiveFeed

STATIC = Path(__file__).parent / "static"


@dataclass
class Desk:
    """What the app acts with: the reader (the SDK as one identity) and the live feed.

    ``oracle_state`` (the operator's dashboard) reads the daemon's status document and records
    confirmations of held-back quotes, as ``tanpo oracle status`` and ``confirm`` do."""

    reader: Any  # views.Reader plus the actions (a DeskLedger, or a fake in tests)
    feed: LiveFeed | None = None
    user: str = "User1"
    oracle_state: Path | None = None
    heading: str = ""
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    _book: views.Book | None = None
    _generation: int = -1
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _flash: dict[str, tuple[str, str]] = field(default_factory=dict)
    invoices_seen: set[tuple[str, str, str]] = field(default_factory=set)

    @property
    def party(self) -> str:
        return str(self.reader.party)

    def book(self) -> views.Book:
        """The book of the ledger's current state: re-read after each event or own action."""
        generation = self.feed.generation if self.feed is not None else 0
        with self._lock:
            if self._book is None or generation != self._generation:
                self._book = views.Book(self.reader)
                self._generation = generation
            return self._book

    def changed(self) -> None:
        with self._lock:
            self._book = None
        if self.feed is not None:
            self.feed.bump()

    def flash(self, kind: str, message: str) -> str:
        key = secrets.token_urlsafe(8)
        self._flash[key] = (kind, message)
        if len(self._flash) > 200:
            self._flash.pop(next(iter(self._flash)))
        return key

    def take_flash(self, key: str | None) -> tuple[str, str] | None:
        return self._flash.get(key) if key else None

    def seen(self, event: ChaincodeEvent) -> None:
        """Billing events name an invoice of a pair this bank may read: remember it, so the
        billing page lists it even without an accrual in the agreements it reads."""
        if event.name not in ("InvoiceIssued", "InvoicePaid") or self.party == "operator":
            return
        try:
            body = event.json() or {}
            members = collection_parties(str(body.get("pair", "")))
            _, month_ccy = str(body.get("invoice", "")).split("INV-", 1)
            month, currency = month_ccy.rsplit("-", 1)
        except (ValueError, AttributeError):
            return
        if self.party in members:
            other = next((m for m in members if m != self.party), "")
            self.invoices_seen.add((month, currency, other))

    def oracle_status(self) -> dict[str, Any] | None:
        if self.oracle_state is None:
            return None
        from tanpo.oracle.status import StateFiles, StatusFileError

        try:
            return StateFiles(self.oracle_state).read_status()
        except StatusFileError as exc:
            return {"state": "unreadable", "last_error": str(exc)}


def environment() -> Environment:
    env = Environment(loader=PackageLoader("tanpo.dashboard", "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters.update(money=fmt.money, qty=fmt.quantity, pct=fmt.percent, when=fmt.when,
                       iso=fmt.iso, exact=fmt.exact, number=fmt.number)
    env.globals.update(outcome=views.outcome, chart=lambda calls, currency, threshold: Markup(
        charts.collateral_chart(calls, currency, threshold)))
    return env


NAV = (("today", "/", "Today"), ("agreements", "/agreements", "Agreements"),
       ("counterparties", "/counterparties", "Counterparties"), ("prices", "/prices", "Prices"),
       ("billing", "/billing", "Billing"))


def create_app(desk: Desk) -> LocalOnly:
    env = environment()

    def render(request: Request, template: str, page: str, title: str,
               **context: Any) -> HTMLResponse:
        fragment = request.headers.get("x-fragment") == "main"
        flash = desk.take_flash(request.query_params.get("flash"))
        html = env.get_template(template).render(
            request=request, desk=desk, page=page, title=title, nav=NAV, flash=flash,
            fragment=fragment, token=desk.token,
            live=desk.feed.snapshot() if desk.feed is not None else None, **context)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    def business_date(book: views.Book) -> date:
        got = views.attempt("the business date", book.reader.business_date, [])
        return got or date.today()

    # --- pages --------------------------------------------------------------------------------
    def today(request: Request) -> Response:
        book = desk.book()
        return render(request, "today.html", "today", "Today", view=views.today_view(book))

    def agreements(request: Request) -> Response:
        book = desk.book()
        q = request.query_params
        rows = views.agreement_rows(book, business_date(book))
        shown = views.filter_rows(rows, q.get("status", ""), q.get("counterparty", ""),
                                  q.get("q", ""), q.get("sort", "id"), q.get("order") == "desc")
        plan = views.today_view(book).plan if book.operator else ()
        return render(request, "agreements.html", "agreements", "Agreements", rows=shown,
                      total=len(rows), statuses=AGREEMENT_STATUSES,
                      counterparties=sorted({r.counterparty for r in rows}), q=q, plan=plan,
                      refused=tuple(book.refused),
                      sort_link=lambda key: _sort_link(q, key))

    def agreement(request: Request) -> Response:
        book = desk.book()
        got = views.agreement_page(book, request.path_params["id"], business_date(book))
        if isinstance(got, views.Refused):
            return render(request, "refused.html", "agreements", "Agreement", refused=got)
        return render(request, "agreement.html", "agreements", f"Agreement {got.row.id}",
                      p=got, me=desk.party)

    def counterparties(request: Request) -> Response:
        book = desk.book()
        return render(request, "counterparties.html", "counterparties", "Counterparties",
                      view=views.counterparties_view(book, business_date(book)))

    def prices(request: Request) -> Response:
        book = desk.book()
        return render(request, "prices.html", "prices", "Prices",
                      view=views.prices_view(book, desk.oracle_status()))

    def billing(request: Request) -> Response:
        book = desk.book()
        return render(request, "billing.html", "billing", "Billing",
                      view=views.billing_view(book, sorted(desk.invoices_seen)))

    # --- actions ------------------------------------------------------------------------------
    async def act(request: Request, what: str, back: str,
                  call: Callable[[Any], object]) -> Response:
        form = await request.form()
        if not secrets.compare_digest(str(form.get("csrf", "")), desk.token):
            return HTMLResponse("the form is stale or not from this dashboard: reload the page",
                                status_code=403)
        fields = {k: str(v) for k, v in form.items()}
        try:
            await asyncio.to_thread(call, fields)
        except GatewayError as exc:
            kind, message = (("refused", exc.refusal) if exc.refusal is not None
                             else ("failed", exc.message or str(exc)))
        except (CommitError, CommitInterrupted, TimeoutError, OSError) as exc:
            kind, message = "failed", str(exc)
        except (ValueError, KeyError) as exc:
            kind, message = "invalid", str(exc) or type(exc).__name__
        else:
            kind, message = "done", what
            desk.changed()
        sep = "&" if "?" in back else "?"
        return RedirectResponse(f"{back}{sep}flash={desk.flash(kind, message)}",
                                status_code=303)

    def agreement_action(name: str, what: str,
                         call: Callable[[Any, str, dict[str, str]], object]
                         ) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            agreement_id = request.path_params["id"]
            back = str((await request.form()).get("back") or f"/agreements/{agreement_id}")
            if not back.startswith("/") or back.startswith("//") or "\\" in back:
                back = "/"  # only a page of this dashboard
            return await act(request, f"{what} {agreement_id}", back,
                             lambda f: call(desk.reader, agreement_id, f))
        endpoint.__name__ = name
        return endpoint

    async def pay(request: Request) -> Response:
        return await act(request, "invoice paid", "/billing", lambda f: desk.reader.pay_invoice(
            f["month"], f["currency"], f["token"], f["counterparty"]))

    async def confirm(request: Request) -> Response:
        def record(f: dict[str, str]) -> None:
            if desk.oracle_state is None:
                raise ValueError("this dashboard was started without --oracle-state")
            from datetime import UTC, datetime

            from tanpo.oracle.status import StateFiles
            from tanpo.oracle.validation import Confirmation, to_decimal

            StateFiles(desk.oracle_state).add_confirmation(Confirmation(
                date.fromisoformat(f["date"]), f["instrument"], to_decimal(f["value"]),
                f"{desk.party} (dashboard)", False, f.get("note", ""),
                datetime.now(UTC).isoformat(timespec="seconds")))

        return await act(request, "confirmation recorded: the oracle uses it on its next pass",
                         "/prices", record)

    async def live(request: Request) -> Response:
        feed = desk.feed

        async def stream() -> AsyncIterator[str]:
            if feed is None:
                yield "event: status\ndata: {\"status\": \"no event stream\"}\n\n"
                return
            loop, queue = feed.subscribe()
            try:
                yield f"event: status\ndata: {json.dumps(feed.snapshot().json())}\n\n"
                while True:
                    try:
                        change = await asyncio.wait_for(queue.get(), 15)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        if await request.is_disconnected():
                            return
                        continue
                    kind = "ledger" if change.event else "status"
                    yield f"event: {kind}\ndata: {json.dumps(change.json())}\n\n"
            finally:
                feed.unsubscribe(loop, queue)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    routes = [
        Route("/", today), Route("/agreements", agreements),
        Route("/agreements/{id}", agreement), Route("/counterparties", counterparties),
        Route("/prices", prices), Route("/billing", billing), Route("/live", live),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/agreements/{id}/approve", agreement_action(
            "approve", "approved", lambda r, a, f: r.approve(a)), methods=["POST"]),
        Route("/agreements/{id}/reject", agreement_action(
            "reject", "rejected", lambda r, a, f: r.reject(a, f.get("reason", ""))),
            methods=["POST"]),
        Route("/agreements/{id}/accept-termination", agreement_action(
            "accept_termination", "terminated", lambda r, a, f: r.accept_termination(a)),
            methods=["POST"]),
        Route("/agreements/{id}/return", agreement_action(
            "return_loan", "returned loan units of",
            lambda r, a, f: r.return_loan(a, _positive(f.get("quantity", "")))),
            methods=["POST"]),
        Route("/agreements/{id}/approve-substitution", agreement_action(
            "approve_substitution", "substitution approved on",
            lambda r, a, f: r.approve_substitution(a)), methods=["POST"]),
        Route("/agreements/{id}/dispute", agreement_action(
            "dispute", "disputed the call of",
            lambda r, a, f: r.dispute_call(a, date.fromisoformat(f["date"]),
                                           _decimal(f.get("agreed", "")), f.get("note", ""))),
            methods=["POST"]),
        Route("/billing/pay", pay, methods=["POST"]),
        Route("/prices/confirm", confirm, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return LocalOnly(Starlette(routes=routes))


#: Headers on every answer: no framing, nothing from another origin (the pages load only
#: their own stylesheet and script).
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     b"default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'"),
]


class LocalOnly:
    """Answer requests addressed to the loopback names only (a page of another site cannot
    reach the dashboard through a name that resolves to 127.0.0.1), with the security headers."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1").rsplit(":", 1)[0]
        if host not in ("127.0.0.1", "localhost", "[::1]"):
            await HTMLResponse("this dashboard answers on 127.0.0.1 only",
                               status_code=421)(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message,
                           "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _sort_link(q: Any, key: str) -> str:
    params = {k: v for k, v in q.items() if k not in ("sort", "order", "flash")}
    desc = q.get("sort") == key and q.get("order") != "desc"
    params.update(sort=key, order="desc" if desc else "asc")
    return "/agreements?" + urlencode(params)


def _positive(text: str) -> int:
    try:
        n = int(text.replace(",", "").strip())
    except ValueError:
        raise ValueError(f"a quantity is a whole number above zero, got {text!r}") from None
    if n <= 0:
        raise ValueError(f"a quantity is a whole number above zero, got {text!r}")
    return n


def _decimal(text: str) -> Fraction:
    try:
        value = Fraction(text.replace(",", "").strip())
    except ValueError:
        raise ValueError(f"the agreed value is a decimal number such as 1000.50, got "
                         f"{text!r}") from None
    if value < 0:
        raise ValueError("the agreed value is 0 or more")
    return value
