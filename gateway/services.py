"""Issuing and revoking gateway tokens."""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import InterfaceError, InternalError, OperationalError, ProgrammingError, transaction
from django.db.models import Exists, Subquery
from django.utils import timezone

from auditing.models import Audit, AuditStatus
from auditing.selectors import organisation_is_assigned
from auditing.standing import require_standing
from core.actors import Actor
from core.audit import audit_event_record, snapshot
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import Organisation, OrganisationKind, Role
from core.permissions import require
from customers.models import Enrolment, KycRecord
from gateway.models import GatewayCall, GatewayCallQuarantine, GatewayToken, GrantKind
from gateway.proxy.entry import AccessEntry
from labs.models import SystemVersion
from releases.selectors import release_state

logger = logging.getLogger("stagegate.gateway")

TOKEN_PREFIX = "sgw_"

# The lowest stage at which each kind of grant may call a system, and the
# stages that admit it (rule 7). Checked at issue and on every call.
STAGES_ADMITTING: dict[str, frozenset[int]] = {
    GrantKind.AUDITOR: frozenset({1, 2, 3}),
    GrantKind.ACADEMIC: frozenset({1, 2, 3}),
    GrantKind.CUSTOMER: frozenset({2, 3}),
    GrantKind.LAB_ADMITTED: frozenset({3}),
}


# The gateway's codes for standing refusals (auditing.standing's codes
# otherwise), at token issue and on every call alike.
GRANT_REFUSAL_CODES = {"not_certified": "certification_invalid", "not_assigned": "assignment_ended"}


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_gateway_token_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def release_refusal(*, kind: str, stage: int | None, status: str | None) -> tuple[str, str] | None:
    """Whether a release at ``stage`` with ``status`` admits callers of
    ``kind`` (rule 7): None if it does, else the refusal's code and sentence.
    The one definition, asked at token issue, at accepting a lab's offer and
    on every call (``gateway.selectors.grant_from_row``)."""
    stage, status = stage or 0, status or "active"
    if status != "active":
        return f"release_{status}", f"The release is {status}."
    if stage not in STAGES_ADMITTING[kind]:
        return "stage_not_open", f"The system version is at stage {stage}, which does not admit {kind} tokens."
    return None


def _release_admits(system_version: SystemVersion, kind: str) -> None:
    """Refuse (409) unless the release is active and at a stage that admits ``kind`` tokens."""
    stage, status = release_state(system_version_id=system_version.pk)
    refusal = release_refusal(kind=kind, stage=stage, status=status)
    if refusal is not None:
        raise Conflict(refusal[1], code=refusal[0])


# Customer admission (rule 7), defined once: the customer organisation has an
# active enrolment in the system's release (within the standard's cap, which
# enrolment enforces) and a KYC record that counts as verified
# (``customers.models.KycRecordQuerySet.verified_at``). Customers sits below
# the gateway in the layers and is imported; token issue and the per-call
# grant read the same expressions and decide with the same function.
CUSTOMER_FACTS = ("customer_enrolled", "customer_kyc_until")


def customer_admission_expressions(*, organisation: Any, system_version: Any, at: datetime.datetime) -> dict[str, Any]:
    """Annotations for ``customer_admission_refusal``; the arguments are values or ``OuterRef``s."""
    kyc = KycRecord.objects.verified_at(at).filter(organisation_id=organisation)
    return {
        "customer_enrolled": Exists(
            Enrolment.objects.active().filter(customer_id=organisation, release__system_version_id=system_version)
        ),
        # When the verified record falls due for re-review (None: not verified).
        "customer_kyc_until": Subquery(kyc.order_by("-next_review_due").values("next_review_due")[:1]),
    }


def customer_admission_refusal(facts: dict[str, Any]) -> tuple[str, str] | None:
    """None if the customer is admitted, else the refusal's code and sentence."""
    if not facts.get("customer_enrolled"):
        return "not_enrolled", "Your organisation is not enrolled in this release."
    if facts.get("customer_kyc_until") is None:
        return "kyc_not_verified", "Your organisation's KYC record is not verified."
    return None


def _customer_admitted(organisation: Any, system_version: SystemVersion, now: datetime.datetime) -> None:
    facts = (
        Organisation.objects.filter(pk=organisation)
        .annotate(**customer_admission_expressions(organisation=organisation, system_version=system_version.pk, at=now))
        .values(*CUSTOMER_FACTS)
        .first()
    )
    refusal = customer_admission_refusal(facts or {})
    if refusal is not None:
        raise Conflict(refusal[1], code=refusal[0])


def _bounded(value: int | None, *, default: int, maximum: int, field: str) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 1 or value > maximum:
        raise InvalidInput(f"Invalid {field}.", errors={field: [f"Must be a whole number from 1 to {maximum}."]})
    return value


def _membership_org(actor: Actor, kind: str, role: str) -> Any:
    """The one organisation of ``kind`` where the actor holds ``role``."""
    orgs = [org for org in actor.ids_of_kind(kind) if actor.has_role(org, role)]
    if len(orgs) != 1:
        return None
    return orgs[0]


@transaction.atomic
def gateway_token_issue(
    *,
    actor: Actor,
    kind: str,
    system_version: SystemVersion,
    name: str,
    expires_at: datetime.datetime,
    audit: Audit | None = None,
    holder: Any = None,
    requests_per_minute: int | None = None,
    tokens_per_day: int | None = None,
    max_output_tokens: int | None = None,
    max_n: int | None = None,
    secret: str | None = None,
) -> tuple[GatewayToken, str | None]:
    """Issue a token; the secret is returned once and only its digest kept.

    - ``auditor``: a member of an auditor organisation assigned (in force) to
      ``audit``, an open audit of this system version; certified; no conflict.
      Issued to themselves.
    - ``academic``: a member of a certified academic group with no conflict.
      Issued to themselves.
    - ``lab_admitted``: issued by an admin of the system's lab to ``holder``
      (any active user), only once the release is at stage 3. Admitting
      someone else is an offer: the token is pending, no secret is returned
      (``None``), and the holder takes it up with ``gateway_token_accept``.
    - ``customer``: a member of a customer organisation, to themselves, while
      the organisation has an active enrolment in the release and its KYC
      record is verified and not past re-review (stages 2 and 3).
    Every kind needs the release to be at a stage that admits it and not halted.

    Quotas (``requests_per_minute``, ``tokens_per_day``) and the bounds on one
    call (``max_output_tokens``, ``max_n``) default to the settings and may not
    exceed their maxima. One holder may hold at most
    STAGEGATE_GATEWAY_MAX_LIVE_TOKENS_PER_HOLDER live tokens of a kind, one
    organisation STAGEGATE_GATEWAY_MAX_LIVE_TOKENS_PER_ORGANISATION
    (409 ``token_limit``; nothing is written).
    """
    require(actor.is_authenticated, "Sign in to request a gateway token.")
    if kind not in GrantKind.values:
        raise InvalidInput("Unknown token kind.", errors={"kind": [f"Must be one of: {', '.join(GrantKind.values)}."]})
    now = timezone.now()
    max_days = settings.STAGEGATE_GATEWAY_TOKEN_MAX_DAYS
    if expires_at <= now:
        raise InvalidInput("The expiry must be in the future.", errors={"expires_at": ["Must be in the future."]})
    if expires_at > now + datetime.timedelta(days=max_days):
        raise InvalidInput(
            "The expiry is too far ahead.", errors={"expires_at": [f"At most {max_days} days from now."]}
        )
    rpm = _bounded(
        requests_per_minute,
        default=settings.STAGEGATE_GATEWAY_DEFAULT_RPM,
        maximum=settings.STAGEGATE_GATEWAY_MAX_RPM,
        field="requests_per_minute",
    )
    tpd = _bounded(
        tokens_per_day,
        default=settings.STAGEGATE_GATEWAY_DEFAULT_TOKENS_PER_DAY,
        maximum=settings.STAGEGATE_GATEWAY_MAX_TOKENS_PER_DAY,
        field="tokens_per_day",
    )
    max_out = _bounded(
        max_output_tokens,
        default=settings.STAGEGATE_GATEWAY_DEFAULT_MAX_OUTPUT_TOKENS,
        maximum=settings.STAGEGATE_GATEWAY_MAX_OUTPUT_TOKENS,
        field="max_output_tokens",
    )
    most_n = _bounded(
        max_n,
        default=settings.STAGEGATE_GATEWAY_DEFAULT_MAX_N,
        maximum=settings.STAGEGATE_GATEWAY_MAX_N,
        field="max_n",
    )

    organisation = None
    if kind == GrantKind.AUDITOR:
        if audit is None:
            raise InvalidInput("An auditor's token names its audit.", errors={"audit": ["This field is required."]})
        if audit.system_version_id != system_version.pk:
            raise InvalidInput(
                "The audit is not of this system version.", errors={"audit": ["Not an audit of this system version."]}
            )
        organisation = next(
            (
                org
                for org in actor.auditor_org_ids
                if actor.kinds[org] == OrganisationKind.AUDITOR
                and actor.has_role(org, Role.AUDITOR)
                and organisation_is_assigned(organisation=org, audit=audit)
            ),
            None,
        )
        require(organisation is not None, "Only an auditor assigned to this audit may request a token for it.")
        if audit.status != AuditStatus.OPEN:
            raise Conflict("The audit is not open.", code="audit_not_open")
        holder = actor.user
    elif kind == GrantKind.ACADEMIC:
        organisation = _membership_org(actor, OrganisationKind.ACADEMIC, Role.ACADEMIC_AUDITOR)
        require(organisation is not None, "Only a member of a vetted academic group may request an academic token.")
        holder = actor.user
        audit = None
    elif kind == GrantKind.CUSTOMER:
        organisation = _membership_org(actor, OrganisationKind.CUSTOMER, Role.CUSTOMER_MEMBER)
        require(organisation is not None, "Only a member of a customer organisation may request a customer token.")
        holder = actor.user
        audit = None
    else:  # lab_admitted
        require(
            actor.has_role(system_version.lab_id, Role.LAB_ADMIN),
            "Only an admin of the system's lab admits users at stage 3.",
        )
        if holder is None:
            raise InvalidInput("Name the user to admit.", errors={"holder": ["This field is required."]})
        if not holder.is_active:
            raise InvalidInput("That user is deactivated.", errors={"holder": ["User is not active."]})
        audit = None

    if organisation is not None and kind != GrantKind.CUSTOMER:
        # Auditor standing, defined once (auditing.standing): certified at the
        # infosec level the standard requires, not conflicted (declared or in
        # the regulator's register), assigned to the audit for auditor tokens.
        require_standing(
            codes=GRANT_REFUSAL_CODES,
            organisation=organisation,
            lab=system_version.lab_id,
            audit=audit,
        )

    _release_admits(system_version, kind)
    if kind == GrantKind.CUSTOMER:
        _customer_admitted(organisation, system_version, now)
    _live_tokens_within_caps(kind=kind, holder=holder, organisation=organisation, now=now)

    offer = kind == GrantKind.LAB_ADMITTED and holder != actor.user
    # An offer's digest is of a secret nobody is given, so it cannot be used
    # until the holder accepts it and a new secret replaces it.
    secret = new_gateway_token_secret() if offer else (secret or new_gateway_token_secret())
    token = GatewayToken(
        kind=kind,
        holder=holder,
        organisation_id=organisation,
        system_version=system_version,
        lab_id=system_version.lab_id,
        audit=audit,
        issued_by=actor.user,
        name=name,
        prefix=secret[:12],
        digest=token_digest(secret),
        expires_at=expires_at,
        requests_per_minute=rpm,
        tokens_per_day=tpd,
        max_output_tokens=max_out,
        max_n=most_n,
        accepted_at=None if offer else now,
    )
    token.full_clean()
    token.save()
    audit_event_record(
        actor=actor,
        action="gateway_token.issue",
        target=token,
        after=snapshot(token, exclude=["digest"]),
        organisations=[organisation, system_version.lab_id] if kind == GrantKind.LAB_ADMITTED else [organisation],
    )
    return token, (None if offer else secret)


@transaction.atomic
def gateway_token_accept(*, actor: Actor, token: GatewayToken) -> tuple[GatewayToken, str]:
    """The holder takes up a token a lab admitted them to and is given its
    secret, once. Only the holder may; the token must still be live and the
    release still admit it."""
    token = GatewayToken.objects.select_for_update().get(pk=token.pk)
    if token.holder_id != getattr(actor.user, "pk", None):
        raise Forbidden("Only the person admitted may accept this token.")
    if token.accepted_at is not None:
        raise Conflict("This token has already been accepted.", code="already_accepted")
    now = timezone.now()
    if token.revoked_at is not None:
        raise Conflict("This token is revoked.", code="token_revoked")
    if token.expires_at <= now:
        raise Conflict("This token has expired.", code="token_expired")
    _release_admits(token.system_version, token.kind)
    before = snapshot(token, exclude=["digest"])
    secret = new_gateway_token_secret()
    token.digest, token.prefix, token.accepted_at = token_digest(secret), secret[:12], now
    token.save(update_fields=["digest", "prefix", "accepted_at", "updated_at"])
    audit_event_record(
        actor=actor,
        action="gateway_token.accept",
        target=token,
        before=before,
        after=snapshot(token, exclude=["digest"]),
        organisations=[token.organisation_id, token.lab_id],
    )
    return token, secret


def _live_tokens_within_caps(*, kind: str, holder: Any, organisation: Any, now: datetime.datetime) -> None:
    """Refuse a token its holder or organisation has no room for. The rows
    counted against are locked first (organisation, then user, always in that
    order), so two issues at once cannot both take the last place."""
    live = GatewayToken.objects.filter(kind=kind, revoked_at__isnull=True, expires_at__gt=now)
    if organisation is not None:
        Organisation.objects.select_for_update().filter(pk=organisation).first()
    get_user_model().objects.select_for_update().filter(pk=holder.pk).first()
    most = settings.STAGEGATE_GATEWAY_MAX_LIVE_TOKENS_PER_HOLDER
    if live.filter(holder=holder).count() >= most:
        raise Conflict(
            f"The holder already has {most} live {kind} tokens, the most one may hold: revoke one first.",
            code="token_limit",
        )
    if organisation is not None:
        most = settings.STAGEGATE_GATEWAY_MAX_LIVE_TOKENS_PER_ORGANISATION
        if live.filter(organisation=organisation).count() >= most:
            raise Conflict(
                f"The organisation already holds {most} live {kind} tokens, the most it may: revoke some first.",
                code="token_limit",
            )


def _may_revoke(actor: Actor, token: GatewayToken) -> bool:
    user_pk = getattr(actor.user, "pk", None)
    if actor.is_regulator or token.holder_id == user_pk or token.issued_by_id == user_pk:
        return True
    return token.kind == GrantKind.LAB_ADMITTED and actor.has_role(token.lab_id, Role.LAB_ADMIN)


@transaction.atomic
def gateway_token_revoke(*, actor: Actor, token: GatewayToken) -> GatewayToken:
    """Revoke a token: the holder, the issuer, the regulator, or (for
    lab-admitted tokens) the lab's admins. Takes effect on the next call."""
    token = GatewayToken.objects.select_for_update().get(pk=token.pk)
    if not _may_revoke(actor, token):
        raise Forbidden("You may not revoke this token.")
    if token.revoked_at is not None:
        raise Conflict("This token is already revoked.", code="already_revoked")
    before = snapshot(token, exclude=["digest"])
    token.revoked_at = timezone.now()
    token.revoked_by = actor.user
    token.save(update_fields=["revoked_at", "revoked_by", "updated_at"])
    audit_event_record(
        actor=actor,
        action="gateway_token.revoke",
        target=token,
        before=before,
        after=snapshot(token, exclude=["digest"]),
        organisations=[token.organisation_id, token.lab_id]
        if token.kind == GrantKind.LAB_ADMITTED
        else [token.organisation_id],
    )
    return token


# The access log

# The most a PostgreSQL ``integer`` column holds (the token counts).
_INTEGER_MAX = 2_147_483_647

# Refusals that say nothing about the entries (the database is unreachable or
# busy, or its schema is not migrated): raised, and the batch stays in the
# stream for the next drain. Anything else that refuses one entry alone is that
# entry's fault, and it is quarantined.
_NOT_THE_ENTRY = (OperationalError, InterfaceError, ProgrammingError, InternalError)

Entry = tuple[str, dict[str, str]]  # the stream id, the stream entry's fields


def _count(value: int, key: str) -> int:
    if not 0 <= value <= _INTEGER_MAX:
        raise ValueError(f"{key} out of range: {value}")
    return value


def _call_from_entry(stream_id: str, fields: dict[str, str]) -> GatewayCall:
    entry = AccessEntry.decode(fields)  # the one definition of the entry (gateway/proxy/entry.py)
    return GatewayCall(
        stream_id=stream_id,
        call_id=entry.call_id or None,
        token_id=entry.token,
        kind=entry.kind,
        holder_id=entry.holder,
        organisation_id=entry.organisation or None,
        lab_id=entry.lab,
        system_version_id=entry.system_version,
        created_at=datetime.datetime.fromisoformat(entry.started_at),
        method=entry.method[:8],
        path=entry.path[:200],
        upstream_model=entry.upstream_model[:200],
        stream=entry.stream,
        status_code=entry.status,
        error_code=entry.error_code[:64],
        latency_ms=entry.latency_ms,
        prompt_tokens=_count(entry.prompt_tokens, "prompt_tokens"),
        completion_tokens=_count(entry.completion_tokens, "completion_tokens"),
        total_tokens=_count(entry.total_tokens, "total_tokens"),
        usage_clamped=entry.usage_clamped,
        request_sha256=entry.request_sha256,
        response_sha256=entry.response_sha256,
        release_stage=entry.stage,
        attestation=entry.attestation[:16],
    )


def gateway_calls_store(*, entries: list[Entry]) -> int:
    """Write access-log entries keyed by their stream id and by their call id
    (with the token); an entry already stored under either is skipped, so
    handing the same entries over twice (a drain that died before deleting, a
    gateway replaying its spool after Redis lost its data) stores them once.

    An entry that cannot be stored (a number out of range, a missing field, an
    unknown token, text PostgreSQL refuses) is quarantined, kept whole with the
    reason in ``GatewayCallQuarantine``, and the others are stored: one bad
    entry never holds back the rest. The entries go in one transaction; only
    if the database refuses it are they split in halves, each in its own
    transaction, down to the refused entries (about two transactions per
    halving). A refusal that says nothing about the entries (``_NOT_THE_ENTRY``)
    is raised and nothing is quarantined. Call this outside a transaction, as
    the drain and the gateway do: foreign keys are checked at commit. Returns
    how many entries were stored (not quarantined)."""
    rows: list[tuple[GatewayCall, Entry]] = []
    bad: list[tuple[Entry, str]] = []
    for item in entries:
        try:
            rows.append((_call_from_entry(*item), item))
        except Exception as exc:  # the entry's own fault: converting it touches nothing else
            bad.append((item, _reason(exc)))
    stored = _store(rows, bad)
    if bad:
        _quarantine(bad)
    return stored


def _insert(rows: list[GatewayCall]) -> None:
    with transaction.atomic():
        GatewayCall.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)


def _store(rows: list[tuple[GatewayCall, Entry]], bad: list[tuple[Entry, str]]) -> int:
    if not rows:
        return 0
    try:
        _insert([row for row, _ in rows])
        return len(rows)
    except _NOT_THE_ENTRY:
        raise
    except Exception as exc:
        if len(rows) == 1:
            bad.append((rows[0][1], _reason(exc)))
            return 0
    half = len(rows) // 2
    return _store(rows[:half], bad) + _store(rows[half:], bad)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".replace("\x00", "\\x00")[:500]


def _quarantine(bad: list[tuple[Entry, str]]) -> None:
    GatewayCallQuarantine.objects.bulk_create(
        [
            # ensure_ascii: the text holds no NUL or lone surrogate for PostgreSQL to refuse
            GatewayCallQuarantine(stream_id=stream_id[:64], reason=reason, entry=json.dumps(fields, ensure_ascii=True))
            for (stream_id, fields), reason in bad
        ],
        ignore_conflicts=True,
    )
    for (stream_id, _), reason in bad:
        logger.error("gateway access log: entry %s quarantined (gateway_gatewaycallquarantine): %s", stream_id, reason)


def access_log_drain(*, batch: int | None = None, max_batches: int = 50) -> int:
    """Move access-log entries from the Redis stream into PostgreSQL.

    Each batch is read, stored in one transaction, and deleted from the stream
    only after that transaction commits. A crash in between leaves the entries
    in the stream; the next drain stores them again, and the unique stream id
    makes that a no-op. An entry that cannot be stored is quarantined
    (``gateway_calls_store``) and deleted from the stream with the rest, so no
    entry can stall the drain. Returns how many entries were moved (stored or
    quarantined)."""
    import redis

    batch = batch or settings.STAGEGATE_GATEWAY_DRAIN_BATCH
    stream = settings.STAGEGATE_GATEWAY_LOG_STREAM
    client: Any = redis.Redis.from_url(settings.STAGEGATE_GATEWAY_REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    moved = 0
    try:
        for _ in range(max_batches):
            items = client.xrange(stream, "-", "+", count=batch)
            if not items:
                break
            entries = [(_text(sid), {_text(k): _text(v) for k, v in fields.items()}) for sid, fields in items]
            gateway_calls_store(entries=entries)  # committed (stored or quarantined) here
            client.xdel(stream, *[sid for sid, _ in entries])
            moved += len(entries)
            if len(items) < batch:
                break
    finally:
        client.close()
    return moved


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
