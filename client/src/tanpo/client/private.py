"""The calling convention of bilateral functions, whose arguments must never reach a block.

A bilateral function's arguments (terms, agreement ids, notes) travel in the transient field
``tanpo.args``, which Fabric leaves out of the transaction it orders, with only the function name
in the proposal; ``tanpo.pair`` names the pair's private collection, and the pair's two banks'
peers endorse (their collection's policy), so no other bank's peer ever sees the inputs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from tanpo.client.gateway import Contract, RetryPolicy, SubmitResult
from tanpo.client.pairs import collection_parties, msp_id_for, pair_endorsers

ARGS_FIELD = "tanpo.args"
PAIR_FIELD = "tanpo.pair"
BOOKS_FIELD = "tanpo.books"


def transient(args: Sequence[str], pair: str = "",
              books: Sequence[str] | None = None) -> dict[str, bytes]:
    """The transient fields of a bilateral call; ``books`` names each swept agreement's custody
    book (from the plan), so that the sweep reads their terms from the books' terms records."""
    fields = {ARGS_FIELD: json.dumps(list(args)).encode()}
    if pair:
        fields[PAIR_FIELD] = pair.encode()
    if books is not None:
        fields[BOOKS_FIELD] = json.dumps(list(books)).encode()
    return fields


def submit(contract: Contract, function: str, *args: str, pair: str,
           books: Sequence[str] | None = None, timeout: float | None = None,
           retries: Sequence[RetryPolicy] | None = None) -> SubmitResult:
    """Submit a bilateral function in ``pair``, endorsed by the pair's peers only."""
    return contract.submit(function, transient=transient(args, pair, books),
                           endorsing_organizations=pair_endorsers(*collection_parties(pair)),
                           timeout=timeout, retries=retries)


def evaluate(contract: Contract, function: str, *args: str, pair: str = "",
             on: str = "", books: Sequence[str] | None = None,
             timeout: float | None = None) -> bytes:
    """Evaluate a bilateral query on the caller's own peer, or on a peer of party ``on`` (the
    operator reads a pair's sweep plan on one of the pair's peers)."""
    return contract.evaluate(function, timeout=timeout, transient=transient(args, pair, books),
                             target_organizations=[msp_id_for(on)] if on else [])
