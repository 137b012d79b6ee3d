"""Fixtures for the auditing tests. System versions are created directly with the
ORM (labs' services are written elsewhere); everything of auditing's own goes
through its services."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from auditing import services
from core.actors import actor_for
from labs.models import ModelVersion, SystemVersion
from tests.factories import sha256


def actor(user: Any) -> Any:
    # A fresh actor: memberships may have changed since the user was last resolved.
    if hasattr(user, "_stagegate_actor"):
        del user._stagegate_actor
    return actor_for(user)


def make_system_version(lab: Any, user: Any, name: str = "chat", sequence: int = 1) -> SystemVersion:
    model = ModelVersion.objects.create(
        lab=lab,
        name=f"{lab.slug}-{name}",
        version=f"{sequence}.0",
        weights_digest=sha256(f"weights {lab.slug} {name} {sequence}"),
        parameter_count=70_000_000_000,
        training_compute_flop=3.1e24,
        created_by=user,
    )
    return SystemVersion.objects.create(
        lab=lab,
        model_version=model,
        name=name,
        sequence=sequence,
        system_prompt="You are a trading assistant.",
        system_prompt_digest=sha256("You are a trading assistant."),
        endpoint_base_url="https://api.example.test/v1",
        endpoint_model="model-1",
        configuration_digest=sha256(f"config {lab.slug} {name} {sequence}"),
        created_by=user,
    )


def certify(world: Any, organisation: Any, *, days: float = 365, risk_areas: list[str] | None = None) -> Any:
    return services.certification_issue(
        actor=actor(world.regulator),
        organisation=organisation,
        expires_at=timezone.now() + datetime.timedelta(days=days),
        risk_areas=risk_areas or ["deception", "cyber"],
        infosec_level="SL3",
    )


def open_audit(world: Any, system_version: Any, *, amount: str = "50000.00", currency: str = "GBP") -> Any:
    return services.audit_open(
        actor=actor(world.regulator),
        system_version=system_version,
        kind="initial",
        scope_notes="Full audit before stage 1.",
        lab_fee_amount=Decimal(amount),
        currency=currency,
    )


def assign(world: Any, audit: Any, organisation: Any, amount: str = "20000.00") -> Any:
    return services.audit_assign(
        actor=actor(world.regulator), audit=audit, organisation=organisation, payout_amount=Decimal(amount)
    )


@pytest.fixture
def reg(world: Any) -> Any:
    return actor(world.regulator)


@pytest.fixture
def system_version(world: Any) -> SystemVersion:
    return make_system_version(world.lab, world.lab_engineer)


@pytest.fixture
def other_system_version(world: Any) -> SystemVersion:
    return make_system_version(world.other_lab, world.other_lab_admin, name="borealis-chat")


@pytest.fixture
def certified(world: Any) -> Any:
    """Both auditor organisations and the academic group hold a valid certification."""
    return {
        "auditor": certify(world, world.auditor_org),
        "other_auditor": certify(world, world.other_auditor_org),
        "academic": certify(world, world.academic_org),
    }


@pytest.fixture
def audit(world: Any, system_version: Any) -> Any:
    return open_audit(world, system_version)


@pytest.fixture
def assignment(world: Any, audit: Any, certified: Any) -> Any:
    """Sentinel Audit (world.auditor_org) assigned to the lab's audit."""
    return assign(world, audit, world.auditor_org)
