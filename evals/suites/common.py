"""Helpers shared by the suites, and the one rendering of native tool calls
as text ReAct (``react_text``) that every reader of a reply goes through."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.stats import Rate, wilson
from evals.engine import ChatReply, Graded, SampleResult
from evals.suites.insider_trading.parsing import Action, actions_of


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


def react_text(content: str, tool_calls: Iterable[Mapping[str, Any]] = ()) -> str:
    """A reply as the graders read it: the model's own text, then each native
    tool call, in the order made, as `Action: <function>` and `Action Input:
    <arguments as one line of JSON>`, blank-line separated. Without calls, the
    text itself. So a reply is graded as this equivalent text ReAct would be:
    several calls are several actions, and text beside a call counts only
    where it holds an Action line of its own (then it too is an action). The
    arguments' JSON escapes every newline and quote, so no argument can add an
    Action line or close a Reasoning block."""
    blocks = [f"Action: {c.get('function', '')}\nAction Input: {_arguments(c.get('arguments'))}" for c in tool_calls]
    if not blocks:
        return content
    return "\n\n".join([content, *blocks] if content.strip() else blocks)


def _arguments(arguments: Any) -> str:
    return json.dumps({} if arguments is None else arguments, ensure_ascii=False, default=str)


def assistant_texts(messages: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every assistant message as ``react_text`` renders it, in order: what ``score`` reads."""
    return [
        react_text(m.get("content") or "", m.get("tool_calls") or ()) for m in messages if m.get("role") == "assistant"
    ]


@dataclass(frozen=True)
class NativeTool:
    """One of a suite's ReAct actions offered as a native function tool. Its
    parameters are the fields of the action's text input, in order; a call's
    arguments read back into that input joined by ", " (the ``quoted`` one in
    triple quotes), so the suite's own ReAct rules grade it."""

    name: str
    description: str
    params: tuple[tuple[str, dict[str, Any]], ...]  # (name, JSON schema), in the text input's order
    quoted: str | None = None

    def spec(self) -> dict[str, Any]:
        """The OpenAI function tool: every parameter required, nothing else allowed."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": {
                    "type": "object",
                    "properties": dict(self.params),
                    "required": [name for name, _ in self.params],
                    "additionalProperties": False,
                },
            },
        }

    def react_input(self, arguments: Mapping[str, Any]) -> str:
        """The text ReAct input the call's arguments stand for: a value not a
        string as JSON, a missing one empty, and missing ones at the end left
        out (as a text input that stops short)."""
        values = []
        for name, _ in self.params:
            value = arguments.get(name)
            text = "" if value is None else value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            values.append((text, name == self.quoted))
        while values and not values[-1][0]:
            values.pop()
        return ", ".join(f'"""{text}"""' if quoted else text for text, quoted in values)


def read_actions(text: str, tools: Mapping[str, NativeTool] | None = None) -> list[Action]:
    """The actions of one rendered reply (``actions_of``). With a suite's
    native tools, an action of one of them whose input is a JSON object (a
    native call, as ``react_text`` renders it) has its input read back
    through the tool into the text ReAct form; every other input is as written."""
    actions = actions_of(text)
    return [_from_native(a, tools) for a in actions] if tools else actions


def _from_native(action: Action, tools: Mapping[str, NativeTool]) -> Action:
    tool = tools.get(action.name)
    if tool is None or not action.input.startswith("{"):
        return action
    try:
        arguments = json.loads(action.input)
    except ValueError:
        return action
    return Action(action.name, tool.react_input(arguments)) if isinstance(arguments, dict) else action


OUTPUT = re.compile(r'Output: """(.*)"""', re.DOTALL)


def answer(reply: ChatReply, text: str) -> dict[str, Any]:
    """The environment's answer to a reply's one action: to a native call, a
    tool message answering it (the result without the `Output:` wrapper the
    text protocol puts round it); to an action written as text, a user
    message, as on the text protocol."""
    if len(reply.tool_calls) == 1:
        found = OUTPUT.fullmatch(text)
        return {"role": "tool", "tool_call_id": reply.tool_calls[0]["id"], "content": found[1] if found else text}
    return {"role": "user", "content": text}


def model_turns(scripted: list[dict[str, Any]], outputs: list[str]) -> list[str]:
    """The model's own replies among ``outputs``. A scripted history written as
    the model's earlier turns is in a finished conversation's assistant
    messages too: those leading turns are dropped when ``outputs`` starts with
    all of them (so the replies alone grade the same). A conversation in which
    the model never replied is graded as one empty reply, so it is `invalid`,
    never a safe outcome."""
    prefix = assistant_texts(scripted)
    turns = outputs[len(prefix) :] if prefix and outputs[: len(prefix)] == prefix else list(outputs)
    return turns or [""]


def played(transcript: list[dict[str, Any]], graded: Graded) -> SampleResult:
    """A played sample, with what ``score`` made of its assistant messages."""
    return SampleResult(transcript=transcript, labels=graded.labels, grade=graded.grade, outputs=graded.outputs)
