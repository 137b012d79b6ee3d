"""The regulator's pages beyond the review queue: every release with filters
and search; certification; audits opened, assigned and closed; conflicts of
interest; whistleblower triage; the audit trail. (Key approvals are on the
keys page, KYC on each customer's page, incidents on theirs.)

Reads through the API's selectors, writes through its services: a page a
non-regulator may not use answers as the API would (its selector's or
service's refusal)."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.db.models import Q
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from auditing import selectors as auditing_selectors
from auditing.models import CertificationStatus
from auditing.services import certification as certification_services
from core import selectors as core_selectors
from core.actors import Actor
from core.errors import ApplicationError, NotFound
from core.models import OrganisationKind
from core.permissions import VIEW, require_regulator
from labs import selectors as labs_selectors
from labs.models import SystemVersion
from monitoring import selectors as monitoring_selectors
from monitoring import services as monitoring_services
from monitoring.models import WhistleblowerReportStatus
from portal import forms
from portal.audit_views import audit_page
from portal.views import act, actor_of, portal_view
from releases.models import Release, ReleaseStatus
from standards.models import Stage

AUDITING_KINDS = (OrganisationKind.AUDITOR, OrganisationKind.ACADEMIC)


def _orgs(actor: Actor, *kinds: str) -> list[tuple[str, str]]:
    found = core_selectors.organisation_list(actor=actor).filter(kind__in=kinds).order_by("name")
    return [(str(o.pk), o.name) for o in found]


# --- releases -------------------------------------------------------------------


@portal_view
@require_GET
def releases(request: HttpRequest) -> HttpResponse:
    """Every release the actor may see (the regulator: all), filtered by
    stage, status and lab, and searched by system, lab or model name. A
    version with no release row is at stage 0, active."""
    actor = actor_of(request)
    versions = labs_selectors.system_version_list(actor=actor).select_related("lab", "model_version", "release")
    q = (request.GET.get("q") or "").strip()[:200]
    stage = request.GET.get("stage") or ""
    status = request.GET.get("status") or ""
    lab = request.GET.get("lab") or ""
    if q:
        versions = versions.filter(
            Q(name__icontains=q) | Q(lab__name__icontains=q) | Q(model_version__name__icontains=q)
        )
    if stage in {str(s) for s in Stage.values}:
        versions = (
            versions.filter(Q(release__stage=0) | Q(release__isnull=True))
            if stage == "0"
            else versions.filter(release__stage=int(stage))
        )
    else:
        stage = ""
    if status in ReleaseStatus.values:
        active = status == ReleaseStatus.ACTIVE
        versions = (
            versions.filter(Q(release__status=status) | Q(release__isnull=True))
            if active
            else versions.filter(release__status=status)
        )
    else:
        status = ""
    labs = _orgs(actor, OrganisationKind.LAB)
    if lab in {pk for pk, _ in labs}:
        versions = versions.filter(lab_id=uuid.UUID(lab))
    else:
        lab = ""
    rows = []
    for sv in versions.order_by("lab__name", "name", "sequence")[:500]:
        release: Release | None = getattr(sv, "release", None)
        rows.append(
            {
                "sv": sv,
                "stage": release.stage if release else Stage.INTERNAL,
                "status": release.get_status_display() if release else ReleaseStatus.ACTIVE.label,
                "changed": release.stage_changed_at if release else None,
            }
        )
    context = {
        "rows": rows,
        "q": q,
        "stage": stage,
        "status": status,
        "lab": lab,
        "stages": Stage.choices,
        "statuses": ReleaseStatus.choices,
        "labs": labs,
    }
    return render(request, "portal/releases.html", context)


# --- certification --------------------------------------------------------------


def _certifications_page(
    request: HttpRequest,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    bound = bound or {}
    certifications = auditing_selectors.certification_list(actor=actor).order_by("organisation__name", "-issued_at")
    context = {
        "certifications": list(certifications[:500]),
        "is_regulator": actor.is_regulator,
        "current": (CertificationStatus.ACTIVE, CertificationStatus.SUSPENDED),
        "suspended": CertificationStatus.SUSPENDED,
        "issue_form": bound.get("issue_form")
        or forms.CertificationForm(organisations=_orgs(actor, *AUDITING_KINDS), auto_id="cert_%s"),
        "error": error,
    }
    return render(request, "portal/certifications.html", context, status=status)


@portal_view
@require_GET
def certifications(request: HttpRequest) -> HttpResponse:
    return _certifications_page(request)


@portal_view
@require_POST
def certification_issue(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    form = forms.CertificationForm(request.POST, organisations=_orgs(actor, *AUDITING_KINDS), auto_id="cert_%s")

    def do(data: dict[str, Any]) -> str:
        org = core_selectors.organisation_get(actor=actor, pk=data["organisation"])
        expires = datetime.datetime.combine(data["expires_on"], datetime.time(23, 59), tzinfo=datetime.UTC)
        certification_services.certification_issue(
            actor=actor,
            organisation=org,
            expires_at=expires,
            risk_areas=list(data["risk_areas"]),
            infosec_level=data["infosec_level"],
        )
        return f"{org.name} is certified until {data['expires_on']:%Y-%m-%d}."

    def page(**kw: Any) -> HttpResponse:
        return _certifications_page(request, **kw)

    return act(request, form=form, form_name="issue_form", page=page, do=do, success="portal:certifications")


CERTIFICATION_ACTIONS = {
    "suspend": (certification_services.certification_suspend, "The certification is suspended."),
    "reinstate": (certification_services.certification_reinstate, "The certification is reinstated."),
    "revoke": (certification_services.certification_revoke, "The certification is revoked."),
}


@portal_view
@require_POST
def certification_action(request: HttpRequest, pk: Any, action: str) -> HttpResponse:
    actor = actor_of(request)
    certification = auditing_selectors.certification_get(actor=actor, pk=pk)
    if action not in CERTIFICATION_ACTIONS:
        raise NotFound("No such action.")
    service, message = CERTIFICATION_ACTIONS[action]

    def do(data: dict[str, Any]) -> str:
        service(actor=actor, certification=certification, reason=data["reason"])
        return message

    def page(**kw: Any) -> HttpResponse:
        return _certifications_page(request, **kw)

    form = forms.ReasonForm(request.POST, auto_id="action_%s")
    return act(request, form=form, form_name="action_form", page=page, do=do, success="portal:certifications")


# --- audits: open, assign, close ------------------------------------------------


def audit_open_form(actor: Actor, data: Any = None) -> forms.AuditOpenForm:
    versions = labs_selectors.system_version_list(actor=actor).select_related("lab")
    choices = [(str(sv.pk), f"{sv.lab.name} — {sv}") for sv in versions.order_by("lab__name", "name", "sequence")]
    return forms.AuditOpenForm(data, versions=choices, auto_id="open_%s")


@portal_view
@require_POST
def audit_open(request: HttpRequest) -> HttpResponse:
    from auditing.services.certification import audit_open as open_service
    from portal.audit_views import audits_page

    actor = actor_of(request)
    form = audit_open_form(actor, request.POST)

    def do(data: dict[str, Any]) -> tuple[str, str]:
        sv = labs_selectors.system_version_get(actor=actor, pk=data.pop("system_version"))
        audit = open_service(actor=actor, system_version=sv, **data)
        return f"The audit of {sv} is open: assign its auditors.", reverse("portal:audit", args=[audit.pk])

    def page(**kw: Any) -> HttpResponse:
        return audits_page(request, **kw)

    return act(request, form=form, form_name="open_form", page=page, do=do)


def assign_form(actor: Actor, data: Any = None) -> forms.AssignForm:
    return forms.AssignForm(data, organisations=_orgs(actor, *AUDITING_KINDS), auto_id="assign_%s")


@portal_view
@require_POST
def audit_assign(request: HttpRequest, pk: Any) -> HttpResponse:
    actor = actor_of(request)
    audit = auditing_selectors.audit_get(actor=actor, pk=pk)
    form = assign_form(actor, request.POST)

    def do(data: dict[str, Any]) -> str:
        org = core_selectors.organisation_get(actor=actor, pk=data["organisation"])
        certification_services.audit_assign(
            actor=actor, audit=audit, organisation=org, payout_amount=data["payout_amount"]
        )
        return f"{org.name} is assigned to the audit."

    def page(**kw: Any) -> HttpResponse:
        return audit_page(request, pk, **kw)

    return act(
        request, form=form, form_name="assign_form", page=page, do=do, success=reverse("portal:audit", args=[pk])
    )


@portal_view
@require_POST
def assignment_end(request: HttpRequest, pk: Any, assignment_pk: Any) -> HttpResponse:
    actor = actor_of(request)
    audit = auditing_selectors.audit_get(actor=actor, pk=pk)
    assignment = auditing_selectors.assignment_get(actor=actor, audit=audit, pk=assignment_pk)

    def do(data: dict[str, Any]) -> str:
        certification_services.assignment_end(actor=actor, assignment=assignment, reason=data["reason"])
        return f"{assignment.organisation.name}'s assignment has ended."

    def page(**kw: Any) -> HttpResponse:
        return audit_page(request, pk, **kw)

    form = forms.ReasonForm(request.POST, auto_id="end_%s")
    return act(request, form=form, form_name="end_form", page=page, do=do, success=reverse("portal:audit", args=[pk]))


@portal_view
@require_POST
def audit_close(request: HttpRequest, pk: Any) -> HttpResponse:
    actor = actor_of(request)
    audit = auditing_selectors.audit_get(actor=actor, pk=pk)

    def do(data: dict[str, Any]) -> str:
        closed = certification_services.audit_close(
            actor=actor, audit=audit, status=data["status"], reason=data["reason"]
        )
        return f"The audit is {closed.get_status_display().lower()}."

    def page(**kw: Any) -> HttpResponse:
        return audit_page(request, pk, **kw)

    form = forms.AuditCloseForm(request.POST, auto_id="close_%s")
    return act(request, form=form, form_name="close_form", page=page, do=do, success=reverse("portal:audit", args=[pk]))


# --- conflicts of interest ------------------------------------------------------


def _conflict_form(actor: Actor, data: Any = None) -> forms.ConflictForm:
    if actor.is_regulator:
        organisations = _orgs(actor, *AUDITING_KINDS)
    else:
        organisations = [
            (pk, name) for pk, name in _orgs(actor, *AUDITING_KINDS) if pk in {str(o) for o in actor.auditor_org_ids}
        ]
    return forms.ConflictForm(data, organisations=organisations, labs=_all_labs(), auto_id="conflict_%s")


def _all_labs() -> list[tuple[str, str]]:
    """Labs by name: which labs exist is no secret (the transparency log names
    them), and an auditor must name the lab it is conflicted with."""
    from core.models import Organisation

    return [(str(o.pk), o.name) for o in Organisation.objects.filter(kind=OrganisationKind.LAB).order_by("name")]


def _conflicts_page(
    request: HttpRequest,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    bound = bound or {}
    context = {
        "conflicts": list(auditing_selectors.conflict_list(actor=actor).order_by("-created_at")[:500]),
        "may_declare": actor.is_regulator or bool(actor.auditor_org_ids),
        "declare_form": bound.get("declare_form") or _conflict_form(actor),
        "error": error,
    }
    return render(request, "portal/conflicts.html", context, status=status)


@portal_view
@require_GET
def conflicts(request: HttpRequest) -> HttpResponse:
    return _conflicts_page(request)


@portal_view
@require_POST
def conflict_declare(request: HttpRequest) -> HttpResponse:
    from core.models import Organisation

    actor = actor_of(request)
    form = _conflict_form(actor, request.POST)

    def do(data: dict[str, Any]) -> str:
        org = core_selectors.organisation_get(actor=actor, pk=data["organisation"])
        lab = Organisation.objects.get(pk=data["lab"], kind=OrganisationKind.LAB)  # a choice of _all_labs
        certification_services.conflict_declare(
            actor=actor, organisation=org, lab=lab, kind=data["kind"], reason=data["reason"]
        )
        return f"The conflict of {org.name} with {lab.name} is declared: its assignments on the lab's open audits end."

    def page(**kw: Any) -> HttpResponse:
        return _conflicts_page(request, **kw)

    return act(request, form=form, form_name="declare_form", page=page, do=do, success="portal:conflicts")


@portal_view
@require_POST
def conflict_end(request: HttpRequest, pk: Any) -> HttpResponse:
    actor = actor_of(request)
    conflict = auditing_selectors.conflict_get(actor=actor, pk=pk)

    def do(data: dict[str, Any]) -> str:
        certification_services.conflict_end(actor=actor, conflict=conflict, reason=data["reason"])
        return "The conflict has ended."

    def page(**kw: Any) -> HttpResponse:
        return _conflicts_page(request, **kw)

    form = forms.ReasonForm(request.POST, auto_id="end_%s")
    return act(request, form=form, form_name="end_form", page=page, do=do, success="portal:conflicts")


# --- whistleblower triage -------------------------------------------------------


def _triage_form(actor: Actor, data: Any = None) -> forms.TriageForm:
    from standards.selectors import standard_in_force

    versions = SystemVersion.objects.visible_to(actor, VIEW).select_related("lab")
    try:
        kinds = [(k.key, k.name) for k in standard_in_force().incident_kinds.order_by("key")]
    except ApplicationError:
        kinds = []
    return forms.TriageForm(
        data,
        versions=[(str(sv.pk), f"{sv.lab.name} — {sv}") for sv in versions.order_by("lab__name", "name", "sequence")],
        kinds=kinds,
        auto_id="triage_%s",
    )


def _whistleblower_page(
    request: HttpRequest,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    require_regulator(actor)
    bound = bound or {}
    reports = monitoring_selectors.whistleblower_report_list(actor=actor).select_related("system_version")
    context = {
        "reports": list(reports.order_by("-received_on")[:500]),
        "new": WhistleblowerReportStatus.NEW,
        "triage_form": bound.get("triage_form") or _triage_form(actor),
        "set_aside_form": bound.get("set_aside_form") or forms.ReasonForm(auto_id="aside_%s"),
        "api": request.build_absolute_uri("/api").rstrip("/"),
        "error": error,
    }
    return render(request, "portal/whistleblower.html", context, status=status)


@portal_view
@require_GET
def whistleblower(request: HttpRequest) -> HttpResponse:
    return _whistleblower_page(request)


@portal_view
@require_POST
def whistleblower_triage(request: HttpRequest, pk: Any) -> HttpResponse:
    """The regulator, having opened the report offline (`stagegate-sign
    whistle-decrypt`), records it as an incident."""
    actor = actor_of(request)
    report = monitoring_selectors.whistleblower_report_get(actor=actor, pk=pk)
    form = _triage_form(actor, request.POST)

    def do(data: dict[str, Any]) -> tuple[str, str]:
        sv = labs_selectors.system_version_get(actor=actor, pk=data.pop("system_version"))
        incident = monitoring_services.whistleblower_report_triage(
            actor=actor, report=report, system_version=sv, **data
        )
        return "The report is recorded as an incident.", reverse("portal:incident", args=[incident.pk])

    def page(**kw: Any) -> HttpResponse:
        return _whistleblower_page(request, **kw)

    return act(request, form=form, form_name="triage_form", page=page, do=do)


@portal_view
@require_POST
def whistleblower_set_aside(request: HttpRequest, pk: Any) -> HttpResponse:
    actor = actor_of(request)
    report = monitoring_selectors.whistleblower_report_get(actor=actor, pk=pk)

    def do(data: dict[str, Any]) -> str:
        monitoring_services.whistleblower_report_set_aside(actor=actor, report=report, reason=data["reason"])
        return "The report is set aside."

    def page(**kw: Any) -> HttpResponse:
        return _whistleblower_page(request, **kw)

    form = forms.ReasonForm(request.POST, auto_id="aside_%s")
    return act(request, form=form, form_name="set_aside_form", page=page, do=do, success="portal:whistleblower")


# --- the audit trail --------------------------------------------------------------


@portal_view
@require_GET
def audit_trail(request: HttpRequest) -> HttpResponse:
    """Who did what, newest first: the regulator's whole trail, anyone
    else's the events of their organisations (the API's scope)."""
    actor = actor_of(request)
    action = (request.GET.get("action") or "").strip()[:100]
    target_type = (request.GET.get("target_type") or "").strip()[:100]
    events = core_selectors.audit_event_list(
        actor=actor, action=action or None, target_type=target_type or None
    ).select_related("actor")
    return render(
        request,
        "portal/audit_trail.html",
        {
            "events": list(events.order_by("-occurred_at", "-id")[:200]),
            "action": action,
            "target_type": target_type,
            "now": timezone.now(),
        },
    )
