"""Writes for labs: registering model versions, the first version of a system,
its revisions, and rotating its endpoint credential.

A system version is never edited in place: a change to anything that defines it
makes a successor, because audits and sign-offs bind the configuration digest.
Only the endpoint credential, which is not part of the configuration, changes
in place.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction

from core.actors import Actor
from core.audit import audit_event_record, snapshot
from core.db import save_or_conflict
from core.errors import Conflict, InvalidInput
from core.models import Organisation, OrganisationKind
from core.permissions import VIEW, get_for, require
from core.validation import full_clean_or_invalid
from labs.credentials import encrypt_credential
from labs.digest import system_configuration_digest, system_prompt_digest
from labs.endpoints import validate_upstream_base_url
from labs.models import Affordance, ModelVersion, SystemVersion

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# A function name as the OpenAI-compatible chat API accepts it.
TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Declaring tools needs the affordance that says the system calls functions.
TOOL_AFFORDANCE = "tool_use"

MODEL_VERSION_FIELDS = frozenset(
    {"name", "version", "weights_digest", "parameter_count", "training_compute_flop", "notes"}
)
# The model fields that system configuration digests cover.
MODEL_VERSION_DEFINING_FIELDS = frozenset({"name", "version", "weights_digest"})

SYSTEM_VERSION_REVISABLE = frozenset(
    {
        "model_version",
        "affordances",
        "scaffolding",
        "system_prompt",
        "content_filters",
        "declared_tools",
        "online_learning",
        "endpoint_base_url",
        "endpoint_model",
        "endpoint_credential",
    }
)

_SECRET_FIELDS = ("endpoint_credential_ciphertext",)


# --- helpers ---------------------------------------------------------------


def _require_lab_writer(actor: Actor, lab_id: UUID) -> None:
    require(
        lab_id in actor.lab_writer_ids,
        "Only the lab's admins and engineers may register or change its versions.",
        code="lab_writer_only",
    )


def _blank(value: Any) -> bool:
    return not isinstance(value, str) or not value.strip()


def _unknown_fields(fields: Iterable[str], allowed: frozenset[str]) -> None:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise InvalidInput(
            "Some fields cannot be changed.", errors={k: ["This field cannot be changed."] for k in unknown}
        )


def _system_version_state(sv: SystemVersion, affordance_keys: Iterable[str]) -> dict[str, Any]:
    """What an audit event records about a system version: never the credential."""
    state = snapshot(sv, exclude=_SECRET_FIELDS)
    state["affordances"] = sorted(affordance_keys)
    state["has_credential"] = sv.has_credential
    return state


def _model_version_errors(
    *,
    name: Any = None,
    version: Any = None,
    weights_digest: Any = None,
    parameter_count: Any = None,
    training_compute_flop: Any = None,
    fields: Iterable[str],
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    fields = set(fields)
    if "name" in fields and _blank(name):
        errors["name"] = ["This field may not be blank."]
    if "version" in fields and _blank(version):
        errors["version"] = ["This field may not be blank."]
    if "weights_digest" in fields and not (isinstance(weights_digest, str) and SHA256_HEX.fullmatch(weights_digest)):
        errors["weights_digest"] = ["Must be the SHA-256 of the weights: 64 lowercase hexadecimal characters."]
    if "parameter_count" in fields and (
        isinstance(parameter_count, bool) or not isinstance(parameter_count, int) or parameter_count <= 0
    ):
        errors["parameter_count"] = ["Must be a positive whole number."]
    if "training_compute_flop" in fields and (
        isinstance(training_compute_flop, bool)
        or not isinstance(training_compute_flop, int | float)
        or not math.isfinite(training_compute_flop)
        or training_compute_flop <= 0
    ):
        errors["training_compute_flop"] = ["Must be a positive, finite number of FLOP."]
    return errors


def _check_system_fields(
    *,
    affordances: Sequence[str],
    content_filters: Sequence[str],
    scaffolding: Any,
    system_prompt: Any,
    online_learning: Any,
    endpoint_base_url: Any,
    endpoint_model: Any,
    declared_tools: Any = (),
) -> tuple[list[str], str, list[str]]:
    """Validate what defines a system; return the affordance keys, the
    (validated) base URL and the declared tool names (sorted), or raise
    InvalidInput naming every bad field."""
    errors: dict[str, list[str]] = {}
    keys: list[str] = []
    if not isinstance(affordances, list | tuple) or not all(isinstance(a, str) for a in affordances):
        errors["affordances"] = ["Must be a list of affordance keys."]
    else:
        keys = sorted(set(affordances))
        known = set(Affordance.objects.filter(key__in=keys).values_list("key", flat=True))
        unknown = [k for k in keys if k not in known]
        if unknown:
            errors["affordances"] = [f"Unknown affordance: {k}." for k in unknown]
    if not isinstance(content_filters, list | tuple) or not all(
        isinstance(f, str) and f.strip() for f in content_filters
    ):
        errors["content_filters"] = ["Must be a list of non-blank filter names, in pipeline order."]
    tools: list[str] = []
    if not isinstance(declared_tools, list | tuple) or not all(
        isinstance(t, str) and TOOL_NAME.fullmatch(t) for t in declared_tools
    ):
        errors["declared_tools"] = ["Must be a list of function names (letters, digits, _ and -, at most 64)."]
    else:
        tools = sorted(set(declared_tools))
        if len(tools) != len(declared_tools):
            errors["declared_tools"] = ["Each function name may appear once."]
        elif tools and TOOL_AFFORDANCE not in keys and "affordances" not in errors:
            errors["declared_tools"] = [f"Declaring tools needs the {TOOL_AFFORDANCE} affordance."]
    if not isinstance(scaffolding, str):
        errors["scaffolding"] = ["Must be a string."]
    if not isinstance(system_prompt, str):
        errors["system_prompt"] = ["Must be a string."]
    if not isinstance(online_learning, bool):
        errors["online_learning"] = ["Must be true or false."]
    if _blank(endpoint_model):
        errors["endpoint_model"] = ["This field may not be blank."]
    url = endpoint_base_url
    try:
        url = validate_upstream_base_url(endpoint_base_url, allow_private=settings.STAGEGATE_ALLOW_PRIVATE_UPSTREAMS)
    except InvalidInput as exc:
        errors.update(exc.errors)
    if errors:
        raise InvalidInput("The system configuration is not valid.", errors=errors)
    return keys, url, tools


def _digest(
    *,
    model_version: ModelVersion,
    affordance_keys: Iterable[str],
    scaffolding: str,
    prompt_digest: str,
    content_filters: Sequence[str],
    online_learning: bool,
    endpoint_base_url: str,
    endpoint_model: str,
    declared_tools: Sequence[str] = (),
) -> str:
    return system_configuration_digest(
        model_weights_digest=model_version.weights_digest,
        model_name=model_version.name,
        model_version=model_version.version,
        affordances=affordance_keys,
        scaffolding=scaffolding,
        system_prompt_digest=prompt_digest,
        content_filters=content_filters,
        online_learning=online_learning,
        endpoint_base_url=endpoint_base_url,
        endpoint_model=endpoint_model,
        declared_tools=declared_tools,
    )


def _check_credential(credential: Any, field: str) -> None:
    # The message never echoes the value.
    if _blank(credential):
        raise InvalidInput("The credential is not valid.", errors={field: ["Must be a non-blank string."]})


# --- model versions --------------------------------------------------------


@transaction.atomic
def model_version_create(
    *,
    actor: Actor,
    lab: Organisation,
    name: str,
    version: str,
    weights_digest: str,
    parameter_count: int,
    training_compute_flop: float,
    notes: str = "",
) -> ModelVersion:
    if lab.kind != OrganisationKind.LAB:
        raise InvalidInput("Model versions belong to labs.", errors={"lab": ["Must be a lab."]})
    _require_lab_writer(actor, lab.pk)
    errors = _model_version_errors(
        name=name,
        version=version,
        weights_digest=weights_digest,
        parameter_count=parameter_count,
        training_compute_flop=training_compute_flop,
        fields=MODEL_VERSION_FIELDS,
    )
    if errors:
        raise InvalidInput("The model version is not valid.", errors=errors)
    if ModelVersion.objects.filter(lab=lab, name=name, version=version).exists():
        raise Conflict(f"{name} {version} is already registered for this lab.", code="duplicate")
    mv = ModelVersion(
        lab=lab,
        name=name,
        version=version,
        weights_digest=weights_digest,
        parameter_count=parameter_count,
        training_compute_flop=training_compute_flop,
        notes=notes,
        created_by=actor.user,
    )
    full_clean_or_invalid(mv)
    save_or_conflict(  # a concurrent identical create may win the race
        mv,
        Conflict(f"{name} {version} is already registered for this lab.", code="duplicate"),
        constraints=["model_version_unique_name"],
        force_insert=True,
    )
    audit_event_record(actor=actor, action="model_version.create", target=mv, after=snapshot(mv), organisations=[lab])
    return mv


@transaction.atomic
def model_version_update(*, actor: Actor, model_version: ModelVersion, **fields: Any) -> ModelVersion:
    """Correct a model version's registration. Refused once an audit references
    any system built on it; its name, version and digest are also fixed once a
    system version uses it, because that system's configuration digest covers them."""
    _unknown_fields(fields, MODEL_VERSION_FIELDS)
    mv = get_for(ModelVersion.objects.all(), actor, model_version.pk, VIEW, lock=True)
    _require_lab_writer(actor, mv.lab_id)
    errors = _model_version_errors(**{k: v for k, v in fields.items() if k != "notes"}, fields=fields)
    if "notes" in fields and not isinstance(fields["notes"], str):
        errors["notes"] = ["Must be a string."]
    if errors:
        raise InvalidInput("The model version is not valid.", errors=errors)
    if mv.system_versions.filter(audits__isnull=False).exists():
        raise Conflict(
            "An audit references a system built on this model version; register a new model version instead.",
            code="model_version_immutable",
        )
    changed = {k: v for k, v in fields.items() if getattr(mv, k) != v}
    if not changed:
        return mv
    if changed.keys() & MODEL_VERSION_DEFINING_FIELDS and mv.system_versions.exists():
        raise Conflict(
            "System versions are built on this model version, and their configuration digests cover its name, "
            "version and weights digest; register a new model version instead.",
            code="model_version_in_use",
        )
    name, version = changed.get("name", mv.name), changed.get("version", mv.version)
    if ModelVersion.objects.filter(lab_id=mv.lab_id, name=name, version=version).exclude(pk=mv.pk).exists():
        raise Conflict(f"{name} {version} is already registered for this lab.", code="duplicate")
    before = snapshot(mv)
    for key, value in changed.items():
        setattr(mv, key, value)
    full_clean_or_invalid(mv)
    save_or_conflict(
        mv,
        Conflict(f"{name} {version} is already registered for this lab.", code="duplicate"),
        constraints=["model_version_unique_name"],
    )
    audit_event_record(
        actor=actor,
        action="model_version.update",
        target=mv,
        before=before,
        after=snapshot(mv),
        organisations=[mv.lab_id],
    )
    return mv


# --- system versions -------------------------------------------------------


@transaction.atomic
def system_version_create(
    *,
    actor: Actor,
    lab: Organisation,
    model_version: ModelVersion,
    name: str,
    affordances: list[str],
    scaffolding: str = "",
    system_prompt: str = "",
    content_filters: Sequence[str] = (),
    declared_tools: Sequence[str] = (),
    online_learning: bool = False,
    endpoint_base_url: str,
    endpoint_model: str,
    endpoint_credential: str | None = None,
    change_summary: str = "",
) -> SystemVersion:
    """The first version (sequence 1) of a new system; later versions come from
    ``system_version_revise``."""
    if lab.kind != OrganisationKind.LAB:
        raise InvalidInput("System versions belong to labs.", errors={"lab": ["Must be a lab."]})
    _require_lab_writer(actor, lab.pk)
    if model_version.lab_id != lab.pk:
        raise InvalidInput(
            "The model version belongs to another lab.",
            errors={"model_version": ["Must be a model version of the same lab."]},
        )
    if _blank(name):
        raise InvalidInput("A system needs a name.", errors={"name": ["This field may not be blank."]})
    if endpoint_credential is not None:
        _check_credential(endpoint_credential, "endpoint_credential")
    keys, url, tools = _check_system_fields(
        affordances=affordances,
        content_filters=content_filters,
        scaffolding=scaffolding,
        system_prompt=system_prompt,
        online_learning=online_learning,
        endpoint_base_url=endpoint_base_url,
        endpoint_model=endpoint_model,
        declared_tools=declared_tools,
    )
    existing = SystemVersion.objects.filter(lab=lab, name=name).order_by("-sequence").first()
    if existing is not None:
        raise Conflict(
            f"A system named {name!r} already exists in this lab; revise its latest version "
            f"(POST /api/system-versions/{existing.pk}/revisions) to make a new version.",
            code="duplicate",
            extra={"latest": str(existing.pk)},
        )
    prompt_digest = system_prompt_digest(system_prompt)
    sv = SystemVersion(
        lab=lab,
        model_version=model_version,
        name=name,
        sequence=1,
        predecessor=None,
        change_summary=change_summary,
        scaffolding=scaffolding,
        system_prompt=system_prompt,
        system_prompt_digest=prompt_digest,
        content_filters=list(content_filters),
        declared_tools=tools,
        online_learning=online_learning,
        endpoint_base_url=url,
        endpoint_model=endpoint_model,
        endpoint_credential_ciphertext=encrypt_credential(endpoint_credential) if endpoint_credential else "",
        configuration_digest=_digest(
            model_version=model_version,
            affordance_keys=keys,
            scaffolding=scaffolding,
            prompt_digest=prompt_digest,
            content_filters=content_filters,
            online_learning=online_learning,
            endpoint_base_url=url,
            endpoint_model=endpoint_model,
            declared_tools=tools,
        ),
        created_by=actor.user,
    )
    full_clean_or_invalid(sv)
    save_or_conflict(
        sv,
        Conflict(f"A system named {name!r} already exists in this lab.", code="duplicate"),
        constraints=["system_version_unique_sequence"],
        force_insert=True,
    )
    sv.affordances.set(Affordance.objects.filter(key__in=keys))
    audit_event_record(
        actor=actor,
        action="system_version.create",
        target=sv,
        after=_system_version_state(sv, keys),
        organisations=[lab],
    )
    return sv


@transaction.atomic
def system_version_revise(
    *, actor: Actor, system_version: SystemVersion, change_summary: str, **changes: Any
) -> SystemVersion:
    """Make the successor of the latest version of a system. The predecessor is
    locked and left untouched; unchanged fields (and the credential, unless a
    new one is given) carry over."""
    _unknown_fields(changes, SYSTEM_VERSION_REVISABLE)
    old = get_for(SystemVersion.objects.all(), actor, system_version.pk, VIEW, lock=True)
    _require_lab_writer(actor, old.lab_id)
    latest = SystemVersion.objects.filter(lab_id=old.lab_id, name=old.name).order_by("-sequence").first()
    if old.successors.exists() or (latest is not None and latest.pk != old.pk):
        raise Conflict(
            "Only the latest version of a system can be revised.",
            code="not_latest",
            extra={"latest": str(latest.pk)} if latest is not None else {},
        )
    if _blank(change_summary):
        raise InvalidInput("Say what changed.", errors={"change_summary": ["This field may not be blank."]})

    model_version: ModelVersion = changes.get("model_version", old.model_version)
    if not isinstance(model_version, ModelVersion) or model_version.lab_id != old.lab_id:
        raise InvalidInput(
            "The model version belongs to another lab.",
            errors={"model_version": ["Must be a model version of the same lab."]},
        )
    if "endpoint_credential" in changes:
        _check_credential(changes["endpoint_credential"], "endpoint_credential")
    old_keys = list(old.affordances.values_list("key", flat=True))
    scaffolding = changes.get("scaffolding", old.scaffolding)
    system_prompt = changes.get("system_prompt", old.system_prompt)
    content_filters = changes.get("content_filters", old.content_filters)
    online_learning = changes.get("online_learning", old.online_learning)
    endpoint_model = changes.get("endpoint_model", old.endpoint_model)
    keys, url, tools = _check_system_fields(
        affordances=changes.get("affordances", old_keys),
        content_filters=content_filters,
        scaffolding=scaffolding,
        system_prompt=system_prompt,
        online_learning=online_learning,
        endpoint_base_url=changes.get("endpoint_base_url", old.endpoint_base_url),
        endpoint_model=endpoint_model,
        declared_tools=changes.get("declared_tools", old.declared_tools),
    )
    prompt_digest = system_prompt_digest(system_prompt)
    digest = _digest(
        model_version=model_version,
        affordance_keys=keys,
        scaffolding=scaffolding,
        prompt_digest=prompt_digest,
        content_filters=content_filters,
        online_learning=online_learning,
        endpoint_base_url=url,
        endpoint_model=endpoint_model,
        declared_tools=tools,
    )
    if digest == old.configuration_digest:
        hint = (
            " To change only the credential, use the credential endpoint." if "endpoint_credential" in changes else ""
        )
        raise InvalidInput(
            "Nothing that defines the system changed, so there is no new version to make." + hint,
            code="no_change",
        )
    new_credential = changes.get("endpoint_credential")
    new = SystemVersion(
        lab_id=old.lab_id,
        model_version=model_version,
        name=old.name,
        sequence=old.sequence + 1,
        predecessor=old,
        change_summary=change_summary,
        scaffolding=scaffolding,
        system_prompt=system_prompt,
        system_prompt_digest=prompt_digest,
        content_filters=list(content_filters),
        declared_tools=tools,
        online_learning=online_learning,
        endpoint_base_url=url,
        endpoint_model=endpoint_model,
        endpoint_credential_ciphertext=(
            encrypt_credential(new_credential) if new_credential else old.endpoint_credential_ciphertext
        ),
        configuration_digest=digest,
        created_by=actor.user,
    )
    full_clean_or_invalid(new)
    save_or_conflict(
        new,
        Conflict("Only the latest version of a system can be revised.", code="not_latest"),
        constraints=["system_version_single_successor", "system_version_unique_sequence"],
        force_insert=True,
    )
    new.affordances.set(Affordance.objects.filter(key__in=keys))
    audit_event_record(
        actor=actor,
        action="system_version.revise",
        target=new,
        before=_system_version_state(old, old_keys),
        after=_system_version_state(new, keys),
        organisations=[old.lab_id],
    )
    return new


@transaction.atomic
def system_version_credential_rotate(*, actor: Actor, system_version: SystemVersion, credential: str) -> None:
    """Replace the endpoint credential in place: it is not part of the
    configuration, so no new version (and no re-audit) is needed."""
    sv = get_for(SystemVersion.objects.all(), actor, system_version.pk, VIEW, lock=True)
    _require_lab_writer(actor, sv.lab_id)
    _check_credential(credential, "credential")
    had_credential = sv.has_credential
    sv.endpoint_credential_ciphertext = encrypt_credential(credential)
    sv.save(update_fields=["endpoint_credential_ciphertext", "updated_at"])
    audit_event_record(
        actor=actor,
        action="system_version.credential_rotate",
        target=sv,
        before={"has_credential": had_credential},
        after={"has_credential": True},
        organisations=[sv.lab_id],
    )
