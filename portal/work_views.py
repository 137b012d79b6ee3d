"""The rest of the auditors', academics' and labs' work: a run's label
reviews resolved, an Inspect log run on one's own machine uploaded, a signed
sign-off (the envelope `stagegate-sign` wrote) submitted and its verdict
shown, an academic summary published after the embargo or withdrawn, a model
version's registration corrected; and a page that gathers where each is done.

Reads through the apps' selectors, writes through their services, as the API."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from auditing import selectors as auditing_selectors
from auditing.models import AuditStatus, SummaryStatus
from auditing.services import register as register_services
from auditing.services import signoffs as signoff_services
from core.errors import ApplicationError, Forbidden
from core.models import OrganisationKind, Role
from core.permissions import require
from evals import reviews, uploads
from evals import selectors as evals_selectors
from evals.models import LabelReview, LabelReviewStatus
from gateway import selectors as gateway_selectors
from labs import selectors as labs_selectors
from labs import services as labs_services
from portal import more_forms
from portal.views import act, actor_of, invalid, portal_view

# --- where the work is -------------------------------------------------------------------


@portal_view
@require_GET
def work(request: HttpRequest) -> HttpResponse:
    """For the signed-in person: runs with label reviews waiting, audits to
    upload logs to or summarise, model versions to correct, and the sign-off
    form."""
    actor = actor_of(request)
    open_reviews = (
        LabelReview.objects.visible_to(actor, "view")
        .filter(status=LabelReviewStatus.OPEN)
        .values_list("run_id", flat=True)
    )
    runs = list(
        evals_selectors.eval_run_list(actor=actor)
        .filter(pk__in=open_reviews)
        .select_related("suite", "audit__system_version")
        .order_by("-created_at")[:100]
    )
    audits = list(
        auditing_selectors.audit_list(actor=actor).select_related("system_version", "lab").order_by("-created_at")[:200]
    )
    is_academic = any(actor.has_role(o, Role.ACADEMIC_AUDITOR) for o in actor.ids_of_kind(OrganisationKind.ACADEMIC))
    context = {
        "runs": runs,
        "audits": audits,
        "open": AuditStatus.OPEN,
        "closed": AuditStatus.CLOSED,
        "is_auditor": bool(actor.auditor_org_ids),
        "is_academic": is_academic,
        "model_versions": list(labs_selectors.model_version_list(actor=actor).order_by("name", "version")[:200])
        if actor.lab_ids or actor.is_regulator
        else [],
        "lab_writer_ids": set(actor.lab_writer_ids),
    }
    return render(request, "portal/more_work.html", context)


# --- a run's label reviews ----------------------------------------------------------------


def _labels_for(review: LabelReview) -> list[str]:
    """The labels the service accepts for this moment, the two disagreeing ones first."""
    allowed = reviews.moment_labels(review.run, review.moment) | {review.rules_label, review.judge_label}
    first = [review.rules_label, review.judge_label]
    return list(dict.fromkeys([*first, *sorted(allowed)]))


def _reviews_page(
    request: HttpRequest,
    pk: Any,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    run = evals_selectors.eval_run_get(actor=actor, pk=pk)
    try:
        reviews.require_may_resolve(actor=actor, run=run)
        may_resolve = True
    except ApplicationError:
        may_resolve = False
    bound = bound or {}
    rows = []
    found = reviews.label_review_list(actor=actor, run=run).select_related("sample", "resolved_by", "run__suite")
    for review in found.order_by("status", "id"):
        form = None
        if may_resolve and review.status == LabelReviewStatus.OPEN:
            form = bound.get(f"resolve_{review.pk}") or more_forms.LabelReviewResolveForm(
                labels=_labels_for(review), auto_id=f"review_{review.pk}_%s"
            )
        rows.append({"review": review, "form": form})
    context = {"run": run, "rows": rows, "may_resolve": may_resolve, "open": LabelReviewStatus.OPEN, "error": error}
    return render(request, "portal/more_reviews.html", context, status=status)


@portal_view
@require_GET
def run_reviews(request: HttpRequest, pk: Any) -> HttpResponse:
    """The moments where the run's judge and the rules disagree (the running
    organisation and the regulator); an assigned auditor of the running
    organisation resolves each with a label and a reason."""
    return _reviews_page(request, pk)


@portal_view
@require_POST
def review_resolve(request: HttpRequest, pk: Any, review_pk: int) -> HttpResponse:
    actor = actor_of(request)
    run = evals_selectors.eval_run_get(actor=actor, pk=pk)
    review = reviews.label_review_get(actor=actor, run=run, pk=review_pk)
    reviews.require_may_resolve(actor=actor, run=run)  # refused before the body is read
    form = more_forms.LabelReviewResolveForm(request.POST, labels=_labels_for(review), auto_id=f"review_{review.pk}_%s")

    def do(data: dict[str, Any]) -> str:
        resolved = reviews.label_review_resolve(actor=actor, review=review, label=data["label"], reason=data["reason"])
        return f"Resolved: {resolved.moment} is labelled {resolved.resolved_label}; the run's results use it."

    return act(
        request,
        form=form,
        form_name=f"resolve_{review.pk}",
        page=lambda **kw: _reviews_page(request, pk, **kw),
        do=do,
        success=reverse("portal_more:run-reviews", args=[run.pk]),
    )


# --- an Inspect log uploaded for an audit ---------------------------------------------------


def _upload_page(
    request: HttpRequest,
    pk: Any,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    audit = auditing_selectors.audit_get(actor=actor, pk=pk)
    uploads.upload_organisation(actor=actor, audit=audit)  # who may, before the form is shown
    bound = bound or {}
    context = {
        "audit": audit,
        "upload_form": bound.get("upload_form") or _upload_form(request, audit),
        "max_bytes": uploads.upload_max_bytes(),
        "note": uploads.UPLOADED_NOTE,
        "error": error,
    }
    return render(request, "portal/more_upload.html", context, status=status)


def _upload_form(request: HttpRequest, audit: Any, *args: Any) -> more_forms.InspectLogUploadForm:
    """The actor's own gateway tokens for this audit, newest first."""
    actor = actor_of(request)
    tokens = (
        gateway_selectors.gateway_token_list(actor=actor)
        .filter(audit=audit, holder=actor.user)
        .order_by("-created_at")[:100]
    )
    choices = [(str(t.pk), f"{t.name} ({t.prefix}…, issued {t.created_at:%Y-%m-%d %H:%M})") for t in tokens]
    return more_forms.InspectLogUploadForm(*args, tokens=choices, auto_id="upload_%s")


@portal_view
@require_GET
def audit_upload(request: HttpRequest, pk: Any) -> HttpResponse:
    return _upload_page(request, pk)


@portal_view
@require_POST
def audit_upload_post(request: HttpRequest, pk: Any) -> HttpResponse:
    """Upload a log; every model call in it must match the gateway's access
    log for the named token. A refusal says why (400 with its code)."""
    actor = actor_of(request)
    audit = auditing_selectors.audit_get(actor=actor, pk=pk)
    uploads.upload_organisation(actor=actor, audit=audit)  # refused before the file is read
    declared = (
        int(request.META.get("CONTENT_LENGTH") or 0) if (request.META.get("CONTENT_LENGTH") or "").isdigit() else 0
    )
    if declared > uploads.upload_max_bytes() + 64 * 1024:
        raise uploads.UploadTooLarge(f"The log is larger than {uploads.upload_max_bytes()} bytes.")
    form = _upload_form(request, audit, request.POST, request.FILES)

    def do(data: dict[str, Any]) -> tuple[str, str]:
        file = data["file"]
        if file.size is not None and file.size > uploads.upload_max_bytes():
            raise uploads.UploadTooLarge(f"The log is larger than {uploads.upload_max_bytes()} bytes.")
        upload = uploads.inspect_log_upload(
            actor=actor, audit=audit, token=data["token"], data=file.read(), filename=file.name or ""
        )
        run_id = upload.run_id
        if run_id:
            return (
                (
                    "The log is accepted: every call matched the gateway's access log. Its samples are re-scored as "
                    "an uploaded, exploratory run."
                ),
                reverse("portal:run", args=[run_id]),
            )
        return "The log is accepted as evidence: every call matched the gateway's access log.", reverse(
            "portal:audit", args=[audit.pk]
        )

    return act(request, form=form, form_name="upload_form", page=lambda **kw: _upload_page(request, pk, **kw), do=do)


# --- a sign-off submitted ------------------------------------------------------------------------


def _signoff_page(
    request: HttpRequest,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    bound = bound or {}
    context = {
        "submit_form": bound.get("submit_form") or more_forms.SignoffSubmitForm(auto_id="signoff_%s"),
        "api": request.build_absolute_uri("/api").rstrip("/"),
        "error": error,
    }
    return render(request, "portal/more_signoff_submit.html", context, status=status)


@portal_view
@require_GET
def signoff_submit(request: HttpRequest) -> HttpResponse:
    """The signer signs on their own machine (`stagegate-sign sign`); here
    they submit the DSSE envelope it wrote, pasted or as its file."""
    return _signoff_page(request)


@portal_view
@require_POST
def signoff_submit_post(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    form = more_forms.SignoffSubmitForm(request.POST, request.FILES, auto_id="signoff_%s")

    def do(data: dict[str, Any]) -> tuple[str, str]:
        signoff = signoff_services.signoff_submit(actor=actor, envelope=data["parsed"])
        return (
            (
                f"Accepted: the signature verifies with key {signoff.key.keyid} and the sign-off is recorded "
                f"({signoff.get_decision_display().lower()}, stage {signoff.stage})."
            ),
            reverse("portal:signoff", args=[signoff.pk]),
        )

    return act(request, form=form, form_name="submit_form", page=lambda **kw: _signoff_page(request, **kw), do=do)


# --- academic summaries ------------------------------------------------------------------------------


def _is_academic(actor: Any) -> bool:
    return any(actor.has_role(o, Role.ACADEMIC_AUDITOR) for o in actor.ids_of_kind(OrganisationKind.ACADEMIC))


def _summaries_page(
    request: HttpRequest,
    pk: Any,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    audit = auditing_selectors.audit_get(actor=actor, pk=pk)
    bound = bound or {}
    rows = []
    for summary in auditing_selectors.summary_list(actor=actor, audit_id=audit.pk).order_by("-published_at"):
        form = None
        if summary.status == SummaryStatus.PUBLISHED and actor.has_role(summary.organisation_id, Role.ACADEMIC_AUDITOR):
            form = bound.get(f"withdraw_{summary.pk}") or more_forms.ReasonForm(auto_id=f"withdraw_{summary.pk}_%s")
        rows.append({"summary": summary, "form": form})
    context = {
        "audit": audit,
        "rows": rows,
        "is_academic": _is_academic(actor),
        "embargo_lifts": register_services.summary_embargo_lifts(audit),
        "publish_form": bound.get("publish_form") or more_forms.SummaryPublishForm(auto_id="summary_%s"),
        "error": error,
    }
    return render(request, "portal/more_summaries.html", context, status=status)


@portal_view
@require_GET
def audit_summaries(request: HttpRequest, pk: Any) -> HttpResponse:
    """An audit's academic summaries; an academic group assigned to it when it
    closed publishes once the embargo has passed (nobody approves it)."""
    return _summaries_page(request, pk)


@portal_view
@require_POST
def summary_publish(request: HttpRequest, pk: Any) -> HttpResponse:
    actor = actor_of(request)
    audit = auditing_selectors.audit_get(actor=actor, pk=pk)
    require(_is_academic(actor), "Only the members of an academic group assigned to the audit publish a summary of it.")
    form = more_forms.SummaryPublishForm(request.POST, auto_id="summary_%s")

    def do(data: dict[str, Any]) -> str:
        register_services.academic_summary_publish(actor=actor, audit=audit, title=data["title"], body=data["body"])
        return "The summary is published and entered in the transparency log."

    return act(
        request,
        form=form,
        form_name="publish_form",
        page=lambda **kw: _summaries_page(request, pk, **kw),
        do=do,
        success=reverse("portal_more:audit-summaries", args=[audit.pk]),
    )


@portal_view
@require_POST
def summary_withdraw(request: HttpRequest, pk: Any) -> HttpResponse:
    actor = actor_of(request)
    summary = auditing_selectors.summary_get(actor=actor, pk=pk)
    form = more_forms.ReasonForm(request.POST, auto_id=f"withdraw_{summary.pk}_%s")

    def do(data: dict[str, Any]) -> str:
        register_services.academic_summary_withdraw(actor=actor, summary=summary, reason=data["reason"])
        return "The summary is withdrawn; it stays on record, as does its log entry."

    return act(
        request,
        form=form,
        form_name=f"withdraw_{summary.pk}",
        page=lambda **kw: _summaries_page(request, summary.audit_id, **kw),
        do=do,
        success=reverse("portal_more:audit-summaries", args=[summary.audit_id]),
    )


# --- a model version corrected ----------------------------------------------------------------------


def _model_version_page(
    request: HttpRequest,
    pk: Any,
    *,
    status: int = 200,
    error: ApplicationError | None = None,
    bound: dict[str, Form] | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    mv = labs_selectors.model_version_get(actor=actor, pk=pk)
    bound = bound or {}
    fields = ("name", "version", "weights_digest", "parameter_count", "training_compute_flop", "notes")
    may_edit = mv.lab_id in actor.lab_writer_ids
    context = {
        "mv": mv,
        "may_edit": may_edit,
        "edit_form": bound.get("edit_form")
        or more_forms.ModelVersionUpdateForm(initial={f: getattr(mv, f) for f in fields}, auto_id="mv_%s"),
        "system_versions": list(mv.system_versions.all().order_by("name", "sequence")[:100]),
        "error": error,
    }
    return render(request, "portal/more_model_version.html", context, status=status)


@portal_view
@require_GET
def model_version(request: HttpRequest, pk: Any) -> HttpResponse:
    return _model_version_page(request, pk)


@portal_view
@require_POST
def model_version_update(request: HttpRequest, pk: Any) -> HttpResponse:
    """A lab admin or engineer corrects the registration, until an audit
    references a system built on it (the service refuses, 409)."""
    actor = actor_of(request)
    mv = labs_selectors.model_version_get(actor=actor, pk=pk)
    if mv.lab_id not in actor.lab_writer_ids:  # refused before the form is read, as the service would
        raise Forbidden("Only the lab's admins and engineers may register or change its versions.")
    form = more_forms.ModelVersionUpdateForm(request.POST, auto_id="mv_%s")
    if not form.is_valid():
        return _model_version_page(request, pk, status=400, error=invalid(form), bound={"edit_form": form})
    changes = form.changes(mv)
    if not changes:
        messages.success(request, "Nothing changed.")
        return redirect("portal_more:model-version", pk=mv.pk)
    try:
        labs_services.model_version_update(actor=actor, model_version=mv, **changes)
    except ApplicationError as exc:
        return _model_version_page(request, pk, status=exc.status, error=exc, bound={"edit_form": form})
    messages.success(request, f"Saved: {', '.join(sorted(changes))}.")
    return redirect("portal_more:model-version", pk=mv.pk)
