"""What a CDM document asks of the ledger: each trade state and event in it, mapped to tanpo terms
or to the ledger action that does the same.

=================================  ================================================================
CDM                                tanpo
=================================  ================================================================
TradeState, Trade,                 the agreement's terms (`agreement propose`); a Closed state is
ExecutionInstruction               the agreement closed (its quantity may then be 0)
BusinessEvent with an execution    `agreement propose` of the executed trade
BusinessEvent, intent Allocation   `agreement propose` of each allocated trade (a fund's, or its
(split into partyChange +          agent lender's for it); the block trade is closed as Allocated
quantityChange)                    and never proposed
BusinessEvent, intent              `agreement withdraw` of the trade moved before settlement and
Reallocation                       `agreement propose` of the new allocation
quantityChange Decrease, return    `agreement return` (part; a return to 0 is the full return,
instruction (``returnInstruction``) which closes the agreement)
transfer instructions and          the settlement: on the ledger, the step's own transaction moves
WorkflowSteps with transfers       the tokens atomically (`agreement approve` for the opening
                                   exchange, `agreement return` for a return)
BillingInstruction,                `billing issue MONTH --with COUNTERPARTY` (the invoice's lines
SecurityLendingInvoice             are the pair's agreements; the ledger computes the amounts)
=================================  ================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tanpo.client.cdm.jsontext import At, CdmError, dumps, show, walk
from tanpo.client.cdm.parties import PartyMap
from tanpo.client.cdm.reader import Reading, _date, _token_of, _whole, extension, read_trade
from tanpo.client.models import Terms, Token


@dataclass
class Finding:
    """One trade state or event of a document and what it maps to."""

    path: str
    kind: str  # the CDM type
    action: str  # the tanpo terms or ledger action it maps to
    terms: Terms | None = None
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    refusal: CdmError | None = None


@dataclass
class _Context:
    tokens: Mapping[str, Token] | None
    parties: PartyMap
    findings: list[Finding] = field(default_factory=list)


def read_document(doc: Any, tokens: Mapping[str, Token] | None = None,
                  parties: PartyMap | None = None, seen: set[str] | None = None
                  ) -> list[Finding]:
    """Every trade state and event a CDM document holds, in document order."""
    ctx = _Context(tokens, parties or PartyMap.empty())
    root = At(doc, "$", seen if seen is not None else set())
    if not isinstance(doc, dict):
        raise CdmError("$", f"expected a CDM document (a JSON object), got {show(doc)}")
    for key in ("@model", "@type", "@version"):
        if key in doc:
            root.need(key, "").mark()
    obj = root.obj()
    if "steps" in obj:
        for step in root.need("steps", "").items():
            _workflow_step(step, ctx)
    elif "instruction" in obj or "after" in obj:
        _event(root, "BusinessEvent", ctx)
    elif "returnInstruction" in obj:
        _return_instruction(root, ctx)
    elif "billingRecord" in obj or "billingRecordInstruction" in obj:
        _billing(root, ctx)
    elif "trade" in obj:
        _trade_state(root, ctx, "TradeState")
    elif "product" in obj:
        kind = "ExecutionInstruction" if "parties" in obj or "priceQuantity" in obj else "Trade"
        _trade(root, ctx, kind, "agreement propose", holder=root)
    else:
        raise CdmError("$", "not a CDM document tanpo reads: expected a TradeState, Trade, "
                       "ExecutionInstruction, BusinessEvent, WorkflowStep list, "
                       "BillingInstruction or SecurityLendingInvoice (keys: "
                       f"{', '.join(sorted(obj)) or 'none'})")
    return ctx.findings


def proposed_terms(doc: Any, tokens: Mapping[str, Token] | None = None,
                   parties: PartyMap | None = None) -> Terms:
    """The terms a document proposes (``agreement propose --cdm``): a TradeState or Trade, or an
    event whose executed trade is the one to propose. Refused when the document proposes none,
    or several different ones (e.g. an allocation's trades: propose each from its own file)."""
    findings = read_document(doc, tokens, parties)
    proposals = [f for f in findings
                 if f.action.startswith(("agreement propose", "agreement active"))]
    for f in proposals:
        if f.refusal is not None:
            raise f.refusal
    distinct = {dumps(f.terms.to_json()): f.terms
                for f in proposals if f.terms is not None}
    if len(distinct) == 1:
        return next(iter(distinct.values()))
    where = ", ".join(f.path for f in proposals) or "none"
    raise CdmError("$", f"the document proposes {len(distinct)} different trades ({where}): "
                   "expected one (see `tanpo cdm check`)")


# -- trades --


def _trade(trade: At, ctx: _Context, kind: str, action: str, closed: bool = False,
           holder: At | None = None) -> Finding:
    """The terms of a trade; ``holder`` is the object that may carry tanpo's extension (the
    document's root TradeState)."""
    reading = Reading(ctx.tokens, ctx.parties, allow_zero=closed)
    finding = Finding(trade.path, kind, action)
    try:
        ext = extension(holder) if holder is not None else None
        finding.terms = read_trade(trade, reading, ext)
    except CdmError as exc:
        finding.refusal = exc
    finding.notes = reading.notes
    ctx.findings.append(finding)
    return finding


def _trade_state(state: At, ctx: _Context, kind: str = "TradeState",
                 action: str = "") -> Finding:
    position = walk(state, "state.positionState")
    status = str(position.scalar()) if position is not None else ""
    closed_at = walk(state, "state.closedState")
    closed = status == "Closed"
    if closed_at is not None:
        closed_at.mark()
        how = walk(closed_at, "state")
        status += f" ({how.scalar()})" if how is not None else ""
    if closed and action:
        action = f"agreement closed — {action}"
    if not action:
        action = ("agreement closed" if closed else
                  "agreement propose" if status in ("", "Executed", "Formed") else
                  "agreement active (approved; the opening exchange settled)")
    finding = _trade(state.need("trade", "the trade"), ctx, kind, action, closed, state)
    finding.path = state.path
    if status:
        finding.details["positionState"] = status
    names = _trade_parties(state.need("trade", ""), finding.terms, ctx)
    transfers = _transfers(state.get("transferHistory"), ctx, names)
    if transfers:
        finding.details["transfers"] = transfers
    resets = state.get("resetHistory")
    if resets is not None:
        finding.details["fixings"] = _fixings([
            obs for reset in resets.items() if reset.mark().get("observations") is not None
            for obs in reset.need("observations", "").items()])
    return finding


# -- events --


def _event(event: At, kind: str, ctx: _Context) -> None:
    before_count = len(ctx.findings)
    for key in ("eventDate", "effectiveDate"):
        found = event.get(key)
        if found is not None:
            _date(found)
    intent = event.get("intent")
    intent_name = str(intent.scalar()) if intent is not None else ""
    qualifier = event.get("eventQualifier")
    qualifier_name = str(qualifier.scalar()) if qualifier is not None else ""
    day = event.get("eventDate")
    when = f" on {day.scalar()}" if day is not None else ""
    instructions = event.get("instruction")
    primitives: list[str] = []
    before_refs: set[str] = set()
    for instruction in instructions.items() if instructions is not None else []:
        before = instruction.get("before")
        if before is not None and before.get("trade") is not None:
            applied = _trade_state(before, ctx, "TradeState (before)",
                                   "the agreement the event applies to")
            if applied.terms is not None and applied.terms.reference:
                before_refs.add(applied.terms.reference)
        primitive = instruction.need("primitiveInstruction", "the instruction")
        for name in primitive.obj():
            primitives.append(name)
            body = primitive.need(name, "")
            if name == "execution":
                _trade(body, ctx, "ExecutionInstruction", f"agreement propose{when}")
            elif name == "split":
                _split(body, intent_name, when, ctx)
            elif name == "transfer":
                finding = Finding(body.path, "TransferInstruction",
                                  f"settlement{when}: the ledger step moves these tokens "
                                  "atomically")
                names = _trade_parties(before.need("trade", ""), ctx.findings[-1].terms, ctx) if (
                    before is not None and before.get("trade") is not None) else {}
                finding.details["transfers"] = _transfers(body.get("transferState"), ctx, names)
                ctx.findings.append(finding)
            elif name == "quantityChange":
                _quantity_change(body, when, ctx)
            else:
                ctx.findings.append(Finding(body.path, name, "", refusal=CdmError(
                    body.path, f"a {name} instruction has no tanpo ledger action")))
    afters = event.get("after")
    for after in afters.items() if afters is not None else []:
        action = ""
        if "transfer" in primitives:
            action = "agreement settled (the step's transfers moved)"
        elif not primitives and after.get("transferHistory") is not None:
            action = f"the agreement after the event{when}, with its scheduled transfers"
        result = _trade_state(after, ctx, "TradeState (after)", action)
        if "split" in primitives and result.terms is not None:
            kept = result.terms.reference in before_refs
            result.action = (
                "agreement propose (the new allocation)" if not kept else
                "agreement withdraw of the pre-settled allocation, then propose it again with "
                "the quantity left" if intent_name == "Reallocation" else
                "the block trade after the split: closed as allocated, never proposed")
    if len(ctx.findings) == before_count:
        ctx.findings.append(Finding(event.path, kind, "", refusal=CdmError(
            event.path, "an event with no instruction and no trade state after it")))
    elif intent_name or qualifier_name:
        ctx.findings[-1].details.setdefault("intent", intent_name or qualifier_name)


def _split(split: At, intent: str, when: str, ctx: _Context) -> None:
    verb = "reallocate" if intent == "Reallocation" else "allocate"
    for part in split.need("breakdown", "the allocations").items():
        change = part.get("partyChange")
        quantity = part.get("quantityChange")
        finding = Finding(part.path, "SplitInstruction breakdown", "")
        if change is not None:
            change.mark()
            who = walk(change, "counterparty.partyReference")
            party = ctx.parties.lookup(who) if who is not None else None
            name = walk(change, "counterparty.partyReference.name")
            label = str(name.scalar()) if name is not None else "?"
            finding.details["to"] = (f"{party} ({label})" if party else
                                     f"{label} (booked by its agent lender's tanpo party)")
        if quantity is not None:
            quantity.mark()
            finding.details["quantities"] = [
                _whole(c.need("quantity", "").need("value", ""), allow_zero=True)
                for c in quantity.need("change", "").items()]
        finding.action = (f"{verb}{when}: agreement propose for {finding.details.get('to', '?')}"
                          if change is not None else f"{verb}{when}: the block's remainder")
        ctx.findings.append(finding)


def _quantity_change(change: At, when: str, ctx: _Context) -> None:
    direction = change.get("direction")
    name = str(direction.scalar()) if direction is not None else ""
    quantities = [_whole(c.need("quantity", "").need("value", ""), allow_zero=True)
                  for c in change.need("change", "the change").items()]
    action = {"Decrease": "agreement return", "Increase": "agreement propose (an increase is "
              "a new agreement)"}.get(name, f"quantity {name}")
    finding = Finding(change.path, "QuantityChangeInstruction", f"{action}{when}")
    change.mark()
    finding.details["quantities"] = quantities
    ctx.findings.append(finding)


def _workflow_step(step: At, ctx: _Context) -> None:
    for key in ("businessEvent", "proposedEvent"):
        event = step.get(key)
        if event is not None:
            _event(event, f"WorkflowStep.{key}", ctx)
    action = step.get("action")
    if action is not None and ctx.findings:
        ctx.findings[-1].details["workflowAction"] = action.scalar()


def _return_instruction(doc: At, ctx: _Context) -> None:
    state = _trade_state(doc.need("tradeState", "the trade state"), ctx)
    day = _date(doc.need("returnDate", "the return date"))
    returned: int | None = None
    quantities: list[str] = []
    for q in doc.need("returnInstruction", "").need("quantity", "the returned quantity").items():
        value = _whole(q.need("value", "the quantity"), allow_zero=True)
        currency = walk(q, "unit.currency")
        quantities.append(f"{value} {currency.scalar() if currency else 'units'}")
        if currency is None:  # the securities (the cash quantity is the collateral released)
            returned = value
    doc.need("returnInstruction", "").mark()
    if returned is None:
        raise CdmError(f"{doc.path}.returnInstruction.quantity", "no quantity of the loan's "
                       "securities (a financialUnit quantity)")
    loan = state.terms.loan_quantity if state.terms is not None else None
    full = returned == loan
    finding = Finding(doc.path, "ReturnInstruction",
                      f"agreement return on {day}" + (" (full: closes the agreement)" if full
                                                      else " (part)"))
    finding.details["quantities"] = quantities
    finding.details["returned"] = returned
    ctx.findings.append(finding)


# -- transfers, fixings, billing --


def _transfers(history: At | None, ctx: _Context, parties: Mapping[str, str]) -> list[str]:
    """Each transfer in words, its parties named as tanpo parties where the trade maps them."""
    out: list[str] = []
    for item in history.items() if history is not None else []:
        transfer = item.get("transfer") or item
        transfer.mark()
        quantity = transfer.need("quantity", "the quantity")
        amount = quantity.need("value", "").scalar()
        asset = transfer.get("asset")
        if asset is not None:
            what = _token_of(asset, ctx.tokens)
        else:
            unit = walk(quantity, "unit.currency") or walk(quantity, "unit.financialUnit")
            what = str(unit.scalar()) if unit is not None else "?"
        payer_receiver = transfer.get("payerReceiver")
        payer = receiver = "?"
        if payer_receiver is not None:
            payer = _party_name(payer_receiver.get("payerPartyReference"), parties)
            receiver = _party_name(payer_receiver.get("receiverPartyReference"), parties)
        settle = walk(transfer, "settlementDate.adjustedDate")
        on = f" on {settle.scalar()}" if settle is not None else ""
        out.append(f"{amount} {what} {payer} → {receiver}{on}")
    return out


def _party_name(ref: At | None, parties: Mapping[str, str]) -> str:
    key = ref.obj().get("@ref:external") or ref.obj().get("@ref") if ref is not None else None
    return parties.get(str(key), str(key or "?"))


def _trade_parties(trade: At, terms: Terms | None, ctx: _Context) -> dict[str, str]:
    """The trade's party keys → tanpo parties (a principal → its agent's party, the lender)."""
    out: dict[str, str] = {}
    party_list = trade.get("party") or trade.get("parties")
    principal = terms.cdm_extras.get("principal") if terms and terms.cdm_extras else None
    for party in party_list.items() if party_list is not None else []:
        name = ctx.parties.lookup(party)
        if name is None and terms is not None and party.value == principal:
            name = terms.lender
        for key in ("@key:external", "@key"):
            if name and isinstance(party.value.get(key), str):
                out[party.value[key]] = name
    return out


def _fixings(observations: list[At]) -> str:
    """Benchmark observations in words: how many, over which dates."""
    days = [_date(found) for obs in observations
            if (found := walk(obs, "observationIdentifier.observationDate")) is not None]
    if not days:
        return "none"
    return (f"{len(days)} benchmark fixings {min(days)}..{max(days)} (the oracle posts them "
            "with its prices)")


def _billing(doc: At, ctx: _Context) -> None:
    kind = "SecurityLendingInvoice" if "billingRecord" in doc.obj() else "BillingInstruction"
    start = _date(doc.need("billingStartDate", "the billing period's start"))
    end = _date(doc.need("billingEndDate", "the billing period's end"))
    sender = doc.need("sendingParty", "the party sending the invoice").mark()
    receiver = doc.need("receivingParty", "the party receiving it").mark()
    payee, payer = ctx.parties.lookup(sender), ctx.parties.lookup(receiver)
    records = doc.get("billingRecord") or doc.need("billingRecordInstruction", "the records")
    finding = Finding(doc.path, kind, "")
    if payee is None or payer is None:
        missing = sender if payee is None else receiver
        finding.refusal = CdmError(missing.path, "no tanpo party for this party: add it to the "
                                   "party map (--parties)")
    month = f"{start:%Y-%m}"
    if (start.day, end.month) != (1, start.month):
        finding.notes.append(f"the billing period {start}..{end} is not one calendar month: "
                             "tanpo invoices by month")
    finding.action = (f"billing issue {month} --with {payer} (as {payee}); the ledger invoices "
                      "the pair's month and computes each line")
    finding.details["lines"] = 0
    ctx.findings.append(finding)
    for record in records.items():
        for key in ("recordStartDate", "recordEndDate", "settlementDate"):
            found = record.get(key)
            if found is not None:
                _date(found)
        transfer = record.get("recordTransfer")
        if transfer is not None:
            transfer.mark()
        observations = record.get("observation")
        line = _trade_state(record.need("tradeState", "the billed trade"), ctx,
                            "TradeState (billed)", f"invoice line of billing {month}")
        if observations is not None:
            line.details["fixings"] = _fixings(observations.mark().items())
        finding.details["lines"] += 1
