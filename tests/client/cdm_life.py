"""An agreement's life as the chaincode records it, for the CDM event and rule tests: proposed,
approved, recalled and part returned, collateral substituted, notice given, a recall failed and
bought in, closed at the notice's end."""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from typing import Any

from tanpo.client.models import Agreement, CollateralLeg, MarginCall, Terms, Token

Json = dict[str, Any]

TOKENS = {t.id: t for t in (
    Token("JP8306", "ST", "JPY", "per-unit", "equity", isin="JP3902900004", ticker="8306"),
    Token("DE-BUND", "ST", "EUR", "percent-of-par", "government-bond", isin="DE0001102333"),
    Token("JPY", "CT", "JPY", "per-unit", "cash"),
    Token("USD", "CT", "USD", "per-unit", "cash"),
)}

TERMS = Terms(
    id="AGR-7", lender="bank-a", borrower="bank-b", loan_token="JP8306", loan_quantity=1000,
    collateral=(CollateralLeg("JPY", 1_100_000), CollateralLeg("USD", 0)), base_currency="JPY",
    haircut=Fraction(5, 100), threshold=Fraction(1, 100), mode="multi",
    trade_date=date(2024, 1, 2), start_date=date(2024, 1, 4), notice_days=14,
)


def _t(token: str, qty: int, sender: str, receiver: str, leg: str = "collateral") -> Json:
    return {"token": token, "quantity": str(qty), "from": sender, "to": receiver, "leg": leg,
            "held": leg == "collateral"}


A, B = "bank-a", "bank-b"
HISTORY: list[Json] = [
    {"action": "PROPOSED", "status": "PROPOSED", "party": A, "timestamp": "2024-01-02T01:00:00Z"},
    {"action": "APPROVED", "status": "ACTIVE", "party": B, "timestamp": "2024-01-04T01:00:00Z",
     "transfers": [_t("JP8306", 1000, A, B, "loan"), _t("JPY", 1_100_000, B, A)]},
    {"action": "RECALLED", "status": "ACTIVE", "party": A, "timestamp": "2024-01-10T01:00:00Z",
     "note": "R1: 400 JP8306 due 2024-01-12"},
    {"action": "RETURNED", "status": "ACTIVE", "party": B, "timestamp": "2024-01-12T01:00:00Z",
     "note": "400 of 1000 JP8306 returned on 2024-01-12",
     "transfers": [_t("JP8306", 400, B, A, "loan"), _t("JPY", 440_000, A, B)]},
    {"action": "SUBSTITUTION_REQUESTED", "status": "ACTIVE", "party": B,
     "timestamp": "2024-01-22T01:00:00Z", "note": "out JPY 100000; in USD 1000"},
    {"action": "SUBSTITUTED", "status": "ACTIVE", "party": A, "timestamp": "2024-01-23T01:00:00Z",
     "note": "out JPY 100000; in USD 1000",
     "transfers": [_t("USD", 1000, B, A), _t("JPY", 100_000, A, B)]},
    {"action": "NOTICE_GIVEN", "status": "ACTIVE", "party": A, "timestamp": "2024-02-01T01:00:00Z",
     "note": "ends on 2024-02-15"},
    {"action": "RECALLED", "status": "ACTIVE", "party": A, "timestamp": "2024-02-05T01:00:00Z",
     "note": "R2: 100 JP8306 due 2024-02-08"},
    {"action": "RECALL_FAILED", "status": "ACTIVE", "party": A,
     "timestamp": "2024-02-08T10:00:00Z", "note": "R2: 100 JP8306 unreturned, due 2024-02-08"},
    {"action": "BOUGHT_IN", "status": "ACTIVE", "party": A, "timestamp": "2024-02-09T01:00:00Z",
     "note": "100 JP8306 bought in on 2024-02-09: owed 110000.00 JPY, uncovered 0.00",
     "transfers": [_t("JPY", 5_000, A, B)]},
    {"action": "CLOSED", "status": "CLOSED", "party": "", "timestamp": "2024-02-15T10:00:00Z",
     "note": "maturity",
     "transfers": [_t("JP8306", 500, B, A, "loan"), _t("JPY", 465_000, A, B),
                   _t("USD", 1000, A, B)]},
]


def life() -> Agreement:
    """The agreement as ``GetAgreement`` returns it at the end (the loan is 500 after the part
    return and the buy-in)."""
    terms = TERMS.to_json()
    terms["loan"]["quantity"] = "500"
    return Agreement.from_json({
        "id": "AGR-7", "status": "CLOSED", "proposer": A, "terms": terms,
        "history": [{"txId": f"tx{i}", **h} for i, h in enumerate(HISTORY)],
        "recalls": [
            {"id": "R1", "date": "2024-01-10", "due": "2024-01-12", "quantity": "400",
             "returned": "400", "status": "SETTLED"},
            {"id": "R2", "date": "2024-02-05", "due": "2024-02-08", "quantity": "100",
             "returned": "0", "status": "BOUGHT_IN", "failedOn": "2024-02-08"},
        ],
        "notice": {"by": A, "date": "2024-02-01", "effective": "2024-02-15"},
        "buyIns": [{"date": "2024-02-09", "quantity": "100", "owed": "110000", "uncovered": "0",
                    "kept": [{"token": "JPY", "quantity": "110000",
                              "direction": "borrower->lender", "value": "110000",
                              "marketValue": "110000"}]}],
    })


def margin_call() -> MarginCall:
    """The call of 2024-01-20: the borrower delivers 20 000 JPY."""
    return MarginCall.from_json({
        "agreement": "AGR-7", "date": "2024-01-20", "triggered": True, "vl": "600000",
        "vcBefore": "620000", "vcAfter": "640000", "txId": "txc",
        "transfers": [{"token": "JPY", "quantity": "20000", "direction": "borrower->lender",
                       "from": B, "to": A, "value": "20000", "settleDate": "2024-01-20"}],
        "settled": [{"token": "JPY", "quantity": "20000", "direction": "borrower->lender",
                     "from": B, "to": A, "value": "20000", "settleDate": "2024-01-20"}],
    })
