"""Names shared by the chaincode, the launcher and the SDK for a pair of banks.

Every bilateral record (agreement terms, custody, margin calls) lives in the Fabric private data
collection of its two banks. The chaincode, the launcher (which defines the collections in the
chaincode definition) and the SDK (which targets the pair's peers) derive the same names here.
"""

from __future__ import annotations


def msp_id_for(party: str) -> str:
    """`operator` -> `OperatorMSP`, `bank-a` -> `BankAMSP`: the chaincode uses the same rule."""
    return "".join(p.capitalize() for p in party.split("-")) + "MSP"


def pair_collection(a: str, b: str) -> str:
    """The private data collection of two bank parties, in either order: `pair-bank-a-bank-b`."""
    if a == b:
        raise ValueError(f"a pair needs two different parties, got {a!r} twice")
    first, second = sorted((a, b))
    return f"pair-{first}-{second}"


def pair_endorsers(a: str, b: str) -> list[str]:
    """The MSP ids whose peers must endorse every change to the pair's records."""
    return sorted({msp_id_for(a), msp_id_for(b)})


def collection_parties(collection: str) -> tuple[str, str]:
    """The two parties of a pair collection's name (`pair-bank-a-bank-b` -> bank-a, bank-b)."""
    rest = collection.removeprefix("pair-")
    head, sep, tail = rest.partition("-bank-")
    if not collection.startswith("pair-bank-") or not sep:
        raise ValueError(f"not a pair collection: {collection!r}")
    return head, "bank-" + tail
