"""An agreement's life written as CDM BusinessEvents, so that a counterparty's CDM system can
follow it step by step, not only as a snapshot (``tanpo agreement export ID --cdm --events``).

`agreement_events` turns each history entry of an agreement (and each margin call that moved
collateral, when the calls are given) into a CDM ``BusinessEvent``, in order: the trade state
before (``instruction[0].before``), the primitive instructions of the step, and the trade state
after (``after[0]``, a `terms_to_cdm` TradeState carrying the trade identifier, the parties and
the loan and collateral quantities as they stand after the step). `agreement_workflow` wraps them
as the steps of a CDM ``Workflow`` (each a ``WorkflowStep`` with the ledger's timestamp and an
event identifier), the form the CDM's own settlement-workflow samples use for a series of events.

==========================  ======================================================================
tanpo action                CDM BusinessEvent
==========================  ======================================================================
PROPOSED                    ``execution`` (the proposed terms; no state yet, as `terms_to_cdm`)
APPROVED                    intent ContractFormation: ``contractFormation`` and ``transfer`` (the
                            opening exchange: the loan and the collateral), after Settled
REJECTED, WITHDRAWN         no primitive (the ``before`` state only), after Cancelled
RECALLED                    ``transfer``: an UnscheduledTransfer of type Recall of the recalled
                            quantity, borrower to lender, due on the recall's due date, status
                            Pending (CDM has no recall instruction; its transfer type Recall is
                            the lender's call for the securities back)
RETURNED (part)             intent Decrease: ``quantityChange`` Decrease by the returned quantity
                            and ``transfer`` (the loan back, type Return; the collateral released)
NOTICE_GIVEN                ``termsChange``: the product with the notice's effective date as its
                            termination date
SUBSTITUTED                 ``transfer``: the collateral in and out
BOUGHT_IN                   intent Decrease: ``quantityChange`` Decrease by the bought-in quantity
                            and ``transfer`` (collateral released); the collateral the lender
                            kept leaves the positions (``tanpoExtension.kept``)
CLOSED                      ``quantityChange`` Decrease of the loan still out (to 0) and
                            ``transfer`` (the closing exchange), after Closed with its closedState
                            (Matured at maturity or the end date; Terminated after an early
                            termination, a full return or a buy-in of the whole loan)
margin call (given)         ``transfer``: the call's collateral movements (Settled, or Pending
                            while a settlement lag runs)
any other action            no primitive: the trade is unchanged (requests, cancellations,
                            notices of failure, MATURED, disputes), the action in the extension
==========================  ======================================================================

Every event carries ``eventDate`` (the business date of the step: the ledger's timestamp in the
platform's default zone, or the call's date) and, in its extension ``tanpoExtension``, the tanpo
action and the history entry's index (``historyIndex``; a margin call has ``marginCallDate``), the
acting party, the transaction and the entry's note. The trade state after a step lists the step's
own transfers (``transferHistory``), not those of the steps before, so that a long life stays a
linear size. Quantities are whole token units; the collateral positions after a step count the
margin calls only when they are given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time

from tanpo.client.cdm.export import (
    asset_json,
    business_date,
    close_reason,
    quantity_json,
    terms_to_cdm,
)
from tanpo.client.cdm.jsontext import (
    CDM_VERSION,
    EXTENSION,
    EXTENSION_SCHEMA,
    TRADE_ID_ISSUER,
    Json,
)
from tanpo.client.models import (
    BUSINESS_TZ,
    Agreement,
    BuyIn,
    HistoryEntry,
    MarginCall,
    Token,
)

_EVENT_TYPE = "cdm.event.common.BusinessEvent"
_TRANSFER_TYPES = "cdm.event.common."

#: Actions that change nothing CDM records on the trade: their events carry the state only.
STATE_ONLY = ("TERMINATION_REQUESTED", "TERMINATION_CANCELLED", "SUBSTITUTION_REQUESTED",
              "SUBSTITUTION_CANCELLED", "RECALL_FAILED", "MATURED", "CLOSE_FAILED",
              "CALL_DISPUTED", "DISPUTE_RESOLVED")


@dataclass
class _Life:
    """What the events change, replayed step by step."""

    agreement: Agreement
    tokens: Mapping[str, Token]
    loan: int
    held: dict[str, int]
    status: str = "PROPOSED"
    end_date: date | None = None
    closed_on: date | None = None
    reason: str = ""
    buy_ins: list[BuyIn] = field(default_factory=list)
    opened: bool = False  # the opening exchange ran: the positions are the held ones

    def state(self) -> Json:
        terms = self.agreement.terms
        legs = tuple(replace(leg, quantity=self.held.get(leg.token, 0)) if self.opened else leg
                     for leg in terms.collateral)
        now = replace(terms, id=terms.id or self.agreement.id, loan_quantity=self.loan,
                      collateral=legs, end_date=self.end_date)
        return terms_to_cdm(now, self.tokens, self.status, self.closed_on, self.reason)


def agreement_events(agreement: Agreement, tokens: Mapping[str, Token],
                     margin_calls: Sequence[MarginCall] = ()) -> list[Json]:
    """The agreement's history (and its margin calls, when given) as CDM BusinessEvents."""
    life = _Life(agreement, tokens, _initial_loan(agreement), {},
                 end_date=agreement.terms.end_date, buy_ins=list(agreement.buy_ins))
    calls = sorted((c for c in margin_calls if c.transfers), key=_call_order)
    events: list[Json] = []
    for index, entry in enumerate(agreement.history):
        day = business_date(entry.timestamp)
        # a call goes before the first step after it (by date, then the ledger's timestamps)
        while calls and day is not None and life.opened and \
                _call_order(calls[0]) < (day, entry.timestamp):
            events.append(_call_event(life, calls.pop(0)))
        events.append(_entry_event(life, index, entry, day))
    events.extend(_call_event(life, call) for call in calls if life.opened)
    return events


def _call_order(call: MarginCall) -> tuple[date, str]:
    return call.date, str(call.raw.get("timestamp") or "")


def agreement_workflow(agreement: Agreement, tokens: Mapping[str, Token],
                       margin_calls: Sequence[MarginCall] = ()) -> Json:
    """The events as a CDM Workflow: one accepted WorkflowStep per event, in order."""
    steps: list[Json] = []
    for event in agreement_events(agreement, tokens, margin_calls):
        ext = event[EXTENSION]
        key = f"{agreement.id}-{len(steps) + 1}"
        body = {k: v for k, v in event.items() if k not in ("@model", "@version", "@type")}
        step: Json = {"@key": key, "businessEvent": body}
        if steps:
            step["previousWorkflowStep"] = {"@ref": steps[-1]["@key"]}
        # the ledger's timestamp; a call recorded without one: the start of its business day
        moment = ext.get("timestamp") or datetime.combine(
            date.fromisoformat(event["eventDate"]), time(), BUSINESS_TZ).isoformat()
        step["timestamp"] = [{"dateTime": moment, "qualification": "eventCreationDateTime"}]
        step["eventIdentifier"] = [{"issuer": {"@data": TRADE_ID_ISSUER},
                                    "assignedIdentifier": [{"identifier": {"@data": key}}]}]
        step["action"] = "New"
        steps.append(step)
    return {"@model": "cdm", "@type": "cdm.event.workflow.Workflow", "@version": CDM_VERSION,
            "steps": steps}


# ---- replaying the history -------------------------------------------------------------------

def _raw_entry(agreement: Agreement, index: int) -> Json:
    history = agreement.raw.get("history") if isinstance(agreement.raw, dict) else None
    entry = history[index] if isinstance(history, list) and index < len(history) else None
    return dict(entry) if isinstance(entry, dict) else {}


def _transfers(agreement: Agreement, index: int) -> list[Json]:
    return [t for t in _raw_entry(agreement, index).get("transfers") or []
            if isinstance(t, dict)]


def _initial_loan(agreement: Agreement) -> int:
    """The loan as approved: the opening exchange's, else today's plus what went back since."""
    for index, entry in enumerate(agreement.history):
        if entry.action == "APPROVED":
            for t in _transfers(agreement, index):
                if t.get("leg") == "loan":
                    return int(t["quantity"])
    back = sum(int(t["quantity"]) for i, e in enumerate(agreement.history)
               if e.action == "RETURNED" for t in _transfers(agreement, i)
               if t.get("leg") == "loan")
    bought = sum(b.quantity for b in agreement.buy_ins)
    return agreement.terms.loan_quantity + back + bought


@dataclass
class _Step:
    """One history entry being written: its primitives, intent and extension extras."""

    index: int
    entry: HistoryEntry
    day: date | None
    moved: list[Json]
    primitive: Json = field(default_factory=dict)
    intent: str = ""
    extra: Json = field(default_factory=dict)


def _entry_event(life: _Life, index: int, entry: HistoryEntry, day: date | None) -> Json:
    step = _Step(index, entry, day, _transfers(life.agreement, index))
    before = None if entry.action == "PROPOSED" else life.state()
    apply = _APPLY.get(entry.action)
    if apply is not None:
        apply(life, step)
    if step.moved:
        _settle(life, step)
    life.status = entry.status or life.status
    after = life.state()
    if entry.action == "PROPOSED":
        step.primitive["execution"] = _execution(after["trade"])
    elif entry.action == "NOTICE_GIVEN" and life.end_date is not None:
        step.primitive["termsChange"] = {"product": after["trade"]["product"]}
    if "transfer" in step.primitive:
        after["transferHistory"] = step.primitive["transfer"]["transferState"]
    ext: Json = {"action": entry.action, "historyIndex": index, "party": entry.party,
                 "txId": entry.tx_id, "timestamp": entry.timestamp}
    if entry.note:
        ext["note"] = entry.note
    return _event(life.agreement, step.intent, day, before, step.primitive, after,
                  {**ext, **step.extra})


def _approved(life: _Life, step: _Step) -> None:
    terms = life.agreement.terms
    step.intent = "ContractFormation"
    step.primitive["contractFormation"] = {}
    life.opened = True
    if not step.moved:  # an agreement read without its raw history: the terms' exchange
        step.moved = [_raw_move(terms.loan_token, life.loan, terms.lender, terms.borrower,
                                "loan")]
        step.moved += [_raw_move(leg.token, leg.quantity, terms.borrower, terms.lender)
                       for leg in terms.collateral if leg.quantity > 0]


def _recalled(life: _Life, step: _Step) -> None:
    a = life.agreement
    recall_id = close_reason(step.entry.note)  # "R1: 400 JP8306 due …"
    recall = next((r for r in a.recalls if r.id == recall_id), None)
    if recall is None:
        return
    step.primitive["transfer"] = {"transferState": [_transfer_state(
        life, a.terms.loan_token, recall.quantity, a.terms.borrower, a.terms.lender,
        recall.due.isoformat(), "Pending", "Recall")]}
    step.extra["recall"] = recall.id


def _returned(life: _Life, step: _Step) -> None:
    step.intent = "Decrease"
    quantity = _loan_moved(step.moved, step.entry.note)
    step.primitive["quantityChange"] = _decrease(life, quantity)
    life.loan -= quantity


def _bought_in(life: _Life, step: _Step) -> None:
    step.intent = "Decrease"
    quantity = life.buy_ins[0].quantity if life.buy_ins else 0
    step.primitive["quantityChange"] = _decrease(life, quantity)
    life.loan -= quantity
    step.extra["kept"] = _keep(life)


def _notice(life: _Life, step: _Step) -> None:
    notice = life.agreement.notice
    if notice is not None:
        life.end_date = notice.effective
        return
    with suppress(ValueError, IndexError):  # the note: "ends on 2024-02-15"
        life.end_date = date.fromisoformat(step.entry.note.split()[-1])


def _closed(life: _Life, step: _Step) -> None:
    terms = life.agreement.terms
    reason = close_reason(step.entry.note)
    if reason == "buy-in":  # the whole loan left was bought in: what it kept goes
        step.extra["kept"] = _keep(life)
    if not step.moved:  # read without its raw history: the closing exchange returns it all
        if life.loan > 0:
            step.moved.append(_raw_move(terms.loan_token, life.loan, terms.borrower,
                                        terms.lender, "loan"))
        step.moved += [_raw_move(token, held, terms.lender, terms.borrower)
                       for token, held in life.held.items() if held > 0]
    if life.loan > 0:
        step.primitive["quantityChange"] = _decrease(life, life.loan)
    life.loan = 0
    life.closed_on = step.day
    life.reason = reason


_APPLY = {"APPROVED": _approved, "RECALLED": _recalled, "RETURNED": _returned,
          "BOUGHT_IN": _bought_in, "NOTICE_GIVEN": _notice, "CLOSED": _closed}


def _settle(life: _Life, step: _Step) -> None:
    """The step's token movements as settled transfers; collateral moves the positions."""
    on = (step.day or date.min).isoformat()
    states = []
    for t in step.moved:
        loan_back = t.get("leg") == "loan" and step.entry.action in ("RETURNED", "CLOSED")
        states.append(_transfer_state(life, t["token"], int(t["quantity"]),
                                      str(t.get("from", "")), str(t.get("to", "")), on,
                                      "Settled", "Return" if loan_back else ""))
        if t.get("leg") == "collateral":
            _move(life, t["token"], int(t["quantity"]), str(t.get("to", "")))
    step.primitive.setdefault("transfer", {"transferState": []})["transferState"].extend(states)


def _raw_move(token: str, quantity: int, sender: str, receiver: str,
              leg: str = "collateral") -> Json:
    """A movement as the chaincode's history records it."""
    return {"token": token, "quantity": str(quantity), "from": sender, "to": receiver,
            "leg": leg}


def _call_event(life: _Life, call: MarginCall) -> Json:
    a = life.agreement
    before = life.state()
    pending = {(t.token, t.quantity, t.direction) for t in call.pending}
    states = []
    for t in call.transfers:
        to_lender = t.direction == "borrower->lender"
        sender = t.sender or (a.terms.borrower if to_lender else a.terms.lender)
        receiver = t.receiver or (a.terms.lender if to_lender else a.terms.borrower)
        settle = (t.settle_date or call.date).isoformat()
        status = "Pending" if (t.token, t.quantity, t.direction) in pending else "Settled"
        states.append(_transfer_state(life, t.token, t.quantity, sender, receiver, settle,
                                      status, ""))
        _move(life, t.token, t.quantity, receiver)
    after = life.state()
    after["transferHistory"] = states
    ext = {"action": "MARGIN_CALL", "marginCallDate": call.date.isoformat(), "txId": call.tx_id}
    if call.raw.get("timestamp"):
        ext["timestamp"] = str(call.raw["timestamp"])
    return _event(a, "", call.date, before, {"transfer": {"transferState": states}}, after, ext)


def _event(a: Agreement, intent: str, day: date | None, before: Json | None, primitive: Json,
           after: Json, ext: Json) -> Json:
    instruction: Json = {}
    if primitive:
        instruction["primitiveInstruction"] = primitive
    if before is not None:
        instruction["before"] = before
    event: Json = {"@model": "cdm", "@type": _EVENT_TYPE, "@version": CDM_VERSION}
    if intent:
        event["intent"] = intent
    event["eventDate"] = (day or date.min).isoformat()
    event["instruction"] = [instruction]
    event["after"] = [after]
    event[EXTENSION] = {"schema": EXTENSION_SCHEMA, "agreement": a.id, **ext}
    return event


# ---- the pieces ------------------------------------------------------------------------------

def _transfer_state(life: _Life, token_id: str, quantity: int, payer: str, receiver: str,
                    settle: str, status: str, kind: str) -> Json:
    token = life.tokens[token_id] if token_id in life.tokens else _missing(token_id)
    transfer: Json = {
        "@type": _TRANSFER_TYPES + "UnscheduledTransfer",
        "quantity": quantity_json(quantity, token),
        "asset": asset_json(token),
        "settlementDate": {"adjustedDate": settle},
        "payerReceiver": {"payerPartyReference": {"@ref:external": payer},
                          "receiverPartyReference": {"@ref:external": receiver}},
    }
    if kind:
        transfer["transferType"] = kind
    return {"transfer": transfer, "transferStatus": status}


def _missing(token_id: str) -> Token:
    raise ValueError(f"token {token_id} is not defined on the ledger")


def _move(life: _Life, token: str, quantity: int, receiver: str) -> None:
    to_lender = receiver == life.agreement.terms.lender
    life.held[token] = life.held.get(token, 0) + (quantity if to_lender else -quantity)


def _loan_moved(moved: Sequence[Json], note: str) -> int:
    """The quantity a part return gave back: its loan transfer, else its note ("q of n …")."""
    loan = [int(t["quantity"]) for t in moved if t.get("leg") == "loan"]
    if loan:
        return sum(loan)
    first = note.split(" ", 1)[0]
    return int(first) if first.isdigit() else 0


def _keep(life: _Life) -> list[Json]:
    """The collateral the lender kept in the next buy-in: out of the positions."""
    if not life.buy_ins:
        return []
    buy_in = life.buy_ins.pop(0)
    for k in buy_in.kept:
        life.held[k.token] = life.held.get(k.token, 0) - k.quantity
    return [{"token": k.token, "quantity": str(k.quantity)} for k in buy_in.kept]


def _decrease(life: _Life, quantity: int) -> Json:
    loan = life.tokens[life.agreement.terms.loan_token]
    return {"change": [{"quantity": quantity_json(quantity, loan)}], "direction": "Decrease"}


def _execution(trade: Json) -> Json:
    """The execution of a trade: its product, price and quantity, parties and identifiers."""
    execution: Json = {
        "product": trade["product"],
        "priceQuantity": trade["tradeLot"][0]["priceQuantity"],
        "counterparty": trade["counterparty"],
        "parties": trade["party"],
        "partyRoles": trade["partyRole"],
        "executionDetails": {"executionType": "OffFacility"},
        "tradeDate": trade["tradeDate"],
    }
    if "tradeIdentifier" in trade:
        execution["tradeIdentifier"] = trade["tradeIdentifier"]
    return execution


__all__ = ["STATE_ONLY", "agreement_events", "agreement_workflow", "business_date"]
