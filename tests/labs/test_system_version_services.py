"""System versions: first versions, revisions that never edit in place, and
credentials rotated in place."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from core.canonical import sha256_hex
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.models import AuditEvent
from labs import services
from labs.credentials import decrypt_credential
from labs.digest import system_configuration_digest
from labs.models import SystemVersion
from tests.labs.conftest import CREDENTIAL, actor, make_model_version, make_system_version

pytestmark = pytest.mark.django_db


def raw_row(pk: Any) -> tuple[Any, ...]:
    """The row exactly as PostgreSQL stores it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT labs_systemversion::text FROM labs_systemversion WHERE id = %s", [pk])
        return cursor.fetchone()  # type: ignore[return-value]


def keys(sv: Any) -> list[str]:
    return sorted(sv.affordances.values_list("key", flat=True))


# --- create -----------------------------------------------------------------


@pytest.mark.parametrize("who", ["lab_admin", "lab_engineer"])
def test_lab_writers_create_the_first_version(world: Any, model_version: Any, who: str) -> None:
    sv = make_system_version(getattr(world, who), world.lab, model_version)
    sv.refresh_from_db()
    assert (sv.sequence, sv.predecessor, sv.name) == (1, None, "aurora-chat")
    assert keys(sv) == ["internet_access", "tool_use"]
    assert sv.system_prompt_digest == sha256_hex("You are a helpful assistant.")
    assert sv.configuration_digest == system_configuration_digest(
        model_weights_digest=model_version.weights_digest,
        model_name=model_version.name,
        model_version=model_version.version,
        affordances=["tool_use", "internet_access"],
        scaffolding="ReAct loop, 20 steps",
        system_prompt_digest=sv.system_prompt_digest,
        content_filters=["pii-redactor", "toxicity-v2"],
        online_learning=False,
        endpoint_base_url="https://api.aurora.example/v1",
        endpoint_model="aurora-1.0-chat",
    )
    assert sv.content_filters == ["pii-redactor", "toxicity-v2"]
    assert CREDENTIAL not in sv.endpoint_credential_ciphertext
    assert decrypt_credential(sv.endpoint_credential_ciphertext) == CREDENTIAL
    event = AuditEvent.objects.get(action="system_version.create")
    assert event.after["affordances"] == ["internet_access", "tool_use"] and event.after["has_credential"] is True
    assert "endpoint_credential_ciphertext" not in event.after
    assert CREDENTIAL not in str(event.after)
    assert list(event.organisations.all()) == [world.lab]


def test_a_system_without_a_credential(world: Any, model_version: Any) -> None:
    sv = make_system_version(world.lab_admin, world.lab, model_version, endpoint_credential=None)
    assert sv.endpoint_credential_ciphertext == "" and not sv.has_credential


@pytest.mark.parametrize("who", ["lab_reviewer", "other_lab_admin", "regulator", "auditor", "customer", "outsider"])
def test_others_may_not_create(world: Any, model_version: Any, who: str) -> None:
    with pytest.raises(Forbidden):
        make_system_version(getattr(world, who), world.lab, model_version)
    assert not SystemVersion.objects.exists()


def test_model_version_must_belong_to_the_lab(world: Any) -> None:
    theirs = make_model_version(world.other_lab_admin, world.other_lab)
    with pytest.raises(InvalidInput) as exc:
        make_system_version(world.lab_admin, world.lab, theirs)
    assert "model_version" in exc.value.errors
    assert not SystemVersion.objects.exists()


def test_a_used_name_is_a_conflict_that_points_to_revisions(world: Any, system_version: Any) -> None:
    with pytest.raises(Conflict) as exc:
        make_system_version(world.lab_admin, world.lab, system_version.model_version, scaffolding="other")
    assert exc.value.code == "duplicate"
    assert "revisions" in exc.value.detail
    assert exc.value.extra == {"latest": str(system_version.pk)}
    # The same name in another lab is another system.
    mv = make_model_version(world.other_lab_admin, world.other_lab)
    make_system_version(world.other_lab_admin, world.other_lab, mv, name=system_version.name)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("affordances", ["internet_access", "telepathy"]),
        ("affordances", "internet_access"),
        ("content_filters", ["ok", ""]),
        ("content_filters", "pii"),
        ("endpoint_base_url", "ftp://api.aurora.example/"),
        ("endpoint_base_url", "https://user:pw@api.aurora.example/"),
        ("endpoint_model", " "),
        ("name", ""),
        ("endpoint_credential", ""),
        ("online_learning", "yes"),
        ("declared_tools", "refund"),
        ("declared_tools", ["refund", "refund"]),
        ("declared_tools", ["wire transfer"]),
        ("declared_tools", ["x" * 65]),
        ("declared_tools", [7]),
    ],
)
def test_bad_input_is_refused_and_nothing_written(world: Any, model_version: Any, field: str, value: Any) -> None:
    with pytest.raises(InvalidInput) as exc:
        make_system_version(world.lab_admin, world.lab, model_version, **{field: value})
    assert field in exc.value.errors
    assert not SystemVersion.objects.exists()
    assert not AuditEvent.objects.filter(action="system_version.create").exists()


def test_unknown_affordances_are_named(world: Any, model_version: Any) -> None:
    with pytest.raises(InvalidInput) as exc:
        make_system_version(world.lab_admin, world.lab, model_version, affordances=["telepathy", "shell", "x"])
    assert exc.value.errors["affordances"] == ["Unknown affordance: telepathy.", "Unknown affordance: x."]


@override_settings(STAGEGATE_ALLOW_PRIVATE_UPSTREAMS=False)
def test_private_upstreams_are_refused_when_not_allowed(world: Any, model_version: Any) -> None:
    with pytest.raises(InvalidInput) as exc:
        make_system_version(world.lab_admin, world.lab, model_version, endpoint_base_url="http://10.0.0.5:8000/v1")
    assert "endpoint_base_url" in exc.value.errors
    sv = make_system_version(world.lab_admin, world.lab, model_version, endpoint_base_url="https://93.184.216.34/v1")
    assert sv.endpoint_base_url == "https://93.184.216.34/v1"


@override_settings(STAGEGATE_ALLOW_PRIVATE_UPSTREAMS=True)
def test_private_upstreams_are_accepted_when_allowed(world: Any, model_version: Any) -> None:
    sv = make_system_version(world.lab_admin, world.lab, model_version, endpoint_base_url="http://127.0.0.1:8000/v1")
    assert sv.endpoint_base_url == "http://127.0.0.1:8000/v1"


# --- revise -----------------------------------------------------------------


def test_revise_creates_a_new_row_and_leaves_the_old_one_byte_identical(world: Any, system_version: Any) -> None:
    old_row = raw_row(system_version.pk)
    old_keys = keys(system_version)
    new = services.system_version_revise(
        actor=actor(world.lab_engineer),
        system_version=system_version,
        change_summary="Adds code execution",
        affordances=["internet_access", "tool_use", "code_execution"],
    )
    assert new.pk != system_version.pk
    assert raw_row(system_version.pk) == old_row
    assert keys(SystemVersion.objects.get(pk=system_version.pk)) == old_keys
    new.refresh_from_db()
    assert (new.sequence, new.predecessor_id, new.name, new.lab) == (2, system_version.pk, "aurora-chat", world.lab)
    assert keys(new) == ["code_execution", "internet_access", "tool_use"]
    # Unchanged fields and the credential carry over.
    for field in (
        "model_version_id",
        "scaffolding",
        "system_prompt",
        "system_prompt_digest",
        "content_filters",
        "online_learning",
        "endpoint_base_url",
        "endpoint_model",
        "endpoint_credential_ciphertext",
    ):
        assert getattr(new, field) == getattr(system_version, field), field
    assert new.configuration_digest != system_version.configuration_digest
    assert new.change_summary == "Adds code execution" and new.created_by == world.lab_engineer
    event = AuditEvent.objects.get(action="system_version.revise")
    assert event.target_id == str(new.pk)
    assert event.before["id"] == str(system_version.pk) and event.after["sequence"] == 2
    assert event.before["affordances"] == old_keys
    assert "endpoint_credential_ciphertext" not in event.before and "endpoint_credential_ciphertext" not in event.after


@pytest.mark.parametrize(
    "change",
    [
        {"scaffolding": "Plan-and-execute"},
        {"system_prompt": "You are terse."},
        {"content_filters": ["toxicity-v2", "pii-redactor"]},  # order matters
        {"online_learning": True},
        {"endpoint_base_url": "https://api.aurora.example/v2"},
        {"endpoint_model": "aurora-1.0-chat-fast"},
        {"affordances": []},
    ],
)
def test_each_defining_field_can_be_revised(world: Any, system_version: Any, change: dict[str, Any]) -> None:
    new = services.system_version_revise(
        actor=actor(world.lab_admin), system_version=system_version, change_summary="change", **change
    )
    field, value = next(iter(change.items()))
    if field == "affordances":
        assert keys(new) == []
    else:
        assert getattr(new, field) == value
    if field == "system_prompt":
        assert new.system_prompt_digest == sha256_hex(value)


def test_revise_to_a_new_model_version(world: Any, system_version: Any) -> None:
    mv2 = make_model_version(world.lab_admin, world.lab, version="1.1")
    new = services.system_version_revise(
        actor=actor(world.lab_admin), system_version=system_version, change_summary="new checkpoint", model_version=mv2
    )
    assert new.model_version == mv2


def test_revise_to_another_labs_model_version_is_refused(world: Any, system_version: Any) -> None:
    theirs = make_model_version(world.other_lab_admin, world.other_lab)
    with pytest.raises(InvalidInput) as exc:
        services.system_version_revise(
            actor=actor(world.lab_admin), system_version=system_version, change_summary="x", model_version=theirs
        )
    assert "model_version" in exc.value.errors


def test_a_new_credential_in_a_revision(world: Any, system_version: Any) -> None:
    new = services.system_version_revise(
        actor=actor(world.lab_admin),
        system_version=system_version,
        change_summary="x",
        scaffolding="other",
        endpoint_credential="sk-new",
    )
    assert decrypt_credential(new.endpoint_credential_ciphertext) == "sk-new"
    assert (
        decrypt_credential(SystemVersion.objects.get(pk=system_version.pk).endpoint_credential_ciphertext) == CREDENTIAL
    )


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"scaffolding": "ReAct loop, 20 steps"},  # the same value
        {"affordances": ["tool_use", "internet_access", "tool_use"]},  # the same set
        {"endpoint_credential": "sk-only-the-credential"},  # not part of the configuration
    ],
)
def test_a_revision_that_changes_nothing_is_refused(world: Any, system_version: Any, change: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as exc:
        services.system_version_revise(
            actor=actor(world.lab_admin), system_version=system_version, change_summary="nothing", **change
        )
    assert exc.value.code == "no_change"
    assert SystemVersion.objects.count() == 1


def test_only_the_latest_version_can_be_revised(world: Any, system_version: Any) -> None:
    v2 = services.system_version_revise(
        actor=actor(world.lab_admin), system_version=system_version, change_summary="v2", scaffolding="v2"
    )
    with pytest.raises(Conflict) as exc:
        services.system_version_revise(
            actor=actor(world.lab_admin), system_version=system_version, change_summary="fork", scaffolding="fork"
        )
    assert exc.value.code == "not_latest"
    assert exc.value.extra == {"latest": str(v2.pk)}
    v3 = services.system_version_revise(
        actor=actor(world.lab_admin), system_version=v2, change_summary="v3", scaffolding="v3"
    )
    assert (v3.sequence, v3.predecessor_id) == (3, v2.pk)


def test_revise_scoping(world: Any, system_version: Any, assign: Any) -> None:
    assign(system_version, world.auditor_org)
    kwargs = {"system_version": system_version, "change_summary": "x", "scaffolding": "y"}
    for who in ("other_lab_admin", "other_auditor", "customer", "outsider"):
        with pytest.raises(NotFound):
            services.system_version_revise(actor=actor(getattr(world, who)), **kwargs)
    for who in ("regulator", "auditor", "lab_reviewer"):
        with pytest.raises(Forbidden):
            services.system_version_revise(actor=actor(getattr(world, who)), **kwargs)
    assert SystemVersion.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "renamed"}, "name"),
        ({"lab": "x"}, "lab"),
        ({"sequence": 7}, "sequence"),
        ({"configuration_digest": "0" * 64}, "configuration_digest"),
        ({"affordances": ["telepathy"]}, "affordances"),
        ({"endpoint_base_url": "gopher://x"}, "endpoint_base_url"),
        ({"endpoint_credential": ""}, "endpoint_credential"),
    ],
)
def test_revise_refuses_bad_or_unknown_changes(
    world: Any, system_version: Any, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        services.system_version_revise(
            actor=actor(world.lab_admin), system_version=system_version, change_summary="x", **change
        )
    assert field in exc.value.errors
    assert SystemVersion.objects.count() == 1


def test_revise_needs_a_change_summary(world: Any, system_version: Any) -> None:
    with pytest.raises(InvalidInput) as exc:
        services.system_version_revise(
            actor=actor(world.lab_admin), system_version=system_version, change_summary=" ", scaffolding="y"
        )
    assert "change_summary" in exc.value.errors


# --- credential rotation in place --------------------------------------------


def test_rotate_credential_in_place(world: Any, system_version: Any) -> None:
    before = SystemVersion.objects.values().get(pk=system_version.pk)
    services.system_version_credential_rotate(
        actor=actor(world.lab_engineer), system_version=system_version, credential="sk-rotated"
    )
    after = SystemVersion.objects.values().get(pk=system_version.pk)
    assert {k for k in before if before[k] != after[k]} == {"endpoint_credential_ciphertext", "updated_at"}
    assert decrypt_credential(after["endpoint_credential_ciphertext"]) == "sk-rotated"
    assert SystemVersion.objects.count() == 1
    event = AuditEvent.objects.get(action="system_version.credential_rotate")
    assert event.before == {"has_credential": True} and event.after == {"has_credential": True}
    assert list(event.organisations.all()) == [world.lab]


def test_rotate_credential_scoping(world: Any, system_version: Any, assign: Any) -> None:
    assign(system_version, world.auditor_org)
    ciphertext = system_version.endpoint_credential_ciphertext
    for who in ("other_lab_admin", "other_auditor", "outsider"):
        with pytest.raises(NotFound):
            services.system_version_credential_rotate(
                actor=actor(getattr(world, who)), system_version=system_version, credential="sk-x"
            )
    for who in ("regulator", "auditor", "lab_reviewer"):
        with pytest.raises(Forbidden):
            services.system_version_credential_rotate(
                actor=actor(getattr(world, who)), system_version=system_version, credential="sk-x"
            )
    assert SystemVersion.objects.get(pk=system_version.pk).endpoint_credential_ciphertext == ciphertext
    assert not AuditEvent.objects.filter(action="system_version.credential_rotate").exists()


def test_rotate_refuses_a_blank_credential(world: Any, system_version: Any) -> None:
    with pytest.raises(InvalidInput) as exc:
        services.system_version_credential_rotate(
            actor=actor(world.lab_admin), system_version=system_version, credential="  "
        )
    assert "credential" in exc.value.errors


# --- declared tools -------------------------------------------------------------


def test_declared_tools_are_stored_sorted_and_covered_by_the_digest(world: Any, model_version: Any) -> None:
    sv = make_system_version(world.lab_admin, world.lab, model_version, declared_tools=["refund", "lookup_order"])
    sv.refresh_from_db()
    assert sv.declared_tools == ["lookup_order", "refund"]
    plain = make_system_version(world.lab_admin, world.lab, model_version, name="plain")
    # The same configuration but for the tools: another digest.
    assert plain.declared_tools == [] and plain.configuration_digest != sv.configuration_digest


def test_declaring_tools_needs_the_tool_use_affordance(world: Any, model_version: Any) -> None:
    with pytest.raises(InvalidInput) as exc:
        make_system_version(
            world.lab_admin, world.lab, model_version, affordances=["internet_access"], declared_tools=["refund"]
        )
    assert "tool_use" in exc.value.errors["declared_tools"][0]
    assert not SystemVersion.objects.exists()


def test_a_change_of_tools_makes_a_new_version(world: Any, system_version: Any) -> None:
    new = services.system_version_revise(
        actor=actor(world.lab_admin),
        system_version=system_version,
        change_summary="Offer refunds",
        declared_tools=["refund"],
    )
    assert new.declared_tools == ["refund"] and new.configuration_digest != system_version.configuration_digest
    system_version.refresh_from_db()
    assert system_version.declared_tools == []
    # Tools carry over to the next version unless changed.
    newer = services.system_version_revise(
        actor=actor(world.lab_admin), system_version=new, change_summary="New prompt", system_prompt="Be brief."
    )
    assert newer.declared_tools == ["refund"]
