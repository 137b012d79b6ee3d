"""Tests run against PostgreSQL and Redis, as in production (DATABASE_URL and
REDIS_URL; scripts/test sets local defaults)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from core.actors import actor_for


@pytest.fixture(autouse=True)
def _fresh_login_limits():
    """Failed sign-ins are counted in Redis for 15 minutes (core/login_throttle.py):
    each test starts with none, whatever earlier tests or runs did."""
    import redis
    from django.conf import settings

    from core import login_throttle

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = list(client.scan_iter(match="stagegate:login:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
    login_throttle._local.counts.clear()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for():
    """An API client authenticated as a user."""

    def make(user) -> APIClient:
        c = APIClient()
        c.force_authenticate(user=user)
        return c

    return make


@pytest.fixture
def actor_of():
    def make(user):
        if hasattr(user, "_stagegate_actor"):
            del user._stagegate_actor
        return actor_for(user)

    return make


@pytest.fixture
def world(db):
    """A small world with every role: see tests/factories.World."""
    from tests.factories import World

    return World.build()


@pytest.fixture
def reference_data(transactional_db):
    """The rows the data migrations create (the affordance catalogue, the default
    standard). A transactional test's flush empties every table; this puts them
    back. Transactional tests use this rather than serialized rollback, which
    collides with the content types a flush re-creates."""
    import importlib

    from django.apps import apps

    for module in (
        "labs.migrations.0002_affordance_catalogue",
        "standards.migrations.0002_default_standard",
        "standards.migrations.0004_standard_2026_2",
        "standards.migrations.0005_standard_2026_3",
        "standards.migrations.0006_standard_2026_4",
    ):
        importlib.import_module(module).load(apps, None)
