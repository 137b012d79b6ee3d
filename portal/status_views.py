"""The service's state for whoever runs it: scripts/run's background steps
on a first run (the evaluation engine's install, the local model, the demo's
walkthrough) as it reports them, and the database. No sign-in: a newcomer
checks it before the first login, and it holds no one's data (the log files
it names are on the machine that runs it).

Also the answer where a page needs the evaluation engine before scripts/run
has installed it: 503 "still installing", not a 500."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.utils import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal import selectors
from portal.views import CSP


@require_GET
def status(request: HttpRequest) -> HttpResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = True
    except DatabaseError:
        database = False
    response = render(
        request,
        "portal/status.html",
        {"model": selectors.local_model_state(), "steps": selectors.setup_steps(), "database": database},
        status=200 if database else 503,
    )
    response["Content-Security-Policy"] = CSP
    response["Cache-Control"] = "no-store"
    return response


# What scripts/run installs after the portal serves (below the background
# line of requirements.txt): a page that imports one of these before then
# says so instead of failing.
ENGINE_MODULES = frozenset({"inspect_ai", "inspect_evals", "matplotlib", "pandas", "pyarrow", "datasets"})


class EngineInstallingMiddleware:
    """A request that needed the evaluation engine while it is not installed
    yet (scripts/run's first start) answers 503 and points to the status page."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response: HttpResponse = self.get_response(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, ModuleNotFoundError):
            return None
        if (exception.name or "").split(".")[0] not in ENGINE_MODULES:
            return None
        detail = (
            "The evaluation engine is still installing (scripts/run installs it in the background on a first "
            "run). Its progress is on /portal/status; try again once it says installed."
        )
        if request.path.startswith("/api/") or request.path.startswith("/gateway/"):
            response: HttpResponse = JsonResponse({"detail": detail, "code": "engine_installing"}, status=503)
        else:
            response = render(request, "portal/error.html", {"failure": {"status": 503, "detail": detail}}, status=503)
        response["Retry-After"] = "60"
        return response
