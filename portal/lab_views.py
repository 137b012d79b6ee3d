"""A lab's pages (the regulator and assigned auditors read the same ones):
model and system versions with their affordances and what those let a
system reach, the write-only endpoint credential, a version's audits,
sign-offs, customers and enrolments; and incidents, which every role that
may report one reports here.

Reads through the API's selectors, writes through its services; see
portal/views.py for the common shape (``act``)."""

from __future__ import annotations

from typing import Any

from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from auditing import selectors as auditing_selectors
from core import selectors as core_selectors
from core.actors import Actor
from core.errors import ApplicationError
from core.models import OrganisationKind, Role
from customers import selectors as customer_selectors
from customers import services as customer_services
from customers.models import EnrolmentStatus
from labs import selectors as labs_selectors
from labs import services as labs_services
from monitoring import selectors as monitoring_selectors
from monitoring import services as monitoring_services
from monitoring.models import UNRESOLVED_INCIDENT_STATUSES
from portal import forms
from portal.views import act, actor_of, portal_view
from standards.models import Stage

# --- model and system versions ----------------------------------------------------


def _writable_labs(actor: Actor) -> list[tuple[str, str]]:
    labs = core_selectors.organisation_list(actor=actor, kind=OrganisationKind.LAB).filter(pk__in=actor.lab_writer_ids)
    return [(str(lab.pk), lab.name) for lab in labs.order_by("name")]


def _model_version_choices(actor: Actor) -> list[tuple[str, str]]:
    mvs = labs_selectors.model_version_list(actor=actor).filter(lab_id__in=actor.lab_writer_ids)
    return [(str(mv.pk), f"{mv.name} {mv.version}") for mv in mvs.order_by("name", "version")]


def _affordance_choices() -> list[tuple[str, str]]:
    return [
        (a["key"], f"{a['name']} — {a['description']}") for a in labs_selectors.affordance_catalogue()["affordances"]
    ]


def _systems_page(
    request: HttpRequest,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    labs = _writable_labs(actor)
    bound = bound or {}
    versions = (
        labs_selectors.system_version_list(actor=actor)
        .select_related("lab", "model_version", "release")
        .order_by("lab__name", "name", "sequence")
    )
    context = {
        "model_versions": list(
            labs_selectors.model_version_list(actor=actor).select_related("lab").order_by("lab__name", "name")
        ),
        "versions": [
            {"sv": sv, "stage": getattr(getattr(sv, "release", None), "stage", Stage.INTERNAL)} for sv in versions
        ],
        "may_register": bool(labs),
        "model_form": bound.get("model_form") or forms.ModelVersionForm(labs=labs, auto_id="model_%s"),
        "system_form": bound.get("system_form") or _system_form(actor),
        "error": error,
    }
    return render(request, "portal/systems.html", context, status=status)


def _system_form(actor: Actor, data: Any = None) -> forms.SystemVersionForm:
    return forms.SystemVersionForm(
        data,
        model_versions=_model_version_choices(actor),
        affordances=_affordance_choices(),
        auto_id="system_%s",
    )


@portal_view
@require_GET
def systems(request: HttpRequest) -> HttpResponse:
    return _systems_page(request)


@portal_view
@require_POST
def model_version_create(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    form = forms.ModelVersionForm(request.POST, labs=_writable_labs(actor), auto_id="model_%s")

    def do(data: dict[str, Any]) -> str:
        lab = core_selectors.organisation_get(actor=actor, pk=data.pop("lab"))
        mv = labs_services.model_version_create(actor=actor, lab=lab, **data)
        return f"Model version {mv.name} {mv.version} is registered."

    def page(**kw: Any) -> HttpResponse:
        return _systems_page(request, **kw)

    return act(request, form=form, form_name="model_form", page=page, do=do, success="portal:systems")


@portal_view
@require_POST
def system_version_create(request: HttpRequest) -> HttpResponse:
    """Register a new system's first version, with its affordances and,
    optionally, the endpoint credential (write-only)."""
    actor = actor_of(request)
    form = _system_form(actor, request.POST)

    def do(data: dict[str, Any]) -> tuple[str, str]:
        mv = labs_selectors.model_version_get(actor=actor, pk=data["model_version"])
        sv = labs_services.system_version_create(actor=actor, lab=mv.lab, model_version=mv, **form.service_arguments())
        return f"{sv} is registered.", reverse("portal:system", args=[sv.pk])

    def page(**kw: Any) -> HttpResponse:
        return _systems_page(request, **kw)

    return act(request, form=form, form_name="system_form", page=page, do=do)


def _consenting_customers(actor: Actor, sv: Any) -> list[tuple[str, str]]:
    consents = customer_selectors.enrolment_consent_list(actor=actor, system_version=sv).filter(
        withdrawn_at__isnull=True
    )
    return [(str(c.customer_id), c.customer.name) for c in consents.select_related("customer").order_by("granted_at")]


def _system_page(
    request: HttpRequest,
    pk: Any,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    sv = labs_selectors.system_version_get(actor=actor, pk=pk)
    bound = bound or {}
    release = getattr(sv, "release", None)
    lineage = labs_selectors.system_version_lineage(actor=actor, system_version=sv)
    is_writer = sv.lab_id in actor.lab_writer_ids
    is_admin = actor.has_role(sv.lab_id, Role.LAB_ADMIN)
    enrolments = list(customer_selectors.enrolment_list(actor=actor, system_version=sv).order_by("-enrolled_at"))
    context = {
        "sv": sv,
        "stage": release.stage if release is not None else Stage.INTERNAL,
        "release": release,
        "affordances": labs_selectors.system_version_affordances(system_version=sv),
        "lineage": lineage,
        "audits": list(auditing_selectors.audit_list(actor=actor).filter(system_version=sv).order_by("-created_at")),
        "signoffs": list(auditing_selectors.signoff_list(actor=actor, system_version_id=sv.pk).order_by("-issued_at")),
        "incidents": list(
            monitoring_selectors.incident_list(actor=actor, system_version_id=sv.pk).order_by("-created_at")
        ),
        "enrolments": enrolments,
        "active": EnrolmentStatus.ACTIVE,
        "places": customer_selectors.enrolment_places(system_version=sv) if release is not None else None,
        "is_writer": is_writer,
        "is_admin": is_admin,
        "credential_form": bound.get("credential_form") or forms.CredentialForm(auto_id="credential_%s"),
        "enrol_form": bound.get("enrol_form")
        or forms.EnrolForm(customers=_consenting_customers(actor, sv), auto_id="enrol_%s"),
        "withdraw_form": bound.get("withdraw_form") or forms.ReasonForm(auto_id="withdraw_%s"),
        "may_revise": is_writer and not lineage["successors"],
        "may_admit": is_admin and release is not None and release.stage == Stage.BROAD,
        "admit_form": bound.get("admit_form") or _admit_form(),
        "revise_form": bound.get("revise_form") or (_revise_form(actor, sv) if is_writer else None),
        "error": error,
    }
    return render(request, "portal/system.html", context, status=status)


def _admit_form(data: Any = None) -> forms.AdmitForm:
    from django.conf import settings

    return forms.AdmitForm(data, max_days=settings.STAGEGATE_GATEWAY_TOKEN_MAX_DAYS, auto_id="admit_%s")


@portal_view
@require_POST
def system_admit(request: HttpRequest, pk: Any) -> HttpResponse:
    """At stage 3 a lab admin admits a person: an offer the holder takes up
    on their tokens page, where the secret is shown to them once."""
    import datetime

    from gateway import selectors as gateway_selectors
    from gateway import services as gateway_services
    from gateway.models import GrantKind

    actor = actor_of(request)
    sv = labs_selectors.system_version_get(actor=actor, pk=pk)
    form = _admit_form(request.POST)

    def do(data: dict[str, Any]) -> str:
        holder = gateway_selectors.holder_by_username(username=data["holder"])
        gateway_services.gateway_token_issue(
            actor=actor,
            kind=GrantKind.LAB_ADMITTED,
            system_version=sv,
            holder=holder,
            name=data["name"],
            expires_at=timezone.now() + datetime.timedelta(days=data["days"]),
        )
        return f"{holder.get_username()} is admitted: they accept the token on their tokens page."

    def page(**kw: Any) -> HttpResponse:
        return _system_page(request, pk, **kw)

    return act(
        request, form=form, form_name="admit_form", page=page, do=do, success=reverse("portal:system", args=[sv.pk])
    )


def _revise_form(actor: Actor, sv: Any, data: Any = None) -> forms.ReviseForm:
    initial = {
        "model_version": str(sv.model_version_id),
        "affordances": [a.key for a in sv.affordances.all()],
        "scaffolding": sv.scaffolding,
        "system_prompt": sv.system_prompt,
        "content_filters": "\n".join(sv.content_filters or []),
        "declared_tools": "\n".join(sv.declared_tools or []),
        "online_learning": sv.online_learning,
        "endpoint_base_url": sv.endpoint_base_url,
        "endpoint_model": sv.endpoint_model,
    }
    return forms.ReviseForm(
        data,
        initial=initial,
        model_versions=_model_version_choices(actor),
        affordances=_affordance_choices(),
        auto_id="revise_%s",
    )


@portal_view
@require_POST
def system_revise(request: HttpRequest, pk: Any) -> HttpResponse:
    """Register the next version of the system (only the latest is revised)."""
    actor = actor_of(request)
    sv = labs_selectors.system_version_get(actor=actor, pk=pk)
    form = _revise_form(actor, sv, request.POST)

    def do(data: dict[str, Any]) -> tuple[str, str]:
        changes = form.service_arguments()
        changes["model_version"] = labs_selectors.model_version_get(actor=actor, pk=data["model_version"])
        summary = changes.pop("change_summary")
        new = labs_services.system_version_revise(actor=actor, system_version=sv, change_summary=summary, **changes)
        return f"{new} is registered: what changed is audited before it advances.", reverse(
            "portal:system", args=[new.pk]
        )

    def page(**kw: Any) -> HttpResponse:
        return _system_page(request, pk, **kw)

    return act(request, form=form, form_name="revise_form", page=page, do=do)


@portal_view
@require_GET
def system_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    return _system_page(request, pk)


@portal_view
@require_POST
def system_credential(request: HttpRequest, pk: Any) -> HttpResponse:
    actor = actor_of(request)
    sv = labs_selectors.system_version_get(actor=actor, pk=pk)

    def do(data: dict[str, Any]) -> str:
        labs_services.system_version_credential_rotate(actor=actor, system_version=sv, credential=data["credential"])
        return "The endpoint credential is replaced. It is stored encrypted and is not shown."

    def page(**kw: Any) -> HttpResponse:
        return _system_page(request, pk, **kw)

    form = forms.CredentialForm(request.POST, auto_id="credential_%s")
    return act(
        request,
        form=form,
        form_name="credential_form",
        page=page,
        do=do,
        success=reverse("portal:system", args=[sv.pk]),
    )


@portal_view
@require_POST
def system_enrol(request: HttpRequest, pk: Any) -> HttpResponse:
    actor = actor_of(request)
    sv = customer_selectors.release_system_version_get(actor=actor, system_version_pk=pk)
    form = forms.EnrolForm(request.POST, customers=_consenting_customers(actor, sv), auto_id="enrol_%s")

    def do(data: dict[str, Any]) -> str:
        enrolment = customer_services.enrolment_create(actor=actor, system_version=sv, customer=data["customer"])
        return f"{enrolment.customer.name} is enrolled: its members may now request gateway tokens."

    def page(**kw: Any) -> HttpResponse:
        return _system_page(request, pk, **kw)

    return act(
        request, form=form, form_name="enrol_form", page=page, do=do, success=reverse("portal:system", args=[sv.pk])
    )


@portal_view
@require_POST
def system_enrolment_withdraw(request: HttpRequest, pk: Any, enrolment_pk: Any) -> HttpResponse:
    actor = actor_of(request)
    sv = customer_selectors.release_system_version_get(actor=actor, system_version_pk=pk)
    enrolment = customer_selectors.enrolment_get(actor=actor, system_version=sv, pk=enrolment_pk)

    def do(data: dict[str, Any]) -> str:
        customer_services.enrolment_withdraw(actor=actor, enrolment=enrolment, reason=data["reason"])
        return f"{enrolment.customer.name} is withdrawn: its gateway tokens stop."

    def page(**kw: Any) -> HttpResponse:
        return _system_page(request, pk, **kw)

    form = forms.ReasonForm(request.POST, auto_id="withdraw_%s")
    return act(
        request, form=form, form_name="withdraw_form", page=page, do=do, success=reverse("portal:system", args=[sv.pk])
    )


# --- incidents --------------------------------------------------------------------


def _incident_form(actor: Actor, data: Any = None) -> forms.IncidentForm:
    from standards.selectors import standard_in_force

    versions = monitoring_selectors.system_versions_reportable(actor=actor).select_related("lab")
    try:
        kinds = [(k.key, k.name) for k in standard_in_force().incident_kinds.order_by("key")]
    except ApplicationError:
        kinds = []
    return forms.IncidentForm(
        data,
        versions=[(str(sv.pk), f"{sv.lab.name} — {sv}") for sv in versions.order_by("lab__name", "name", "sequence")],
        kinds=kinds,
        auto_id="incident_%s",
    )


def _report_page(
    request: HttpRequest,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    form = (bound or {}).get("incident_form") or _incident_form(actor_of(request))
    return render(request, "portal/incident_report.html", {"form": form, "error": error}, status=status)


@portal_view
def incident_report(request: HttpRequest) -> HttpResponse:
    """Any role that may report an incident on a system version (monitoring's
    rule) reports it here: the lab, its auditors, enrolled customers, the
    regulator."""
    if request.method != "POST":
        return _report_page(request)
    actor = actor_of(request)
    form = _incident_form(actor, request.POST)

    def do(data: dict[str, Any]) -> tuple[str, str]:
        sv = monitoring_selectors.system_versions_reportable(actor=actor).filter(pk=data.pop("system_version")).first()
        if sv is None:
            from core.errors import NotFound

            raise NotFound("system version not found")
        incident = monitoring_services.incident_report(actor=actor, system_version=sv, **data)
        return "The incident is reported to the regulator.", reverse("portal:incident", args=[incident.pk])

    def page(**kw: Any) -> HttpResponse:
        return _report_page(request, **kw)

    return act(request, form=form, form_name="incident_form", page=page, do=do)


INCIDENT_ACTIONS = ("lab-report", "confirm", "resolve", "dismiss")


def _incident_page(
    request: HttpRequest,
    pk: Any,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    incident = monitoring_selectors.incident_get(actor=actor, pk=pk)
    sv = incident.system_version
    unresolved = incident.status in UNRESOLVED_INCIDENT_STATUSES
    bound = bound or {}
    context = {
        "incident": incident,
        "sv": sv,
        "overdue": incident.is_overdue(timezone.now()),
        "may_lab_report": unresolved and sv.lab_id in actor.lab_ids and not incident.lab_reported_at,
        "may_decide": unresolved and actor.is_regulator,
        "report_form": bound.get("report_form") or forms.LabReportForm(auto_id="report_%s"),
        "note_form": bound.get("note_form") or forms.NoteForm(auto_id="note_%s"),
        "error": error,
    }
    return render(request, "portal/incident.html", context, status=status)


@portal_view
@require_GET
def incident_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    return _incident_page(request, pk)


@portal_view
@require_POST
def incident_action(request: HttpRequest, pk: Any, action: str) -> HttpResponse:
    actor = actor_of(request)
    incident = monitoring_selectors.incident_get(actor=actor, pk=pk)
    if action not in INCIDENT_ACTIONS:
        from core.errors import NotFound

        raise NotFound("No such action.")
    form: Form
    if action == "lab-report":
        form, form_name = forms.LabReportForm(request.POST, auto_id="report_%s"), "report_form"
    else:
        form, form_name = forms.NoteForm(request.POST, auto_id="note_%s"), "note_form"

    def do(data: dict[str, Any]) -> str:
        if action == "lab-report":
            monitoring_services.incident_lab_report(actor=actor, incident=incident, report=data["report"])
            return "The lab's report is filed."
        if action == "confirm":
            monitoring_services.incident_confirm(actor=actor, incident=incident, note=data["note"])
            return "The incident is confirmed."
        if action == "resolve":
            monitoring_services.incident_resolve(actor=actor, incident=incident, note=data["note"])
            return "The incident is resolved."
        monitoring_services.incident_dismiss(actor=actor, incident=incident, note=data["note"])
        return "The incident is dismissed."

    def page(**kw: Any) -> HttpResponse:
        return _incident_page(request, pk, **kw)

    return act(
        request,
        form=form,
        form_name=form_name,
        page=page,
        do=do,
        success=reverse("portal:incident", args=[incident.pk]),
    )
