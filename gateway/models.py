"""Gateway tokens (scoped, expiring, revocable grants to call one system
version through the gateway, stored only as a hash) and the access log of
every call made with them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from core.models import AppendOnly, BaseModel, Organisation

SHA256_HEX = r"^[0-9a-f]{64}$"


class GrantKind(models.TextChoices):
    AUDITOR = "auditor", "Assigned auditor (stage 1 and later)"
    ACADEMIC = "academic", "Vetted academic (stage 1 and later)"
    CUSTOMER = "customer", "KYC-verified customer (stage 2 and later)"
    LAB_ADMITTED = "lab_admitted", "Admitted by the lab (stage 3)"


class GatewayTokenQuerySet(models.QuerySet["GatewayToken"]):
    def visible_to(self, actor: Any, action: str = "view") -> GatewayTokenQuerySet:
        from gateway.permissions import gateway_token_scope

        return gateway_token_scope(self, actor, action)


class GatewayToken(BaseModel):
    """A grant to call one system version through the gateway. The secret
    (``sgw_…``) is shown once; only its SHA-256 is kept. Whether the grant
    still holds (certification, assignment, stage, halt, …) is checked again
    on every call, not only when the token is issued."""

    kind = models.CharField(max_length=16, choices=GrantKind.choices)
    holder = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="gateway_tokens")
    # The auditor organisation or academic group the holder acts for (none for lab-admitted users).
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="gateway_tokens"
    )
    system_version = models.ForeignKey("labs.SystemVersion", on_delete=models.PROTECT, related_name="gateway_tokens")
    lab = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    audit = models.ForeignKey(
        "auditing.Audit", null=True, blank=True, on_delete=models.PROTECT, related_name="gateway_tokens"
    )
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="First characters of the token, to tell tokens apart")
    digest = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requests_per_minute = models.PositiveIntegerField()
    tokens_per_day = models.PositiveIntegerField()
    # Bounds on one call: the gateway refuses more (400) and sets max_tokens when a call names none.
    max_output_tokens = models.PositiveIntegerField(
        default=8192, help_text="The most output tokens one call may ask for (max_tokens and its aliases)"
    )
    max_n = models.PositiveIntegerField(default=8, help_text="The most choices (n) one call may ask for")
    # When the holder took the token up. A lab admin admits someone else as an
    # offer: no secret exists until the holder accepts and is given it, so no
    # one can call the gateway in another person's name.
    accepted_at = models.DateTimeField(null=True, blank=True)

    objects = GatewayTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=[k.value for k in GrantKind]), name="gateway_token_kind_valid"
            ),
            models.CheckConstraint(condition=models.Q(digest__regex=SHA256_HEX), name="gateway_token_digest_hex"),
            models.CheckConstraint(condition=models.Q(requests_per_minute__gt=0), name="gateway_token_rpm_positive"),
            models.CheckConstraint(condition=models.Q(tokens_per_day__gt=0), name="gateway_token_tpd_positive"),
            models.CheckConstraint(
                condition=models.Q(max_output_tokens__gt=0), name="gateway_token_max_output_tokens_positive"
            ),
            models.CheckConstraint(condition=models.Q(max_n__gt=0), name="gateway_token_max_n_positive"),
            # An auditor's grant is tied to one audit; an auditor's or academic's to their organisation.
            models.CheckConstraint(
                condition=~models.Q(kind="auditor") | models.Q(audit__isnull=False, organisation__isnull=False),
                name="gateway_token_auditor_has_audit",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="academic") | models.Q(organisation__isnull=False),
                name="gateway_token_academic_has_organisation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.kind}, {self.name})"


class GatewayCallQuerySet(models.QuerySet["GatewayCall"]):
    def visible_to(self, actor: Any, action: str = "view") -> GatewayCallQuerySet:
        from gateway.permissions import gateway_call_scope

        return gateway_call_scope(self, actor, action)


class GatewayCall(AppendOnly, BaseModel):
    """One call through the gateway: who (the grant), when, which upstream
    model, the outcome, latency, token usage and the SHA-256 of the request
    and response bodies. Never the content. Append-only: the ORM refuses
    updates and deletes, and on PostgreSQL a trigger refuses them too."""

    # The Redis stream entry this row was drained from: makes the drain idempotent.
    stream_id = models.CharField(max_length=64, unique=True)
    # The call's id, made by the gateway: the same entry stored again (a spool
    # replayed after Redis lost its data, gateway/proxy/spool.py) is skipped.
    # None for entries written before call ids.
    call_id = models.UUIDField(null=True, blank=True)
    token = models.ForeignKey(GatewayToken, on_delete=models.PROTECT, related_name="calls")
    kind = models.CharField(max_length=16, choices=GrantKind.choices)
    holder = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    organisation = models.ForeignKey(Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    lab = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    system_version = models.ForeignKey("labs.SystemVersion", on_delete=models.PROTECT, related_name="+")
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=200)
    upstream_model = models.CharField(max_length=200, blank=True)
    stream = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField()
    error_code = models.CharField(max_length=64, blank=True)
    latency_ms = models.FloatField()
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    usage_clamped = models.BooleanField(
        default=False,
        help_text="The upstream reported usage that was not a plausible count (negative, not an integer, "
        "unreadable, or above the ceiling); the counts above were clamped (gateway/proxy/usage.py)",
    )
    request_sha256 = models.CharField(max_length=64)
    response_sha256 = models.CharField(max_length=64)
    release_stage = models.PositiveSmallIntegerField(
        default=0, help_text="The release's stage the grant admitted the call at"
    )
    attestation = models.CharField(
        max_length=16,
        blank=True,
        help_text="What the lab's endpoint claimed served the call, against the audited digests "
        "(gateway/proxy/audited.py): match, mismatch, malformed or absent; empty when no upstream answered",
    )

    objects = GatewayCallQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["token", "created_at"]),
            # Monitoring's sweep for calls whose endpoint did not attest the
            # audited system once deployed (monitoring.services).
            models.Index(
                fields=["system_version", "created_at"],
                condition=models.Q(release_stage__gte=2) & ~models.Q(attestation__in=["", "match"]),
                name="gateway_call_not_attested",
            ),
        ]
        constraints = [
            # With the token: an entry that names another token under a call id
            # already stored is no replay, and goes on to the checks (and the
            # quarantine) rather than being skipped.
            models.UniqueConstraint(fields=["call_id", "token"], name="gateway_call_once_per_call_id"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status_code} ({self.token_id})"


class GatewayCallQuarantine(AppendOnly, BaseModel):
    """An access-log entry the drain could not store as a ``GatewayCall`` (a
    number out of range, a missing field, an unknown token, text PostgreSQL
    refuses): kept whole with the reason, so one such entry neither holds back
    the drain for every other call nor is lost. Operators see these in the
    admin and in the ``stagegate.gateway`` log; append-only like the log."""

    # The Redis stream entry (or ``direct-…`` when written without Redis).
    stream_id = models.CharField(max_length=64, unique=True)
    reason = models.CharField(max_length=500)
    entry = models.TextField(help_text="The stream entry's fields as JSON, as the drain read them")

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "gateway call quarantine"

    def __str__(self) -> str:
        return f"{self.stream_id}: {self.reason[:80]}"
