"""The staged release of a system version: the moves between stages
(``STAGE_TRANSITIONS``), gate requests, sanctions, re-audits and the
regulator's two-person decisions. The release state itself (``Release``:
stage and status) lives in the low app ``releases``, which the gateway,
customers and the public record import; it is re-exported here for code
above deploy while imports move (code below deploy imports ``releases``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from core.models import BaseModel, Organisation

# Re-exported while imports move; releases.models is their home.
from releases.models import Release as Release
from releases.models import ReleaseStatus as ReleaseStatus
from standards.models import Stage

# Stages move forward one at a time, only through a gate request the regulator
# approves (gate_request_decide); back to any lower stage only with a halt by
# the regulator (release_halt with to_stage). This table is the one place that
# says which moves exist.
STAGE_TRANSITIONS: dict[int, frozenset[int]] = {
    Stage.INTERNAL: frozenset({Stage.AUDITORS}),
    Stage.AUDITORS: frozenset({Stage.INTERNAL, Stage.LIMITED}),
    Stage.LIMITED: frozenset({Stage.INTERNAL, Stage.AUDITORS, Stage.BROAD}),
    Stage.BROAD: frozenset({Stage.INTERNAL, Stage.AUDITORS, Stage.LIMITED}),
}


class GateRequestStatus(models.TextChoices):
    PENDING = "pending", "Awaiting the regulator's review"
    APPROVED = "approved", "Approved by the regulator: the stage changed"
    REJECTED = "rejected", "Rejected by the regulator"
    WITHDRAWN = "withdrawn", "Withdrawn by the lab"


class GateRequestQuerySet(models.QuerySet["GateRequest"]):
    def visible_to(self, actor: Any, action: str = "view") -> GateRequestQuerySet:
        from deploy.permissions import gate_request_scope

        return gate_request_scope(self, actor, action)


class GateRequest(BaseModel):
    """A lab's request to move a release forward one stage: the checklist the
    standard gave when it was made (all met, or it is refused and not stored),
    then the regulator's decision. The stage changes only when the regulator
    approves, after the checklist is evaluated again."""

    release = models.ForeignKey("releases.Release", on_delete=models.PROTECT, related_name="gate_requests")
    system_version = models.ForeignKey("labs.SystemVersion", on_delete=models.PROTECT, related_name="gate_requests")
    from_stage = models.PositiveSmallIntegerField(choices=Stage.choices)
    to_stage = models.PositiveSmallIntegerField(choices=Stage.choices)
    status = models.CharField(max_length=12, choices=GateRequestStatus.choices, default=GateRequestStatus.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    note = models.TextField(blank=True)
    checklist = models.JSONField(help_text="The gate checklist when the request was made")
    checklist_digest = models.CharField(max_length=64, help_text="SHA-256 of the checklist's canonical JSON")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    decision_checklist = models.JSONField(null=True, blank=True, help_text="The checklist when the decision was made")
    signoffs = models.ManyToManyField("auditing.SignOff", blank=True, related_name="gate_requests")
    request_log_index = models.PositiveBigIntegerField(null=True, blank=True)
    decision_log_index = models.PositiveBigIntegerField(null=True, blank=True)

    objects = GateRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["release"], condition=models.Q(status="pending"), name="gate_request_one_pending_per_release"
            ),
            models.CheckConstraint(condition=models.Q(to_stage=models.F("from_stage") + 1), name="gate_request_one_up"),
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "approved", "rejected", "withdrawn"]),
                name="gate_request_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.system_version_id}: {self.from_stage}→{self.to_stage} ({self.status})"


class SanctionLevel(models.TextChoices):
    WARNING = "warning", "Warning"
    EXTRA_AUDIT = "extra_audit", "Extra audit required"
    SUSPENSION = "suspension", "Suspension of stage advancement"


# Escalation order: a lab's n-th sanction in force within the window gets the
# n-th level (the last one repeats).
SANCTION_LADDER = (SanctionLevel.WARNING, SanctionLevel.EXTRA_AUDIT, SanctionLevel.SUSPENSION)


class SanctionQuerySet(models.QuerySet["Sanction"]):
    def visible_to(self, actor: Any, action: str = "view") -> SanctionQuerySet:
        from deploy.permissions import sanction_scope

        return sanction_scope(self, actor, action)

    def in_force(self) -> SanctionQuerySet:
        return self.filter(lifted_at__isnull=True)


class Sanction(BaseModel):
    """The regulator's sanction of a lab for non-compliance. The level is not
    chosen: it escalates with the lab's earlier sanctions (SANCTION_LADDER)."""

    lab = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="sanctions")
    level = models.CharField(max_length=12, choices=SanctionLevel.choices)
    reason = models.TextField()
    system_version = models.ForeignKey(
        "labs.SystemVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="sanctions"
    )
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lift_reason = models.TextField(blank=True)
    log_index = models.PositiveBigIntegerField(null=True, blank=True)

    objects = SanctionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(level__in=["warning", "extra_audit", "suspension"]), name="sanction_level_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.level} for {self.lab_id}"


class ReauditSource(models.TextChoices):
    REGULATOR = "regulator", "Required by the regulator"
    INCIDENT = "incident", "Opened by a serious incident"
    SANCTION = "sanction", "An extra-audit sanction"
    ONLINE_LEARNING = "online_learning", "Sign-offs of an online-learning system expired"


class ReauditQuerySet(models.QuerySet["Reaudit"]):
    def visible_to(self, actor: Any, action: str = "view") -> ReauditQuerySet:
        from deploy.permissions import reaudit_scope

        return reaudit_scope(self, actor, action)

    def open(self) -> ReauditQuerySet:
        return self.filter(closed_at__isnull=True)


class Reaudit(BaseModel):
    """A re-audit a system version owes before it may advance again. It is met
    by an audit of the version opened after it and closed (not cancelled); the
    gate decision that relies on that audit closes it."""

    system_version = models.ForeignKey("labs.SystemVersion", on_delete=models.PROTECT, related_name="reaudits")
    origin = models.CharField(max_length=16, choices=ReauditSource.choices)
    reason = models.TextField()
    # What opened it, by id: an incident (monitoring, above deploy) or a sanction.
    source_ref = models.CharField(max_length=64, blank=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by_audit = models.ForeignKey(
        "auditing.Audit", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    log_index = models.PositiveBigIntegerField(null=True, blank=True)

    objects = ReauditQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"re-audit of {self.system_version_id} ({self.origin})"


class DecisionKind(models.TextChoices):
    SANCTION = "sanction", "Sanction a lab"
    RISK_ACCEPTANCE = "risk_acceptance", "Accept the risk of an unresolved finding"
    HALT = "halt", "A long halt: halt the release and send it back to a lower stage"


class DecisionStatus(models.TextChoices):
    PENDING = "pending", "Proposed, waiting for a second regulator"
    APPROVED = "approved", "Approved by a second regulator: in effect"
    REJECTED = "rejected", "Rejected (or withdrawn): never took effect"


class RegulatorDecisionQuerySet(models.QuerySet["RegulatorDecision"]):
    def visible_to(self, actor: Any, action: str = "view") -> RegulatorDecisionQuerySet:
        # A proposal is the regulator's internal business until it takes
        # effect; what took effect is public through its own records.
        return self if getattr(actor, "is_regulator", False) else self.none()

    def pending(self) -> RegulatorDecisionQuerySet:
        return self.filter(status=DecisionStatus.PENDING)


class RegulatorDecision(BaseModel):
    """A decision the standard (or STAGEGATE_TWO_PERSON_DECISIONS) reserves
    for two people at the regulator: one proposes, a different one approves,
    and only then does it take effect (deploy.services
    ``regulator_decision_approve``). The database refuses an approver who is
    the proposer."""

    kind = models.CharField(max_length=16, choices=DecisionKind.choices)
    status = models.CharField(max_length=10, choices=DecisionStatus.choices, default=DecisionStatus.PENDING)
    reason = models.TextField()
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    lab = models.ForeignKey(Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    system_version = models.ForeignKey(
        "labs.SystemVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    finding = models.ForeignKey("auditing.Finding", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_stage = models.PositiveSmallIntegerField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    # What it made when it took effect: the sanction, the finding or the release (its system version).
    result_id = models.CharField(max_length=64, blank=True)
    log_index = models.PositiveBigIntegerField(null=True, blank=True)

    objects = RegulatorDecisionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["sanction", "risk_acceptance", "halt"]), name="regulator_decision_kind"
            ),
            models.CheckConstraint(
                condition=models.Q(status="pending", decided_by__isnull=True, decided_at__isnull=True)
                | (
                    models.Q(status__in=["approved", "rejected"])
                    & models.Q(decided_by__isnull=False, decided_at__isnull=False)
                ),
                name="regulator_decision_decided_when_not_pending",
            ),
            # Two people: whoever approves is not whoever proposed (a proposer
            # may withdraw their own, which is a rejection).
            models.CheckConstraint(
                condition=~models.Q(status="approved", decided_by=models.F("proposed_by")),
                name="regulator_decision_two_people",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.status})"
