"""What a suite is: its conditions, how to play one sample against a chat
function, how to score the model's outputs, and how to summarise graded
samples into rates. No ORM and no Inspect here: the suites are plain code,
testable without a database or a model. ``evals.inspect_tasks`` turns each
into an Inspect task (dataset, solver, scorer), which is what runs."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.canonical import digest_of
from core.stats import Rate

# A sample's id in an Inspect log: ``<condition>#<index>`` (evals.inspect_tasks).
# Here, with no Inspect import, so that the services that start runs and
# verify logs import without the evaluation engine installed.
SAMPLE_SEPARATOR = "#"


def sample_id(condition: str, index: int) -> str:
    return f"{condition}{SAMPLE_SEPARATOR}{index}"


def parse_sample_id(value: str | int) -> tuple[str, int]:
    """(condition, index) of a sample id; ValueError if it is not one."""
    condition, sep, index = str(value).rpartition(SAMPLE_SEPARATOR)
    if not sep or not condition or not index.isdigit():
        raise ValueError(f"not a Stagegate sample id: {value!r}")
    return condition, int(index)


def sample_seed(run_key: str, condition: str, index: int) -> int:
    """Reproducible per sample: the same run, condition and index ask with the same seed."""
    digest = hashlib.sha256(f"{run_key}:{condition}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class ChatReply:
    """One reply of the model. ``text`` is what a suite reads and grades: the
    model's own text, then each native tool call it made rendered as text
    ReAct (``evals.suites.common.react_text``, the one rendering)."""

    text: str
    request_sha256: str
    response_sha256: str
    usage: dict[str, Any] = field(default_factory=dict)
    # Native tool calls, in order, each {"id", "function", "arguments"}
    # (arguments a JSON object); ``content`` is then the model's own text.
    tool_calls: tuple[dict[str, Any], ...] = ()
    content: str = ""

    def message(self) -> dict[str, Any]:
        """The reply as an assistant message of a suite's transcript."""
        if not self.tool_calls:
            return {"role": "assistant", "content": self.text}
        return {"role": "assistant", "content": self.content, "tool_calls": [dict(c) for c in self.tool_calls]}


class ChatFn(Protocol):
    """Asks the model. A transcript is a list of message dicts: {"role",
    "content"}, an assistant message may carry ``tool_calls`` (as in
    ChatReply), and {"role": "tool", "tool_call_id", "content"} answers one.
    ``tools``: OpenAI function tools ({"type": "function", "function": {name,
    description, parameters}}) the model may call natively; None offers none."""

    async def __call__(
        self, messages: list[dict[str, Any]], tools: Sequence[dict[str, Any]] | None = None
    ) -> ChatReply: ...


@dataclass
class Graded:
    """What a suite's scorer makes of the model's outputs: a label per graded
    moment, the rules that fired, and the text each moment was graded on."""

    labels: dict[str, str]
    grade: dict[str, Any]
    outputs: dict[str, str | None] = field(default_factory=dict)


@dataclass
class SampleResult:
    transcript: list[dict[str, Any]]
    labels: dict[str, str]
    grade: dict[str, Any]
    outputs: dict[str, str | None] = field(default_factory=dict)  # the model's text at each graded moment


# What plays a model role of an external task: the model under test, the
# run's counterpart (the model the auditor names, else the model under test),
# or the task's own grader (the model the auditor names, always: a run of a
# task with one is refused without it, so the model never grades itself).
SUBJECT, COUNTERPART, GRADER = "subject", "counterpart", "grader"


@dataclass(frozen=True)
class ExternalTask:
    """A maintained public Inspect task registered as a suite rather than
    rewritten (``evals.suites.external``): its own dataset, solver and scorer
    run, through the gateway, on the same run path as our suites. Each
    condition names one of the package's task functions and its arguments;
    sample ``index`` of a condition is item ``index`` modulo the size of that
    task's dataset. ``labels`` turns the task's own scores into a sample's
    labels; ``measures`` summarises labels that are amounts, not events (a
    mean with its interval), beside the rates."""

    package: str  # the distribution, e.g. "inspect_evals"
    module: str  # where the task functions are, e.g. "inspect_evals.make_me_pay"
    tasks: dict[str, tuple[str, dict[str, Any]]]  # condition -> (task function, its arguments)
    roles: dict[str, str]  # the task's model role -> SUBJECT, COUNTERPART or GRADER
    labels: Callable[[list[Any]], dict[str, str]]  # the task's Score objects, in its scorers' order
    source: str  # the public source, cited by name and version
    measures: Callable[[Iterable[dict[str, str]]], dict[str, dict[str, Any]]] | None = None
    # Task-function arguments that take a model (a scorer's grader_model):
    # argument -> one of ``roles``. The task is built again at scoring time
    # with the run's model of that role, never the package's default (a
    # public provider's model name).
    model_args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SuiteDefinition:
    name: str
    version: str
    title: str
    description: str
    risk_area: str
    capability_kind: str  # contextual | reachable | absolute
    grader_version: str
    conditions: list[str]
    default_conditions: list[str]
    default_samples: int
    metrics: list[str]
    # What the model is shown and what the grader is told, for the digest. A
    # change to the grading rules bumps grader_version, which the digest covers.
    content: dict[str, Any]
    # Plays one sample: the conversation, which may branch on what the model
    # said (through ``score``). Its labels must equal ``score`` of its outputs.
    run_sample: Callable[[str, int, ChatFn], Awaitable[SampleResult]]
    # Grades a finished conversation from the model's replies in order (every
    # assistant message): how the registered scorer re-grades any transcript,
    # an auditor's uploaded log included.
    score: Callable[[str, int, list[str]], Graded]
    summarise: Callable[[Iterable[dict[str, str]]], dict[str, Rate]]
    # An optional LLM judge: labels the sample's graded moments again, with reasons.
    judge: Callable[[SampleResult, ChatFn], Awaitable[dict[str, dict[str, str]]]] | None = None
    # For suites that cycle through a fixed list of items by sample index: the
    # item a sample asks about. Repeats of one item are not independent trials,
    # so intervals account for clustering by item (core.stats.design_effect).
    item_of: Callable[[str, int], str] | None = None
    # Whether the suite's verdict may decide a gate: "gating" for a suite whose
    # design and graders have been shown to measure what it claims, otherwise
    # "smoke_test" (shown as such in results, gate details and the portal; the
    # default standard does not gate on it). New suites start as smoke tests.
    maturity: str = "smoke_test"
    # A maintained public Inspect task run as it is published (run_sample and
    # score then only refuse: its own solver and scorer run instead).
    external: ExternalTask | None = None

    @property
    def has_counterpart(self) -> bool:
        """Whether a run's named model plays the other side of a conversation."""
        if self.external is not None:
            return COUNTERPART in self.external.roles.values()
        import inspect

        return "counterpart" in inspect.signature(self.run_sample).parameters

    @property
    def has_published_grader(self) -> bool:
        """Whether an external task's own scorer asks a grader model (the
        run's named one; a run without it is refused)."""
        return self.external is not None and GRADER in self.external.roles.values()

    @property
    def content_digest(self) -> str:
        return digest_of(
            {
                "name": self.name,
                "version": self.version,
                "grader": self.grader_version,
                "engine": ENGINE,
                "conditions": self.conditions,
                "content": self.content,
            }
        )


def _engine() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        inspect_version = version("inspect-ai")
    except PackageNotFoundError:  # pragma: no cover - a broken install
        inspect_version = "missing"
    return {"name": "inspect-ai", "version": inspect_version, "adapter": "stagegate-1"}


# What runs the suites, in every content digest: a new Inspect version is a new
# suite content digest, so a result always names the engine that produced it.
ENGINE = _engine()


class SampleFailed(Exception):
    """The sample cannot be completed (a permanent upstream error): mark it `error`."""


def registry() -> dict[str, SuiteDefinition]:
    from evals.suites.autonomous_replication import SUITE as autonomous_replication
    from evals.suites.cyber_ctf import SUITE as cyber_ctf
    from evals.suites.external import EXTERNAL
    from evals.suites.financial_fraud import SUITE as financial_fraud
    from evals.suites.human_manipulation import SUITE as human_manipulation
    from evals.suites.insider_trading.suite import SUITE as insider_trading
    from evals.suites.refusal import SUITE as refusal
    from evals.suites.sycophancy import SUITE as sycophancy

    suites = (
        insider_trading, sycophancy, refusal, cyber_ctf, autonomous_replication, human_manipulation, financial_fraud,
        *EXTERNAL,
    )  # fmt: skip
    return {s.name: s for s in suites}


def suite_catalogue() -> dict[str, dict[str, Any]]:
    """Each suite's conditions and metrics, for checking a standard's protocols."""
    return {name: {"conditions": d.conditions, "metrics": d.metrics} for name, d in registry().items()}
