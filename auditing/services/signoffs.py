"""Sign-offs: the server builds the in-toto Statement, the signer signs it
offline (``stagegate-sign``) and submits the DSSE envelope, and the server
checks everything before accepting it.

Refusals, each with its own problem code: malformed_envelope (400),
wrong_payload_type, unknown_key, bad_signature, key_not_approved, key_revoked,
not_your_key (403), invalid_statement, replay, statement_expired,
signer_mismatch, digest_mismatch, not_certified, audit_mismatch,
audit_not_open, not_assigned, conflict_of_interest, not_lab_reviewer and
statement_stale (the open findings, standard or suite results it binds have
changed)."""

from __future__ import annotations

import datetime
import hashlib
import json
import secrets
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from auditing.models import (
    Audit,
    AuditStatus,
    SigningKey,
    SigningKeyStatus,
    SignOff,
    SignOffDecision,
    SignOffStatus,
)
from auditing.selectors import findings_open_for, suite_results_for
from auditing.services.findings import AUDITOR_ROLES
from auditing.standing import acting_organisation, risk_areas_required
from core import dsse
from core.actors import Actor
from core.audit import audit_event_record, snapshot
from core.canonical import canonical_json
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import Organisation, Role
from core.permissions import VIEW, get_for, require
from labs.models import SystemVersion
from transparency.records import text_digest
from transparency.services import log_append

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://stagegate.dev/attestations/stage-signoff/v1"
STAGES = (1, 2, 3)
CLOCK_SKEW = datetime.timedelta(minutes=5)
# Fields the server recomputes at submission; any difference means the world
# the statement describes has changed since it was issued.
BOUND = ("system_version", "lab", "stage", "decision", "signer", "organisation", "role", "audit", "standard")
BOUND_LISTS = ("suites", "open_findings")


def _iso(when: datetime.datetime) -> str:
    return when.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def _signer_context(
    *, actor: Actor, system_version: SystemVersion, audit: Audit | None, stage: int
) -> tuple[Organisation, str]:
    """The organisation and role the actor signs in for this version: an
    assigned, certified, conflict-free auditor of the audit, or (without an
    audit) a reviewer of the lab."""
    if audit is not None:
        if audit.system_version_id != system_version.pk:
            raise Conflict("The audit is of another system version.", code="audit_mismatch")
        if audit.status != AuditStatus.OPEN:
            raise Conflict(f"The audit is {audit.status}.", code="audit_not_open")
        # Standing (auditing.standing): certified for at least one risk area
        # the standard requires of this system before the stage (the gate
        # checks the counted signers cover them all), at the stage's infosec
        # level, not conflicted, assigned.
        org_id = acting_organisation(
            actor=actor,
            audit=audit,
            roles=AUDITOR_ROLES,
            any_of_risk_areas=risk_areas_required(audit=audit, stage=stage),
            stage=stage,
            forbidden="Only auditors sign off an audit.",
        )
        role = Role.AUDITOR if actor.has_role(org_id, Role.AUDITOR) else Role.ACADEMIC_AUDITOR
        return Organisation.objects.get(pk=org_id), role
    if not actor.has_role(system_version.lab_id, Role.LAB_REVIEWER):
        raise Conflict(
            "Without an audit, only a reviewer of the lab signs (a lab-internal sign-off).", code="not_lab_reviewer"
        )
    return Organisation.objects.get(pk=system_version.lab_id), Role.LAB_REVIEWER


def _predicate_core(
    *,
    actor: Actor,
    system_version: SystemVersion,
    stage: int,
    decision: str,
    audit: Audit | None,
    organisation: Organisation,
    role: str,
) -> dict[str, Any]:
    open_findings = [
        {"id": str(f.pk), "severity": f.severity, "status": f.status, "log_index": f.log_index}
        for f in findings_open_for(system_version=system_version)
    ]
    standard = audit.standard if audit is not None else None
    return {
        "system_version": {
            "id": str(system_version.pk),
            "name": system_version.name,
            "sequence": system_version.sequence,
        },
        "lab": {"id": str(system_version.lab_id)},
        "stage": stage,
        "decision": decision,
        "signer": {"id": str(actor.user.pk), "username": actor.user.get_username()},
        "organisation": {"id": str(organisation.pk), "name": organisation.name},
        "role": role,
        "audit": {"id": str(audit.pk)} if audit is not None else None,
        "standard": {"id": str(standard.pk), "version": standard.version} if standard is not None else None,
        "suites": suite_results_for(system_version=system_version, stage=stage),
        "open_findings": open_findings,
    }


def _subject(system_version: SystemVersion) -> list[dict[str, Any]]:
    return [
        {"name": "weights", "digest": {"sha256": system_version.model_version.weights_digest}},
        {"name": "system-configuration", "digest": {"sha256": system_version.configuration_digest}},
    ]


def _validate_request(stage: Any, decision: Any) -> None:
    errors: dict[str, list[str]] = {}
    if stage not in STAGES or isinstance(stage, bool):
        errors["stage"] = ["Must be 1, 2 or 3 (the stage being entered)."]
    if decision not in SignOffDecision.values:
        errors["decision"] = [f"Must be one of: {', '.join(SignOffDecision.values)}."]
    if errors:
        raise InvalidInput("The sign-off request is not valid.", errors=errors)


def signoff_statement_build(
    *, actor: Actor, system_version: SystemVersion, stage: int, decision: str, audit: Audit | None = None
) -> dict[str, Any]:
    """The in-toto Statement the actor would sign now (a read: nothing is
    stored; everything in it is checked again on submission)."""
    require(actor.is_authenticated, "Sign in first.")
    _validate_request(stage, decision)
    system_version = get_for(SystemVersion.objects.select_related("model_version"), actor, system_version.pk, VIEW)
    if audit is not None:
        audit = get_for(Audit.objects.select_related("standard"), actor, audit.pk, VIEW)
    organisation, role = _signer_context(actor=actor, system_version=system_version, audit=audit, stage=stage)
    now = timezone.now().replace(microsecond=0)
    predicate = _predicate_core(
        actor=actor,
        system_version=system_version,
        stage=stage,
        decision=decision,
        audit=audit,
        organisation=organisation,
        role=role,
    )
    predicate.update(
        {
            "issued_at": _iso(now),
            "valid_until": _iso(now + datetime.timedelta(days=settings.STAGEGATE_SIGNOFF_VALIDITY_DAYS)),
            "nonce": secrets.token_hex(16),
        }
    )
    return {
        "_type": STATEMENT_TYPE,
        "subject": _subject(system_version),
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


def _uuid(ref: Any) -> uuid.UUID | None:
    """The id of a ``{"id": ...}`` reference in a statement, if it is a UUID."""
    try:
        return uuid.UUID(str(ref["id"])) if isinstance(ref, dict) else None
    except (KeyError, ValueError):
        return None


def _when(value: Any, field: str) -> datetime.datetime:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None or timezone.is_naive(parsed):
        raise Conflict(f"The statement's {field} is not a date and time with a zone.", code="invalid_statement")
    return parsed


def _parse_statement(payload: bytes) -> dict[str, Any]:
    try:
        statement = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise Conflict("The payload is not JSON.", code="invalid_statement") from None
    if not isinstance(statement, dict) or canonical_json(statement) != payload:
        raise Conflict("The payload is not RFC 8785 canonical JSON of an object.", code="invalid_statement")
    if statement.get("_type") != STATEMENT_TYPE or statement.get("predicateType") != PREDICATE_TYPE:
        raise Conflict(
            f"Expected an in-toto Statement v1 with predicateType {PREDICATE_TYPE}.", code="invalid_statement"
        )
    predicate = statement.get("predicate")
    if not isinstance(predicate, dict) or not isinstance(statement.get("subject"), list):
        raise Conflict("The statement has no predicate or subject.", code="invalid_statement")
    return statement


@transaction.atomic
def signoff_submit(*, actor: Actor, envelope: Any) -> SignOff:
    """Verify a signed statement and record the sign-off."""
    require(actor.is_authenticated, "Sign in first.")
    try:
        env = dsse.envelope_from_dict(envelope)
    except dsse.EnvelopeError as e:
        raise InvalidInput(
            f"Not a DSSE envelope: {e}.", code="malformed_envelope", errors={"envelope": [str(e)]}
        ) from None
    if env.payload_type != dsse.IN_TOTO_PAYLOAD_TYPE:
        raise Conflict(f"The payload type must be {dsse.IN_TOTO_PAYLOAD_TYPE}.", code="wrong_payload_type")
    if len(env.signatures) != 1:
        raise Conflict("A sign-off carries exactly one signature.", code="invalid_statement")
    keyid = env.signatures[0].keyid
    key = SigningKey.objects.select_for_update().filter(keyid=keyid).first()
    if key is None:
        raise Conflict("No registered key has this keyid.", code="unknown_key")
    if not dsse.verify(env, dsse.load_public_key_pem(key.public_key_pem)):
        raise Conflict("The signature does not verify with the registered key.", code="bad_signature")
    if key.user_id != actor.user.pk:
        raise Forbidden("This key belongs to someone else.", code="not_your_key")
    if key.status == SigningKeyStatus.REVOKED:
        raise Conflict("The key is revoked.", code="key_revoked")
    if key.status != SigningKeyStatus.ACTIVE:
        raise Conflict("The regulator has not approved this key yet.", code="key_not_approved")

    statement = _parse_statement(env.payload)
    predicate = statement["predicate"]
    digest = hashlib.sha256(env.payload).hexdigest()
    nonce = predicate.get("nonce")
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= 64:
        raise Conflict("The statement has no valid nonce.", code="invalid_statement")
    if SignOff.objects.filter(payload_digest=digest).exists() or SignOff.objects.filter(nonce=nonce).exists():
        raise Conflict("This statement was already submitted.", code="replay")
    now = timezone.now()
    issued_at = _when(predicate.get("issued_at"), "issued_at")
    valid_until = _when(predicate.get("valid_until"), "valid_until")
    if now >= valid_until:
        raise Conflict("The statement is past its valid-until time.", code="statement_expired")
    window = datetime.timedelta(days=settings.STAGEGATE_SIGNOFF_VALIDITY_DAYS)
    if issued_at > now + CLOCK_SKEW or valid_until - issued_at > window or valid_until <= issued_at:
        raise Conflict(
            "The statement's issue and expiry times are not ones this server gives.", code="invalid_statement"
        )
    signer = predicate.get("signer") or {}
    organisation = predicate.get("organisation") or {}
    if (
        not isinstance(signer, dict)
        or not isinstance(organisation, dict)
        or signer.get("id") != str(actor.user.pk)
        or organisation.get("id") != str(key.organisation_id)
    ):
        raise Conflict("The statement names another signer or organisation than the key's.", code="signer_mismatch")

    # Looked up unscoped: the signature already proved the statement is the
    # key owner's, and the eligibility checks below say why they may not sign.
    sv_pk = _uuid(predicate.get("system_version"))
    system_version = SystemVersion.objects.select_related("model_version").filter(pk=sv_pk).first() if sv_pk else None
    if system_version is None:
        raise Conflict("The statement names no known system version.", code="invalid_statement")
    if statement["subject"] != _subject(system_version):
        raise Conflict("The subject digests do not match the system version as it is now.", code="digest_mismatch")
    audit_ref = predicate.get("audit")
    audit = None
    if audit_ref is not None:
        audit_pk = _uuid(audit_ref)
        audit = Audit.objects.select_related("standard").filter(pk=audit_pk).first() if audit_pk else None
        if audit is None:
            raise Conflict("The statement names no known audit.", code="audit_mismatch")
    stage, decision = predicate.get("stage"), predicate.get("decision")
    try:
        _validate_request(stage, decision)
    except InvalidInput:
        raise Conflict("The statement's stage or decision is not valid.", code="invalid_statement") from None
    org, role = _signer_context(actor=actor, system_version=system_version, audit=audit, stage=stage)
    if org.pk != key.organisation_id or role != key.role:
        raise Conflict("The key was registered for another organisation or role.", code="signer_mismatch")
    expected = _predicate_core(
        actor=actor,
        system_version=system_version,
        stage=stage,
        decision=decision,
        audit=audit,
        organisation=org,
        role=role,
    )
    if any(predicate.get(k) != expected[k] for k in BOUND + BOUND_LISTS):
        raise Conflict(
            "What the statement binds (open findings, standard, suites, names) has changed since it was issued; "
            "fetch a fresh statement.",
            code="statement_stale",
        )

    signoff = SignOff(
        system_version=system_version,
        stage=stage,
        decision=decision,
        audit=audit,
        signer=actor.user,
        organisation=org,
        key=key,
        role=role,
        statement=statement,
        envelope=env.to_dict(),
        payload_digest=digest,
        nonce=nonce,
        issued_at=issued_at,
        valid_until=valid_until,
        status=SignOffStatus.ACTIVE,
    )
    signoff.full_clean(exclude=["system_version", "audit", "signer", "organisation", "key"])
    signoff.save()
    entry = log_append(
        kind="signoff.accept",
        subject=signoff,
        record={
            "signoff": str(signoff.pk),
            "payload_digest": digest,
            "keyid": key.keyid,
            "system_version": str(system_version.pk),
            "subject": statement["subject"],
            "stage": stage,
            "decision": decision,
            "organisation": str(org.pk),
            "audit": str(audit.pk) if audit else None,
            "open_findings": [f["log_index"] for f in expected["open_findings"]],
        },
    )
    signoff.log_index = entry.index
    signoff.save(update_fields=["log_index"])
    audit_event_record(
        actor=actor,
        action="signoff.accept",
        target=signoff,
        after=snapshot(signoff, exclude=["statement", "envelope"]),
        organisations=[system_version.lab_id, org.pk],
    )
    return signoff


# A sign-off is accepted active; a gate decision consumes it or losing
# standing voids it, once. Nothing else moves it.
SIGNOFF_TRANSITIONS: dict[str, frozenset[str]] = {
    SignOffStatus.ACTIVE: frozenset({SignOffStatus.CONSUMED, SignOffStatus.VOID}),
    SignOffStatus.CONSUMED: frozenset(),
    SignOffStatus.VOID: frozenset(),
}


def signoff_status_set(*, signoff: SignOff, status: str, now: datetime.datetime, reason: str = "") -> SignOff:
    """The one function that changes ``SignOff.status`` (tests/test_rule_homes.py
    fails if any other code assigns it), along ``SIGNOFF_TRANSITIONS``. The
    caller holds the row locked and writes the audit event and log entry of
    its own decision; a void records when and why."""
    if status not in SIGNOFF_TRANSITIONS.get(signoff.status, frozenset()):
        raise Conflict(f"A {signoff.status} sign-off cannot become {status}.", code="signoff_status_not_allowed")
    signoff.status = status
    fields = ["status", "updated_at"]
    if status == SignOffStatus.VOID:
        signoff.voided_at, signoff.void_reason = now, reason
        fields += ["voided_at", "void_reason"]
    signoff.save(update_fields=fields)
    return signoff


def signoffs_consume(*, signoffs: list[SignOff], now: datetime.datetime) -> None:
    """A gate decision used these sign-offs (each opens one stage, once)."""
    for signoff in signoffs:
        signoff_status_set(signoff=signoff, status=SignOffStatus.CONSUMED, now=now)


def signoffs_void_for_organisation(
    *, actor: Actor, organisation_id: Any, reason: str, now: datetime.datetime | None = None, lab_id: Any = None
) -> int:
    """Void the organisation's sign-offs that no gate has used yet (rule 1:
    revocation, suspension or a new conflict voids pending sign-offs; with
    ``lab_id``, only those on that lab's systems). Called inside the
    withdrawing service's transaction. Returns how many."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("signoffs_void_for_organisation runs inside the revoking transaction")
    now = now or timezone.now()
    count = 0
    pending = SignOff.objects.select_for_update().filter(organisation_id=organisation_id, status=SignOffStatus.ACTIVE)
    if lab_id is not None:
        pending = pending.filter(system_version__lab_id=lab_id)
    for signoff in pending:
        before = snapshot(signoff, exclude=["statement", "envelope"])
        signoff_status_set(signoff=signoff, status=SignOffStatus.VOID, now=now, reason=reason)
        log_append(
            kind="signoff.void",
            subject=signoff,
            record={
                "signoff": str(signoff.pk),
                "payload_digest": signoff.payload_digest,
                "reason_sha256": text_digest(reason),
            },
        )
        audit_event_record(
            actor=actor,
            action="signoff.void",
            target=signoff,
            before=before,
            after=snapshot(signoff, exclude=["statement", "envelope"]),
            organisations=[signoff.system_version.lab_id, organisation_id],
        )
        count += 1
    return count


def signoff_validity(
    *, signoff: SignOff, now: datetime.datetime | None = None, suites: list[dict[str, Any]] | None = None
) -> tuple[bool, str]:
    """Whether a sign-off still counts now, and if not why: void or used,
    expired, its key revoked since (it vouches only for before), or what it
    binds (digests, open findings, the suite evidence: protocol runs and
    their results) has changed. ``suites`` is the evidence as it stands now,
    when the caller has it already."""
    now = now or timezone.now()
    if signoff.status != SignOffStatus.ACTIVE:
        return False, signoff.status
    if now >= signoff.valid_until:
        return False, "expired"
    sv = signoff.system_version
    if signoff.statement.get("subject") != _subject(sv):
        return False, "digest_mismatch"
    bound = [f.get("id") for f in signoff.statement.get("predicate", {}).get("open_findings", [])]
    current = [str(pk) for pk in findings_open_for(system_version=sv).values_list("pk", flat=True)]
    if sorted(bound) != sorted(current):
        return False, "open_findings_changed"
    if suites is None:
        suites = suite_results_for(system_version=sv, stage=signoff.stage)
    if signoff.statement.get("predicate", {}).get("suites") != suites:
        return False, "suite_results_changed"
    return True, "valid"
