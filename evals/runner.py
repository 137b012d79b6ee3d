"""Running one shard as an Inspect eval through the gateway, and reading the
results back out of its log. No ORM: ``evals.services`` decides what to run
and what to keep; this module only talks to Inspect."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from evals.engine import SuiteDefinition, parse_sample_id

logger = logging.getLogger(__name__)

# Inspect's own retries of a model call (429 and 5xx from the gateway, lost
# connections), with backoff, before the sample ends in an error.
MAX_RETRIES = 4
# What a published task's own grader may write: its reasoning, then its answer.
PUBLISHED_GRADER_MAX_TOKENS = 2048


@dataclass(frozen=True)
class ShardSpec:
    definition: SuiteDefinition
    samples: list[tuple[str, int, int | None]]  # condition, index, seed
    model_id: str
    base_url: str
    token: str
    log_dir: str
    temperature: float
    top_p: float
    max_tokens: int
    max_connections: int
    timeout: float
    grader_model: str = ""
    grader_token: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class SampleOutcome:
    condition: str
    index: int
    epoch: int
    error: str  # empty when the sample finished
    transcript: list[dict[str, str]]
    labels: dict[str, str]
    grade: dict[str, Any]
    calls: list[dict[str, Any]]


@dataclass
class ShardOutcome:
    location: str
    name: str
    sha256: str
    size: int
    samples: list[SampleOutcome]


def run_shard(spec: ShardSpec) -> ShardOutcome:
    """Run the shard's samples as one Inspect eval and return what its log says."""
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import GenerateConfig, get_model

    from evals.engine import COUNTERPART, GRADER
    from evals.inspect_tasks import COUNTERPART_ROLE, GRADER_ROLE, suite_task

    judge = bool(spec.grader_model) and spec.definition.external is None
    task = suite_task(spec.definition, spec.samples, judge=judge, metadata=spec.metadata)
    # The token is passed as api_key, never in model_args, which Inspect writes into the log.
    model = get_model(f"stagegate/{spec.model_id}", base_url=spec.base_url, api_key=spec.token, memoize=False)
    roles = {}
    if spec.definition.external is not None:
        # The published task's own roles: the model under test, or the run's
        # counterpart (the named model, else the model under test: self-play).
        # A role's model does not inherit the eval's sampling settings (Inspect
        # gives those to the eval's own model only): each gets the run's.
        sampling = GenerateConfig(temperature=spec.temperature, top_p=spec.top_p, max_tokens=spec.max_tokens)
        # The task's own grader is the named model (the run is refused
        # without one), at temperature 0 with room for its reasoning.
        grading = GenerateConfig(temperature=0.0, max_tokens=PUBLISHED_GRADER_MAX_TOKENS)
        for role, plays in spec.definition.external.roles.items():
            named = plays in (COUNTERPART, GRADER) and bool(spec.grader_model)
            roles[role] = get_model(
                f"stagegate/{spec.grader_model if named else spec.model_id}",
                base_url=spec.base_url,
                api_key=spec.grader_token if named else spec.token,
                memoize=False,
                config=grading if plays == GRADER else sampling,
                call_tag={COUNTERPART: COUNTERPART_ROLE, GRADER: GRADER_ROLE}.get(plays),
            )
    if judge:
        roles[GRADER_ROLE] = get_model(
            f"stagegate/{spec.grader_model}",
            base_url=spec.base_url,
            api_key=spec.grader_token,
            memoize=False,
            call_tag=GRADER_ROLE,
        )
        if spec.definition.has_counterpart:
            # The run's named grader model also plays the other side of the
            # conversation (human_manipulation), rather than the model under test.
            roles[COUNTERPART_ROLE] = get_model(
                f"stagegate/{spec.grader_model}",
                base_url=spec.base_url,
                api_key=spec.grader_token,
                memoize=False,
                call_tag=COUNTERPART_ROLE,
            )
    logs = inspect_eval(
        task,
        model=model,
        model_roles=roles or None,
        log_dir=spec.log_dir,
        log_format="eval",
        display="none",
        max_samples=max(1, len(spec.samples)),
        max_connections=spec.max_connections,
        max_retries=MAX_RETRIES,
        timeout=int(spec.timeout),
        temperature=spec.temperature,
        top_p=spec.top_p,
        max_tokens=spec.max_tokens,
        fail_on_error=False,
        score_display=False,
        log_level="warning",
    )
    log = logs[0]
    return read_log(log.location)


def read_log(location: str) -> ShardOutcome:
    """The samples of a stored ``.eval`` log, and the log's own digest."""
    from inspect_ai._util.file import file as open_file
    from inspect_ai.log import read_eval_log

    from evals.inspect_tasks import transcript_of
    from stagegate_inspect import call_records

    with open_file(location, "rb") as f:
        data = f.read()
    log = read_eval_log(location)
    outcomes = []
    for sample in log.samples or []:
        condition, index = parse_sample_id(sample.id)
        score = next(iter((sample.scores or {}).values()), None)
        calls = [_call(record) for record in call_records(sample.events)]
        error = ""
        if sample.error is not None:
            error = error_text(sample.error.message)
        elif score is None or not isinstance(score.value, dict):
            error = "the sample was not scored"
        messages = transcript_of(sample.messages)
        outcomes.append(
            SampleOutcome(
                condition=condition,
                index=index,
                epoch=sample.epoch,
                error=error,
                transcript=messages if not error else [],
                labels={k: str(v) for k, v in score.value.items()} if score and not error else {},  # type: ignore[union-attr]
                grade=dict((score.metadata or {}).get("grade", {})) if score and not error else {},
                calls=calls,
            )
        )
    name = location.rstrip("/").rsplit("/", 1)[-1]
    return ShardOutcome(
        location=location, name=name, sha256=hashlib.sha256(data).hexdigest(), size=len(data), samples=outcomes
    )


def _call(record: dict[str, Any]) -> dict[str, Any]:
    """A call as a sample keeps it: status and digests (the bytes stay in the log)."""
    call: dict[str, Any] = {k: record[k] for k in ("status", "request_sha256", "response_sha256") if k in record}
    if record.get("tag") == "grader":
        call["judge"] = True
    elif record.get("tag") == "counterpart":
        call["counterpart"] = True
    return call


def error_text(message: str) -> str:
    """The reason a sample failed, as the auditor needs it: the gateway's own
    message where there is one, without a Python traceback."""
    text = message.strip().splitlines()[-1] if message.strip() else "the sample failed"
    return text[:1000]
