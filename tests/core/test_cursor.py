"""A cursor is something the client sends back, so it is input like any other:
a garbage, tampered or wrong-type cursor is a 400 problem with a stable code,
never a 500, and a cursor this server wrote still pages."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from core.models import AuditEvent, Organisation
from tests.factories import OrganisationFactory

pytestmark = pytest.mark.django_db


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


def position(value: str) -> str:
    """A cursor carrying this position, encoded as the server encodes one."""
    return b64(urlencode({"p": value}))


GARBAGE = {
    "not base64": "!!not-a-cursor!!",
    "not ascii": "curs\u00e9r",
    "base64 of binary": b64(b"\xff\xfe\x00\x81garbage"),
    "bad reverse flag": b64("r=yes"),
    "bad offset": b64("o=-x"),
    "nul in position": position("\x00"),
}

# Positions that decode fine but do not fit the field the list is ordered by.
ID_ORDERED = {
    "text for an integer id": position("abc"),
    "a timestamp for an integer id": position("2024-01-01 00:00:00+00:00"),
    "an id past bigint": position("99999999999999999999999"),
    "a float id": position("1.5"),
}
CREATED_ORDERED = {
    "text for a timestamp": position("abc"),
    "a timestamp without a time zone": position("2024-01-01T00:00:00"),
    "an impossible date": position("2024-13-45 00:00:00+00:00"),
    "an offset past a day": position("2024-01-01 00:00:00+99:00"),
}


def assert_invalid_cursor(r):
    assert r.status_code == 400, (r.status_code, r.content)
    assert r["Content-Type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "invalid_cursor"
    assert body["status"] == 400
    assert body["errors"] == {"cursor": [body["errors"]["cursor"][0]]}


@pytest.mark.parametrize("cursor", list(GARBAGE.values()) + list(ID_ORDERED.values()), ids=[*GARBAGE, *ID_ORDERED])
def test_crafted_cursor_on_an_id_ordered_list_is_a_400(world, client_for, cursor):
    r = client_for(world.regulator).get("/api/audit-events", {"cursor": cursor})
    assert_invalid_cursor(r)


@pytest.mark.parametrize(
    "cursor", list(GARBAGE.values()) + list(CREATED_ORDERED.values()), ids=[*GARBAGE, *CREATED_ORDERED]
)
def test_crafted_cursor_on_a_created_ordered_list_is_a_400(world, client_for, cursor):
    r = client_for(world.regulator).get("/api/organisations", {"cursor": cursor})
    assert_invalid_cursor(r)


def _next_cursor(body):
    assert body["next"], body
    return parse_qs(urlparse(body["next"]).query)["cursor"][0]


def test_cursors_the_server_writes_still_page_by_created_at(world, client_for):
    for i in range(3):
        OrganisationFactory(name=f"Paged {i}", slug=f"paged-{i}")
    client = client_for(world.regulator)
    seen: list[str] = []
    r = client.get("/api/organisations", {"page_size": 2})
    while True:
        assert r.status_code == 200, r.content
        seen += [o["id"] for o in r.json()["results"]]
        if not r.json()["next"]:
            break
        r = client.get("/api/organisations", {"page_size": 2, "cursor": _next_cursor(r.json())})
    assert sorted(seen) == sorted(str(pk) for pk in Organisation.objects.values_list("pk", flat=True))
    assert len(seen) == len(set(seen))
    # and back again
    r = client.get(urlparse(r.json()["previous"]).path, parse_qs(urlparse(r.json()["previous"]).query))
    assert r.status_code == 200, r.content


def test_cursors_the_server_writes_still_page_by_id(world, client_for):
    client = client_for(world.regulator)
    for i in range(3):
        client.post("/api/organisations", {"kind": "lab", "name": f"Lab {i}", "slug": f"lab-{i}"}, format="json")
    seen: list[int] = []
    r = client.get("/api/audit-events", {"page_size": 1})
    while True:
        assert r.status_code == 200, r.content
        seen += [e["id"] for e in r.json()["results"]]
        if not r.json()["next"]:
            break
        r = client.get("/api/audit-events", {"page_size": 1, "cursor": _next_cursor(r.json())})
    assert len(seen) == len(set(seen)) == AuditEvent.objects.count() >= 3
