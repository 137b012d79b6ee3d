"""The per-token grant cache (gateway/proxy/grantcache.py) never serves a grant that
no longer holds: every write that ends a grant is refused on the very next
call after a call served from the cache; time-based facts (token expiry,
certification expiry) are re-checked locally; a Redis outage or a flushed
Redis drops the cache."""

from __future__ import annotations

import asyncio
import datetime
import time

import httpx
import pytest
import redis
import time_machine
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from auditing import services as auditing
from auditing.models import Certification
from core.models import Membership
from core.services import membership_end
from deploy.services import release_halt
from gateway.models import GatewayToken
from gateway.proxy.grantcache import EPOCH_KEY
from gateway.proxy.server import GatewayApp
from gateway.proxy.server import application as gateway_app
from gateway.services import gateway_token_revoke
from tests.gateway.conftest import fresh
from tests.gateway.test_redis_down import start_redis
from tests.gateway.upstream_double import free_port


def models(scene) -> httpx.Response:
    return httpx.get(scene.base_url + "/models", headers=scene.headers(), timeout=10)


def served_from_cache(scene) -> None:
    """Calls until one is answered from the cache (the first call after the
    per-test Redis flush sees a new epoch, so it takes a call or two)."""
    for _ in range(3):
        hits = gateway_app._grants.hits
        assert models(scene).status_code == 200
        if gateway_app._grants.hits == hits + 1:
            return
    raise AssertionError("the grant was never served from the cache")


def refused(scene, status: int, code: str) -> None:
    r = models(scene)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


def epoch() -> bytes | None:
    value: bytes | None = redis.Redis.from_url(settings.STAGEGATE_GATEWAY_REDIS_URL).get(EPOCH_KEY)
    return value


def test_a_cached_grant_is_served_again(scene):
    served_from_cache(scene)
    hits = gateway_app._grants.hits
    for _ in range(5):
        assert models(scene).status_code == 200
    assert gateway_app._grants.hits == hits + 5


def test_halt(scene):
    served_from_cache(scene)
    release_halt(actor=fresh(scene.w.regulator), system_version=scene.sv, reason="Incident under review.")
    refused(scene, 403, "release_halted")


def test_revocation(scene):
    served_from_cache(scene)
    gateway_token_revoke(actor=fresh(scene.w.auditor), token=scene.token)
    refused(scene, 401, "token_revoked")


def test_assignment_end(scene):
    served_from_cache(scene)
    assignment = scene.audit.assignments.get(organisation=scene.w.auditor_org)
    auditing.assignment_end(actor=fresh(scene.w.regulator), assignment=assignment, reason="Reassigned.")
    refused(scene, 403, "assignment_ended")


def test_certification_revocation(scene):
    served_from_cache(scene)
    cert = Certification.objects.get(organisation=scene.w.auditor_org)
    auditing.certification_revoke(actor=fresh(scene.w.regulator), certification=cert, reason="Infosec failure.")
    r = models(scene)
    assert r.status_code == 403
    # Revocation ends the assignment too; either is the reason, the call is refused.
    assert r.json()["error"]["code"] in ("certification_invalid", "assignment_ended")


def test_certification_suspension(scene):
    served_from_cache(scene)
    cert = Certification.objects.get(organisation=scene.w.auditor_org)
    auditing.certification_suspend(actor=fresh(scene.w.regulator), certification=cert, reason="Infosec review.")
    refused(scene, 403, "certification_invalid")


def test_conflict_declared(scene):
    served_from_cache(scene)
    auditing.conflict_declare(
        actor=fresh(scene.w.regulator), organisation=scene.w.auditor_org, lab=scene.w.lab,
        kind="economic_interest", reason="Bought shares.",
    )  # fmt: skip
    refused(scene, 403, "conflict_of_interest")


def test_membership_end(scene):
    served_from_cache(scene)
    membership_end(actor=fresh(scene.w.regulator), membership=Membership.objects.get(user=scene.w.auditor))
    refused(scene, 403, "membership_ended")


def test_audit_close(scene):
    served_from_cache(scene)
    auditing.audit_close(actor=fresh(scene.w.regulator), audit=scene.audit, status="closed", reason="Done.")
    refused(scene, 403, "audit_not_open")


def test_holder_deactivated_but_not_a_login(scene):
    served_from_cache(scene)
    user = scene.w.auditor
    before = epoch()
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    assert epoch() == before  # a login changes no grant: the caches stay
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert epoch() != before
    refused(scene, 403, "holder_inactive")


def test_a_new_token_does_not_invalidate_the_caches(scene):
    from tests.gateway.conftest import issue

    served_from_cache(scene)
    before = epoch()
    issue(scene.sv, scene.w.auditor, audit=scene.audit)
    assert epoch() == before


def test_token_expiry_is_checked_locally(scene):
    served_from_cache(scene)
    with time_machine.travel(timezone.now() + datetime.timedelta(days=8), tick=True):
        refused(scene, 401, "token_expired")


def test_certification_expiry_is_checked_locally(scene):
    cert = Certification.objects.get(organisation=scene.w.auditor_org)
    # Expires before the token does, with nothing written when it does.
    Certification.objects.filter(pk=cert.pk).update(expires_at=timezone.now() + datetime.timedelta(days=2))
    served_from_cache(scene)
    with time_machine.travel(timezone.now() + datetime.timedelta(days=3), tick=True):
        refused(scene, 403, "certification_invalid")


def test_a_flushed_redis_counts_as_a_change(scene):
    served_from_cache(scene)
    # A write no signal sees (QuerySet.update), then Redis loses everything.
    GatewayToken.objects.filter(pk=scene.token.pk).update(revoked_at=timezone.now())
    assert models(scene).status_code == 200  # still cached: nothing said otherwise
    redis.Redis.from_url(settings.STAGEGATE_GATEWAY_REDIS_URL).flushdb()
    refused(scene, 401, "token_revoked")


def test_the_cache_ages_out(scene):
    with override_settings(STAGEGATE_GATEWAY_GRANT_CACHE_SECONDS=0.3):
        served_from_cache(scene)
        GatewayToken.objects.filter(pk=scene.token.pk).update(revoked_at=timezone.now())  # no signal
        time.sleep(0.35)
        refused(scene, 401, "token_revoked")


def revoke_quietly(pk) -> None:
    """Revoke with QuerySet.update (no signal, so no epoch bump), from a thread."""
    from django.db import connection

    try:
        GatewayToken.objects.filter(pk=pk).update(revoked_at=timezone.now())
    finally:
        connection.close()


def test_the_cache_is_dropped_after_a_redis_outage(scene, tmp_path):
    """An epoch bump may be lost while Redis is down: when it is back, every
    grant is read again, even though the epoch it kept did not change."""
    port = free_port()
    server = start_redis(port, tmp_path)
    app = GatewayApp()
    url = f"redis://127.0.0.1:{port}/0"
    try:
        with override_settings(STAGEGATE_GATEWAY_REDIS_URL=url, STAGEGATE_GATEWAY_BREAKER_SECONDS=0.3):

            async def go() -> None:
                nonlocal server
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:

                    async def call() -> httpx.Response:
                        return await client.get("/gateway/v1/models", headers=scene.headers())

                    for _ in range(3):
                        assert (await call()).status_code == 200
                    assert app._grants.entries  # cached
                    redis.Redis(port=port).save()  # the epoch survives the restart
                    server.kill()
                    server.wait()
                    assert (await call()).status_code == 503
                    # Meanwhile the token is revoked, and no bump reaches Redis.
                    await asyncio.to_thread(revoke_quietly, scene.token.pk)
                    server = start_redis(port, tmp_path)
                    await asyncio.sleep(0.4)
                    r = await call()
                    assert r.status_code == 401, r.text
                    assert r.json()["error"]["code"] == "token_revoked"

            asyncio.run(go())
    finally:
        server.kill()
        server.wait()


@pytest.mark.parametrize(
    "label",
    [
        "customers.Enrolment",
        "customers.KycRecord",
        "releases.Release",
        "auditing.OrganisationRelationship",
        "labs.ModelVersion",
    ],
)
def test_writers_above_the_gateway_bump_the_epoch(label):
    from django.apps import apps
    from django.db.models.signals import post_delete, post_save

    try:
        model = apps.get_model(label)
    except LookupError:
        pytest.skip(f"{label} is not installed")
    assert post_save.has_listeners(model) and post_delete.has_listeners(model)


def test_the_release_bumps_the_epoch_whichever_app_defines_it():
    """The grant reads the release's stage (deployed as audited from stage 2)
    and status: its writes must drop cached grants, whether Release lives in
    deploy or in the low releases app."""
    from django.db.models.signals import post_delete, post_save

    from labs.models import SystemVersion

    release = SystemVersion._meta.get_field("release").related_model
    for signal in (post_save, post_delete):
        keys = [receiver[0] for receiver in signal.receivers]
        assert ("gateway-grant-epoch", id(release)) in keys, signal
