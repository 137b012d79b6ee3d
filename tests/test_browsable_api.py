"""Every /api/ GET route, opened in a browser (``Accept: text/html``), as every
role: the browsable API answers, never 5xx.

The JSON answers are pinned by tests/test_permission_matrix.py; this walks the
same routes (read off the URL resolver) through DRF's BrowsableAPIRenderer,
which asks the view's permission classes extra questions (may this user POST
here? then draw the form) that a JSON client never triggers. A permission class
that raised instead of answering False made six list pages 500 for everyone but
the regulator."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework.test import APIClient

from tests.test_permission_matrix import MATRIX, ROLES, UNAUTHENTICATED, Scene, api_routes, build_scene

GET_ROUTES = sorted(route for method, route in api_routes() if method == "GET")


def test_every_get_route_is_walked() -> None:
    # A GET route the matrix does not know has no arguments to fill in: it is
    # walked only when it has none (health), else this fails and asks for a row.
    unknown = [r for r in GET_ROUTES if ("GET", r) not in MATRIX and ("GET", r) not in UNAUTHENTICATED]
    assert not [r for r in unknown if "<" in r], unknown
    assert {"audits", "certifications", "reaudits", "sanctions", "standards", "whistleblower/keys"} <= set(GET_ROUTES)


def _path(scene: Scene, route: str) -> str:
    path = "/api/" + route
    row = MATRIX.get(("GET", route))
    if row is not None:
        for name, value in row.args(scene).items():
            path = re.sub(rf"<\w+:{name}>", str(value), path)
    assert "<" not in path, f"no value for a parameter of {route}"
    return path


@pytest.mark.django_db
def test_no_browsable_api_page_answers_5xx_for_any_role() -> None:
    scene = build_scene()
    failures: list[str] = []
    for role in ROLES:
        user = None if role == "anonymous" else get_user_model().objects.get(pk=getattr(scene.w, role).pk)
        for route in GET_ROUTES:
            with transaction.atomic():
                client = APIClient(REMOTE_ADDR=f"198.51.100.{ROLES.index(role) + 1}")
                client.raise_request_exception = False  # collect every 500, not only the first
                if user is not None:
                    client.force_authenticate(user=user)
                path = _path(scene, route)
                response = client.get(path, HTTP_ACCEPT="text/html")
                transaction.set_rollback(True)
            if response.status_code >= 500:
                failures.append(f"GET {path} as {role}: {response.status_code}")
            elif response.status_code < 400 and response.get("Content-Type", "").startswith("text/html"):
                # A page, not an error: the browsable API drew it (a download or a
                # redirect, e.g. a log file, answers in its own type).
                if b"</html>" not in response.content:
                    failures.append(f"GET {path} as {role}: not a whole page")
    assert not failures, "\n".join(failures)


@pytest.mark.django_db
def test_regulator_only_writes_are_still_403_through_the_api(client_for: Any, world: Any) -> None:
    """RegulatorWrites answers False now; the refusal is the same problem details."""
    response = client_for(world.auditor).post("/api/standards", {}, format="json")
    assert response.status_code == 403
    body = response.json()
    assert (body["status"], body["code"]) == (403, "regulator_only")
    assert response["Content-Type"].startswith("application/problem+json")


@pytest.mark.django_db
def test_a_non_regulator_sees_no_post_form_on_a_regulator_list(client_for: Any, world: Any) -> None:
    page = client_for(world.auditor).get("/api/standards", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert b'id="post-object-form"' not in page.content
    regulator_page = client_for(world.regulator).get("/api/standards", HTTP_ACCEPT="text/html")
    assert regulator_page.status_code == 200
