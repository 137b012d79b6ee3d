"""Fixtures for the monitoring tests: a system version of the world's lab
audited by Sentinel Audit (certified, assigned), helpers to stand its
release at a stage, enrol the world's customer, and a registered
whistleblower key whose private half the test holds."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import redis
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from django.conf import settings
from django.utils import timezone

from customers.models import Enrolment
from deploy.models import Release
from monitoring import hpke, limits
from monitoring import services as monitoring
from tests.auditing.conftest import actor, assign, certify, make_system_version, open_audit
from tests.factories import release_at


@pytest.fixture(autouse=True)
def _fresh_rate_limit():
    """Each test starts with empty per-minute counters (they share Redis)."""
    client = redis.Redis.from_url(settings.REDIS_URL)

    def clear() -> None:
        for prefix in (limits.KEY_PREFIX, limits.SOURCE_PREFIX, limits.SALT_PREFIX):
            for key in client.scan_iter(match=prefix + "*"):
                client.delete(key)

    clear()
    yield
    clear()


def ago(**kwargs: float) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(**kwargs)


def body(**overrides: Any) -> dict[str, Any]:
    """The fields of an incident report (kind: a key of the default standard)."""
    data: dict[str, Any] = {
        "kind": "other",
        "title": "Safeguard bypassed",
        "description": "A customer's agent used the browsing tool to reach a paid GPU service.",
        "occurred_at": ago(hours=6),
        "aware_at": ago(hours=2),
    }
    data.update(overrides)
    return data


def report(user: Any, system_version: Any, **overrides: Any) -> Any:
    return monitoring.incident_report(actor=actor(user), system_version=system_version, **body(**overrides))


def enrol(world: Any, system_version: Any, customer_org: Any = None) -> Enrolment:
    """Test setup: the customer holds an active enrolment in the release (the
    customers app's own tests cover KYC and enrolment through its services)."""
    release = Release.objects.get(system_version=system_version)
    return Enrolment.objects.create(
        release=release, customer=customer_org or world.customer_org, enrolled_by=world.lab_admin
    )


@pytest.fixture
def sv(world: Any) -> Any:
    return make_system_version(world.lab, world.lab_engineer)


@pytest.fixture
def audited(world: Any, sv: Any) -> Any:
    """Sentinel Audit certified and assigned to an audit of ``sv``."""
    certify(world, world.auditor_org)
    audit = open_audit(world, sv)
    assign(world, audit, world.auditor_org)
    return audit


@pytest.fixture
def at_stage(sv: Any):
    def put(stage: int, status: str = "active", system_version: Any = None) -> Release:
        return release_at(system_version or sv, stage, status)

    return put


@pytest.fixture
def limited(world: Any, sv: Any, audited: Any) -> Any:
    """``sv`` at stage 2, active, audited, the world's customer enrolled."""
    release_at(sv, 2)
    enrol(world, sv)
    return sv


@pytest.fixture
def wb_private() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


@pytest.fixture
def wb_key(world: Any, wb_private: X25519PrivateKey) -> Any:
    return monitoring.whistleblower_key_register(
        actor=actor(world.regulator), public_key=hpke.public_key_b64(wb_private.public_key())
    )
