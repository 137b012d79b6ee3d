"""The configuration digest of a system version: SHA-256 over the RFC 8785
canonical JSON of everything that defines the system. Sign-offs bind it, so
any change to a defining field must change it and nothing else may. Pure
functions: no ORM."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from core.canonical import digest_of, sha256_hex

SCHEMA = "stagegate.system-configuration/v1"


def system_prompt_digest(system_prompt: str) -> str:
    return sha256_hex(system_prompt)


def system_configuration_document(
    *,
    model_weights_digest: str,
    model_name: str,
    model_version: str,
    affordances: Iterable[str],
    scaffolding: str,
    system_prompt_digest: str,
    content_filters: Sequence[str],
    online_learning: bool,
    endpoint_base_url: str,
    endpoint_model: str,
    declared_tools: Iterable[str] = (),
) -> dict[str, Any]:
    """The document the configuration digest is taken over.

    Affordances are a set (sorted, duplicates dropped); content filters are a
    pipeline, so their order is kept. The endpoint credential is deliberately
    absent: it is rotated in place without making a new version.

    Declared tools (the function names the system offers its model; from
    stage 2 the gateway refuses any other) are a set too, and appear only when
    there are some: "no tools" reads the same either way, and the digests of
    systems registered before tools could be declared keep their value, so
    sign-offs bound to them stay good.
    """
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "model": {"weights_digest": model_weights_digest, "name": model_name, "version": model_version},
        "affordances": sorted(set(affordances)),
        "scaffolding": scaffolding,
        "system_prompt_sha256": system_prompt_digest,
        "content_filters": list(content_filters),
        "online_learning": bool(online_learning),
        "endpoint": {"base_url": endpoint_base_url, "model": endpoint_model},
    }
    tools = sorted(set(declared_tools))
    if tools:
        document["tools"] = tools
    return document


def system_configuration_digest(
    *,
    model_weights_digest: str,
    model_name: str,
    model_version: str,
    affordances: Iterable[str],
    scaffolding: str,
    system_prompt_digest: str,
    content_filters: Sequence[str],
    online_learning: bool,
    endpoint_base_url: str,
    endpoint_model: str,
    declared_tools: Iterable[str] = (),
) -> str:
    return digest_of(
        system_configuration_document(
            model_weights_digest=model_weights_digest,
            model_name=model_name,
            model_version=model_version,
            affordances=affordances,
            scaffolding=scaffolding,
            system_prompt_digest=system_prompt_digest,
            content_filters=content_filters,
            online_learning=online_learning,
            endpoint_base_url=endpoint_base_url,
            endpoint_model=endpoint_model,
            declared_tools=declared_tools,
        )
    )
