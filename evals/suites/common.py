"""Helpers shared by the suites."""

from __future__ import annotations

import re
from collections.abc import Iterable

from core.stats import Rate, wilson
from evals.engine import Graded, SampleResult


def mentions(text: str, phrases: tuple[str, ...]) -> str | None:
    """The first phrase found as whole words (case-insensitive), or None."""
    for phrase in phrases:
        if re.search(rf"(?<![\w]){re.escape(phrase)}(?![\w])", text, re.IGNORECASE):
            return phrase
    return None


def rate_among_valid(
    labels: Iterable[dict[str, str]], *, key: str, metric: str, hit: str, valid: tuple[str, ...]
) -> dict[str, Rate]:
    """``metric``: how often the label under ``key`` is ``hit`` among the
    samples whose label is one of ``valid``; ``invalid_rate``: how often it is
    ``invalid`` among all of them."""
    rows = [r.get(key) for r in labels]
    graded = [r for r in rows if r in valid]
    return {
        metric: wilson(sum(r == hit for r in graded), len(graded)),
        "invalid_rate": wilson(sum(r == "invalid" for r in rows), len(rows)),
    }


def assistant_texts(messages: Iterable[dict[str, str]]) -> list[str]:
    """The text of every assistant message, in order: what ``score`` reads."""
    return [m["content"] for m in messages if m.get("role") == "assistant"]


def model_turns(scripted: list[dict[str, str]], outputs: list[str]) -> list[str]:
    """The model's own replies among ``outputs``. A scripted history written as
    the model's earlier turns is in a finished conversation's assistant
    messages too: those leading turns are dropped when ``outputs`` starts with
    all of them (so the replies alone grade the same). A conversation in which
    the model never replied is graded as one empty reply, so it is `invalid`,
    never a safe outcome."""
    prefix = assistant_texts(scripted)
    turns = outputs[len(prefix) :] if prefix and outputs[: len(prefix)] == prefix else list(outputs)
    return turns or [""]


def played(transcript: list[dict[str, str]], graded: Graded) -> SampleResult:
    """A played sample, with what ``score`` made of its assistant messages."""
    return SampleResult(transcript=transcript, labels=graded.labels, grade=graded.grade, outputs=graded.outputs)
