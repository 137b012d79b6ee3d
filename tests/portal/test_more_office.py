"""The office pages (portal/office_views.py): organisations, accounts and
memberships managed by the regulator and by lab admins; invitations accepted
and API tokens made on one's own account page; the relationship register;
standards drafted and published; fees marked paid; the whistleblower sealing
key. Each with its success, its refusal as a readable page that writes
nothing, and its bad input (400)."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone

from auditing.models import Fee, OrganisationRelationship
from core.models import ApiToken, AuditEvent, Membership, Organisation
from monitoring import hpke
from monitoring.models import WhistleblowerKey
from standards.models import Standard
from tests.auditing.conftest import assign, certify, make_system_version, open_audit

pytestmark = pytest.mark.django_db
User = get_user_model()


def text(response) -> str:
    return response.content.decode()


# --- people -------------------------------------------------------------------------------


def test_the_regulator_registers_an_organisation_and_creates_an_account_in_it(
    login, world, django_capture_on_commit_callbacks
):
    c = login(world.regulator)
    assert c.get("/portal/people").status_code == 200
    r = c.post("/portal/organisations/create", {"kind": "auditor", "name": "Probity Ltd", "slug": "probity"})
    org = Organisation.objects.get(slug="probity")
    assert r.status_code == 302 and r["Location"] == f"/portal/organisations/{org.pk}"
    # Bad input: the page again with the message, nothing written.
    before = Organisation.objects.count()
    r = c.post("/portal/organisations/create", {"kind": "auditor", "name": "", "slug": "x y"})
    assert r.status_code == 400 and "Please correct" in text(r)
    r = c.post("/portal/organisations/create", {"kind": "auditor", "name": "Again", "slug": "probity"})
    assert r.status_code == 409 and "slug" in text(r)
    assert Organisation.objects.count() == before
    # An account: the person gets a set-password link by email; the regulator never sees it.
    with django_capture_on_commit_callbacks(execute=True):
        r = c.post(
            f"/portal/organisations/{org.pk}/accounts",
            {"username": "pat", "email": "pat@probity.test", "role": "auditor"},
        )
    assert r.status_code == 302, text(r)
    pat = User.objects.get(username="pat")
    assert not pat.has_usable_password()
    assert Membership.objects.get(user=pat, organisation=org).accepted_at is not None
    assert len(mail.outbox) == 1 and "set-password" in mail.outbox[0].body
    page = text(c.get(r["Location"]))
    assert "pat" in page and "/accounts/set-password/" not in page
    # A role the organisation's kind does not have is refused (the form offers only its roles).
    r = c.post(
        f"/portal/organisations/{org.pk}/accounts", {"username": "sam", "email": "s@x.test", "role": "lab_admin"}
    )
    assert r.status_code == 400 and not User.objects.filter(username="sam").exists()
    # Edit its details; the kind is not on offer.
    r = c.post(f"/portal/organisations/{org.pk}/update", {"name": "Probity plc", "country": "gb", "website": ""})
    assert r.status_code == 302
    org.refresh_from_db()
    assert (org.name, org.country, org.kind) == ("Probity plc", "GB", "auditor")


def test_only_the_regulator_and_lab_admins_manage_people(login, world):
    events = AuditEvent.objects.count()
    for user in (world.auditor, world.customer, world.lab_engineer, world.outsider):
        c = login(user)
        assert c.get("/portal/people").status_code == 403
        assert c.post("/portal/organisations/create", {"kind": "lab", "name": "X", "slug": "x"}).status_code == 403
    # A lab admin manages their own lab, not another's; and never edits its details.
    c = login(world.lab_admin)
    page = text(c.get("/portal/people"))
    assert world.lab.name in page and world.other_lab.name not in page
    assert c.get(f"/portal/organisations/{world.other_lab.pk}").status_code in (403, 404)
    r = c.post(f"/portal/organisations/{world.lab.pk}/update", {"name": "Renamed"})
    assert r.status_code == 403
    r = c.post(f"/portal/organisations/{world.other_lab.pk}/members", {"username": "outsider", "role": "lab_admin"})
    assert r.status_code in (403, 404)
    r = c.post(f"/portal/organisations/{world.lab.pk}/accounts/auditor/deactivate")
    assert r.status_code == 403
    assert AuditEvent.objects.count() == events
    assert User.objects.get(username="auditor").is_active


def test_a_lab_admin_invites_the_person_accepts_and_the_membership_ends(login, world):
    admin = login(world.lab_admin)
    r = admin.post(f"/portal/organisations/{world.lab.pk}/members", {"username": "outsider", "role": "lab_engineer"})
    assert r.status_code == 302
    membership = Membership.objects.get(user=world.outsider, organisation=world.lab)
    assert membership.accepted_at is None
    assert "not yet accepted" in text(admin.get(f"/portal/organisations/{world.lab.pk}"))
    # Nobody else accepts it for them.
    assert login(world.lab_admin).post(f"/portal/memberships/{membership.pk}/accept").status_code in (403, 404)
    # No such user: a 400 with the field named.
    r = admin.post(f"/portal/organisations/{world.lab.pk}/members", {"username": "nobody", "role": "lab_engineer"})
    assert r.status_code == 400 and "No user with this username" in text(r)
    person = login(world.outsider)
    page = text(person.get("/portal/account"))
    assert f"/portal/memberships/{membership.pk}/accept" in page
    assert person.post(f"/portal/memberships/{membership.pk}/accept").status_code == 302
    membership.refresh_from_db()
    assert membership.accepted_at is not None
    r = person.post(f"/portal/memberships/{membership.pk}/accept")
    assert r.status_code == 409 and "already accepted" in text(r)
    # The admin ends it; ending again is refused with the reason.
    assert admin.post(f"/portal/memberships/{membership.pk}/end").status_code == 302
    membership.refresh_from_db()
    assert membership.ended_at is not None
    r = admin.post(f"/portal/memberships/{membership.pk}/end")
    assert r.status_code == 409 and "already ended" in text(r)


def test_the_regulator_deactivates_reactivates_and_resets_an_account(login, world, django_capture_on_commit_callbacks):
    c = login(world.regulator)
    base = f"/portal/organisations/{world.auditor_org.pk}/accounts/auditor"
    assert c.post(f"{base}/deactivate").status_code == 302
    assert not User.objects.get(username="auditor").is_active
    r = c.post(f"{base}/password-reset")
    assert r.status_code == 409 and "deactivated" in text(r)
    assert c.post(f"{base}/reactivate").status_code == 302
    assert User.objects.get(username="auditor").is_active
    with django_capture_on_commit_callbacks(execute=True):
        assert c.post(f"{base}/password-reset").status_code == 302
    assert mail.outbox[-1].to == ["auditor@example.test"]
    # The last active regulator is not deactivated; a person not in the organisation is a 404.
    r = c.post(f"/portal/organisations/{world.regulator_org.pk}/accounts/regulator/deactivate")
    assert r.status_code == 409 and "last active regulator" in text(r)
    assert c.post(f"/portal/organisations/{world.lab.pk}/accounts/auditor/deactivate").status_code == 404
    assert c.post(f"{base}/explode").status_code == 404


def test_everyone_makes_and_revokes_their_own_api_tokens(login, world):
    c = login(world.customer)
    r = c.post("/portal/account/tokens", {"name": "laptop"})
    assert r.status_code == 201 and r["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(user=world.customer)
    secret = text(r).split('id="secret" type="text" readonly value="')[1].split('"')[0]
    assert secret.startswith(token.prefix)
    assert secret not in text(c.get("/portal/account"))  # shown once
    # Its secret works against the API.
    assert c.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    r = c.post("/portal/account/tokens", {"name": "old", "expires_on": "2001-01-01"})
    assert r.status_code == 400 and ApiToken.objects.count() == 1
    # Another person's token is a 404.
    assert login(world.auditor).post(f"/portal/account/tokens/{token.pk}/revoke").status_code == 404
    assert c.post(f"/portal/account/tokens/{token.pk}/revoke").status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_a_person_deactivates_their_own_account(login, world):
    c = login(world.customer)
    assert c.post("/portal/account/deactivate", {}).status_code == 400
    assert User.objects.get(username="customer").is_active
    r = c.post("/portal/account/deactivate", {"confirm": "yes"})
    assert r.status_code == 302 and r["Location"] == "/portal/login"
    assert not User.objects.get(username="customer").is_active
    assert c.get("/portal/account").status_code == 302  # signed out
    # The last regulator cannot leave the service without one.
    r = login(world.regulator).post("/portal/account/deactivate", {"confirm": "yes"})
    assert r.status_code == 409 and User.objects.get(username="regulator").is_active


# --- the relationship register -----------------------------------------------------------------


def test_the_regulator_records_and_ends_a_relationship_others_read_theirs(login, world):
    c = login(world.regulator)
    today = timezone.localdate()
    data = {
        "organisation": str(world.auditor_org.pk),
        "counterparty": str(world.other_lab.pk),
        "kind": "consulting",
        "description": "Red-teaming contract.",
        "starts_on": (today - datetime.timedelta(days=30)).isoformat(),
    }
    assert c.post("/portal/register/record", data).status_code == 302
    rel = OrganisationRelationship.objects.get()
    assert "Red-teaming contract." in text(c.get("/portal/register", {"in_force": "yes"}))
    assert "Red-teaming contract." not in text(c.get("/portal/register", {"in_force": "no"}))
    # Twice is refused; an end before its start is bad input; neither writes.
    r = c.post("/portal/register/record", data)
    assert r.status_code == 409 and "already recorded" in text(r)
    r = c.post("/portal/register/record", {**data, "counterparty": str(world.auditor_org.pk)})
    assert r.status_code == 400 and OrganisationRelationship.objects.count() == 1
    # Others: the auditor reads the entry naming it, writes nothing; an outsider reads none.
    assert "Red-teaming contract." in text(login(world.auditor).get("/portal/register"))
    assert "Red-teaming contract." not in text(login(world.lab_admin).get("/portal/register"))
    assert login(world.auditor).post("/portal/register/record", data).status_code == 403
    end = {"ends_on": today.isoformat(), "reason": "Contract over."}
    r = login(world.auditor).post(f"/portal/register/{rel.pk}/end", end)
    assert r.status_code == 403
    rel.refresh_from_db()
    assert rel.ends_on is None
    assert c.post(f"/portal/register/{rel.pk}/end", {"ends_on": "", "reason": "x"}).status_code == 400
    assert c.post(f"/portal/register/{rel.pk}/end", end).status_code == 302
    rel.refresh_from_db()
    assert rel.ends_on == today and rel.end_reason == "Contract over."


# --- standards ---------------------------------------------------------------------------------


def draft_data(page: str, **overrides: str) -> dict[str, str]:
    """The draft form's fields as the page filled them (the standard in force)."""
    import html
    import re

    data = {}
    for name, value in re.findall(r'<input type="number" name="(\w+)" value="(\d+)"', page):
        data[name] = value
    doc = re.search(r'<textarea name="requirements"[^>]*>(.*?)</textarea>', page, re.S)
    assert doc, "the page offers the requirements to edit"
    data["requirements"] = html.unescape(doc.group(1)).strip()
    data.update(name="Gate standard", version="2099.1", summary="Tighter.")
    data.update(overrides)
    return data


def test_the_regulator_drafts_a_standard_from_the_one_in_force_and_publishes_it(login, world):
    c = login(world.regulator)
    page = text(c.get("/portal/standards/manage"))
    data = draft_data(page)
    assert json.loads(data["requirements"])["suites"], "prefilled from the standard in force"
    r = c.post("/portal/standards/draft", data)
    assert r.status_code == 302, text(r)
    draft = Standard.objects.get(version="2099.1")
    assert draft.status == "draft" and r["Location"] == f"/portal/standards/{draft.pk}"
    # Bad JSON, or a version taken: the page again, nothing new.
    count = Standard.objects.count()
    r = c.post("/portal/standards/draft", {**data, "version": "2099.2", "requirements": "{not json"})
    assert r.status_code == 400 and "Not JSON" in text(r)
    r = c.post("/portal/standards/draft", data)
    assert r.status_code == 400 and "version" in text(r)
    assert Standard.objects.count() == count
    # Only the regulator drafts and publishes; others do not see drafts.
    assert login(world.lab_admin).post("/portal/standards/draft", data).status_code == 403
    assert "2099.1" not in text(login(world.lab_admin).get("/portal/standards/manage"))
    assert login(world.auditor).post(f"/portal/standards/{draft.pk}/publish").status_code == 404
    assert c.post(f"/portal/standards/{draft.pk}/publish").status_code == 302
    draft.refresh_from_db()
    assert draft.status == "in_force" and draft.content_digest
    r = c.post(f"/portal/standards/{draft.pk}/publish")
    assert r.status_code == 409 and "Only a draft" in text(r)


# --- fees --------------------------------------------------------------------------------------


def test_the_regulator_records_a_fee_paid_others_see_theirs_and_cannot(login, world):
    sv = make_system_version(world.lab, world.lab_engineer)
    audit = open_audit(world, sv)
    certify(world, world.auditor_org)
    assign(world, audit, world.auditor_org)
    payout = Fee.objects.get(direction="regulator_to_auditor")
    assert payout.amount > Decimal(0)
    auditor = login(world.auditor)
    assert f"/portal/fees/{payout.pk}/paid" not in text(auditor.get("/portal/fees"))
    assert world.auditor_org.name in text(auditor.get("/portal/fees"))
    assert auditor.post(f"/portal/fees/{payout.pk}/paid").status_code == 403
    assert login(world.other_auditor).post(f"/portal/fees/{payout.pk}/paid").status_code == 404
    payout.refresh_from_db()
    assert payout.paid_at is None
    c = login(world.regulator)
    assert f"/portal/fees/{payout.pk}/paid" in text(c.get("/portal/fees"))
    assert c.post(f"/portal/fees/{payout.pk}/paid").status_code == 302
    payout.refresh_from_db()
    assert payout.paid_at is not None
    r = c.post(f"/portal/fees/{payout.pk}/paid")
    assert r.status_code == 409 and "already recorded as paid" in text(r)


# --- the whistleblower sealing key ----------------------------------------------------------------


def test_the_regulator_registers_the_whistleblower_key(login, world):
    c = login(world.regulator)
    public = hpke.public_key_b64(X25519PrivateKey.generate().public_key())
    assert c.post("/portal/whistleblower/keys/register", {"public_key": public}).status_code == 302
    key = WhistleblowerKey.objects.get()
    assert key.status == "active" and key.keyid in text(c.get("/portal/whistleblower/keys"))
    r = c.post("/portal/whistleblower/keys/register", {"public_key": public})
    assert r.status_code == 409 and "already registered" in text(r)
    r = c.post("/portal/whistleblower/keys/register", {"public_key": "not a key"})
    assert r.status_code == 400 and WhistleblowerKey.objects.count() == 1
    other = hpke.public_key_b64(X25519PrivateKey.generate().public_key())
    for user in (world.lab_admin, world.auditor, world.outsider):
        assert login(user).get("/portal/whistleblower/keys").status_code == 403
        assert login(user).post("/portal/whistleblower/keys/register", {"public_key": other}).status_code == 403
    assert WhistleblowerKey.objects.count() == 1


def test_the_forms_need_the_csrf_token(world):
    from django.test import Client

    c = Client(enforce_csrf_checks=True)
    c.force_login(world.regulator)
    r = c.post("/portal/organisations/create", {"kind": "lab", "name": "X", "slug": "x"})
    assert r.status_code == 403 and not Organisation.objects.filter(slug="x").exists()
