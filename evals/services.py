"""Starting, executing, reconciling and finishing evaluation runs.

Exactly-once results: each sample is a row before anything is queued; a task
takes the sample's row lock, bumps its attempt counter and takes a lease
before calling the model, and writes the result only if its attempt still owns
the sample. Re-delivered or duplicated tasks therefore change nothing, a
sample whose worker died is picked up again (by re-delivery or by the
reconciler), and one that keeps killing its worker fails after MAX_ATTEMPTS."""

from __future__ import annotations

import datetime
import hashlib
import logging
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import OperationalError

from auditing.models import Audit, AuditStatus
from auditing.selectors import organisation_has_conflict, organisation_is_assigned, organisation_is_certified
from core.actors import Actor, actor_for
from core.audit import audit_event_record, snapshot
from core.canonical import digest_of
from core.errors import Conflict, InvalidInput
from core.permissions import require
from evals.client import GatewayChat
from evals.engine import SampleFailed, SuiteDefinition, registry
from evals.models import TERMINAL, EvalRun, EvalSample, RunStatus, SampleStatus, Suite
from evals.results import run_results
from gateway.selectors import model_id_of
from gateway.services import gateway_token_issue, gateway_token_revoke
from labs.credentials import decrypt_credential, encrypt_credential
from standards.selectors import standard_in_force

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
MAX_SAMPLES_PER_CONDITION = 1000
MAX_SAMPLES_PER_RUN = 20_000
RUN_TOKEN_DAYS = 7
RUN_TOKEN_RPM = 6000


def suite_register(*, definition: SuiteDefinition) -> Suite:
    """The stored row for this version of a suite, created on first use. The same
    version with different content is refused: bump the version instead."""
    fields = {
        "title": definition.title,
        "description": definition.description,
        "risk_area": definition.risk_area,
        "capability_kind": definition.capability_kind,
        "content_digest": definition.content_digest,
        "grader_version": definition.grader_version,
        "conditions": definition.conditions,
        "default_conditions": definition.default_conditions,
        "default_samples": definition.default_samples,
        "metrics": definition.metrics,
    }
    suite, _ = Suite.objects.get_or_create(name=definition.name, version=definition.version, defaults=fields)
    if suite.content_digest != definition.content_digest:
        raise Conflict(
            f"Suite {definition.name} {definition.version} is registered with other content; bump its version.",
            code="suite_content_changed",
        )
    return suite


def suites_register_all() -> list[Suite]:
    return [suite_register(definition=d) for d in registry().values()]


def _may_run(actor: Actor, audit: Audit) -> Any:
    """The actor's auditor organisation that may run evaluations on this audit now."""
    for org_id in sorted(actor.auditor_org_ids):
        if (
            organisation_is_assigned(organisation=org_id, audit=audit)
            and organisation_is_certified(organisation=org_id)
            and not organisation_has_conflict(organisation=org_id, lab=audit.lab_id)
        ):
            return org_id
    return None


@transaction.atomic
def eval_run_start(
    *,
    actor: Actor,
    audit: Audit,
    suite: str,
    protocol: bool = False,
    conditions: list[str] | None = None,
    samples_per_condition: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    grader_model: str = "",
    grader_token: str = "",
    enqueue: bool = True,
) -> EvalRun:
    """Start a run: its samples are rows before anything is queued. With
    ``enqueue=False`` (the demo seeds before Redis is up) the reconciler
    queues them.

    With ``protocol=True`` the run is made under the standard in force's
    protocol for the suite: conditions, sample counts and sampling come from
    the protocol, and passing any of them is refused. Only such runs count at
    gates; any other run is exploratory and visible as such."""
    definition = registry().get(suite)
    if definition is None:
        raise InvalidInput("No such suite.", errors={"suite": [f"One of: {', '.join(sorted(registry()))}."]})
    standard, rules = None, None
    if protocol:
        overrides = {
            "conditions": conditions,
            "samples_per_condition": samples_per_condition,
            "temperature": temperature,
            "top_p": top_p,
            "max_tokens": max_tokens,
        }
        given = {
            k: ["Set by the protocol: leave it out of a protocol run."] for k, v in overrides.items() if v is not None
        }
        if given:
            raise InvalidInput("A protocol run takes its settings from the standard.", errors=given)
        standard = standard_in_force()
        rules = standard.protocol_for(suite)
        if rules is None:
            raise InvalidInput(
                f"Standard {standard.version} defines no protocol for {suite}; start an exploratory run instead.",
                code="no_protocol",
                errors={"protocol": [f"No protocol for {suite} in standard {standard.version}."]},
            )
        conditions, samples_per_condition = list(rules.conditions), rules.samples_per_condition
        temperature, top_p, max_tokens = rules.temperature, rules.top_p, rules.max_tokens
    temperature = 0.9 if temperature is None else temperature
    top_p = 1.0 if top_p is None else top_p
    max_tokens = 512 if max_tokens is None else max_tokens
    org_id = _may_run(actor, audit)
    require(
        org_id is not None,
        "Only a member of a certified, conflict-free organisation assigned to this audit may run evaluations.",
        code="not_assigned",
    )
    if audit.status != AuditStatus.OPEN:
        raise Conflict("The audit is not open.", code="audit_not_open")
    conditions = list(dict.fromkeys(conditions or definition.default_conditions))
    unknown = [c for c in conditions if c not in definition.conditions]
    errors: dict[str, list[str]] = {}
    if unknown:
        errors["conditions"] = [f"Unknown condition: {c}" for c in unknown[:10]]
    n = samples_per_condition or definition.default_samples
    if not 1 <= n <= MAX_SAMPLES_PER_CONDITION:
        errors["samples_per_condition"] = [f"Between 1 and {MAX_SAMPLES_PER_CONDITION}."]
    elif n * len(conditions) > MAX_SAMPLES_PER_RUN:
        errors["samples_per_condition"] = [f"At most {MAX_SAMPLES_PER_RUN} samples in one run."]
    if not 0 <= temperature <= 2:
        errors["temperature"] = ["Between 0 and 2."]
    if not 0 < top_p <= 1:
        errors["top_p"] = ["Above 0 and at most 1."]
    if not 1 <= max_tokens <= 8192:
        errors["max_tokens"] = ["Between 1 and 8192."]
    if grader_model and definition.judge is None:
        errors["grader_model"] = ["This suite has no LLM judge."]
    elif grader_model and not grader_token:
        errors["grader_token"] = ["A gateway token that may call the grader model is required with grader_model."]
    if errors:
        raise InvalidInput("The run is not valid.", errors=errors)

    suite_row = suite_register(definition=definition)
    run = EvalRun(
        suite=suite_row,
        audit=audit,
        system_version=audit.system_version,
        organisation_id=org_id,
        started_by=actor.user,
        conditions=conditions,
        samples_per_condition=n,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        seed_policy=rules.seed_policy if rules is not None else "per_sample",
        standard=standard,
        protocol_digest=rules.digest if rules is not None else "",
        grader_model=grader_model,
    )
    run.full_clean()
    run.save()
    # The run calls the model with its own auditor grant, like any tool would.
    token, secret = gateway_token_issue(
        actor=actor,
        kind="auditor",
        system_version=audit.system_version,
        audit=audit,
        name=f"eval run {run.pk}",
        expires_at=timezone.now() + datetime.timedelta(days=RUN_TOKEN_DAYS),
        requests_per_minute=RUN_TOKEN_RPM,
    )
    run.gateway_token_id = token.pk
    run.gateway_token_ciphertext = encrypt_credential(secret)
    run.grader_token_ciphertext = encrypt_credential(grader_token) if grader_model else ""
    run.save(update_fields=["gateway_token_id", "gateway_token_ciphertext", "grader_token_ciphertext", "updated_at"])
    EvalSample.objects.bulk_create(
        [EvalSample(run=run, condition=c, index=i) for c in conditions for i in range(n)], batch_size=1000
    )
    audit_event_record(
        actor=actor,
        action="eval_run.start",
        target=run,
        after=snapshot(run, exclude=["gateway_token_ciphertext", "grader_token_ciphertext"]),
        organisations=[org_id, audit.lab_id],
    )
    run_id = run.pk
    if enqueue:
        transaction.on_commit(lambda: samples_enqueue(run_id=run_id))
    return run


def samples_enqueue(*, run_id: Any, sample_ids: list[int] | None = None) -> int:
    """Queue one task per pending sample (or the given ones)."""
    from evals.tasks import run_sample

    qs = EvalSample.objects.filter(run_id=run_id, status__in=[SampleStatus.PENDING, SampleStatus.RUNNING])
    if sample_ids is not None:
        qs = qs.filter(pk__in=sample_ids)
    ids = list(qs.values_list("pk", flat=True))
    sent = 0
    try:
        for sample_id in ids:
            run_sample.apply_async(args=[sample_id], queue=settings.STAGEGATE_EVALS_QUEUE)
            sent += 1
    except OperationalError:
        # The broker is down: the rows are the source of truth, and the
        # reconciler queues whatever was not sent once it is back.
        logger.warning("could not queue %d of %d samples of run %s", len(ids) - sent, len(ids), run_id)
    EvalSample.objects.filter(pk__in=ids[:sent]).update(enqueued_at=timezone.now())
    return sent


@transaction.atomic
def eval_run_cancel(*, actor: Actor, run: EvalRun) -> EvalRun:
    run = EvalRun.objects.select_for_update().get(pk=run.pk)
    require(_may_run(actor, run.audit) == run.organisation_id or actor.is_regulator, "You may not cancel this run.")
    if run.status != RunStatus.RUNNING:
        raise Conflict("The run has already ended.", code="run_not_running")
    before = snapshot(run, exclude=["gateway_token_ciphertext", "grader_token_ciphertext"])
    run.status = RunStatus.CANCELLED
    run.save(update_fields=["status", "updated_at"])
    EvalSample.objects.filter(run=run, status=SampleStatus.PENDING).update(
        status=SampleStatus.CANCELLED, finished_at=timezone.now()
    )
    audit_event_record(
        actor=actor,
        action="eval_run.cancel",
        target=run,
        before=before,
        after=snapshot(run, exclude=["gateway_token_ciphertext", "grader_token_ciphertext"]),
        organisations=[run.organisation_id, run.audit.lab_id],
    )
    run_id = run.pk
    transaction.on_commit(lambda: eval_run_finish_if_done(run_id=run_id))
    return run


def _seed(sample: EvalSample) -> int:
    # Reproducible per sample: the same run, condition and index ask with the same seed.
    digest = hashlib.sha256(f"{sample.run_id}:{sample.condition}:{sample.index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _claim(sample_id: int) -> tuple[EvalSample, int] | None:
    """Take the sample for one attempt, or None if there is nothing to do."""
    with transaction.atomic():
        sample = (
            EvalSample.objects.select_for_update()
            .select_related("run__suite", "run__system_version__lab")
            .get(pk=sample_id)
        )
        now = timezone.now()
        if sample.status in TERMINAL:
            return None
        if sample.run.status == RunStatus.CANCELLED:
            sample.status, sample.finished_at = SampleStatus.CANCELLED, now
            sample.save(update_fields=["status", "finished_at"])
            return None
        if sample.status == SampleStatus.RUNNING and sample.lease_until and sample.lease_until > now:
            return None  # another worker holds it
        if sample.attempts >= MAX_ATTEMPTS:
            sample.status, sample.finished_at = SampleStatus.ERROR, now
            sample.error = f"Gave up after {sample.attempts} attempts: the worker stopped each time."
            sample.save(update_fields=["status", "finished_at", "error"])
            return None
        sample.attempts += 1
        sample.status = SampleStatus.RUNNING
        sample.lease_until = now + datetime.timedelta(seconds=settings.STAGEGATE_EVALS_LEASE_SECONDS)
        sample.started_at = sample.started_at or now
        sample.save(update_fields=["attempts", "status", "lease_until", "started_at"])
        return sample, sample.attempts


def sample_execute(*, sample_id: int) -> str:
    """Run one sample to its result. Returns what happened (for logs and tests)."""
    claimed = _claim(sample_id)
    if claimed is None:
        eval_run_finish_if_done(run_id=EvalSample.objects.values_list("run_id", flat=True).get(pk=sample_id))
        return "skipped"
    sample, attempt = claimed
    run = sample.run
    sv = run.system_version
    chat = GatewayChat(
        base_url=settings.STAGEGATE_GATEWAY_URL,
        token=decrypt_credential(run.gateway_token_ciphertext),
        model=model_id_of(lab_slug=sv.lab.slug, name=sv.name, sequence=sv.sequence),
        temperature=run.temperature,
        top_p=run.top_p,
        max_tokens=run.max_tokens,
        seed=_seed(sample) if run.seed_policy == "per_sample" else None,
        client=_http_client(),
    )
    fields: dict[str, Any]
    definition = registry()[run.suite.name]
    judge_calls: list[dict[str, Any]] = []
    try:
        result = definition.run_sample(sample.condition, sample.index, chat)
        if run.grader_model and definition.judge is not None:
            judge_calls = _judge(run, definition.judge, result)
        fields = {
            "status": SampleStatus.DONE,
            "transcript": result.transcript,
            "labels": result.labels,
            "grade": result.grade,
        }
    except SampleFailed as exc:
        fields = {"status": SampleStatus.ERROR, "error": str(exc)}
    except Exception as exc:  # a bug must not loop: record it and move on
        logger.exception("sample %s failed", sample_id)
        fields = {"status": SampleStatus.ERROR, "error": f"internal error ({type(exc).__name__})"}
    with transaction.atomic():
        current = EvalSample.objects.select_for_update().get(pk=sample_id)
        if current.status != SampleStatus.RUNNING or current.attempts != attempt:
            return "superseded"  # a later attempt owns it now
        for name, value in fields.items():
            setattr(current, name, value)
        current.calls = chat.calls + judge_calls
        current.finished_at = timezone.now()
        current.lease_until = None
        current.save()
    eval_run_finish_if_done(run_id=run.pk)
    return str(fields["status"])


def _judge(run: EvalRun, judge: Any, result: Any) -> list[dict[str, Any]]:
    """The optional LLM judge, called through the gateway with the auditor's
    grader token. Advisory: a judge failure is recorded on the sample, which
    still counts on the rules' labels. Returns the judge's calls."""
    judge_chat = GatewayChat(
        base_url=settings.STAGEGATE_GATEWAY_URL,
        token=decrypt_credential(run.grader_token_ciphertext),
        model=run.grader_model,
        temperature=0.0,
        max_tokens=400,
        client=_http_client(),
    )
    try:
        result.grade["judge"] = judge(result, judge_chat)
    except SampleFailed as exc:
        result.grade["judge_error"] = str(exc)
    return [dict(call, judge=True) for call in judge_chat.calls]


_client: httpx.Client | None = None


def _http_client() -> httpx.Client:
    """One pooled client per worker process: samples reuse its connections."""
    global _client
    if _client is None:
        _client = httpx.Client(timeout=httpx.Timeout(settings.STAGEGATE_EVALS_CALL_TIMEOUT), follow_redirects=False)
    return _client


def eval_run_finish_if_done(*, run_id: Any) -> bool:
    """When no sample is left to run: compute the results, revoke the run's
    gateway token, mark the run finished. Idempotent."""
    unfinished = EvalSample.objects.filter(run_id=run_id, status__in=[SampleStatus.PENDING, SampleStatus.RUNNING])
    if unfinished.exists():
        return False  # the common case, answered without taking the run's lock
    with transaction.atomic():
        run = EvalRun.objects.select_for_update().select_related("suite", "audit").get(pk=run_id)
        if run.finished_at is not None:
            return False
        if run.samples.filter(status__in=[SampleStatus.PENDING, SampleStatus.RUNNING]).exists():
            return False
        before = snapshot(run, exclude=["gateway_token_ciphertext", "grader_token_ciphertext", "results"])
        run.results = run_results(run=run)
        run.results_digest = digest_of(run.results)
        run.finished_at = timezone.now()
        if run.status == RunStatus.RUNNING:
            run.status = RunStatus.COMPLETED
        run.save(update_fields=["results", "results_digest", "finished_at", "status", "updated_at"])
        if run.gateway_token_id is not None:
            from gateway.models import GatewayToken

            token = GatewayToken.objects.filter(pk=run.gateway_token_id, revoked_at__isnull=True).first()
            if token is not None:
                gateway_token_revoke(actor=actor_for(run.started_by), token=token)
        audit_event_record(
            actor=actor_for(run.started_by),
            action="eval_run.finish",
            target=run,
            before=before,
            after={"status": run.status, "results_digest": run.results_digest},
            organisations=[run.organisation_id, run.audit.lab_id],
        )
    return True


def samples_reconcile(*, now: datetime.datetime | None = None, stale_after: datetime.timedelta | None = None) -> int:
    """Re-queue samples whose task was lost: running ones whose lease ran out
    (the worker died and the broker did not hand the message back), and
    pending ones never queued (the broker was down) or queued a while ago when
    the queue is empty (Redis lost them).
    Duplicates are harmless: a sample is claimed under its row lock."""
    now = now or timezone.now()
    stale_after = stale_after or datetime.timedelta(minutes=2)
    running = EvalSample.objects.filter(run__status=RunStatus.RUNNING)
    expired = list(running.filter(status=SampleStatus.RUNNING, lease_until__lt=now).values_list("run_id", "pk"))
    lost: list[tuple[Any, int]] = []
    if _queue_length() == 0:
        lost = list(
            running.filter(status=SampleStatus.PENDING)
            .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - stale_after))
            .values_list("run_id", "pk")
        )
    by_run: dict[Any, list[int]] = {}
    for run_id, pk in expired + lost:
        by_run.setdefault(run_id, []).append(pk)
    return sum(samples_enqueue(run_id=run_id, sample_ids=ids) for run_id, ids in by_run.items())


def _queue_length() -> int:
    """Messages waiting in the evals queue (0 if the broker has never seen it)."""
    from kombu.exceptions import ChannelError

    from config.celery import app

    with app.connection_for_read() as conn:
        try:
            declared = conn.default_channel.queue_declare(queue=settings.STAGEGATE_EVALS_QUEUE, passive=True)
        except ChannelError:
            return 0
        return int(declared.message_count)
