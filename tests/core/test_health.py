"""GET /api/health: 200 when the database and Redis answer, 503 naming the part
that does not, and no credentials needed either way."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import OperationalError
from django.test import override_settings
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from core import health

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.core.health_urls")]


@pytest.fixture
def client() -> APIClient:
    return APIClient()


@pytest.fixture
def refused_redis_url() -> str:
    # A port that was free a moment ago: connecting to it is refused at once.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def silent_redis_url() -> Iterator[str]:
    # Accepts the TCP connection (the kernel's backlog) but never answers PING.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    try:
        yield f"redis://127.0.0.1:{s.getsockname()[1]}/0"
    finally:
        s.close()


def test_healthy_answers_200_without_credentials(client: APIClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_bad_credentials_are_ignored(client: APIClient) -> None:
    # Default authentication would answer 401 to a bad token; health must not.
    response = client.get("/api/health", HTTP_AUTHORIZATION="Bearer sg_not-a-real-token")
    assert response.status_code == 200


def test_redis_refused_answers_503_naming_redis(client: APIClient, refused_redis_url: str) -> None:
    with override_settings(REDIS_URL=refused_redis_url):
        response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "redis": "unavailable"}


def test_redis_that_never_answers_times_out_within_a_second_or_so(client: APIClient, silent_redis_url: str) -> None:
    started = time.monotonic()
    with override_settings(REDIS_URL=silent_redis_url):
        response = client.get("/api/health")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["redis"] == "unavailable"
    assert elapsed < 2.5, f"the Redis check took {elapsed:.1f} s"


def test_database_down_answers_503_naming_the_database(client: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_cursor(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("connection refused")

    monkeypatch.setattr(health.connection, "cursor", broken_cursor)
    response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unavailable", "redis": "ok"}


def test_error_details_are_not_leaked(client: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_cursor(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("password authentication failed for user secret_user at db.internal")

    monkeypatch.setattr(health.connection, "cursor", broken_cursor)
    response = client.get("/api/health")
    assert response.status_code == 503
    assert b"secret_user" not in response.content
    assert b"db.internal" not in response.content


def test_only_get_is_allowed(client: APIClient) -> None:
    assert client.post("/api/health", {}, format="json").status_code == 405


def test_schema_documents_200_and_503_without_security() -> None:
    schema = SchemaGenerator(urlconf="tests.core.health_urls").get_schema(request=None, public=True)
    validate_schema(schema)
    operation = schema["paths"]["/api/health"]["get"]
    assert operation["operationId"] == "health_retrieve"
    # 200 and 503 with the health document; like every operation, a 4XX problem
    # (a wrong method, throttling) is documented too (core.api.document_problems).
    assert set(operation["responses"]) == {"200", "503", "4XX"}
    assert operation["responses"]["4XX"]["content"].keys() == {"application/problem+json"}
    assert operation.get("security", []) in ([], [{}])  # no credentials required
    assert set(schema["components"]["schemas"]["Health"]["properties"]) == {"status", "database", "redis"}
