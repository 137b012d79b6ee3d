"""Issuing, listing and revoking gateway tokens over /api/: the secret is shown
once and stored only as a hash; lists are scoped."""

from __future__ import annotations

import datetime
import hashlib

from django.utils import timezone

from gateway.models import GatewayToken
from tests.gateway.conftest import issue


def body(scene, **extra):
    return {
        "kind": "auditor",
        "system_version": str(scene.sv.pk),
        "audit": str(scene.audit.pk),
        "name": "suite run",
        "expires_at": (timezone.now() + datetime.timedelta(days=3)).isoformat(),
        "requests_per_minute": 30,
        **extra,
    }


def test_issue_shows_the_secret_once_and_keeps_a_hash(scene, client_for):
    r = client_for(scene.w.auditor).post("/api/gateway-tokens", body(scene), format="json")
    assert r.status_code == 201, r.content
    secret = r.json()["token"]
    assert secret.startswith("sgw_")
    assert r.json()["model"] == scene.model and r.json()["base_url"].endswith("/gateway/v1")
    token = GatewayToken.objects.get(pk=r.json()["id"])
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(GatewayToken.objects.filter(pk=token.pk).values().get())
    shown = client_for(scene.w.auditor).get(f"/api/gateway-tokens/{token.pk}")
    assert "token" not in shown.json()


def test_bad_input_is_400_and_writes_nothing(scene, client_for):
    before = GatewayToken.objects.count()
    c = client_for(scene.w.auditor)
    assert c.post("/api/gateway-tokens", body(scene, kind="wizard"), format="json").status_code == 400
    assert c.post("/api/gateway-tokens", body(scene, expires_at="soon"), format="json").status_code == 400
    assert c.post("/api/gateway-tokens", body(scene, requests_per_minute=0), format="json").status_code == 400
    past = (timezone.now() - datetime.timedelta(days=1)).isoformat()
    r = c.post("/api/gateway-tokens", body(scene, expires_at=past), format="json")
    assert r.status_code == 400 and "expires_at" in r.json()["errors"]
    assert GatewayToken.objects.count() == before


def test_lists_are_scoped(scene, client_for):
    from tests.factories import release_at

    release_at(scene.sv, 2)
    release_at(scene.sv, 3)
    admitted, _ = issue(scene.sv, scene.w.lab_admin, kind="lab_admitted", holder=scene.w.outsider)

    def ids(user) -> set[str]:
        return {t["id"] for t in client_for(user).get("/api/gateway-tokens").json()["results"]}

    assert ids(scene.w.auditor) == {str(scene.token.pk)}
    assert ids(scene.w.regulator) == {str(scene.token.pk), str(admitted.pk)}
    assert ids(scene.w.lab_admin) == {str(admitted.pk)}  # never the auditor's
    assert ids(scene.w.outsider) == {str(admitted.pk)}
    assert ids(scene.w.other_auditor) == set()
    # The lab revokes a user it admitted, but not its auditor's token.
    lab = client_for(scene.w.lab_admin)
    assert lab.post(f"/api/gateway-tokens/{admitted.pk}/revoke").status_code == 200
    assert lab.post(f"/api/gateway-tokens/{scene.token.pk}/revoke").status_code == 404


def test_a_lab_admits_someone_else_only_as_an_offer_they_accept(scene, client_for):
    """The red-team pass minted lab_admitted tokens in another person's name:
    the lab got the secret and could call the gateway as them. Now the lab gets
    no secret; only the holder, by accepting, does."""
    from tests.factories import release_at

    release_at(scene.sv, 2)
    release_at(scene.sv, 3)
    lab, outsider = client_for(scene.w.lab_admin), client_for(scene.w.outsider)
    r = lab.post(
        "/api/gateway-tokens",
        body(scene, kind="lab_admitted", holder=scene.w.outsider.username, audit=None),
        format="json",
    )
    assert r.status_code == 201, r.content
    offer = r.json()
    assert offer["token"] is None and offer["accepted_at"] is None
    stored = GatewayToken.objects.get(pk=offer["id"])
    # Nobody holds a secret matching the digest of a pending offer.
    assert stored.accepted_at is None

    # Neither the lab nor a stranger can take it up; the stranger cannot even see it.
    assert lab.post(f"/api/gateway-tokens/{offer['id']}/accept").status_code == 403
    assert client_for(scene.w.auditor).post(f"/api/gateway-tokens/{offer['id']}/accept").status_code == 404
    assert GatewayToken.objects.get(pk=offer["id"]).digest == stored.digest

    r = outsider.post(f"/api/gateway-tokens/{offer['id']}/accept")
    assert r.status_code == 200, r.content
    secret = r.json()["token"]
    assert secret.startswith("sgw_") and r.json()["accepted_at"]
    accepted = GatewayToken.objects.get(pk=offer["id"])
    assert accepted.digest == hashlib.sha256(secret.encode()).hexdigest() != stored.digest
    # Once only.
    again = outsider.post(f"/api/gateway-tokens/{offer['id']}/accept")
    assert again.status_code == 409 and again.json()["code"] == "already_accepted"

    # A lab admin admitting themselves gets the secret at once.
    r = lab.post(
        "/api/gateway-tokens",
        body(scene, kind="lab_admitted", holder=scene.w.lab_admin.username, audit=None),
        format="json",
    )
    assert r.status_code == 201 and r.json()["token"].startswith("sgw_") and r.json()["accepted_at"]


def test_a_revoked_offer_cannot_be_accepted(scene, client_for):
    from tests.factories import release_at

    release_at(scene.sv, 2)
    release_at(scene.sv, 3)
    token, secret = issue(scene.sv, scene.w.lab_admin, kind="lab_admitted", holder=scene.w.outsider)
    assert secret is None
    assert client_for(scene.w.lab_admin).post(f"/api/gateway-tokens/{token.pk}/revoke").status_code == 200
    r = client_for(scene.w.outsider).post(f"/api/gateway-tokens/{token.pk}/accept")
    assert r.status_code == 409 and r.json()["code"] == "token_revoked"
    assert GatewayToken.objects.get(pk=token.pk).accepted_at is None
