"""Reads for the gateway: the tokens and calls an actor may see, and the
check that a token's grant still holds, run on every gateway call."""

from __future__ import annotations

import dataclasses
import datetime
import math
from dataclasses import dataclass
from typing import Any, cast

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from auditing.models import AuditStatus
from auditing.standing import STANDING_FACTS, infosec_required, standing_decide, standing_expressions
from core.actors import Actor
from core.errors import InvalidInput, NotFound
from core.models import Membership
from core.permissions import VIEW, get_for
from gateway.models import GatewayCall, GatewayToken, GrantKind
from gateway.proxy.audited import AuditedConfiguration
from gateway.services import (
    CUSTOMER_FACTS,
    GRANT_REFUSAL_CODES,
    STAGES_ADMITTING,
    customer_admission_expressions,
    customer_admission_refusal,
    release_refusal,
)
from labs.models import SystemVersion
from labs.selectors import model_id_of as model_id_of  # its home is labs; customers reads it too


def gateway_token_list(*, actor: Actor, system_version_id: Any = None) -> QuerySet[GatewayToken]:
    qs = GatewayToken.objects.visible_to(actor, VIEW).select_related("holder", "system_version")
    if system_version_id is not None:
        qs = qs.filter(system_version_id=system_version_id)
    return qs


def gateway_token_get(*, actor: Actor, pk: Any) -> GatewayToken:
    return get_for(GatewayToken.objects.select_related("holder", "system_version"), actor, pk, VIEW)


def gateway_call_list(*, actor: Actor, token_id: Any = None) -> QuerySet[GatewayCall]:
    qs = GatewayCall.objects.visible_to(actor, VIEW)
    if token_id is not None:
        qs = qs.filter(token_id=token_id)
    return qs


def system_version_for_token(*, actor: Actor, pk: Any) -> SystemVersion:
    """The system version a token is requested for: one the actor may see, or,
    for a member of a vetted academic group, any system open to auditors
    (stage 1 or later), or, for a customer's member, one whose release the
    customer is actively enrolled in. Anything else is not found."""
    from core.models import OrganisationKind

    qs = SystemVersion.objects.visible_to(actor, VIEW)
    if actor.ids_of_kind(OrganisationKind.ACADEMIC):
        admitting = STAGES_ADMITTING[GrantKind.ACADEMIC]
        qs = SystemVersion.objects.filter(Q(pk__in=qs.values("pk")) | Q(release__stage__in=admitting))
    if actor.customer_ids:
        enrolled = SystemVersion.objects.filter(
            release__enrolments__customer_id__in=actor.customer_ids, release__enrolments__status="active"
        )
        qs = SystemVersion.objects.filter(Q(pk__in=qs.values("pk")) | Q(pk__in=enrolled.values("pk")))
    found = qs.filter(pk=pk).first()
    if found is None:
        raise NotFound("system version not found")
    return found


def holder_by_username(*, username: str) -> Any:
    """The active user a lab admits, or InvalidInput naming ``holder``."""
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise InvalidInput("No such user.", errors={"holder": ["No active user with this username."]})
    return user


@dataclass(frozen=True)
class Grant:
    """What a call needs once the grant is known to hold."""

    token_id: str
    kind: str
    holder_id: int
    organisation_id: str | None
    lab_id: str
    system_version_id: str
    model_id: str
    created: int  # the system version's creation time, for /models
    endpoint_base_url: str
    endpoint_model: str
    credential_ciphertext: str
    requests_per_minute: int
    tokens_per_day: int
    max_output_tokens: int  # the most output tokens one call may ask for (and what a call naming none gets)
    max_n: int  # the most choices one call may ask for
    stage: int  # the release's stage (deployed as audited from stage 2: gateway/proxy/audited.py)
    audited: AuditedConfiguration  # the system version's prompt, declared tools and digests
    # The earliest time (Unix seconds) the grant can stop holding by time alone:
    # the token's expiry, the certification's or the KYC record's due date. The
    # gateway's grant cache re-reads the grant from then on.
    valid_until: float = math.inf


class GrantRefused(Exception):
    """The token does not (or no longer) grant a call. ``grant`` is set when the
    token was identified, so the refusal can be logged against it."""

    def __init__(self, status: int, code: str, message: str, grant: Grant | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.grant = grant


# Placeholders the grant query is compiled with, swapped for the real values per call.
_NOW = datetime.datetime(1970, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC)
_DIGEST = "0" * 63 + "x"
_TODAY = datetime.date(1970, 1, 3)


def _day(now: datetime.datetime) -> Any:
    """The day the register's dated entries are read on: ``now``'s local date,
    or the placeholder while the query is compiled."""
    return _TODAY if now is _NOW else timezone.localdate(now)


def _grant_queryset(*, digest: str, now: datetime.datetime) -> QuerySet[GatewayToken]:
    org = OuterRef("organisation_id")
    return (
        GatewayToken.objects.filter(digest=digest)
        .annotate(
            member=Exists(Membership.objects.active().filter(user_id=OuterRef("holder_id"), organisation_id=org)),
            # Auditor and academic standing, read as auditing.standing reads
            # it (the certification's expiry, scope and level, declared
            # conflicts, the register, the assignment) and decided by the same
            # function as at token issue (``standing_decide``).
            **standing_expressions(
                organisation=org, lab=OuterRef("lab_id"), audit=OuterRef("audit_id"), at=now, on=_day(now)
            ),
            # Customer admission (rule 7), as token issue reads and decides it.
            **customer_admission_expressions(organisation=org, system_version=OuterRef("system_version_id"), at=now),
        )
        .values(*_GRANT_FIELDS, *_GRANT_FLAGS)
        .order_by()
    )


_GRANT_FIELDS = (
    "id",
    "kind",
    "holder_id",
    "holder__is_active",
    "organisation_id",
    "lab_id",
    "lab__slug",
    "system_version_id",
    "system_version__name",
    "system_version__sequence",
    "system_version__created_at",
    "system_version__endpoint_base_url",
    "system_version__endpoint_model",
    "system_version__endpoint_credential_ciphertext",
    # What the audited system fixes (deployed as audited, gateway/proxy/audited.py).
    "system_version__system_prompt",
    "system_version__declared_tools",
    "system_version__configuration_digest",
    "system_version__model_version__weights_digest",
    "system_version__release__stage",
    "system_version__release__status",
    "audit__status",
    "expires_at",
    "revoked_at",
    "requests_per_minute",
    "tokens_per_day",
    "max_output_tokens",
    "max_n",
)
_GRANT_FLAGS = ("member", *STANDING_FACTS, *CUSTOMER_FACTS)
_compiled: dict[str, tuple[str, tuple[Any, ...], tuple[str, ...]]] = {}


def _grant_sql() -> tuple[str, tuple[Any, ...], tuple[str, ...]]:
    """The grant query compiled once per database vendor. Building it through
    the ORM costs milliseconds, which is most of a gateway call; running the
    compiled SQL costs a fraction of one. Same query, same result."""
    found = _compiled.get(connection.vendor)
    if found is None:
        qs = _grant_queryset(digest=_DIGEST, now=_NOW)
        sql, params = qs.query.sql_with_params()
        names = (*_GRANT_FIELDS, *_GRANT_FLAGS)
        # The certification is read three times (expiry, scope, level) and the
        # KYC record once; the register's dates twice for each of two columns.
        if params.count(_NOW) != 7 or params.count(_TODAY) != 4 or params.count(_DIGEST) != 1:
            raise RuntimeError("the grant query did not compile as expected")
        found = _compiled[connection.vendor] = (sql, tuple(params), names)
    return found


def grant_check(*, digest: str, now: datetime.datetime | None = None) -> Grant:
    """The grant of the token with this SHA-256 if it holds right now; else
    GrantRefused. One query re-reads every fact that can change: expiry,
    revocation, the holder's membership, certification, conflicts, the audit
    and the assignment, the release's stage and status, and what the audited
    system fixes (its prompt, declared tools and digests)."""
    now = now or timezone.now()
    row: dict[str, Any] | None
    if connection.vendor == "postgresql":
        sql, _, names = _grant_sql()
        params = grant_params(digest=digest, now=now)
        # psycopg's own cursor, binding parameters server-side, with a prepared
        # statement: Django's cursor quotes every value client-side and has the
        # server plan this query on every call, which costs most of a millisecond.
        connection.ensure_connection()
        with connection.connection.cursor() as cursor:
            cursor.execute(sql, params, prepare=True)
            found = cursor.fetchone()
        row = dict(zip(names, found, strict=True)) if found is not None else None
    else:
        # Other backends return raw values (SQLite: datetimes as text); the ORM converts them.
        row = cast(dict[str, Any] | None, _grant_queryset(digest=digest, now=now).first())
    return grant_from_row(row, now=now)


def grant_params(*, digest: str, now: datetime.datetime) -> list[Any]:
    """The compiled grant query's parameters for one call (PostgreSQL)."""
    _, template, _ = _grant_sql()
    today = timezone.localdate(now)
    return [now if p == _NOW else digest if p == _DIGEST else today if p == _TODAY else p for p in template]


def grant_from_row(row: dict[str, Any] | None, *, now: datetime.datetime) -> Grant:
    """The grant the query's row describes if it holds at ``now``; else GrantRefused."""
    if row is None:
        raise GrantRefused(401, "invalid_api_key", "Invalid gateway token.")
    grant = Grant(
        token_id=str(row["id"]),
        kind=row["kind"],
        holder_id=row["holder_id"],
        organisation_id=str(row["organisation_id"]) if row["organisation_id"] else None,
        lab_id=str(row["lab_id"]),
        system_version_id=str(row["system_version_id"]),
        model_id=model_id_of(
            lab_slug=row["lab__slug"], name=row["system_version__name"], sequence=row["system_version__sequence"]
        ),
        created=int(row["system_version__created_at"].timestamp()),
        endpoint_base_url=row["system_version__endpoint_base_url"],
        endpoint_model=row["system_version__endpoint_model"],
        credential_ciphertext=row["system_version__endpoint_credential_ciphertext"],
        requests_per_minute=row["requests_per_minute"],
        tokens_per_day=row["tokens_per_day"],
        max_output_tokens=row["max_output_tokens"],
        max_n=row["max_n"],
        stage=row["system_version__release__stage"] or 0,
        audited=AuditedConfiguration(
            system_prompt=row["system_version__system_prompt"],
            declared_tools=frozenset(t for t in row["system_version__declared_tools"] or () if isinstance(t, str)),
            weights_digest=row["system_version__model_version__weights_digest"],
            configuration_digest=row["system_version__configuration_digest"],
        ),
    )

    def refuse(status: int, code: str, message: str) -> GrantRefused:
        return GrantRefused(status, code, message, grant)

    if row["revoked_at"] is not None:
        raise refuse(401, "token_revoked", "This gateway token has been revoked.")
    if row["expires_at"] <= now:
        raise refuse(401, "token_expired", "This gateway token has expired.")
    if not row["holder__is_active"]:
        raise refuse(403, "holder_inactive", "The token's holder is deactivated.")
    kind = row["kind"]
    if kind in (GrantKind.AUDITOR, GrantKind.ACADEMIC):
        if not row["member"]:
            raise refuse(403, "membership_ended", "The holder is no longer a member of the organisation.")
        if kind == GrantKind.AUDITOR and row["audit__status"] != AuditStatus.OPEN:
            raise refuse(403, "audit_not_open", "The audit is no longer open.")
        facts = {name: row[name] for name in STANDING_FACTS}
        if kind != GrantKind.AUDITOR:
            facts["standing_assigned"] = None  # an academic token names no audit
        # The same decision as at token issue (gateway_token_issue), at stage 1.
        standing = standing_decide(
            facts, organisation_id=row["organisation_id"], infosec_level_required=infosec_required(stage=1), stage=1
        )
        if not standing:
            raise refuse(403, GRANT_REFUSAL_CODES.get(standing.code, standing.code), standing.reason)
    if kind == GrantKind.CUSTOMER:
        if not row["member"]:
            raise refuse(403, "membership_ended", "The holder is no longer a member of the organisation.")
        refusal = customer_admission_refusal(row)
        if refusal is not None:
            code, message = refusal
            raise refuse(403, "enrolment_ended" if code == "not_enrolled" else code, message)
    refusal = release_refusal(
        kind=kind, stage=row["system_version__release__stage"], status=row["system_version__release__status"]
    )
    if refusal is not None:
        raise refuse(403, *refusal)
    until = [row["expires_at"]]
    if kind in (GrantKind.AUDITOR, GrantKind.ACADEMIC):
        until.append(row["standing_certified_until"])
    elif kind == GrantKind.CUSTOMER:
        until.append(row["customer_kyc_until"])
    # (A flag instead of a date bounds nothing: the cache's age limit still does.)
    bounds = [when.timestamp() for when in until if isinstance(when, datetime.datetime)]
    return dataclasses.replace(grant, valid_until=min(bounds, default=math.inf))
