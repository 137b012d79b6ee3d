"""The API against its own OpenAPI schema (/api/schema/), with schemathesis:
generated requests to every operation as an anonymous caller, a lab admin and
the regulator, in-process through the WSGI app. No response is a 5xx, and every
response conforms: its status code and content type are documented, its body
matches the documented schema (problem+json for errors, nullable fields
declared), and its headers are the documented ones.

Then requests that break the schema (negative mode), as the signed-in callers:
a documented 4xx problem, never a 5xx.

STAGEGATE_FUZZ_EXAMPLES sets the examples per operation and caller (default 4,
half as many negative ones: about 1,800 and 600 requests, 90 s of CPU); CI runs
the default."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from core.actors import actor_for
from core.services import api_token_create
from tests.factories import World
from tests.gateway.conftest import build

EXAMPLES = int(os.environ.get("STAGEGATE_FUZZ_EXAMPLES", "4"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@dataclass
class Caller:
    name: str
    headers: dict[str, str]


def callers(w: World) -> list[Caller]:
    _, regulator = api_token_create(actor=actor_for(w.regulator), name="fuzz")
    _, lab = api_token_create(actor=actor_for(w.lab_admin), name="fuzz")
    return [
        Caller("anonymous", {}),
        Caller("lab_admin", {"Authorization": f"Bearer {lab}"}),
        Caller("regulator", {"Authorization": f"Bearer {regulator}"}),
    ]


def fuzz(
    operation: Any,
    caller: Caller,
    failures: list[str],
    seen: Counter[tuple[str, int]],
    mode: GenerationMode = GenerationMode.POSITIVE,
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES if mode == GenerationMode.POSITIVE else max(1, EXAMPLES // 2),
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def one(case: Any) -> None:
        response = case.call(headers=caller.headers)
        seen[caller.name, response.status_code // 100] += 1
        case.validate_response(response, checks=CHECKS, headers=caller.headers)

    try:
        one()
    except Unsatisfiable:
        if mode == GenerationMode.POSITIVE:
            raise
        # Nothing about the request can be wrong: no parameters, no body, or
        # parameters any string satisfies.
    except (Exception, ExceptionGroup) as exc:  # every failing operation is reported, not only the first
        failures.append(f"{caller.name} {mode.value} {operation.label}: {type(exc).__name__}: {str(exc)[:1500]}")


@pytest.fixture
def in_process() -> Iterator[None]:
    """As Django's test client does: the WSGI handler must not close the test's
    connection (its transaction holds the fixtures) at each request's end."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.django_db
@pytest.mark.usefixtures("in_process")
def test_every_operation_conforms_to_the_schema_for_every_caller(reference_data: Any) -> None:
    # The gateway tests' world: certified auditors, a model and system version,
    # an open audit assigned to an auditor, a release at stage 1 and a gateway
    # token, so that the lists and details answer with real rows (and their
    # nullable fields), not only empty pages.
    w = build(SimpleNamespace(url="http://127.0.0.1:9"), "http://127.0.0.1:9").w
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    results = list(schema.get_all_operations())
    invalid = [r for r in results if not isinstance(r, Ok)]
    assert not invalid, invalid  # an operation schemathesis cannot read is a schema bug
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    assert len(operations) > 50  # the whole API, not an empty schema
    failures: list[str] = []
    seen: Counter[tuple[str, int]] = Counter()
    for caller in callers(w):
        for operation in operations:
            fuzz(operation, caller, failures, seen)
    # The tokens worked: the signed-in callers got answers, not only refusals.
    assert seen["lab_admin", 2] >= 20 and seen["regulator", 2] >= 20, seen
    assert not failures, f"{len(failures)} failing (caller, operation):\n\n" + "\n\n".join(failures)


@pytest.mark.usefixtures("in_process")
def test_invalid_requests_are_refused_with_a_documented_problem(reference_data: Any) -> None:
    """Requests that break the schema (wrong types, missing fields, values out
    of range) as the signed-in callers: a documented 4xx problem, never a 5xx."""
    w = build(SimpleNamespace(url="http://127.0.0.1:9"), "http://127.0.0.1:9").w
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    operations = [r.ok() for r in schema.get_all_operations() if isinstance(r, Ok)]
    failures: list[str] = []
    seen: Counter[tuple[str, int]] = Counter()
    for caller in callers(w)[1:]:
        for operation in operations:
            fuzz(operation, caller, failures, seen, GenerationMode.NEGATIVE)
    assert seen["regulator", 4] >= 20, seen
    assert not failures, f"{len(failures)} failing (caller, operation):\n\n" + "\n\n".join(failures)


@pytest.mark.parametrize("path", ["/api/no-such-thing", "/api/log/entries/-1", "/api/eval-runs/not-a-uuid"])
def test_a_route_the_api_does_not_have_is_a_json_problem(client: Any, path: str) -> None:
    """An unknown route, or an id its pattern refuses, under /api/: a problem
    document like every other API error, not Django's HTML page."""
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


def test_the_not_found_handler_answers_a_problem_under_the_api_only(rf: Any) -> None:
    """core.api.not_found itself: Django's page outside /api/."""
    from django.http import Http404

    from core.api import not_found

    api = not_found(rf.get("/api/no-such-thing"), Http404())
    assert (api.status_code, api["Content-Type"]) == (404, "application/problem+json")
    assert b'"code": "not_found"' in api.content or b'"code":"not_found"' in api.content
    page = not_found(rf.get("/portal/no-such-page"), Http404())
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")


def test_a_server_failure_under_the_api_is_a_problem_that_tells_nothing(rf: Any) -> None:
    from core.api import server_error

    api = server_error(rf.get("/api/audits"))
    assert (api.status_code, api["Content-Type"]) == (500, "application/problem+json")
    assert json.loads(api.content) == {
        "type": "urn:stagegate:problem:server_error",
        "title": "Error",
        "status": 500,
        "detail": "The server failed; the failure is logged.",
        "code": "server_error",
    }
    page = server_error(rf.get("/portal/"))
    assert page.status_code == 500
    assert page["Content-Type"].startswith("text/html")
