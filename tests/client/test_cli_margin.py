"""`tanpo margin …` and `tanpo prices …` with click's CliRunner and a fake ledger session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import grpc
import pytest
from click.testing import CliRunner, Result

from tanpo.client import cli_margin
from tanpo.client.cli_main import main
from tanpo.client.cli_margin import MarginSession, show_value
from tanpo.client.errors import EndorseError, ErrorDetail, EvaluateError
from tanpo.client.models import MarginCall, PriceSet, SweepOutcome
from tanpo.client.profile import ProfileError
from tanpo.client.sweep import SweepRun

D = date.fromisoformat
DAY = D("2024-01-03")
Json = dict[str, Any]


def refusal(message: str, evaluate: bool = False) -> EndorseError | EvaluateError:
    """What the gateway raises when the chaincode says no."""
    cls = EvaluateError if evaluate else EndorseError
    return cls("failed to endorse transaction, see attached details for more info",
               grpc.StatusCode.ABORTED,
               (ErrorDetail("127.0.0.1:7051", "OperatorMSP",
                            f"chaincode response 500, {message}"),))


def transfer(token: str, qty: int, direction: str, value: str, day: date,
             settle: date | None = None) -> Json:
    lender_to_borrower = direction == "lender->borrower"
    return {"token": token, "quantity": str(qty), "direction": direction,
            "from": "bank-a" if lender_to_borrower else "bank-b",
            "to": "bank-b" if lender_to_borrower else "bank-a",
            "value": value, "marketValue": value, "tradeDate": day.isoformat(),
            "settleDate": (settle or day).isoformat()}


def record(agreement: str, day: date, **over: Any) -> Json:
    """The DESIGN example's call (131 shares returned), as the chaincode stores it."""
    rec: Json = {
        "agreement": agreement, "date": day.isoformat(), "lender": "bank-a", "borrower": "bank-b",
        "baseCurrency": "USD", "priceVersion": 2,
        "prices": {"DE-BUND": "101", "US-STOCK": "252/5"}, "fx": {"EUR": "221/200", "USD": "1"},
        "vl": "1116050", "vcBefore": "1122660", "gapBefore": "6610", "triggered": True,
        "transfers": [transfer("US-STOCK", 131, "lender->borrower", "33012/5", day)],
        "issuanceRequired": [], "mints": [], "vcAfter": "5580288/5", "gapAfter": "38/5",
        "settled": [transfer("US-STOCK", 131, "lender->borrower", "33012/5", day)],
        "pending": [], "held": {"US-STOCK": "22144"}, "calledBy": "operator",
        "identity": "OperatorMSP:x", "txId": f"tx-{agreement}-{day}", "timestamp": "t",
        "replayed": False,
    }
    rec.update(over)
    return rec


@dataclass
class FakeSession:
    """The ledger as the commands see it: margin records, sweeps in id order, price versions."""

    agreements: list[str] = field(default_factory=list)
    records: dict[tuple[str, date], Json] = field(default_factory=dict)
    versions: dict[date, list[Json]] = field(default_factory=dict)
    fail_ids: set[str] = field(default_factory=set)  # agreements whose call the chaincode refuses
    fail: Exception | None = None
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    settles: int = 0
    closed: bool = False
    batch_sizes: list[int] = field(default_factory=list)

    def _check(self) -> None:
        if self.fail is not None:
            raise self.fail

    def _call(self, agreement_id: str, day: date) -> Json:
        if day not in self.versions:
            raise refusal(f"no prices posted for {day}: post them (oracle:PostPrices) before "
                          "margin calls")
        if agreement_id not in self.agreements:
            raise refusal(f"no agreement {agreement_id}")
        key = (agreement_id, day)
        if key in self.records:
            return {**self.records[key], "replayed": True}
        self.records[key] = record(agreement_id, day)
        return self.records[key]

    def margin_call(self, agreement_id: str, day: date) -> MarginCall:
        self._check()
        self.calls.append(("margin_call", agreement_id))
        return MarginCall.from_json(self._call(agreement_id, day))

    def get_margin_call(self, agreement_id: str, day: date) -> MarginCall:
        self._check()
        rec = self.records.get((agreement_id, day))
        if rec is None:
            raise refusal(f"no margin call of agreement {agreement_id} on {day}", evaluate=True)
        return MarginCall.from_json(rec)

    def margin_calls(self, agreement_id: str) -> list[MarginCall]:
        self._check()
        return [MarginCall.from_json(r) for (a, _), r in self.records.items()
                if a == agreement_id]

    def sweep(self, day: date, batch_size: int) -> SweepRun:
        """Every agreement in id order, batch by batch; a failing call fails alone."""
        self._check()
        self.batch_sizes.append(batch_size)
        if day not in self.versions:
            raise refusal(f"no prices posted for {day}: post them (oracle:PostPrices) before "
                          "margin calls")
        outcomes = []
        for a in sorted(self.agreements):
            if a in self.fail_ids:
                outcomes.append(SweepOutcome(a, "failed", f"cannot run the margin call of "
                                             f"agreement {a} on {day}: missing_price: no price "
                                             f"for JP8306 on {day}"))
                continue
            replayed = (a, day) in self.records
            self._call(a, day)
            outcomes.append(SweepOutcome(a, "replayed" if replayed else "called",
                                         triggered=True))
        n = len(self.agreements)
        swept = not self.fail_ids
        return SweepRun(day, tuple(outcomes), transactions=-(-n // batch_size), swept=swept,
                        last_swept_date=day if swept else None,
                        finish_refusal="" if swept else (
                            f"cannot finish the sweep of {day}: {len(self.fail_ids)} active "
                            "agreements have no margin call for it yet"))

    def prices(self, day: date, version: int | None) -> PriceSet:
        self._check()
        versions = self.versions.get(day)
        if not versions:
            raise refusal(f"no prices posted for {day}", evaluate=True)
        chosen = versions[-1] if version is None else versions[version - 1]
        return PriceSet.from_json({**chosen, "latestVersion": len(versions)})

    def _post(self, day: date, batch: Json, reason: str | None) -> Json:
        self._check()
        self.calls.append(("correct" if reason else "post", batch, reason))
        versions = self.versions.setdefault(day, [])
        last = versions[-1] if versions else {"prices": {}, "fx": {}, "priceNotes": {},
                                               "fxNotes": {}}
        merged: Json = {"prices": dict(last["prices"]), "fx": dict(last["fx"]),
                        "priceNotes": dict(last["priceNotes"]), "fxNotes": dict(last["fxNotes"])}
        changed = False
        for section, notes in (("prices", "priceNotes"), ("fx", "fxNotes")):
            for key, value in batch[section].items():
                text = value["value"] if isinstance(value, dict) else value
                old = merged[section].get(key)
                if old == text:
                    continue
                if old is not None and reason is None:
                    raise refusal(f"price of {key} on {day} is already {old} (version "
                                  f"{len(versions)}): use CorrectPrices with a reason to change "
                                  f"it to {text}")
                merged[section][key] = text
                if isinstance(value, dict) and value.get("asOf"):
                    merged[notes][key] = {"asOf": value["asOf"]}
                changed = True
        if not changed:
            return {"date": day.isoformat(), "version": len(versions), "kind": "initial",
                    "changed": False}
        kind = "correction" if reason else ("addition" if versions else "initial")
        versions.append({"date": day.isoformat(), "version": len(versions) + 1, "kind": kind,
                         "reason": reason or "", "postedBy": POSTED_BY, "postedAt": "2024-01-04",
                         "source": batch.get("source", ""), "txId": "tx", **merged})
        return {"date": day.isoformat(), "version": len(versions), "kind": kind,
                "changed": True}

    def post_batch_json(self, day: date, batch: Json) -> Json:
        return self._post(day, batch, None)

    def correct_batch_json(self, day: date, batch: Json, reason: str) -> Json:
        return self._post(day, batch, reason)

    def settle(self) -> None:
        self.settles += 1

    def close(self) -> None:
        self.closed = True


# base64("x509::CN=User1@operator.tanpo.net,OU=client::CN=ca.operator.tanpo.net")
POSTED_BY = ("OperatorMSP:eDUwOTo6Q049VXNlcjFAb3BlcmF0b3IudGFucG8ubmV0LE9VPWNsaWVudDo6Q049Y2Eu"
             "b3BlcmF0b3IudGFucG8ubmV0")


@pytest.fixture
def ledger(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSession]:
    fake = FakeSession(agreements=["AGR-1", "AGR-2"], versions={DAY: [{
        "date": DAY.isoformat(), "version": 1, "kind": "initial", "postedBy": POSTED_BY,
        "postedAt": "2024-01-04T00:00:00Z", "prices": {"DE-BUND": "101", "US-STOCK": "50.4"},
        "fx": {"EURUSD": "1.105"}, "priceNotes": {"US-STOCK": {"asOf": "2024-01-02"}},
        "fxNotes": {}}]})
    opened: list[tuple[str, str]] = []

    def open_session(party: str, user: str) -> MarginSession:
        opened.append((party, user))
        return fake

    monkeypatch.setattr(cli_margin, "open_session", open_session)
    fake.opened = opened  # type: ignore[attr-defined]
    yield fake


def tanpo(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def identities(fake: FakeSession) -> list[tuple[str, str]]:
    return fake.opened  # type: ignore[attr-defined, no-any-return]


# ---- margin run -----------------------------------------------------------------------------


def test_the_root_command_registers_margin_and_prices() -> None:
    out = tanpo("--help")
    assert out.exit_code == 0
    assert "margin" in out.output and "prices" in out.output


def test_a_sweep_acts_as_the_oracle_and_records_the_day(ledger: FakeSession) -> None:
    ledger.agreements = [f"AGR-{i}" for i in range(5)]
    # --page-size is still accepted: it is the batch size now
    out = tanpo("margin", "run", "--date", DAY.isoformat(), "--page-size", "2", "--json")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert identities(ledger) == [("operator", "User1")]
    assert (doc["pages"], doc["complete"], doc["lastSweptDate"]) == (3, True, DAY.isoformat())
    assert [(o["agreement"], o["status"]) for o in doc["outcomes"]] == [
        (f"AGR-{i}", "called") for i in range(5)]
    # the compact outcomes are completed with each call's full record
    assert doc["outcomes"][0]["call"]["vl"] == "1116050"
    assert doc["outcomes"][0]["call"]["transfers"][0]["quantity"] == 131
    assert ledger.batch_sizes == [2]
    assert ledger.closed
    default = tanpo("margin", "run", "--date", DAY.isoformat(), "--batch-size", "1000", "--json")
    assert default.exit_code == 0 and ledger.batch_sizes == [2, 1000]

    again = json.loads(tanpo("margin", "run", "--date", DAY.isoformat(), "--json").output)
    assert {o["status"] for o in again["outcomes"]} == {"replayed"}


def test_a_party_sweeps_as_itself(ledger: FakeSession) -> None:
    out = tanpo("--as", "bank-b/User2", "margin", "run", "--date", DAY.isoformat())
    assert out.exit_code == 0, out.output
    assert identities(ledger) == [("bank-b", "User2")]
    assert "2 called, 0 replayed, 0 skipped, 0 failed in 1 transaction(s)" in out.output


def test_one_agreement_acts_as_bank_a_by_default_and_replays(ledger: FakeSession) -> None:
    first = tanpo("margin", "run", "--date", DAY.isoformat(), "--agreement", "AGR-1", "--json")
    second = tanpo("margin", "run", "--date", DAY.isoformat(), "--agreement", "AGR-1", "--json")
    assert first.exit_code == second.exit_code == 0
    assert identities(ledger) == [("bank-a", "User1")] * 2
    (o1,), (o2,) = json.loads(first.output)["outcomes"], json.loads(second.output)["outcomes"]
    assert (o1["status"], o2["status"]) == ("called", "replayed")
    assert o2["call"] == {**o1["call"], "replayed": True}
    assert ledger.calls == [("margin_call", "AGR-1")] * 2


def test_json_values_are_exact_and_quantities_integers(ledger: FakeSession) -> None:
    out = tanpo("margin", "run", "--date", DAY.isoformat(), "--agreement", "AGR-1", "--json")
    call = json.loads(out.output)["outcomes"][0]["call"]
    assert (call["vl"], call["vcBefore"], call["gapBefore"]) == ("1116050", "1122660", "6610")
    assert (call["vcAfter"], call["gapAfter"]) == ("5580288/5", "38/5")
    assert call["transfers"] == [{
        "token": "US-STOCK", "quantity": 131, "direction": "lender->borrower",
        "from": "bank-a", "to": "bank-b", "value": "33012/5", "marketValue": "33012/5",
        "tradeDate": "2024-01-03", "settleDate": "2024-01-03"}]
    assert call["held"] == {"US-STOCK": 22144}
    assert call["prices"] == {"DE-BUND": "101", "US-STOCK": "252/5"}
    assert call["fx"] == {"EUR": "221/200", "USD": "1"}
    assert call["triggered"] is True and call["replayed"] is False


def test_the_table_prints_values_exactly(ledger: FakeSession) -> None:
    out = tanpo("margin", "run", "--date", DAY.isoformat(), "--agreement", "AGR-1")
    assert out.exit_code == 0, out.output
    for text in ("1,116,050", "1,122,660", "1,116,057.6", "7.6", "131 US-STOCK",
                 "bank-a→bank-b", "6,602.4", "called"):
        assert text in out.output, text


def test_values_without_a_finite_decimal_are_rounded_for_display_only(
    ledger: FakeSession,
) -> None:
    ledger.records[("AGR-1", DAY)] = record("AGR-1", DAY, vcAfter="3349150/3",
                                            gapAfter="1000/3")
    table = tanpo("margin", "show", "AGR-1").output
    assert "≈1,116,383.333333" in table and "≈333.333333" in table
    doc = json.loads(tanpo("margin", "show", "AGR-1", "--json").output)
    assert (doc["calls"][0]["vcAfter"], doc["calls"][0]["gapAfter"]) == ("3349150/3",
                                                                         "1000/3")


def test_a_lagged_transfer_shows_when_it_settles(ledger: FakeSession) -> None:
    later = DAY + timedelta(days=1)
    lagged = transfer("US-STOCK", 40, "borrower->lender", "2016", DAY, later)
    earlier = transfer("US-STOCK", 7, "borrower->lender", "352.8", DAY - timedelta(days=1), DAY)
    ledger.records[("AGR-1", DAY)] = record("AGR-1", DAY, transfers=[lagged], pending=[lagged],
                                            settled=[earlier])
    out = tanpo("margin", "show", "AGR-1", "--date", DAY.isoformat())
    assert out.exit_code == 0, out.output
    assert "40 US-STOCK bank-b→bank-a (settles 2024-01-04)" in out.output
    assert "pending" in out.output and "settled (earlier call)" in out.output
    doc = json.loads(tanpo("margin", "show", "AGR-1", "--json").output)
    (call,) = doc["calls"]
    assert call["pending"][0]["settleDate"] == "2024-01-04"
    assert call["settled"][0]["tradeDate"] == "2024-01-02"


def test_issuance_required_and_mints_are_shown(ledger: FakeSession) -> None:
    ledger.records[("AGR-1", DAY)] = record(
        "AGR-1", DAY,
        issuanceRequired=[{"party": "bank-b", "role": "borrower", "token": "JP8306",
                           "value": "376700"}],
        mints=[{"party": "bank-b", "role": "borrower", "token": "JP8306", "quantity": "6407",
                "supply": "26407"}])
    out = tanpo("margin", "show", "AGR-1")
    assert "bank-b (borrower) 376,700" in out.output
    assert "minted 6,407 JP8306 to bank-b" in out.output
    call = json.loads(tanpo("margin", "show", "AGR-1", "--json").output)["calls"][0]
    assert call["issuanceRequired"] == [{"party": "bank-b", "role": "borrower",
                                         "token": "JP8306", "value": "376700"}]
    assert call["mints"] == [{"party": "bank-b", "role": "borrower", "token": "JP8306",
                              "quantity": 6407, "supply": 26407}]


# ---- exit codes -----------------------------------------------------------------------------


def test_a_refusal_exits_3_with_the_chaincode_message(ledger: FakeSession) -> None:
    out = tanpo("margin", "run", "--date", "2024-01-05", "--agreement", "AGR-1")
    assert out.exit_code == 3
    assert "refused: no prices posted for 2024-01-05" in out.output
    out = tanpo("margin", "run", "--date", "2024-01-05", "--agreement", "AGR-1", "--json")
    assert out.exit_code == 3
    doc = json.loads(out.stdout)
    assert doc["error"]["kind"] == "refused"
    assert doc["error"]["message"].startswith("no prices posted for 2024-01-05")
    assert ledger.closed


def test_a_failed_call_is_shown_with_the_others_and_exits_3(ledger: FakeSession) -> None:
    ledger.agreements = ["AGR-1", "AGR-2", "AGR-3"]
    ledger.fail_ids = {"AGR-2"}
    out = tanpo("margin", "run", "--date", DAY.isoformat(), "--json")
    assert out.exit_code == 3
    doc = json.loads(out.stdout)
    assert doc["complete"] is False and doc["lastSweptDate"] == ""
    assert [(o["agreement"], o["status"]) for o in doc["outcomes"]] == [
        ("AGR-1", "called"), ("AGR-2", "failed"), ("AGR-3", "called")]
    assert "no price for JP8306" in doc["outcomes"][1]["reason"]
    assert "call" not in doc["outcomes"][1] and "call" in doc["outcomes"][2]
    assert doc["error"] == {"kind": "refused", "message": f"cannot finish the sweep of {DAY}: 1 "
                            "active agreements have no margin call for it yet"}
    out = tanpo("margin", "run", "--date", DAY.isoformat())
    assert out.exit_code == 3
    assert "AGR-2" in out.output and "missing_price" in out.output
    assert "0 called, 2 replayed, 0 skipped, 1 failed" in out.output


def test_a_sweep_without_prices_is_refused(ledger: FakeSession) -> None:
    out = tanpo("margin", "run", "--date", "2024-01-05")
    assert out.exit_code == 3
    assert "refused: no prices posted for 2024-01-05" in out.output


def test_a_transport_failure_exits_4(ledger: FakeSession) -> None:
    ledger.fail = EndorseError("failed to connect to all addresses",
                               grpc.StatusCode.UNAVAILABLE)
    out = tanpo("margin", "run", "--date", DAY.isoformat())
    assert out.exit_code == 4
    assert "failed: failed to connect to all addresses" in out.output


def test_no_network_exits_4(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_profile(party: str, user: str) -> MarginSession:
        raise ProfileError("no connection profile at .state/network: is the network up?")

    monkeypatch.setattr(cli_margin, "open_session", no_profile)
    out = tanpo("prices", "show", "--date", DAY.isoformat(), "--json")
    assert out.exit_code == 4
    assert json.loads(out.stdout)["error"] == {
        "kind": "failed",
        "message": "no connection profile at .state/network: is the network up?"}


@pytest.mark.parametrize("args", [
    ["margin", "run", "--date", "2024-13-01"],
    ["margin", "run"],
    ["margin", "show", "AGR-1", "--date", "yesterday"],
    ["margin", "run", "--date", "2024-01-03", "--page-size", "0"],
    ["prices", "show", "--date", "2024-01-03", "--version", "0"],
    ["--as", "/User2", "margin", "show", "AGR-1"],
])
def test_bad_usage_exits_2(ledger: FakeSession, args: list[str]) -> None:
    out = tanpo(*args)
    assert out.exit_code == 2, out.output
    assert not ledger.calls


# ---- margin show ----------------------------------------------------------------------------


def test_show_lists_the_calls_in_date_order(ledger: FakeSession) -> None:
    day2 = DAY + timedelta(days=1)
    ledger.records[("AGR-1", day2)] = record("AGR-1", day2, transfers=[], settled=[])
    ledger.records[("AGR-1", DAY)] = record("AGR-1", DAY)
    doc = json.loads(tanpo("margin", "show", "AGR-1", "--json").output)
    assert doc["agreement"] == "AGR-1"
    assert [c["date"] for c in doc["calls"]] == ["2024-01-03", "2024-01-04"]
    one = json.loads(tanpo("margin", "show", "AGR-1", "--date", "2024-01-04", "--json").output)
    assert [c["date"] for c in one["calls"]] == ["2024-01-04"]
    table = tanpo("margin", "show", "AGR-1").output
    assert "2024-01-03" in table and "2024-01-04" in table and "values in USD" in table
    assert identities(ledger)[0] == ("bank-a", "User1")


def test_show_of_a_date_without_a_call_is_refused(ledger: FakeSession) -> None:
    out = tanpo("margin", "show", "AGR-1", "--date", "2024-01-09")
    assert out.exit_code == 3
    assert "no margin call of agreement AGR-1 on 2024-01-09" in out.output


def test_show_without_calls(ledger: FakeSession) -> None:
    out = tanpo("margin", "show", "AGR-2")
    assert out.exit_code == 0 and "no margin calls recorded for AGR-2" in out.output
    assert json.loads(tanpo("margin", "show", "AGR-2", "--json").output)["calls"] == []


# ---- prices ---------------------------------------------------------------------------------


def test_post_builds_one_batch_as_the_oracle(ledger: FakeSession) -> None:
    out = tanpo("prices", "post", "--date", "2024-01-05", "--price", "DE-BUND=101.00",
                "--price", "US-STOCK=50.40", "--fx", "EURUSD=1.1050", "--source", "desk")
    assert out.exit_code == 0, out.output
    assert identities(ledger) == [("operator", "User1")]
    (_, batch, reason), = ledger.calls
    assert batch == {"date": "2024-01-05", "source": "desk",
                     "prices": {"DE-BUND": "101.00", "US-STOCK": "50.40"},
                     "fx": {"EURUSD": "1.1050"}}
    assert reason is None
    assert "posted 2024-01-05: version 1 (initial), 2 price(s), 1 FX rate(s)" in out.output


def test_post_again_is_no_change_and_a_different_value_is_refused(ledger: FakeSession) -> None:
    out = tanpo("prices", "post", "--date", DAY.isoformat(), "--price", "DE-BUND=101",
                "--json")
    assert out.exit_code == 0
    assert json.loads(out.output)["changed"] is False
    assert "no change" in tanpo("prices", "post", "--date", DAY.isoformat(),
                                "--price", "DE-BUND=101").output
    out = tanpo("prices", "post", "--date", DAY.isoformat(), "--price", "DE-BUND=102")
    assert out.exit_code == 3
    assert "use CorrectPrices with a reason" in out.output


def test_a_reason_makes_a_correction(ledger: FakeSession) -> None:
    out = tanpo("prices", "post", "--date", DAY.isoformat(), "--price", "DE-BUND=102",
                "--reason", "vendor restated the close", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["kind"] == "correction"
    assert ledger.calls[-1][0] == "correct" and ledger.calls[-1][2] == "vendor restated the close"


def test_post_from_a_file_keeps_values_exact(ledger: FakeSession, tmp_path: Path) -> None:
    batch = tmp_path / "batch.json"
    batch.write_text('{"date": "2024-01-05", "source": "file", "prices": {"A": 101.25, '
                     '"B": {"value": "7.10", "asOf": "2024-01-04"}, "C": 1e2}, '
                     '"fx": {"USDJPY": "141.5"}}')
    out = tanpo("prices", "post", "--date", "2024-01-05", "--file", str(batch),
                "--price", "D=3", "--fx", "EURUSD=1.1")
    assert out.exit_code == 0, out.output
    (_, sent, _), = ledger.calls
    assert sent == {"date": "2024-01-05", "source": "file",
                    "prices": {"A": "101.25", "B": {"value": "7.10", "asOf": "2024-01-04"},
                               "C": "100", "D": "3"},
                    "fx": {"USDJPY": "141.5", "EURUSD": "1.1"}}


@pytest.mark.parametrize(("content", "extra", "message"), [
    ('{"date": "2024-01-06", "prices": {"A": "1"}}', [], "is for 2024-01-06"),
    ('{"prices": {"A": "1"}}', ["--price", "A=2"], "A is 1 in --file but 2 here"),
    ('{"prices": {"A": "-1"}}', [], "is not a decimal number"),
    ('{"prices": {"A": true}}', [], "is not a decimal number"),
    ('{"prices": ["A"]}', [], "prices must be an object"),
    ('{"prices": {}, "when": 1}', [], "unknown key(s) when"),
    ("not json", [], "is not JSON"),
])
def test_a_bad_batch_file_exits_2(ledger: FakeSession, tmp_path: Path, content: str,
                                  extra: list[str], message: str) -> None:
    batch = tmp_path / "batch.json"
    batch.write_text(content)
    out = tanpo("prices", "post", "--date", "2024-01-05", "--file", str(batch), *extra)
    assert out.exit_code == 2, out.output
    assert message in out.output
    assert not ledger.calls


@pytest.mark.parametrize(("args", "message"), [
    (["--price", "DE-BUND"], "expected KEY=VALUE"),
    (["--price", "DE-BUND=1e2"], "is not a decimal number"),
    (["--price", "DE-BUND=1", "--price", "DE-BUND=2"], "DE-BUND is given twice"),
    (["--fx", "EUR=1.1"], "not a market pair"),
    ([], "nothing to post"),
    (["--price", "A=1", "--reason", " "], "a correction needs a reason"),
])
def test_bad_price_options_exit_2(ledger: FakeSession, args: list[str], message: str) -> None:
    out = tanpo("prices", "post", "--date", "2024-01-05", *args)
    assert out.exit_code == 2, out.output
    assert message in out.output
    assert not ledger.calls


def test_prices_show_table_and_json(ledger: FakeSession) -> None:
    tanpo("prices", "post", "--date", DAY.isoformat(), "--price", "JP8306=602.5")
    out = tanpo("prices", "show", "--date", DAY.isoformat())
    assert out.exit_code == 0, out.output
    assert "version 2 of 2 (addition)" in out.output
    assert "posted by OperatorMSP User1@operator.tanpo.net" in out.output
    for text in ("DE-BUND", "101", "US-STOCK", "50.4", "2024-01-02", "EURUSD", "1.105",
                 "JP8306", "602.5"):
        assert text in out.output, text
    doc = json.loads(tanpo("prices", "show", "--date", DAY.isoformat(), "--version", "1",
                           "--json").output)
    assert doc["version"] == 1 and "JP8306" not in doc["prices"]
    assert doc["prices"]["US-STOCK"] == "50.4"
    assert identities(ledger)[-1] == ("bank-a", "User1")


def test_prices_show_of_a_date_without_prices_is_refused(ledger: FakeSession) -> None:
    out = tanpo("prices", "show", "--date", "2024-02-01")
    assert out.exit_code == 3 and "no prices posted for 2024-02-01" in out.output


# ---- display --------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    (Fraction(1_116_050), "1,116,050"),
    (Fraction("1116057.6"), "1,116,057.6"),
    (Fraction(-38, 5), "-7.6"),
    (Fraction(1, 8), "0.125"),
    (Fraction(-1_000_000, 3), "≈-333,333.333333"),
    (Fraction(2, 3), "≈0.666667"),
    (0, "0"),
])
def test_show_value(value: Fraction, text: str) -> None:
    assert show_value(value) == text
