"""A stand-in for the model in suite tests that drive ``run_sample`` directly."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from typing import Any

from evals.engine import ChatReply, Graded, SampleResult, SuiteDefinition
from evals.suites.common import assistant_texts, react_text

# A scripted reply: its text, or a native one made with ``native``.
Reply = str | dict[str, Any]


def call(function: str, /, **arguments: Any) -> dict[str, Any]:
    """One native tool call (ScriptedChat numbers it when it is made)."""
    return {"function": function, "arguments": arguments}


def native(*calls: dict[str, Any], content: str = "") -> dict[str, Any]:
    """A reply with native tool calls, beside its own text."""
    return {"content": content, "tool_calls": list(calls)}


class ScriptedChat:
    """A ChatFn that answers with the scripted replies in order. ``seen`` keeps
    a copy of what each call was sent, ``tools`` the tools each was offered
    (None when none were); ``replies`` what was never asked for. A native
    reply's calls get ids call_1, call_2, ... in the order they are made."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.seen: list[list[dict[str, Any]]] = []
        self.tools: list[list[dict[str, Any]] | None] = []
        self.calls_made = 0

    async def __call__(
        self, messages: list[dict[str, Any]], tools: Sequence[dict[str, Any]] | None = None
    ) -> ChatReply:
        self.seen.append(copy.deepcopy(messages))
        self.tools.append(copy.deepcopy(list(tools)) if tools is not None else None)
        reply = self.replies.pop(0)
        sha = {"request_sha256": "0" * 64, "response_sha256": "1" * 64}
        if isinstance(reply, str):
            return ChatReply(text=reply, **sha)
        calls = []
        for c in reply["tool_calls"]:
            self.calls_made += 1
            calls.append({"id": c.get("id", f"call_{self.calls_made}"), **c})
        content = reply.get("content", "")
        return ChatReply(text=react_text(content, calls), tool_calls=tuple(calls), content=content, **sha)


def rescored(suite: SuiteDefinition, condition: str, index: int, result: SampleResult) -> Graded:
    """What the suite's ``score`` makes of a played sample's assistant messages."""
    return suite.score(condition, index, assistant_texts(result.transcript))


def inspect_rescored(suite: SuiteDefinition, condition: str, index: int, result: SampleResult) -> Graded:
    """What the Inspect scorer makes of the sample: its transcript as the
    solver hands it to Inspect, read back by ``evals.inspect_tasks.assistant_texts``,
    both as Inspect messages and as their JSON form in a log."""
    from evals.inspect_tasks import _message
    from evals.inspect_tasks import assistant_texts as inspect_texts

    messages = [_message(m) for m in result.transcript]
    as_json = [m.model_dump(mode="json") for m in messages]
    assert inspect_texts(messages) == inspect_texts(as_json)
    return suite.score(condition, index, inspect_texts(messages))


def play(suite: SuiteDefinition, condition: str, index: int, chat: ScriptedChat) -> SampleResult:
    """Play one sample to the end, and check that ``score`` of its transcript
    gives back exactly its labels, grade and outputs (the scorer re-grades
    transcripts with nothing else), read as the suite reads it and as the
    Inspect scorer does."""

    async def played() -> SampleResult:
        return await suite.run_sample(condition, index, chat)

    result = asyncio.run(played())
    graded = Graded(result.labels, result.grade, result.outputs)
    assert rescored(suite, condition, index, result) == graded
    assert inspect_rescored(suite, condition, index, result) == graded
    return result
