"""The office side of the portal: people and organisations (accounts,
memberships and invitations, one's own API tokens), the regulator's register
of relationships, standards, fees and the whistleblower sealing key.

Reads through the apps' selectors, writes through their services, each write
in the one shape of ``views.act``: a page a role may not use answers with the
service's refusal (403, or 404 for what the actor may not see) and writes
nothing."""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model, logout
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from auditing import selectors as auditing_selectors
from auditing.services import certification as certification_services
from auditing.services import register as register_services
from core import accounts
from core import selectors as core_selectors
from core import services as core_services
from core.actors import Actor
from core.errors import ApplicationError, InvalidInput, NotFound
from core.models import ROLES_BY_KIND, Organisation, OrganisationKind, Role
from core.permissions import require, require_regulator
from monitoring import selectors as monitoring_selectors
from monitoring import services as monitoring_services
from portal import more_forms
from portal.views import act, actor_of, portal_view
from standards import selectors as standards_selectors
from standards import services as standards_services
from standards.models import StandardStatus

User = get_user_model()


def _manages(actor: Actor, org: Organisation) -> bool:
    """Who adds and ends members here (core.services._may_manage_members): the
    regulator anywhere, a lab's admins in their lab."""
    return actor.is_regulator or (org.kind == OrganisationKind.LAB and actor.has_role(org.pk, Role.LAB_ADMIN))


def _role_choices(org: Organisation) -> list[tuple[str, str]]:
    allowed = ROLES_BY_KIND[org.kind]
    return [(value, label) for value, label in Role.choices if value in allowed]


# --- people: organisations ------------------------------------------------------------


def _people_page(
    request: HttpRequest,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    organisations = list(core_selectors.organisation_list(actor=actor).order_by("kind", "name"))
    managed = [o for o in organisations if _manages(actor, o)]
    require(bool(managed), "Only the regulator and lab admins manage people.")
    bound = bound or {}
    context = {
        "organisations": managed,
        "is_regulator": actor.is_regulator,
        "create_form": bound.get("create_form") or more_forms.OrganisationCreateForm(auto_id="org_%s"),
        "error": error,
    }
    return render(request, "portal/more_people.html", context, status=status)


@portal_view
@require_GET
def people(request: HttpRequest) -> HttpResponse:
    """The organisations whose people the actor manages (the regulator: all;
    a lab admin: their lab), and the regulator's form to register one."""
    return _people_page(request)


@portal_view
@require_POST
def organisation_create(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    require_regulator(actor)
    form = more_forms.OrganisationCreateForm(request.POST, auto_id="org_%s")

    def do(data: dict[str, Any]) -> tuple[str, str]:
        org = core_services.organisation_create(actor=actor, **data)
        return f"{org.name} is registered: add its people.", reverse("portal_more:organisation", args=[org.pk])

    return act(request, form=form, form_name="create_form", page=lambda **kw: _people_page(request, **kw), do=do)


# --- one organisation: its details and its people ---------------------------------------


def _organisation_page(
    request: HttpRequest,
    pk: Any,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    org = core_selectors.organisation_get(actor=actor, pk=pk)
    manages = _manages(actor, org)
    require(manages, "Only the regulator and the lab's admins manage its people.")
    bound = bound or {}
    memberships = core_selectors.membership_list(actor=actor, organisation_id=org.pk).order_by(
        "ended_at", "user__username", "role"
    )
    roles = _role_choices(org)
    context = {
        "org": org,
        "memberships": list(memberships[:500]),
        "is_regulator": actor.is_regulator,
        "update_form": bound.get("update_form")
        or more_forms.OrganisationUpdateForm(
            initial={"name": org.name, "country": org.country, "website": org.website}, auto_id="update_%s"
        ),
        "member_form": bound.get("member_form") or more_forms.MembershipAddForm(roles=roles, auto_id="member_%s"),
        "account_form": bound.get("account_form") or more_forms.AccountCreateForm(roles=roles, auto_id="account_%s"),
        "error": error,
    }
    return render(request, "portal/more_organisation.html", context, status=status)


@portal_view
@require_GET
def organisation(request: HttpRequest, pk: Any) -> HttpResponse:
    return _organisation_page(request, pk)


def _org_for_write(request: HttpRequest, pk: Any) -> tuple[Actor, Organisation]:
    actor = actor_of(request)
    return actor, core_selectors.organisation_get(actor=actor, pk=pk)


@portal_view
@require_POST
def organisation_update(request: HttpRequest, pk: Any) -> HttpResponse:
    actor, org = _org_for_write(request, pk)
    form = more_forms.OrganisationUpdateForm(request.POST, auto_id="update_%s")

    def do(data: dict[str, Any]) -> str:
        changes = {k: v for k, v in data.items() if getattr(org, k) != v}
        if not changes:
            return "Nothing changed."
        accounts.organisation_update(actor=actor, organisation=org, **changes)
        return f"Saved: {', '.join(sorted(changes))}."

    return act(
        request,
        form=form,
        form_name="update_form",
        page=lambda **kw: _organisation_page(request, pk, **kw),
        do=do,
        success=reverse("portal_more:organisation", args=[org.pk]),
    )


@portal_view
@require_POST
def account_create(request: HttpRequest, pk: Any) -> HttpResponse:
    """A new person in this organisation: the regulator anywhere, a lab admin
    in their lab (an invitation the person accepts once signed in)."""
    actor, org = _org_for_write(request, pk)
    form = more_forms.AccountCreateForm(request.POST, roles=_role_choices(org), auto_id="account_%s")

    def do(data: dict[str, Any]) -> str:
        user, membership = accounts.account_create(
            actor=actor, username=data["username"], email=data["email"], organisation=org, role=data["role"]
        )
        invited = "" if membership.accepted_at else " They accept the invitation on their account page once signed in."
        return f"{user.get_username()}'s account is made: a link to set a password is emailed to them.{invited}"

    return act(
        request,
        form=form,
        form_name="account_form",
        page=lambda **kw: _organisation_page(request, pk, **kw),
        do=do,
        success=reverse("portal_more:organisation", args=[org.pk]),
    )


@portal_view
@require_POST
def membership_add(request: HttpRequest, pk: Any) -> HttpResponse:
    actor, org = _org_for_write(request, pk)
    form = more_forms.MembershipAddForm(request.POST, roles=_role_choices(org), auto_id="member_%s")

    def do(data: dict[str, Any]) -> str:
        user = User.objects.filter(username=data["username"]).first()
        if user is None:
            raise InvalidInput("No such user.", errors={"username": ["No user with this username."]})
        membership = core_services.membership_create(actor=actor, organisation=org, user=user, role=data["role"])
        if membership.accepted_at is None:
            return f"{user.get_username()} is invited: the role counts once they accept it."
        return f"{user.get_username()} is a member."

    return act(
        request,
        form=form,
        form_name="member_form",
        page=lambda **kw: _organisation_page(request, pk, **kw),
        do=do,
        success=reverse("portal_more:organisation", args=[org.pk]),
    )


@portal_view
@require_POST
def membership_end(request: HttpRequest, pk: Any) -> HttpResponse:
    actor = actor_of(request)
    membership = core_selectors.membership_get(actor=actor, pk=pk)
    org_pk = membership.organisation_id
    try:
        core_services.membership_end(actor=actor, membership=membership)
    except ApplicationError as exc:
        return _organisation_page(request, org_pk, status=exc.status, error=exc)
    messages.success(request, f"{membership.user.get_username()}'s membership has ended.")
    return redirect("portal_more:organisation", pk=org_pk)


ACCOUNT_ACTIONS = {
    "deactivate": (accounts.account_deactivate, "{} is deactivated: they can no longer sign in or call anything."),
    "reactivate": (accounts.account_reactivate, "{} is active again."),
    "password-reset": (accounts.account_password_reset, "A link to set a new password is emailed to {}."),
}


@portal_view
@require_POST
def account_action(request: HttpRequest, org_pk: Any, username: str, action: str) -> HttpResponse:
    """The regulator deactivates, reactivates or sends a password link to a
    person listed on an organisation's page (where it goes back to)."""
    actor = actor_of(request)
    if action not in ACCOUNT_ACTIONS:
        raise NotFound("No such action.")
    require_regulator(actor)
    org = core_selectors.organisation_get(actor=actor, pk=org_pk)
    user = User.objects.filter(username=username, memberships__organisation=org).distinct().first()
    if user is None:
        raise NotFound("No such account here.")
    service, message = ACCOUNT_ACTIONS[action]
    try:
        service(actor=actor, user=user)
    except ApplicationError as exc:
        return _organisation_page(request, org.pk, status=exc.status, error=exc)
    messages.success(request, message.format(user.get_username()))
    return redirect("portal_more:organisation", pk=org.pk)


# --- one's own account: invitations and API tokens -----------------------------------------


def _account_page(
    request: HttpRequest,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
    new_secret: str | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    bound = bound or {}
    own = core_selectors.membership_list(actor=actor).filter(user=actor.user).order_by("ended_at", "-created_at")
    context = {
        "memberships": list(own),
        "tokens": list(core_selectors.api_token_list(actor=actor).order_by("-created_at")[:200]),
        "token_form": bound.get("token_form") or more_forms.ApiTokenForm(auto_id="token_%s"),
        "new_secret": new_secret,
        "api": request.build_absolute_uri("/api").rstrip("/"),
        "error": error,
    }
    response = render(request, "portal/more_account.html", context, status=status)
    if new_secret:
        response["Cache-Control"] = "no-store"
    return response


@portal_view
@require_GET
def account(request: HttpRequest) -> HttpResponse:
    """One's own memberships (accepting an invitation) and API tokens."""
    return _account_page(request)


@portal_view
@require_POST
def membership_accept(request: HttpRequest, pk: Any) -> HttpResponse:
    actor = actor_of(request)
    membership = core_selectors.membership_get(actor=actor, pk=pk)
    try:
        accepted = core_services.membership_accept(actor=actor, membership=membership)
    except ApplicationError as exc:
        return _account_page(request, status=exc.status, error=exc)
    messages.success(request, f"You are now a {accepted.get_role_display().lower()} of {accepted.organisation.name}.")
    return redirect("portal_more:account")


@portal_view
@require_POST
def api_token_create(request: HttpRequest) -> HttpResponse:
    """A personal API token: its secret is on this response only (no-store)."""
    actor = actor_of(request)
    form = more_forms.ApiTokenForm(request.POST, auto_id="token_%s")
    if not form.is_valid():
        from portal.views import invalid

        return _account_page(request, status=400, error=invalid(form), bound={"token_form": form})
    expires_on = form.cleaned_data["expires_on"]
    expires = datetime.datetime.combine(expires_on, datetime.time(23, 59), tzinfo=datetime.UTC) if expires_on else None
    try:
        _, secret = core_services.api_token_create(actor=actor, name=form.cleaned_data["name"], expires_at=expires)
    except ApplicationError as exc:
        return _account_page(request, status=exc.status, error=exc, bound={"token_form": form})
    messages.success(request, "The token is made. Copy its secret now: it is not shown again.")
    return _account_page(request, status=201, new_secret=secret)


@portal_view
@require_POST
def api_token_revoke(request: HttpRequest, pk: Any) -> HttpResponse:
    actor = actor_of(request)
    token = core_selectors.api_token_get(actor=actor, pk=pk)
    try:
        core_services.api_token_revoke(actor=actor, token=token)
    except ApplicationError as exc:
        return _account_page(request, status=exc.status, error=exc)
    messages.success(request, f"The token {token.name} is revoked.")
    return redirect("portal_more:account")


@portal_view
@require_POST
def account_deactivate_own(request: HttpRequest) -> HttpResponse:
    """A person deactivates their own account (the box ticked to confirm):
    it then authenticates nowhere, and only the regulator reactivates it."""
    actor = actor_of(request)
    if request.POST.get("confirm") != "yes":
        error = InvalidInput("Tick the box to confirm.", errors={"confirm": ["This field is required."]})
        return _account_page(request, status=400, error=error)
    try:
        accounts.account_deactivate(actor=actor, user=actor.user)
    except ApplicationError as exc:
        return _account_page(request, status=exc.status, error=exc)
    logout(request)
    return redirect("portal:login")


# --- the relationship register ----------------------------------------------------------


def _org_choices(actor: Actor) -> list[tuple[str, str]]:
    found = core_selectors.organisation_list(actor=actor).order_by("name")
    return [(str(o.pk), f"{o.name} ({o.get_kind_display().lower()})") for o in found]


def _register_page(
    request: HttpRequest,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    bound = bound or {}
    in_force_param = request.GET.get("in_force") or ""
    in_force = {"yes": True, "no": False}.get(in_force_param)
    entries = auditing_selectors.relationship_list(actor=actor, in_force=in_force).order_by("-starts_on", "-created_at")
    context = {
        "entries": list(entries[:500]),
        "in_force": in_force_param if in_force is not None else "",
        "is_regulator": actor.is_regulator,
        "record_form": bound.get("record_form")
        or (
            more_forms.RelationshipForm(organisations=_org_choices(actor), auto_id="rel_%s")
            if actor.is_regulator
            else None
        ),
        "error": error,
    }
    return render(request, "portal/more_register.html", context, status=status)


@portal_view
@require_GET
def register(request: HttpRequest) -> HttpResponse:
    """The register entries the actor may read (the regulator: all), filtered
    by whether they are in force today."""
    return _register_page(request)


@portal_view
@require_POST
def relationship_record(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    require_regulator(actor)
    form = more_forms.RelationshipForm(request.POST, organisations=_org_choices(actor), auto_id="rel_%s")

    def do(data: dict[str, Any]) -> str:
        organisation = core_selectors.organisation_get(actor=actor, pk=data.pop("organisation"))
        counterparty = core_selectors.organisation_get(actor=actor, pk=data.pop("counterparty"))
        register_services.relationship_record(actor=actor, organisation=organisation, counterparty=counterparty, **data)
        return f"The relationship between {organisation.name} and {counterparty.name} is recorded."

    return act(
        request,
        form=form,
        form_name="record_form",
        page=lambda **kw: _register_page(request, **kw),
        do=do,
        success="portal_more:register",
    )


@portal_view
@require_POST
def relationship_end(request: HttpRequest, pk: Any) -> HttpResponse:
    actor = actor_of(request)
    relationship = auditing_selectors.relationship_get(actor=actor, pk=pk)
    form = more_forms.RelationshipEndForm(request.POST, auto_id=f"end_{relationship.pk}_%s")

    def do(data: dict[str, Any]) -> str:
        ended = register_services.relationship_end(actor=actor, relationship=relationship, **data)
        return f"The relationship ends on {ended.ends_on:%Y-%m-%d}: the cooling-off period runs from then."

    return act(
        request,
        form=form,
        form_name="end_form",
        page=lambda **kw: _register_page(request, **kw),
        do=do,
        success="portal_more:register",
    )


# --- standards: drafted and published -------------------------------------------------------


def _requirements_document(standard: Any) -> str:
    """The in-force standard's suites, incident kinds and protocols as the
    JSON the draft form takes: the regulator edits from what holds now."""
    import json

    from standards.apis import StandardOutput

    data = StandardOutput(standard).data
    protocols = [{k: v for k, v in p.items() if k != "digest"} for p in data["protocols"]]
    doc = {"suites": data["suites"], "incident_kinds": data["incident_kinds"], "protocols": protocols}
    return json.dumps(doc, indent=2)


def _standards_page(
    request: HttpRequest,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    bound = bound or {}
    found = list(standards_selectors.standard_list(actor=actor).order_by("-created_at")[:200])
    draft_form = bound.get("draft_form")
    if draft_form is None and actor.is_regulator:
        initial: dict[str, Any] = {}
        current = next((s for s in found if s.status == StandardStatus.IN_FORCE), None)
        if current is not None:
            initial = {name: getattr(current, name) for name, _, _ in more_forms.GATE_FIELDS}
            initial.update(summary=current.summary, requirements=_requirements_document(current))
        draft_form = more_forms.StandardDraftForm(initial=initial, auto_id="draft_%s")
    context = {
        "standards": found,
        "is_regulator": actor.is_regulator,
        "draft": StandardStatus.DRAFT,
        "draft_form": draft_form,
        "error": error,
    }
    return render(request, "portal/more_standards.html", context, status=status)


@portal_view
@require_GET
def standards(request: HttpRequest) -> HttpResponse:
    """Every standard the actor may read (drafts: the regulator only), a
    draft published, a new draft written from the one in force."""
    return _standards_page(request)


@portal_view
@require_POST
def standard_draft(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    require_regulator(actor)  # before the document is parsed
    form = more_forms.StandardDraftForm(request.POST, auto_id="draft_%s")

    def do(data: dict[str, Any]) -> tuple[str, str]:
        standard = standards_services.standard_create(actor=actor, **form.service_arguments())
        return (
            f"The draft {standard.name} {standard.version} is saved: it has no effect until published.",
            reverse("portal:standard", args=[standard.pk]),
        )

    return act(request, form=form, form_name="draft_form", page=lambda **kw: _standards_page(request, **kw), do=do)


@portal_view
@require_POST
def standard_publish(request: HttpRequest, pk: Any) -> HttpResponse:
    actor = actor_of(request)
    standard = standards_selectors.standard_get(actor=actor, pk=pk)
    try:
        published = standards_services.standard_publish(actor=actor, standard=standard)
    except ApplicationError as exc:
        return _standards_page(request, status=exc.status, error=exc)
    messages.success(request, f"{published.name} {published.version} is in force; the one before is superseded.")
    return redirect("portal_more:standards")


# --- fees -------------------------------------------------------------------------------------


@portal_view
@require_GET
def fees(request: HttpRequest) -> HttpResponse:
    """Fees the actor may see (a lab what it pays, an auditor its payouts,
    the regulator all), unpaid first; the regulator records payment."""
    return _fees_page(request)


def _fees_page(request: HttpRequest, *, status: int = 200, error: ApplicationError | None = None) -> HttpResponse:
    actor = actor_of(request)
    found = (
        auditing_selectors.fee_list(actor=actor)
        .select_related("audit__system_version")
        .order_by("-paid_at", "-created_at")
    )
    rows = sorted(found[:500], key=lambda f: f.paid_at is not None)
    context = {"fees": rows, "is_regulator": actor.is_regulator, "error": error}
    return render(request, "portal/more_fees.html", context, status=status)


@portal_view
@require_POST
def fee_paid(request: HttpRequest, pk: Any) -> HttpResponse:
    actor = actor_of(request)
    fee = auditing_selectors.fee_get(actor=actor, pk=pk)
    try:
        certification_services.fee_mark_paid(actor=actor, fee=fee)
    except ApplicationError as exc:
        return _fees_page(request, status=exc.status, error=exc)
    messages.success(request, f"The fee of {fee.amount} {fee.currency} ({fee.organisation.name}) is recorded as paid.")
    return redirect("portal_more:fees")


# --- the whistleblower sealing key -------------------------------------------------------------


def _whistle_keys_page(
    request: HttpRequest,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    require_regulator(actor)
    bound = bound or {}
    context = {
        "keys": list(monitoring_selectors.whistleblower_key_list(actor=actor).order_by("-created_at")[:100]),
        "key_form": bound.get("key_form") or more_forms.WhistleblowerKeyForm(auto_id="wkey_%s"),
        "error": error,
    }
    return render(request, "portal/more_whistle_keys.html", context, status=status)


@portal_view
@require_GET
def whistle_keys(request: HttpRequest) -> HttpResponse:
    return _whistle_keys_page(request)


@portal_view
@require_POST
def whistle_key_register(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    require_regulator(actor)
    form = more_forms.WhistleblowerKeyForm(request.POST, auto_id="wkey_%s")

    def do(data: dict[str, Any]) -> str:
        key = monitoring_services.whistleblower_key_register(actor=actor, public_key=data["public_key"].strip())
        return f"Reports are now sealed to key {key.keyid}; the key before it is retired."

    return act(
        request,
        form=form,
        form_name="key_form",
        page=lambda **kw: _whistle_keys_page(request, **kw),
        do=do,
        success="portal_more:whistle-keys",
    )
