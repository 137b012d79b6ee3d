"""Fixtures for the labs tests: model and system versions registered through the
services, and audits/assignments created directly (auditing's services are
written elsewhere)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.test import override_settings

from core.actors import actor_for
from labs import services
from tests.factories import sha256

CREDENTIAL = "sk-live-TEST-credential-7f3a9c1e"
OTHER_CREDENTIAL = "sk-live-OTHER-credential-0b2d4e6f"


def actor(user: Any) -> Any:
    # A fresh actor: memberships may have changed since the user was last resolved.
    if hasattr(user, "_stagegate_actor"):
        del user._stagegate_actor
    return actor_for(user)


@pytest.fixture(autouse=True)
def credential_key() -> Any:
    """A known Fernet key per test, so no test depends on the checkout's local key."""
    key = Fernet.generate_key().decode()
    with override_settings(STAGEGATE_CREDENTIAL_KEYS=[key]):
        yield key


def make_model_version(user: Any, lab: Any, name: str = "aurora", version: str = "1.0", **overrides: Any) -> Any:
    fields = {
        "name": name,
        "version": version,
        "weights_digest": sha256(f"{lab.slug}-{name}-{version}"),
        "parameter_count": 70_000_000_000,
        "training_compute_flop": 3.1e24,
        "notes": "",
    }
    fields.update(overrides)
    return services.model_version_create(actor=actor(user), lab=lab, **fields)


def make_system_version(user: Any, lab: Any, model_version: Any, name: str = "aurora-chat", **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "affordances": ["internet_access", "tool_use"],
        "scaffolding": "ReAct loop, 20 steps",
        "system_prompt": "You are a helpful assistant.",
        "content_filters": ["pii-redactor", "toxicity-v2"],
        "online_learning": False,
        "endpoint_base_url": "https://api.aurora.example/v1",
        "endpoint_model": "aurora-1.0-chat",
        "endpoint_credential": CREDENTIAL,
        "change_summary": "First version",
    }
    fields.update(overrides)
    return services.system_version_create(actor=actor(user), lab=lab, model_version=model_version, name=name, **fields)


@pytest.fixture
def model_version(world: Any) -> Any:
    return make_model_version(world.lab_admin, world.lab)


@pytest.fixture
def system_version(world: Any, model_version: Any) -> Any:
    return make_system_version(world.lab_engineer, world.lab, model_version)


@pytest.fixture
def other_system_version(world: Any) -> Any:
    mv = make_model_version(world.other_lab_admin, world.other_lab, name="borealis")
    return make_system_version(
        world.other_lab_admin,
        world.other_lab,
        mv,
        name="borealis-agent",
        endpoint_credential=OTHER_CREDENTIAL,
        endpoint_base_url="https://api.borealis.example/v1",
    )


@pytest.fixture
def assign(world: Any) -> Callable[..., Any]:
    """Open an audit of a system version and assign an auditor organisation to it."""
    from auditing.models import Audit, AuditAssignment
    from standards.models import Standard

    def make(system_version: Any, organisation: Any, *, ended: bool = False) -> Any:
        from django.utils import timezone

        audit = Audit.objects.create(
            lab=system_version.lab,
            system_version=system_version,
            standard=Standard.objects.in_force().get(),
            opened_by=world.regulator,
        )
        return AuditAssignment.objects.create(
            audit=audit,
            organisation=organisation,
            assigned_by=world.regulator,
            ended_at=timezone.now() if ended else None,
            ended_by=world.regulator if ended else None,
        )

    return make


def fake_resolver(table: dict[str, list[str]]) -> Callable[..., Any]:
    """A getaddrinfo stand-in: names map to addresses; unknown names fail."""

    def resolve(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for address in table[host]:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
            out.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
        return out

    return resolve
