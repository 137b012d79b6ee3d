"""Inspect's own log viewer for one run, served by Stagegate behind the same
rule as the transcripts (the running organisation and the regulator).

The viewer is the built single-page app that inspect-ai ships in
``inspect_ai/_view/dist`` (no CDN, nothing fetched from the internet); its
files are served from the installed package, never copied into this
repository. Its page is the dist's ``index.html`` with a
``<script id="log_dir_context">`` block, as ``inspect view bundle`` writes
one: that switches the viewer to its static backend, which fetches

- ``<log_dir>/listing.json``: the logs by name, each with Inspect's summary;
- ``<log_dir>/<name>``: a HEAD, then byte ranges of the ``.eval`` zip.

``log_dir`` is ``logs`` under the run's viewer page, answered below from the
run's logs (evals.log_apis: checked against their SHA-256 before any byte is
sent). Every response carries the dist's own Content-Security-Policy
(``content-security-policy.json``: 'self' only, plus the hashes of its inline
scripts) and forbids framing. Logs are shown as untrusted content: the models
under audit wrote them, so the viewer renders them as plain text."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.urls import reverse
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_safe
from drf_spectacular.utils import extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import actor_for
from core.api import actor_of
from core.errors import ApplicationError
from evals.log_apis import eval_log_get, eval_log_list, eval_log_overview, eval_log_response, eval_run_for_logs

# The types of the files the dist holds; anything else there is not served.
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
}
LOG_DIR = "logs"  # relative to the viewer's page: /evals/runs/<id>/viewer/logs


@functools.cache
def dist_dir() -> Path:
    import inspect_ai

    dist = Path(inspect_ai.__file__).parent / "_view" / "dist"
    if not (dist / "index.html").is_file():
        raise RuntimeError(f"inspect-ai's log viewer is not installed at {dist}")
    return dist


@functools.cache
def viewer_version() -> str:
    from inspect_ai import __version__

    return str(__version__)


@functools.cache
def content_security_policy() -> str:
    """The policy the dist declares for itself (its inline scripts by hash,
    everything else from this origin only) and no framing."""
    from inspect_ai._view._csp import read_content_security_policy

    policy = read_content_security_policy(dist_dir())
    if policy is None:
        raise RuntimeError("inspect-ai's log viewer has no content-security-policy.json")
    return f"{policy}; frame-ancestors 'none'"


@functools.cache
def index_html() -> str:
    """The dist's page, its assets taken from this service's versioned asset
    path (the same for every run, so browsers cache them) and the static
    backend's configuration added, as ``inspect view bundle`` adds it."""
    html = (dist_dir() / "index.html").read_text(encoding="utf-8")
    assets = reverse("eval-viewer-asset", args=[viewer_version(), "_"]).removesuffix("_")
    html = html.replace('"./assets/', f'"{assets}')
    context = {"log_dir": LOG_DIR, "inspect_version": viewer_version(), "trust_content": False}
    # JSON inside <script>: "</" must not end the element early.
    data = json.dumps(context).replace("</", "<\\/")
    script = f'<script id="log_dir_context" type="application/json">{data}</script>'
    if html.count("</head>") != 1:
        raise RuntimeError("inspect-ai's viewer index.html has no single </head>")
    return html.replace("</head>", f"  {script}\n  </head>")


def _viewer_headers(response: HttpResponseBase) -> HttpResponseBase:
    response["Content-Security-Policy"] = content_security_policy()
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@login_required
@require_safe
def viewer_index(request: HttpRequest, pk: Any) -> HttpResponseBase:
    try:
        eval_run_for_logs(actor=actor_for(request.user), pk=pk)
    except ApplicationError as exc:
        if exc.status == 403:
            raise PermissionDenied(exc.detail) from None
        raise Http404(exc.detail) from None
    response = HttpResponse(index_html(), content_type="text/html; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    return _viewer_headers(response)


@gzip_page
@require_safe
def viewer_asset(request: HttpRequest, version: str, name: str) -> HttpResponseBase:
    """A file of the viewer's dist. Signed-in users only (the page is theirs);
    the URL names the inspect-ai version, so a browser may keep it for good."""
    if not request.user.is_authenticated:
        raise PermissionDenied
    assets = dist_dir() / "assets"
    path = (assets / name).resolve()
    content_type = CONTENT_TYPES.get(path.suffix)
    if version != viewer_version() or content_type is None or path.parent != assets.resolve() or not path.is_file():
        raise Http404
    response = FileResponse(path.open("rb"), content_type=content_type)
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    return _viewer_headers(response)


class ViewerListingApi(APIView):
    """``listing.json`` of the run's log directory, as ``inspect view bundle``
    writes it: each log's name (relative to the directory) and its summary."""

    renderer_classes = [JSONRenderer]

    @extend_schema(exclude=True)
    def get(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        run = eval_run_for_logs(actor=actor, pk=pk)
        listing = {log.name: eval_log_overview(log=log) for log in eval_log_list(actor=actor, run=run)}
        response = Response(listing, headers={"Cache-Control": "private, no-store"})
        _viewer_headers(response)
        return response


class ViewerLogApi(APIView):
    """One log in the run's log directory, for the viewer: HEAD for its size,
    then the byte ranges of the zip it reads."""

    renderer_classes = [JSONRenderer]

    @extend_schema(exclude=True)
    def get(self, request: Request, pk: Any, name: str) -> HttpResponseBase:
        actor = actor_of(request)
        run = eval_run_for_logs(actor=actor, pk=pk)
        return _viewer_headers(
            eval_log_response(request, eval_log_get(actor=actor, run=run, name=name), attachment=False)
        )
