"""Auditors' and academics' pages (the lab and the regulator read the same
ones, with their own forms): audits, evaluation runs with live progress and
results, findings, gateway tokens and signing keys.

Every read starts from the API's selectors (scoped to the actor: what one may
not see is a 404) and every write goes through the API's services; the forms
only parse. See portal/views.py for the common shape (``act``)."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from auditing import selectors as auditing_selectors
from auditing.models import AuditStatus, FindingStatus, SigningKeyStatus
from auditing.services import findings as finding_services
from auditing.services import keys as key_services
from core.actors import Actor
from core.errors import ApplicationError, InvalidInput
from core.models import Role
from evals import selectors as evals_selectors
from evals import services as evals_services
from evals.models import RunStatus
from gateway import selectors as gateway_selectors
from gateway import services as gateway_services
from gateway.models import GrantKind
from labs import selectors as labs_selectors
from portal import forms, presenters
from portal import selectors as portal_selectors
from portal.views import act, actor_of, invalid, portal_view

AUDITOR_ROLES = (Role.AUDITOR, Role.ACADEMIC_AUDITOR)
SAMPLES_SHOWN = 500


def _is_auditor(actor: Actor) -> bool:
    return any(actor.has_role(org, *AUDITOR_ROLES) for org in actor.auditor_org_ids)


def _api_base(request: HttpRequest) -> str:
    return request.build_absolute_uri("/api").rstrip("/")


# --- audits ---------------------------------------------------------------------


def audits_page(
    request: HttpRequest,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    """The audits the actor may see: an auditor's assigned ones, a lab's own,
    the regulator's all; optionally by status. The regulator opens audits here."""
    from portal.regulator_views import audit_open_form

    actor = actor_of(request)
    wanted = request.GET.get("status") or ""
    if wanted not in AuditStatus.values:
        wanted = ""
    found = auditing_selectors.audit_list(actor=actor, status=wanted or None).order_by("-created_at")
    context = {
        "audits": list(found[:500]),
        "status": wanted,
        "statuses": AuditStatus.choices,
        "is_regulator": actor.is_regulator,
        "open_form": (bound or {}).get("open_form") or (audit_open_form(actor) if actor.is_regulator else None),
        "error": error,
    }
    return render(request, "portal/audits.html", context, status=status)


@portal_view
@require_GET
def audits(request: HttpRequest) -> HttpResponse:
    return audits_page(request)


def _run_form(data: Any = None) -> forms.RunStartForm:
    return forms.RunStartForm(data, suites=presenters.suite_choices(), auto_id="run_%s")


def audit_page(
    request: HttpRequest,
    pk: Any,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    audit = auditing_selectors.audit_get(actor=actor, pk=pk)
    sv = audit.system_version
    assignments = list(auditing_selectors.assignment_list(actor=actor, audit=audit).order_by("created_at"))
    mine = [a for a in assignments if a.ended_at is None and actor.has_role(a.organisation_id, *AUDITOR_ROLES)]
    runs = list(
        evals_selectors.eval_run_list(actor=actor, audit_id=audit.pk).select_related("suite").order_by("-created_at")
    )
    release = getattr(sv, "release", None)
    stage = release.stage if release is not None else 0
    sign_stage = min(stage + 1, 3)
    page_forms: dict[str, Form] = {"run_form": _run_form(), "finding_form": forms.FindingForm(auto_id="finding_%s")}
    if actor.is_regulator:
        from portal.regulator_views import assign_form

        page_forms["assign_form"] = assign_form(actor)
        page_forms["close_form"] = forms.AuditCloseForm(auto_id="close_%s")
    page_forms.update(bound or {})
    context = {
        "audit": audit,
        "sv": sv,
        "assignments": assignments,
        "assigned": bool(mine),
        "is_open": audit.status == AuditStatus.OPEN,
        "runs": [{"run": r, "suite": presenters.suite_info(r.suite.name)} for r in runs],
        "findings": list(auditing_selectors.finding_list(actor=actor, audit_id=audit.pk).order_by("-created_at")),
        "is_regulator": actor.is_regulator,
        "stage": stage,
        "sign_stage": sign_stage,
        "sign_commands": [
            (
                decision,
                presenters.sign_command(
                    api=_api_base(request),
                    system_version_id=sv.pk,
                    stage=sign_stage,
                    decision=decision,
                    audit_id=audit.pk,
                ),
            )
            for decision in ("approve", "reject")
        ]
        if mine
        else [],
        "error": error,
        **page_forms,
    }
    return render(request, "portal/audit.html", context, status=status)


@portal_view
@require_GET
def audit_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    return audit_page(request, pk)


@portal_view
@require_POST
def audit_run_start(request: HttpRequest, pk: Any) -> HttpResponse:
    """Start a suite under the protocol or exploratory; then watch it on its page."""
    actor = actor_of(request)
    audit = auditing_selectors.audit_get(actor=actor, pk=pk)
    form = _run_form(request.POST)

    def do(data: dict[str, Any]) -> tuple[str, str]:
        run = evals_services.eval_run_start(actor=actor, audit=audit, **form.service_arguments())
        kind = "under the protocol" if run.under_protocol else "exploratory"
        samples = len(run.conditions) * run.samples_per_condition
        return f"Started {run.suite.name} ({kind}): {samples} samples.", reverse("portal:run", args=[run.pk])

    def page(**kw: Any) -> HttpResponse:
        return audit_page(request, pk, **kw)

    return act(request, form=form, form_name="run_form", page=page, do=do)


@portal_view
@require_POST
def audit_finding_file(request: HttpRequest, pk: Any) -> HttpResponse:
    actor = actor_of(request)
    audit = auditing_selectors.audit_get(actor=actor, pk=pk)

    def do(data: dict[str, Any]) -> tuple[str, str]:
        finding = finding_services.finding_file(actor=actor, audit=audit, **data)
        return f"Finding filed: {finding.title}. The lab is asked to answer it.", reverse(
            "portal:finding", args=[finding.pk]
        )

    def page(**kw: Any) -> HttpResponse:
        return audit_page(request, pk, **kw)

    form = forms.FindingForm(request.POST, auto_id="finding_%s")
    return act(request, form=form, form_name="finding_form", page=page, do=do)


# --- evaluation runs ------------------------------------------------------------


def _run_context(actor: Actor, pk: Any) -> dict[str, Any]:
    run = evals_selectors.eval_run_get(actor=actor, pk=pk)
    progress = evals_selectors.eval_run_progress(run=run)
    total = progress.get("total") or 0
    return {
        "run": run,
        "suite": presenters.suite_info(run.suite.name),
        "progress": progress,
        "percent": int(100 * (progress.get("finished") or 0) / total) if total else 0,
        "running": run.status == RunStatus.RUNNING,
    }


@portal_view
@require_GET
def run_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    actor = actor_of(request)
    context = _run_context(actor, pk)
    run = context["run"]
    context.update(
        {
            "results": presenters.results_display(run.results),
            # Each sample's reference for a finding's evidence (only those who may read transcripts).
            "samples": list(
                evals_selectors.eval_sample_list(actor=actor, run=run)
                .exclude(status="pending")
                .only("id", "condition", "index", "status", "labels", "error")
                .order_by("condition", "index")[:SAMPLES_SHOWN]
            ),
            "may_cancel": context["running"] and (actor.is_regulator or run.organisation_id in actor.auditor_org_ids),
        }
    )
    return render(request, "portal/run.html", context)


@portal_view
@require_GET
def run_progress(request: HttpRequest, pk: Any) -> HttpResponse:
    """The progress box alone, which the run page polls while the run goes."""
    response = render(request, "portal/_run_progress.html", _run_context(actor_of(request), pk))
    response["Cache-Control"] = "no-store"
    return response


@portal_view
@require_POST
def run_cancel(request: HttpRequest, pk: Any) -> HttpResponse:
    actor = actor_of(request)
    run = evals_selectors.eval_run_get(actor=actor, pk=pk)
    try:
        evals_services.eval_run_cancel(actor=actor, run=run)
    except ApplicationError as exc:
        return render(request, "portal/error.html", {"failure": exc}, status=exc.status)
    messages.success(request, "The run is cancelled: samples not yet started will not run.")
    return redirect("portal:run", pk=run.pk)


# --- findings -------------------------------------------------------------------


@portal_view
@require_GET
def findings(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    status = request.GET.get("status") or ""
    if status not in FindingStatus.values:
        status = ""
    found = auditing_selectors.finding_list(actor=actor, status=status or None).select_related(
        "audit__system_version", "audit__lab"
    )
    return render(
        request,
        "portal/findings.html",
        {
            "findings": list(found.order_by("-created_at")[:500]),
            "status": status,
            "statuses": FindingStatus.choices,
        },
    )


def _retest_versions(actor: Actor, finding: Any) -> list[tuple[str, str]]:
    """The finding's version and its successors the actor may see."""
    sv = finding.audit.system_version
    later = labs_selectors.system_version_list(actor=actor, lab_id=sv.lab_id, name=sv.name).filter(
        sequence__gte=sv.sequence
    )
    return [(str(v.pk), str(v)) for v in later.order_by("sequence")]


FINDING_ACTIONS = {
    "respond": ("respond_form", "The lab's answer is recorded."),
    "mitigate": ("mitigate_form", "The mitigation is recorded: the finding awaits the auditor's re-test."),
    "retest": ("retest_form", "The re-test is recorded."),
    "close": ("close_form", "The finding is closed."),
    "accept-risk": ("accept_form", "The risk is accepted."),
}


def _finding_page(
    request: HttpRequest,
    pk: Any,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    finding = auditing_selectors.finding_get(actor=actor, pk=pk)
    audit = finding.audit
    unresolved = finding.status in (FindingStatus.OPEN, FindingStatus.LAB_RESPONDED, FindingStatus.MITIGATED)
    filing = finding.organisation_id in actor.auditor_org_ids and actor.has_role(
        finding.organisation_id, *AUDITOR_ROLES
    )
    is_lab = audit.lab_id in actor.lab_ids
    page_forms: dict[str, Form] = {
        "respond_form": forms.NoteForm(auto_id="respond_%s"),
        "mitigate_form": forms.NoteForm(auto_id="mitigate_%s"),
        "retest_form": forms.RetestForm(versions=_retest_versions(actor, finding), auto_id="retest_%s"),
        "close_form": forms.NoteForm(auto_id="close_%s"),
        "accept_form": forms.NoteForm(auto_id="accept_%s"),
    }
    page_forms.update(bound or {})
    context = {
        "finding": finding,
        "audit": audit,
        "evidence": presenters.finding_evidence_display(finding.evidence),
        "updates": list(finding.updates.select_related("author", "system_version").order_by("created_at")),
        "may_answer": unresolved and is_lab,
        "may_retest": unresolved and filing,
        "may_close": unresolved and (filing or actor.is_regulator),
        "may_accept": unresolved and actor.is_regulator,
        "error": error,
        **page_forms,
    }
    return render(request, "portal/finding.html", context, status=status)


@portal_view
@require_GET
def finding_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    return _finding_page(request, pk)


@portal_view
@require_POST
def finding_action(request: HttpRequest, pk: Any, action: str) -> HttpResponse:
    """The lab answers or reports a mitigation; the filing organisation
    re-tests or closes; the regulator closes or accepts the risk. Who may is
    the service's rule."""
    actor = actor_of(request)
    finding = auditing_selectors.finding_get(actor=actor, pk=pk)
    if action not in FINDING_ACTIONS:
        raise InvalidInput("Unknown action.")
    form_name, done_message = FINDING_ACTIONS[action]
    form: Form
    if action == "retest":
        form = forms.RetestForm(request.POST, versions=_retest_versions(actor, finding), auto_id="retest_%s")
    else:
        form = forms.NoteForm(request.POST, auto_id=f"{form_name.removesuffix('_form')}_%s")

    def do(data: dict[str, Any]) -> str:
        if action == "respond":
            finding_services.finding_respond(actor=actor, finding=finding, note=data["note"])
        elif action == "mitigate":
            finding_services.finding_mitigate(actor=actor, finding=finding, note=data["note"])
        elif action == "retest":
            sv = labs_selectors.system_version_get(actor=actor, pk=data["system_version"])
            finding_services.finding_retest(
                actor=actor, finding=finding, system_version=sv, outcome=data["outcome"], note=data["note"]
            )
        elif action == "close":
            finding_services.finding_close(actor=actor, finding=finding, note=data["note"])
        else:
            finding_services.finding_accept_risk(actor=actor, finding=finding, note=data["note"])
        return done_message

    def page(**kw: Any) -> HttpResponse:
        return _finding_page(request, pk, **kw)

    success = reverse("portal:finding", args=[finding.pk])
    return act(request, form=form, form_name=form_name, page=page, do=do, success=success)


# --- gateway tokens -------------------------------------------------------------


def _token_kind(actor: Actor) -> str | None:
    """The kind of token the actor requests for themselves, by role."""
    if any(actor.has_role(o, Role.AUDITOR) for o in actor.auditor_org_ids):
        return str(GrantKind.AUDITOR)
    if any(actor.has_role(o, Role.ACADEMIC_AUDITOR) for o in actor.auditor_org_ids):
        return str(GrantKind.ACADEMIC)
    if actor.customer_ids:
        return str(GrantKind.CUSTOMER)
    return None


def _token_form(actor: Actor, data: Any = None) -> forms.GatewayTokenForm:
    versions = [(str(sv.pk), f"{sv.lab.name} — {sv}") for sv in portal_selectors.callable_system_versions(actor=actor)]
    open_audits = auditing_selectors.audit_list(actor=actor, status=AuditStatus.OPEN).order_by("-created_at")
    audits_ = [(str(a.pk), f"{a.system_version} ({a.lab.name}), opened {a.created_at:%Y-%m-%d}") for a in open_audits]
    return forms.GatewayTokenForm(
        data,
        versions=versions,
        audits=audits_,
        max_days=settings.STAGEGATE_GATEWAY_TOKEN_MAX_DAYS,
        auto_id="token_%s",
    )


def _tokens_page(
    request: HttpRequest,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
    issued: dict[str, Any] | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    kind = _token_kind(actor)
    tokens = gateway_selectors.gateway_token_list(actor=actor).order_by("-created_at")[:200]
    context = {
        "tokens": list(tokens),
        "user_pk": getattr(actor.user, "pk", None),
        "kind": kind,
        "kind_label": GrantKind(kind).label if kind else "",
        "token_form": (bound or {}).get("token_form") or _token_form(actor),
        "issued": issued,
        "gateway_url": request.build_absolute_uri("/gateway/v1"),
        "now": timezone.now(),
        "error": error,
    }
    response = render(request, "portal/tokens.html", context, status=status)
    if issued:
        response["Cache-Control"] = "no-store"  # the secret is on this page only once
    return response


@portal_view
@require_GET
def tokens(request: HttpRequest) -> HttpResponse:
    return _tokens_page(request)


@portal_view
@require_POST
def token_issue(request: HttpRequest) -> HttpResponse:
    """Issue a token to oneself. The secret is shown on this response only
    (not a redirect: it is never stored, so it cannot be shown again)."""
    actor = actor_of(request)
    form = _token_form(actor, request.POST)
    kind = _token_kind(actor)

    def page(**kw: Any) -> HttpResponse:
        return _tokens_page(request, **kw)

    if not form.is_valid():
        return page(status=400, error=invalid(form), bound={"token_form": form})
    data = form.cleaned_data
    try:
        if kind is None:
            raise InvalidInput(
                "Gateway tokens are for auditors, academics and customers; a lab admits people from its release page.",
                errors={"kind": ["You hold no role that requests gateway tokens for yourself."]},
            )
        sv = gateway_selectors.system_version_for_token(actor=actor, pk=data["system_version"])
        audit = auditing_selectors.audit_get(actor=actor, pk=data["audit"]) if data.get("audit") else None
        token, secret = gateway_services.gateway_token_issue(
            actor=actor,
            kind=kind,
            system_version=sv,
            audit=audit,
            name=data["name"],
            expires_at=timezone.now() + datetime.timedelta(days=data["days"]),
        )
    except ApplicationError as exc:
        return page(status=exc.status, error=exc, bound={"token_form": form})
    return page(status=201, issued={"token": token, "secret": secret, "model": _model_id(sv)})


def _model_id(sv: Any) -> str:
    return gateway_selectors.model_id_of(lab_slug=sv.lab.slug, name=sv.name, sequence=sv.sequence)


@portal_view
@require_POST
def token_accept(request: HttpRequest, pk: Any) -> HttpResponse:
    """The person a lab admitted takes up the token; its secret is shown once."""
    actor = actor_of(request)
    token = gateway_selectors.gateway_token_get(actor=actor, pk=pk)
    try:
        token, secret = gateway_services.gateway_token_accept(actor=actor, token=token)
    except ApplicationError as exc:
        return _tokens_page(request, status=exc.status, error=exc)
    return _tokens_page(request, issued={"token": token, "secret": secret, "model": _model_id(token.system_version)})


@portal_view
@require_POST
def token_revoke(request: HttpRequest, pk: Any) -> HttpResponse:
    actor = actor_of(request)
    token = gateway_selectors.gateway_token_get(actor=actor, pk=pk)
    try:
        gateway_services.gateway_token_revoke(actor=actor, token=token)
    except ApplicationError as exc:
        return _tokens_page(request, status=exc.status, error=exc)
    messages.success(request, f"Token {token.name} is revoked.")
    return redirect("portal:tokens")


# --- signing keys ---------------------------------------------------------------


def _signing_organisations(actor: Actor) -> list[tuple[str, str]]:
    from core import selectors as core_selectors

    signing = {
        org
        for org in actor.organisation_ids
        if actor.has_role(org, Role.AUDITOR, Role.ACADEMIC_AUDITOR, Role.LAB_REVIEWER)
    }
    orgs = core_selectors.organisation_list(actor=actor).filter(pk__in=signing).order_by("name")
    return [(str(o.pk), o.name) for o in orgs]


def _keys_page(
    request: HttpRequest,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    organisations = _signing_organisations(actor)
    keys = auditing_selectors.signing_key_list(actor=actor).order_by("-created_at")[:500]
    context = {
        "keys": list(keys),
        "may_register": bool(organisations),
        "key_form": (bound or {}).get("key_form")
        or forms.SigningKeyForm(organisations=organisations, auto_id="key_%s"),
        "is_regulator": actor.is_regulator,
        "revoke_form": (bound or {}).get("revoke_form") or forms.ReasonForm(auto_id="revoke_%s"),
        "api": _api_base(request),
        "pending": SigningKeyStatus.PENDING,
        "active": SigningKeyStatus.ACTIVE,
        "error": error,
    }
    return render(request, "portal/keys.html", context, status=status)


@portal_view
@require_GET
def keys(request: HttpRequest) -> HttpResponse:
    return _keys_page(request)


@portal_view
@require_POST
def key_register(request: HttpRequest) -> HttpResponse:
    from core import selectors as core_selectors

    actor = actor_of(request)
    form = forms.SigningKeyForm(request.POST, organisations=_signing_organisations(actor), auto_id="key_%s")

    def do(data: dict[str, Any]) -> str:
        org = core_selectors.organisation_get(actor=actor, pk=data["organisation"]) if data["organisation"] else None
        key = key_services.signing_key_register(actor=actor, public_key_pem_text=data["public_key"], organisation=org)
        return f"Key {key.keyid} is registered and waits for the regulator's approval."

    def page(**kw: Any) -> HttpResponse:
        return _keys_page(request, **kw)

    return act(request, form=form, form_name="key_form", page=page, do=do, success="portal:keys")


@portal_view
@require_POST
def key_approve(request: HttpRequest, keyid: str) -> HttpResponse:
    actor = actor_of(request)
    key = auditing_selectors.signing_key_get(actor=actor, keyid=keyid)
    try:
        key_services.signing_key_approve(actor=actor, key=key)
    except ApplicationError as exc:
        return _keys_page(request, status=exc.status, error=exc)
    messages.success(request, f"Key {key.keyid} is approved: its holder can sign.")
    return redirect("portal:keys")


@portal_view
@require_POST
def key_revoke(request: HttpRequest, keyid: str) -> HttpResponse:
    actor = actor_of(request)
    key = auditing_selectors.signing_key_get(actor=actor, keyid=keyid)

    def do(data: dict[str, Any]) -> str:
        key_services.signing_key_revoke(actor=actor, key=key, reason=data["reason"])
        return f"Key {key.keyid} is revoked."

    def page(**kw: Any) -> HttpResponse:
        return _keys_page(request, **kw)

    form = forms.ReasonForm(request.POST, auto_id="revoke_%s")
    return act(request, form=form, form_name="revoke_form", page=page, do=do, success="portal:keys")
