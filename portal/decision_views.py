"""Two people at the regulator (deploy.decisions): the decisions the standard
reserves for two regulator users (a sanction, a risk acceptance, a long halt
that sends a release back) proposed by one and approved, or rejected, by
another; nothing takes effect until a different person approves. The page
lists the proposals and what became of them; reads and writes go through
deploy's selectors and deploy.decisions, like the API."""

from __future__ import annotations

from typing import Any

from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from auditing import selectors as auditing_selectors
from auditing.models import UNRESOLVED_FINDING_STATUSES
from core import selectors as core_selectors
from core.actors import Actor
from core.errors import ApplicationError
from core.models import OrganisationKind
from core.permissions import require_regulator
from deploy import decisions
from deploy import selectors as deploy_selectors
from deploy.models import DecisionStatus
from labs import selectors as labs_selectors
from portal import more_forms
from portal.views import act, actor_of, portal_view


def _propose_form(actor: Actor, data: Any = None) -> more_forms.DecisionProposeForm:
    labs = [(str(o.pk), o.name) for o in core_selectors.organisation_list(actor=actor, kind=OrganisationKind.LAB)]
    versions = [
        (str(sv.pk), f"{sv.lab.name} — {sv}")
        for sv in labs_selectors.system_version_list(actor=actor)
        .select_related("lab")
        .order_by("lab__name", "name", "sequence")[:500]
    ]
    findings = [
        (str(f.pk), f"{f.title} ({f.get_status_display().lower()})")
        for f in auditing_selectors.finding_list(actor=actor)
        .filter(status__in=UNRESOLVED_FINDING_STATUSES)
        .order_by("-created_at")[:500]
    ]
    return more_forms.DecisionProposeForm(
        data, labs=sorted(labs, key=lambda x: x[1]), versions=versions, findings=findings, auto_id="propose_%s"
    )


def _decisions_page(
    request: HttpRequest,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    require_regulator(actor)
    bound = bound or {}
    found = deploy_selectors.regulator_decision_list(actor=actor).select_related("lab", "system_version", "finding")
    rows = []
    for d in found.order_by("-created_at")[:200]:
        form = None
        if d.status == DecisionStatus.PENDING:
            form = bound.get(f"decide_{d.pk}") or more_forms.ReasonForm(auto_id=f"decide_{d.pk}_%s")
        rows.append({"decision": d, "form": form, "own": d.proposed_by_id == actor.user.pk})
    context = {"rows": rows, "propose_form": bound.get("propose_form") or _propose_form(actor), "error": error}
    return render(request, "portal/more_decisions.html", context, status=status)


@portal_view
@require_GET
def regulator_decisions(request: HttpRequest) -> HttpResponse:
    return _decisions_page(request)


@portal_view
@require_POST
def decision_propose(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    require_regulator(actor)
    form = _propose_form(actor, request.POST)

    def do(data: dict[str, Any]) -> str:
        lab = deploy_selectors.lab_for_sanction(actor=actor, pk=data["lab"]) if data["lab"] else None
        sv = (
            deploy_selectors.system_version_for_release(actor=actor, system_version_pk=data["system_version"])
            if data["system_version"]
            else None
        )
        finding = deploy_selectors.finding_for_decision(actor=actor, pk=data["finding"]) if data["finding"] else None
        decision = decisions.regulator_decision_propose(
            actor=actor,
            kind=data["kind"],
            reason=data["reason"],
            lab=lab,
            system_version=sv,
            finding=finding,
            to_stage=data["to_stage"],
        )
        return f"Proposed: the {decision.get_kind_display().lower()} takes effect once another regulator approves it."

    return act(
        request,
        form=form,
        form_name="propose_form",
        page=lambda **kw: _decisions_page(request, **kw),
        do=do,
        success="portal_more:decisions",
    )


DECIDE = {
    "approve": (decisions.regulator_decision_approve, "Approved: the decision is in effect and logged."),
    "reject": (decisions.regulator_decision_reject, "Rejected: the decision never takes effect."),
}


@portal_view
@require_POST
def decision_decide(request: HttpRequest, pk: Any, verb: str) -> HttpResponse:
    actor = actor_of(request)
    decision = deploy_selectors.regulator_decision_get(actor=actor, pk=pk)
    if verb not in DECIDE:
        from core.errors import NotFound

        raise NotFound("No such action.")
    service, message = DECIDE[verb]
    form = more_forms.ReasonForm(request.POST, auto_id=f"decide_{decision.pk}_%s")

    def do(data: dict[str, Any]) -> str:
        service(actor=actor, decision=decision, reason=data["reason"])
        return message

    return act(
        request,
        form=form,
        form_name=f"decide_{decision.pk}",
        page=lambda **kw: _decisions_page(request, **kw),
        do=do,
        success="portal_more:decisions",
    )
