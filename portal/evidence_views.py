"""Evidence pages: what a checklist's evidence links open, for a person to
read rather than JSON. A sign-off with its signature verified here (and the
files and command to verify it again offline), a transparency-log entry with
its inclusion proof checked here, one sample's transcript, a standard, and a
re-audit (a line of its release's page).

Each object comes from its app's selector, scoped to the actor: one the
actor may not see is a 404, as in the API. The API's JSON stays linked from
every page for API clients."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from auditing import selectors as auditing_selectors
from core.canonical import canonical_json
from deploy import selectors as deploy_selectors
from evals import selectors as evals_selectors
from portal import presenters
from portal.views import actor_of, portal_view
from standards import selectors as standards_selectors
from transparency import public_selectors
from transparency.signing import tree_head_verify


def _envelope_file(signoff: Any) -> str:
    return f"signoff-{str(signoff.pk)[:8]}.envelope.json"


def _key_file(signoff: Any) -> str:
    return f"key-{signoff.key.keyid[:16]}.pub.pem"


@portal_view
@require_GET
def signoff_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    """A sign-off as a reader checks it: who signed, with which key, whether
    the signature verifies (checked now, from the envelope as submitted), the
    statement's every field and digest, and how to verify it offline."""
    from auditing.services.signoffs import signoff_validity

    actor = actor_of(request)
    signoff = auditing_selectors.signoff_get(actor=actor, pk=pk)
    key = signoff.key
    check = presenters.signoff_check(
        envelope=signoff.envelope,
        public_key_pem=key.public_key_pem,
        keyid=key.keyid,
        payload_digest=signoff.payload_digest,
        statement=signoff.statement,
    )
    counts, why = signoff_validity(signoff=signoff)
    context = {
        "signoff": signoff,
        "key": key,
        "check": check,
        "counts": counts,
        "why": why.replace("_", " "),
        "fields": presenters.statement_fields(signoff.statement),
        "statement_json": json.dumps(signoff.statement, indent=2, sort_keys=True, ensure_ascii=False),
        "envelope_file": _envelope_file(signoff),
        "key_file": _key_file(signoff),
        "command": presenters.verify_command(envelope_file=_envelope_file(signoff), key_file=_key_file(signoff)),
        "log_url": presenters.log_entry_url(signoff.log_index),
    }
    return render(request, "portal/signoff.html", context)


def _download(body: str | bytes, *, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@portal_view
@require_GET
def signoff_envelope(request: HttpRequest, pk: Any) -> HttpResponse:
    """The DSSE envelope exactly as submitted, as the file the verify command names."""
    signoff = auditing_selectors.signoff_get(actor=actor_of(request), pk=pk)
    return _download(
        json.dumps(signoff.envelope, indent=2, sort_keys=True) + "\n",
        filename=_envelope_file(signoff),
        content_type="application/json",
    )


@portal_view
@require_GET
def signoff_public_key(request: HttpRequest, pk: Any) -> HttpResponse:
    """The signer's registered public key (PEM), as the file the verify command names."""
    signoff = auditing_selectors.signoff_get(actor=actor_of(request), pk=pk)
    return _download(signoff.key.public_key_pem, filename=_key_file(signoff), content_type="application/x-pem-file")


# Log subjects that have a portal page (the page itself decides who may see it).
_SUBJECT_PAGES = {
    "auditing.signoff": "/portal/signoffs/{}",
    "auditing.finding": "/portal/findings/{}",
    "auditing.audit": "/portal/audits/{}",
    "evals.evalrun": "/portal/runs/{}",
    "monitoring.incident": "/portal/incidents/{}",
    "deploy.gaterequest": "/portal/gate-requests/{}",
}


@portal_view
@require_GET
def log_entry(request: HttpRequest, index: int) -> HttpResponse:
    """A transparency-log entry with its inclusion proof in the latest signed
    tree head checked here: the leaf hash recomputed from the leaf's bytes,
    the audit path folded to the head's root, the head's signature verified
    with the log's key. The log is public: the same entry is at /public/log/,
    where the reader's own browser checks the proof again."""
    inc = public_selectors.inclusion(index=index)
    sth = inc.tree_head
    head_ok = tree_head_verify(
        tree_size=sth.tree_size, root_hash=sth.root_hash, timestamp=sth.timestamp, signature=sth.signature
    )
    entry = inc.entry
    check = presenters.inclusion_check(
        leaf=bytes(entry.leaf),
        leaf_hash_hex=entry.leaf_hash,
        index=entry.index,
        tree_size=sth.tree_size,
        audit_path=inc.audit_path,
        root_hash_hex=sth.root_hash,
        head_signature_ok=head_ok,
    )
    doc = public_selectors.leaf_document(entry)
    subject_page = _SUBJECT_PAGES.get(entry.subject_type)
    context = {
        "entry": entry,
        "sth": sth,
        "check": check,
        "path": [h.hex() for h in inc.audit_path],
        "record": presenters.statement_fields(doc.get("record") or {}),
        "subject_url": subject_page.format(entry.subject_id) if subject_page else None,
    }
    return render(request, "portal/log_entry.html", context)


@portal_view
@require_GET
def sample_detail(request: HttpRequest, pk: Any, sample_pk: int) -> HttpResponse:
    """One sample's transcript, labels and grading, for those who may read
    transcripts (the running organisation and the regulator; never the lab),
    with the line a finding's evidence cites for it."""
    actor = actor_of(request)
    run = evals_selectors.eval_run_get(actor=actor, pk=pk)
    sample = evals_selectors.eval_sample_get(actor=actor, run=run, pk=sample_pk)
    reference = f"/api/eval-runs/{run.pk}/samples/{sample.pk}"
    digest = presenters.sha256_hex(canonical_json(sample.transcript))
    context = {
        "run": run,
        "sample": sample,
        "suite": presenters.suite_info(run.suite.name),
        "turns": [
            {"role": str(m.get("role", "")), "content": str(m.get("content", ""))}
            for m in sample.transcript
            if isinstance(m, dict)
        ],
        "labels": sorted((sample.labels or {}).items()),
        "grade": presenters.statement_fields(sample.grade or {}),
        "calls": sample.calls or [],
        "reference": reference,
        "digest": digest,
        "evidence_line": f"eval_sample {reference} {digest}",
    }
    return render(request, "portal/sample.html", context)


@portal_view
@require_GET
def standard_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    """A standard as a reader checks a gate against it: its numbers, the
    suites it requires and the protocol each is run under."""
    standard = standards_selectors.standard_get(actor=actor_of(request), pk=pk)
    requirements = sorted(standard.suite_requirements.all(), key=lambda r: (r.stage, r.suite, r.pk))
    protocols = [(suite, presenters.statement_fields(doc)) for suite, doc in sorted((standard.protocols or {}).items())]
    return render(
        request,
        "portal/standard.html",
        {"standard": standard, "requirements": requirements, "protocols": protocols},
    )


@portal_view
@require_GET
def reaudit_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    """A re-audit is a line of its release's page: go there."""
    reaudit = deploy_selectors.reaudit_get(actor=actor_of(request), pk=pk)
    return redirect(f"/portal/releases/{reaudit.system_version_id}#reaudit-{reaudit.pk}")
