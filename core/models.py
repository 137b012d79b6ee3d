"""Shared primitives: the base model, organisations and people, API tokens and
the append-only audit trail. Every other app builds on these."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


class BaseModel(models.Model):
    """UUID primary keys (nothing to enumerate) and creation/update times."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def record_type(model: Any) -> str:
    """The type audit events and log entries give a model (or instance):
    its label, or the ``RECORD_TYPE`` it declares to keep the name it had
    before it moved to another app (the records are append-only and public,
    so a moved model keeps its history under one name)."""
    return getattr(model, "RECORD_TYPE", None) or model._meta.label_lower


class OrganisationKind(models.TextChoices):
    LAB = "lab", "AI lab"
    AUDITOR = "auditor", "Auditor organisation"
    ACADEMIC = "academic", "Academic auditor group"
    CUSTOMER = "customer", "Vetted customer"
    REGULATOR = "regulator", "Regulator"


class Role(models.TextChoices):
    LAB_ADMIN = "lab_admin", "Lab admin"
    LAB_ENGINEER = "lab_engineer", "Lab engineer"
    LAB_REVIEWER = "lab_reviewer", "Lab reviewer"
    AUDITOR = "auditor", "Auditor"
    ACADEMIC_AUDITOR = "academic_auditor", "Academic auditor"
    CUSTOMER_MEMBER = "customer_member", "Customer member"
    REGULATOR_STAFF = "regulator_staff", "Regulator staff"


# Which roles a member of each kind of organisation may hold.
ROLES_BY_KIND: dict[str, frozenset[str]] = {
    OrganisationKind.LAB: frozenset({Role.LAB_ADMIN, Role.LAB_ENGINEER, Role.LAB_REVIEWER}),
    OrganisationKind.AUDITOR: frozenset({Role.AUDITOR}),
    OrganisationKind.ACADEMIC: frozenset({Role.ACADEMIC_AUDITOR}),
    OrganisationKind.CUSTOMER: frozenset({Role.CUSTOMER_MEMBER}),
    OrganisationKind.REGULATOR: frozenset({Role.REGULATOR_STAFF}),
}


class OrganisationQuerySet(models.QuerySet["Organisation"]):
    def visible_to(self, actor: Any, action: str = "view") -> OrganisationQuerySet:
        from core.permissions import organisation_scope

        return organisation_scope(self, actor, action)


class Organisation(BaseModel):
    """A lab, an auditor organisation, an academic group, a customer or the regulator."""

    kind = models.CharField(max_length=16, choices=OrganisationKind.choices)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    website = models.URLField(blank=True)

    objects = OrganisationQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=[k.value for k in OrganisationKind]), name="organisation_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class MembershipQuerySet(models.QuerySet["Membership"]):
    def active(self) -> MembershipQuerySet:
        """Memberships that confer their role: accepted and not ended."""
        return self.filter(ended_at__isnull=True, accepted_at__isnull=False)

    def visible_to(self, actor: Any, action: str = "view") -> MembershipQuerySet:
        from core.permissions import membership_scope

        return membership_scope(self, actor, action)


class Membership(BaseModel):
    """A person's role in an organisation. Ended, never deleted. One a lab
    admin adds waits for the person to accept it (``accepted_at`` empty) and
    confers nothing until then: a lab cannot attach its auditor or the
    regulator to itself."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=24, choices=Role.choices)
    ended_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True, default=timezone.now)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organisation", "role"],
                condition=models.Q(ended_at__isnull=True),
                name="membership_unique_active",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} as {self.role} of {self.organisation.name}"


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def visible_to(self, actor: Any, action: str = "view") -> ApiTokenQuerySet:
        # A token is its owner's alone: not even the regulator lists other people's.
        if not actor.is_authenticated:
            return self.none()
        return self.filter(user=actor.user)


class ApiToken(BaseModel):
    """A personal API token. Only its SHA-256 is stored; the secret is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="First characters of the token, to tell tokens apart")
    digest = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    def is_usable(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def visible_to(self, actor: Any, action: str = "view") -> AuditEventQuerySet:
        from core.permissions import audit_event_scope

        return audit_event_scope(self, actor, action)


class AppendOnlyError(Exception):
    pass


class AppendOnly(models.Model):
    """Rows written once, never changed or deleted through the ORM (on
    PostgreSQL a trigger refuses it too: ``core.migration_ops.refuse_changes``).
    ``fill_once`` names fields a service may set by a second save naming only
    them (a transparency-log index known only after the insert)."""

    fill_once: tuple[str, ...] = ()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            fields = kwargs.get("update_fields")
            if not fields or not set(fields) <= set(self.fill_once):
                raise AppendOnlyError(f"{self._meta.verbose_name_plural} are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError(f"{self._meta.verbose_name_plural} are append-only")


class AuditEvent(AppendOnly):
    """An append-only record of one write: who did what to which object, with the
    state before and after. Written by services in the same transaction as the
    write; never updated or deleted (PostgreSQL refuses both with a trigger)."""

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150, help_text="Username, or the system process that acted")
    action = models.CharField(max_length=80, db_index=True)
    target_type = models.CharField(max_length=80)
    target_id = models.CharField(max_length=64, db_index=True)
    # Organisations the event concerns, for scoping who may read it.
    organisations = models.ManyToManyField(Organisation, related_name="+", blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    # A hash chain (core/audit.py): each event's digest covers its content and
    # the previous event's digest, so a changed, removed or inserted event
    # breaks every digest after it (`manage.py verify_audit_trail`).
    sequence = models.PositiveBigIntegerField(unique=True, null=True, editable=False)
    prev_hash = models.CharField(max_length=64, blank=True, editable=False)
    hash = models.CharField(max_length=64, blank=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.target_type}:{self.target_id} by {self.actor_label}"
