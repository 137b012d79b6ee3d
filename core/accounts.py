"""People's accounts and organisations' details: every write a service with an
audit event, since the Django admin is read-only.

- ``account_create``: the regulator, or a lab's admin for its own lab, adds a
  person with a role (a lab's is an invitation, as ``membership_create``). The
  account has no usable password: the person sets one through a single-use link
  sent to their email address. Whoever created the account never sees the link,
  so nobody can set a password in another person's name.
- ``account_password_reset``: the regulator sends a person a new single-use link
  (the old password stays valid until the link is used).
- ``account_deactivate`` / ``account_reactivate``: the regulator, or a person
  for themselves (deactivation only). A deactivated account authenticates
  nowhere: sign-in, API tokens and gateway tokens all check ``is_active``. The
  last active regulator cannot be deactivated.
- ``organisation_update``: the regulator edits an organisation's name, country
  and website. Its kind is fixed: changing it would change what its members
  may do, which is a new organisation.
- ``regulator_bootstrap``: the first regulator, from the host shell
  (``manage.py bootstrap_regulator``), only while there is none."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import EmailValidator
from django.db import transaction
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.timezone import now

from core.actors import Actor, system_actor
from core.audit import audit_event_record, snapshot
from core.errors import Conflict, InvalidInput
from core.models import Membership, Organisation, OrganisationKind, Role
from core.permissions import require, require_regulator
from core.services import membership_create

User = get_user_model()

# What an account's audit record keeps: never the password hash.
_ACCOUNT_FIELDS_HIDDEN = ["password", "last_login"]


def set_password_link(user: Any) -> str:
    """A single-use link for ``user`` to set a password: it stops working once
    the password changes (or the user signs in), and after
    PASSWORD_RESET_TIMEOUT."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return f"{settings.STAGEGATE_BASE_URL.rstrip('/')}/accounts/set-password/{uid}/{token}/"


def _send_set_password(user: Any, *, reason: str) -> None:
    send_mail(
        subject="Stagegate: set your password",
        message=(
            f"{reason}\n\nSet your password here (the link works once):\n{set_password_link(user)}\n\n"
            "If you did not expect this, ignore this message."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )


def _valid_identity(username: str, email: str) -> tuple[str, str]:
    errors: dict[str, list[str]] = {}
    try:
        UnicodeUsernameValidator()(username)
        if not 1 <= len(username) <= 150:
            raise ValidationError("Between 1 and 150 characters.")
    except ValidationError as exc:
        errors["username"] = list(exc.messages)
    try:
        EmailValidator()(email)
    except ValidationError as exc:
        errors["email"] = list(exc.messages)
    if errors:
        raise InvalidInput("The account details are not valid.", errors=errors)
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict("That username is taken.", code="duplicate", errors={"username": ["Already taken."]})
    return username, email.strip().lower()


@transaction.atomic
def account_create(
    *, actor: Actor, username: str, email: str, organisation: Organisation, role: str
) -> tuple[Any, Membership]:
    """A new person in ``organisation`` with ``role``; they set their password
    through the link emailed to them once this commits."""
    require(
        actor.is_regulator
        or (organisation.kind == OrganisationKind.LAB and actor.has_role(organisation.pk, Role.LAB_ADMIN)),
        "Only the regulator, or a lab's admins for their lab, create accounts.",
    )
    username, email = _valid_identity(username, email)
    user = User(username=username, email=email, is_active=True)
    user.set_unusable_password()
    user.save()
    membership = membership_create(actor=actor, organisation=organisation, user=user, role=role)
    audit_event_record(
        actor=actor,
        action="account.create",
        target=user,
        after=snapshot(user, exclude=_ACCOUNT_FIELDS_HIDDEN),
        organisations=[organisation],
    )
    transaction.on_commit(
        lambda: _send_set_password(user, reason=f"An account was created for you on Stagegate ({organisation.name}).")
    )
    return user, membership


@transaction.atomic
def account_password_reset(*, actor: Actor, user: Any) -> None:
    """The regulator sends ``user`` a single-use link to set a new password."""
    require_regulator(actor)
    if not user.is_active:
        raise Conflict("That account is deactivated.", code="account_inactive")
    audit_event_record(actor=actor, action="account.password_reset", target=user)
    transaction.on_commit(lambda: _send_set_password(user, reason="The regulator sent you a link to set a password."))


def _active_regulators() -> Any:
    return User.objects.filter(
        is_active=True,
        memberships__organisation__kind=OrganisationKind.REGULATOR,
        memberships__ended_at__isnull=True,
        memberships__accepted_at__isnull=False,
    ).distinct()


@transaction.atomic
def account_deactivate(*, actor: Actor, user: Any) -> Any:
    """Deactivate an account: the regulator, or the person themselves."""
    require(
        actor.is_regulator or (actor.user is not None and actor.user.pk == user.pk),
        "Only the regulator, or the person themselves, deactivate an account.",
    )
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.is_active:
        raise Conflict("That account is already deactivated.", code="already_inactive")
    regulators = _active_regulators()
    if regulators.filter(pk=user.pk).exists() and regulators.count() <= 1:
        raise Conflict("The last active regulator cannot be deactivated.", code="last_regulator")
    before = snapshot(user, exclude=_ACCOUNT_FIELDS_HIDDEN)
    user.is_active = False
    user.save(update_fields=["is_active"])
    audit_event_record(
        actor=actor,
        action="account.deactivate",
        target=user,
        before=before,
        after=snapshot(user, exclude=_ACCOUNT_FIELDS_HIDDEN),
        organisations=user.memberships.filter(ended_at__isnull=True).values_list("organisation_id", flat=True),
    )
    return user


@transaction.atomic
def account_reactivate(*, actor: Actor, user: Any) -> Any:
    require_regulator(actor)
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_active:
        raise Conflict("That account is active.", code="already_active")
    before = snapshot(user, exclude=_ACCOUNT_FIELDS_HIDDEN)
    user.is_active = True
    user.save(update_fields=["is_active"])
    audit_event_record(
        actor=actor,
        action="account.reactivate",
        target=user,
        before=before,
        after=snapshot(user, exclude=_ACCOUNT_FIELDS_HIDDEN),
        organisations=user.memberships.filter(ended_at__isnull=True).values_list("organisation_id", flat=True),
    )
    return user


_EDITABLE = ("name", "country", "website")


@transaction.atomic
def organisation_update(*, actor: Actor, organisation: Organisation, **changes: Any) -> Organisation:
    """The regulator edits an organisation's name, country or website."""
    require_regulator(actor)
    unknown = sorted(set(changes) - set(_EDITABLE))
    if unknown:
        raise InvalidInput(
            "Only name, country and website may change.", errors={k: ["Cannot be changed."] for k in unknown}
        )
    org = Organisation.objects.select_for_update().get(pk=organisation.pk)
    before = snapshot(org)
    for name, value in changes.items():
        setattr(org, name, value.upper() if name == "country" else value)
    try:
        org.full_clean()
    except ValidationError as exc:
        raise InvalidInput("The organisation's details are not valid.", errors=exc.message_dict) from None
    org.save(update_fields=[*changes, "updated_at"])
    audit_event_record(
        actor=actor, action="organisation.update", target=org, before=before, after=snapshot(org), organisations=[org]
    )
    return org


@transaction.atomic
def regulator_bootstrap(*, username: str, email: str, organisation_name: str, slug: str) -> tuple[Any, str]:
    """The first regulator and its organisation, from the host shell; refused
    once any regulator organisation exists (from then on the regulator creates
    accounts). Returns the user and a single-use set-password link for the
    operator to hand over (the host shell is trusted with the database anyway)."""
    if Organisation.objects.filter(kind=OrganisationKind.REGULATOR).exists():
        raise Conflict("A regulator already exists; it creates further accounts.", code="regulator_exists")
    username, email = _valid_identity(username, email)
    actor = system_actor("bootstrap_regulator")
    org = Organisation(kind=OrganisationKind.REGULATOR, name=organisation_name, slug=slug)
    try:
        org.full_clean()
    except ValidationError as exc:
        raise InvalidInput("The organisation's details are not valid.", errors=exc.message_dict) from None
    org.save()
    user = User(username=username, email=email, is_active=True)
    user.set_unusable_password()
    user.save()
    membership = Membership(user=user, organisation=org, role=Role.REGULATOR_STAFF, accepted_at=now())
    membership.full_clean(validate_constraints=False)
    membership.save()
    for target, after in (
        (org, snapshot(org)),
        (user, snapshot(user, exclude=_ACCOUNT_FIELDS_HIDDEN)),
        (membership, snapshot(membership)),
    ):
        audit_event_record(
            actor=actor, action=f"{target._meta.model_name}.bootstrap", target=target, after=after, organisations=[org]
        )
    return user, set_password_link(user)
