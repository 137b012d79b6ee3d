"""The public record as pages anyone can read without signing in: releases
at stage 2 and above, the transparency log with search, each entry with its
inclusion proof verified in the browser (transparency/static/transparency/
verify.js, WebCrypto), and consistency between two tree heads.

Pages read through the same public selectors as the public API, are
rate-limited per address, carry a strict Content-Security-Policy (our own
script and style only) and never look at who is signed in."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.errors import ApplicationError, InvalidInput
from public_record import apis as public_apis
from public_record import limits as public_limits
from public_record import releases as public_releases
from transparency import public_selectors
from transparency.witness_log import latest_cosigned_head

View = Callable[..., HttpResponse]


def public_page(view: View) -> View:
    """Rate limit, one error page for application errors, CSP and caching."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            public_limits.rate_take(request)
            response = view(request, *args, **kwargs)
            public_limits.cache(response, public_limits.PAGE)
        except ApplicationError as e:
            response = render(
                request,
                "transparency/public/error.html",
                {"status": e.status, "detail": e.detail, "errors": e.errors},
                status=e.status,
            )
            if isinstance(e, public_limits.RateLimited):
                response["Retry-After"] = str(e.extra.get("retry_after", 60))
            response["Cache-Control"] = "no-store"
        response["Content-Security-Policy"] = public_limits.CSP
        return response

    return wrapped


def _int_param(request: HttpRequest, name: str, *, minimum: int = 0) -> int | None:
    raw = request.GET.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18 or int(raw) < minimum:
        raise InvalidInput(
            f"{name} must be a whole number of at least {minimum}.", errors={name: ["A whole number is required."]}
        )
    return int(raw)


@public_page
def home(request: HttpRequest) -> HttpResponse:
    try:
        sth = public_selectors.tree_head_latest()
    except ApplicationError:
        sth = None
    return render(
        request,
        "transparency/public/home.html",
        {
            "sth": sth,
            "cosigned": latest_cosigned_head(),
            "key": public_apis.key_dict(),
            "recent": public_releases.release_list(page=1).releases[:5],
        },
    )


@public_page
def release_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "")
    stage = _int_param(request, "stage")
    page = public_releases.release_list(q=q, stage=stage, page=_int_param(request, "page", minimum=1) or 1)
    return render(request, "transparency/public/releases.html", {"page": page, "q": q, "stage": stage})


@public_page
def release_detail(request: HttpRequest, system_version: str) -> HttpResponse:
    detail = public_releases.release_get(system_version_id=system_version)
    return render(request, "transparency/public/release.html", {"detail": detail, "r": detail.release})


@public_page
def log(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    subject = request.GET.get("subject", "")
    before = _int_param(request, "before")
    page = public_selectors.entries_search(kind=kind, subject=subject, before=before)
    try:
        sth = public_selectors.tree_head_latest()
    except ApplicationError:
        sth = None
    return render(
        request,
        "transparency/public/log.html",
        {
            "page": page,
            "kind": kind,
            "subject": subject,
            "before": before,
            "sth": sth,
            "prefixes": public_selectors.kind_prefixes(),
        },
    )


@public_page
def entry(request: HttpRequest, index: int) -> HttpResponse:
    inc = public_selectors.inclusion(index=index, tree_size=_int_param(request, "tree_size", minimum=1))
    doc = public_selectors.leaf_document(inc.entry)
    proof = {
        "entry": public_apis.entry_dict(inc.entry),
        "inclusion": public_apis.inclusion_dict(inc),
        "key": public_apis.key_dict(),
    }
    return render(
        request,
        "transparency/public/entry.html",
        {
            "inc": inc,
            "e": inc.entry,
            "sth": inc.tree_head,
            "record": json.dumps(doc.get("record", {}), indent=2, sort_keys=True, ensure_ascii=False),
            "proof": proof,
            "key": proof["key"],
        },
    )


@public_page
def consistency(request: HttpRequest) -> HttpResponse:
    first = _int_param(request, "first", minimum=1)
    second = _int_param(request, "second", minimum=1)
    try:
        latest = public_selectors.tree_head_latest()
    except ApplicationError:
        latest = None
    ctx: dict[str, Any] = {"first": first, "second": second, "latest": latest, "key": public_apis.key_dict()}
    if first is not None and second is not None:
        c = public_selectors.consistency(first=first, second=second)
        ctx["c"] = c
        ctx["proof"] = {"consistency": public_apis.consistency_dict(c), "key": ctx["key"]}
    elif first is not None or second is not None:
        raise InvalidInput("Give both tree sizes.", errors={"first": ["Both are required."]})
    return render(request, "transparency/public/consistency.html", ctx)
