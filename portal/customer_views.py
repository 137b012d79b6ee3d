"""A customer's pages, and the regulator's side of KYC: the organisation's
KYC record (submitted by its members, verified or rejected by the
regulator), its enrolments and consents, and the systems it may call.
Tokens are issued on the tokens page and incidents reported on the incident
report page, like every role's.

Reads through the API's selectors, writes through its services; see
portal/views.py for the common shape (``act``)."""

from __future__ import annotations

from typing import Any

from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core import selectors as core_selectors
from core.actors import Actor
from core.errors import ApplicationError, NotFound
from core.models import OrganisationKind
from customers import selectors as customer_selectors
from customers import services as customer_services
from customers.models import EnrolmentStatus
from portal import forms
from portal import selectors as portal_selectors
from portal.views import act, actor_of, portal_view

# --- KYC ------------------------------------------------------------------------


@portal_view
@require_GET
def kyc_queue(request: HttpRequest) -> HttpResponse:
    """The regulator's queue (new, resubmitted and due records, oldest
    first); a customer's member goes to its own organisation's record."""
    actor = actor_of(request)
    if not actor.is_regulator:
        customers = sorted(actor.customer_ids, key=str)
        if not customers:
            raise NotFound("No KYC record of yours.")
        from django.shortcuts import redirect

        return redirect("portal:kyc", organisation_pk=customers[0])
    records = customer_selectors.kyc_pending_list(actor=actor, due_within_days=30).select_related("organisation")
    customers_all = core_selectors.organisation_list(actor=actor, kind=OrganisationKind.CUSTOMER).order_by("name")
    return render(request, "portal/kyc_queue.html", {"records": list(records), "customers": list(customers_all)})


def _kyc_page(
    request: HttpRequest,
    organisation_pk: Any,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    organisation = customer_selectors.kyc_customer_get(actor=actor, organisation_pk=organisation_pk)
    try:
        record = customer_selectors.kyc_record_get(actor=actor, organisation=organisation)
    except NotFound:
        record = None
    full = record is not None and customer_selectors.kyc_full_view(actor=actor, record=record)
    bound = bound or {}
    is_member = organisation.pk in actor.customer_ids
    initial: dict[str, Any] = {}
    if record is not None and full and is_member:
        initial = {
            "legal_name": record.legal_name,
            "registration_number": record.registration_number,
            "jurisdiction": record.jurisdiction,
            "registered_address": record.registered_address,
            "stated_purpose": record.stated_purpose,
            "beneficial_owners": "\n".join(
                f"{o.full_name}; {o.country}; {o.ownership_percent}{'; controls' if o.controls else ''}"
                for o in record.owners.current().order_by("full_name")
            ),
        }
    context = {
        "organisation": organisation,
        "record": record,
        "full": full,
        "owners": list(record.owners.current().order_by("full_name")) if record is not None and full else [],
        "is_member": is_member,
        "is_regulator": actor.is_regulator,
        "kyc_form": bound.get("kyc_form") or forms.KycForm(initial=initial, auto_id="kyc_%s"),
        "decision_form": bound.get("decision_form")
        or forms.KycDecisionForm(
            initial={"submission_digest": record.submission_digest if record else ""}, auto_id="decision_%s"
        ),
        "error": error,
    }
    return render(request, "portal/kyc.html", context, status=status)


@portal_view
@require_GET
def kyc(request: HttpRequest, organisation_pk: Any) -> HttpResponse:
    return _kyc_page(request, organisation_pk)


@portal_view
@require_POST
def kyc_submit(request: HttpRequest, organisation_pk: Any) -> HttpResponse:
    actor = actor_of(request)
    organisation = customer_selectors.kyc_customer_get(actor=actor, organisation_pk=organisation_pk)
    form = forms.KycForm(request.POST, auto_id="kyc_%s")

    def do(data: dict[str, Any]) -> str:
        _, created = customer_services.kyc_submit(actor=actor, organisation=organisation, **data)
        return "Submitted: the regulator reviews it." if created else "Resubmitted: the regulator reviews it again."

    def page(**kw: Any) -> HttpResponse:
        return _kyc_page(request, organisation_pk, **kw)

    success = reverse("portal:kyc", args=[organisation.pk])
    return act(request, form=form, form_name="kyc_form", page=page, do=do, success=success)


@portal_view
@require_POST
def kyc_decide(request: HttpRequest, organisation_pk: Any) -> HttpResponse:
    """The regulator verifies (against the submission it read: a
    resubmission since is refused) or rejects the record."""
    actor = actor_of(request)
    organisation = customer_selectors.kyc_customer_get(actor=actor, organisation_pk=organisation_pk)
    form = forms.KycDecisionForm(request.POST, auto_id="decision_%s")

    def do(data: dict[str, Any]) -> str:
        if data["decision"] == "verify":
            customer_services.kyc_verify(
                actor=actor,
                organisation=organisation,
                note=data["note"],
                submission_digest=data["submission_digest"],
            )
            return f"{organisation.name}'s KYC record is verified."
        customer_services.kyc_reject(actor=actor, organisation=organisation, reason=data["note"])
        return f"{organisation.name}'s KYC record is rejected; its enrolments are withdrawn."

    def page(**kw: Any) -> HttpResponse:
        return _kyc_page(request, organisation_pk, **kw)

    success = reverse("portal:kyc", args=[organisation.pk])
    return act(request, form=form, form_name="decision_form", page=page, do=do, success=success)


# --- enrolments, consents and the systems a customer may call ---------------------


def _acting_customer(actor: Actor) -> Any:
    ids = sorted(actor.customer_ids, key=str)
    return ids[0] if ids else None


@portal_view
@require_GET
def enrolments(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    mine = list(customer_selectors.enrolment_list(actor=actor).order_by("-enrolled_at")[:500])
    consents = list(
        customer_selectors.enrolment_consent_list(actor=actor)
        .filter(withdrawn_at__isnull=True)
        .select_related("system_version__lab", "customer")
    )
    consented = {c.system_version_id for c in consents}
    open_ = [sv for sv in portal_selectors.systems_open_for_consent(actor=actor) if sv.pk not in consented]
    context = {
        "enrolments": mine,
        "active": EnrolmentStatus.ACTIVE,
        "consents": consents,
        "open": open_,
        "is_customer": bool(actor.customer_ids),
        "callable": list(portal_selectors.callable_system_versions(actor=actor)) if actor.customer_ids else [],
    }
    return render(request, "portal/enrolments.html", context)


@portal_view
@require_POST
def consent_grant(request: HttpRequest, pk: Any) -> HttpResponse:
    from django.contrib import messages
    from django.shortcuts import redirect

    actor = actor_of(request)
    sv = customer_selectors.consent_system_version_get(actor=actor, system_version_pk=pk)
    try:
        customer_services.enrolment_consent_grant(actor=actor, system_version=sv, customer=_acting_customer(actor))
    except ApplicationError as exc:
        return render(request, "portal/error.html", {"failure": exc}, status=exc.status)
    messages.success(request, f"You consent to enrolment in {sv}: {sv.lab.name} may now enrol you.")
    return redirect("portal:enrolments")


@portal_view
@require_POST
def consent_withdraw(request: HttpRequest, pk: Any) -> HttpResponse:
    from django.contrib import messages
    from django.shortcuts import redirect

    actor = actor_of(request)
    sv = customer_selectors.consent_system_version_get(actor=actor, system_version_pk=pk)
    try:
        customer_services.enrolment_consent_withdraw(actor=actor, system_version=sv, customer=_acting_customer(actor))
    except ApplicationError as exc:
        return render(request, "portal/error.html", {"failure": exc}, status=exc.status)
    messages.success(request, f"Consent withdrawn: any enrolment in {sv} has ended and its tokens stop.")
    return redirect("portal:enrolments")
