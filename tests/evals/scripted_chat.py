"""A stand-in for the model in suite tests that drive ``run_sample`` directly."""

from __future__ import annotations

import asyncio

from evals.engine import ChatReply, Graded, SampleResult, SuiteDefinition


class ScriptedChat:
    """A ChatFn that answers with the scripted texts in order. ``seen`` keeps a
    copy of what each call was sent; ``replies`` what was never asked for."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.seen: list[list[dict[str, str]]] = []

    async def __call__(self, messages: list[dict[str, str]]) -> ChatReply:
        self.seen.append([dict(m) for m in messages])
        return ChatReply(text=self.replies.pop(0), request_sha256="0" * 64, response_sha256="1" * 64)


def rescored(suite: SuiteDefinition, condition: str, index: int, result: SampleResult) -> Graded:
    """What the suite's ``score`` makes of a played sample's assistant messages."""
    outputs = [m["content"] for m in result.transcript if m["role"] == "assistant"]
    return suite.score(condition, index, outputs)


def play(suite: SuiteDefinition, condition: str, index: int, chat: ScriptedChat) -> SampleResult:
    """Play one sample to the end, and check that ``score`` of its transcript
    gives back exactly its labels, grade and outputs (the scorer re-grades
    transcripts with nothing else)."""

    async def played() -> SampleResult:
        return await suite.run_sample(condition, index, chat)

    result = asyncio.run(played())
    assert rescored(suite, condition, index, result) == Graded(result.labels, result.grade, result.outputs)
    return result
