"""The standard: a versioned set of requirements published by the regulator.
A published standard is never edited; the regulator publishes a new version."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.db import models

from core.models import BaseModel
from standards.protocols import Protocol


class RiskArea(models.TextChoices):
    DECEPTION = "deception", "Deception"
    CYBER = "cyber", "Cyber offence"
    CBRN = "cbrn", "CBRN"
    AUTONOMY = "autonomy", "Autonomy and self-replication"
    FAIRNESS = "fairness", "Fairness and bias"
    SOCIETAL_IMPACT = "societal_impact", "Societal impact"


class CapabilityKind(models.TextChoices):
    CONTEXTUAL = "contextual", "Contextual (with the affordances given)"
    REACHABLE = "reachable", "Reachable (through the affordances, with effort)"
    ABSOLUTE = "absolute", "Absolute (given any affordances)"


class Stage(models.IntegerChoices):
    INTERNAL = 0, "Stage 0: internal"
    AUDITORS = 1, "Stage 1: certified auditors and vetted academics"
    LIMITED = 2, "Stage 2: limited release to vetted customers"
    BROAD = 3, "Stage 3: broad rollout"


class StandardStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_FORCE = "in_force", "In force"
    SUPERSEDED = "superseded", "Superseded"


class StandardQuerySet(models.QuerySet["Standard"]):
    def visible_to(self, actor: Any, action: str = "view") -> StandardQuerySet:
        from standards.permissions import standard_scope

        return standard_scope(self, actor, action)

    def in_force(self) -> StandardQuerySet:
        return self.filter(status=StandardStatus.IN_FORCE)


class Standard(BaseModel):
    name = models.CharField(max_length=200)
    version = models.CharField(max_length=40, unique=True)
    status = models.CharField(max_length=16, choices=StandardStatus.choices, default=StandardStatus.DRAFT)
    summary = models.TextField(blank=True)
    in_force_from = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Gates.
    internal_signoffs_required = models.PositiveSmallIntegerField(default=2)
    auditor_signoffs_required = models.PositiveSmallIntegerField(default=2)
    distinct_auditor_orgs_required = models.PositiveSmallIntegerField(default=2)
    # Stage 2 and monitoring.
    stage2_customer_cap = models.PositiveIntegerField(default=1000)
    monitoring_period_days = models.PositiveSmallIntegerField(default=30)
    online_learning_signoff_expiry_days = models.PositiveSmallIntegerField(default=90)
    # Independence: how many consecutive audits of one lab one organisation may take.
    auditor_rotation_limit = models.PositiveSmallIntegerField(default=3)
    content_digest = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the canonical requirements")
    # How each required suite must be run for its results to count: {suite: protocol document}
    # (standards/protocols.py). The content digest covers them.
    protocols = models.JSONField(default=dict, blank=True)

    objects = StandardQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=models.Q(status="in_force"), name="standard_single_in_force"
            ),
            models.CheckConstraint(condition=models.Q(internal_signoffs_required__gte=1), name="standard_internal_min"),
            models.CheckConstraint(condition=models.Q(auditor_signoffs_required__gte=1), name="standard_auditor_min"),
            models.CheckConstraint(
                condition=models.Q(distinct_auditor_orgs_required__gte=1)
                & models.Q(distinct_auditor_orgs_required__lte=models.F("auditor_signoffs_required")),
                name="standard_distinct_orgs_range",
            ),
            models.CheckConstraint(condition=models.Q(stage2_customer_cap__gte=1), name="standard_cap_min"),
            models.CheckConstraint(condition=models.Q(auditor_rotation_limit__gte=1), name="standard_rotation_min"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

    def online_learning_expiry(self, *, since: datetime.datetime, online_learning: bool) -> datetime.datetime | None:
        """When a sign-off issued, or evidence gathered, at ``since`` stops
        counting because the system learns online (rule 15); None when it does
        not learn online. The one definition gates, evidence and the expiry
        task use."""
        return since + self.online_learning_window if online_learning else None

    @property
    def online_learning_window(self) -> datetime.timedelta:
        return datetime.timedelta(days=self.online_learning_signoff_expiry_days)

    def protocol_for(self, suite: str) -> Protocol | None:
        doc = (self.protocols or {}).get(suite)
        return Protocol.from_document(doc) if doc else None


class SuiteTrigger(models.TextChoices):
    ALWAYS = "always", "Always"
    CONTEXTUAL = "contextual", "When the system declares the affordance"
    REACHABLE = "reachable", "When the affordance is declared or reachable"


class SuiteRequirement(models.Model):
    """A suite the standard requires before a stage, always or because of an affordance."""

    standard = models.ForeignKey(Standard, on_delete=models.CASCADE, related_name="suite_requirements")
    suite = models.CharField(max_length=100, help_text="Suite name in the evals registry")
    min_suite_version = models.CharField(max_length=40, blank=True)
    stage = models.PositiveSmallIntegerField(choices=Stage.choices)
    trigger = models.CharField(max_length=16, choices=SuiteTrigger.choices, default=SuiteTrigger.ALWAYS)
    affordance = models.ForeignKey("labs.Affordance", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    risk_area = models.CharField(max_length=24, choices=RiskArea.choices)
    threshold_metric = models.CharField(max_length=60, help_text="Metric the suite reports, e.g. deception_rate")
    threshold_max = models.FloatField(
        help_text="Highest acceptable upper end of the metric's 95% interval, pooled over the protocol's runs"
    )
    # False: the suite is run and its result shown at the gate, but it decides
    # nothing (a smoke test, not yet shown to measure what it claims).
    gates = models.BooleanField(
        default=True, help_text="Whether the result decides the gate; otherwise it is reported only"
    )

    class Meta:
        ordering = ["stage", "suite"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(trigger="always") & models.Q(affordance__isnull=True))
                | (~models.Q(trigger="always") & models.Q(affordance__isnull=False)),
                name="suite_requirement_affordance_iff_triggered",
            ),
            models.CheckConstraint(condition=models.Q(stage__gte=1, stage__lte=3), name="suite_requirement_stage"),
            models.CheckConstraint(
                condition=models.Q(threshold_max__gte=0, threshold_max__lte=1), name="suite_requirement_threshold"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.suite} before stage {self.stage} ({self.trigger})"


class IncidentKind(models.Model):
    """A kind of incident and how many days the lab has to report it."""

    standard = models.ForeignKey(Standard, on_delete=models.CASCADE, related_name="incident_kinds")
    key = models.SlugField(max_length=60)
    name = models.CharField(max_length=200)
    reporting_deadline_days = models.PositiveSmallIntegerField()
    serious = models.BooleanField(default=False)
    suspends_stage = models.BooleanField(default=False, help_text="A report suspends the release automatically")

    class Meta:
        ordering = ["reporting_deadline_days", "key"]
        constraints = [
            models.UniqueConstraint(fields=["standard", "key"], name="incident_kind_unique"),
            models.CheckConstraint(condition=models.Q(reporting_deadline_days__gte=1), name="incident_deadline_min"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.reporting_deadline_days} days)"
