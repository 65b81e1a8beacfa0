"""Client identity and signing: an MSP ID with an X.509 certificate, and a signer for digests.

Signing is injected as a plain function (digest in, signature out) so a key can live in an HSM or
another process. The ECDSA signer always emits low-S signatures: Fabric rejects the high-S twin.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from fabric_protos.msp import identities_pb2

Signer = Callable[[bytes], bytes]
Hasher = Callable[[bytes], bytes]

# Curve orders; `cryptography` does not expose them.
_CURVE_ORDER = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
}


def sha256(message: bytes) -> bytes:
    return hashlib.sha256(message).digest()


@dataclass(frozen=True)
class Identity:
    """Who signs: the MSP ID and the PEM certificate, re-encoded as one clean PEM block."""

    msp_id: str
    certificate_pem: bytes

    @classmethod
    def from_certificate(cls, msp_id: str, pem: bytes) -> Identity:
        cert = x509.load_pem_x509_certificate(pem)
        return cls(msp_id, cert.public_bytes(serialization.Encoding.PEM))

    @classmethod
    def from_file(cls, msp_id: str, path: Path) -> Identity:
        return cls.from_certificate(msp_id, path.read_bytes())

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certificate_pem)

    def creator(self) -> bytes:
        """The serialized identity: computed the same way for every message that carries it."""
        message = identities_pb2.SerializedIdentity(
            mspid=self.msp_id, id_bytes=self.certificate_pem
        )
        return bytes(message.SerializeToString())


def ecdsa_signer(private_key: ec.EllipticCurvePrivateKey) -> Signer:
    """A signer over pre-hashed digests producing DER ECDSA signatures with low S."""
    curve = private_key.curve.name
    if curve not in _CURVE_ORDER:
        raise ValueError(f"unsupported curve {curve}; use P-256 or P-384")
    order = _CURVE_ORDER[curve]
    algorithm: hashes.HashAlgorithm = hashes.SHA256() if curve == "secp256r1" else hashes.SHA384()

    def sign(digest: bytes) -> bytes:
        der = private_key.sign(digest, ec.ECDSA(utils.Prehashed(algorithm)))
        r, s = utils.decode_dss_signature(der)
        if s > order // 2:
            s = order - s
        return utils.encode_dss_signature(r, s)

    return sign


def hasher_for(private_key: ec.EllipticCurvePrivateKey) -> Hasher:
    if private_key.curve.name == "secp384r1":
        return lambda m: hashlib.sha384(m).digest()
    return sha256


def load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: not an ECDSA private key")
    return key


def no_signer(digest: bytes) -> bytes:
    raise RuntimeError("no signer supplied: pass signer= when connecting")
