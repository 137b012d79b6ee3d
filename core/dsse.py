"""DSSE (Dead Simple Signing Envelope, secure-systems-lab/dsse v1) with Ed25519.
Pure functions: no Django, so the ``stagegate-sign`` tool and any verifier use
the same code as the server.

- The signature is over PAE(payloadType, payload), the pre-authentication
  encoding ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`` where LEN is
  the ASCII decimal byte length.
- The envelope is JSON: ``{"payload": b64, "payloadType": str,
  "signatures": [{"keyid": str, "sig": b64}]}`` (standard base64 with padding).
- ``keyid`` is the lowercase hex SHA-256 of the raw 32-byte Ed25519 public key.
  It is a hint for finding the key, never trusted on its own: verification
  always uses the public key the verifier holds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


class EnvelopeError(ValueError):
    """The envelope is not well-formed DSSE JSON."""


def pae(payload_type: str, payload: bytes) -> bytes:
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


@dataclass(frozen=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "payloadType": self.payload_type,
            "signatures": [{"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")} for s in self.signatures],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise EnvelopeError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        # DSSE allows URL-safe base64 too; accept it, refuse anything else.
        try:
            return base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise EnvelopeError(f"{what} is not valid base64") from None


def envelope_from_dict(data: Any) -> Envelope:
    if not isinstance(data, dict):
        raise EnvelopeError("the envelope must be a JSON object")
    payload_type = data.get("payloadType")
    if not isinstance(payload_type, str) or not payload_type:
        raise EnvelopeError("payloadType must be a non-empty string")
    payload = _b64(data.get("payload"), "payload")
    raw_sigs = data.get("signatures")
    if not isinstance(raw_sigs, list) or not raw_sigs:
        raise EnvelopeError("signatures must be a non-empty list")
    sigs = []
    for s in raw_sigs:
        if not isinstance(s, dict) or not isinstance(s.get("keyid", ""), str):
            raise EnvelopeError("each signature must be an object with a string keyid and a base64 sig")
        sigs.append(Signature(keyid=s.get("keyid", ""), sig=_b64(s.get("sig"), "sig")))
    return Envelope(payload_type=payload_type, payload=payload, signatures=tuple(sigs))


def envelope_from_json(text: str | bytes) -> Envelope:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise EnvelopeError("the envelope is not JSON") from None
    return envelope_from_dict(data)


# Keys


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def keyid_of(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public_key(key)).hexdigest()


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def load_public_key_pem(pem: str | bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from SubjectPublicKeyInfo PEM; ValueError otherwise."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise ValueError("not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def load_private_key_pem(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return key


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# Signing and verifying


def sign(payload_type: str, payload: bytes, key: Ed25519PrivateKey) -> Envelope:
    sig = key.sign(pae(payload_type, payload))
    return Envelope(payload_type, payload, (Signature(keyid=keyid_of(key.public_key()), sig=sig),))


def verify(envelope: Envelope, key: Ed25519PublicKey) -> bool:
    """Whether some signature on the envelope verifies with ``key`` over the PAE."""
    message = pae(envelope.payload_type, envelope.payload)
    for s in envelope.signatures:
        try:
            key.verify(s.sig, message)
            return True
        except InvalidSignature:
            continue
    return False
