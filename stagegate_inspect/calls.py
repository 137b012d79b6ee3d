"""The call record: what the recording HTTP client writes into a sample's
transcript for each exchange with the gateway, and how to read it back."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from typing import Any

# Bump when the record's fields change; readers refuse formats they do not know.
CALLS_FORMAT = "stagegate-calls/1"
CALLS_SOURCE = "stagegate-calls"


def record_of(*, method: str, path: str, status: int, request: bytes, response: bytes) -> dict[str, Any]:
    """One exchange as recorded: the exact bytes (base64, so nothing is
    re-serialised) and their SHA-256, which is what the gateway logs."""
    return {
        "format": CALLS_FORMAT,
        "method": method,
        "path": path,
        "status": status,
        "request_sha256": hashlib.sha256(request).hexdigest(),
        "response_sha256": hashlib.sha256(response).hexdigest(),
        "request_b64": base64.b64encode(request).decode(),
        "response_b64": base64.b64encode(response).decode(),
    }


def call_records(events: Iterable[Any]) -> list[dict[str, Any]]:
    """The call records among a sample's events (Inspect event objects or
    their JSON form), in the order they were written."""
    records: list[dict[str, Any]] = []
    for event in events:
        fields = event if isinstance(event, dict) else vars(event)
        data = fields.get("data")
        if fields.get("event") == "info" and fields.get("source") == CALLS_SOURCE and isinstance(data, dict):
            records.append(data)
    return records
