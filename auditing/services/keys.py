"""Signing keys: registration by auditors and lab reviewers, the regulator's
approval (which binds key, person and organisation), and revocation."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from auditing.models import SigningKey, SigningKeyStatus
from auditing.services.certification import _reason
from core.actors import Actor
from core.audit import audit_event_record, snapshot
from core.dsse import keyid_of, load_public_key_pem, public_key_pem
from core.errors import Conflict, InvalidInput
from core.models import Organisation, OrganisationKind, Role
from core.permissions import CHANGE, get_for, require, require_regulator
from core.validation import full_clean_or_invalid
from transparency.records import private_ref
from transparency.services import log_append

# The roles that sign, and the kind of organisation each signs for.
SIGNING_ROLES = {
    Role.AUDITOR: OrganisationKind.AUDITOR,
    Role.ACADEMIC_AUDITOR: OrganisationKind.ACADEMIC,
    Role.LAB_REVIEWER: OrganisationKind.LAB,
}
MAX_PEM = 1000


def _signing_roles(actor: Actor) -> list[tuple[Any, str]]:
    """(organisation id, role) pairs in which the actor may hold a signing key."""
    return sorted(
        ((org, role) for org, roles in actor.roles.items() for role in roles if role in SIGNING_ROLES),
        key=lambda p: (str(p[0]), p[1]),
    )


def _log_key(kind: str, key: SigningKey) -> None:
    log_append(
        kind=kind,
        subject=key,
        record={
            "keyid": key.keyid,
            "user_ref": private_ref("user", key.user_id),
            "organisation": str(key.organisation_id),
            "role": key.role,
            "status": key.status,
        },
    )


@transaction.atomic
def signing_key_register(
    *, actor: Actor, public_key_pem_text: str, organisation: Organisation | None = None
) -> SigningKey:
    """Register an Ed25519 public key for signing in one of the actor's signing
    roles. It is usable once the regulator approves it."""
    require(actor.is_authenticated, "Sign in first.")
    pairs = _signing_roles(actor)
    require(
        bool(pairs), "Only auditors, academic auditors and lab reviewers register signing keys.", code="no_signing_role"
    )
    if organisation is not None:
        pairs = [p for p in pairs if p[0] == organisation.pk]
        if not pairs:
            raise InvalidInput(
                "You hold no signing role in that organisation.",
                errors={"organisation": ["You hold no signing role in this organisation."]},
            )
    elif len({p[0] for p in pairs}) > 1:
        raise InvalidInput(
            "You sign for several organisations: name one.", errors={"organisation": ["This field is required."]}
        )
    org_id, role = pairs[0]
    if not isinstance(public_key_pem_text, str) or len(public_key_pem_text) > MAX_PEM:
        raise InvalidInput("Not a public key.", errors={"public_key": ["An Ed25519 public key in PEM."]})
    try:
        key = load_public_key_pem(public_key_pem_text)
    except ValueError as e:
        raise InvalidInput("Not an Ed25519 public key.", errors={"public_key": [str(e)]}) from None
    keyid = keyid_of(key)
    if SigningKey.objects.filter(keyid=keyid).exists():
        raise Conflict("This key is already registered.", code="key_already_registered")
    signing_key = SigningKey(
        keyid=keyid,
        public_key_pem=public_key_pem(key),
        user=actor.user,
        organisation_id=org_id,
        role=role,
        status=SigningKeyStatus.PENDING,
    )
    full_clean_or_invalid(signing_key, exclude=["user", "organisation"])
    signing_key.save()
    audit_event_record(
        actor=actor, action="key.register", target=signing_key, after=snapshot(signing_key), organisations=[org_id]
    )
    _log_key("key.register", signing_key)
    return signing_key


@transaction.atomic
def signing_key_approve(*, actor: Actor, key: SigningKey) -> SigningKey:
    """The regulator binds the key to its person and organisation."""
    require_regulator(actor)
    key = get_for(SigningKey.objects.all(), actor, key.pk, CHANGE, lock=True)
    if key.status != SigningKeyStatus.PENDING:
        raise Conflict(f"The key is {key.status}; only a pending key is approved.", code="key_not_pending")
    before = snapshot(key)
    key.status = SigningKeyStatus.ACTIVE
    key.approved_at = timezone.now()
    key.approved_by = actor.user
    key.save(update_fields=["status", "approved_at", "approved_by", "updated_at"])
    audit_event_record(
        actor=actor,
        action="key.approve",
        target=key,
        before=before,
        after=snapshot(key),
        organisations=[key.organisation_id],
    )
    _log_key("key.approve", key)
    return key


@transaction.atomic
def signing_key_revoke(*, actor: Actor, key: SigningKey, reason: str) -> SigningKey:
    """Its owner or the regulator revokes a key. It stays on record and still
    verifies what it signed before now."""
    reason = _reason(reason)
    key = get_for(SigningKey.objects.all(), actor, key.pk, CHANGE, lock=True)
    require(
        actor.is_regulator or key.user_id == getattr(actor.user, "pk", None),
        "Only the key's owner or the regulator revokes it.",
    )
    if key.status == SigningKeyStatus.REVOKED:
        raise Conflict("The key is already revoked.", code="key_revoked")
    before = snapshot(key)
    key.status = SigningKeyStatus.REVOKED
    key.revoked_at = timezone.now()
    key.revoked_by = actor.user
    key.revoke_reason = reason
    key.save(update_fields=["status", "revoked_at", "revoked_by", "revoke_reason", "updated_at"])
    audit_event_record(
        actor=actor,
        action="key.revoke",
        target=key,
        before=before,
        after=snapshot(key),
        organisations=[key.organisation_id],
    )
    _log_key("key.revoke", key)
    return key
