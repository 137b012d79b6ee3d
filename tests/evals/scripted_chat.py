"""A stand-in for the model in suite tests that drive ``run_sample`` directly."""

from __future__ import annotations

from evals.engine import ChatReply


class ScriptedChat:
    """A ChatFn that answers with the scripted texts in order. ``seen`` keeps a
    copy of what each call was sent; ``replies`` what was never asked for."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.seen: list[list[dict[str, str]]] = []

    def __call__(self, messages: list[dict[str, str]]) -> ChatReply:
        self.seen.append([dict(m) for m in messages])
        return ChatReply(text=self.replies.pop(0), request_sha256="0" * 64, response_sha256="1" * 64)
