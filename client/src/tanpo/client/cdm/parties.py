"""Who is who in a CDM trade: its parties mapped to tanpo parties, and the lender and the borrower.

Real trades name parties by LEI, by name, or by the document's own key, and an agent lender often
acts for funds (its principals). A party map (YAML) says which tanpo party each one is::

    parties:
      KTKLLEILLLLLLLLLLLLL: bank-a     # an LEI: KTKL, agent lender for its funds
      CP001LEI111111111111: bank-b
      UK Lender: bank-a                # a name
      UKBroker: bank-b                 # the document's party key (@key:external)

A party is looked up by its document key, then each of its identifiers (LEI …), then its name; a
party already written by tanpo (partyId scheme ``tanpo:party``) needs no entry.

Roles: ``partyRole`` Lender and Borrower when the trade has them. Without them the AssetPayout's
payer is the lender (it delivers the securities, as in the ISLA samples) and its receiver the
borrower. A lender with no entry of its own is represented by the trade's agent lender
(``partyRole`` AgentLender) when that one has an entry: the agent's tanpo party acts for its
principal, and the principal is kept in the terms' ``cdmExtras`` (``principal``) so an export
names it again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tanpo.client.cdm.jsontext import PARTY_SCHEME, At, CdmError, Json, show

_TANPO_PARTY = re.compile(r"[a-z][a-z0-9-]{0,62}")
_TANPO_BANK = re.compile(r"bank-[a-z0-9]+")


@dataclass(frozen=True)
class PartyMap:
    """CDM party (document key, identifier such as an LEI, or name) → tanpo party."""

    entries: Mapping[str, str]

    @classmethod
    def empty(cls) -> PartyMap:
        return cls({})

    @classmethod
    def from_json(cls, doc: Any, where: str = "the party map") -> PartyMap:
        if not isinstance(doc, dict) or not isinstance(doc.get("parties"), dict):
            raise ValueError(f"{where}: expected a mapping with a 'parties' mapping "
                             "(CDM party: tanpo party)")
        entries: dict[str, str] = {}
        for key, value in doc["parties"].items():
            if not isinstance(value, str) or not _TANPO_PARTY.fullmatch(value):
                raise ValueError(f"{where}: parties.{key}: expected a tanpo party such as "
                                 f"bank-a, got {value!r}")
            entries[str(key)] = value
        unknown = sorted(set(doc) - {"parties"})
        if unknown:
            raise ValueError(f"{where}: unknown key {unknown[0]!r}; expected only 'parties'")
        return cls(entries)

    @classmethod
    def load(cls, path: Path) -> PartyMap:
        """A party map file (JSON, or YAML with PyYAML); ValueError saying what is wrong."""
        from tanpo.client.datafile import read_data_file

        return cls.from_json(read_data_file(path), str(path))

    def lookup(self, party: At) -> str | None:
        """The tanpo party a CDM Party stands for, or None."""
        obj = party.obj()
        for key in _keys(obj):
            if key in self.entries:
                return self.entries[key]
        ids = [_id_value(i) for i in _list(obj.get("partyId"))]
        for value, scheme in ids:
            if scheme == PARTY_SCHEME and value:
                return value
            if value in self.entries:
                return self.entries[value]
        name = _data(obj.get("name"))
        if name and name in self.entries:
            return self.entries[name]
        # a tanpo party id without its scheme (as older tanpo exports wrote it)
        return next((value for value, _ in ids if _TANPO_BANK.fullmatch(value)), None)


def describe(party: At) -> str:
    """A party as a person reads it: its name and identifiers."""
    obj = party.obj()
    name = _data(obj.get("name"))
    ids = [v for v, _ in (_id_value(i) for i in _list(obj.get("partyId"))) if v]
    keys = _keys(obj)
    parts = [repr(name)] if name else []
    if ids:
        parts.append("id " + ", ".join(ids))
    if keys:
        parts.append("key " + keys[0])
    return " ".join(parts) or show(obj)


@dataclass(frozen=True)
class Roles:
    lender: str
    borrower: str
    #: the principal the lender's tanpo party (an agent lender) acts for, as the CDM Party JSON
    principal: Json | None = None
    how: str = ""  # how the roles were found, for the report


def _data(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("@data", value.get("value"))
    return value if isinstance(value, str) else ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if isinstance(value, dict) else []


def _id_value(ident: Any) -> tuple[str, str]:
    if not isinstance(ident, dict):
        return "", ""
    inner = ident.get("identifier")
    scheme: Any = ""
    if isinstance(inner, dict):
        meta = inner.get("meta")
        scheme = inner.get("@scheme") or (meta.get("scheme") if isinstance(meta, dict) else "")
    return _data(inner), str(scheme or "")


def _keys(obj: Json) -> list[str]:
    keys = [str(obj[k]) for k in ("@key:external", "@key") if isinstance(obj.get(k), str)]
    meta = obj.get("meta")
    if isinstance(meta, dict):
        keys += [str(meta[k]) for k in ("externalKey", "globalKey") if isinstance(meta.get(k), str)]
    return keys


def _ref(ref: At) -> str | None:
    obj = ref.obj()
    for name in ("@ref:external", "@ref", "externalReference", "globalReference"):
        if isinstance(obj.get(name), str):
            return str(obj[name])
    keys = _keys(obj)
    return keys[0] if keys else None


def resolve_roles(trade: At, payer_receiver: At | None, parties: PartyMap) -> Roles:
    """The lender and the borrower of a Trade (or an ExecutionInstruction) as tanpo parties."""
    party_list = trade.get("party") or trade.get("parties")
    keyed: dict[str, At] = {}
    for party in party_list.items() if party_list is not None else []:
        party.mark()
        for key in _keys(party.obj()):
            keyed[key] = party

    def party_of(ref: At) -> At:
        if "partyId" in ref.obj() or "name" in ref.obj():  # the party itself, inline
            ref.mark()
            for key in _keys(ref.obj()):
                keyed.setdefault(key, ref)
            return ref
        target = _ref(ref)
        if target is None or target not in keyed:
            raise CdmError(ref.path, f"refers to party {target!r}, which the trade does not "
                           "define")
        ref.mark()
        return keyed[target]

    roles: dict[str, list[At]] = {}
    role_list = trade.get("partyRole") or trade.get("partyRoles")
    for entry in role_list.items() if role_list is not None else []:
        role = str(entry.need("role", "a party role").scalar())
        roles.setdefault(role, []).append(party_of(entry.need("partyReference", "the party")))
    sides: dict[str, At] = {}
    counterparties = trade.get("counterparty")
    for entry in counterparties.items() if counterparties is not None else []:
        side = str(entry.need("role", "Party1 or Party2").scalar())
        sides[side] = party_of(entry.need("partyReference", "the party"))

    how = "partyRole Lender and Borrower"
    if "Lender" in roles and "Borrower" in roles:
        lender_at, borrower_at = roles["Lender"][0], roles["Borrower"][0]
    elif ("Lender" in roles or "Borrower" in roles) and len(sides) == 2:
        # one role named: the other counterparty has the other
        role = "Lender" if "Lender" in roles else "Borrower"
        named = roles[role][0]
        other = next((p for p in sides.values() if p.path != named.path
                      and _keys(p.obj()) != _keys(named.obj())), None)
        if other is None:
            raise CdmError(trade.path, f"only the {role} is named, and no other counterparty")
        lender_at, borrower_at = (named, other) if role == "Lender" else (other, named)
        how = f"partyRole {role} and the other counterparty"
    else:
        if payer_receiver is None:
            raise CdmError(trade.path, "no partyRole Lender and Borrower, and no payout "
                           "payerReceiver to tell them apart")
        payer = str(payer_receiver.need("payer", "Party1 or Party2").scalar())
        receiver = str(payer_receiver.need("receiver", "Party1 or Party2").scalar())
        if payer not in sides or receiver not in sides:
            raise CdmError(payer_receiver.path, f"payer {payer} / receiver {receiver}: the trade's "
                           "counterparty list does not name both")
        lender_at, borrower_at = sides[payer], sides[receiver]
        how = "the AssetPayout's payer (lender) and receiver (borrower)"

    borrower = parties.lookup(borrower_at)
    if borrower is None:
        raise CdmError(borrower_at.path, "no tanpo party for the borrower "
                       f"{describe(borrower_at)}: add it to the party map (--parties)")
    lender = parties.lookup(lender_at)
    principal: Json | None = None
    if lender is None:
        for agent in roles.get("AgentLender", []):
            agent_party = parties.lookup(agent)
            if agent.path != lender_at.path and agent_party is not None:
                lender, principal = agent_party, lender_at.obj()
                how += f"; the agent lender {describe(agent)} acts for {describe(lender_at)}"
                break
    if lender is None:
        raise CdmError(lender_at.path, f"no tanpo party for the lender {describe(lender_at)}: "
                       "add it (or its agent lender) to the party map (--parties)")
    if lender == borrower:
        raise CdmError(trade.path, f"the lender and the borrower are both {lender}")
    return Roles(lender, borrower, principal, how)
