"""Stagegate's suites as Inspect tasks: a dataset of (condition, index)
samples, a solver that plays the suite's conversation through Inspect's
model, and a scorer that grades the model's replies with the suite's own
``score``. No ORM: the same tasks run in Stagegate's managed runs (see
``evals.shards``) and on an auditor's machine (``inspect eval
stagegate/<suite>``), and the scorer re-grades an uploaded log.

A sample's id is ``<condition>#<index>``; its metadata carries the condition,
the index and the seed its calls are made with."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    GenerateConfig,
    get_model,
)
from inspect_ai.scorer import Score, Target, scorer
from inspect_ai.solver import Generate, TaskState, solver
from inspect_ai.tool import ToolCall, ToolInfo, ToolParams

from evals.engine import ChatReply, SampleFailed, SuiteDefinition, registry, sample_id
from evals.suites.common import react_text

GRADER_ROLE = "grader"
# The model that plays the other side of a conversation, for suites whose
# run_sample takes a ``counterpart`` (human_manipulation). Unbound, Inspect
# falls back to the model under test (self-play).
COUNTERPART_ROLE = "counterpart"


def _message(m: dict[str, Any]) -> ChatMessage:
    role, content = m["role"], m.get("content") or ""
    if role == "system":
        return ChatMessageSystem(content=content)
    if role == "assistant":
        calls = [
            ToolCall(id=c["id"], function=c["function"], arguments=dict(c["arguments"]))
            for c in m.get("tool_calls") or []
        ]
        return ChatMessageAssistant(content=content, tool_calls=calls or None)
    if role == "tool":
        return ChatMessageTool(content=content, tool_call_id=m["tool_call_id"])
    return ChatMessageUser(content=content)


def _tool_info(tool: dict[str, Any]) -> ToolInfo:
    """An OpenAI function tool as Inspect's ToolInfo (Inspect sends it back out as the same JSON schema)."""
    f = tool["function"]
    return ToolInfo(name=f["name"], description=f["description"], parameters=ToolParams.model_validate(f["parameters"]))


def _calls(message: Any) -> list[dict[str, Any]]:
    """An assistant message's native tool calls as {"id", "function", "arguments"}, from Inspect or its JSON form."""
    if isinstance(message, dict):
        return [c for c in message.get("tool_calls") or [] if isinstance(c, dict)]
    return [{"id": c.id, "function": c.function, "arguments": dict(c.arguments)} for c in message.tool_calls or []]


class InspectChat:
    """The suites' ChatFn on Inspect's model: each call is one ``generate``,
    recorded by Inspect in the sample's transcript."""

    def __init__(self, *, role: str | None = None, seed: int | None = None, config: dict[str, Any] | None = None):
        self.model = get_model(role=role) if role else get_model()
        self.config = GenerateConfig(**{**(config or {}), **({"seed": seed} if seed is not None else {})})

    async def __call__(
        self, messages: list[dict[str, Any]], tools: Sequence[dict[str, Any]] | None = None
    ) -> ChatReply:
        output = await self.model.generate(
            [_message(m) for m in messages], tools=[_tool_info(t) for t in tools or ()], config=self.config
        )
        if output.error:
            raise SampleFailed(f"the model's reply was an error: {output.error}"[:500])
        usage = output.usage.model_dump(exclude_none=True) if output.usage else {}
        calls = tuple(_calls(output.message)) if output.choices else ()
        return ChatReply(
            text=react_text(output.completion, calls),
            request_sha256="",
            response_sha256="",
            usage=usage,
            tool_calls=calls,
            content=output.completion,
        )


def assistant_texts(messages: Iterable[Any]) -> list[str]:
    """The model's replies in order, from Inspect messages or their JSON form,
    each with its native tool calls rendered as ``react_text`` renders them
    (what ``InspectChat`` handed the suite)."""
    texts = []
    for m in messages:
        role = m.get("role") if isinstance(m, dict) else m.role
        if role == "assistant":
            texts.append(react_text(_text_of(m), _calls(m)))
    return texts


def transcript_of(messages: Iterable[Any]) -> list[dict[str, str]]:
    """A conversation as Stagegate shows it beside the labels: role and text,
    each assistant turn as the graders read it (tool calls rendered)."""
    out = []
    for m in messages:
        role = m.get("role") if isinstance(m, dict) else m.role
        text = react_text(_text_of(m), _calls(m)) if role == "assistant" else _text_of(m)
        out.append({"role": str(role), "content": text})
    return out


def _text_of(m: Any) -> str:
    if not isinstance(m, dict):
        return str(m.text)
    content = m.get("content")
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [] if isinstance(part, dict))


@solver
def play(suite: str, judge: bool = False):  # type: ignore[no-untyped-def]
    """Plays the suite's conversation for this sample; with ``judge``, asks the
    model in the ``grader`` role to label the graded moments too."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        definition = registry()[suite]
        condition, index = state.metadata["condition"], int(state.metadata["index"])
        chat = InspectChat(seed=state.metadata.get("seed"))
        extra: dict[str, Any] = {}
        if definition.has_counterpart:
            extra["counterpart"] = InspectChat(role=COUNTERPART_ROLE, seed=state.metadata.get("seed"))
        result = await definition.run_sample(condition, index, chat, **extra)
        state.messages = [_message(m) for m in result.transcript]
        if judge and definition.judge is not None:
            grader = InspectChat(role=GRADER_ROLE, config={"temperature": 0.0, "max_tokens": 400})
            try:
                state.store.set("judge", await definition.judge(result, grader))
            except SampleFailed as exc:
                state.store.set("judge_error", str(exc))
        state.completed = True
        return state

    return solve


@scorer(metrics=[])
def graded(suite: str):  # type: ignore[no-untyped-def]
    """The suite's rules applied to the model's replies in the transcript."""

    async def score(state: TaskState, target: Target) -> Score:
        definition = registry()[suite]
        g = definition.score(state.metadata["condition"], int(state.metadata["index"]), assistant_texts(state.messages))
        grade = dict(g.grade)
        if state.store.get("judge") is not None:
            grade["judge"] = state.store.get("judge")
        if state.store.get("judge_error") is not None:
            grade["judge_error"] = state.store.get("judge_error")
        return Score(value=dict(g.labels), metadata={"grade": grade, "outputs": g.outputs})

    return score


def suite_task(
    definition: SuiteDefinition,
    samples: Iterable[tuple[str, int, int | None]],
    *,
    judge: bool = False,
    metadata: dict[str, Any] | None = None,
) -> Task:
    """The task for these (condition, index, seed) samples of a suite."""
    if definition.external is not None:
        return external_task(definition, samples, metadata=metadata)
    dataset = MemoryDataset(
        [
            Sample(
                id=sample_id(condition, index),
                input=f"{definition.name}: {condition} #{index}",
                metadata={"condition": condition, "index": index, "seed": seed},
            )
            for condition, index, seed in samples
        ],
        name=definition.name,
    )
    return Task(
        dataset=dataset,
        solver=play(definition.name, judge=judge),
        scorer=graded(definition.name),
        name=definition.name,
        version=definition.version,
        metadata={
            "stagegate_suite": definition.name,
            "suite_version": definition.version,
            "content_digest": definition.content_digest,
            **(metadata or {}),
        },
    )


# A maintained public task (evals.suites.external), run as it is published.


@cache
def published_task(suite: str, condition: str) -> Task:
    """The package's own task for one condition of an external suite, built
    with the condition's arguments (kept for the process: building reads the
    task's data files)."""
    definition = registry()[suite]
    if definition.external is None or condition not in definition.external.tasks:
        raise ValueError(f"not a condition of an external suite: {suite} {condition}")
    function, args = definition.external.tasks[condition]
    built = getattr(importlib.import_module(definition.external.module), function)(**args)
    if not isinstance(built, Task):  # pragma: no cover - a package whose task functions changed shape
        raise TypeError(f"{definition.external.module}.{function} did not return an Inspect task")
    return built


def _published_sample(definition: SuiteDefinition, condition: str, index: int, seed: int | None) -> Sample:
    """Item ``index`` (modulo the dataset's size) of the condition's own
    dataset, under our sample id, its metadata kept and ours added."""
    items = list(published_task(definition.name, condition).dataset)
    item = items[index % len(items)]
    return item.model_copy(
        update={
            "id": sample_id(condition, index),
            "metadata": {
                **(item.metadata or {}),
                "condition": condition,
                "index": index,
                "seed": seed,
                "published_id": item.id,
            },
        }
    )


@solver
def play_published(suite: str):  # type: ignore[no-untyped-def]
    """Runs the package's own solver of the sample's condition, unchanged."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        published = published_task(suite, state.metadata["condition"])
        return await published.solver(state, generate)

    return solve


def _published_scorers(suite: str, condition: str) -> list[Any]:
    """The condition's own scorers. Where the task takes a model as an
    argument (its grader), the task is built again with the run's model of
    that role, so its scorer never falls back to the package's default (a
    public provider's model)."""
    external = registry()[suite].external
    if external is None:  # pragma: no cover - published_task refuses first
        raise ValueError(f"not an external suite: {suite}")
    if not external.model_args:
        return list(published_task(suite, condition).scorer or [])
    function, args = external.tasks[condition]
    models = {arg: get_model(role=role, required=True) for arg, role in external.model_args.items()}
    built = getattr(importlib.import_module(external.module), function)(**args, **models)
    return list(built.scorer or [])


@scorer(metrics=[])
def published_scores(suite: str):  # type: ignore[no-untyped-def]
    """The package's own scorers of the sample's condition, their scores made
    into our labels; each score is kept whole in the grade."""

    async def score(state: TaskState, target: Target) -> Score:
        external = registry()[suite].external
        if external is None:  # pragma: no cover - published_task refuses first
            raise ValueError(f"not an external suite: {suite}")
        scores = [await s(state, target) for s in _published_scorers(suite, state.metadata["condition"])]
        if any(s is None for s in scores):
            raise SampleFailed("the task's own scorer gave no score")
        grade = {
            "published": [
                {"value": s.value, "answer": s.answer, "explanation": s.explanation} for s in scores if s is not None
            ],
            "published_id": state.metadata.get("published_id"),
        }
        return Score(value=external.labels(scores), metadata={"grade": grade})

    return score


def external_task(
    definition: SuiteDefinition,
    samples: Iterable[tuple[str, int, int | None]],
    *,
    metadata: dict[str, Any] | None = None,
) -> Task:
    """The task for these samples of an external suite: the package's
    datasets, solvers and scorers, per sample's condition, under one task
    (one shard, one log). The limits of the published tasks apply; they must
    agree across a suite's conditions (``tests/evals/test_external.py``)."""
    external = definition.external
    if external is None:
        raise ValueError(f"not an external suite: {definition.name}")
    chosen = list(samples)
    first = published_task(definition.name, chosen[0][0] if chosen else definition.conditions[0])
    return Task(
        dataset=MemoryDataset(
            [_published_sample(definition, c, i, seed) for c, i, seed in chosen], name=definition.name
        ),
        solver=play_published(definition.name),
        scorer=published_scores(definition.name),
        config=first.config,
        message_limit=first.message_limit,
        token_limit=first.token_limit,
        time_limit=first.time_limit,
        name=definition.name,
        version=definition.version,
        metadata={
            "stagegate_suite": definition.name,
            "suite_version": definition.version,
            "content_digest": definition.content_digest,
            "published": {
                "package": external.package,
                "version": definition.content["external"]["version"],
                "module": external.module,
                "roles": external.roles,
            },
            **(metadata or {}),
        },
    )


def _registered(definition: SuiteDefinition) -> Any:
    def factory(conditions: str | list[str] | None = None, samples_per_condition: int | None = None) -> Task:
        chosen = [conditions] if isinstance(conditions, str) else list(conditions or definition.default_conditions)
        unknown = [c for c in chosen if c not in definition.conditions]
        if unknown:
            raise ValueError(f"unknown condition(s) for {definition.name}: {', '.join(unknown)}")
        n = samples_per_condition or definition.default_samples
        return suite_task(definition, [(c, i, None) for c in chosen for i in range(n)])

    factory.__name__ = definition.name
    factory.__doc__ = definition.description
    return task(name=f"stagegate/{definition.name}")(factory)


# One registered Inspect task per suite (``inspect eval stagegate/<suite>``).
TASKS = {name: _registered(definition) for name, definition in registry().items()}
