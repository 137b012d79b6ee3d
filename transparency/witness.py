"""The independent witness's rules, pure: no Django, no database, no network,
so the witness process (``stagegate_witness``) and the log's side
(``transparency.witness_log``) check the same way.

The witness keeps the last tree head it cosigned. Shown a newer signed head,
it cosigns only if the log's Ed25519 signature verifies under the pinned log
key and an RFC 6962 consistency proof shows the new tree extends the one it
cosigned. Anything else is refused; a refusal that the log's own signatures
make undeniable (two signed heads of one size with different roots, a signed
head the last cosigned one does not extend, a signed head smaller than one it
cosigned) is a *split view*: the evidence is kept and reported.

Byte formats (signed with Ed25519, RFC 8785 JSON):

- a log tree head: ``{"log": "stagegate", "root_hash", "timestamp", "tree_size"}``
  (``tree_head_bytes``, as ``transparency.signing`` signs);
- a cosignature: ``{"context": COSIGN_CONTEXT, "cosigned_at", "log": "stagegate",
  "root_hash", "timestamp", "tree_size", "witness": <key id>}``;
- a split-view alarm: ``{"context": ALARM_CONTEXT, "detected_at", "digest",
  "kind", "witness": <key id>}`` where ``digest`` is the SHA-256 hex of the RFC
  8785 JSON of the evidence.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core import merkle
from core.canonical import canonical_json
from core.dsse import keyid_of

LOG_ID = "stagegate"  # the log's name in what its tree heads sign (transparency.signing uses this one)
COSIGN_CONTEXT = "stagegate-witness-cosignature/v1"
ALARM_CONTEXT = "stagegate-witness-split-view/v1"

_HEX64 = re.compile(r"^[0-9a-f]{64}$")

# What the witness decided about one observed head.
COSIGN = "cosign"  # consistent and newer: cosigned
UNCHANGED = "unchanged"  # the head it already cosigned
REJECTED = "rejected"  # not signed by the log (or malformed): ignored, nothing proven
SPLIT_SAME_SIZE = "split_view_same_size"  # two signed heads, one size, two roots
SPLIT_INCONSISTENT = "split_view_inconsistent"  # a signed head the cosigned one does not extend
ROLLBACK = "rollback"  # a smaller head signed after a larger one the witness cosigned
ALARMS = (SPLIT_SAME_SIZE, SPLIT_INCONSISTENT, ROLLBACK)


class WitnessInputError(ValueError):
    """A tree head, proof or cosignature that is not well formed."""


@dataclass(frozen=True)
class TreeHead:
    """A log tree head with the log's signature over it."""

    tree_size: int
    root_hash: str
    timestamp: int
    signature: str

    @classmethod
    def from_json(cls, data: Any) -> TreeHead:
        if not isinstance(data, dict):
            raise WitnessInputError("a tree head must be a JSON object")
        size, root, ts, sig = (data.get(k) for k in ("tree_size", "root_hash", "timestamp", "signature"))
        if type(size) is not int or size < 1:
            raise WitnessInputError("tree_size must be a positive integer")
        if not isinstance(root, str) or not _HEX64.match(root):
            raise WitnessInputError("root_hash must be 64 lower-case hex digits")
        if type(ts) is not int or ts < 0:
            raise WitnessInputError("timestamp must be a non-negative integer (ms)")
        if not isinstance(sig, str) or not sig or len(sig) > 200:
            raise WitnessInputError("signature must be base64 text")
        return cls(tree_size=size, root_hash=root, timestamp=ts, signature=sig)

    def to_json(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "timestamp": self.timestamp,
            "signature": self.signature,
        }


def tree_head_bytes(*, tree_size: int, root_hash: str, timestamp: int) -> bytes:
    """What a tree head signature covers: the RFC 8785 JSON of
    ``{"log": "stagegate", "root_hash": <hex>, "timestamp": <ms>, "tree_size": <n>}``.
    Defined here, without Django, so the log (transparency.signing) and the
    witness process compute the same bytes."""
    return canonical_json({"log": LOG_ID, "root_hash": root_hash, "timestamp": timestamp, "tree_size": tree_size})


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise WitnessInputError("not base64") from None


def log_signature_ok(head: TreeHead, log_key: Ed25519PublicKey) -> bool:
    try:
        log_key.verify(
            _b64(head.signature),
            tree_head_bytes(tree_size=head.tree_size, root_hash=head.root_hash, timestamp=head.timestamp),
        )
        return True
    except (InvalidSignature, WitnessInputError):
        return False


def proof_from_json(data: Any) -> list[bytes]:
    if not isinstance(data, list) or len(data) > 128:
        raise WitnessInputError("a consistency proof must be a list of at most 128 hashes")
    out = []
    for h in data:
        if not isinstance(h, str) or not _HEX64.match(h):
            raise WitnessInputError("each proof hash must be 64 lower-case hex digits")
        out.append(bytes.fromhex(h))
    return out


@dataclass
class Verdict:
    outcome: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def cosign(self) -> bool:
        return self.outcome == COSIGN

    @property
    def alarm(self) -> bool:
        return self.outcome in ALARMS


def check(
    *,
    last: TreeHead | None,
    new: TreeHead,
    proof: list[bytes] | None,
    log_key: Ed25519PublicKey,
    log_head_at_last_size: TreeHead | None = None,
) -> Verdict:
    """Decide about ``new`` given the last cosigned head ``last`` (None: the
    witness has cosigned nothing yet, and trusts the first head it sees).

    ``proof`` is the log's consistency proof from ``last.tree_size`` to
    ``new.tree_size`` (needed only when ``new`` is larger). The log's own
    signed head at ``last.tree_size``, if the log served one alongside the
    proof, is checked too: a validly signed different root at a size the
    witness cosigned is a split view by itself."""
    if not log_signature_ok(new, log_key):
        return Verdict(REJECTED, "the tree head is not signed by the log's key", {"head": new.to_json()})
    if last is None:
        return Verdict(COSIGN, "first tree head seen (trust on first use)")

    evidence: dict[str, Any] = {"cosigned": last.to_json(), "observed": new.to_json()}
    other = log_head_at_last_size
    if (
        other is not None
        and other.tree_size == last.tree_size
        and other.root_hash != last.root_hash
        and log_signature_ok(other, log_key)
    ):
        evidence["observed_at_cosigned_size"] = other.to_json()
        return Verdict(
            SPLIT_SAME_SIZE,
            f"the log signed two different roots for size {last.tree_size}",
            evidence,
        )

    if new.tree_size < last.tree_size:
        if new.timestamp <= last.timestamp:
            # An older head replayed (by the network or a stale cache) proves nothing.
            return Verdict(REJECTED, "an older tree head than the one cosigned (stale or replayed)", evidence)
        return Verdict(
            ROLLBACK,
            f"the log's head has {new.tree_size} entries, fewer than the {last.tree_size} already cosigned",
            evidence,
        )
    if new.tree_size == last.tree_size:
        if new.root_hash == last.root_hash:
            return Verdict(UNCHANGED, "already cosigned")
        return Verdict(SPLIT_SAME_SIZE, f"the log signed two different roots for size {new.tree_size}", evidence)

    evidence["proof"] = [h.hex() for h in proof or []]
    if proof is None or not merkle.verify_consistency(
        last.tree_size,
        new.tree_size,
        bytes.fromhex(last.root_hash),
        bytes.fromhex(new.root_hash),
        proof,
    ):
        return Verdict(
            SPLIT_INCONSISTENT,
            f"the log's head of {new.tree_size} entries does not extend the cosigned head of {last.tree_size}",
            evidence,
        )
    return Verdict(COSIGN, f"extends the cosigned head of {last.tree_size} entries")


# Cosignatures


def cosignature_bytes(*, head: TreeHead, witness_key_id: str, cosigned_at: int) -> bytes:
    return canonical_json(
        {
            "context": COSIGN_CONTEXT,
            "cosigned_at": cosigned_at,
            "log": LOG_ID,
            "root_hash": head.root_hash,
            "timestamp": head.timestamp,
            "tree_size": head.tree_size,
            "witness": witness_key_id,
        }
    )


def cosign(*, head: TreeHead, witness_key: Ed25519PrivateKey, cosigned_at: int) -> dict[str, Any]:
    """The cosignature record the witness stores and publishes."""
    key_id = keyid_of(witness_key.public_key())
    sig = witness_key.sign(cosignature_bytes(head=head, witness_key_id=key_id, cosigned_at=cosigned_at))
    return {
        **head.to_json(),
        "witness": key_id,
        "cosigned_at": cosigned_at,
        "cosignature": base64.b64encode(sig).decode("ascii"),
    }


def cosignature_verify(record: Any, *, witness_key: Ed25519PublicKey, log_key: Ed25519PublicKey) -> TreeHead:
    """The tree head a published cosignature vouches for, after checking both
    the log's signature and the witness's; WitnessInputError otherwise."""
    head = TreeHead.from_json(record)
    if not log_signature_ok(head, log_key):
        raise WitnessInputError("the cosigned head does not carry the log's signature")
    key_id = keyid_of(witness_key)
    cosigned_at, sig = record.get("cosigned_at"), record.get("cosignature")
    if record.get("witness") != key_id:
        raise WitnessInputError("cosigned by another key than the pinned witness key")
    if type(cosigned_at) is not int or not isinstance(sig, str):
        raise WitnessInputError("cosigned_at and cosignature are required")
    try:
        witness_key.verify(_b64(sig), cosignature_bytes(head=head, witness_key_id=key_id, cosigned_at=cosigned_at))
    except InvalidSignature:
        raise WitnessInputError("the cosignature does not verify under the witness key") from None
    return head


# Split-view alarms


def evidence_digest(evidence: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(evidence)).hexdigest()


def alarm_bytes(*, kind: str, digest: str, witness_key_id: str, detected_at: int) -> bytes:
    return canonical_json(
        {
            "context": ALARM_CONTEXT,
            "detected_at": detected_at,
            "digest": digest,
            "kind": kind,
            "witness": witness_key_id,
        }
    )


def alarm_sign(*, verdict: Verdict, witness_key: Ed25519PrivateKey, detected_at: int) -> dict[str, Any]:
    if not verdict.alarm:
        raise ValueError("only split views and rollbacks are alarms")
    key_id = keyid_of(witness_key.public_key())
    digest = evidence_digest(verdict.evidence)
    sig = witness_key.sign(
        alarm_bytes(kind=verdict.outcome, digest=digest, witness_key_id=key_id, detected_at=detected_at)
    )
    return {
        "kind": verdict.outcome,
        "reason": verdict.reason,
        "evidence": verdict.evidence,
        "digest": digest,
        "witness": key_id,
        "detected_at": detected_at,
        "signature": base64.b64encode(sig).decode("ascii"),
    }


def alarm_verify(record: Any, *, witness_key: Ed25519PublicKey, log_key: Ed25519PublicKey) -> dict[str, Any]:
    """A published alarm, checked: signed by the pinned witness, its digest
    matching its evidence, and the evidence itself re-checked (the heads in it
    carry the log's signatures, and they really do conflict). Returns the
    record; WitnessInputError otherwise."""
    if not isinstance(record, dict):
        raise WitnessInputError("an alarm must be a JSON object")
    kind, evidence, digest = record.get("kind"), record.get("evidence"), record.get("digest")
    detected_at, sig = record.get("detected_at"), record.get("signature")
    key_id = keyid_of(witness_key)
    if kind not in ALARMS or not isinstance(evidence, dict) or type(detected_at) is not int or not isinstance(sig, str):
        raise WitnessInputError("kind, evidence, detected_at and signature are required")
    if record.get("witness") != key_id:
        raise WitnessInputError("signed by another key than the pinned witness key")
    if not isinstance(digest, str) or evidence_digest(evidence) != digest:
        raise WitnessInputError("the digest does not match the evidence")
    try:
        witness_key.verify(
            _b64(sig), alarm_bytes(kind=kind, digest=digest, witness_key_id=key_id, detected_at=detected_at)
        )
    except InvalidSignature:
        raise WitnessInputError("the alarm does not verify under the witness key") from None
    # Re-derive the verdict from the evidence: the witness's word is not enough.
    cosigned = TreeHead.from_json(evidence.get("cosigned"))
    observed = TreeHead.from_json(evidence.get("observed"))
    if not (log_signature_ok(cosigned, log_key) and log_signature_ok(observed, log_key)):
        raise WitnessInputError("the evidence's heads are not signed by the log")
    at_size = evidence.get("observed_at_cosigned_size")
    proof = proof_from_json(evidence["proof"]) if "proof" in evidence else None
    again = check(
        last=cosigned,
        new=observed,
        proof=proof,
        log_key=log_key,
        log_head_at_last_size=TreeHead.from_json(at_size) if at_size is not None else None,
    )
    if not again.alarm:
        raise WitnessInputError("the evidence does not show a split view")
    return record
