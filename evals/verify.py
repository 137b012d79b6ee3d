"""Checking an Inspect log an auditor ran on their own machine against the
gateway's access log, and re-scoring it with the registered suite. Pure: no
Django, no ORM. ``evals.uploads`` reads the log and the token's access-log
rows and hands them here; every check raises a ``Refusal`` naming the sample
and the call, or returns what it verified.

The checks, in the order they run (the first failure is the answer):

1. ``read_samples``: every model call in every sample carries the
   ``stagegate-calls/1`` record the stagegate provider writes (the exact
   request and response bytes), and the bytes hash to the record's digests.
2. ``reconcile``: the log's calls and the token's calls in the access log
   within the log's time window are the same multiset of (status, request
   SHA-256, response SHA-256), both ways, and each sample's calls are in the
   gateway's time order.
3. ``outputs_check``: what Inspect recorded as each call's output, and each
   assistant message of a sample, is the text of the verified response it
   came from, in order.
4. ``suite_assess`` (a registered suite only): replaying the suite's own
   conversation with the verified responses asks exactly the verified
   requests, and the suite's scorer labels the verified outputs. Our labels
   are kept; the log's own scores are only compared."""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from evals.engine import ChatReply, SampleFailed, SampleResult, SuiteDefinition, parse_sample_id
from evals.runner import error_text
from evals.suites.common import assistant_texts
from stagegate_inspect import CALLS_FORMAT, CALLS_SOURCE

# (HTTP status, request SHA-256, response SHA-256): one call, as both the
# log's record and the gateway's access log know it.
CallKey = tuple[int, str, str]


class Refusal(Exception):
    """Why the log is not accepted as evidence, with a stable code."""

    def __init__(self, code: str, message: str, *, sample: str | None = None, call: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.sample = sample
        self.call = call


@dataclass(frozen=True)
class LoggedCall:
    """A row of the gateway's access log."""

    token: str
    status: int
    request_sha256: str
    response_sha256: str
    created_at: datetime.datetime

    @property
    def key(self) -> CallKey:
        return (self.status, self.request_sha256, self.response_sha256)


@dataclass(frozen=True)
class Exchange:
    """One HTTP exchange with the gateway as the log records it."""

    number: int  # 1-based within its sample
    status: int
    request: bytes
    response: bytes
    request_sha256: str
    response_sha256: str

    @property
    def key(self) -> CallKey:
        return (self.status, self.request_sha256, self.response_sha256)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def digests(self) -> dict[str, Any]:
        return {"status": self.status, "request_sha256": self.request_sha256, "response_sha256": self.response_sha256}


@dataclass
class ModelCall:
    """One ``generate`` (an Inspect model event) and the exchanges recorded
    for it: more than one when the call was retried."""

    number: int  # 1-based within its sample
    exchanges: list[Exchange]
    output_texts: list[str]  # what Inspect recorded as its output (none without choices)
    cached: bool
    text: str | None = None  # the verified response's text, once checked
    tool_calls: int = 0  # native tool calls in the verified response

    @property
    def final(self) -> Exchange | None:
        return self.exchanges[-1] if self.exchanges else None


@dataclass
class LogSample:
    id: str
    epoch: int
    model_calls: list[ModelCall]
    exchanges: list[Exchange]  # every recorded exchange, in order
    messages: list[tuple[str, str]]  # (role, text)
    error: str
    log_labels: dict[str, Any] | None
    metadata: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.id}" if self.epoch == 1 else f"{self.id} (epoch {self.epoch})"


@dataclass
class SampleVerdict:
    """A sample as we keep it: our status and labels, never the log's."""

    id: str
    epoch: int
    condition: str
    index: int
    status: str  # done | error
    error: str
    transcript: list[dict[str, str]]
    labels: dict[str, str]
    grade: dict[str, Any]
    calls: list[dict[str, Any]]
    log_labels: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def _short(digest: str) -> str:
    return digest[:12] + "…"


def _where(sample: LogSample, exchange: Exchange) -> str:
    return (
        f"sample {sample.label}, call {exchange.number} (status {exchange.status}, "
        f"request {_short(exchange.request_sha256)}, response {_short(exchange.response_sha256)})"
    )


def _decode(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("not base64 text")
    return base64.b64decode(value, validate=True)


def _exchange(number: int, data: Any, sample_label: str) -> Exchange:
    if not isinstance(data, dict) or data.get("format") != CALLS_FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise Refusal(
            "bad_record",
            f"Sample {sample_label}, call {number}: the call record is not in the {CALLS_FORMAT} format ({found!r}).",
            sample=sample_label,
            call=number,
        )
    try:
        request, response = _decode(data.get("request_b64")), _decode(data.get("response_b64"))
        status = data["status"]
        if not isinstance(status, int) or isinstance(status, bool):
            raise ValueError("status is not a number")
        exchange = Exchange(
            number=number,
            status=status,
            request=request,
            response=response,
            request_sha256=str(data["request_sha256"]),
            response_sha256=str(data["response_sha256"]),
        )
    except (KeyError, ValueError, binascii.Error) as exc:
        raise Refusal(
            "bad_record",
            f"Sample {sample_label}, call {number}: the call record is incomplete ({exc}).",
            sample=sample_label,
            call=number,
        ) from None
    for what, body, stated in (
        ("request", request, exchange.request_sha256),
        ("response", response, exchange.response_sha256),
    ):
        actual = hashlib.sha256(body).hexdigest()
        if actual != stated:
            raise Refusal(
                "digest_mismatch",
                f"Sample {sample_label}, call {number}: the recorded {what} bytes hash to {_short(actual)}, "
                f"not to the stated {_short(stated)}.",
                sample=sample_label,
                call=number,
            )
    return exchange


def _score_labels(sample: Any) -> dict[str, Any] | None:
    score = next(iter((sample.scores or {}).values()), None)
    if score is None or not isinstance(score.value, dict):
        return None
    return {str(k): v for k, v in score.value.items()}


def read_samples(log: Any) -> list[LogSample]:
    """Each sample's model calls with their recorded exchanges (check 1).

    An exchange is recorded after the model event of the ``generate`` that
    made it, so the records between two model events are the first one's
    (its retries included). A model event with an output but no record was
    not made through the stagegate provider (or was served from Inspect's
    cache): nothing shows the gateway ever answered it."""
    from inspect_ai.event import InfoEvent, ModelEvent

    samples = []
    for s in log.samples or []:
        label = f"{s.id}" if s.epoch == 1 else f"{s.id} (epoch {s.epoch})"
        model_calls: list[ModelCall] = []
        exchanges: list[Exchange] = []
        for event in s.events:
            if isinstance(event, ModelEvent):
                output = event.output
                # Both what Inspect stored as the completion and the first choice's text.
                texts = [output.completion, output.choices[0].message.text] if output and output.choices else []
                model_calls.append(
                    ModelCall(
                        number=len(model_calls) + 1, exchanges=[], output_texts=texts, cached=event.cache == "read"
                    )
                )
            elif isinstance(event, InfoEvent) and event.source == CALLS_SOURCE:
                exchange = _exchange(len(exchanges) + 1, event.data, label)
                exchanges.append(exchange)
                if not model_calls:
                    raise Refusal(
                        "unrecorded_call",
                        f"Sample {label}, call {exchange.number}: a call record that belongs to no model call.",
                        sample=label,
                        call=exchange.number,
                    )
                model_calls[-1].exchanges.append(exchange)
        for mc in model_calls:
            if not mc.exchanges and (mc.output_texts or mc.cached):
                how = "was served from Inspect's cache" if mc.cached else "has no stagegate-calls record"
                raise Refusal(
                    "unrecorded_call",
                    f"Sample {label}, model call {mc.number} {how}: run the eval with "
                    "--model stagegate/<lab>/<system>/v<N> (and no cache), so every call is recorded.",
                    sample=label,
                    call=mc.number,
                )
        samples.append(
            LogSample(
                id=str(s.id),
                epoch=s.epoch,
                model_calls=model_calls,
                exchanges=exchanges,
                messages=[(m.role, m.text) for m in s.messages],
                error=s.error.message if s.error is not None else "",
                log_labels=_score_labels(s),
                metadata=dict(s.metadata or {}),
            )
        )
    return samples


def unmatched_keys(samples: list[LogSample], window: Iterable[LoggedCall]) -> set[CallKey]:
    """The log's calls that the window's rows do not account for: where else
    to look for them (another token, another time) to say why."""
    logged = Counter(e.key for s in samples for e in s.exchanges)
    seen = Counter(r.key for r in window)
    return set(logged - seen)


def reconcile(
    samples: list[LogSample], *, token: str, window: list[LoggedCall], elsewhere: Iterable[LoggedCall] = ()
) -> dict[str, int]:
    """Check 2: the log's calls are the token's calls in the window, as
    multisets both ways, and each sample's calls are in the gateway's order.
    ``elsewhere``: access-log rows with the keys of ``unmatched_keys`` (any
    token, any time), to tell another token's calls from invented ones."""
    seen = Counter(r.key for r in window)
    counts: Counter[CallKey] = Counter()
    found: dict[CallKey, list[LoggedCall]] = defaultdict(list)
    for row in elsewhere:
        found[row.key].append(row)
    for s in samples:
        for e in s.exchanges:
            counts[e.key] += 1
            if counts[e.key] <= seen[e.key]:
                continue
            rows = found.get(e.key, [])
            if any(r.token != token for r in rows):
                raise Refusal(
                    "other_token",
                    f"The gateway logged {_where(s, e)} under another gateway token, not the one named.",
                    sample=s.label,
                    call=e.number,
                )
            mine = [r for r in rows if r.token == token]
            if len(mine) > seen[e.key]:
                when = ", ".join(sorted(r.created_at.isoformat() for r in mine))
                raise Refusal(
                    "call_outside_window",
                    f"The gateway logged {_where(s, e)} with this token at {when}, outside the log's time window "
                    "(its stats.started_at to completed_at, with the allowed clock slack).",
                    sample=s.label,
                    call=e.number,
                )
            again = " more times than the gateway did" if seen[e.key] else ""
            raise Refusal(
                "call_not_in_gateway",
                f"The log has {_where(s, e)}{again}: the gateway never saw this call.",
                sample=s.label,
                call=e.number,
            )
    logged = Counter(e.key for s in samples for e in s.exchanges)
    missing = Counter(seen) - logged
    if missing:
        first = min((r for r in window if missing[r.key]), key=lambda r: r.created_at)
        raise Refusal(
            "call_missing_from_log",
            f"The gateway logged a call with this token at {first.created_at.isoformat()} (status {first.status}, "
            f"request {_short(first.request_sha256)}, response {_short(first.response_sha256)}) that is not in the "
            f"log: {sum(missing.values())} of the token's calls in the log's time window are missing from it.",
        )
    times: dict[CallKey, list[datetime.datetime]] = defaultdict(list)
    for r in window:
        times[r.key].append(r.created_at)
    for key in times:
        times[key].sort()
    for s in samples:
        previous: datetime.datetime | None = None
        for e in s.exchanges:
            # Identical calls (same bytes both ways) are interchangeable: any of their times may be this one's.
            at = next((t for t in times[e.key] if previous is None or t >= previous), None)
            if at is None:
                raise Refusal(
                    "out_of_order",
                    f"The log has {_where(s, e)} after a call the gateway saw later: the sample's calls are not "
                    "in the order the gateway saw them.",
                    sample=s.label,
                    call=e.number,
                )
            previous = at
    return {"calls": sum(logged.values()), "matched": sum(logged.values())}


def response_message(body: bytes) -> Any:
    """The assistant message Inspect makes of a chat completion (its own
    conversion: reasoning, refusals and tool calls included), or None if the
    body is not one."""
    from inspect_ai.model._openai import chat_choices_from_openai
    from openai.types.chat import ChatCompletion

    try:
        completion = ChatCompletion.model_validate_json(body)
        choices = chat_choices_from_openai(completion, [])
    except Exception:
        return None
    return choices[0].message if choices else None


def outputs_check(samples: list[LogSample]) -> None:
    """Check 3: each call's recorded output, and each assistant message, is
    the text of the verified response it came from, in order. A finished
    sample's assistant messages are the conversation's given history (the
    assistant turns of its first request) followed by every reply."""
    for s in samples:
        for mc in s.model_calls:
            final = mc.final
            if final is None or not final.ok:
                continue
            message = response_message(final.response)
            if message is None:
                raise Refusal(
                    "unsupported_call",
                    f"The response of {_where(s, final)} is not a chat completion (streamed responses and other "
                    "APIs are not supported).",
                    sample=s.label,
                    call=final.number,
                )
            text = mc.text = message.text
            mc.tool_calls = len(message.tool_calls or [])
            if any(t != text for t in mc.output_texts):
                raise Refusal(
                    "output_altered",
                    f"The output the log records for {_where(s, final)} is not the text of the response the "
                    "gateway returned.",
                    sample=s.label,
                    call=final.number,
                )
        if s.error:
            continue  # its transcript is not kept; its calls were checked above
        replies = [mc.text for mc in s.model_calls if mc.text is not None]
        assistant = [text for role, text in s.messages if role == "assistant"]
        given = _assistant_turns(s.model_calls[0].final.request) if s.model_calls and s.model_calls[0].final else []
        expected = [*given, *replies]
        if assistant != expected:
            k = next((i for i, (a, b) in enumerate(zip(assistant, expected, strict=False)) if a != b), None)
            if k is None:
                detail = f"it has {len(assistant)} assistant messages where the calls account for {len(expected)}"
            elif k < len(given):
                detail = f"assistant message {k + 1} is not the history the model was shown"
            else:
                detail = f"assistant message {k + 1} is not the text of the response to model call {k - len(given) + 1}"
            raise Refusal(
                "output_altered",
                f"Sample {s.label}: {detail}.",
                sample=s.label,
                call=(k - len(given) + 1) if k is not None and k >= len(given) else None,
            )


def _tool_names(tools: Any) -> list[str]:
    return [str((t.get("function") or {}).get("name")) for t in tools or [] if isinstance(t, dict)]


def _request_tools(body: bytes) -> list[str]:
    try:
        payload = json.loads(body)
        return _tool_names(payload.get("tools")) if isinstance(payload, dict) else []
    except ValueError:
        return []


def _request_messages(body: bytes) -> list[tuple[str, str]] | None:
    try:
        payload = json.loads(body)
        messages = payload["messages"]
        out = []
        for m in messages:
            role = "system" if m["role"] == "developer" else str(m["role"])
            content = m.get("content")
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            out.append((role, content or ""))
        return out
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _assistant_turns(body: bytes) -> list[str]:
    return [text for role, text in (_request_messages(body) or []) if role == "assistant"]


class _Replay:
    """The suites' ChatFn over the verified calls: answers with each call's
    verified response, after checking the suite asks exactly that call's request."""

    def __init__(self, sample: LogSample, where: str) -> None:
        self.sample = sample
        self.where = where
        self.next = 0

    async def __call__(self, messages: list[dict[str, Any]], tools: Any = None) -> ChatReply:
        s = self.sample
        if self.next >= len(s.model_calls):
            if s.error:
                raise SampleFailed(s.error)
            raise Refusal(
                "prompt_mismatch",
                f"Sample {s.label}: {self.where} asks for model call {self.next + 1}; the log has {self.next}.",
                sample=s.label,
                call=self.next + 1,
            )
        mc = s.model_calls[self.next]
        self.next += 1
        final = mc.final
        if final is None:  # a call that got no response at all (allowed only without an output)
            raise SampleFailed(s.error or f"model call {mc.number} got no response")
        for e in mc.exchanges:
            if e.request_sha256 != final.request_sha256:
                raise Refusal(
                    "prompt_mismatch",
                    f"Sample {s.label}, model call {mc.number}: its retries sent different requests.",
                    sample=s.label,
                    call=e.number,
                )
        asked = [(str(m["role"]), m.get("content") or "") for m in messages]
        sent = _request_messages(final.request)
        if sent == asked and _request_tools(final.request) != _tool_names(tools):
            raise Refusal(
                "prompt_mismatch",
                f"The request of {_where(s, final)} does not offer {self.where}'s tools.",
                sample=s.label,
                call=final.number,
            )
        if sent != asked:
            k = next((i for i, (a, b) in enumerate(zip(asked, sent or [], strict=False)) if a != b), None)
            which = f"message {k + 1} differs" if k is not None else f"{len(sent or [])} messages, not {len(asked)}"
            raise Refusal(
                "prompt_mismatch",
                f"The request of {_where(s, final)} is not {self.where}'s conversation ({which}).",
                sample=s.label,
                call=final.number,
            )
        if not final.ok or mc.text is None:
            raise SampleFailed(s.error or f"model call {mc.number} failed with status {final.status}")
        if mc.tool_calls:
            raise Refusal(
                "unsupported_call",
                f"The response of {_where(s, final)} makes native tool calls, which a suite's upload cannot be "
                "re-graded with yet.",
                sample=s.label,
                call=final.number,
            )
        return ChatReply(text=mc.text, request_sha256=final.request_sha256, response_sha256=final.response_sha256)


async def _play(definition: SuiteDefinition, condition: str, index: int, chat: _Replay) -> SampleResult:
    return await definition.run_sample(condition, index, chat)


def suite_assess(samples: list[LogSample], definition: SuiteDefinition) -> list[SampleVerdict]:
    """Check 4 and the re-score, for a registered suite's log. A sample is
    ``done`` when the suite's conversation, replayed over the verified calls,
    completes (whatever the log says); ``error`` when one of its calls failed
    or the log says it failed before the conversation's end."""
    seen: set[tuple[str, int]] = set()
    verdicts = []
    for s in samples:
        try:
            condition, index = parse_sample_id(s.id)
        except ValueError:
            raise Refusal(
                "unknown_sample", f"Sample {s.label} is not a sample of {definition.name}.", sample=s.label
            ) from None
        meta = (s.metadata.get("condition", condition), s.metadata.get("index", index))
        if condition not in definition.conditions or meta != (condition, index):
            raise Refusal("unknown_sample", f"Sample {s.label} is not a sample of {definition.name}.", sample=s.label)
        if s.epoch != 1 or (condition, index) in seen:
            raise Refusal(
                "duplicate_sample",
                f"Sample {s.label} is in the log more than once: run more samples per condition, not epochs.",
                sample=s.label,
            )
        seen.add((condition, index))
        replay = _Replay(s, f"{definition.name} {condition} #{index}")
        calls = [e.digests() for e in s.exchanges]
        try:
            played = asyncio.run(_play(definition, condition, index, replay))
        except SampleFailed as exc:
            if not s.error:
                raise Refusal(
                    "output_altered",
                    f"Sample {s.label}: the log says it finished, but its model call {replay.next} failed.",
                    sample=s.label,
                    call=replay.next,
                ) from None
            verdicts.append(
                SampleVerdict(
                    id=s.id,
                    epoch=s.epoch,
                    condition=condition,
                    index=index,
                    status="error",
                    error=error_text(str(exc)),
                    transcript=[],
                    labels={},
                    grade={},
                    calls=calls,
                    log_labels=s.log_labels,
                )
            )
            continue
        if replay.next < len(s.model_calls):
            extra = s.model_calls[replay.next]
            raise Refusal(
                "prompt_mismatch",
                f"Sample {s.label}: the log has model call {extra.number}, which {definition.name}'s conversation "
                "never makes.",
                sample=s.label,
                call=extra.number,
            )
        transcript = [{"role": str(m["role"]), "content": m.get("content") or ""} for m in played.transcript]
        notes = []
        if not s.error and [(m["role"], m["content"]) for m in transcript] != s.messages:
            raise Refusal(
                "output_altered",
                f"Sample {s.label}: its messages are not the conversation its verified calls make.",
                sample=s.label,
            )
        if s.error:
            notes.append("The log says this sample failed, but its conversation completed: graded as done.")
        graded = definition.score(condition, index, assistant_texts(played.transcript))
        verdicts.append(
            SampleVerdict(
                id=s.id,
                epoch=s.epoch,
                condition=condition,
                index=index,
                status="done",
                error="",
                transcript=transcript,
                labels=dict(graded.labels),
                grade=dict(graded.grade),
                calls=calls,
                log_labels=s.log_labels,
                notes=notes,
            )
        )
    return verdicts


def disagreements(verdicts: list[SampleVerdict]) -> list[dict[str, Any]]:
    """Where the log's own scores differ from ours (ours are kept)."""
    out = []
    for v in verdicts:
        theirs = {k: str(val) for k, val in (v.log_labels or {}).items()}
        if v.status == "done" and theirs != v.labels:
            out.append({"sample": v.id, "log": v.log_labels, "ours": v.labels})
    return out
