"""Findings: filed by an assigned auditor, answered by the lab, closed only by
the filing organisation or the regulator, risk accepted only by the regulator.
Nothing is deleted: each change is a FindingUpdate, an audit event and a log
entry, in one transaction."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from auditing.models import (
    UNRESOLVED_FINDING_STATUSES,
    Audit,
    AuditStatus,
    Finding,
    FindingSeverity,
    FindingStatus,
    FindingUpdate,
    FindingUpdateKind,
    RetestOutcome,
)
from auditing.selectors import system_version_ancestry
from auditing.standing import acting_organisation, auditor_standing
from auditing.two_person import second_approval_require
from core.actors import Actor
from core.audit import audit_event_record, snapshot
from core.errors import Conflict, InvalidInput
from core.models import Role
from core.permissions import CHANGE, VIEW, get_for, require
from core.validation import clean_text, full_clean_or_invalid
from labs.models import SystemVersion
from standards.models import CapabilityKind, RiskArea
from transparency.services import log_append

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
EVIDENCE_KINDS = ("eval_sample", "gateway_log", "file")
MAX_EVIDENCE = 100
AUDITOR_ROLES = (Role.AUDITOR, Role.ACADEMIC_AUDITOR)


def _evidence(value: Any) -> list[dict[str, str]]:
    """Evidence references: what kind, where, and the SHA-256 of the thing (a
    gateway access-log record's digest, an eval sample's, a file's)."""
    problem = InvalidInput(
        "The evidence is not valid.",
        errors={
            "evidence": [
                (
                    f"A list of at most {MAX_EVIDENCE} objects with kind ({', '.join(EVIDENCE_KINDS)}), "
                    "reference (up to 500 characters) and sha256 (64 lowercase hex)."
                )
            ]
        },
    )
    if not isinstance(value, list) or len(value) > MAX_EVIDENCE:
        raise problem
    out = []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"kind", "reference", "sha256"}:
            raise problem
        kind, ref, digest = item.get("kind"), item.get("reference", ""), item.get("sha256")
        if kind not in EVIDENCE_KINDS or not isinstance(ref, str) or len(ref) > 500:
            raise problem
        if not isinstance(digest, str) or not SHA256_HEX.match(digest):
            raise problem
        out.append({"kind": kind, "reference": ref, "sha256": digest})
    return out


def _record(finding: Finding, update: FindingUpdate) -> dict[str, Any]:
    return {
        "finding": str(finding.pk),
        "audit": str(finding.audit_id),
        "system_version": str(finding.system_version_id),
        "organisation": str(finding.organisation_id),
        "severity": finding.severity,
        "status": finding.status,
        "update": str(update.pk),
        "update_kind": update.kind,
        "retest_system_version": str(update.system_version_id) if update.system_version_id else None,
        "outcome": update.outcome or None,
    }


def _update(
    *,
    actor: Actor,
    finding: Finding,
    kind: str,
    organisation_id: Any,
    note: str,
    to_status: str,
    before: dict[str, Any] | None,
    from_status: str = "",
    system_version: SystemVersion | None = None,
    outcome: str = "",
) -> Finding:
    now = timezone.now()
    if to_status != finding.status:
        finding.status = to_status
        finding.resolved_at = now if to_status not in UNRESOLVED_FINDING_STATUSES else None
        finding.save(update_fields=["status", "resolved_at", "updated_at"])
    update = FindingUpdate(
        finding=finding,
        kind=kind,
        author=actor.user,
        organisation_id=organisation_id,
        from_status=from_status,
        to_status=to_status,
        note=note,
        system_version=system_version,
        outcome=outcome,
    )
    update.save()
    entry = log_append(kind=f"finding.{kind}", subject=finding, record=_record(finding, update))
    update.log_index = entry.index
    update.save(update_fields=["log_index"])
    if kind == FindingUpdateKind.FILE:
        finding.log_index = entry.index
        finding.save(update_fields=["log_index"])
    audit_event_record(
        actor=actor,
        action=f"finding.{kind}",
        target=finding,
        before=before,
        after={**snapshot(finding), "update": snapshot(update)},
        organisations=[finding.audit.lab_id, finding.organisation_id],
    )
    return finding


def _acting_auditor_org(actor: Actor, audit: Audit, risk_area: str) -> Any:
    """The actor's auditing organisation with standing on this audit for work
    in ``risk_area`` (auditing.standing)."""
    return acting_organisation(
        actor=actor,
        audit=audit,
        roles=AUDITOR_ROLES,
        risk_areas=[risk_area],
        forbidden="Only auditors and academic auditors file findings.",
    )


@transaction.atomic
def finding_file(
    *,
    actor: Actor,
    audit: Audit,
    title: str,
    description: str,
    severity: str,
    risk_area: str,
    capability_kind: str,
    evidence: list[dict[str, str]] | None = None,
) -> Finding:
    audit = get_for(Audit.objects.all(), actor, audit.pk, VIEW)
    errors: dict[str, list[str]] = {}
    if severity not in FindingSeverity.values:
        errors["severity"] = [f"Must be one of: {', '.join(FindingSeverity.values)}."]
    if risk_area not in RiskArea.values:
        errors["risk_area"] = [f"Must be one of: {', '.join(RiskArea.values)}."]
    if capability_kind not in CapabilityKind.values:
        errors["capability_kind"] = [f"Must be one of: {', '.join(CapabilityKind.values)}."]
    if errors:
        raise InvalidInput("The finding is not valid.", errors=errors)
    title = clean_text(title, "title", 200)
    description = clean_text(description, "description", 50_000)
    clean_evidence = _evidence(evidence or [])
    org = _acting_auditor_org(actor, audit, risk_area)
    audit = Audit.objects.select_for_update().get(pk=audit.pk)
    if audit.status != AuditStatus.OPEN:
        raise Conflict(f"The audit is {audit.status}; findings are filed on open audits.", code="audit_not_open")
    finding = Finding(
        audit=audit,
        system_version_id=audit.system_version_id,
        organisation_id=org,
        filed_by=actor.user,
        title=title,
        description=description,
        severity=severity,
        risk_area=risk_area,
        capability_kind=capability_kind,
        evidence=clean_evidence,
        status=FindingStatus.OPEN,
    )
    full_clean_or_invalid(finding, exclude=["audit", "system_version", "organisation", "filed_by"])
    finding.save()
    return _update(
        actor=actor,
        finding=finding,
        kind=FindingUpdateKind.FILE,
        organisation_id=org,
        note="",
        to_status=FindingStatus.OPEN,
        before=None,
    )


def _locked(actor: Actor, finding: Finding) -> Finding:
    return get_for(Finding.objects.select_related("audit"), actor, finding.pk, CHANGE, lock=True)


def _require_unresolved(finding: Finding) -> None:
    if finding.status not in UNRESOLVED_FINDING_STATUSES:
        raise Conflict(f"The finding is {finding.status}; it can no longer change.", code="finding_resolved")


def _lab_answer(*, actor: Actor, finding: Finding, note: str, kind: str, to: str) -> Finding:
    note = clean_text(note, "note", 20_000)
    finding = _locked(actor, finding)
    require(finding.audit.lab_id in actor.lab_ids, "Only the lab answers a finding.", code="lab_only")
    _require_unresolved(finding)
    if kind == FindingUpdateKind.RESPOND and finding.status == FindingStatus.MITIGATED:
        raise Conflict("The lab already reported a mitigation; it awaits re-test.", code="finding_mitigated")
    before = snapshot(finding)
    return _update(
        actor=actor,
        finding=finding,
        kind=kind,
        organisation_id=finding.audit.lab_id,
        note=note,
        from_status=finding.status,
        to_status=to,
        before=before,
    )


@transaction.atomic
def finding_respond(*, actor: Actor, finding: Finding, note: str) -> Finding:
    """The lab answers (disputes, explains, plans)."""
    return _lab_answer(
        actor=actor, finding=finding, note=note, kind=FindingUpdateKind.RESPOND, to=FindingStatus.LAB_RESPONDED
    )


@transaction.atomic
def finding_mitigate(*, actor: Actor, finding: Finding, note: str) -> Finding:
    """The lab reports a mitigation; the finding awaits re-test by the auditor."""
    return _lab_answer(
        actor=actor, finding=finding, note=note, kind=FindingUpdateKind.MITIGATE, to=FindingStatus.MITIGATED
    )


@transaction.atomic
def finding_retest(
    *, actor: Actor, finding: Finding, system_version: SystemVersion, outcome: str, note: str = ""
) -> Finding:
    """The filing organisation re-tests on this version or a successor. Resolved
    there: the finding stops carrying over to that version and later ones.
    Still present after a reported mitigation: it is open again."""
    if outcome not in RetestOutcome.values:
        raise InvalidInput(
            "Invalid outcome.", errors={"outcome": [f"Must be one of: {', '.join(RetestOutcome.values)}."]}
        )
    note = clean_text(note, "note", 20_000, required=False)
    finding = _locked(actor, finding)
    require(
        finding.organisation_id in actor.auditor_org_ids and actor.has_role(finding.organisation_id, *AUDITOR_ROLES),
        "Only the filing organisation re-tests its finding.",
        code="filing_organisation_only",
    )
    _require_unresolved(finding)
    lineage = system_version_ancestry(system_version=system_version)
    if not lineage.filter(pk=finding.system_version_id).exists():
        raise InvalidInput(
            "That version does not descend from the one the finding was filed on.",
            errors={"system_version": ["Must be the finding's system version or a successor of it."]},
        )
    # Re-testing (which reopens a mitigated finding) may happen on a later
    # version under another audit: standing without the assignment.
    standing = auditor_standing(
        organisation=finding.organisation_id, lab=finding.audit.lab_id, risk_areas=[finding.risk_area]
    )
    if not standing:
        raise standing.refusal()
    before = snapshot(finding)
    to = finding.status
    if outcome == RetestOutcome.PERSISTS and finding.status == FindingStatus.MITIGATED:
        to = FindingStatus.OPEN
    return _update(
        actor=actor,
        finding=finding,
        kind=FindingUpdateKind.RETEST,
        organisation_id=finding.organisation_id,
        note=note,
        from_status=finding.status,
        to_status=to,
        before=before,
        system_version=system_version,
        outcome=outcome,
    )


@transaction.atomic
def finding_close(*, actor: Actor, finding: Finding, note: str) -> Finding:
    """Only the filing organisation or the regulator closes a finding."""
    note = clean_text(note, "note", 20_000)
    finding = _locked(actor, finding)
    filing = finding.organisation_id in actor.auditor_org_ids and actor.has_role(
        finding.organisation_id, *AUDITOR_ROLES
    )
    require(
        actor.is_regulator or filing,
        "Only the filing organisation or the regulator closes a finding.",
        code="filing_organisation_or_regulator",
    )
    _require_unresolved(finding)
    if not actor.is_regulator:
        # The filing organisation closes only while it has standing on the
        # audit: a revoked, suspended, out-of-scope or conflicted organisation
        # cannot close its own finding (the regulator still can).
        standing = auditor_standing(
            organisation=finding.organisation_id,
            lab=finding.audit.lab_id,
            audit=finding.audit,
            risk_areas=[finding.risk_area],
        )
        if not standing:
            raise standing.refusal()
    before = snapshot(finding)
    return _update(
        actor=actor,
        finding=finding,
        kind=FindingUpdateKind.CLOSE,
        organisation_id=finding.organisation_id if filing and not actor.is_regulator else _regulator_org(actor),
        note=note,
        from_status=finding.status,
        to_status=FindingStatus.CLOSED,
        before=before,
    )


@transaction.atomic
def finding_accept_risk(*, actor: Actor, finding: Finding, note: str, decision: Model | None = None) -> Finding:
    """Only the regulator accepts the risk of an unresolved finding and, while
    risk acceptance needs two people (auditing.two_person), only as the
    approved ``decision`` of two regulator users (deploy.decisions passes it)."""
    note = clean_text(note, "note", 20_000)
    finding = _locked(actor, finding)
    require(actor.is_regulator, "Only the regulator accepts a risk.", code="regulator_only")
    second_approval_require(actor=actor, kind="risk_acceptance", decision=decision, finding_id=finding.pk)
    _require_unresolved(finding)
    before = snapshot(finding)
    return _update(
        actor=actor,
        finding=finding,
        kind=FindingUpdateKind.ACCEPT_RISK,
        organisation_id=_regulator_org(actor),
        note=note,
        from_status=finding.status,
        to_status=FindingStatus.RISK_ACCEPTED,
        before=before,
    )


def _regulator_org(actor: Actor) -> Any:
    from core.models import OrganisationKind

    return sorted(actor.ids_of_kind(OrganisationKind.REGULATOR), key=str)[0]
