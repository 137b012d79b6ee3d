"""The portal's tests drive the real pages with Django's test client, over the
real services. The gate fixture (a system version with two lab reviewers and
two certified, assigned auditor organisations) is deploy's, imported."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

# Re-exported so that pytest finds deploy's fixture here too.
from tests.deploy.conftest import Gate, gate

__all__ = ["Gate", "gate"]


@pytest.fixture
def login():
    """A test client signed in (session) as ``user``."""

    def make(user: Any) -> Client:
        c = Client()
        c.force_login(user)
        return c

    return make
