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
