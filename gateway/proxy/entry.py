"""The access-log entry: the one definition of what the gateway records about a
call, written by the data plane (gateway/proxy/server.py), appended to the spool
(gateway/proxy/spool.py), carried as the Lua argument and the Redis stream
field ``e`` (gateway/proxy/limits.py) and read back by the drain (gateway/services.py).

Wire form: one JSON object whose values are all strings (the older stream form,
one stream field per key, is read too). ``call_id`` (a UUID made by the gateway)
names the call wherever the entry travels, so storing the same entry twice (a
replay after Redis lost its data, a drain that died before deleting) stores it
once. Entries in the older per-field form predate call ids and have none.

Django-free: the data plane may run without the app's models."""

from __future__ import annotations

import itertools
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

# Call ids: a random 128-bit value per process, counted up per call (uuid4
# reads the kernel's random source and formats a UUID on every call).
_base = int.from_bytes(os.urandom(16))
_counter = itertools.count()


def _reseed() -> None:
    global _base, _counter
    _base, _counter = int.from_bytes(os.urandom(16)), itertools.count()


os.register_at_fork(after_in_child=_reseed)  # a forked worker does not repeat its parent's ids


def new_call_id() -> str:
    """A 128-bit id unique to this call (32 hex digits, which the database
    stores as a UUID): this process's random base with the call's number."""
    return f"{_base ^ next(_counter):032x}"


@dataclass(slots=True)
class AccessEntry:
    call_id: str  # "" for entries written before call ids existed
    token: str
    kind: str
    holder: int
    organisation: str  # "" when the token has none
    lab: str
    system_version: str
    started_at: str  # ISO 8601 with offset
    method: str
    path: str
    upstream_model: str
    stream: bool
    status: int
    error_code: str
    latency_ms: float
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    usage_clamped: bool
    request_sha256: str
    response_sha256: str
    # The release's stage the grant admitted the call at, and what the lab's
    # endpoint claimed served it against the audited digests (gateway/proxy/audited.py:
    # match, mismatch, malformed, absent; "" when no upstream answered).
    # Entries written before these existed read as stage 0 and "".
    stage: int = 0
    attestation: str = ""

    def fields(self) -> dict[str, str]:
        """The wire form: every value a string."""
        out = {
            "call_id": self.call_id,
            "token": self.token,
            "kind": self.kind,
            "holder": str(self.holder),
            "organisation": self.organisation,
            "lab": self.lab,
            "system_version": self.system_version,
            "started_at": self.started_at,
            "method": self.method,
            "path": self.path,
            "upstream_model": self.upstream_model,
            "stream": "1" if self.stream else "0",
            "status": str(self.status),
            "error_code": self.error_code,
            "latency_ms": f"{self.latency_ms:.3f}",
            "prompt_tokens": str(self.prompt_tokens),
            "completion_tokens": str(self.completion_tokens),
            "total_tokens": str(self.total_tokens),
            "request_sha256": self.request_sha256,
            "response_sha256": self.response_sha256,
            "stage": str(self.stage),
            "attestation": self.attestation,
        }
        if self.usage_clamped:
            out["usage_clamped"] = "1"
        return out

    def encode(self) -> bytes:
        """One line of JSON (no newline inside): the spool line and the stream field ``e``."""
        return json.dumps(self.fields(), ensure_ascii=True).encode()

    @classmethod
    def decode(cls, fields: Mapping[str, str]) -> AccessEntry:
        """An entry from a stream entry's fields (``{"e": <json>}``, or the
        older one field per key) or a spool line's object. Raises ValueError,
        KeyError or TypeError on an entry that is not one."""
        if "e" in fields:
            packed = json.loads(fields["e"])
            if type(packed) is not dict:
                raise ValueError("the entry is not a JSON object")
            values: Mapping[str, object] = packed
            call_id = _text(values.get("call_id", ""))
            if call_id:
                uuid.UUID(call_id)  # ValueError unless 128 bits in hex (with dashes or not)
        else:
            values, call_id = fields, ""  # the older form predates call ids
        return cls(
            call_id=call_id,
            token=_text(values["token"]),
            kind=_text(values["kind"]),
            holder=int(_text(values["holder"])),
            organisation=_text(values.get("organisation") or ""),
            lab=_text(values["lab"]),
            system_version=_text(values["system_version"]),
            started_at=_text(values["started_at"]),
            method=_text(values["method"]),
            path=_text(values["path"]),
            upstream_model=_text(values.get("upstream_model", "")),
            stream=values.get("stream") == "1",
            status=int(_text(values["status"])),
            error_code=_text(values.get("error_code", "")),
            latency_ms=float(_text(values["latency_ms"])),
            prompt_tokens=int(_text(values.get("prompt_tokens") or "0")),
            completion_tokens=int(_text(values.get("completion_tokens") or "0")),
            total_tokens=int(_text(values.get("total_tokens") or "0")),
            usage_clamped=values.get("usage_clamped") == "1",
            request_sha256=_text(values["request_sha256"]),
            response_sha256=_text(values["response_sha256"]),
            stage=int(_text(values.get("stage") or "0")),
            attestation=_text(values.get("attestation") or ""),
        )


def _text(value: object) -> str:
    if type(value) is str:
        return value
    if type(value) in (int, float):  # a number where the wire form has its text
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")
