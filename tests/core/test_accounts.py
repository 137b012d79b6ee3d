"""Accounts and organisations' details through audited services (the admin is
read-only): creating a person who sets their own password from an emailed
single-use link, resets, deactivation, organisation edits and the first
regulator."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from core.accounts import regulator_bootstrap
from core.actors import actor_for
from core.errors import Conflict
from core.models import AuditEvent, Membership, Organisation
from core.services import api_token_create

pytestmark = pytest.mark.django_db(transaction=True)
User = get_user_model()
LINK = re.compile(r"http\S+/accounts/set-password/(?P<uid>[^/]+)/(?P<token>[^/]+)/")


def _link_in(message) -> str:
    found = LINK.search(message.body)
    assert found, message.body
    return found.group(0)


def _set_password(link: str, password: str) -> int:
    """Follow the emailed link as a browser would: the first GET redirects to a
    session URL that holds the form."""
    c = APIClient()
    path = link.split("://", 1)[1].split("/", 1)[1]
    r = c.get("/" + path)
    if r.status_code != 302:  # an invalid or used link: Django shows a page saying so
        assert "invalid" in r.content.decode().lower()
        return r.status_code
    r = c.post(r["Location"], {"new_password1": password, "new_password2": password})
    return r.status_code


def _token_client(user) -> APIClient:
    _, secret = api_token_create(actor=actor_for(user), name="t")
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return c


def test_the_regulator_creates_an_account_whose_owner_alone_sets_the_password(world, client_for):
    r = client_for(world.regulator).post(
        "/api/accounts",
        {"username": "ines", "email": "Ines@Keystone.example", "organisation": str(world.auditor_org.pk),
         "role": "auditor"},
        format="json",
    )  # fmt: skip
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["username"] == "ines" and body["email"] == "ines@keystone.example"
    assert body["membership"]["accepted_at"]  # the regulator's word makes a membership
    assert "set-password" not in r.content.decode()  # the creator never sees the link
    user = User.objects.get(username="ines")
    assert not user.has_usable_password()
    assert AuditEvent.objects.filter(action="account.create", target_id=str(user.pk)).exists()

    (message,) = mail.outbox
    assert message.to == ["ines@keystone.example"]
    link = _link_in(message)
    assert _set_password(link, "a long and unusual passphrase 71") == 302
    user.refresh_from_db()
    assert user.check_password("a long and unusual passphrase 71")
    # The link works once.
    assert _set_password(link, "another long passphrase 99") != 302
    user.refresh_from_db()
    assert user.check_password("a long and unusual passphrase 71")


def test_a_lab_admin_creates_accounts_only_for_its_lab_and_as_invitations(world, client_for):
    lab = client_for(world.lab_admin)
    r = lab.post(
        "/api/accounts",
        {"username": "newhire", "email": "n@aurora.example", "organisation": str(world.lab.pk), "role": "lab_engineer"},
        format="json",
    )
    assert r.status_code == 201, r.content
    assert r.json()["membership"]["accepted_at"] is None
    # Not for another organisation, and not with a role its kind lacks; nothing written.
    before = User.objects.count()
    r = lab.post(
        "/api/accounts",
        {"username": "mole", "email": "m@x.example", "organisation": str(world.auditor_org.pk), "role": "auditor"},
        format="json",
    )
    assert r.status_code in (403, 404)
    r = lab.post(
        "/api/accounts",
        {"username": "mole", "email": "m@x.example", "organisation": str(world.lab.pk), "role": "regulator_staff"},
        format="json",
    )
    assert r.status_code == 400
    assert User.objects.count() == before
    for who in (world.auditor, world.customer, world.outsider):
        r = client_for(who).post(
            "/api/accounts",
            {"username": "x1", "email": "x@x.example", "organisation": str(world.lab.pk), "role": "lab_engineer"},
            format="json",
        )
        assert r.status_code in (403, 404)
    assert User.objects.count() == before


def test_bad_account_input_is_400_and_writes_nothing(world, client_for):
    reg = client_for(world.regulator)
    before = (User.objects.count(), Membership.objects.count(), AuditEvent.objects.count())
    org = str(world.auditor_org.pk)
    for payload in (
        {"username": "has space", "email": "a@b.example", "organisation": org, "role": "auditor"},
        {"username": "ok", "email": "not-an-email", "organisation": org, "role": "auditor"},
        {"username": "ok", "email": "a@b.example", "organisation": org, "role": "wizard"},
        {"username": "ok", "email": "a@b.example", "organisation": "nope", "role": "auditor"},
    ):
        assert reg.post("/api/accounts", payload, format="json").status_code == 400, payload
    r = reg.post(
        "/api/accounts",
        {"username": world.auditor.username.upper(), "email": "a@b.example", "organisation": org, "role": "auditor"},
        format="json",
    )
    assert r.status_code == 409 and r.json()["code"] == "duplicate"
    assert (User.objects.count(), Membership.objects.count(), AuditEvent.objects.count()) == before
    assert mail.outbox == []


def test_a_deactivated_account_authenticates_nowhere_and_the_last_regulator_stays(world, client_for):
    auditor = _token_client(world.auditor)
    assert auditor.get("/api/me").status_code == 200
    r = client_for(world.regulator).post(f"/api/accounts/{world.auditor.username}/deactivate")
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert auditor.get("/api/me").status_code == 401
    assert AuditEvent.objects.filter(action="account.deactivate").count() == 1
    # Others cannot see or touch someone else's account.
    assert client_for(world.lab_admin).post(f"/api/accounts/{world.regulator.username}/deactivate").status_code == 404
    # The person may deactivate themselves, but the last regulator may not.
    r = client_for(world.regulator).post(f"/api/accounts/{world.regulator.username}/deactivate")
    assert r.status_code == 409 and r.json()["code"] == "last_regulator"
    assert User.objects.get(pk=world.regulator.pk).is_active
    r = client_for(world.regulator).post(f"/api/accounts/{world.auditor.username}/reactivate")
    assert r.status_code == 200 and r.json()["is_active"] is True
    assert auditor.get("/api/me").status_code == 200


def test_the_regulator_sends_a_reset_link_to_the_person_only(world, client_for):
    assert client_for(world.lab_admin).post(f"/api/accounts/{world.auditor.username}/password-reset").status_code == 404
    assert mail.outbox == []
    r = client_for(world.regulator).post(f"/api/accounts/{world.auditor.username}/password-reset")
    assert r.status_code == 202
    (message,) = mail.outbox
    assert message.to == [world.auditor.email]
    assert _set_password(_link_in(message), "a fresh and lengthy passphrase 12") == 302
    assert User.objects.get(pk=world.auditor.pk).check_password("a fresh and lengthy passphrase 12")


def test_the_regulator_edits_an_organisation_but_never_its_kind(world, client_for):
    url = f"/api/organisations/{world.lab.pk}/update"
    assert client_for(world.lab_admin).post(url, {"name": "Renamed"}, format="json").status_code == 403
    reg = client_for(world.regulator)
    r = reg.post(url, {"kind": "regulator"}, format="json")
    assert r.status_code == 400 and "kind" in r.json()["errors"]
    assert reg.post(url, {"website": "not a url"}, format="json").status_code == 400
    assert Organisation.objects.get(pk=world.lab.pk).kind == "lab"
    r = reg.post(url, {"name": "Aurora Labs Ltd", "country": "gb"}, format="json")
    assert r.status_code == 200, r.content
    assert (r.json()["name"], r.json()["country"], r.json()["kind"]) == ("Aurora Labs Ltd", "GB", "lab")
    event = AuditEvent.objects.get(action="organisation.update")
    assert event.before["name"] == "Aurora Labs" and event.after["name"] == "Aurora Labs Ltd"


def test_the_first_regulator_is_made_once_from_the_host_shell(db):
    out = io.StringIO()
    call_command("bootstrap_regulator", "--username", "first", "--email", "first@reg.example", stdout=out)
    assert LINK.search(out.getvalue())
    user = User.objects.get(username="first")
    assert actor_for(user).is_regulator and not user.has_usable_password()
    assert AuditEvent.objects.filter(action="user.bootstrap", actor_label="system:bootstrap_regulator").exists()
    with pytest.raises(CommandError, match="already exists"):
        call_command("bootstrap_regulator", "--username", "second", "--email", "s@reg.example", stdout=io.StringIO())
    with pytest.raises(Conflict):
        regulator_bootstrap(username="third", email="t@reg.example", organisation_name="R2", slug="r2")
    assert not User.objects.filter(username__in=["second", "third"]).exists()
