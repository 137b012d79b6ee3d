"""Deployed as audited: what the gateway does to a call from stage 2, when
customers and the public use the system that auditors signed off.

Auditors evaluated a system version: its model and its configuration (the
system prompt, the tools it offers, its filters), bound by the configuration
digest that every sign-off covers. From stage 2 a caller must get that
system, not another one assembled from the same weights:

- a caller may not supply a system (or developer) message: the audited
  system prompt is put first in its place;
- a caller may offer only the tools the system version declares (by function
  name), and may not force another through ``tool_choice``;
- the lab's endpoint says, on every response, what served it
  (``Stagegate-Attestation: weights=<sha256 hex>; configuration=<sha256 hex>``);
  the gateway compares the claim with the audited digests, and an absent,
  malformed or different claim is recorded with the call, for monitoring to
  open an incident on.

Content filters are the lab's pipeline, named in the configuration and so in
the digest; the gateway cannot run them, it can only hold the endpoint to its
claim that it runs the audited configuration.

Who gets the deployed system (``deployed_as_audited``): customers and the
public (lab-admitted callers), from stage 2. Auditors and academics evaluate
the system as the lab's endpoint serves it: their suites set their own system
prompts and tools, in protocol and exploratory runs alike and at a re-audit
at stage 2 or 3 too, so their calls are not rewritten. Every call's answer is
checked against the attestation, whoever made it.

Pure functions over the parsed request body: no Django, no I/O, so the data
plane calls them in the request path (gateway/proxy/server.py ``_prepare``) and
tests call them directly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ATTESTATION_HEADER = "stagegate-attestation"
_HEX64 = re.compile(r"[0-9a-f]{64}")
# Roles that instruct the model as its deployer would.
INSTRUCTING_ROLES = frozenset({"system", "developer"})


@dataclass(frozen=True)
class AuditedConfiguration:
    """What the audited system version fixes, as the gateway needs it."""

    system_prompt: str
    declared_tools: frozenset[str]
    weights_digest: str
    configuration_digest: str


# The grant kinds that get the deployed system, and the stage it starts at.
DEPLOYED_KINDS = frozenset({"customer", "lab_admitted"})
DEPLOYED_FROM_STAGE = 2
# Attestation outcomes monitoring opens an incident on (from DEPLOYED_FROM_STAGE).
ATTESTATION_FAILURES = ("mismatch", "malformed", "absent")


def deployed_as_audited(*, kind: str, stage: int) -> bool:
    """Whether a call of this grant kind at this release stage gets the audited
    configuration applied (customers and the public, from stage 2)."""
    return kind in DEPLOYED_KINDS and stage >= DEPLOYED_FROM_STAGE


class NotAudited(Exception):
    """The call asks for something the audited system does not do (HTTP 400)."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


def _function_name(tool: Any) -> str | None:
    if isinstance(tool, Mapping) and tool.get("type") == "function" and isinstance(tool.get("function"), Mapping):
        name = tool["function"].get("name")
        return name if isinstance(name, str) else None
    return None


def _check_tools(body: Mapping[str, Any], declared: frozenset[str]) -> None:
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise NotAudited("invalid_request", "tools must be a list.", "tools")
        for i, tool in enumerate(tools):
            name = _function_name(tool)
            if name is None:
                raise NotAudited(
                    "tool_not_declared",
                    "Only function tools the audited system declares may be offered.",
                    f"tools[{i}]",
                )
            if name not in declared:
                raise NotAudited(
                    "tool_not_declared",
                    f"The audited system does not declare a tool named {name!r}.",
                    f"tools[{i}].function.name",
                )
    functions = body.get("functions")  # the chat API's older spelling of tools
    if functions is not None:
        if not isinstance(functions, list):
            raise NotAudited("invalid_request", "functions must be a list.", "functions")
        for i, fn in enumerate(functions):
            name = fn.get("name") if isinstance(fn, Mapping) else None
            if not isinstance(name, str) or name not in declared:
                raise NotAudited(
                    "tool_not_declared",
                    "The audited system does not declare that function.",
                    f"functions[{i}].name",
                )
    for field in ("tool_choice", "function_call"):
        choice = body.get(field)
        if isinstance(choice, Mapping):
            name = _function_name(choice) if "type" in choice else choice.get("name")
            if not isinstance(name, str) or name not in declared:
                raise NotAudited(
                    "tool_not_declared", "The audited system does not declare the tool the call forces.", field
                )


def apply_audited_configuration(body: Mapping[str, Any], audited: AuditedConfiguration) -> dict[str, Any]:
    """The chat-completions request ``body`` as the audited system makes it:
    no caller-supplied instructions, only declared tools, the audited system
    prompt first. Raises NotAudited for what it refuses; never edits ``body``.
    For the Responses API, apply it to the translated chat body (its
    ``instructions`` become a system message there, and are refused alike)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise NotAudited("invalid_request", "messages must be a list.", "messages")
    for i, message in enumerate(messages):
        if isinstance(message, Mapping) and message.get("role") in INSTRUCTING_ROLES:
            raise NotAudited(
                "system_message_not_allowed",
                "This system is deployed as audited: its system prompt is fixed, and a caller may not add "
                "system or developer messages.",
                f"messages[{i}]",
            )
    _check_tools(body, audited.declared_tools)
    prepared = dict(body)
    if audited.system_prompt:
        prepared["messages"] = [{"role": "system", "content": audited.system_prompt}, *messages]
    return prepared


def responses_param(param: str | None, request: Mapping[str, Any]) -> str | None:
    """A refusal's ``param`` as a Responses API caller wrote the request (the
    rule checks the translated chat body): the instructions are the first
    system message there, the input the rest; tools keep their order."""
    if param is None:
        return None
    if param.startswith("messages["):
        return "instructions" if param == "messages[0]" and isinstance(request.get("instructions"), str) else "input"
    if param.startswith("tools[") and param.endswith(".function.name"):
        return param.removesuffix(".function.name") + ".name"
    return param


def parse_attestation(value: str | None) -> tuple[str, str] | None:
    """``(weights, configuration)`` from an attestation header value, or None
    when it is absent or malformed. Keys in any order; lowercase hex only."""
    if not value or len(value) > 512:
        return None
    fields: dict[str, str] = {}
    for part in value.split(";"):
        key, sep, digest = part.strip().partition("=")
        key = key.strip().lower()
        digest = digest.strip()
        if not sep or key in fields or not _HEX64.fullmatch(digest):
            return None
        fields[key] = digest
    if set(fields) != {"weights", "configuration"}:
        return None
    return fields["weights"], fields["configuration"]


def attestation_outcome(value: str | None, audited: AuditedConfiguration) -> str:
    """What the endpoint's claim says about the call: ``match``, ``mismatch``
    (it claims other weights or another configuration), ``malformed`` or
    ``absent``. Anything but ``match`` from stage 2 is for monitoring."""
    if value is None or value == "":
        return "absent"
    claim = parse_attestation(value)
    if claim is None:
        return "malformed"
    return "match" if claim == (audited.weights_digest, audited.configuration_digest) else "mismatch"
