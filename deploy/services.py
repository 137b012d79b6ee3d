"""Every change to a release's stage or status goes through these functions;
nothing else assigns ``Release.stage`` or ``Release.status``. Each locks the
release row and writes the audit event and the transparency-log entry in the
same transaction."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from auditing.models import Audit, AuditStatus, SignOff
from auditing.services import signoffs_consume
from auditing.two_person import second_approval_require
from core.actors import Actor, system_actor
from core.audit import audit_event_record, snapshot
from core.errors import Conflict, InvalidInput
from core.models import Organisation, OrganisationKind, Role
from core.permissions import require, require_regulator
from deploy import gates
from deploy.models import (
    SANCTION_LADDER,
    STAGE_TRANSITIONS,
    GateRequest,
    GateRequestStatus,
    Reaudit,
    ReauditSource,
    Release,
    ReleaseStatus,
    Sanction,
    SanctionLevel,
)
from labs.models import SystemVersion
from standards.models import Stage
from standards.selectors import standard_in_force
from transparency.records import actor_role, text_digest
from transparency.services import log_append

# Status moves, and the operation that makes each. "suspend" belongs to the
# incident flow of issue 6; it is in the table so that flow has a way in.
STATUS_TRANSITIONS: dict[tuple[str, str], str] = {
    (ReleaseStatus.ACTIVE, ReleaseStatus.HALTED): "halt",
    (ReleaseStatus.SUSPENDED, ReleaseStatus.HALTED): "halt",
    (ReleaseStatus.HALTED, ReleaseStatus.ACTIVE): "resume",
    (ReleaseStatus.SUSPENDED, ReleaseStatus.ACTIVE): "resume",
    (ReleaseStatus.ACTIVE, ReleaseStatus.SUSPENDED): "suspend",
}

MAX_REASON = 2000


def _reason(reason: Any) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("A reason is required.", errors={"reason": ["This field is required."]})
    if len(reason) > MAX_REASON:
        raise InvalidInput("The reason is too long.", errors={"reason": [f"At most {MAX_REASON} characters."]})
    return reason.strip()


def _locked_release(system_version: SystemVersion) -> Release:
    """The release row of the system version, created at stage 0 if missing,
    locked for this transaction. The system version's row is locked first so
    two first writes cannot both create one."""
    SystemVersion.objects.select_for_update().filter(pk=system_version.pk).values_list("pk", flat=True).get()
    release, _ = Release.objects.select_for_update().get_or_create(system_version_id=system_version.pk)
    return release


def _release_stage_move(release: Release, to_stage: int, *, now: datetime.datetime) -> None:
    """The one function that changes ``Release.stage`` (tests/test_rule_homes.py
    fails if any other code assigns it), along ``STAGE_TRANSITIONS``: forward
    one stage through an approved gate, or back down in a halt. The caller
    holds the row locked, saves it and logs its own decision."""
    if to_stage not in STAGE_TRANSITIONS[release.stage]:
        raise Conflict(
            f"A release cannot move from stage {release.stage} to stage {to_stage}.",
            code="stage_transition_not_allowed",
        )
    release.stage = to_stage
    release.stage_changed_at = now


def _record(actor: Actor, action: str, release: Release, before: dict[str, Any]) -> None:
    lab_id = SystemVersion.objects.filter(pk=release.system_version_id).values_list("lab_id", flat=True).get()
    audit_event_record(
        actor=actor, action=action, target=release, before=before, after=snapshot(release), organisations=[lab_id]
    )


def _log(kind: str, release: Release, record: dict[str, Any]) -> int:
    entry = log_append(
        kind=kind,
        subject=release,
        record={
            "system_version": str(release.system_version_id),
            "stage": release.stage,
            "status": release.status,
            **record,
        },
    )
    return entry.index


def _status_set(
    *,
    actor: Actor,
    system_version: SystemVersion,
    status: str,
    reason: str,
    operation: str,
    to_stage: int | None = None,
    decision: Model | None = None,
) -> Release:
    reason = _reason(reason)
    release = _locked_release(system_version)
    if STATUS_TRANSITIONS.get((release.status, status)) != operation:
        raise Conflict(
            f"A {release.status} release cannot be {PAST[operation]}.",
            code=f"cannot_{operation}",
        )
    if to_stage is not None:
        if to_stage not in Stage.values:
            raise InvalidInput("Unknown stage.", errors={"to_stage": [f"Must be one of {Stage.values}."]})
        if to_stage != release.stage and (to_stage > release.stage or to_stage not in STAGE_TRANSITIONS[release.stage]):
            raise InvalidInput(
                "A halt can only send a release back to a lower stage.",
                errors={"to_stage": [f"Must be below the current stage ({release.stage})."]},
            )
        if to_stage != release.stage:  # sending it back: a long halt
            second_approval_require(
                actor=actor, kind="halt", decision=decision, system_version_id=system_version.pk, to_stage=to_stage
            )
    before = snapshot(release)
    now = timezone.now()
    release.status = status
    release.reason = reason
    release.status_changed_at = now
    if to_stage is not None and to_stage != release.stage:
        _release_stage_move(release, to_stage, now=now)
    release.full_clean()
    release.save()
    _record(actor, f"release.{operation}", release, before)
    _log(
        f"release.{operation}",
        release,
        {"from_stage": before["stage"], "reason_sha256": text_digest(reason), "by": actor_role(actor)},
    )
    return release


PAST = {"halt": "halted", "resume": "resumed", "suspend": "suspended"}


def _release_send_back(
    *, actor: Actor, system_version: SystemVersion, to_stage: int, reason: str, decision: Model | None = None
) -> Release:
    """A halted release sent back to a lower stage (a long halt approved by a
    second regulator user after a short halt stopped it: deploy.decisions)."""
    require_regulator(actor)
    reason = _reason(reason)
    release = _locked_release(system_version)
    if release.status != ReleaseStatus.HALTED:
        raise Conflict(f"A {release.status} release is halted before it is sent back.", code="release_not_halted")
    second_approval_require(
        actor=actor, kind="halt", decision=decision, system_version_id=system_version.pk, to_stage=to_stage
    )
    before = snapshot(release)
    _release_stage_move(release, to_stage, now=timezone.now())
    release.reason = reason
    release.full_clean()
    release.save()
    _record(actor, "release.send_back", release, before)
    _log(
        "release.send_back",
        release,
        {"from_stage": before["stage"], "reason_sha256": text_digest(reason), "by": actor_role(actor)},
    )
    return release


@transaction.atomic
def release_halt(
    *,
    actor: Actor,
    system_version: SystemVersion,
    reason: str,
    to_stage: int | None = None,
    decision: Model | None = None,
) -> Release:
    """The regulator halts the release, optionally sending it back to a lower
    stage: every gateway token for this system version stops working at once
    (the gateway checks the status on every call). A halt alone is one
    person's; sending the release back is a long halt, while that needs two
    people (auditing.two_person) only as the approved ``decision`` of two
    regulator users (deploy.decisions passes it)."""
    require_regulator(actor)
    return _status_set(
        actor=actor,
        system_version=system_version,
        status=ReleaseStatus.HALTED,
        reason=reason,
        operation="halt",
        to_stage=to_stage,
        decision=decision,
    )


@transaction.atomic
def release_resume(*, actor: Actor, system_version: SystemVersion, reason: str) -> Release:
    """The regulator lifts a halt or a suspension."""
    require_regulator(actor)
    return _status_set(
        actor=actor, system_version=system_version, status=ReleaseStatus.ACTIVE, reason=reason, operation="resume"
    )


@transaction.atomic
def release_suspend(*, actor: Actor, system_version: SystemVersion, reason: str) -> Release:
    """Suspend an active release: a serious incident (monitoring) or expired
    sign-offs of an online-learning system. Done by the service itself
    (``core.actors.system_actor``) or the regulator; only the regulator
    resumes. Every gateway token of the system stops, as for a halt."""
    require(actor.user is None or actor.is_regulator, "Only the regulator or the service suspends a release.")
    return _status_set(
        actor=actor, system_version=system_version, status=ReleaseStatus.SUSPENDED, reason=reason, operation="suspend"
    )


@transaction.atomic
def reaudit_open(
    *, actor: Actor, system_version: SystemVersion, source: str, reason: str, source_ref: str = ""
) -> Reaudit:
    """Record that the system version owes a re-audit before it may advance
    again (gate checklists show it until an audit opened after it closes).
    The regulator requires one directly; incidents, sanctions and expired
    online-learning sign-offs open one through the service."""
    if source == ReauditSource.REGULATOR:
        require_regulator(actor)
    else:
        require(actor.user is None or actor.is_regulator, "Only the regulator or the service opens a re-audit.")
    if source not in ReauditSource.values:
        raise InvalidInput(
            "Unknown source.", errors={"source": [f"Must be one of: {', '.join(ReauditSource.values)}."]}
        )
    reason = _reason(reason)
    release = _locked_release(system_version)
    reaudit = Reaudit(
        system_version=system_version,
        origin=source,
        reason=reason,
        source_ref=str(source_ref or "")[:64],
        opened_by=actor.user,
    )
    reaudit.full_clean(exclude=["system_version", "opened_by", "closed_by_audit"])
    reaudit.save()
    reaudit.log_index = log_append(
        kind="reaudit.open",
        subject=reaudit,
        record={
            "reaudit": str(reaudit.pk),
            "system_version": str(system_version.pk),
            "stage": release.stage,
            "source": source,
            "source_ref": reaudit.source_ref,
            "reason_sha256": text_digest(reason),
        },
    ).index
    reaudit.save(update_fields=["log_index", "updated_at"])
    audit_event_record(
        actor=actor,
        action="reaudit.open",
        target=reaudit,
        after=snapshot(reaudit),
        organisations=[system_version.lab_id],
    )
    return reaudit


# --- gate requests ------------------------------------------------------------


def _refuse_unmet(checklist: dict[str, Any], what: str) -> None:
    if not checklist["passed"]:
        unmet = [item["title"] for item in checklist["items"] if item.get("gates", True) and not item["met"]]
        raise Conflict(
            f"{what}: {len(unmet)} requirement(s) of the standard are not met: {'; '.join(unmet)}.",
            code="gate_requirements_unmet",
            extra={"checklist": checklist},
        )


def _gate_log(kind: str, gate_request: GateRequest, record: dict[str, Any]) -> int:
    return log_append(
        kind=kind,
        subject=gate_request,
        record={
            "gate_request": str(gate_request.pk),
            "system_version": str(gate_request.system_version_id),
            "from_stage": gate_request.from_stage,
            "to_stage": gate_request.to_stage,
            **record,
        },
    ).index


def gate_checklist(*, system_version: SystemVersion, to_stage: int | None = None) -> dict[str, Any]:
    """The checklist for the next stage (or ``to_stage``) as it stands now; the
    caller has checked the actor may see the system version."""
    release = Release.objects.filter(system_version=system_version).first() or Release(system_version=system_version)
    if to_stage is None:
        to_stage = min(release.stage + 1, Stage.BROAD)
    if to_stage not in Stage.values or to_stage == Stage.INTERNAL:
        raise InvalidInput("Unknown stage.", errors={"to_stage": ["Must be 1, 2 or 3."]})
    checklist, _ = gates.evaluate(system_version=system_version, release=release, to_stage=to_stage)
    return checklist


@transaction.atomic
def gate_request_create(
    *, actor: Actor, system_version: SystemVersion, to_stage: int | None = None, note: str = ""
) -> GateRequest:
    """A lab admin asks to move the release one stage forward. The checklist
    is evaluated first: a request that fails a requirement is refused with the
    checklist and nothing is stored. A request that passes waits for the
    regulator, who decides (the stage changes only on approval)."""
    require(
        actor.has_role(system_version.lab_id, Role.LAB_ADMIN),
        "Only an admin of the lab asks to advance its release.",
        code="lab_admin_only",
    )
    if not isinstance(note, str) or len(note) > MAX_REASON:
        raise InvalidInput("The note is too long.", errors={"note": [f"At most {MAX_REASON} characters."]})
    release = _locked_release(system_version)
    if to_stage is None:
        to_stage = release.stage + 1
    if to_stage not in Stage.values or isinstance(to_stage, bool):
        raise InvalidInput("Unknown stage.", errors={"to_stage": [f"Must be one of {Stage.values}."]})
    if to_stage <= release.stage or to_stage not in STAGE_TRANSITIONS[release.stage]:
        raise Conflict(
            f"The release is at stage {release.stage}: only stage {release.stage + 1} can be requested.",
            code="stage_transition_not_allowed",
        )
    if GateRequest.objects.filter(release=release, status=GateRequestStatus.PENDING).exists():
        raise Conflict("A request for this release is already waiting for the regulator.", code="gate_request_pending")
    checklist, _ = gates.evaluate(system_version=system_version, release=release, to_stage=to_stage)
    _refuse_unmet(checklist, "The request is refused")
    gate_request = GateRequest(
        release=release,
        system_version=system_version,
        from_stage=release.stage,
        to_stage=to_stage,
        requested_by=actor.user,
        note=note.strip(),
        checklist=checklist,
        checklist_digest=gates.checklist_digest(checklist),
    )
    gate_request.full_clean(exclude=["release", "system_version", "requested_by"])
    gate_request.save()
    gate_request.request_log_index = _gate_log(
        "gate.request", gate_request, {"checklist_digest": gate_request.checklist_digest, "by": actor_role(actor)}
    )
    gate_request.save(update_fields=["request_log_index", "updated_at"])
    audit_event_record(
        actor=actor,
        action="gate_request.create",
        target=gate_request,
        after=snapshot(gate_request, exclude=["checklist"]),
        organisations=[system_version.lab_id],
    )
    return gate_request


def _locked_request(gate_request: GateRequest) -> tuple[GateRequest, Release]:
    release = _locked_release(gate_request.system_version)
    locked = GateRequest.objects.select_for_update().get(pk=gate_request.pk)
    if locked.status != GateRequestStatus.PENDING:
        raise Conflict(f"The request is already {locked.status}.", code="gate_request_not_pending")
    return locked, release


@transaction.atomic
def gate_request_withdraw(*, actor: Actor, gate_request: GateRequest) -> GateRequest:
    require(
        actor.has_role(gate_request.system_version.lab_id, Role.LAB_ADMIN),
        "Only an admin of the lab withdraws its request.",
        code="lab_admin_only",
    )
    gate_request, _ = _locked_request(gate_request)
    before = snapshot(gate_request, exclude=["checklist", "decision_checklist"])
    gate_request.status = GateRequestStatus.WITHDRAWN
    gate_request.decided_by = actor.user
    gate_request.decided_at = timezone.now()
    gate_request.decision_log_index = _gate_log("gate.withdraw", gate_request, {"by": actor_role(actor)})
    gate_request.save()
    audit_event_record(
        actor=actor,
        action="gate_request.withdraw",
        target=gate_request,
        before=before,
        after=snapshot(gate_request, exclude=["checklist", "decision_checklist"]),
        organisations=[gate_request.system_version.lab_id],
    )
    return gate_request


@transaction.atomic
def gate_request_decide(*, actor: Actor, gate_request: GateRequest, decision: str, reason: str) -> GateRequest:
    """The regulator approves or rejects a pending request, with reasons.

    Approval is what opens the stage (no review window that lets a stage open
    by silence): the checklist is evaluated again, and if anything has stopped
    holding since the request (a sign-off expired, a finding was filed, the
    release was halted) the approval is refused with the new checklist and the
    regulator rejects instead. On approval the stage changes, the sign-offs the
    gate counted are marked consumed (a sign-off opens one stage, once), the
    re-audits it relied on are closed, and the decision with the checklist's
    digest goes to the transparency log, all in one transaction."""
    require_regulator(actor)
    if decision not in ("approve", "reject"):
        raise InvalidInput("Unknown decision.", errors={"decision": ["Must be approve or reject."]})
    reason = _reason(reason)
    gate_request, release = _locked_request(gate_request)
    sv = gate_request.system_version
    before = snapshot(gate_request, exclude=["checklist", "decision_checklist"])
    now = timezone.now()
    if decision == "reject":
        checklist, _ = gates.evaluate(system_version=sv, release=release, to_stage=gate_request.to_stage, now=now)
        gate_request.status = GateRequestStatus.REJECTED
    else:
        if release.stage != gate_request.from_stage:
            raise Conflict("The release has changed stage since the request.", code="stage_changed")
        checklist, ctx = gates.evaluate(system_version=sv, release=release, to_stage=gate_request.to_stage, now=now)
        _refuse_unmet(checklist, "The approval is refused")
        release_before = snapshot(release)
        _release_stage_move(release, gate_request.to_stage, now=now)
        release.reason = reason
        release.full_clean()
        release.save()
        _record(actor, "release.stage_open", release, release_before)
        signoffs = list(SignOff.objects.select_for_update().filter(pk__in=ctx.counted_signoffs))
        signoffs_consume(signoffs=signoffs, now=now)
        gate_request.signoffs.set(signoffs)
        for reaudit_pk, audit_pk in ctx.reaudits_met:
            Reaudit.objects.filter(pk=reaudit_pk, closed_at__isnull=True).update(
                closed_at=now, closed_by_audit_id=audit_pk, updated_at=now
            )
        gate_request.status = GateRequestStatus.APPROVED
    gate_request.decided_by = actor.user
    gate_request.decided_at = now
    gate_request.decision_reason = reason
    gate_request.decision_checklist = checklist
    gate_request.decision_log_index = _gate_log(
        f"gate.{gate_request.status}",
        gate_request,
        {
            "checklist_digest": gates.checklist_digest(checklist),
            "request_checklist_digest": gate_request.checklist_digest,
            "signoffs": sorted(s.payload_digest for s in gate_request.signoffs.all()),
            "reason_sha256": text_digest(reason),
            "by": actor_role(actor),
        },
    )
    gate_request.save()
    audit_event_record(
        actor=actor,
        action=f"gate_request.{decision}",
        target=gate_request,
        before=before,
        after=snapshot(gate_request, exclude=["checklist", "decision_checklist"]),
        organisations=[sv.lab_id],
    )
    return gate_request


# --- sanctions ----------------------------------------------------------------


def sanction_next_level(*, lab_id: Any, now: datetime.datetime | None = None) -> str:
    """The level the lab's next sanction takes: one step up the ladder for
    each sanction issued within the escalation window (lifted ones count: a
    lifted sanction was still non-compliance)."""
    now = now or timezone.now()
    window = datetime.timedelta(days=settings.STAGEGATE_SANCTION_WINDOW_DAYS)
    earlier = Sanction.objects.filter(lab_id=lab_id, created_at__gte=now - window).count()
    return SANCTION_LADDER[min(earlier, len(SANCTION_LADDER) - 1)]


@transaction.atomic
def sanction_issue(
    *,
    actor: Actor,
    lab: Organisation,
    reason: str,
    system_version: SystemVersion | None = None,
    decision: Model | None = None,
) -> Sanction:
    """The regulator sanctions a lab for non-compliance. Warning, then an
    extra audit (a re-audit the named system version owes before it may
    advance), then suspension of stage advancement for all the lab's releases
    until lifted; repeats within the window escalate. While a sanction needs
    two people (auditing.two_person), only as the approved ``decision`` of two
    regulator users (deploy.decisions passes it)."""
    require_regulator(actor)
    reason = _reason(reason)
    if lab.kind != OrganisationKind.LAB:
        raise InvalidInput("Only a lab can be sanctioned.", errors={"lab": ["Must be a lab."]})
    if system_version is not None and system_version.lab_id != lab.pk:
        raise InvalidInput("The system version is not the lab's.", errors={"system_version": ["Not this lab's."]})
    second_approval_require(
        actor=actor,
        kind="sanction",
        decision=decision,
        lab_id=lab.pk,
        system_version_id=system_version.pk if system_version is not None else None,
    )
    Organisation.objects.select_for_update().filter(pk=lab.pk).values_list("pk", flat=True).get()
    level = sanction_next_level(lab_id=lab.pk)
    if level == SanctionLevel.EXTRA_AUDIT and system_version is None:
        raise InvalidInput(
            "This sanction is an extra audit: name the system version to re-audit.",
            errors={"system_version": ["Required for an extra-audit sanction."]},
        )
    sanction = Sanction(lab=lab, level=level, reason=reason, system_version=system_version, issued_by=actor.user)
    sanction.full_clean(exclude=["lab", "system_version", "issued_by"])
    sanction.save()
    sanction.log_index = log_append(
        kind="sanction.issue",
        subject=sanction,
        record={
            "sanction": str(sanction.pk),
            "lab": str(lab.pk),
            "level": level,
            "system_version": str(system_version.pk) if system_version else None,
            "reason_sha256": text_digest(reason),
        },
    ).index
    sanction.save(update_fields=["log_index", "updated_at"])
    audit_event_record(
        actor=actor, action="sanction.issue", target=sanction, after=snapshot(sanction), organisations=[lab.pk]
    )
    if level == SanctionLevel.EXTRA_AUDIT and system_version is not None:
        reaudit_open(
            actor=actor,
            system_version=system_version,
            source=ReauditSource.SANCTION,
            reason=f"Extra audit (sanction): {reason}",
            source_ref=str(sanction.pk),
        )
    return sanction


@transaction.atomic
def sanction_lift(*, actor: Actor, sanction: Sanction, reason: str) -> Sanction:
    require_regulator(actor)
    reason = _reason(reason)
    sanction = Sanction.objects.select_for_update().get(pk=sanction.pk)
    if sanction.lifted_at is not None:
        raise Conflict("The sanction is already lifted.", code="sanction_lifted")
    before = snapshot(sanction)
    sanction.lifted_at = timezone.now()
    sanction.lifted_by = actor.user
    sanction.lift_reason = reason
    sanction.save()
    log_append(
        kind="sanction.lift",
        subject=sanction,
        record={"sanction": str(sanction.pk), "lab": str(sanction.lab_id), "reason_sha256": text_digest(reason)},
    )
    audit_event_record(
        actor=actor,
        action="sanction.lift",
        target=sanction,
        before=before,
        after=snapshot(sanction),
        organisations=[sanction.lab_id],
    )
    return sanction


# --- online learning (rule 15) -------------------------------------------------


def online_learning_expiry(*, release: Release) -> datetime.datetime | None:
    """When the sign-offs the release's current stage rests on stop counting
    because the system learns online, or None (not online-learning, stage 0,
    or the stage was not opened by a gate). An audit of the version closed
    after the latest online-learning re-audit was opened renews the window
    from its closing: without that, a release resumed after its re-audit was
    suspended again by the next run of the expiry task."""
    if release.stage == Stage.INTERNAL or not release.system_version.online_learning:
        return None
    gate = (
        GateRequest.objects.filter(release=release, to_stage=release.stage, status=GateRequestStatus.APPROVED)
        .order_by("-decided_at")
        .first()
    )
    if gate is None:
        return None
    issued = [s.issued_at for s in gate.signoffs.all()]
    if not issued:
        return None
    since = min(issued)
    reaudit = (
        Reaudit.objects.filter(system_version=release.system_version, origin=ReauditSource.ONLINE_LEARNING)
        .order_by("-created_at")
        .first()
    )
    if reaudit is not None:
        renewed = (
            Audit.objects.filter(
                system_version=release.system_version, status=AuditStatus.CLOSED, created_at__gt=reaudit.created_at
            )
            .order_by("-closed_at")
            .values_list("closed_at", flat=True)
            .first()
        )
        if renewed is not None:
            since = max(since, renewed)
    return standard_in_force().online_learning_expiry(since=since, online_learning=True)


def online_learning_reaudit_lead() -> datetime.timedelta:
    """How long before an online-learning release's sign-offs expire its next
    re-audit is opened, so the assigned auditors can close one in time and the
    release is never suspended for want of it (``STAGEGATE_ONLINE_LEARNING_
    REAUDIT_LEAD_DAYS``, default 14; never more than the standard's window)."""
    days = float(getattr(settings, "STAGEGATE_ONLINE_LEARNING_REAUDIT_LEAD_DAYS", 14))
    return min(datetime.timedelta(days=days), standard_in_force().online_learning_window)


def online_learning_reaudit_ref(expiry: datetime.datetime) -> str:
    # The window a re-audit is for: one re-audit per window, whether the
    # schedule or the expiry opened it.
    return f"expires:{expiry.isoformat()}"[:64]


def online_learning_expire(*, now: datetime.datetime | None = None) -> int:
    """For every active release of an online-learning system (periodic task):
    open its next re-audit once the sign-offs its stage rests on are within
    the lead time of expiring (the standard's cadence: an audit closed after
    that re-audit renews the window, see ``online_learning_expiry``), and
    suspend it once they have expired (opening the re-audit if the schedule
    had not). Returns how many releases were suspended."""
    now = now or timezone.now()
    actor = system_actor("online-learning-expiry")
    suspended = 0
    lead = online_learning_reaudit_lead()
    releases = Release.objects.filter(
        status=ReleaseStatus.ACTIVE, stage__gt=Stage.INTERNAL, system_version__online_learning=True
    ).select_related("system_version")
    for release in releases:
        expiry = online_learning_expiry(release=release)
        if expiry is None or expiry > now + lead:
            continue
        with transaction.atomic():
            locked = _locked_release(release.system_version)
            if locked.status != ReleaseStatus.ACTIVE:
                continue
            ref = online_learning_reaudit_ref(expiry)
            owed = Reaudit.objects.filter(
                system_version=release.system_version, origin=ReauditSource.ONLINE_LEARNING, source_ref=ref
            ).exists()
            if expiry > now:
                if not owed:
                    reaudit_open(
                        actor=actor,
                        system_version=release.system_version,
                        source=ReauditSource.ONLINE_LEARNING,
                        reason=f"Scheduled: the sign-offs for stage {locked.stage} expire on {expiry.isoformat()} "
                        "(the system learns online); an audit of this version closed before then renews them.",
                        source_ref=ref,
                    )
                continue
            reason = f"The sign-offs for stage {locked.stage} expired on {expiry.isoformat()} (system learns online)."
            release_suspend(actor=actor, system_version=release.system_version, reason=reason)
            if not owed:
                reaudit_open(
                    actor=actor,
                    system_version=release.system_version,
                    source=ReauditSource.ONLINE_LEARNING,
                    reason=reason,
                    source_ref=ref,
                )
            suspended += 1
    return suspended
