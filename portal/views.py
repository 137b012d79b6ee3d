"""The regulator's portal: server-rendered pages over the same selectors and
services as the API, so every rule, permission, audit event and log entry is
the same whichever way a person comes in.

Every page needs a signed-in user. Objects come from the selectors, scoped to
the actor: one the user may not see is a 404 page. A refused action (an
``ApplicationError``) re-renders its page with the message and the error's
HTTP status (400, 403, 404, 409), never a 500; a successful one redirects
(post/redirect/get) with a confirmation."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from core import selectors as core_selectors
from core.actors import Actor, actor_for
from core.errors import ApplicationError, InvalidInput
from core.login_throttle import seconds_locked
from core.models import OrganisationKind, Role
from deploy import selectors as deploy_selectors
from deploy import services as deploy_services
from deploy.models import GateRequestStatus, ReauditSource, ReleaseStatus, SanctionLevel
from labs import selectors as labs_selectors
from monitoring import selectors as monitoring_selectors
from monitoring.models import UNRESOLVED_INCIDENT_STATUSES
from portal import forms, presenters, selectors
from standards.models import Stage

View = Callable[..., HttpResponse]


class LoginView(auth_views.LoginView):
    """Django's sign-in, saying so (429, Retry-After) when too many attempts
    for the username or from the address have failed (core/login_throttle.py)."""

    template_name = "portal/login.html"
    redirect_authenticated_user = True

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = super().dispatch(request, *args, **kwargs)
        response.setdefault("Content-Security-Policy", CSP)
        return response

    def form_invalid(self, form: Any) -> HttpResponse:
        wait = seconds_locked(self.request, form.data.get("username"))
        if not wait:
            return super().form_invalid(form)
        response = self.render_to_response(self.get_context_data(form=form, locked_minutes=-(-wait // 60)))
        response.status_code = 429
        response["Retry-After"] = str(wait)
        return response


# The portal's pages run only our own script and style, load images only from
# here (the results plot) and fetch only from here (a run's progress).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def portal_view(view: View) -> View:
    """Signed in (else to the login page), and any application error the page
    does not handle itself (a selector's 404, say) shown with its status;
    every page carries the portal's Content-Security-Policy."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
        except ApplicationError as exc:
            response = render(request, "portal/error.html", {"failure": exc}, status=exc.status)
        response.setdefault("Content-Security-Policy", CSP)
        return response

    return login_required(wrapped)


def _actor(request: HttpRequest) -> Actor:
    return actor_for(request.user)


def _invalid(form: Form) -> InvalidInput:
    errors = {field: [str(m) for m in msgs] for field, msgs in form.errors.items()}
    return InvalidInput(f"Please correct: {', '.join(sorted(errors))}.", errors=errors)


# The names the other page modules use.
actor_of = _actor
invalid = _invalid


def act(
    request: HttpRequest,
    *,
    form: Form,
    form_name: str,
    page: Callable[..., HttpResponse],
    do: Callable[[dict[str, Any]], str | tuple[str, str]],
    success: str = "",
) -> HttpResponse:
    """The shape of every portal write: validate ``form``; on success run the
    service through ``do`` (which returns the confirmation) and redirect to
    ``success`` (post/redirect/get; or ``do`` returns the confirmation and
    where to go, for a page of what it made); on bad input (400) or a refusal (the
    error's status) re-render ``page`` with the message and the entered
    values. The services are atomic: a refusal writes nothing."""
    if not form.is_valid():
        return page(status=400, error=_invalid(form), bound={form_name: form})
    try:
        done = do(form.cleaned_data)
    except ApplicationError as exc:
        return page(status=exc.status, error=exc, bound={form_name: form})
    message, target = (done, success) if isinstance(done, str) else done
    messages.success(request, message)
    return redirect(target)


# --- home -----------------------------------------------------------------------


@portal_view
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    context: dict[str, Any] = {"is_regulator": actor.is_regulator}
    if actor.is_regulator:
        context["queue"] = list(selectors.review_queue(actor=actor))
        context["stopped"] = list(selectors.releases_stopped(actor=actor))
        context["reaudits"] = list(selectors.reaudits_open(actor=actor))
    else:
        context["versions"] = selectors.system_versions_with_release(actor=actor)
        context["gate_requests"] = selectors.gate_requests_recent(actor=actor)
        context["is_lab_member"] = bool(actor.lab_ids)
        context.update(selectors.home_work(actor=actor))
    return render(request, "portal/home.html", context)


# --- a release ------------------------------------------------------------------


def _release_page(
    request: HttpRequest,
    actor: Actor,
    system_version_pk: Any,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    refused_checklist: dict[str, Any] | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    release = deploy_selectors.release_get(actor=actor, system_version_pk=system_version_pk)
    sv = release.system_version
    next_stage = release.stage + 1 if release.stage < Stage.BROAD else None
    checklist = refused_checklist
    if checklist is None and next_stage is not None:
        checklist = deploy_services.gate_checklist(system_version=sv, to_stage=next_stage)
    # The suites come with the stage-2 and stage-3 gates: show the next such gate's.
    suite_stage = max(next_stage or Stage.BROAD, Stage.LIMITED)
    suite_checklist = (
        checklist
        if checklist is not None and checklist.get("to_stage") == suite_stage
        else deploy_services.gate_checklist(system_version=sv, to_stage=suite_stage)
    )
    history = list(selectors.gate_request_history(actor=actor, system_version=sv))
    pending = next((g for g in history if g.status == GateRequestStatus.PENDING), None)
    page_forms: dict[str, Form] = {
        "request_form": forms.GateRequestForm(initial={"to_stage": next_stage}, auto_id="request_%s"),
        "halt_form": forms.HaltForm(current_stage=release.stage, auto_id="halt_%s"),
        "resume_form": forms.ReasonForm(auto_id="resume_%s"),
        "reaudit_form": forms.ReasonForm(auto_id="reaudit_%s"),
    }
    page_forms.update(bound or {})
    context = {
        "release": release,
        "sv": sv,
        "lab": sv.lab,
        "stage_label": presenters.stage_label(release.stage),
        "next_stage": next_stage,
        "checklist": presenters.checklist_display(checklist),
        "refused": refused_checklist is not None,
        "changes": presenters.changes_display(suite_checklist.get("changes")),
        "first_version": sv.predecessor_id is None,
        "suite_stage": suite_stage,
        "suites": presenters.suites_display(suite_checklist, sv.pk),
        "history": history,
        "pending": pending,
        "reaudits": list(selectors.reaudits_for(actor=actor, system_version=sv)),
        "is_regulator": actor.is_regulator,
        "is_lab_admin": actor.has_role(sv.lab_id, Role.LAB_ADMIN),
        "sign_commands": [
            (
                decision,
                presenters.sign_command(
                    api=request.build_absolute_uri("/api").rstrip("/"),
                    system_version_id=sv.pk,
                    stage=next_stage,
                    decision=decision,
                ),
            )
            for decision in ("approve", "reject")
        ]
        if next_stage is not None and actor.has_role(sv.lab_id, Role.LAB_REVIEWER)
        else [],
        "is_active": release.status == ReleaseStatus.ACTIVE,
        "is_halted": release.status == ReleaseStatus.HALTED,
        "error": error,
        **page_forms,
    }
    return render(request, "portal/release.html", context, status=status)


@portal_view
@require_GET
def release_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    return _release_page(request, _actor(request), pk)


def _release_action(
    request: HttpRequest,
    pk: Any,
    form_name: str,
    form: Form,
    act: Callable[[Actor, Any, dict[str, Any]], str],
) -> HttpResponse:
    """Validate ``form``, run the service through ``act`` (which returns the
    confirmation), and redirect back; on a refusal, re-render the release page
    with the message, the entered values and the error's status."""
    actor = _actor(request)
    system_version = deploy_selectors.system_version_for_release(actor=actor, system_version_pk=pk)
    if not form.is_valid():
        return _release_page(request, actor, pk, status=400, error=_invalid(form), bound={form_name: form})
    try:
        done = act(actor, system_version, form.cleaned_data)
    except ApplicationError as exc:
        return _release_page(
            request,
            actor,
            pk,
            status=exc.status,
            error=exc,
            refused_checklist=exc.extra.get("checklist"),
            bound={form_name: form},
        )
    messages.success(request, done)
    return redirect("portal:release", pk=system_version.pk)


@portal_view
@require_POST
def release_request(request: HttpRequest, pk: Any) -> HttpResponse:
    """A lab admin asks for the next stage; a refusal shows the checklist that refused it (409)."""

    def act(actor: Actor, sv: Any, data: dict[str, Any]) -> str:
        gate_request = deploy_services.gate_request_create(
            actor=actor, system_version=sv, to_stage=data["to_stage"], note=data["note"]
        )
        return f"Requested stage {gate_request.to_stage}: the request waits for the regulator's review."

    return _release_action(request, pk, "request_form", forms.GateRequestForm(request.POST, auto_id="request_%s"), act)


@portal_view
@require_POST
def release_halt(request: HttpRequest, pk: Any) -> HttpResponse:
    release = deploy_selectors.release_get(actor=_actor(request), system_version_pk=pk)

    def act(actor: Actor, sv: Any, data: dict[str, Any]) -> str:
        halted = deploy_services.release_halt(
            actor=actor, system_version=sv, reason=data["reason"], to_stage=data["to_stage"]
        )
        return f"The release is halted at stage {halted.stage}: every gateway token of this version has stopped."

    form = forms.HaltForm(request.POST, current_stage=release.stage, auto_id="halt_%s")
    return _release_action(request, pk, "halt_form", form, act)


@portal_view
@require_POST
def release_resume(request: HttpRequest, pk: Any) -> HttpResponse:
    def act(actor: Actor, sv: Any, data: dict[str, Any]) -> str:
        resumed = deploy_services.release_resume(actor=actor, system_version=sv, reason=data["reason"])
        return f"The release is active again at stage {resumed.stage}."

    return _release_action(request, pk, "resume_form", forms.ReasonForm(request.POST, auto_id="resume_%s"), act)


@portal_view
@require_POST
def release_reaudit(request: HttpRequest, pk: Any) -> HttpResponse:
    def act(actor: Actor, sv: Any, data: dict[str, Any]) -> str:
        deploy_services.reaudit_open(
            actor=actor, system_version=sv, source=ReauditSource.REGULATOR, reason=data["reason"]
        )
        return "Re-audit required: the version cannot advance until an audit opened after now is closed."

    return _release_action(request, pk, "reaudit_form", forms.ReasonForm(request.POST, auto_id="reaudit_%s"), act)


# --- a gate request ---------------------------------------------------------------


def _gate_request_page(
    request: HttpRequest,
    actor: Actor,
    pk: Any,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    refused_checklist: dict[str, Any] | None = None,
    decision_form: Form | None = None,
) -> HttpResponse:
    gate_request = deploy_selectors.gate_request_get(actor=actor, pk=pk)
    sv = gate_request.system_version
    is_pending = gate_request.status == GateRequestStatus.PENDING
    current = refused_checklist
    if current is None and is_pending:
        current = deploy_services.gate_checklist(system_version=sv, to_stage=gate_request.to_stage)
    context = {
        "gate_request": gate_request,
        "sv": sv,
        "lab": sv.lab,
        "from_label": presenters.stage_label(gate_request.from_stage),
        "to_label": presenters.stage_label(gate_request.to_stage),
        "stored": presenters.checklist_display(gate_request.checklist),
        "current": presenters.checklist_display(current),
        "refused": refused_checklist is not None,
        "decision": presenters.checklist_display(gate_request.decision_checklist),
        "signoffs": [
            {"signoff": s, "verified": presenters.signature_verified(s)}
            for s in gate_request.signoffs.select_related("organisation", "signer", "key").order_by("issued_at")
        ],
        "standing": _standing_signoffs(actor, sv, gate_request.to_stage) if is_pending else [],
        "is_pending": is_pending,
        "is_regulator": actor.is_regulator,
        "is_lab_admin": actor.has_role(sv.lab_id, Role.LAB_ADMIN),
        "decision_form": decision_form or forms.DecisionForm(auto_id="decide_%s"),
        "error": error,
    }
    return render(request, "portal/gate_request.html", context, status=status)


def _standing_signoffs(actor: Actor, sv: Any, stage: int) -> list[dict[str, Any]]:
    """The sign-offs that stand for this version and stage now, each with its
    signature verified in the page and whether it still counts (and why not)."""
    from auditing import selectors as auditing_selectors
    from auditing.services.signoffs import signoff_validity

    found = auditing_selectors.signoff_list(actor=actor, system_version_id=sv.pk, stage=stage, status="active")
    rows = []
    for s in found.order_by("issued_at"):
        valid, why = signoff_validity(signoff=s)
        rows.append(
            {"signoff": s, "verified": presenters.signature_verified(s), "valid": valid, "why": why.replace("_", " ")}
        )
    return rows


@portal_view
@require_GET
def gate_request_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    return _gate_request_page(request, _actor(request), pk)


@portal_view
@require_POST
def gate_request_decide(request: HttpRequest, pk: Any) -> HttpResponse:
    """The regulator approves or rejects with a reason. An approval the
    re-evaluated checklist refuses shows that checklist (409)."""
    actor = _actor(request)
    gate_request = deploy_selectors.gate_request_get(actor=actor, pk=pk)
    form = forms.DecisionForm(request.POST, auto_id="decide_%s")
    if not form.is_valid():
        return _gate_request_page(request, actor, pk, status=400, error=_invalid(form), decision_form=form)
    try:
        decided = deploy_services.gate_request_decide(
            actor=actor,
            gate_request=gate_request,
            decision=form.cleaned_data["decision"],
            reason=form.cleaned_data["reason"],
        )
    except ApplicationError as exc:
        return _gate_request_page(
            request,
            actor,
            pk,
            status=exc.status,
            error=exc,
            refused_checklist=exc.extra.get("checklist"),
            decision_form=form,
        )
    if decided.status == GateRequestStatus.APPROVED:
        messages.success(request, f"Approved: the release is now at stage {decided.to_stage}.")
    else:
        messages.success(request, "Rejected: the release stays where it is.")
    return redirect("portal:gate-request", pk=decided.pk)


@portal_view
@require_POST
def gate_request_withdraw(request: HttpRequest, pk: Any) -> HttpResponse:
    actor = _actor(request)
    gate_request = deploy_selectors.gate_request_get(actor=actor, pk=pk)
    try:
        deploy_services.gate_request_withdraw(actor=actor, gate_request=gate_request)
    except ApplicationError as exc:
        return _gate_request_page(request, actor, pk, status=exc.status, error=exc)
    messages.success(request, "The request is withdrawn.")
    return redirect("portal:gate-request", pk=gate_request.pk)


# --- sanctions ------------------------------------------------------------------


def _sanction_form(actor: Actor, data: Any = None) -> forms.SanctionForm:
    labs = [
        (str(lab.pk), f"{lab.name} (next sanction: {_level_label(deploy_services.sanction_next_level(lab_id=lab.pk))})")
        for lab in core_selectors.organisation_list(actor=actor, kind=OrganisationKind.LAB).order_by("name")
    ]
    versions = [
        (str(sv.pk), f"{sv.lab.name} — {sv}")
        for sv in labs_selectors.system_version_list(actor=actor)
        .select_related("lab")
        .order_by("lab__name", "name", "sequence")
    ]
    return forms.SanctionForm(data, labs=labs, system_versions=versions, auto_id="sanction_%s")


def _level_label(level: str) -> str:
    return str(SanctionLevel(level).label).lower()


def _sanctions_page(
    request: HttpRequest,
    actor: Actor,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    issue_form: Form | None = None,
    lift_forms: dict[str, Form] | None = None,
) -> HttpResponse:
    sanctions = list(
        deploy_selectors.sanction_list(actor=actor).select_related("lab", "system_version", "issued_by", "lifted_by")
    )
    lift_forms = lift_forms or {}
    rows = [
        {
            "sanction": s,
            "lift_form": lift_forms.get(str(s.pk)) or forms.ReasonForm(auto_id=f"lift_{s.pk}_%s"),
        }
        for s in sanctions
    ]
    context = {
        "rows": rows,
        "is_regulator": actor.is_regulator,
        "issue_form": (issue_form or _sanction_form(actor)) if actor.is_regulator else None,
        "window_days": settings.STAGEGATE_SANCTION_WINDOW_DAYS,
        "error": error,
    }
    return render(request, "portal/sanctions.html", context, status=status)


@portal_view
@require_GET
def sanctions(request: HttpRequest) -> HttpResponse:
    return _sanctions_page(request, _actor(request))


@portal_view
@require_POST
def sanction_issue(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    form = _sanction_form(actor, request.POST)
    if not form.is_valid():
        return _sanctions_page(request, actor, status=400, error=_invalid(form), issue_form=form)
    try:
        lab = deploy_selectors.lab_for_sanction(actor=actor, pk=form.cleaned_data["lab"])
        sv_pk = form.cleaned_data["system_version"]
        sv = deploy_selectors.system_version_for_release(actor=actor, system_version_pk=sv_pk) if sv_pk else None
        sanction = deploy_services.sanction_issue(
            actor=actor, lab=lab, reason=form.cleaned_data["reason"], system_version=sv
        )
    except ApplicationError as exc:
        return _sanctions_page(request, actor, status=exc.status, error=exc, issue_form=form)
    messages.success(request, f"{lab.name} is sanctioned: {_level_label(sanction.level)}.")
    return redirect("portal:sanctions")


@portal_view
@require_POST
def sanction_lift(request: HttpRequest, pk: Any) -> HttpResponse:
    actor = _actor(request)
    sanction = deploy_selectors.sanction_get(actor=actor, pk=pk)
    form = forms.ReasonForm(request.POST, auto_id=f"lift_{sanction.pk}_%s")
    if not form.is_valid():
        return _sanctions_page(request, actor, status=400, error=_invalid(form), lift_forms={str(sanction.pk): form})
    try:
        deploy_services.sanction_lift(actor=actor, sanction=sanction, reason=form.cleaned_data["reason"])
    except ApplicationError as exc:
        return _sanctions_page(request, actor, status=exc.status, error=exc, lift_forms={str(sanction.pk): form})
    messages.success(request, "The sanction is lifted.")
    return redirect("portal:sanctions")


# --- incidents ------------------------------------------------------------------


@portal_view
@require_GET
def incidents(request: HttpRequest) -> HttpResponse:
    """Unresolved incidents the actor may see (the regulator: all), those
    whose lab report is overdue first, then the oldest."""
    actor = _actor(request)
    found = monitoring_selectors.incident_list(actor=actor).filter(status__in=UNRESOLVED_INCIDENT_STATUSES)
    now = timezone.now()
    listed = sorted(found.select_related("system_version__lab"), key=lambda i: (not i.is_overdue(now), i.created_at))
    rows = [{"incident": i, "overdue": i.is_overdue(now)} for i in listed]
    return render(request, "portal/incidents.html", {"rows": rows, "is_regulator": actor.is_regulator})
