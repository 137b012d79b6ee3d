"""Calling a model through the gateway, as any external tool would: HTTP to
`/gateway/v1/chat/completions` with the run's gateway token. The exact bytes
sent and received are hashed, so each call can be matched to the gateway's
access-log record (which stores the same SHA-256 digests)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from evals.engine import ChatReply, SampleFailed

TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class TransientError(Exception):
    pass


@dataclass
class GatewayChat:
    """A chat function bound to one run: base URL, token, model and parameters."""

    base_url: str
    token: str
    model: str
    temperature: float
    max_tokens: int
    seed: int | None = None
    top_p: float = 1.0
    timeout: float = 120.0
    retries: int = 4
    backoff: float = 0.5
    client: httpx.Client | None = None

    def __post_init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        if self.client is None:
            self.client = httpx.Client(timeout=self.timeout, follow_redirects=False)

    def __call__(self, messages: list[dict[str, str]]) -> ChatReply:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if self.top_p != 1.0:
            payload["top_p"] = self.top_p
        if self.seed is not None:
            payload["seed"] = self.seed
        body = json.dumps(payload, ensure_ascii=False).encode()
        for attempt in range(self.retries + 1):
            try:
                return self._once(body)
            except TransientError as exc:
                if attempt == self.retries:
                    raise SampleFailed(f"upstream kept failing: {exc}") from None
                wait = getattr(exc, "retry_after", None) or self.backoff * (2**attempt)
                time.sleep(min(wait, 30.0))
        raise AssertionError("unreachable")

    def _once(self, body: bytes) -> ChatReply:
        if self.client is None:
            raise RuntimeError("no HTTP client")
        try:
            response = self.client.post(
                self.base_url.rstrip("/") + "/chat/completions",
                content=body,
                headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            )
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise TransientError(type(exc).__name__) from None
        raw = response.content
        call: dict[str, Any] = {
            "status": response.status_code,
            "request_sha256": hashlib.sha256(body).hexdigest(),
            "response_sha256": hashlib.sha256(raw).hexdigest(),
        }
        self.calls.append(call)
        if response.status_code in TRANSIENT_STATUS:
            err = TransientError(f"HTTP {response.status_code}")
            retry_after = response.headers.get("Retry-After")
            err.retry_after = float(retry_after) if retry_after and retry_after.isdigit() else None  # type: ignore[attr-defined]
            raise err
        if response.status_code != 200:
            raise SampleFailed(f"gateway refused the call: HTTP {response.status_code} {_error_message(raw)}")
        try:
            data = json.loads(raw)
            text = data["choices"][0]["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise SampleFailed("the model's reply was not a chat completion") from None
        usage = data.get("usage") or {}
        call["usage"] = usage
        return ChatReply(
            text=text, request_sha256=call["request_sha256"], response_sha256=call["response_sha256"], usage=usage
        )


def _error_message(raw: bytes) -> str:
    try:
        return str(json.loads(raw)["error"]["message"])[:300]
    except (ValueError, KeyError, TypeError):
        return ""
