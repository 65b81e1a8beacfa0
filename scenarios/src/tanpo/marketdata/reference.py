"""Reference data for the instruments of the shipped market data (``data/market``), by symbol.

A scenario token names its price series (``source: 8306.T``); a report also needs the asset
class, rating, index membership, bond terms and the stressed-history factor. A scenario file may
give ``asset_class`` and ``rating`` itself; otherwise these defaults apply.

* Japanese stocks 8306 (MUFG), 8604 (Nomura), 4901 (FUJIFILM), 7013 (IHI), 8031 (Mitsui & Co.)
  are Nikkei 225 constituents; AAPL, MSFT and JNJ are S&P 500 (and Dow Jones) constituents: all
  **main-index equities**. They move with their own 2008-2009 closes (``price:SYMBOL``).
* The synthetic bonds (``data/market/SOURCES.md``) are sovereign debt with the terms of
  :data:`tanpo.marketdata.build.BONDS`, rated with the issuer's S&P long-term foreign-currency
  sovereign rating during 2023: Japan **A+** (since September 2015), United States **AA+**
  (since August 2011), Germany **AAA**. They move with the 10-year benchmark yield of their
  market (``yield:JGB10Y``, ``yield:UST10Y``, ``yield:DE10Y``; ``data/market/stress/README.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tanpo.marketdata.build import BONDS
from tanpo.marketdata.instruments import AssetClass, BondTerms, TokenInfo, asset_class_of

__all__ = ["REFERENCE", "Reference", "describe_token", "reference_of"]


@dataclass(frozen=True, slots=True)
class Reference:
    asset_class: AssetClass
    factor: str
    main_index: bool = False
    rating: str | None = None
    bond: BondTerms | None = None
    issuer: str | None = None


def _equities() -> dict[str, Reference]:
    jp = {"8306.T", "8604.T", "4901.T", "7013.T", "8031.T"}
    us = {"AAPL", "MSFT", "JNJ"}
    return {s: Reference(AssetClass.EQUITY, f"price:{s}", main_index=True) for s in sorted(jp | us)}


_YIELD_OF = {"JGB-SYN-2033": "JGB10Y", "UST-SYN-2033": "UST10Y", "BUND-SYN-2033": "DE10Y"}
_SOVEREIGN = {
    "JGB-SYN-2033": ("A+", "Japan"),
    "UST-SYN-2033": ("AA+", "United States"),
    "BUND-SYN-2033": ("AAA", "Germany"),
}


def _bonds() -> dict[str, Reference]:
    out: dict[str, Reference] = {}
    for spec in BONDS:
        b = spec.bond
        rating, issuer = _SOVEREIGN[b.name]
        out[b.name] = Reference(
            AssetClass.SOVEREIGN_DEBT,
            f"yield:{_YIELD_OF[b.name]}",
            rating=rating,
            bond=BondTerms(b.coupon_pct, b.frequency, b.maturity),
            issuer=issuer,
        )
    return out


#: Reference data by market-data symbol.
REFERENCE: dict[str, Reference] = {**_equities(), **_bonds()}


def reference_of(symbol: str | None) -> Reference | None:
    return REFERENCE.get(symbol) if symbol is not None else None


def describe_token(
    token_id: str,
    kind: Literal["ST", "CT"],
    currency: str,
    quote: Literal["per-unit", "percent-of-par"],
    symbol: str | None,
    *,
    asset_class_text: object = None,
    rating_text: object = None,
    name: str | None = None,
    factor: str | None = None,
) -> TokenInfo:
    """A token's risk attributes: what its definition says, completed from the reference data of
    its market symbol (asset class, index membership, rating, bond terms, stress factor)."""
    ref = reference_of(symbol)
    if kind == "CT":
        cls = AssetClass.CASH
    elif asset_class_text is not None:
        cls = asset_class_of(str(asset_class_text), kind)
    else:
        cls = ref.asset_class if ref is not None else AssetClass.OTHER
    main_index = ref.main_index if ref is not None else False
    text = str(asset_class_text or "").lower()
    if "main" in text and "index" in text:
        main_index = True
    if factor is None and kind == "ST":
        if ref is not None:
            factor = ref.factor
        elif symbol is not None and not symbol.endswith(".csv"):
            factor = f"price:{symbol}"
    bond = ref.bond if ref is not None else None
    return TokenInfo(
        id=token_id,
        kind=kind,
        currency=currency,
        quote=quote,
        asset_class=cls,
        rating=str(rating_text) if rating_text else (ref.rating if ref is not None else None),
        main_index=main_index,
        maturity=bond.maturity if bond is not None else None,
        bond=bond,
        factor=factor if kind == "ST" else None,
        issuer=ref.issuer if ref is not None else None,
        name=name,
    )
