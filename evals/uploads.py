"""Bring your own run: an auditor who ran Inspect on their own machine through
the gateway, with a gateway token for the audit, uploads the log. It is
accepted as evidence only once every model call in it matches the gateway's
access log for that token (``evals.verify``); a registered suite's samples
are re-scored with the registered scorer and kept as an uploaded, exploratory
``EvalRun`` (it never counts at gates: only protocol runs do).

A refused upload writes nothing but an audit event saying who tried what and
why it was refused."""

from __future__ import annotations

import datetime
import hashlib
import io
import logging
import uuid
import zipfile
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from auditing.models import Audit, AuditStatus
from core.actors import Actor
from core.audit import audit_event_record, snapshot
from core.errors import ApplicationError, Conflict, InvalidInput
from core.permissions import require
from evals import verify
from evals.engine import SuiteDefinition, registry
from evals.models import EvalLogFile, EvalLogUpload, EvalRun, EvalSample, RunSource, RunStatus
from evals.services import MAX_SAMPLES_PER_RUN, _may_run, eval_run_finish_if_done, suite_register
from gateway.models import GatewayCall, GatewayToken, GrantKind
from gateway.services import access_log_drain

logger = logging.getLogger(__name__)

ZIP_MAGIC = b"PK\x03\x04"
# An ``.eval`` log is a zip: what it may expand to, against a zip bomb.
MAX_EXPANSION = 8
UPLOADED_NOTE = (
    "An uploaded run is exploratory: it never counts at a gate, where only runs made under the standard's "
    "protocol by Stagegate count."
)


class UploadTooLarge(ApplicationError):
    status = 413
    code = "too_large"


def upload_max_bytes() -> int:
    return int(settings.STAGEGATE_EVAL_UPLOAD_MAX_BYTES)


def upload_organisation(*, actor: Actor, audit: Audit) -> Any:
    """The actor's organisation that may add evidence to this audit: the one
    that may run evaluations on it (``evals.services._may_run``), while it is open."""
    org_id = _may_run(actor, audit)
    require(
        org_id is not None,
        "Only a member of a certified, conflict-free organisation assigned to this audit may upload its logs.",
        code="not_assigned",
    )
    if audit.status != AuditStatus.OPEN:
        raise Conflict("The audit is not open.", code="audit_not_open")
    return org_id


def inspect_log_upload(*, actor: Actor, audit: Audit, token: Any, data: bytes, filename: str) -> EvalLogUpload:
    """Verify an uploaded Inspect log (``.eval`` or ``.json``) against the
    gateway's access log for ``token`` (the id of the gateway token its calls
    used) and keep it as evidence; for a registered suite, also as an
    uploaded run with our own labels.

    Not one transaction: the access log is drained from Redis first, in the
    drain's own transactions (it must run outside one). What is accepted is
    written in one transaction (``_upload_store``), under the token's row lock."""
    org_id = upload_organisation(actor=actor, audit=audit)
    if len(data) > upload_max_bytes():
        raise UploadTooLarge(f"The log is larger than {upload_max_bytes()} bytes.")
    grant = _token_for(audit=audit, organisation=org_id, token=token)
    fmt, log = _parse(data)
    started, completed = _window(log)
    sha256 = hashlib.sha256(data).hexdigest()
    definition = _suite_of(log)
    attempt = {"filename": filename[:200], "sha256": sha256, "size": len(data), "token": str(grant.pk)}
    try:
        # Before the access log is read: a sample's calls are in the log only if it reached the gateway's stream.
        access_log_drain()
    except Exception as exc:  # Redis or the database: nothing to verify against now
        logger.warning("upload: could not drain the access log: %s", exc)
        raise ApplicationError(
            "The gateway's access log cannot be read now; try again shortly.", code="access_log_unavailable", status=503
        ) from None
    slack = datetime.timedelta(seconds=settings.STAGEGATE_EVAL_UPLOAD_CLOCK_SLACK_SECONDS)
    try:
        samples = verify.read_samples(log)
        if not samples:
            raise verify.Refusal("no_samples", "The log has no samples.")
        if len(samples) > MAX_SAMPLES_PER_RUN:
            raise verify.Refusal("too_many_samples", f"At most {MAX_SAMPLES_PER_RUN} samples in one log.")
        window = _calls(token_id=grant.pk, since=started - slack, until=completed + slack)
        unmatched = verify.unmatched_keys(samples, window)
        checked = verify.reconcile(
            samples, token=str(grant.pk), window=window, elsewhere=_calls_with(unmatched) if unmatched else ()
        )
        verify.outputs_check(samples)
        verdicts = verify.suite_assess(samples, definition) if definition is not None else None
    except verify.Refusal as refusal:
        _refusal_record(actor=actor, audit=audit, organisation=org_id, attempt=attempt, refusal=refusal)
        extra = {k: v for k, v in (("sample", refusal.sample), ("call", refusal.call)) if v is not None}
        raise InvalidInput(
            f"The log is not accepted as evidence: {refusal.message}", code=refusal.code, extra=extra
        ) from None
    report = _report(
        log=log,
        definition=definition,
        samples=samples,
        verdicts=verdicts,
        checked=checked,
        window=(started, completed, slack),
    )
    return _upload_store(
        actor=actor,
        audit=audit,
        organisation=org_id,
        token=grant,
        data=data,
        fmt=fmt,
        filename=filename,
        sha256=sha256,
        log=log,
        definition=definition,
        verdicts=verdicts,
        report=report,
        window=(started, completed),
        calls=checked["calls"],
    )


def _token_for(*, audit: Audit, organisation: Any, token: Any) -> GatewayToken:
    """The auditor token for this audit's system version issued for the
    uploader's organisation. Anything else reads the same, so an id tells
    nothing about other organisations' tokens."""
    refused = InvalidInput(
        "No gateway token of your organisation for this audit has this id.",
        code="invalid_token",
        errors={"token": ["An auditor token your organisation was issued for this audit."]},
    )
    try:
        grant = GatewayToken.objects.filter(
            pk=token,
            kind=GrantKind.AUDITOR,
            audit=audit,
            system_version_id=audit.system_version_id,
            organisation_id=organisation,
        ).first()
    except (ValidationError, ValueError, TypeError):
        raise refused from None
    if grant is None:
        raise refused
    if EvalRun.objects.filter(gateway_token_id=grant.pk).exists():
        raise Conflict("This token is a Stagegate run's own: its calls are that run's.", code="token_of_managed_run")
    if EvalLogUpload.objects.filter(token=grant).exists():
        raise Conflict(
            "A log made with this token was already accepted: use a fresh token for each run.",
            code="token_already_used",
        )
    return grant


def _not_a_log(reason: str) -> InvalidInput:
    return InvalidInput(
        f"This is not a readable Inspect log (.eval or .json): {reason}",
        code="not_an_inspect_log",
        errors={"file": ["An Inspect log, as `inspect eval` writes it."]},
    )


def _parse(data: bytes) -> tuple[str, Any]:
    """(format, EvalLog) of the uploaded bytes, with attachments resolved (the
    call records' bytes are attachments in the log). The format is read from
    the bytes, never from the name."""
    from inspect_ai.log import read_eval_log

    if data.startswith(ZIP_MAGIC):
        fmt = "eval"
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                expanded = sum(i.file_size for i in z.infolist())
        except (zipfile.BadZipFile, ValueError, OSError) as exc:
            raise _not_a_log(f"a broken zip ({exc}).") from None
        if expanded > MAX_EXPANSION * upload_max_bytes():
            raise UploadTooLarge(f"The log expands to {expanded} bytes, more than this service reads.")
    elif data.lstrip()[:1] == b"{":
        fmt = "json"
    else:
        raise _not_a_log("neither a zip (.eval) nor JSON (.json).")
    try:
        log = read_eval_log(io.BytesIO(data), format=fmt, resolve_attachments=True)  # type: ignore[arg-type]
    except Exception as exc:  # whatever the bytes make Inspect's reader do: it is not a log we can read
        raise _not_a_log(f"Inspect could not read it ({type(exc).__name__}).") from None
    return fmt, log


def _window(log: Any) -> tuple[datetime.datetime, datetime.datetime]:
    try:
        started = datetime.datetime.fromisoformat(log.stats.started_at)
        completed = datetime.datetime.fromisoformat(log.stats.completed_at)
    except (TypeError, ValueError, AttributeError):
        raise InvalidInput(
            "The log has no start and end time: upload a finished eval's log.", code="log_incomplete"
        ) from None
    if timezone.is_naive(started) or timezone.is_naive(completed) or completed < started:
        raise InvalidInput("The log's start and end times are not valid.", code="log_incomplete")
    return started, completed


def _suite_of(log: Any) -> SuiteDefinition | None:
    """The registered suite the log's task is, if any: by the task's
    ``stagegate_suite`` metadata, else by its name."""
    names = [(log.eval.metadata or {}).get("stagegate_suite"), str(log.eval.task or "").removeprefix("stagegate/")]
    # An external suite (a published task run as it is) cannot be replayed
    # over the verified responses: its log is checked like any other task's.
    suites = {name: d for name, d in registry().items() if d.external is None}
    return next((suites[n] for n in names if isinstance(n, str) and n in suites), None)


def _row(call: Any) -> verify.LoggedCall:
    token_id, status, request_sha256, response_sha256, created_at = call
    return verify.LoggedCall(
        token=str(token_id),
        status=status,
        request_sha256=request_sha256,
        response_sha256=response_sha256,
        created_at=created_at,
    )


FIELDS = ("token_id", "status_code", "request_sha256", "response_sha256", "created_at")


def _calls(*, token_id: Any, since: datetime.datetime, until: datetime.datetime) -> list[verify.LoggedCall]:
    rows = GatewayCall.objects.filter(token_id=token_id, created_at__gte=since, created_at__lte=until)
    return [_row(r) for r in rows.order_by("created_at").values_list(*FIELDS)]


def _calls_with(keys: Iterable[verify.CallKey]) -> list[verify.LoggedCall]:
    """Access-log rows of any token at any time with these calls' digests."""
    wanted = set(keys)
    rows = GatewayCall.objects.filter(response_sha256__in={k[2] for k in wanted}).values_list(*FIELDS)
    return [row for row in map(_row, rows) if row.key in wanted]


def _refusal_record(
    *, actor: Actor, audit: Audit, organisation: Any, attempt: dict[str, Any], refusal: verify.Refusal
) -> None:
    with transaction.atomic():
        audit_event_record(
            actor=actor,
            action="inspect_log_upload.refuse",
            target=audit,
            after={**attempt, "code": refusal.code, "detail": refusal.message[:2000]},
            organisations=[organisation],
        )


def _report(
    *,
    log: Any,
    definition: SuiteDefinition | None,
    samples: list[verify.LogSample],
    verdicts: list[verify.SampleVerdict] | None,
    checked: dict[str, int],
    window: tuple[datetime.datetime, datetime.datetime, datetime.timedelta],
) -> dict[str, Any]:
    started, completed, slack = window
    report: dict[str, Any] = {
        "task": log.eval.task,
        "model": log.eval.model,
        "log_status": log.status,
        "window": {
            "started_at": started.isoformat(),
            "completed_at": completed.isoformat(),
            "slack_seconds": int(slack.total_seconds()),
        },
        "checks": [
            "every model call carries its stagegate-calls/1 record, whose bytes hash to its digests",
            "the log's calls and the token's calls in the access log within the window are the same multiset",
            "each sample's calls are in the order the gateway saw them",
            "each recorded output and assistant message is the text of its verified response",
        ],
        "calls": checked["calls"],
        "samples": len(samples),
        "counts_at_gates": False,
        "note": UPLOADED_NOTE,
    }
    if definition is not None and verdicts is not None:
        meta = log.eval.metadata or {}
        report["checks"].append(
            "the suite's conversation, replayed over the verified responses, asks exactly the verified requests"
        )
        report["suite"] = {
            "name": definition.name,
            "registered_version": definition.version,
            "registered_content_digest": definition.content_digest,
            "log_version": meta.get("suite_version", log.eval.task_version),
            "log_content_digest": meta.get("content_digest"),
        }
        report["rescored"] = {
            "done": sum(v.status == "done" for v in verdicts),
            "error": sum(v.status == "error" for v in verdicts),
            "disagreements": verify.disagreements(verdicts),
            "notes": [{"sample": v.id, "notes": v.notes} for v in verdicts if v.notes],
        }
    return report


def _sampling(log: Any) -> dict[str, Any]:
    """What the log says the model was asked with; unset values are the upstream's defaults."""
    config = getattr(log.plan, "config", None)
    return {
        "temperature": getattr(config, "temperature", None),
        "top_p": getattr(config, "top_p", None),
        "max_tokens": getattr(config, "max_tokens", None),
    }


def _store_file(*, upload_id: uuid.UUID, audit: Audit, data: bytes, fmt: str) -> str:
    """Where shard logs go (a directory or an fsspec URL such as s3://…), under uploads/."""
    from inspect_ai._util.file import file as open_file
    from inspect_ai._util.file import filesystem

    folder = f"{settings.STAGEGATE_EVAL_LOG_DIR.rstrip('/')}/uploads/audit-{audit.pk}"
    filesystem(folder).mkdir(folder, exist_ok=True)
    location = f"{folder}/{upload_id}.{fmt}"
    with open_file(location, "wb") as f:
        f.write(data)
    return location


@transaction.atomic
def _upload_store(
    *,
    actor: Actor,
    audit: Audit,
    organisation: Any,
    token: GatewayToken,
    data: bytes,
    fmt: str,
    filename: str,
    sha256: str,
    log: Any,
    definition: SuiteDefinition | None,
    verdicts: list[verify.SampleVerdict] | None,
    report: dict[str, Any],
    window: tuple[datetime.datetime, datetime.datetime],
    calls: int,
) -> EvalLogUpload:
    # Two uploads with one token at once: the second waits here, then finds the first.
    GatewayToken.objects.select_for_update().get(pk=token.pk)
    if EvalLogUpload.objects.filter(token=token).exists():
        raise Conflict(
            "A log made with this token was already accepted: use a fresh token for each run.",
            code="token_already_used",
        )
    upload_id = uuid.uuid4()
    location = _store_file(upload_id=upload_id, audit=audit, data=data, fmt=fmt)
    run = None
    if definition is not None and verdicts is not None:
        run = _run_create(
            actor=actor, audit=audit, organisation=organisation, definition=definition, log=log, verdicts=verdicts
        )
        EvalLogFile.objects.create(
            run=run,
            shard=None,
            attempt=1,
            name=f"upload-{upload_id}.{fmt}",
            location=location,
            sha256=sha256,
            size=len(data),
            samples=len(verdicts),
            ingested=sum(v.status == "done" for v in verdicts),
        )
        report = {**report, "sampling": _sampling(log)}
    upload = EvalLogUpload(
        id=upload_id,
        audit=audit,
        system_version_id=audit.system_version_id,
        organisation_id=organisation,
        uploaded_by=actor.user,
        token=token,
        filename=(filename or f"upload.{fmt}")[:200],
        format=fmt,
        location=location,
        sha256=sha256,
        size=len(data),
        task=str(log.eval.task)[:200],
        suite=run.suite if run is not None else None,
        run=run,
        log_started_at=window[0],
        log_completed_at=window[1],
        samples=len(log.samples or []),
        calls=calls,
        report=report,
    )
    upload.full_clean()
    upload.save()
    audit_event_record(
        actor=actor,
        action="inspect_log_upload.accept",
        target=upload,
        after=snapshot(upload, exclude=["report"]),
        organisations=[organisation, audit.lab_id],
    )
    if run is not None:
        eval_run_finish_if_done(run_id=run.pk)
        run.refresh_from_db()
    return upload


def _run_create(
    *,
    actor: Actor,
    audit: Audit,
    organisation: Any,
    definition: SuiteDefinition,
    log: Any,
    verdicts: list[verify.SampleVerdict],
) -> EvalRun:
    """The uploaded samples as a run, finished by the same code as managed runs."""
    conditions = list(dict.fromkeys(v.condition for v in verdicts))
    per_condition = max(sum(v.condition == c for v in verdicts) for c in conditions)
    sampling = _sampling(log)
    run = EvalRun(
        suite=suite_register(definition=definition),
        audit=audit,
        system_version=audit.system_version,
        organisation_id=organisation,
        started_by=actor.user,
        status=RunStatus.RUNNING,
        conditions=conditions,
        samples_per_condition=per_condition,
        # Unset in the log: the upstream's default, recorded as the API's (1, 1, no limit).
        temperature=sampling["temperature"] if sampling["temperature"] is not None else 1.0,
        top_p=sampling["top_p"] if sampling["top_p"] is not None else 1.0,
        max_tokens=sampling["max_tokens"] or 0,
        seed_policy="as_logged",
        standard=None,
        protocol_digest="",
        source=RunSource.UPLOADED,
    )
    run.full_clean()
    run.save()
    now = timezone.now()
    EvalSample.objects.bulk_create(
        [
            EvalSample(
                run=run,
                shard=None,
                condition=v.condition,
                index=v.index,
                status=v.status,
                attempts=1,
                transcript=v.transcript,
                labels=v.labels,
                grade=v.grade,
                calls=v.calls,
                error=v.error,
                finished_at=now,
            )
            for v in verdicts
        ],
        batch_size=1000,
    )
    audit_event_record(
        actor=actor,
        action="eval_run.upload",
        target=run,
        after=snapshot(run, exclude=["gateway_token_ciphertext", "grader_token_ciphertext"]),
        organisations=[organisation, audit.lab_id],
    )
    return run
