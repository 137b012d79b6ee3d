"""The regulator's side of auditing: certification of auditor organisations,
conflicts of interest, audits with their assigned auditors, and fees."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.models import AppendOnly, BaseModel, Organisation
from standards.models import CapabilityKind


class CertificationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    REVOKED = "revoked", "Revoked"
    SUPERSEDED = "superseded", "Superseded by a renewal"


class InfosecLevel(models.TextChoices):
    # Security levels for protecting model weights (after RAND's SL1–SL5).
    SL1 = "SL1", "SL1: amateur attempts"
    SL2 = "SL2", "SL2: professional opportunistic"
    SL3 = "SL3", "SL3: cybercrime syndicates and insiders"
    SL4 = "SL4", "SL4: standard state operations"
    SL5 = "SL5", "SL5: top-priority state operations"


class CertificationQuerySet(models.QuerySet["Certification"]):
    def visible_to(self, actor: Any, action: str = "view") -> CertificationQuerySet:
        from auditing.permissions import certification_scope

        return certification_scope(self, actor, action)

    def valid_at(self, when: datetime.datetime | None = None) -> CertificationQuerySet:
        when = when or timezone.now()
        return self.filter(status=CertificationStatus.ACTIVE, issued_at__lte=when, expires_at__gt=when)


class Certification(BaseModel):
    """The regulator's certification of an auditor organisation or academic group."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="certifications")
    status = models.CharField(max_length=16, choices=CertificationStatus.choices, default=CertificationStatus.ACTIVE)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    risk_areas = models.JSONField(default=list, help_text="Risk areas in scope (standards.RiskArea)")
    infosec_level = models.CharField(max_length=3, choices=InfosecLevel.choices)
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status_reason = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    # When the expiry was written to the audit trail (once per certification).
    expiry_recorded_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = CertificationQuerySet.as_manager()

    class Meta:
        ordering = ["-issued_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("issued_at")), name="certification_expiry_after_issue"
            ),
            models.UniqueConstraint(
                fields=["organisation"],
                condition=models.Q(status__in=["active", "suspended"]),
                name="certification_one_current",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation.name}: {self.status} until {self.expires_at:%Y-%m-%d}"

    def is_valid_at(self, when: datetime.datetime | None = None) -> bool:
        when = when or timezone.now()
        return self.status == CertificationStatus.ACTIVE and self.issued_at <= when < self.expires_at


class ConflictKind(models.TextChoices):
    DESIGNED = "designed", "Designed the system"
    DEVELOPED = "developed", "Developed the system"
    MARKETED = "marketed", "Marketed the system"
    CONSULTED = "consulted", "Consulted on the system"
    ECONOMIC_INTEREST = "economic_interest", "Economic interest in the lab"
    OTHER = "other", "Other"


class ConflictQuerySet(models.QuerySet["ConflictOfInterest"]):
    def visible_to(self, actor: Any, action: str = "view") -> ConflictQuerySet:
        from auditing.permissions import conflict_scope

        return conflict_scope(self, actor, action)

    def in_force(self) -> ConflictQuerySet:
        return self.filter(ended_at__isnull=True)


class ConflictOfInterest(BaseModel):
    """A declared conflict between an auditor organisation and a lab. It bars the
    organisation from that lab's audits until the regulator ends it."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="conflicts")
    lab = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="conflicts_against")
    kind = models.CharField(max_length=24, choices=ConflictKind.choices)
    reason = models.TextField()
    declared_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    end_reason = models.TextField(blank=True)

    objects = ConflictQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "conflict of interest"
        verbose_name_plural = "conflicts of interest"
        constraints = [
            models.CheckConstraint(condition=~models.Q(organisation=models.F("lab")), name="conflict_distinct_parties"),
        ]

    def __str__(self) -> str:
        return f"{self.organisation.name} × {self.lab.name}: {self.kind}"


class AuditKind(models.TextChoices):
    INITIAL = "initial", "Initial audit"
    DELTA = "delta", "Delta re-audit of a changed system"
    PERIODIC = "periodic", "Periodic re-audit (online learning)"
    INCIDENT = "incident", "Re-audit after an incident"


class AuditStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


class AuditQuerySet(models.QuerySet["Audit"]):
    def visible_to(self, actor: Any, action: str = "view") -> AuditQuerySet:
        from auditing.permissions import audit_scope

        return audit_scope(self, actor, action)


class Audit(BaseModel):
    """One system version audited against the standard in force when it opened."""

    lab = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="audits")
    system_version = models.ForeignKey("labs.SystemVersion", on_delete=models.PROTECT, related_name="audits")
    standard = models.ForeignKey("standards.Standard", on_delete=models.PROTECT, related_name="audits")
    kind = models.CharField(max_length=12, choices=AuditKind.choices, default=AuditKind.INITIAL)
    status = models.CharField(max_length=12, choices=AuditStatus.choices, default=AuditStatus.OPEN)
    scope_notes = models.TextField(blank=True)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.TextField(blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Audit of {self.system_version} ({self.status})"


class AssignmentQuerySet(models.QuerySet["AuditAssignment"]):
    def visible_to(self, actor: Any, action: str = "view") -> AssignmentQuerySet:
        from auditing.permissions import assignment_scope

        return assignment_scope(self, actor, action)

    def in_force(self) -> AssignmentQuerySet:
        return self.filter(ended_at__isnull=True)


class AuditAssignment(BaseModel):
    """The regulator's assignment of an auditor organisation to an audit. Only
    the regulator ends one; the lab cannot."""

    audit = models.ForeignKey(Audit, on_delete=models.PROTECT, related_name="assignments")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="assignments")
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    end_reason = models.TextField(blank=True)

    objects = AssignmentQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["audit", "organisation"],
                condition=models.Q(ended_at__isnull=True),
                name="assignment_unique_in_force",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation.name} on {self.audit_id}"


class FeeDirection(models.TextChoices):
    LAB_TO_REGULATOR = "lab_to_regulator", "Lab pays the regulator"
    REGULATOR_TO_AUDITOR = "regulator_to_auditor", "Regulator pays the auditor"


class FeeQuerySet(models.QuerySet["Fee"]):
    def visible_to(self, actor: Any, action: str = "view") -> FeeQuerySet:
        from auditing.permissions import fee_scope

        return fee_scope(self, actor, action)


class Fee(BaseModel):
    """Money for an audit, always routed through the regulator. The amount is
    fixed when the audit opens (lab's fee) or the auditor is assigned (payout),
    before any result exists, and never changes: nothing here refers to an
    outcome, so no fee can depend on one."""

    audit = models.ForeignKey(Audit, on_delete=models.PROTECT, related_name="fees")
    direction = models.CharField(max_length=24, choices=FeeDirection.choices)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="fees", help_text="The paying lab or the paid auditor"
    )
    assignment = models.OneToOneField(
        AuditAssignment, null=True, blank=True, on_delete=models.PROTECT, related_name="payout"
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="GBP")
    paid_at = models.DateTimeField(null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    objects = FeeQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="fee_amount_positive"),
            models.UniqueConstraint(
                fields=["audit"], condition=models.Q(direction="lab_to_regulator"), name="fee_one_lab_fee_per_audit"
            ),
            models.CheckConstraint(
                condition=(models.Q(direction="lab_to_regulator") & models.Q(assignment__isnull=True))
                | (models.Q(direction="regulator_to_auditor") & models.Q(assignment__isnull=False)),
                name="fee_payout_has_assignment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.amount} {self.currency}"


# Findings, signing keys and sign-offs (issue 5)


class FindingSeverity(models.TextChoices):
    INFO = "info", "Info"
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class FindingStatus(models.TextChoices):
    OPEN = "open", "Open"
    LAB_RESPONDED = "lab_responded", "Lab responded"
    MITIGATED = "mitigated", "Mitigated, awaiting re-test"
    CLOSED = "closed", "Closed"
    RISK_ACCEPTED = "risk_accepted", "Risk accepted by the regulator"


UNRESOLVED_FINDING_STATUSES = (FindingStatus.OPEN, FindingStatus.LAB_RESPONDED, FindingStatus.MITIGATED)


class FindingQuerySet(models.QuerySet["Finding"]):
    def visible_to(self, actor: Any, action: str = "view") -> FindingQuerySet:
        from auditing.permissions import finding_scope

        return finding_scope(self, actor, action)

    def unresolved(self) -> FindingQuerySet:
        return self.filter(status__in=UNRESOLVED_FINDING_STATUSES)


class Finding(BaseModel):
    """What an assigned auditor found on an audit. Never deleted; every change
    is a ``FindingUpdate``, an audit event and a log entry."""

    audit = models.ForeignKey(Audit, on_delete=models.PROTECT, related_name="findings")
    system_version = models.ForeignKey("labs.SystemVersion", on_delete=models.PROTECT, related_name="findings")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="findings_filed")
    filed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200)
    description = models.TextField()
    severity = models.CharField(max_length=8, choices=FindingSeverity.choices)
    risk_area = models.CharField(max_length=40)
    capability_kind = models.CharField(max_length=12, choices=CapabilityKind.choices)
    status = models.CharField(max_length=16, choices=FindingStatus.choices, default=FindingStatus.OPEN)
    # [{"kind": "eval_sample" | "gateway_log" | "file", "reference": str, "sha256": hex}]
    evidence = models.JSONField(default=list, blank=True)
    log_index = models.PositiveBigIntegerField(null=True, blank=True, help_text="Log entry of the filing")
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = FindingQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(severity__in=[s.value for s in FindingSeverity]), name="finding_severity_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in FindingStatus]), name="finding_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.severity}: {self.title} ({self.status})"


class FindingUpdateKind(models.TextChoices):
    FILE = "file", "Filed"
    RESPOND = "respond", "Lab responded"
    MITIGATE = "mitigate", "Lab reports mitigation"
    RETEST = "retest", "Re-tested on a system version"
    CLOSE = "close", "Closed"
    ACCEPT_RISK = "accept_risk", "Risk accepted by the regulator"


class RetestOutcome(models.TextChoices):
    RESOLVED = "resolved", "Resolved on this version"
    PERSISTS = "persists", "Still present on this version"


class FindingUpdate(AppendOnly, BaseModel):
    """One change to a finding, in order. Append-only."""

    fill_once = ("log_index",)

    finding = models.ForeignKey(Finding, on_delete=models.PROTECT, related_name="updates")
    kind = models.CharField(max_length=12, choices=FindingUpdateKind.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    note = models.TextField(blank=True)
    system_version = models.ForeignKey(
        "labs.SystemVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.CharField(max_length=10, choices=RetestOutcome.choices, blank=True)
    log_index = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.kind} on {self.finding_id}"


class SigningKeyStatus(models.TextChoices):
    PENDING = "pending", "Awaiting the regulator's approval"
    ACTIVE = "active", "Active"
    REVOKED = "revoked", "Revoked"


class SigningKeyQuerySet(models.QuerySet["SigningKey"]):
    def visible_to(self, actor: Any, action: str = "view") -> SigningKeyQuerySet:
        from auditing.permissions import signing_key_scope

        return signing_key_scope(self, actor, action)


class SigningKey(BaseModel):
    """An Ed25519 public key registered by an auditor or lab reviewer. The
    regulator's approval binds key, person and organisation; a revoked key
    stays on record and vouches only for what was signed before revocation."""

    keyid = models.CharField(max_length=64, unique=True, help_text="SHA-256 hex of the raw public key")
    public_key_pem = models.TextField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signing_keys")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="signing_keys")
    role = models.CharField(max_length=24, help_text="The role the key signs in (core.Role)")
    status = models.CharField(max_length=10, choices=SigningKeyStatus.choices, default=SigningKeyStatus.PENDING)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoke_reason = models.TextField(blank=True)

    objects = SigningKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(keyid__regex=r"^[0-9a-f]{64}$"), name="signing_key_id_hex"),
        ]

    def __str__(self) -> str:
        return f"{self.keyid[:12]}… of {self.user} ({self.status})"


class SignOffDecision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class SignOffStatus(models.TextChoices):
    ACTIVE = "active", "Accepted, not yet used by a gate decision"
    CONSUMED = "consumed", "Used by a gate decision"
    VOID = "void", "Void"


class SignOffQuerySet(models.QuerySet["SignOff"]):
    def visible_to(self, actor: Any, action: str = "view") -> SignOffQuerySet:
        from auditing.permissions import signoff_scope

        return signoff_scope(self, actor, action)


class SignOff(BaseModel):
    """A verified, signed approval or rejection of moving a system version to a
    stage: the in-toto Statement the server issued, in the DSSE envelope the
    signer returned."""

    system_version = models.ForeignKey("labs.SystemVersion", on_delete=models.PROTECT, related_name="signoffs")
    stage = models.PositiveSmallIntegerField()
    decision = models.CharField(max_length=8, choices=SignOffDecision.choices)
    audit = models.ForeignKey(Audit, null=True, blank=True, on_delete=models.PROTECT, related_name="signoffs")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signoffs")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="signoffs")
    key = models.ForeignKey(SigningKey, on_delete=models.PROTECT, related_name="signoffs")
    role = models.CharField(max_length=24)
    statement = models.JSONField()
    envelope = models.JSONField(help_text="The DSSE envelope exactly as submitted")
    payload_digest = models.CharField(max_length=64, unique=True, help_text="SHA-256 hex of the payload bytes")
    nonce = models.CharField(max_length=64, unique=True)
    issued_at = models.DateTimeField()
    valid_until = models.DateTimeField()
    status = models.CharField(max_length=10, choices=SignOffStatus.choices, default=SignOffStatus.ACTIVE)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)
    log_index = models.PositiveBigIntegerField(null=True, blank=True)

    objects = SignOffQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(stage__gte=1, stage__lte=3), name="signoff_stage_range"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} stage {self.stage} for {self.system_version_id} by {self.signer}"


# The regulator's register of relationships between organisations (issue 13)


class RelationshipKind(models.TextChoices):
    OWNERSHIP = "ownership", "Ownership (one holds a stake in the other)"
    FUNDING = "funding", "Funding (grants, investment, sponsorship)"
    CONSULTING = "consulting", "Consulting or contracted work"
    EMPLOYMENT_MOVE = "employment_move", "Staff moved between them"


class RelationshipQuerySet(models.QuerySet["OrganisationRelationship"]):
    def visible_to(self, actor: Any, action: str = "view") -> RelationshipQuerySet:
        from auditing.permissions import relationship_scope

        return relationship_scope(self, actor, action)

    def between(self, a: Any, b: Any) -> RelationshipQuerySet:
        """Relationships of the pair, whichever side each was recorded on."""
        return self.filter(
            models.Q(organisation_id=a, counterparty_id=b) | models.Q(organisation_id=b, counterparty_id=a)
        )

    def in_force_on(self, day: datetime.date) -> RelationshipQuerySet:
        return self.filter(starts_on__lte=day).filter(models.Q(ends_on__isnull=True) | models.Q(ends_on__gte=day))


class OrganisationRelationship(BaseModel):
    """A relationship between two organisations the regulator has recorded,
    whoever declared it (or nobody did): in force from ``starts_on`` through
    ``ends_on`` (open-ended while null). While one is in force between an
    auditor organisation and a lab, the auditor has no standing on that lab's
    audits; it cannot be assigned to them until a cooling-off period after it
    ends."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="relationships")
    counterparty = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="relationships_as_party")
    kind = models.CharField(max_length=16, choices=RelationshipKind.choices)
    description = models.TextField()
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    end_reason = models.TextField(blank=True)

    objects = RelationshipQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_on", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(organisation=models.F("counterparty")), name="relationship_distinct_parties"
            ),
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True) | models.Q(ends_on__gte=models.F("starts_on")),
                name="relationship_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation.name} ~ {self.counterparty.name}: {self.kind} from {self.starts_on}"


# Academic summaries (issue 13)


class SummaryStatus(models.TextChoices):
    PUBLISHED = "published", "Published"
    WITHDRAWN = "withdrawn", "Withdrawn by its authors"


class AcademicSummaryQuerySet(models.QuerySet["AcademicSummary"]):
    def visible_to(self, actor: Any, action: str = "view") -> AcademicSummaryQuerySet:
        from auditing.permissions import summary_scope

        return summary_scope(self, actor, action)


class AcademicSummary(BaseModel):
    """What an academic group assigned to an audit publishes about it once the
    embargo after the audit closed has passed. The lab has no say: only the
    authors' group may withdraw it."""

    audit = models.ForeignKey(Audit, on_delete=models.PROTECT, related_name="academic_summaries")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="academic_summaries")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200)
    body = models.TextField()
    body_sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=SummaryStatus.choices, default=SummaryStatus.PUBLISHED)
    published_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdraw_reason = models.TextField(blank=True)
    log_index = models.PositiveBigIntegerField(null=True, blank=True)

    objects = AcademicSummaryQuerySet.as_manager()

    class Meta:
        ordering = ["-published_at"]
        verbose_name_plural = "academic summaries"

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"
