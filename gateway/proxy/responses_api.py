"""The Responses API (``POST /gateway/v1/responses``) over a lab's
chat-completions endpoint.

Labs' endpoints speak chat completions only; Inspect's ``openai/`` provider
and newer openai SDK code speak the Responses API. This module translates one
Responses request into one chat-completions request, and the answer back: a
whole chat completion into a Response object, a chat-completion event stream
into the Responses event sequence. It is pure (no I/O, no Django): the gateway
(gateway/proxy/server.py) runs the call through the same admission, limits, upstream
hop, access log and usage settlement as a chat completion.

The gateway keeps no conversation state, so everything that needs it
(``store: true``, ``previous_response_id``, ``conversation``, item references,
``background``) is refused, and so is what a chat-completions endpoint cannot
do (reasoning items and summaries, built-in tools such as web search, images,
files and audio, logprobs): a 400 naming the parameter, before anything goes
upstream. Nothing asked for is silently dropped, except fields that only
label a call (``metadata``, ``user``, ``safety_identifier``, prompt-cache
hints, ``service_tier``) and ``include: ["reasoning.encrypted_content"]``
(there is never reasoning to include).

The lab's credential never reaches this module: the gateway scrubs the
upstream's answer, and each streamed event, before translating it
(gateway/proxy/redact.py, the one definition for every route)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from gateway.proxy.usage import Usage

# Top-level fields that only label a call or hint at caching and billing: not
# sent upstream, never change the answer.
_LABELS = frozenset(
    {"metadata", "user", "safety_identifier", "prompt_cache_key", "prompt_cache_retention", "service_tier"}
)
# Fields that need state the gateway does not keep, or features a chat
# endpoint does not have: refused whenever they are set to anything but null
# (or the one harmless value in the second element).
_STATEFUL = {
    "previous_response_id": "The gateway keeps no conversation state: send the whole conversation as input.",
    "conversation": "The gateway keeps no conversation state: send the whole conversation as input.",
    "prompt": "Stored prompts are not available through the gateway: send instructions and input.",
}
_UNSUPPORTED_VALUES = {
    "top_logprobs": "Log probabilities are not available through the gateway's Responses API.",
    "max_tool_calls": "max_tool_calls is not supported by the gateway's Responses API.",
}
_INCLUDABLE = frozenset({"reasoning.encrypted_content"})  # nothing to include: never any reasoning
_FINISH = {"length": "max_output_tokens", "content_filter": "content_filter"}


class Unsupported(Exception):
    """The request asks for something the translation cannot do (a 400)."""

    def __init__(self, param: str, message: str, code: str = "unsupported_parameter") -> None:
        super().__init__(message)
        self.param, self.message, self.code = param, message, code


class UpstreamMalformed(Exception):
    """The upstream's 200 answer is not a chat completion (a 502)."""


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


# The request


def _number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is not None and (type(value) not in (int, float)):
        raise Unsupported(name, f"{name} must be a number.", "invalid_request")
    return value


def _text_of(content: Any, param: str, role: str) -> tuple[Any, str | None]:
    """A message item's content as chat content (a string, or text parts when
    there are several), and an assistant's refusal text, if any."""
    if isinstance(content, str):
        return content, None
    if not isinstance(content, list):
        raise Unsupported(param, "A message's content must be a string or a list of parts.", "invalid_request")
    texts: list[str] = []
    refusals: list[str] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        where = f"{param}.content[{j}]"
        if kind in ("input_text", "output_text", "text") and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "refusal" and role == "assistant" and isinstance(part.get("refusal"), str):
            refusals.append(part["refusal"])
        elif kind in ("input_image", "input_file", "input_audio", "image_url"):
            raise Unsupported(
                where,
                "Images, files and audio cannot be sent to this model's endpoint through the gateway: text only.",
                "unsupported_content",
            )
        else:
            raise Unsupported(where, f"Unsupported content part type {kind!r}.", "unsupported_content")
    refusal = "".join(refusals) or None
    if len(texts) == 1:
        return texts[0], refusal
    return [{"type": "text", "text": t} for t in texts], refusal


def _output_text(output: Any, param: str) -> str:
    """A function_call_output's output as the tool message's text."""
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        texts = []
        for j, part in enumerate(output):
            if isinstance(part, dict) and part.get("type") == "input_text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                raise Unsupported(
                    f"{param}.output[{j}]",
                    "A tool's output can only be text through the gateway (no images or files).",
                    "unsupported_content",
                )
        return "\n".join(texts)
    raise Unsupported(f"{param}.output", "A function_call_output's output must be a string.", "invalid_request")


def _messages(items: Any) -> list[dict[str, Any]]:
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    if not isinstance(items, list):
        raise Unsupported("input", "input must be a string or a list of items.", "invalid_request")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        param = f"input[{i}]"
        if not isinstance(item, dict):
            raise Unsupported(param, "Each input item must be an object.", "invalid_request")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "system", "developer", "assistant"):
                raise Unsupported(f"{param}.role", f"Unsupported message role {role!r}.", "invalid_request")
            content, refusal = _text_of(item.get("content"), param, role)
            # Labs' chat servers know "system"; "developer" is OpenAI's newer name for it.
            message: dict[str, Any] = {"role": "system" if role == "developer" else role, "content": content}
            if refusal is not None:
                message["refusal"] = refusal
            out.append(message)
        elif kind == "function_call":
            call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments")
            if not (isinstance(call_id, str) and isinstance(name, str) and isinstance(arguments, str)):
                raise Unsupported(param, "A function_call needs call_id, name and arguments.", "invalid_request")
            call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant":
                # The assistant's text and its calls are one chat message.
                last.setdefault("tool_calls", []).append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            if not isinstance(call_id, str):
                raise Unsupported(param, "A function_call_output needs a call_id.", "invalid_request")
            out.append({"role": "tool", "tool_call_id": call_id, "content": _output_text(item.get("output"), param)})
        elif kind == "reasoning":
            raise Unsupported(
                param,
                "Reasoning items cannot be sent to this model's endpoint through the gateway.",
                "unsupported_item",
            )
        elif kind == "item_reference":
            raise Unsupported(
                param,
                "The gateway keeps no conversation state: item references cannot be resolved.",
                "unsupported_item",
            )
        else:
            raise Unsupported(
                param, f"Input items of type {kind!r} are not supported by the gateway.", "unsupported_item"
            )
    return out


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise Unsupported("tools", "tools must be a list.", "invalid_request")
    out = []
    for i, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise Unsupported(
                f"tools[{i}]",
                f"Tools of type {kind!r} are built into OpenAI's own service; the gateway offers function tools only.",
                "unsupported_tool",
            )
        if not isinstance(tool.get("name"), str):
            raise Unsupported(f"tools[{i}].name", "A function tool needs a name.", "invalid_request")
        function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None}
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise Unsupported("tool_choice", "tool_choice must be auto, none, required or a function.", "unsupported_tool")


def _text_format(text: Any, upstream: dict[str, Any]) -> None:
    if not isinstance(text, dict):
        raise Unsupported("text", "text must be an object.", "invalid_request")
    if text.get("verbosity") is not None:
        upstream["verbosity"] = text["verbosity"]
    fmt = text.get("format")
    if fmt is None:
        return
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return
    if kind == "json_object":
        upstream["response_format"] = {"type": "json_object"}
    elif kind == "json_schema" and isinstance(fmt, dict) and isinstance(fmt.get("schema"), dict):
        schema = {k: fmt[k] for k in ("name", "description", "schema", "strict") if fmt.get(k) is not None}
        upstream["response_format"] = {"type": "json_schema", "json_schema": schema}
    else:
        raise Unsupported("text.format", "text.format must be text, json_object or json_schema.", "invalid_request")


def _reasoning(reasoning: Any, upstream: dict[str, Any]) -> None:
    if not isinstance(reasoning, dict):
        raise Unsupported("reasoning", "reasoning must be an object.", "invalid_request")
    for key, value in reasoning.items():
        if value is None:
            continue
        if key == "effort" and isinstance(value, str):
            upstream["reasoning_effort"] = value  # chat completions' name for it
        else:
            raise Unsupported(
                f"reasoning.{key}",
                "Reasoning summaries and reasoning items are not available through the gateway "
                "(the lab's endpoint speaks chat completions); only reasoning.effort is passed on.",
            )


def translate_request(body: dict[str, Any], *, endpoint_model: str) -> Translation:
    """The chat-completions request for a Responses request (Unsupported if
    it cannot be translated). ``body`` has been checked to be an object with
    a string ``model`` the token grants."""
    upstream: dict[str, Any] = {"model": endpoint_model}
    messages: list[dict[str, Any]] = []
    for key, value in body.items():
        if key in ("model", "input") or key in _LABELS or key == "stream_options":
            continue
        if value is None:
            continue  # null is "not given" throughout the Responses API
        if key == "instructions":
            if not isinstance(value, str):
                raise Unsupported(key, "instructions must be a string.", "invalid_request")
            messages.append({"role": "system", "content": value})
        elif key in ("temperature", "top_p"):
            upstream[key] = _number(body, key)
        elif key == "max_output_tokens":
            if type(value) is not int or value < 1:
                raise Unsupported(key, "max_output_tokens must be a positive integer.", "invalid_request")
            upstream["max_tokens"] = value
        elif key == "parallel_tool_calls":
            if not isinstance(value, bool):
                raise Unsupported(key, "parallel_tool_calls must be true or false.", "invalid_request")
            upstream[key] = value
        elif key == "tools":
            if value:
                upstream["tools"] = _tools(value)
        elif key == "tool_choice":
            upstream["tool_choice"] = _tool_choice(value)
        elif key == "stream":
            if not isinstance(value, bool):
                raise Unsupported(key, "stream must be true or false.", "invalid_request")
            if value:
                upstream["stream"] = True
                upstream["stream_options"] = {"include_usage": True}  # for the final event's usage
        elif key == "store":
            if value is not False:
                raise Unsupported(key, "The gateway keeps no conversation state: send store false (or leave it out).")
        elif key == "background":
            if value is not False:
                raise Unsupported(key, "Background responses are not available through the gateway.")
        elif key == "truncation":
            if value != "disabled":
                raise Unsupported(key, "Only truncation 'disabled' is available through the gateway.")
        elif key == "include":
            if not isinstance(value, list):
                raise Unsupported(key, "include must be a list.", "invalid_request")
            for j, name in enumerate(value):
                if name not in _INCLUDABLE:
                    raise Unsupported(f"include[{j}]", f"The gateway cannot include {name!r}.")
        elif key == "text":
            _text_format(value, upstream)
        elif key == "reasoning":
            _reasoning(value, upstream)
        elif key in _STATEFUL:
            raise Unsupported(key, _STATEFUL[key])
        elif key in _UNSUPPORTED_VALUES:
            raise Unsupported(key, _UNSUPPORTED_VALUES[key])
        else:
            raise Unsupported(key, f"The gateway's Responses API does not support {key!r}.")
    if "input" not in body:
        raise Unsupported("input", "input is required.", "invalid_request")
    messages.extend(_messages(body["input"]))
    if not messages:
        raise Unsupported("input", "input must hold at least one item.", "invalid_request")
    upstream["messages"] = messages
    return Translation(model=body["model"], request=body, upstream=upstream)


# The answer


def _usage(usage: Usage | None) -> dict[str, Any] | None:
    """The Responses usage object from the usage the gateway charged (clamped,
    gateway/proxy/usage.py); null when the upstream reported none."""
    if usage is None:
        return None
    prompt, completion, total, _ = usage
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": total,
    }


def _status(finish_reason: Any) -> tuple[str, dict[str, str] | None]:
    reason = _FINISH.get(finish_reason) if isinstance(finish_reason, str) else None
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message_item(item_id: str, parts: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "role": "assistant", "status": status, "content": parts}


def _call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


class _Text:
    """A streamed text: the pieces passed on so far."""

    def __init__(self) -> None:
        self.pieces: list[str] = []

    def push(self, piece: str) -> None:
        self.pieces.append(piece)

    @property
    def sent(self) -> str:
        return "".join(self.pieces)


@dataclass
class Translation:
    """One call's translation: what goes upstream, and what the caller asked
    for that the Response object echoes."""

    model: str  # the model id as the caller named it (echoed, never the lab's endpoint model)
    request: dict[str, Any]
    upstream: dict[str, Any]
    response_id: str = field(default_factory=lambda: _new_id("resp"))
    created_at: int = field(default_factory=lambda: int(time.time()))

    def response(
        self,
        status: str,
        output: list[dict[str, Any]],
        usage: Usage | None,
        incomplete: dict[str, str] | None = None,
        error: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        req = self.request
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": error,
            "incomplete_details": incomplete,
            "instructions": req.get("instructions"),
            "max_output_tokens": req.get("max_output_tokens"),
            "model": self.model,
            "output": output,
            "parallel_tool_calls": req.get("parallel_tool_calls") is not False,
            "previous_response_id": None,
            "reasoning": {"effort": (req.get("reasoning") or {}).get("effort"), "summary": None},
            "store": False,
            "temperature": req.get("temperature"),
            "text": req.get("text") or {"format": {"type": "text"}},
            "tool_choice": req.get("tool_choice") or "auto",
            "tools": req.get("tools") or [],
            "top_p": req.get("top_p"),
            "truncation": "disabled",
            "usage": _usage(usage),
            "metadata": req.get("metadata") or {},
        }

    def whole(self, data: Any, usage: Usage | None) -> bytes:
        """The Response object (JSON) for a whole chat completion."""
        choices = data.get("choices") if isinstance(data, dict) else None
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
            raise UpstreamMalformed("no choices[0].message")
        message = choice["message"]
        status, incomplete = _status(choice.get("finish_reason"))
        item_status = "completed" if status == "completed" else "incomplete"
        content, refusal, calls = message.get("content"), message.get("refusal"), message.get("tool_calls")
        if content is not None and not isinstance(content, str):
            raise UpstreamMalformed("content is not a string")
        if calls is not None and not isinstance(calls, list):
            raise UpstreamMalformed("tool_calls is not a list")
        output: list[dict[str, Any]] = []
        parts: list[dict[str, Any]] = []
        if content or not (calls or refusal):
            parts.append(_text_part(content or ""))
        if isinstance(refusal, str) and refusal:
            parts.append({"type": "refusal", "refusal": refusal})
        if parts:
            output.append(_message_item(_new_id("msg"), parts, item_status))
        for call in calls or []:
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise UpstreamMalformed("a tool call without a function name")
            arguments = function.get("arguments")
            if arguments is not None and not isinstance(arguments, str):
                raise UpstreamMalformed("a tool call's arguments are not a string")
            call_id = call.get("id") if isinstance(call.get("id"), str) else _new_id("call")
            output.append(
                _call_item(
                    _new_id("fc"),
                    call_id,
                    function["name"],
                    arguments or "",
                    item_status,
                )
            )
        return _dumps(self.response(status, output, usage, incomplete))

    def stream(self) -> StreamTranslation:
        return StreamTranslation(self)


class _Item:
    """An output item being streamed: a message (text, then perhaps a
    refusal) or a function call."""

    def __init__(self, index: int, item_id: str, kind: str) -> None:
        self.index, self.id, self.kind = index, item_id, kind
        self.parts: list[tuple[str, _Text]] = []  # (output_text | refusal, its text)
        self.call_id = ""
        self.name = ""
        self.arguments = _Text()  # a function call's
        self.open = True


class StreamTranslation:
    """The Responses event stream for one upstream chat-completion stream.
    ``start`` opens it, ``feed`` takes the parsed data events, ``finish``
    or ``fail`` ends it; each returns the bytes to send."""

    def __init__(self, translation: Translation) -> None:
        self.t = translation
        self.sequence = 0
        self.items: list[_Item] = []
        self.message: _Item | None = None  # the open message item, if any
        self.calls: dict[int, _Item] = {}  # by the upstream's tool-call index
        self.finish_reason: Any = None
        self.finished = False
        self.upstream_failed = False

    def _event(self, kind: str, **fields: Any) -> bytes:
        body = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + _dumps(body) + b"\n\n"

    def start(self) -> bytes:
        response = self.t.response("in_progress", [], None)
        return self._event("response.created", response=response) + self._event(
            "response.in_progress", response=response
        )

    # Items

    def _add(self, kind: str, prefix: str) -> _Item:
        item = _Item(len(self.items), _new_id(prefix), kind)
        self.items.append(item)
        return item

    def _final(self, item: _Item, status: str) -> dict[str, Any]:
        if item.kind == "message":
            parts = [
                _text_part(w.sent) if kind == "output_text" else {"type": "refusal", "refusal": w.sent}
                for kind, w in item.parts
            ]
            return _message_item(item.id, parts, status)
        return _call_item(item.id, item.call_id, item.name, item.arguments.sent, status)

    def _part(self, kind: str) -> tuple[bytes, _Item, _Text]:
        """The message's open part of this kind (opening the message, and
        closing a part of the other kind, as needed)."""
        out = b""
        if self.message is None:
            self.message = self._add("message", "msg")
            out += self._event(
                "response.output_item.added",
                output_index=self.message.index,
                item=_message_item(self.message.id, [], "in_progress"),
            )
        item = self.message
        if item.parts and item.parts[-1][0] == kind:
            return out, item, item.parts[-1][1]
        out += self._close_part(item)
        item.parts.append((kind, _Text()))
        empty = _text_part("") if kind == "output_text" else {"type": "refusal", "refusal": ""}
        out += self._event(
            "response.content_part.added",
            item_id=item.id,
            output_index=item.index,
            content_index=len(item.parts) - 1,
            part=empty,
        )
        return out, item, item.parts[-1][1]

    def _close_part(self, item: _Item) -> bytes:
        if not item.parts:
            return b""
        kind, text = item.parts[-1]
        out = b""
        where = {"item_id": item.id, "output_index": item.index, "content_index": len(item.parts) - 1}
        if kind == "output_text":
            out += self._event("response.output_text.done", text=text.sent, logprobs=[], **where)
            part = _text_part(text.sent)
        else:
            out += self._event("response.refusal.done", refusal=text.sent, **where)
            part = {"type": "refusal", "refusal": text.sent}
        return out + self._event("response.content_part.done", part=part, **where)

    def _close(self, item: _Item, status: str) -> bytes:
        if not item.open:
            return b""
        item.open = False
        out = b""
        if item.kind == "message":
            out += self._close_part(item)
            if self.message is item:
                self.message = None
        else:
            where = {"item_id": item.id, "output_index": item.index}
            out += self._event("response.function_call_arguments.done", arguments=item.arguments.sent, **where)
        return out + self._event("response.output_item.done", output_index=item.index, item=self._final(item, status))

    # Upstream events

    def feed(self, events: list[Any]) -> bytes:
        out = b""
        for event in events:
            if self.finished or not isinstance(event, dict):
                continue
            if isinstance(event.get("error"), dict):  # an error reported mid-stream
                self.upstream_failed = True
                return out + self.fail("upstream_error", "The model's endpoint failed mid-stream.", None)
            choices = event.get("choices")
            choice = choices[0] if isinstance(choices, list) and choices else None
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                out += self._delta(delta)
            if isinstance(choice.get("finish_reason"), str):
                self.finish_reason = choice["finish_reason"]
        return out

    def _delta(self, delta: dict[str, Any]) -> bytes:
        out = b""
        for kind, key, event in (
            ("output_text", "content", "response.output_text.delta"),
            ("refusal", "refusal", "response.refusal.delta"),
        ):
            piece = delta.get(key)
            if isinstance(piece, str) and piece:
                opened, item, text = self._part(kind)
                out += opened
                text.push(piece)
                where = {"item_id": item.id, "output_index": item.index, "content_index": len(item.parts) - 1}
                extra: dict[str, Any] = {"logprobs": []} if kind == "output_text" else {}
                out += self._event(event, delta=piece, **where, **extra)
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            for position, call in enumerate(calls):
                if isinstance(call, dict):
                    out += self._call_delta(position, call)
        return out

    def _call_delta(self, position: int, call: dict[str, Any]) -> bytes:
        out = b""
        index: int = call["index"] if type(call.get("index")) is int else position
        function: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else {}
        name = function.get("name")
        item = self.calls.get(index)
        if item is None:
            if self.message is not None:  # text before the calls is one item, the calls others
                out += self._close(self.message, "completed")
            item = self.calls[index] = self._add("function_call", "fc")
            item.call_id = call["id"] if isinstance(call.get("id"), str) else _new_id("call")
            item.name = name if isinstance(name, str) else ""
            out += self._event(
                "response.output_item.added",
                output_index=item.index,
                item=_call_item(item.id, item.call_id, item.name, "", "in_progress"),
            )
        elif isinstance(name, str) and not item.name:
            item.name = name
        piece = function.get("arguments")
        if isinstance(piece, str) and piece and item.open:
            item.arguments.push(piece)
            out += self._event(
                "response.function_call_arguments.delta", item_id=item.id, output_index=item.index, delta=piece
            )
        return out

    # The end

    def finish(self, usage: Usage | None) -> bytes:
        """Close every open item, then the terminal event (completed, or
        incomplete when the upstream stopped at the length limit or a filter)."""
        if self.finished:
            return b""
        self.finished = True
        status, incomplete = _status(self.finish_reason)
        item_status = "completed" if status == "completed" else "incomplete"
        # An answer with no text and no calls is still an (empty) message, as when whole.
        out = b"" if self.items else self._part("output_text")[0]
        out += b"".join([self._close(item, item_status) for item in self.items])
        output = [self._final(item, item_status) for item in self.items]
        return out + self._event(f"response.{status}", response=self.t.response(status, output, usage, incomplete))

    def fail(self, code: str, message: str, usage: Usage | None) -> bytes:
        """The terminal ``response.failed`` event (the upstream broke off)."""
        if self.finished:
            return b""
        self.finished = True
        output = [self._final(item, "incomplete") for item in self.items]
        response = self.t.response("failed", output, usage, error={"code": code, "message": message})
        return self._event("response.failed", response=response)
