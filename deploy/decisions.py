"""Two people at the regulator (issue 13, item 8): the decisions the
standard names — long halts (a halt that sends a release back to a lower
stage), sanctions and risk acceptances — are proposed by one regulator user
and take effect only when a different one approves.

- ``regulator_decision_propose`` records a pending proposal (an audit event,
  nothing in the transparency log: nothing has happened yet).
- ``regulator_decision_approve`` by another regulator user records the
  approval and carries it out through the one service that makes that
  decision (``release_halt``/``_release_send_back``, ``sanction_issue``,
  ``finding_accept_risk``), handing it the approved decision as its
  authority: those services refuse a two-person act without one
  (``auditing.two_person.second_approval_require`` reads the row back:
  approved, by two regulator users, for this kind and subject, not carried
  out before). The service writes its own audit event and log entry; the
  approval is logged (``regulator_decision.approve``) in the same
  transaction, and ``result_id`` marks the decision carried out. The proposer
  cannot approve their own (403 ``proposer_cannot_approve``; the database
  refuses it too).
- ``regulator_decision_reject`` by any regulator user (the proposer's own is
  a withdrawal) ends it without effect (an audit event only).

A halt that only stops the release stays immediate (``release_halt``):
stopping harm must not wait for a second person. Which kinds need two
people: ``auditing.two_person`` (``STAGEGATE_TWO_PERSON_DECISIONS``, default
all three); the services refuse those kinds without an approved decision,
so every one-person entry point answers 409 ``second_regulator_required``.
Only this module hands a decision to those services (tests/test_rule_homes.py)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from auditing.models import UNRESOLVED_FINDING_STATUSES, Finding
from auditing.services import finding_accept_risk
from auditing.two_person import approval_model_register
from core.actors import Actor
from core.audit import audit_event_record, snapshot
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import Organisation, OrganisationKind
from core.permissions import require_regulator
from deploy.models import (
    STAGE_TRANSITIONS,
    DecisionKind,
    DecisionStatus,
    RegulatorDecision,
    Release,
    ReleaseStatus,
    SanctionLevel,
)
from labs.models import SystemVersion
from transparency.records import text_digest
from transparency.services import log_append

# The services of two-person decisions accept only a row of this model as their authority.
approval_model_register(RegulatorDecision)


def _event(actor: Actor, action: str, decision: RegulatorDecision, before: dict[str, Any] | None = None) -> None:
    lab_id = decision.lab_id
    if lab_id is None and decision.system_version_id is not None:
        lab_id = SystemVersion.objects.filter(pk=decision.system_version_id).values_list("lab_id", flat=True).get()
    audit_event_record(
        actor=actor,
        action=action,
        target=decision,
        before=before,
        after=snapshot(decision),
        organisations=[lab_id] if lab_id else [],
    )


@transaction.atomic
def regulator_decision_propose(
    *,
    actor: Actor,
    kind: str,
    reason: str,
    lab: Organisation | None = None,
    system_version: SystemVersion | None = None,
    finding: Finding | None = None,
    to_stage: int | None = None,
) -> RegulatorDecision:
    """A regulator user proposes a decision; nothing takes effect yet. What
    the decision needs is checked now (400 on bad input, 409 on a state that
    refuses it) and again when it is approved."""
    from deploy.services import _reason, sanction_next_level

    require_regulator(actor)
    if kind not in DecisionKind.values:
        raise InvalidInput("Unknown decision.", errors={"kind": [f"Must be one of: {', '.join(DecisionKind.values)}."]})
    reason = _reason(reason)
    decision = RegulatorDecision(kind=kind, reason=reason, proposed_by=actor.user)
    if kind == DecisionKind.SANCTION:
        if lab is None or lab.kind != OrganisationKind.LAB:
            raise InvalidInput("Only a lab can be sanctioned.", errors={"lab": ["Must be a lab."]})
        if system_version is not None and system_version.lab_id != lab.pk:
            raise InvalidInput("The system version is not the lab's.", errors={"system_version": ["Not this lab's."]})
        if sanction_next_level(lab_id=lab.pk) == SanctionLevel.EXTRA_AUDIT and system_version is None:
            raise InvalidInput(
                "This sanction would be an extra audit: name the system version to re-audit.",
                errors={"system_version": ["Required for an extra-audit sanction."]},
            )
        decision.lab, decision.system_version = lab, system_version
    elif kind == DecisionKind.RISK_ACCEPTANCE:
        if finding is None:
            raise InvalidInput("Name the finding.", errors={"finding": ["This field is required."]})
        if finding.status not in UNRESOLVED_FINDING_STATUSES:
            raise Conflict(f"The finding is {finding.status}; it can no longer change.", code="finding_resolved")
        decision.finding = finding
        decision.lab_id = finding.audit.lab_id
    else:  # halt
        if system_version is None:
            raise InvalidInput("Name the system version.", errors={"system_version": ["This field is required."]})
        release = Release.objects.filter(system_version_id=system_version.pk).first()
        stage = release.stage if release is not None else 0
        if to_stage is None:
            raise InvalidInput(
                "A halt that only stops the release takes effect at once (POST /api/releases/{id}/halt); "
                "a long halt sends it back to a lower stage.",
                errors={"to_stage": ["This field is required."]},
            )
        if to_stage >= stage or to_stage not in STAGE_TRANSITIONS[stage]:
            raise InvalidInput(
                "A long halt sends the release back to a lower stage.",
                errors={"to_stage": [f"Must be below the current stage ({stage})."]},
            )
        decision.system_version, decision.to_stage, decision.lab_id = system_version, to_stage, system_version.lab_id
    decision.full_clean(exclude=["proposed_by", "lab", "system_version", "finding"])
    decision.save()
    _event(actor, "regulator_decision.propose", decision)
    return decision


def _locked_pending(decision: RegulatorDecision) -> RegulatorDecision:
    decision = RegulatorDecision.objects.select_for_update().get(pk=decision.pk)
    if decision.status != DecisionStatus.PENDING:
        raise Conflict(f"The decision is already {decision.status}.", code="decision_not_pending")
    return decision


def _take_effect(actor: Actor, decision: RegulatorDecision) -> str:
    """Apply the decision through the one service that makes it; the id of what it made."""
    from deploy.services import _release_send_back, release_halt, sanction_issue

    if decision.kind == DecisionKind.SANCTION:
        sanction = sanction_issue(
            actor=actor,
            lab=Organisation.objects.get(pk=str(decision.lab_id)),
            reason=decision.reason,
            system_version=decision.system_version,
            decision=decision,
        )
        return str(sanction.pk)
    if decision.kind == DecisionKind.RISK_ACCEPTANCE:
        finding = Finding.objects.get(pk=str(decision.finding_id))
        return str(finding_accept_risk(actor=actor, finding=finding, note=decision.reason, decision=decision).pk)
    system_version = SystemVersion.objects.get(pk=str(decision.system_version_id))
    if decision.to_stage is None:  # pragma: no cover - a halt proposal always names its stage
        raise Conflict("The long halt names no stage.", code="decision_invalid")
    release = Release.objects.filter(system_version_id=system_version.pk).first()
    if release is not None and release.status == ReleaseStatus.HALTED:
        # Already stopped (a short halt): send it back.
        _release_send_back(
            actor=actor,
            system_version=system_version,
            to_stage=decision.to_stage,
            reason=decision.reason,
            decision=decision,
        )
    else:
        release_halt(
            actor=actor,
            system_version=system_version,
            reason=decision.reason,
            to_stage=decision.to_stage,
            decision=decision,
        )
    return str(system_version.pk)


@transaction.atomic
def regulator_decision_approve(*, actor: Actor, decision: RegulatorDecision, reason: str) -> RegulatorDecision:
    """A second regulator user approves: the decision takes effect now. The
    approval is saved first (in this transaction, the row locked) so that the
    service reads it back as its authority; a refusal rolls it all back."""
    from deploy.services import _reason

    require_regulator(actor)
    reason = _reason(reason)
    decision = _locked_pending(decision)
    if decision.proposed_by_id == getattr(actor.user, "pk", None):
        raise Forbidden(
            "You proposed this decision; a different regulator user must approve it.", code="proposer_cannot_approve"
        )
    before = snapshot(decision)
    now = timezone.now()
    decision.status = DecisionStatus.APPROVED
    decision.decided_by, decision.decided_at, decision.decision_reason = actor.user, now, reason
    decision.save()
    decision.result_id = _take_effect(actor, decision)
    decision.log_index = log_append(
        kind="regulator_decision.approve",
        subject=decision,
        record={
            "decision": str(decision.pk),
            "kind": decision.kind,
            "result": decision.result_id,
            "proposed_at": decision.created_at.isoformat(),
            "approved_at": now.isoformat(),
            "two_people": True,
            "reason_sha256": text_digest(decision.reason),
        },
    ).index
    decision.save()
    _event(actor, "regulator_decision.approve", decision, before)
    return decision


@transaction.atomic
def regulator_decision_reject(*, actor: Actor, decision: RegulatorDecision, reason: str) -> RegulatorDecision:
    """Any regulator user rejects a pending decision (the proposer's own
    rejection is a withdrawal); it never takes effect."""
    from deploy.services import _reason

    require_regulator(actor)
    reason = _reason(reason)
    decision = _locked_pending(decision)
    before = snapshot(decision)
    decision.status = DecisionStatus.REJECTED
    decision.decided_by, decision.decided_at, decision.decision_reason = actor.user, timezone.now(), reason
    decision.save()
    _event(actor, "regulator_decision.reject", decision, before)
    return decision
