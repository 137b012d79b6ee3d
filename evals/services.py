"""Starting, executing, reconciling and finishing evaluation runs.

A run's samples are rows, grouped in shards, before anything is queued. One
Celery task runs one shard as one Inspect eval (``evals.runner``) through the
gateway with the run's own token. Exactly-once results: the task takes the
shard's row lock, bumps its attempt counter and takes a lease (renewed while
the eval runs), and writes a sample's result only if its attempt still owns
the shard and the sample is still running. Re-delivered or duplicated tasks
therefore change nothing; a shard whose worker died is picked up again (by
re-delivery or by the reconciler), its samples each in a shard of their own,
and a sample that keeps killing its worker fails after MAX_ATTEMPTS."""

from __future__ import annotations

import datetime
import importlib.util
import logging
import threading
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Max, Q
from django.utils import timezone
from kombu.exceptions import OperationalError

from auditing.models import Audit, AuditStatus
from auditing.selectors import organisation_is_assigned
from auditing.standing import require_standing, suite_stage
from core.actors import Actor, actor_for
from core.audit import audit_event_record, snapshot
from core.canonical import digest_of
from core.errors import ApplicationError, Conflict, InvalidInput
from core.permissions import require
from evals.engine import SuiteDefinition, registry, sample_seed
from evals.models import (
    TERMINAL,
    EvalLogFile,
    EvalRun,
    EvalSample,
    EvalShard,
    RunStatus,
    SampleStatus,
    ShardStatus,
    Suite,
)
from evals.results import run_results
from evals.reviews import label_reviews_open
from evals.runner import ShardOutcome, ShardSpec, run_shard
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
    """The actor's auditor organisation assigned to this audit (its standing
    for the suite is checked next, by auditing.standing)."""
    for org_id in sorted(actor.auditor_org_ids):
        if organisation_is_assigned(organisation=org_id, audit=audit):
            return org_id
    return None


def engine_required() -> None:
    """503 while the evaluation engine (Inspect) is not installed: scripts/run
    installs it in the background on a first run, and a run started before
    then would have every sample fail in the worker."""
    if importlib.util.find_spec("inspect_ai") is None:
        raise ApplicationError(
            "The evaluation engine is still installing (scripts/run installs it in the background on a first "
            "run; /portal/status shows its progress). Start the run once it is installed.",
            code="engine_installing",
            status=503,
        )


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
    engine_required()
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
    # Standing (auditing.standing): certified for the suite's risk area, at the
    # infosec level of the stage the standard requires the suite for, not conflicted.
    require_standing(
        organisation=org_id,
        lab=audit.lab_id,
        audit=audit,
        risk_areas=[definition.risk_area],
        stage=suite_stage(standard=audit.standard, suite=suite),
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
    if definition.has_published_grader and not grader_model:
        errors["grader_model"] = ["This suite's own scorer needs a grader: name a gateway model (with grader_token)."]
    elif (
        grader_model
        and definition.judge is None
        and not (definition.has_counterpart or definition.has_published_grader)
    ):
        errors["grader_model"] = ["This suite has no LLM judge and no counterpart role."]
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
    if secret is None:  # pragma: no cover (a token issued to oneself comes with its secret)
        raise RuntimeError("an auditor's own token was issued without its secret")
    run.gateway_token_id = token.pk
    run.gateway_token_ciphertext = encrypt_credential(secret)
    run.grader_token_ciphertext = encrypt_credential(grader_token) if grader_model else ""
    run.save(update_fields=["gateway_token_id", "gateway_token_ciphertext", "grader_token_ciphertext", "updated_at"])
    _shards_create(run, [(c, i) for c in conditions for i in range(n)])
    audit_event_record(
        actor=actor,
        action="eval_run.start",
        target=run,
        after=snapshot(run, exclude=["gateway_token_ciphertext", "grader_token_ciphertext"]),
        organisations=[org_id, audit.lab_id],
    )
    run_id = run.pk
    if enqueue:
        transaction.on_commit(lambda: shards_enqueue(run_id=run_id))
    return run


def _shards_create(run: EvalRun, samples: list[tuple[str, int]], first: int = 0) -> list[EvalShard]:
    """Rows for the samples, in shards of STAGEGATE_EVALS_SHARD_SIZE."""
    size = max(1, settings.STAGEGATE_EVALS_SHARD_SIZE)
    chunks = [samples[i : i + size] for i in range(0, len(samples), size)]
    shards = EvalShard.objects.bulk_create([EvalShard(run=run, number=first + k) for k in range(len(chunks))])
    EvalSample.objects.bulk_create(
        [
            EvalSample(run=run, shard=shard, condition=c, index=i)
            for shard, chunk in zip(shards, chunks, strict=True)
            for c, i in chunk
        ],
        batch_size=1000,
    )
    return shards


def shards_enqueue(*, run_id: Any, shard_ids: list[int] | None = None) -> int:
    """Queue one task per unfinished shard of the run (or the given ones)."""
    from evals.tasks import run_shard

    qs = EvalShard.objects.filter(run_id=run_id, status__in=[ShardStatus.PENDING, ShardStatus.RUNNING])
    if shard_ids is not None:
        qs = qs.filter(pk__in=shard_ids)
    ids = list(qs.values_list("pk", flat=True))
    sent = 0
    try:
        for shard_id in ids:
            run_shard.apply_async(args=[shard_id], queue=settings.STAGEGATE_EVALS_QUEUE)
            sent += 1
    except OperationalError:
        # The broker is down: the rows are the source of truth, and the
        # reconciler queues whatever was not sent once it is back.
        logger.warning("could not queue %d of %d shards of run %s", len(ids) - sent, len(ids), run_id)
    EvalShard.objects.filter(pk__in=ids[:sent]).update(enqueued_at=timezone.now())
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
    EvalShard.objects.filter(run=run, status=ShardStatus.PENDING).update(
        status=ShardStatus.DONE, finished_at=timezone.now()
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


@dataclass
class _Claim:
    shard: EvalShard
    attempt: int
    samples: list[EvalSample]


def _shard_claim(shard_id: int, sample_ids: Collection[int] | None = None) -> _Claim | None:
    """Take the shard for one attempt, or None if there is nothing to do.

    A shard found running with its lease run out was lost with its worker:
    its samples that have used up their attempts end as errors, and if more
    than one is left each goes on in a shard of its own, so a sample that
    keeps killing its worker takes no other sample down with it."""
    with transaction.atomic():
        shard = EvalShard.objects.select_for_update().select_related("run").get(pk=shard_id)
        now = timezone.now()
        if shard.status == ShardStatus.DONE:
            return None
        if shard.status == ShardStatus.RUNNING and shard.lease_until and shard.lease_until > now:
            return None  # another worker holds it
        unfinished = shard.samples.select_for_update().exclude(status__in=TERMINAL).order_by("condition", "index")
        if shard.run.status == RunStatus.CANCELLED:
            unfinished.update(status=SampleStatus.CANCELLED, finished_at=now, lease_until=None)
            _shard_done(shard, now)
            return None
        lost = shard.status == ShardStatus.RUNNING
        if lost:
            spent = unfinished.filter(attempts__gte=MAX_ATTEMPTS)
            spent.update(
                status=SampleStatus.ERROR,
                finished_at=now,
                lease_until=None,
                error=f"Gave up after {MAX_ATTEMPTS} attempts: the worker stopped each time.",
            )
            rest = list(unfinished.exclude(status__in=TERMINAL))
            if len(rest) > 1:
                _shard_split(shard, rest, now)
                return None
        samples = list(unfinished.exclude(status__in=TERMINAL))
        if sample_ids is not None:
            samples = [s for s in samples if s.pk in sample_ids]
        if not samples:
            if not unfinished.exclude(status__in=TERMINAL).exists():
                _shard_done(shard, now)
            return None
        shard.attempts += 1
        shard.status = ShardStatus.RUNNING
        shard.lease_until = now + datetime.timedelta(seconds=settings.STAGEGATE_EVALS_LEASE_SECONDS)
        shard.started_at = shard.started_at or now
        shard.save(update_fields=["attempts", "status", "lease_until", "started_at"])
        for sample in samples:
            sample.attempts += 1
            sample.status = SampleStatus.RUNNING
            sample.started_at = sample.started_at or now
        EvalSample.objects.bulk_update(samples, ["attempts", "status", "started_at"])
        return _Claim(shard=shard, attempt=shard.attempts, samples=samples)


def _shard_done(shard: EvalShard, now: datetime.datetime) -> None:
    shard.status, shard.finished_at, shard.lease_until = ShardStatus.DONE, now, None
    shard.save(update_fields=["status", "finished_at", "lease_until"])


def _shard_split(shard: EvalShard, samples: list[EvalSample], now: datetime.datetime) -> None:
    first = (EvalShard.objects.filter(run_id=shard.run_id).aggregate(m=Max("number"))["m"] or 0) + 1
    parts = EvalShard.objects.bulk_create(
        [EvalShard(run_id=shard.run_id, number=first + k) for k in range(len(samples))]
    )
    for sample, part in zip(samples, parts, strict=True):
        sample.shard, sample.status = part, SampleStatus.PENDING
    EvalSample.objects.bulk_update(samples, ["shard", "status"])
    _shard_done(shard, now)
    run_id, ids = shard.run_id, [p.pk for p in parts]
    transaction.on_commit(lambda: shards_enqueue(run_id=run_id, shard_ids=ids))


def shard_execute(*, shard_id: int, sample_ids: Collection[int] | None = None) -> str:
    """Run one shard's unfinished samples (or only ``sample_ids`` of them) as
    one Inspect eval and keep their results. Returns what happened."""
    run_id = EvalShard.objects.values_list("run_id", flat=True).get(pk=shard_id)
    claim = _shard_claim(shard_id, sample_ids)
    if claim is None:
        eval_run_finish_if_done(run_id=run_id)
        return "skipped"
    run = EvalRun.objects.select_related("suite", "system_version__lab").get(pk=run_id)
    sv = run.system_version
    spec = ShardSpec(
        definition=registry()[run.suite.name],
        samples=[
            (
                s.condition,
                s.index,
                sample_seed(str(run.pk), s.condition, s.index) if run.seed_policy == "per_sample" else None,
            )
            for s in claim.samples
        ],
        model_id=model_id_of(lab_slug=sv.lab.slug, name=sv.name, sequence=sv.sequence),
        base_url=settings.STAGEGATE_GATEWAY_URL,
        token=decrypt_credential(run.gateway_token_ciphertext),
        log_dir=f"{settings.STAGEGATE_EVAL_LOG_DIR.rstrip('/')}/run-{run.pk}/shard-{claim.shard.number}-attempt-{claim.attempt}",
        temperature=run.temperature,
        top_p=run.top_p,
        max_tokens=run.max_tokens,
        max_connections=settings.STAGEGATE_EVALS_MAX_CONNECTIONS,
        timeout=settings.STAGEGATE_EVALS_CALL_TIMEOUT,
        grader_model=run.grader_model,
        grader_token=decrypt_credential(run.grader_token_ciphertext) if run.grader_model else "",
        metadata={"stagegate_run": str(run.pk), "shard": claim.shard.number, "attempt": claim.attempt},
    )
    outcome: ShardOutcome | None = None
    with _lease_kept(claim):
        try:
            outcome = run_shard(spec)
        except Exception as exc:  # Inspect itself failed: record it on the samples, do not loop
            logger.exception("shard %s failed", shard_id)
            failure = f"internal error ({type(exc).__name__})"
    result = _shard_ingest(claim, outcome) if outcome is not None else _shard_fail(claim, failure)
    eval_run_finish_if_done(run_id=run_id)
    return result


class _lease_kept:
    """Renews the shard's lease while its eval runs, so the reconciler hands a
    shard to another worker only when its worker is gone."""

    def __init__(self, claim: _Claim) -> None:
        self.claim = claim
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._renew, name=f"lease-{claim.shard.pk}", daemon=True)

    def __enter__(self) -> None:
        self.thread.start()

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def _renew(self) -> None:
        seconds = settings.STAGEGATE_EVALS_LEASE_SECONDS
        try:
            while not self.stop.wait(max(0.5, seconds / 3)):
                EvalShard.objects.filter(
                    pk=self.claim.shard.pk, status=ShardStatus.RUNNING, attempts=self.claim.attempt
                ).update(lease_until=timezone.now() + datetime.timedelta(seconds=seconds))
        finally:
            connections.close_all()  # this thread's own connection


def _owned(claim: _Claim) -> EvalShard | None:
    shard = EvalShard.objects.select_for_update().get(pk=claim.shard.pk)
    if shard.status != ShardStatus.RUNNING or shard.attempts != claim.attempt:
        return None  # a later attempt owns it now
    return shard


def _shard_ingest(claim: _Claim, outcome: ShardOutcome) -> str:
    """Keep the attempt's log and the results of the samples it still owns:
    one result per (run, sample, epoch), whatever is delivered twice."""
    now = timezone.now()
    claimed = {(s.condition, s.index): s for s in claim.samples}
    with transaction.atomic():
        shard = _owned(claim)
        log = EvalLogFile.objects.create(
            run_id=claim.shard.run_id,
            shard=claim.shard,
            attempt=claim.attempt,
            name=f"shard-{claim.shard.number}-attempt-{claim.attempt}-{outcome.name}"[:200],
            location=outcome.location,
            sha256=outcome.sha256,
            size=outcome.size,
            samples=len(outcome.samples),
        )
        if shard is None:
            return "superseded"
        current = {
            (s.condition, s.index): s
            for s in EvalSample.objects.select_for_update().filter(pk__in=[s.pk for s in claim.samples])
        }
        done = []
        for result in outcome.samples:
            sample = current.get((result.condition, result.index))
            if result.epoch != 1 or (result.condition, result.index) not in claimed or sample is None:
                logger.warning("shard %s log has a sample it did not ask for: %s", shard.pk, result)
                continue
            if sample.status != SampleStatus.RUNNING or sample.shard_id != shard.pk:
                continue
            sample.status = SampleStatus.ERROR if result.error else SampleStatus.DONE
            sample.error = result.error
            sample.transcript, sample.labels, sample.grade = result.transcript, result.labels, result.grade
            sample.calls = result.calls
            sample.finished_at, sample.lease_until = now, None
            done.append(sample)
        for sample in current.values():
            if sample.status == SampleStatus.RUNNING and sample not in done:
                sample.status, sample.finished_at = SampleStatus.ERROR, now
                sample.error = "The sample is missing from its shard's log."
                done.append(sample)
        EvalSample.objects.bulk_update(
            done, ["status", "error", "transcript", "labels", "grade", "calls", "finished_at", "lease_until"]
        )
        log.ingested = sum(1 for s in done if s.status == SampleStatus.DONE)
        log.save(update_fields=["ingested"])
        _shard_settle(shard, now)
    return "done"


def _shard_fail(claim: _Claim, failure: str) -> str:
    now = timezone.now()
    with transaction.atomic():
        shard = _owned(claim)
        if shard is None:
            return "superseded"
        EvalSample.objects.filter(pk__in=[s.pk for s in claim.samples], status=SampleStatus.RUNNING).update(
            status=SampleStatus.ERROR, error=failure, finished_at=now, lease_until=None
        )
        _shard_settle(shard, now)
    return "error"


def _shard_settle(shard: EvalShard, now: datetime.datetime) -> None:
    """Done when no sample is left; back to pending when some were left out
    of this attempt (``sample_ids``)."""
    if shard.samples.exclude(status__in=TERMINAL).exists():
        shard.status, shard.lease_until = ShardStatus.PENDING, None
        shard.save(update_fields=["status", "lease_until"])
    else:
        _shard_done(shard, now)


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
        if run.grader_model:
            # Where the judge and the rules disagree, an auditor of the running organisation decides.
            label_reviews_open(run=run)
        run.results = {**run_results(run=run), "logs": _log_digests(run)}
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


def _log_digests(run: EvalRun) -> list[dict[str, Any]]:
    """Every Inspect log behind the run, by name and SHA-256: in the results,
    so their digest (what a sign-off binds) covers the transcripts too."""
    return [{"name": name, "sha256": sha} for name, sha in run.logs.order_by("name").values_list("name", "sha256")]


def shards_reconcile(*, now: datetime.datetime | None = None, stale_after: datetime.timedelta | None = None) -> int:
    """Re-queue shards whose task was lost: running ones whose lease ran out
    (the worker died: the lease is renewed while it lives), and pending ones
    never queued (the broker was down) or queued a while ago when the queue is
    empty (Redis lost them). Duplicates are harmless: a shard is claimed under
    its row lock, and a sample is written only by the attempt that owns it."""
    now = now or timezone.now()
    stale_after = stale_after or datetime.timedelta(minutes=2)
    live = EvalShard.objects.filter(run__status=RunStatus.RUNNING)
    expired = list(live.filter(status=ShardStatus.RUNNING, lease_until__lt=now).values_list("run_id", "pk"))
    lost: list[tuple[Any, int]] = []
    if _queue_length() == 0:
        lost = list(
            live.filter(status=ShardStatus.PENDING)
            .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - stale_after))
            .values_list("run_id", "pk")
        )
    by_run: dict[Any, list[int]] = {}
    for run_id, pk in expired + lost:
        by_run.setdefault(run_id, []).append(pk)
    return sum(shards_enqueue(run_id=run_id, shard_ids=ids) for run_id, ids in by_run.items())


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
