"""The log's own Ed25519 key and the exact bytes a tree head signature covers."""

from __future__ import annotations

import base64
import functools

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from core.dsse import keyid_of, public_key_pem
from transparency.witness import tree_head_bytes


@functools.cache
def _private_key(seed_b64: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed_b64))


def log_private_key() -> Ed25519PrivateKey:
    if not settings.STAGEGATE_LOG_SIGNING_KEY:
        raise RuntimeError("STAGEGATE_LOG_SIGNING_KEY is not set")
    return _private_key(settings.STAGEGATE_LOG_SIGNING_KEY)


def log_public_key() -> Ed25519PublicKey:
    return log_private_key().public_key()


def log_public_key_pem() -> str:
    return public_key_pem(log_public_key())


def log_key_id() -> str:
    return keyid_of(log_public_key())


def tree_head_sign(*, tree_size: int, root_hash: str, timestamp: int) -> str:
    sig = log_private_key().sign(tree_head_bytes(tree_size=tree_size, root_hash=root_hash, timestamp=timestamp))
    return base64.b64encode(sig).decode("ascii")


def tree_head_verify(
    *, tree_size: int, root_hash: str, timestamp: int, signature: str, key: Ed25519PublicKey | None = None
) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        (key or log_public_key()).verify(
            base64.b64decode(signature), tree_head_bytes(tree_size=tree_size, root_hash=root_hash, timestamp=timestamp)
        )
        return True
    except (InvalidSignature, ValueError):
        return False
