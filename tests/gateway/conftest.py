"""Gateway fixtures: a scripted upstream and the real ASGI application, each
served by uvicorn in a thread; a world with a certified auditor assigned to an
open audit of a system version at stage 1, and a token for them.

The gateway reads the database from its own threads, so these tests use
committed data (``transactional_db``)."""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from auditing import services as auditing
from core.actors import actor_for
from gateway.selectors import model_id_of
from gateway.services import gateway_token_issue
from labs import services as labs
from standards.models import RiskArea
from tests.factories import World, release_at, sha256
from tests.gateway.planes import NginxServer
from tests.gateway.upstream_double import ScriptedUpstream, ThreadServer

CREDENTIAL = "sk-lab-upstream-credential-0123456789abcdef"


def fresh(user: Any) -> Any:
    if hasattr(user, "_stagegate_actor"):
        del user._stagegate_actor
    return actor_for(user)


@pytest.fixture(scope="session")
def upstream() -> Any:
    double = ScriptedUpstream()
    server = ThreadServer(double).start()
    double.url = server.url  # type: ignore[attr-defined]
    yield double
    server.stop()


@pytest.fixture(scope="session", params=["python", "nginx"])
def gateway_url(request: pytest.FixtureRequest) -> Any:
    """The gateway, once per data plane (tests/gateway/planes.py)."""
    from config.asgi import application
    from gateway.proxy.server import close_db_connections

    server = ThreadServer(application).start()
    front = NginxServer(server.url).start() if request.param == "nginx" else None
    yield front.url if front is not None else server.url
    if front is not None:
        front.stop()
    server.stop()
    close_db_connections()


@pytest.fixture(autouse=True)
def _clean_redis() -> None:
    redis.Redis.from_url(settings.STAGEGATE_GATEWAY_REDIS_URL).flushdb()


@dataclass
class Scene:
    w: World
    sv: Any
    audit: Any
    token: Any
    secret: str
    model: str
    base_url: str
    upstream: Any

    def headers(self, secret: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret or self.secret}"}


def issue(scene_or_sv: Any, user: Any, **kwargs: Any) -> tuple[Any, str]:
    kwargs.setdefault("kind", "auditor")
    kwargs.setdefault("name", "tests")
    kwargs.setdefault("expires_at", timezone.now() + datetime.timedelta(days=7))
    return gateway_token_issue(actor=fresh(user), system_version=scene_or_sv, **kwargs)


def build(
    upstream: Any,
    gateway_url: str,
    *,
    endpoint_base_url: str | None = None,
    endpoint_model: str = "upstream-model-7b",
    credential: str = CREDENTIAL,
    system: dict[str, Any] | None = None,
    **token_kwargs: Any,
) -> Scene:
    w = World.build()
    reg = fresh(w.regulator)
    eng = fresh(w.lab_engineer)
    far = timezone.now() + datetime.timedelta(days=365)
    for org in (w.auditor_org, w.other_auditor_org, w.academic_org):
        auditing.certification_issue(
            actor=reg, organisation=org, expires_at=far, risk_areas=list(RiskArea.values), infosec_level="SL3"
        )
    mv = labs.model_version_create(
        actor=eng,
        lab=w.lab,
        name="Aurora",
        version="1",
        weights_digest=sha256("w1"),
        parameter_count=7_000_000_000,
        training_compute_flop=1e24,
    )
    sv = labs.system_version_create(
        actor=eng,
        lab=w.lab,
        model_version=mv,
        name="Assistant",
        affordances=["tool_use"],
        endpoint_base_url=endpoint_base_url or upstream.url + "/v1",
        endpoint_model=endpoint_model,
        endpoint_credential=credential,
        **(system or {}),  # e.g. the system prompt and declared tools (deployed as audited)
    )
    audit = auditing.audit_open(actor=reg, system_version=sv, lab_fee_amount=Decimal("1000"))
    auditing.audit_assign(actor=reg, audit=audit, organisation=w.auditor_org, payout_amount=Decimal("400"))
    release_at(sv, 1)
    token, secret = issue(sv, w.auditor, audit=audit, **token_kwargs)
    return Scene(
        w=w,
        sv=sv,
        audit=audit,
        token=token,
        secret=secret,
        model=model_id_of(lab_slug=w.lab.slug, name=sv.name, sequence=sv.sequence),
        base_url=gateway_url + "/gateway/v1",
        upstream=upstream,
    )


@pytest.fixture
def scene(reference_data: Any, upstream: Any, gateway_url: str) -> Scene:
    upstream.reset()
    return build(upstream, gateway_url)


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog
