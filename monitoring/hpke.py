"""Sealing whistleblower reports to the regulator: HPKE (RFC 9180) in base
mode with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and AES-256-GCM, the
single-shot API (empty AAD; auxiliary data goes in ``info``, RFC 9180 §8.1).

Pure functions: no Django, so ``stagegate-sign`` (which holds the regulator's
private key) and the server share them. The HPKE itself is ``cryptography``'s
(``cryptography.hazmat.primitives.hpke``, since 47.0); tests check it against
RFC 9180's published vectors.

Wire format, all public:
- public key: the KEM's serialised public key (RFC 9180 §7.1.1: the raw 32
  X25519 bytes), standard base64 with padding;
- key id: lowercase hex SHA-256 of those 32 bytes;
- sealed report: ``enc || ciphertext`` (32-byte encapsulated key, then the
  AEAD output), standard base64;
- info: ``b"stagegate whistleblower report v2"``, then a zero byte and the
  cleartext system version id when the report names one, so the service
  cannot move a sealed report to another system unnoticed (opening fails);
- plaintext (v2): the report's UTF-8, then ``0x80`` and zero bytes up to the
  next multiple of 4,096 bytes (ISO/IEC 7816-4 padding), so a sealed report's
  length says only how many 4 KiB blocks it fills (most fill one) and not how
  long it is: a length can single a writer out. v1 (the same, unpadded, with
  ``v1`` in the info) still opens; the service accepts only padded reports.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

SUITE_NAME = "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM"
# RFC 9180 §7 identifiers: KEM 0x0020, KDF 0x0001, AEAD 0x0002.
SUITE_IDS = {"kem_id": 0x0020, "kdf_id": 0x0001, "aead_id": 0x0002}
INFO_PREFIX = b"stagegate whistleblower report v2"
INFO_PREFIX_V1 = b"stagegate whistleblower report v1"  # unpadded; still opens
PAD_BLOCK = 4096
ENC_LENGTH = 32
TAG_LENGTH = 16

_SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)


class SealError(ValueError):
    """A key or sealed report that is not well-formed, or does not open."""


def info_for(system_version_id: str | None, *, prefix: bytes = INFO_PREFIX) -> bytes:
    """The HPKE ``info``: binds the cleartext system version id, if any."""
    return prefix if not system_version_id else prefix + b"\x00" + str(system_version_id).encode("ascii")


def padded_length(length: int) -> int:
    """The padded size of a report of ``length`` bytes (room for the 0x80)."""
    return (length // PAD_BLOCK + 1) * PAD_BLOCK


def pad(plaintext: bytes) -> bytes:
    return plaintext + b"\x80" + bytes(padded_length(len(plaintext)) - len(plaintext) - 1)


def unpad(padded: bytes) -> bytes:
    stripped = padded.rstrip(b"\x00")
    if len(padded) % PAD_BLOCK or not stripped.endswith(b"\x80"):
        raise SealError("the report opened but its padding is malformed")
    return stripped[:-1]


def public_key_bytes(public_key: X25519PublicKey) -> bytes:
    return public_key.public_bytes_raw()


def public_key_b64(public_key: X25519PublicKey) -> str:
    return base64.b64encode(public_key_bytes(public_key)).decode("ascii")


def keyid_of(public_key: X25519PublicKey) -> str:
    return hashlib.sha256(public_key_bytes(public_key)).hexdigest()


def load_public_key_b64(text: str) -> X25519PublicKey:
    """A public key from its base64 form (32 raw bytes), or SealError."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError, AttributeError):
        raise SealError("the public key is not base64") from None
    if len(raw) != 32:
        raise SealError("an X25519 public key is 32 bytes")
    key = X25519PublicKey.from_public_bytes(raw)
    try:
        # Small-order points give an all-zero shared secret, which X25519 refuses.
        X25519PrivateKey.generate().exchange(key)
    except ValueError:
        raise SealError("that is not a usable X25519 public key") from None
    return key


def private_key_pem(private_key: X25519PrivateKey) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key_pem(data: bytes) -> X25519PrivateKey:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, X25519PrivateKey):
        raise SealError("not an X25519 private key")
    return key


def seal(plaintext: bytes, public_key: X25519PublicKey, *, system_version_id: str | None = None) -> bytes:
    """``enc || ciphertext`` of the padded report: only the holder of the
    private key can open it, and its length gives away only its 4 KiB blocks."""
    return _SUITE.encrypt(pad(plaintext), public_key, info=info_for(system_version_id))


def open_sealed(sealed: bytes, private_key: X25519PrivateKey, *, system_version_id: str | None = None) -> bytes:
    """The report (padding removed), from a v2 or a v1 sealed report."""
    if len(sealed) < ENC_LENGTH + TAG_LENGTH:
        raise SealError("too short to be a sealed report")
    try:
        padded = _SUITE.decrypt(sealed, private_key, info=info_for(system_version_id))
    except (InvalidTag, ValueError):
        pass
    else:
        return unpad(padded)
    try:
        return _SUITE.decrypt(sealed, private_key, info=info_for(system_version_id, prefix=INFO_PREFIX_V1))
    except (InvalidTag, ValueError):
        raise SealError("the report does not open with this key (wrong key, or altered)") from None


def decode_sealed(text: str, *, max_bytes: int) -> bytes:
    """A sealed report from base64, checked for shape (not opened: the
    service cannot open it)."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError, AttributeError):
        raise SealError("the ciphertext is not base64") from None
    if len(raw) < ENC_LENGTH + TAG_LENGTH:
        raise SealError("too short to be a sealed report")
    if len(raw) > max_bytes:
        raise SealError(f"a sealed report is at most {max_bytes} bytes")
    if (len(raw) - ENC_LENGTH - TAG_LENGTH) % PAD_BLOCK:
        raise SealError(f"the report is not padded to a multiple of {PAD_BLOCK} bytes (seal it with stagegate-sign)")
    return raw


def encode_sealed(sealed: bytes) -> str:
    return base64.b64encode(sealed).decode("ascii")
