"""Monitoring during deployment: incident reports with the standard's
reporting deadlines, and anonymous whistleblower reports sealed to the
regulator's key. Only monitoring.services writes these rows."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.models import BaseModel, Organisation
from standards.models import Stage


class ReporterKind(models.TextChoices):
    LAB = "lab", "The lab"
    AUDITOR = "auditor", "An assigned auditor"
    CUSTOMER = "customer", "An enrolled customer"
    REGULATOR = "regulator", "The regulator"
    WHISTLEBLOWER = "whistleblower", "A whistleblower (triaged by the regulator)"
    GATEWAY = "gateway", "The gateway (the endpoint did not attest the audited system)"


# Reporters that are no person of an organisation: the report names neither.
UNNAMED_REPORTERS = (ReporterKind.WHISTLEBLOWER, ReporterKind.GATEWAY)


# Reporters whose report of a suspending kind suspends the release at once;
# the others' reports wait for the regulator's confirmation.
TRUSTED_REPORTERS = frozenset({ReporterKind.LAB, ReporterKind.AUDITOR, ReporterKind.REGULATOR})


class IncidentStatus(models.TextChoices):
    OPEN = "open", "Open: reported, awaiting the regulator"
    CONFIRMED = "confirmed", "Confirmed by the regulator"
    RESOLVED = "resolved", "Resolved"
    DISMISSED = "dismissed", "Dismissed by the regulator"


UNRESOLVED_INCIDENT_STATUSES = (IncidentStatus.OPEN, IncidentStatus.CONFIRMED)


class IncidentQuerySet(models.QuerySet["Incident"]):
    def visible_to(self, actor: Any, action: str = "view") -> IncidentQuerySet:
        from monitoring.permissions import incident_scope

        return incident_scope(self, actor, action)

    def unresolved(self) -> IncidentQuerySet:
        return self.filter(resolved_at__isnull=True)

    def lab_report_overdue(self, now: Any = None) -> IncidentQuerySet:
        """Unresolved incidents whose lab report is past due and not filed."""
        return self.filter(
            status__in=UNRESOLVED_INCIDENT_STATUSES,
            lab_reported_at__isnull=True,
            lab_report_due_at__lt=now or timezone.now(),
        )


class Incident(BaseModel):
    """An incident reported on a system version. Deadlines come from the
    incident kind of the standard in force when it was reported.

    ``deadline_at`` is the reporter's awareness plus the kind's days, and
    ``late`` whether the report came after it (binding for the lab, telling
    for anyone else). When someone other than the lab reports, the lab owes
    its own account by ``lab_report_due_at``; past that, unfiled, it is
    overdue (flagged once by a periodic task, and computed live)."""

    system_version = models.ForeignKey("labs.SystemVersion", on_delete=models.PROTECT, related_name="incidents")
    kind = models.ForeignKey("standards.IncidentKind", on_delete=models.PROTECT, related_name="incidents")
    reporter_kind = models.CharField(max_length=16, choices=ReporterKind.choices)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reporter_organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="incidents_reported"
    )
    whistleblower_report = models.OneToOneField(
        "WhistleblowerReport", null=True, blank=True, on_delete=models.PROTECT, related_name="incident"
    )
    title = models.CharField(max_length=200)
    description = models.TextField()
    occurred_at = models.DateTimeField()
    aware_at = models.DateTimeField(help_text="When the reporter learnt of it")
    stage = models.PositiveSmallIntegerField(choices=Stage.choices, help_text="The release's stage when reported")
    serious = models.BooleanField(help_text="Copied from the kind")
    deadline_at = models.DateTimeField(help_text="aware_at plus the kind's reporting deadline")
    late = models.BooleanField(help_text="Reported after deadline_at")
    status = models.CharField(max_length=12, choices=IncidentStatus.choices, default=IncidentStatus.OPEN)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmation_note = models.TextField(blank=True)
    # Set when resolved or dismissed: deploy's stage-3 gate reads serious incidents with this null.
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution_note = models.TextField(blank=True)
    # The lab's own account (the lab's report itself when the lab reported).
    lab_report_due_at = models.DateTimeField()
    lab_reported_at = models.DateTimeField(null=True, blank=True)
    lab_report = models.TextField(blank=True)
    lab_reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    overdue_flagged = models.BooleanField(default=False)
    overdue_flagged_at = models.DateTimeField(null=True, blank=True)
    # What the incident did to the release (rule 14).
    suspended_release_at = models.DateTimeField(null=True, blank=True)
    reaudit = models.ForeignKey("deploy.Reaudit", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    log_index = models.PositiveBigIntegerField(null=True, blank=True, help_text="Log entry of the report")

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["lab_report_due_at"],
                condition=models.Q(lab_reported_at__isnull=True),
                name="incident_lab_report_owed",
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(reporter_kind__in=[k.value for k in ReporterKind]),
                name="incident_reporter_kind_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in IncidentStatus]), name="incident_status_valid"
            ),
            models.CheckConstraint(condition=models.Q(stage__gte=0, stage__lte=3), name="incident_stage_range"),
            models.CheckConstraint(
                condition=models.Q(aware_at__gte=models.F("occurred_at")), name="incident_aware_after_occurred"
            ),
            # Whistleblower-derived incidents and the gateway's name no
            # reporter; every other one does.
            models.CheckConstraint(
                condition=(
                    models.Q(
                        reporter_kind__in=["whistleblower", "gateway"],
                        reported_by__isnull=True,
                        reporter_organisation__isnull=True,
                    )
                    | (
                        ~models.Q(reporter_kind__in=["whistleblower", "gateway"])
                        & models.Q(reported_by__isnull=False, reporter_organisation__isnull=False)
                    )
                ),
                name="incident_reporter_iff_named",
            ),
            # Resolved and dismissed incidents carry resolved_at; open and confirmed ones do not.
            models.CheckConstraint(
                condition=(
                    models.Q(status__in=["resolved", "dismissed"], resolved_at__isnull=False)
                    | models.Q(status__in=["open", "confirmed"], resolved_at__isnull=True)
                ),
                name="incident_resolved_at_iff_closed",
            ),
            models.CheckConstraint(
                condition=models.Q(overdue_flagged=False, overdue_flagged_at__isnull=True)
                | models.Q(overdue_flagged=True, overdue_flagged_at__isnull=False),
                name="incident_overdue_flag_and_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"

    def is_overdue(self, now: Any = None) -> bool:
        """The lab's report is owed and past due (live, whatever the flag says)."""
        return (
            self.status in UNRESOLVED_INCIDENT_STATUSES
            and self.lab_reported_at is None
            and self.lab_report_due_at < (now or timezone.now())
        )

    @property
    def lab_report_late(self) -> bool | None:
        if self.lab_reported_at is None:
            return None
        return self.lab_reported_at > self.lab_report_due_at


class WhistleblowerKeyStatus(models.TextChoices):
    ACTIVE = "active", "Active: new reports are sealed to it"
    RETIRED = "retired", "Retired: replaced by a newer key"


class WhistleblowerKeyQuerySet(models.QuerySet["WhistleblowerKey"]):
    def visible_to(self, actor: Any, action: str = "view") -> WhistleblowerKeyQuerySet:
        from monitoring.permissions import whistleblower_key_scope

        return whistleblower_key_scope(self, actor, action)


class WhistleblowerKey(BaseModel):
    """The regulator's X25519 public key that whistleblower reports are sealed
    to (HPKE, monitoring/hpke.py). The private key never reaches the service.
    One is active at a time; registering a new one retires the old."""

    keyid = models.CharField(max_length=64, unique=True, help_text="SHA-256 hex of the raw public key")
    public_key = models.CharField(max_length=64, help_text="Base64 of the raw 32-byte X25519 public key")
    status = models.CharField(
        max_length=8, choices=WhistleblowerKeyStatus.choices, default=WhistleblowerKeyStatus.ACTIVE
    )
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    retired_at = models.DateTimeField(null=True, blank=True)
    log_index = models.PositiveBigIntegerField(null=True, blank=True)

    objects = WhistleblowerKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=models.Q(status="active"), name="whistleblower_key_single_active"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["active", "retired"]), name="whistleblower_key_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.keyid[:16]}… ({self.status})"


class WhistleblowerReportStatus(models.TextChoices):
    NEW = "new", "New: not yet triaged"
    TRIAGED = "triaged", "Triaged into an incident"
    SET_ASIDE = "set_aside", "Set aside by the regulator (no incident: junk, a duplicate, out of scope)"


class WhistleblowerReportQuerySet(models.QuerySet["WhistleblowerReport"]):
    def visible_to(self, actor: Any, action: str = "view") -> WhistleblowerReportQuerySet:
        from monitoring.permissions import whistleblower_report_scope

        return whistleblower_report_scope(self, actor, action)


class WhistleblowerReport(models.Model):
    """An anonymous report, sealed to the regulator's key. Deliberately not a
    BaseModel: there is no creation time, only the day it arrived, and no
    field that could name the sender (no user, address, user agent). The id
    is random (UUID4), so it does not encode a time either."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    received_on = models.DateField(help_text="The UTC day it arrived; no time of day is kept")
    key = models.ForeignKey(WhistleblowerKey, on_delete=models.PROTECT, related_name="reports")
    sealed = models.BinaryField(help_text="HPKE enc || ciphertext; only the regulator's private key opens it")
    sealed_sha256 = models.CharField(max_length=64)
    # Optional cleartext hint for the queue (bound into the sealed report's HPKE info).
    system_version = models.ForeignKey(
        "labs.SystemVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=12, choices=WhistleblowerReportStatus.choices, default=WhistleblowerReportStatus.NEW
    )
    # When and by whom the regulator decided (triaged into an incident, or set aside).
    triaged_at = models.DateTimeField(null=True, blank=True)
    triaged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    set_aside_reason = models.CharField(
        max_length=500,
        blank=True,
        help_text="Why the regulator set it aside (its own words; the regulator's eyes only)",
    )

    objects = WhistleblowerReportQuerySet.as_manager()

    class Meta:
        # Within a day the order is the random id's, which says nothing about arrival.
        ordering = ["-received_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["new", "triaged", "set_aside"]), name="whistleblower_report_status_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(status="set_aside") | ~models.Q(set_aside_reason=""),
                name="whistleblower_report_set_aside_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"whistleblower report of {self.received_on} ({self.status})"
