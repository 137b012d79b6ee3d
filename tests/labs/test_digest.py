"""The configuration digest: stable under key order, sensitive to every defining field."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import rfc8785

from labs.digest import (
    SCHEMA,
    system_configuration_digest,
    system_configuration_document,
    system_prompt_digest,
)

BASE: dict[str, Any] = {
    "model_weights_digest": "a" * 64,
    "model_name": "aurora",
    "model_version": "1.0",
    "affordances": ["tool_use", "internet_access"],
    "scaffolding": "ReAct loop",
    "system_prompt_digest": system_prompt_digest("You are helpful."),
    "content_filters": ["pii", "toxicity"],
    "online_learning": False,
    "endpoint_base_url": "https://api.example/v1",
    "endpoint_model": "aurora-chat",
}


def test_digest_is_sha256_of_rfc8785_of_the_document() -> None:
    document = system_configuration_document(**BASE)
    assert document["schema"] == SCHEMA
    assert system_configuration_digest(**BASE) == hashlib.sha256(rfc8785.dumps(document)).hexdigest()


def test_document_contents() -> None:
    document = system_configuration_document(**BASE)
    assert document == {
        "schema": SCHEMA,
        "model": {"weights_digest": "a" * 64, "name": "aurora", "version": "1.0"},
        "affordances": ["internet_access", "tool_use"],
        "scaffolding": "ReAct loop",
        "system_prompt_sha256": hashlib.sha256(b"You are helpful.").hexdigest(),
        "content_filters": ["pii", "toxicity"],
        "online_learning": False,
        "endpoint": {"base_url": "https://api.example/v1", "model": "aurora-chat"},
    }


def test_no_credential_in_the_document() -> None:
    with pytest.raises(TypeError):
        system_configuration_document(**BASE, endpoint_credential="secret")  # type: ignore[call-arg]


def test_keyword_order_does_not_change_the_digest() -> None:
    reversed_kwargs = dict(reversed(list(BASE.items())))
    assert system_configuration_digest(**reversed_kwargs) == system_configuration_digest(**BASE)


def test_affordance_order_and_duplicates_do_not_change_the_digest() -> None:
    a = system_configuration_digest(**{**BASE, "affordances": ["tool_use", "internet_access"]})
    b = system_configuration_digest(**{**BASE, "affordances": ["internet_access", "tool_use", "tool_use"]})
    c = system_configuration_digest(**{**BASE, "affordances": ("internet_access", "tool_use")})
    assert a == b == c


def test_filter_order_changes_the_digest() -> None:
    reordered = system_configuration_digest(**{**BASE, "content_filters": ["toxicity", "pii"]})
    assert reordered != system_configuration_digest(**BASE)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("model_weights_digest", "b" * 64),
        ("model_name", "aurora-x"),
        ("model_version", "1.1"),
        ("affordances", ["internet_access"]),
        ("affordances", ["internet_access", "tool_use", "code_execution"]),
        ("scaffolding", "ReAct loop "),
        ("system_prompt_digest", system_prompt_digest("You are helpful!")),
        ("content_filters", ["pii"]),
        ("content_filters", []),
        ("online_learning", True),
        ("endpoint_base_url", "https://api.example/v2"),
        ("endpoint_model", "aurora-chat-2"),
        ("declared_tools", ["refund"]),
    ],
)
def test_every_defining_field_changes_the_digest(field: str, value: Any) -> None:
    assert system_configuration_digest(**{**BASE, field: value}) != system_configuration_digest(**BASE)


def test_fields_cannot_be_confused_with_each_other() -> None:
    # The same string in a different field is a different configuration.
    a = system_configuration_digest(**{**BASE, "model_name": "x", "model_version": "y"})
    b = system_configuration_digest(**{**BASE, "model_name": "y", "model_version": "x"})
    assert a != b


def test_digest_is_lowercase_hex() -> None:
    digest = system_configuration_digest(**BASE)
    assert len(digest) == 64 and digest == digest.lower() and int(digest, 16) >= 0


def test_declared_tools_are_a_set_and_absent_when_there_are_none() -> None:
    # A system declaring no tools keeps the digest it had before tools could be
    # declared (sign-offs bound to it stay good); declared tools are a set.
    assert system_configuration_digest(**{**BASE, "declared_tools": []}) == system_configuration_digest(**BASE)
    assert "tools" not in system_configuration_document(**BASE)
    a = system_configuration_digest(**{**BASE, "declared_tools": ["refund", "lookup"]})
    b = system_configuration_digest(**{**BASE, "declared_tools": ("lookup", "refund", "refund")})
    assert a == b
    assert system_configuration_document(**{**BASE, "declared_tools": ["refund", "lookup"]})["tools"] == [
        "lookup",
        "refund",
    ]
