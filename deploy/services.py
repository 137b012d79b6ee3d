"""Every change to a release's stage or status goes through these functions;
nothing else assigns ``Release.stage`` or ``Release.status``."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from core.audit import audit_event_record, snapshot
from core.errors import Conflict, InvalidInput
from core.permissions import require_regulator
from deploy.models import Release, ReleaseStatus
from labs.models import SystemVersion
from standards.models import Stage

# Stage moves the regulator may direct: forward one stage at a time, or back to
# any lower stage (a problem found at a stage sends the lab back to iterate).
STAGE_TRANSITIONS: dict[int, frozenset[int]] = {
    Stage.INTERNAL: frozenset({Stage.AUDITORS}),
    Stage.AUDITORS: frozenset({Stage.INTERNAL, Stage.LIMITED}),
    Stage.LIMITED: frozenset({Stage.INTERNAL, Stage.AUDITORS, Stage.BROAD}),
    Stage.BROAD: frozenset({Stage.INTERNAL, Stage.AUDITORS, Stage.LIMITED}),
}

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


def _record(actor: Actor, action: str, release: Release, before: dict[str, Any]) -> None:
    lab_id = SystemVersion.objects.filter(pk=release.system_version_id).values_list("lab_id", flat=True).get()
    audit_event_record(
        actor=actor, action=action, target=release, before=before, after=snapshot(release), organisations=[lab_id]
    )


@transaction.atomic
def release_stage_set(*, actor: Actor, system_version: SystemVersion, stage: int, reason: str) -> Release:
    """Move the system version to ``stage``, as directed by the regulator.

    Interim rule: until the staged-release issue (6) lands, the regulator sets
    the stage directly. Issue 6 puts the lab's request and the standard's gates
    (lab sign-offs, suites passed, auditor approvals, monitoring period) in
    front of this function; it stays the only place that writes the stage.
    """
    require_regulator(actor)
    reason = _reason(reason)
    if stage not in Stage.values:
        raise InvalidInput("Unknown stage.", errors={"stage": [f"Must be one of {Stage.values}."]})
    release = _locked_release(system_version)
    if stage == release.stage:
        raise Conflict(f"The release is already at stage {stage}.", code="stage_unchanged")
    if stage not in STAGE_TRANSITIONS[release.stage]:
        raise Conflict(
            f"A release at stage {release.stage} cannot move to stage {stage} (one stage forward at a time).",
            code="stage_transition_not_allowed",
        )
    before = snapshot(release)
    release.stage = stage
    release.reason = reason
    release.stage_changed_at = timezone.now()
    release.full_clean()
    release.save()
    _record(actor, "release.stage_set", release, before)
    return release


def _status_set(*, actor: Actor, system_version: SystemVersion, status: str, reason: str, operation: str) -> Release:
    require_regulator(actor)
    reason = _reason(reason)
    release = _locked_release(system_version)
    if STATUS_TRANSITIONS.get((release.status, status)) != operation:
        raise Conflict(
            f"A {release.status} release cannot be {'resumed' if operation == 'resume' else operation + 'ed'}.",
            code=f"cannot_{operation}",
        )
    before = snapshot(release)
    release.status = status
    release.reason = reason
    release.status_changed_at = timezone.now()
    release.full_clean()
    release.save()
    _record(actor, f"release.{operation}", release, before)
    return release


@transaction.atomic
def release_halt(*, actor: Actor, system_version: SystemVersion, reason: str) -> Release:
    """The regulator halts the release: every gateway token for this system
    version stops working at once (the gateway checks the status on every call)."""
    return _status_set(
        actor=actor, system_version=system_version, status=ReleaseStatus.HALTED, reason=reason, operation="halt"
    )


@transaction.atomic
def release_resume(*, actor: Actor, system_version: SystemVersion, reason: str) -> Release:
    """The regulator lifts a halt or a suspension."""
    return _status_set(
        actor=actor, system_version=system_version, status=ReleaseStatus.ACTIVE, reason=reason, operation="resume"
    )
