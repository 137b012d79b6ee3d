"""Writes on organisations, memberships and API tokens."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from core.audit import audit_event_record, snapshot
from core.authentication import TOKEN_PREFIX, token_digest
from core.db import save_or_conflict
from core.errors import Conflict, InvalidInput
from core.models import ROLES_BY_KIND, ApiToken, Membership, Organisation, OrganisationKind, Role
from core.permissions import require, require_regulator


@transaction.atomic
def organisation_create(
    *, actor: Actor, kind: str, name: str, slug: str, country: str = "", website: str = ""
) -> Organisation:
    require_regulator(actor)
    if Organisation.objects.filter(slug=slug).exists():
        raise Conflict(
            f"An organisation with slug {slug!r} exists.", code="duplicate", errors={"slug": ["Already taken."]}
        )
    org = Organisation(kind=kind, name=name, slug=slug, country=country.upper(), website=website)
    org.full_clean()
    org.save()
    audit_event_record(actor=actor, action="organisation.create", target=org, after=snapshot(org), organisations=[org])
    return org


def _may_manage_members(actor: Actor, organisation: Organisation) -> bool:
    if actor.is_regulator:
        return True
    return organisation.kind == OrganisationKind.LAB and actor.has_role(organisation.pk, Role.LAB_ADMIN)


@transaction.atomic
def membership_create(*, actor: Actor, organisation: Organisation, user: Any, role: str) -> Membership:
    require(_may_manage_members(actor, organisation), "Only the regulator or the lab's admins add members.")
    if role not in ROLES_BY_KIND[organisation.kind]:
        allowed = ", ".join(sorted(ROLES_BY_KIND[organisation.kind]))
        raise InvalidInput(
            f"Role {role!r} does not exist in a {organisation.kind} organisation.",
            errors={"role": [f"Must be one of: {allowed}."]},
        )
    if not user.is_active:
        raise InvalidInput("That user is deactivated.", errors={"username": ["User is not active."]})
    # The regulator's word makes a membership; a lab admin's is an invitation
    # the person accepts (membership_accept), so a lab cannot attach its
    # auditor, the regulator or anyone else to itself.
    accepted_at = timezone.now() if actor.is_regulator or actor.user == user else None
    membership = Membership(user=user, organisation=organisation, role=role, accepted_at=accepted_at)
    membership.full_clean(validate_constraints=False)
    save_or_conflict(membership, Conflict("This person already holds this role here.", code="duplicate"))
    audit_event_record(
        actor=actor,
        action="membership.create",
        target=membership,
        after=snapshot(membership),
        organisations=[organisation],
    )
    return membership


@transaction.atomic
def membership_accept(*, actor: Actor, membership: Membership) -> Membership:
    """The person accepts a membership they were invited to: from now on it
    confers its role."""
    membership = Membership.objects.select_for_update().select_related("organisation").get(pk=membership.pk)
    require(actor.user is not None and membership.user_id == actor.user.pk, "Only the invited person accepts.")
    if membership.ended_at is not None:
        raise Conflict("This membership has ended.", code="already_ended")
    if membership.accepted_at is not None:
        raise Conflict("This membership is already accepted.", code="already_accepted")
    before = snapshot(membership)
    membership.accepted_at = timezone.now()
    membership.save(update_fields=["accepted_at", "updated_at"])
    audit_event_record(
        actor=actor,
        action="membership.accept",
        target=membership,
        before=before,
        after=snapshot(membership),
        organisations=[membership.organisation],
    )
    return membership


@transaction.atomic
def membership_end(*, actor: Actor, membership: Membership) -> Membership:
    membership = Membership.objects.select_for_update().select_related("organisation").get(pk=membership.pk)
    require(
        _may_manage_members(actor, membership.organisation), "Only the regulator or the lab's admins end memberships."
    )
    if membership.ended_at is not None:
        raise Conflict("This membership has already ended.", code="already_ended")
    before = snapshot(membership)
    membership.ended_at = timezone.now()
    membership.save(update_fields=["ended_at", "updated_at"])
    audit_event_record(
        actor=actor,
        action="membership.end",
        target=membership,
        before=before,
        after=snapshot(membership),
        organisations=[membership.organisation],
    )
    return membership


def new_token_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def demo_token_secret(username: str) -> str:
    """A stable token for a demo user, derived from SECRET_KEY (never stored in
    the repo), so re-running the demo yields the same credentials."""
    mac = hmac.new(settings.SECRET_KEY.encode(), f"stagegate-demo-token:{username}".encode(), hashlib.sha256)
    return TOKEN_PREFIX + mac.hexdigest()[:43]


@transaction.atomic
def api_token_create(
    *, actor: Actor, name: str, expires_at: datetime.datetime | None = None, secret: str | None = None
) -> tuple[ApiToken, str]:
    """A new token for the acting user; the secret is returned once and only its digest kept."""
    require(actor.is_authenticated, "Sign in to create a token.")
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput("The expiry must be in the future.", errors={"expires_at": ["Must be in the future."]})
    secret = secret or new_token_secret()
    token = ApiToken(user=actor.user, name=name, prefix=secret[:10], digest=token_digest(secret), expires_at=expires_at)
    token.full_clean()
    token.save()
    audit_event_record(actor=actor, action="api_token.create", target=token, after=snapshot(token, exclude=["digest"]))
    return token, secret


@transaction.atomic
def api_token_revoke(*, actor: Actor, token: ApiToken) -> ApiToken:
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    require(token.user_id == getattr(actor.user, "pk", None), "Only the owner revokes a token.")
    if token.revoked_at is not None:
        raise Conflict("This token is already revoked.", code="already_revoked")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at", "updated_at"])
    audit_event_record(actor=actor, action="api_token.revoke", target=token, after=snapshot(token, exclude=["digest"]))
    return token
