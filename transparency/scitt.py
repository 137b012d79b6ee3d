"""SCITT receipts for the transparency log: each entry's RFC 9162 inclusion
proof as a COSE Receipt (RFC 9942), the Receipt a SCITT Transparency Service
returns (RFC 9943), so a relying party can check an entry with standard COSE
tooling rather than ours.

Pure functions (no Django, no ORM): the server builds receipts with them and
``stagegate-sign verify-receipt`` checks them with the same code.

A receipt is a COSE_Sign1 (RFC 9052 §4.2), tag 18, with

- protected header (deterministically encoded CBOR, RFC 8949 §4.2.1):
  ``1 (alg): -8`` (EdDSA, the log's Ed25519 key), ``4 (kid)``: the 32-byte
  SHA-256 of the raw public key (the log's ``key_id`` as bytes),
  ``395 (vds): 1`` (RFC9162_SHA256), ``15 (CWT claims)``:
  ``{1 (iss): <log id>, 2 (sub): <entry URN>, 6 (iat): <tree head time, s>}``;
- unprotected header: ``396 (vdp): {-1 (inclusion proofs): [bstr .cbor
  [tree_size, leaf_index, [audit path hashes]]]}``;
- payload: nil (detached). The signed payload is the Merkle tree head of the
  tree of ``tree_size`` leaves, so a verifier must recompute it from the entry
  and the proof (RFC 9942 §4.4, §5.2.1) before the signature can verify.

The CBOR codec here is the small subset receipts need (integers, byte and
text strings, arrays, maps, tags, null, booleans), definite lengths only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

# COSE and COSE Receipts labels (RFC 9052 §3.1, RFC 9942 §2, RFC 9597 §2).
COSE_SIGN1_TAG = 18
HDR_ALG = 1
HDR_KID = 4
HDR_CWT_CLAIMS = 15
HDR_VDS = 395
HDR_VDP = 396
ALG_EDDSA = -8
VDS_RFC9162_SHA256 = 1
VDP_INCLUSION = -1
CWT_ISS = 1
CWT_SUB = 2
CWT_IAT = 6

MEDIA_TYPE = 'application/cose; cose-type="cose-sign1"'
SCITT_MEDIA_TYPE = "application/scitt-receipt+cose"

MAX_DEPTH = 16
MAX_ITEMS = 4096
MAX_PATH = 64  # an audit path in a tree of up to 2^64 leaves


class CborError(ValueError):
    """Not CBOR this decoder accepts."""


class ReceiptError(ValueError):
    """The receipt is malformed or does not verify."""


@dataclass(frozen=True)
class Tag:
    tag: int
    value: Any


# --- CBOR (RFC 8949) ---------------------------------------------------------


def _head(major: int, n: int) -> bytes:
    if n < 0:
        raise CborError("negative length or value")
    if n < 24:
        return bytes([major << 5 | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | info]) + n.to_bytes(size, "big")
    raise CborError("integer too large for CBOR")


def cbor_encode(value: Any) -> bytes:
    """Deterministic encoding (RFC 8949 §4.2.1): shortest heads, definite
    lengths, map keys sorted by the bytes of their encodings."""
    if value is None:
        return b"\xf6"
    if value is True:
        return b"\xf5"
    if value is False:
        return b"\xf4"
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return _head(2, len(raw)) + raw
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _head(3, len(raw)) + raw
    if isinstance(value, (list, tuple)):
        return _head(4, len(value)) + b"".join(cbor_encode(v) for v in value)
    if isinstance(value, dict):
        items = sorted((cbor_encode(k), cbor_encode(v)) for k, v in value.items())
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            raise CborError("duplicate map key")
        return _head(5, len(items)) + b"".join(k + v for k, v in items)
    if isinstance(value, Tag):
        return _head(6, value.tag) + cbor_encode(value.value)
    raise CborError(f"cannot encode {type(value).__name__} as CBOR")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.items = 0

    def take(self, n: int) -> bytes:
        if n > len(self.data) - self.pos:
            raise CborError("truncated CBOR")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def argument(self, info: int) -> int:
        if info < 24:
            return info
        if info in (24, 25, 26, 27):
            size = 1 << (info - 24)
            n = int.from_bytes(self.take(size), "big")
            if (size == 1 and n < 24) or (size > 1 and n < 1 << (4 * size)):
                raise CborError("an integer or length is not in its shortest form")
            return n
        raise CborError("indefinite lengths and reserved values are not accepted")

    def item(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise CborError("CBOR nested too deeply")
        self.items += 1
        if self.items > MAX_ITEMS:
            raise CborError("too many CBOR items")
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            simple = {20: False, 21: True, 22: None}
            if info in simple:
                return simple[info]
            raise CborError("floats and other simple values are not accepted")
        n = self.argument(info)
        if major == 0:
            return n
        if major == 1:
            return -1 - n
        if major == 2:
            return self.take(n)
        if major == 3:
            try:
                return self.take(n).decode("utf-8")
            except UnicodeDecodeError:
                raise CborError("a text string is not UTF-8") from None
        if major == 4:
            if n > MAX_ITEMS:
                raise CborError("array too long")
            return [self.item(depth + 1) for _ in range(n)]
        if major == 5:
            if n > MAX_ITEMS:
                raise CborError("map too long")
            out: dict[Any, Any] = {}
            for _ in range(n):
                key = self.item(depth + 1)
                if not isinstance(key, (int, str, bytes)):
                    raise CborError("map keys must be integers or strings")
                if key in out:
                    raise CborError("duplicate map key")
                out[key] = self.item(depth + 1)
            return out
        return Tag(n, self.item(depth + 1))  # major 6


def cbor_decode(data: bytes) -> Any:
    """Decode exactly one CBOR item; trailing bytes are an error."""
    reader = _Reader(bytes(data))
    value = reader.item(0)
    if reader.pos != len(reader.data):
        raise CborError("trailing bytes after the CBOR item")
    return value


# --- RFC 9162 inclusion: the root an audit path leads to -------------------------


def leaf_hash(leaf: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x00 ‖ leaf)."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(leaf_index: int, tree_size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the tree head that ``path`` leads to from leaf hash
    ``leaf`` at ``leaf_index`` in a tree of ``tree_size``; ReceiptError where
    the path cannot be a path of that tree."""
    if not 0 <= leaf_index < tree_size:
        raise ReceiptError("the leaf index is not less than the tree size")
    if len(leaf) != 32 or any(not isinstance(p, bytes) or len(p) != 32 for p in path):
        raise ReceiptError("a hash in the proof is not 32 bytes")
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            raise ReceiptError("the inclusion path is longer than the tree is deep")
        if fn % 2 == 1 or fn == sn:
            r = _node(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ReceiptError("the inclusion path is shorter than the tree is deep")
    return r


# --- COSE_Sign1 (RFC 9052 §4.4) ------------------------------------------------


def sig_structure(protected: bytes, payload: bytes, external_aad: bytes = b"") -> bytes:
    """The bytes a COSE_Sign1 signature covers: Sig_structure for "Signature1"."""
    return cbor_encode(["Signature1", protected, external_aad, payload])


def raw_public_key_bytes(key: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def kid_of(key: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(raw_public_key_bytes(key)).digest()


def receipt_build(
    *,
    key: Ed25519PrivateKey,
    issuer: str,
    subject: str,
    issued_at: int,
    tree_size: int,
    leaf_index: int,
    audit_path: Sequence[bytes],
    root: bytes,
) -> bytes:
    """A receipt of inclusion of leaf ``leaf_index`` in the tree of
    ``tree_size`` leaves whose head is ``root`` (RFC 9942 §5.2.1), signed with
    ``key``. ``issued_at`` is seconds since the epoch (the tree head's time)."""
    if len(root) != 32:
        raise ValueError("root must be 32 bytes")
    protected = cbor_encode(
        {
            HDR_ALG: ALG_EDDSA,
            HDR_KID: kid_of(key.public_key()),
            HDR_VDS: VDS_RFC9162_SHA256,
            HDR_CWT_CLAIMS: {CWT_ISS: issuer, CWT_SUB: subject, CWT_IAT: issued_at},
        }
    )
    proof = cbor_encode([tree_size, leaf_index, [bytes(p) for p in audit_path]])
    signature = key.sign(sig_structure(protected, root))
    return cbor_encode(Tag(COSE_SIGN1_TAG, [protected, {HDR_VDP: {VDP_INCLUSION: [proof]}}, None, signature]))


@dataclass(frozen=True)
class VerifiedReceipt:
    tree_size: int
    leaf_index: int
    root: bytes
    issuer: str | None
    subject: str | None
    issued_at: int | None
    kid: bytes | None


def _parse(receipt: bytes) -> tuple[bytes, dict[Any, Any], dict[Any, Any], Any, bytes]:
    try:
        outer = cbor_decode(receipt)
    except CborError as e:
        raise ReceiptError(f"not a receipt: {e}") from None
    if not isinstance(outer, Tag) or outer.tag != COSE_SIGN1_TAG:
        raise ReceiptError("not a receipt: a receipt is a COSE_Sign1 tagged 18")
    body = outer.value
    if not (isinstance(body, list) and len(body) == 4):
        raise ReceiptError("not a receipt: a COSE_Sign1 is an array of four")
    protected_raw, unprotected, payload, signature = body
    if not isinstance(protected_raw, bytes) or not isinstance(unprotected, dict) or not isinstance(signature, bytes):
        raise ReceiptError("not a receipt: wrong types in the COSE_Sign1")
    if payload is not None and not isinstance(payload, bytes):
        raise ReceiptError("not a receipt: the payload is neither bytes nor nil")
    try:
        protected = cbor_decode(protected_raw) if protected_raw else {}
    except CborError as e:
        raise ReceiptError(f"the protected header is not CBOR: {e}") from None
    if not isinstance(protected, dict):
        raise ReceiptError("the protected header is not a map")
    return protected_raw, protected, unprotected, payload, signature


def receipt_verify(receipt: bytes, *, leaf: bytes, key: Ed25519PublicKey) -> VerifiedReceipt:
    """Check a receipt of inclusion for the log entry whose leaf bytes are
    ``leaf`` against the log's public ``key``: the headers name EdDSA and
    RFC9162_SHA256, the inclusion proof leads from the entry's leaf hash to a
    root, and the signature over that root verifies. Raises ReceiptError
    saying what failed; returns what the receipt proves."""
    protected_raw, protected, unprotected, payload, signature = _parse(receipt)
    if protected.get(HDR_ALG) != ALG_EDDSA:
        raise ReceiptError(f"the receipt's algorithm is {protected.get(HDR_ALG)!r}, not EdDSA (-8)")
    if protected.get(HDR_VDS) != VDS_RFC9162_SHA256:
        raise ReceiptError(f"the verifiable data structure is {protected.get(HDR_VDS)!r}, not RFC9162_SHA256 (1)")
    if HDR_VDP in protected:
        raise ReceiptError("the proofs belong in the unprotected header")
    kid = protected.get(HDR_KID)
    if kid is not None and kid != kid_of(key):
        raise ReceiptError("the receipt names another key (kid) than the one given")
    vdp = unprotected.get(HDR_VDP)
    proofs = vdp.get(VDP_INCLUSION) if isinstance(vdp, dict) else None
    if not isinstance(proofs, list) or len(proofs) != 1 or not isinstance(proofs[0], bytes):
        raise ReceiptError("the receipt must carry exactly one inclusion proof (396 / -1)")
    try:
        proof = cbor_decode(proofs[0])
    except CborError as e:
        raise ReceiptError(f"the inclusion proof is not CBOR: {e}") from None
    if not (
        isinstance(proof, list)
        and len(proof) == 3
        and isinstance(proof[0], int)
        and isinstance(proof[1], int)
        and isinstance(proof[2], list)
        and len(proof[2]) <= MAX_PATH
    ):
        raise ReceiptError("the inclusion proof is not [tree_size, leaf_index, [hashes]]")
    tree_size, leaf_index, path = proof
    root = root_from_inclusion(leaf_index, tree_size, leaf_hash(leaf), path)
    if payload is not None and payload != root:
        raise ReceiptError("the attached payload is not the root the inclusion proof leads to")
    try:
        key.verify(signature, sig_structure(protected_raw, root))
    except InvalidSignature:
        raise ReceiptError(
            "the signature does not verify over the root this proof leads to: "
            "the entry, the proof or the signature has been altered"
        ) from None
    claims = protected.get(HDR_CWT_CLAIMS)
    claims = claims if isinstance(claims, dict) else {}
    iss, sub, iat = claims.get(CWT_ISS), claims.get(CWT_SUB), claims.get(CWT_IAT)
    return VerifiedReceipt(
        tree_size=tree_size,
        leaf_index=leaf_index,
        root=root,
        issuer=iss if isinstance(iss, str) else None,
        subject=sub if isinstance(sub, str) else None,
        issued_at=iat if isinstance(iat, int) else None,
        kid=kid if isinstance(kid, bytes) else None,
    )
