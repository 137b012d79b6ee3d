"""Organisations, memberships, /me and API tokens through the API."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from core.authentication import token_digest
from core.models import ApiToken, AuditEvent, Membership, Organisation

pytestmark = pytest.mark.django_db


def test_me_lists_active_memberships(world, client_for):
    r = client_for(world.lab_admin).get("/api/me")
    assert r.status_code == 200
    body = r.json()
    assert body["username"] == "lab_admin"
    assert body["is_regulator"] is False
    assert [(m["organisation_name"], m["role"]) for m in body["memberships"]] == [("Aurora Labs", "lab_admin")]


def test_anonymous_gets_401_problem(api):
    r = api.get("/api/me")
    assert r.status_code == 401
    assert r["Content-Type"].startswith("application/problem+json")
    assert r.json()["code"] == "not_authenticated"
    assert r.json()["status"] == 401


def test_regulator_creates_organisation_and_event_is_recorded(world, client_for):
    r = client_for(world.regulator).post(
        "/api/organisations",
        {"kind": "auditor", "name": "Keystone Audit", "slug": "keystone", "country": "fr"},
        format="json",
    )
    assert r.status_code == 201, r.content
    org = Organisation.objects.get(slug="keystone")
    assert org.country == "FR"
    event = AuditEvent.objects.get(action="organisation.create", target_id=str(org.pk))
    assert event.actor == world.regulator


@pytest.mark.parametrize("who", ["lab_admin", "auditor", "customer", "outsider"])
def test_only_regulator_creates_organisations(world, client_for, who):
    r = client_for(getattr(world, who)).post(
        "/api/organisations", {"kind": "lab", "name": "Rogue Lab", "slug": "rogue"}, format="json"
    )
    assert r.status_code == 403
    assert r.json()["code"] == "regulator_only"
    assert not Organisation.objects.filter(slug="rogue").exists()


def test_bad_organisation_input_names_fields_and_writes_nothing(world, client_for):
    before = Organisation.objects.count()
    r = client_for(world.regulator).post(
        "/api/organisations", {"kind": "spaceship", "slug": "not a slug"}, format="json"
    )
    assert r.status_code == 400
    errors = r.json()["errors"]
    assert {"kind", "name", "slug"} <= set(errors)
    assert Organisation.objects.count() == before


def test_customers_are_hidden_from_other_tenants(world, client_for):
    slugs = lambda user: {o["slug"] for o in client_for(user).get("/api/organisations").json()["results"]}  # noqa: E731
    assert "acme" not in slugs(world.lab_admin)
    assert "acme" in slugs(world.customer)
    assert "acme" in slugs(world.regulator)
    r = client_for(world.lab_admin).get(f"/api/organisations/{world.customer_org.pk}")
    assert r.status_code == 404


def test_lab_admin_adds_engineer_to_own_lab_only(world, client_for):
    from tests.factories import UserFactory

    newcomer = UserFactory(username="newcomer")
    c = client_for(world.lab_admin)
    r = c.post(
        "/api/memberships",
        {"organisation": str(world.lab.pk), "username": "newcomer", "role": "lab_engineer"},
        format="json",
    )
    assert r.status_code == 201, r.content
    assert Membership.objects.filter(user=newcomer, organisation=world.lab, role="lab_engineer").exists()
    # Not into another lab (visible org, no right): 403.
    r = c.post(
        "/api/memberships",
        {"organisation": str(world.other_lab.pk), "username": "newcomer", "role": "lab_engineer"},
        format="json",
    )
    assert r.status_code == 403
    # A role that does not exist in a lab: 400 on the field.
    r = c.post(
        "/api/memberships",
        {"organisation": str(world.lab.pk), "username": "newcomer", "role": "auditor"},
        format="json",
    )
    assert r.status_code == 400
    assert "role" in r.json()["errors"]
    # The same role twice: 409.
    r = c.post(
        "/api/memberships",
        {"organisation": str(world.lab.pk), "username": "newcomer", "role": "lab_engineer"},
        format="json",
    )
    assert r.status_code == 409
    assert Membership.objects.filter(user=newcomer).count() == 1


def test_lab_engineer_cannot_add_members(world, client_for):
    r = client_for(world.lab_engineer).post(
        "/api/memberships",
        {"organisation": str(world.lab.pk), "username": "outsider", "role": "lab_admin"},
        format="json",
    )
    assert r.status_code == 403
    assert not Membership.objects.filter(user=world.outsider).exists()


def test_membership_end_is_recorded_and_final(world, client_for):
    m = Membership.objects.get(user=world.lab_engineer)
    c = client_for(world.lab_admin)
    r = c.post(f"/api/memberships/{m.pk}/end")
    assert r.status_code == 200
    assert r.json()["ended_at"] is not None
    assert c.post(f"/api/memberships/{m.pk}/end").status_code == 409
    assert AuditEvent.objects.filter(action="membership.end", target_id=str(m.pk)).count() == 1


def test_other_tenant_cannot_see_or_end_membership(world, client_for):
    m = Membership.objects.get(user=world.lab_engineer)
    assert client_for(world.other_lab_admin).post(f"/api/memberships/{m.pk}/end").status_code == 404
    listed = client_for(world.other_lab_admin).get("/api/memberships").json()["results"]
    assert all(row["organisation"] != str(world.lab.pk) for row in listed)


def test_token_is_shown_once_stored_hashed_and_authenticates(world, client_for, api):
    r = client_for(world.auditor).post("/api/tokens", {"name": "laptop"}, format="json")
    assert r.status_code == 201
    secret = r.json()["token"]
    token = ApiToken.objects.get(pk=r.json()["id"])
    assert token.digest == token_digest(secret)
    assert secret not in str(list(ApiToken.objects.values()))
    # The list never shows the secret again.
    listed = client_for(world.auditor).get("/api/tokens").json()["results"]
    assert "token" not in listed[0]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/me").json()["username"] == "auditor"


def test_revoked_and_expired_tokens_are_refused(world, client_for, api, time_machine):
    c = client_for(world.auditor)
    secret = c.post("/api/tokens", {"name": "a"}, format="json").json()["token"]
    token_id = ApiToken.objects.get(digest=token_digest(secret)).pk
    assert c.post(f"/api/tokens/{token_id}/revoke").status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/me").status_code == 401

    expires = timezone.now() + datetime.timedelta(hours=1)
    secret2 = c.post("/api/tokens", {"name": "b", "expires_at": expires.isoformat()}, format="json").json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret2}")
    assert api.get("/api/me").status_code == 200
    time_machine.move_to(expires + datetime.timedelta(seconds=1))
    assert api.get("/api/me").status_code == 401


def test_tokens_are_private_to_their_owner(world, client_for):
    secret_owner = client_for(world.auditor)
    token_id = secret_owner.post("/api/tokens", {"name": "a"}, format="json").json()["id"]
    # Not even the regulator lists or revokes someone else's token.
    assert client_for(world.regulator).get("/api/tokens").json()["results"] == []
    assert client_for(world.regulator).post(f"/api/tokens/{token_id}/revoke").status_code == 404


def test_malformed_token_header_is_401(api):
    api.credentials(HTTP_AUTHORIZATION="Bearer not-a-stagegate-token")
    assert api.get("/api/me").status_code == 401


def test_token_expiry_in_the_past_is_400(world, client_for):
    r = client_for(world.auditor).post(
        "/api/tokens", {"name": "x", "expires_at": "2000-01-01T00:00:00Z"}, format="json"
    )
    assert r.status_code == 400
    assert "expires_at" in r.json()["errors"]
    assert not ApiToken.objects.filter(user=world.auditor).exists()
