"""The service's state for whoever runs it: the local model (building,
starting, ready, failed, off) as scripts/run reports it, and the database.
No sign-in: a newcomer checks it before the first login, and it holds no
one's data (the log files it names are on the machine that runs it)."""

from __future__ import annotations

from django.db import connection
from django.db.utils import DatabaseError
from django.http import HttpRequest, HttpResponse
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
        {"model": selectors.local_model_state(), "database": database},
        status=200 if database else 503,
    )
    response["Content-Security-Policy"] = CSP
    response["Cache-Control"] = "no-store"
    return response
