"""The dashboard in a real headless Chromium against a real network of three banks.

The network runs on ports from ``TANPO_TEST_PORT_BASE`` + 1300 (its nodes use the next 200
ports). Dashboards for bank-a, bank-b, bank-c and the operator run as ``tanpo dashboard`` processes
started and always stopped here; Playwright drives Debian's ``chromium`` (Playwright's own
browser download is not used). Every page's screenshot is saved under ``out/dashboard/``.

Checked: the pages show the ledger's figures (read again through the SDK and formatted the
same way), an approval made in the browser commits, a margin call made from the CLI appears on
an open page without a reload, bank-c's dashboard shows nothing of the bank-a/bank-b agreements,
and the operator confirms a held-back quote from the prices page.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from tanpo.client.api import OracleClient, Party
from tanpo.client.models import CollateralLeg, FeeTerms, Terms
from tanpo.client.net import net_positions
from tanpo.client.profile import load_profile
from tanpo.client.session import Session
from tanpo.dashboard import fmt
from tests.integration.conftest import TANPO, TEST_PORT_BASE, alive, running_network

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "out" / "dashboard"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

CASH, STOCK = "JPY", "JP7203"
REFERENCE = "GMSLA-DASH-77141"
LOAN = 12_345_000
SHARES = 12_500
# September 2025: dates no other test module uses, and a month that has ended on the ledger's
# business date (so it can be invoiced)
OPEN, D1, D2, D3 = date(2025, 9, 26), date(2025, 9, 29), date(2025, 9, 30), date(2025, 10, 1)
PRICES = {OPEN: "1000", D1: "980", D2: "1010", D3: "995"}


@dataclass
class Dashboard:
    party: str
    url: str
    process: subprocess.Popen[str]
    log: Path


@dataclass
class World:
    session: Session
    env: dict[str, str]
    agreement: str  # bank-a lends to bank-b, margined on D1 and D2
    proposal: str  # bank-b's proposal for bank-a to approve in the browser
    dashboards: dict[str, Dashboard]
    oracle_state: Path

    def party(self, name: str) -> Party:
        return Party(self.session.as_(name).connection)


def start_dashboard(party: str, env: dict[str, str], folder: Path,
                    *extra: str) -> Dashboard:
    log = folder / f"dashboard-{party}.log"
    with log.open("w") as err:
        process = subprocess.Popen(
            [*TANPO, "--as", party, "dashboard", "--port", "0",
             "--checkpoint", str(folder / f"checkpoint-{party}.json"), *extra],
            env=env, stdout=subprocess.PIPE, stderr=err, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()  # the address, once it listens
    found = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if not found:
        process.kill()
        process.wait()
        raise AssertionError(f"dashboard for {party} did not start: {line!r}\n"
                             f"{log.read_text()}")
    return Dashboard(party, found.group(0).rstrip("/"), process, log)


def stop_dashboard(d: Dashboard) -> None:
    d.process.terminate()
    try:
        d.process.wait(15)
    except subprocess.TimeoutExpired:
        d.process.kill()
        d.process.wait(5)
    assert not alive(d.process.pid)


def terms(agreement_id: str, lender: str, borrower: str, loan: int, shares: int, start: date,
          reference: str = "", fee: bool = False) -> Terms:
    return Terms(id=agreement_id, reference=reference, lender=lender, borrower=borrower,
                 loan_token=CASH, loan_quantity=loan,
                 collateral=(CollateralLeg(STOCK, shares),), base_currency="JPY",
                 haircut=Fraction(0), threshold=Fraction(0), mode="single", auto_issue=False,
                 trade_date=start, start_date=start, end_date=date(2025, 12, 19),
                 fee=FeeTerms(Fraction(40)) if fee else None)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("dashboard")
    with running_network(base / "state", TEST_PORT_BASE + 1300, banks=3) as net:
        profile = load_profile(net.topo.profile_file)
        env = dict(os.environ, TANPO_STATE_DIR=str(net.topo.state_dir))
        with Session(profile) as session:
            op = session.as_("operator").connection
            admin = op.contract("tokens")
            admin.submit("DefineToken", json.dumps({"id": CASH, "kind": "CT",
                                                    "currency": "JPY"}))
            admin.submit("DefineToken", json.dumps({
                "id": STOCK, "kind": "ST", "currency": "JPY", "ticker": "7203",
                "quoteConvention": "per-unit", "assetClass": "equity"}))
            session.settle()
            for party, token, quantity in (("bank-a", CASH, 40_000_000),
                                           ("bank-b", STOCK, 60_000),
                                           ("bank-b", CASH, 2_000_000),
                                           ("bank-c", CASH, 3_000_000)):
                req = Party(session.as_(party).connection).request_issuance(
                    token, quantity, "dashboard test")
                session.settle()
                admin.submit("ApproveIssuance", req.id)
                session.settle()
            oracle = OracleClient(op)
            for day in (OPEN, D1, D2):
                oracle.post_prices(day, {STOCK: PRICES[day]}, {})
            session.settle()
            a = Party(session.as_("bank-a").connection)
            b = Party(session.as_("bank-b").connection)
            agreement = a.propose(terms("", "bank-a", "bank-b", LOAN, SHARES, OPEN,
                                        REFERENCE, fee=True)).id
            session.settle()
            b.approve(agreement)
            session.settle()
            for day in (D1, D2):
                a.margin_call(agreement, day)
                session.settle()
            a.issue_invoice("2025-09", "JPY", "bank-b")
            session.settle()
            proposal = b.propose(terms("", "bank-a", "bank-b", 1_000_000, 1_100, D2)).id
            session.settle()
            # the oracle daemon's status, with one quote held back for the operator to confirm
            oracle_state = base / "oracle"
            from tanpo.oracle.status import StateFiles

            StateFiles(oracle_state).write_status({
                "state": "degraded", "mode": "run", "source": "file",
                "updated": "2025-10-01T07:05:00+00:00",
                "ledger": {"last_posted": D2.isoformat(), "last_swept": D2.isoformat()},
                "held_back": [{"date": D3.isoformat(), "instrument": STOCK, "symbol": "7203.T",
                               "rule": "move", "reason": "moved 31.1% since the last close, "
                               "above the 20% limit for equity", "value": "1324",
                               "previous": "1010", "confirmable": True}]})
            dashboards: dict[str, Dashboard] = {}
            try:
                for party in ("bank-a", "bank-b", "bank-c", "operator"):
                    extra = ("--oracle-state", str(oracle_state)) if party == "operator" else ()
                    dashboards[party] = start_dashboard(party, env, base, *extra)
                yield World(session, env, agreement, proposal, dashboards, oracle_state)
            finally:
                for d in dashboards.values():
                    stop_dashboard(d)


@pytest.fixture(scope="module")
def browser(world: World) -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("the browser tests need Debian's chromium (`make browser` installs it)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield p
    finally:
        context.close()
    assert not errors, f"script errors on the page: {errors}"


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def wait_live(page: Any) -> None:
    """The page's event listener is connected to the dashboard's live feed."""
    page.wait_for_function("document.getElementById('live').dataset.status === 'live'",
                           timeout=30_000)


def main_text(page: Any) -> str:
    return str(page.inner_text("main"))


# ---- the tests ---------------------------------------------------------------------------------


def test_pages_show_the_ledgers_figures(world: World, page: Any) -> None:
    a = world.party("bank-a")
    url = world.dashboards["bank-a"].url
    calls = a.margin_calls(world.agreement)
    latest = max(calls, key=lambda c: c.date)
    assert latest.date == D2 and latest.transfers  # the lender returned shares on D2

    page.goto(url + "/")
    wait_live(page)
    row = page.locator(f'#calls-today tr[data-agreement="{world.agreement}"]')
    moved = sum((t.value for t in latest.transfers), Fraction(0))
    assert fmt.money(moved, "JPY") in row.inner_text()
    returned = sum(t.quantity for t in latest.transfers)
    assert f"-{returned:,} {STOCK}" in row.inner_text()  # bank-a delivered them
    assert "approve or reject the proposal" in main_text(page)
    shot(page, "bank-a-today")

    page.goto(url + "/agreements?sort=id")
    row = page.locator(f'#agreements tr[data-agreement="{world.agreement}"]')
    text = row.inner_text()
    assert fmt.money(latest.vl, "JPY") in text and fmt.money(latest.vc_now, "JPY") in text
    assert row.locator(f'span[title="{fmt.exact(latest.vl)} JPY"]').count() == 1
    assert REFERENCE in text and "ACTIVE" in text
    shot(page, "bank-a-agreements")

    page.goto(f"{url}/agreements/{world.agreement}")
    report = a.collateral_report(world.agreement)
    holdings = page.inner_text("#holdings")
    for p in report.positions:
        assert f"{p.token}\t{p.held:,}" in holdings
    assert page.locator("#calls tbody tr").count() == len(calls)
    assert page.locator("svg.chart polyline").count() == 3
    assert f"{STOCK} {PRICES[D1]}" in page.inner_text("#calls")  # the prices each call used
    shot(page, "bank-a-agreement")

    page.goto(url + "/counterparties")
    position = net_positions(a).position("bank-b", "JPY")
    assert position is not None
    net = page.locator('table.net[data-currency="JPY"] tr[data-counterparty="bank-b"]')
    assert fmt.money(position.exposure, "JPY") in net.inner_text()
    assert fmt.money(position.loans_out, "JPY") in net.inner_text()
    shot(page, "bank-a-counterparties")

    page.goto(url + "/prices")
    assert page.locator(f'#last-posted time[datetime="{a.last_posted_date()}"]').count() == 1
    assert PRICES[D2] in page.inner_text("#prices")
    shot(page, "bank-a-prices")

    page.goto(url + "/billing")
    invoice = a.invoice("2025-09", "JPY", "bank-b")
    inv_row = page.locator(f'#invoices tr[data-invoice="{invoice.id}"]')
    assert f"{invoice.amount:,} JPY" in inv_row.inner_text()
    assert invoice.status in inv_row.inner_text()
    shot(page, "bank-a-billing")


def test_an_approval_made_in_the_browser_commits(world: World, page: Any) -> None:
    url = world.dashboards["bank-a"].url
    page.goto(url + "/")
    page.get_by_role("button", name=f"Approve {world.proposal}").click()
    page.wait_for_selector("#flash.done", timeout=60_000)
    assert world.proposal in page.inner_text("#flash")
    shot(page, "bank-a-approved")
    world.session.settle()
    # read back through the SDK, as the proposer
    assert world.party("bank-b").agreement(world.proposal).status == "ACTIVE"
    # approving again is refused by the chaincode, in its words
    page.goto(f"{url}/agreements/{world.agreement}")
    csrf = page.locator('meta[name="csrf"]').get_attribute("content") or ""
    page.evaluate("""([id, token]) => {
        const f = document.createElement('form'); f.method = 'post';
        f.action = '/agreements/' + id + '/approve';
        const t = document.createElement('input'); t.name = 'csrf'; t.value = token;
        f.appendChild(t); document.body.appendChild(f); f.submit(); }""",
                  [world.agreement, csrf])
    page.wait_for_selector("#flash.refused", timeout=60_000)
    assert "Refused by the chaincode" in page.inner_text("#flash")


def test_a_margin_call_from_the_cli_appears_without_a_reload(world: World, page: Any) -> None:
    url = world.dashboards["bank-a"].url
    page.goto(f"{url}/agreements/{world.agreement}")
    wait_live(page)
    page.evaluate("window.stayedOpen = 'yes'")
    assert page.locator(f'#calls tr[data-date="{D3}"]').count() == 0
    OracleClient(world.session.as_("operator").connection).post_prices(
        D3, {STOCK: PRICES[D3]}, {})
    world.session.settle()
    started = time.monotonic()
    out = subprocess.run([*TANPO, "--as", "bank-a", "margin", "run", "--date", D3.isoformat(),
                          "--agreement", world.agreement], env=world.env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    page.wait_for_selector(f'#calls tr[data-date="{D3}"]', timeout=30_000)
    seen = time.monotonic() - started
    assert page.evaluate("window.stayedOpen") == "yes"  # the same page: no reload
    call = world.party("bank-a").get_margin_call(world.agreement, D3)
    assert fmt.money(call.vl, "JPY") in page.inner_text(f'#calls tr[data-date="{D3}"]')
    print(f"the CLI's call showed on the open page {seen:.1f}s after the command started")
    shot(page, "bank-a-agreement-live")


def test_the_borrower_disputes_a_call_and_pays_the_invoice_in_the_browser(
        world: World, page: Any) -> None:
    url = world.dashboards["bank-b"].url
    page.goto(f"{url}/agreements/{world.agreement}")
    row = page.locator(f'#calls tr[data-date="{D3}"]')
    assert "bank-b→bank-a" in row.inner_text()  # bank-b delivered shares on D3
    row.get_by_label("Value you agree to deliver (JPY)").fill("100000")
    row.get_by_label("Note").fill("our close differs")
    row.get_by_role("button", name="Dispute").click()
    page.wait_for_selector("#flash", timeout=60_000)
    assert "Done" in page.inner_text("#flash"), page.inner_text("#flash")
    world.session.settle()
    dispute = world.party("bank-a").get_margin_call(world.agreement, D3).dispute
    assert dispute is not None and dispute.by == "bank-b" and dispute.agreed_value == 100_000
    shot(page, "bank-b-agreement-disputed")

    page.goto(url + "/billing")
    shot(page, "bank-b-billing")
    page.get_by_role("button", name="Pay INV-2025-09-JPY").click()
    page.wait_for_selector("#flash", timeout=60_000)
    assert "Done" in page.inner_text("#flash"), page.inner_text("#flash")
    world.session.settle()
    assert world.party("bank-a").invoice("2025-09", "JPY", "bank-b").status == "PAID"
    shot(page, "bank-b-billing-paid")


def test_bank_c_sees_none_of_the_a_b_agreements(world: World, page: Any) -> None:
    url = world.dashboards["bank-c"].url
    secrets = (world.agreement, world.proposal, REFERENCE, f"{LOAN:,}", f"{SHARES:,}")
    for path in ("/", "/agreements", "/counterparties", "/prices", "/billing"):
        page.goto(url + path)
        html = page.content()
        assert not [s for s in secrets if s in html], f"bank-c's {path} shows an a/b figure"
        shot(page, "bank-c-" + (path.strip("/") or "today"))
    page.goto(f"{url}/agreements/{world.agreement}")
    assert "access denied" in page.inner_text("main")
    assert REFERENCE not in page.content() and f"{LOAN:,}" not in page.content()
    shot(page, "bank-c-agreement-refused")


def test_the_operator_sees_the_plan_and_confirms_a_held_quote(world: World, page: Any) -> None:
    url = world.dashboards["operator"].url
    page.goto(url + "/")
    text = main_text(page)
    assert world.agreement in text  # the sweep plan names it: ids and parties only
    assert REFERENCE not in page.content() and f"{LOAN:,}" not in page.content()
    assert "the operator does not see bilateral agreements" in text
    shot(page, "operator-today")
    page.goto(url + "/prices")
    assert "degraded" in page.inner_text("#oracle-health")
    page.get_by_label("Note").fill("checked against the exchange")
    shot(page, "operator-prices")
    page.get_by_role("button", name=f"Confirm {STOCK}").click()
    page.wait_for_selector("#flash.done", timeout=30_000)
    from tanpo.oracle.status import StateFiles

    (confirmation,) = StateFiles(world.oracle_state).confirmations()
    assert (confirmation.key, str(confirmation.value), confirmation.valuation_date) == (
        STOCK, "1324", D3)
