"""Canonical JSON (RFC 8785, JSON Canonicalization Scheme) and SHA-256 digests.
Pure functions: no Django imports, so signers and verifiers can use them too."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785


def canonical_json(document: Any) -> bytes:
    """RFC 8785 bytes of a JSON-compatible document (dicts, lists, str, int, float, bool, None)."""
    return rfc8785.dumps(document)


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def digest_of(document: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of a document."""
    return sha256_hex(canonical_json(document))
