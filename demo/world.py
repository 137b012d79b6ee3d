"""The demo's domain objects, created through the same services an operator or
client would use, each only when it is not there yet."""

from __future__ import annotations

import datetime
import hashlib
import os
import secrets
import socket
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.utils import timezone

from auditing import services as auditing
from auditing.models import Audit, Certification, ConflictOfInterest, Fee
from core.actors import actor_for
from core.models import Organisation
from demo import reference_agent
from labs import services as labs
from labs.models import ModelVersion, SystemVersion
from labs.selectors import system_version_affordances

UPSTREAM_URL = os.environ.get("STAGEGATE_DEMO_UPSTREAM_URL", "http://127.0.0.1:8081/v1")
UPSTREAM_MODEL = os.environ.get("STAGEGATE_DEMO_UPSTREAM_MODEL", "SmolLM2-135M-Instruct")
# What serves UPSTREAM_URL, for the demo's output ("SmolLM2-135M-Instruct (llama.cpp)").
UPSTREAM_SERVER = os.environ.get("STAGEGATE_DEMO_UPSTREAM_SERVER", "llama.cpp")


def _digest(label: str) -> str:
    return hashlib.sha256(f"demo-weights:{label}".encode()).hexdigest()


def _model(
    actor: Any,
    lab: Organisation,
    name: str,
    version: str,
    params: int,
    flop: float,
    notes: str,
    weights_digest: str | None = None,
) -> ModelVersion:
    existing = ModelVersion.objects.filter(lab=lab, name=name, version=version).first()
    if existing:
        return existing
    return labs.model_version_create(
        actor=actor,
        lab=lab,
        name=name,
        version=version,
        weights_digest=weights_digest or _digest(f"{lab.slug}/{name}/{version}"),
        parameter_count=params,
        training_compute_flop=flop,
        notes=notes,
    )


def _system(
    actor: Any,
    lab: Organisation,
    model: ModelVersion,
    name: str,
    *,
    endpoint: tuple[str, str] | None = None,
    **fields: Any,
) -> SystemVersion:
    first = SystemVersion.objects.filter(lab=lab, name=name, sequence=1).first()
    if first:
        return first
    base_url, endpoint_model = endpoint or (UPSTREAM_URL, UPSTREAM_MODEL)
    return labs.system_version_create(
        actor=actor,
        lab=lab,
        model_version=model,
        name=name,
        endpoint_base_url=base_url,
        endpoint_model=endpoint_model,
        endpoint_credential="demo-upstream-" + secrets.token_urlsafe(18),
        **fields,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def is_reference(sv: SystemVersion) -> bool:
    return sv.lab.slug == "aurora" and sv.name == reference_agent.NAME


def served_by(sv: SystemVersion) -> str:
    """What answered a run on this system, in words: the scripted reference
    agent, or the upstream model named by the system's endpoint."""
    if is_reference(sv):
        return "the scripted reference agent (not a model)"
    if sv.endpoint_base_url == UPSTREAM_URL and UPSTREAM_SERVER:
        return f"{sv.endpoint_model} ({UPSTREAM_SERVER})"
    return f"{sv.endpoint_model} at {sv.endpoint_base_url}"


def _certify(regulator: Any, org: Organisation, risk_areas: list[str], level: str) -> None:
    if Certification.objects.filter(organisation=org).valid_at().exists():
        return
    auditing.certification_issue(
        actor=regulator,
        organisation=org,
        expires_at=timezone.now() + datetime.timedelta(days=365),
        risk_areas=risk_areas,
        infosec_level=level,
    )


def _audit(
    regulator: Any, system: SystemVersion, fee: str, notes: str, assignees: list[tuple[Organisation, str]]
) -> Audit:
    audit = Audit.objects.filter(system_version=system).first()
    if audit is None:
        audit = auditing.audit_open(
            actor=regulator, system_version=system, lab_fee_amount=Decimal(fee), currency="GBP", scope_notes=notes
        )
    for org, payout in assignees:
        if not audit.assignments.filter(organisation=org, ended_at__isnull=True).exists():
            auditing.audit_assign(actor=regulator, audit=audit, organisation=org, payout_amount=Decimal(payout))
    return audit


def seed_domain(*, orgs: dict[str, Organisation], users: dict[str, Any]) -> dict[str, Any]:
    regulator = actor_for(users["regulator"])
    aurora_engineer = actor_for(users["lab_engineer"])
    borealis_admin = actor_for(users["other_lab_admin"])

    _certify(regulator, orgs["sentinel"], ["deception", "cyber", "autonomy"], "SL4")
    _certify(regulator, orgs["veritas"], ["deception", "fairness", "societal_impact"], "SL3")
    _certify(regulator, orgs["northgate"], ["cyber", "cbrn"], "SL4")
    _certify(regulator, orgs["thornfield"], ["deception", "societal_impact"], "SL2")

    if not ConflictOfInterest.objects.in_force().filter(organisation=orgs["northgate"], lab=orgs["aurora"]).exists():
        auditing.conflict_declare(
            actor=regulator,
            organisation=orgs["northgate"],
            lab=orgs["aurora"],
            kind="consulted",
            reason="Northgate ran Aurora Labs' internal red-teaming programme in 2026 under a paid contract.",
        )

    aurora_model = _model(
        aurora_engineer,
        orgs["aurora"],
        "Aurora",
        "7B-2026-10",
        7_200_000_000,
        8.4e23,
        "Instruction-tuned; weights held in Aurora's SL4 enclave.",
    )
    assistant_v1 = _system(
        aurora_engineer,
        orgs["aurora"],
        aurora_model,
        "Aurora Assistant",
        affordances=["tool_use", "retrieval"],
        scaffolding="Single-turn assistant with a calculator tool and retrieval over the product manual.",
        system_prompt="You are Aurora Assistant, a careful and honest helper for Aurora's customers.",
        content_filters=["input-moderation-v3", "output-pii-redaction"],
        change_summary="First release candidate.",
    )
    assistant = assistant_v1.successors.first()
    if assistant is None:
        assistant = labs.system_version_revise(
            actor=aurora_engineer,
            system_version=assistant_v1,
            change_summary="Adds web browsing so the assistant can cite current sources.",
            affordances=["tool_use", "retrieval", "internet_access"],
        )

    # Not a model: the scripted reference agent (demo/reference_agent.py), served
    # only while the demo seeds. Its port is chosen once, when it is registered:
    # the endpoint is part of the configuration its sign-offs bind.
    reference_script = _model(
        aurora_engineer,
        orgs["aurora"],
        "Reference agent script (not a model)",
        "1",
        1,
        1.0,
        "No weights: " + reference_agent.DESCRIPTION + " The digest is the SHA-256 of its script; the registry "
        "needs a positive parameter count and training compute, so both are 1.",
        weights_digest=reference_agent.script_digest(),
    )
    reference = _system(
        aurora_engineer,
        orgs["aurora"],
        reference_script,
        reference_agent.NAME,
        endpoint=(f"http://127.0.0.1:{_free_port()}/v1", reference_agent.MODEL),
        affordances=["tool_use"],
        scaffolding=reference_agent.DESCRIPTION
        + " Its tools are the insider-trading scenario's own: analyze_stock, find_trades, execute_trade, "
        "send_message.",
        system_prompt="",
        content_filters=[],
        change_summary="Scripted reference agent for the demo walkthrough (a test double, not a model).",
    )

    borealis_model = _model(
        borealis_admin,
        orgs["borealis"],
        "Borealis Coder",
        "2.1",
        34_000_000_000,
        3.1e24,
        "Code-specialised model.",
    )
    coder = _system(
        borealis_admin,
        orgs["borealis"],
        borealis_model,
        "Borealis Code Agent",
        affordances=["code_execution", "file_system"],
        scaffolding="ReAct agent loop with a sandboxed Python interpreter and a scratch directory.",
        system_prompt="You are a coding agent. Work only inside /workspace.",
        content_filters=["secret-scanner"],
        online_learning=True,
        change_summary="Agent release with continual fine-tuning on accepted suggestions.",
    )

    v1_audit = _audit(
        regulator,
        assistant_v1,
        "160000.00",
        "Initial audit of the first release candidate: deception under pressure and retrieval safety.",
        [(orgs["sentinel"], "60000.00"), (orgs["veritas"], "60000.00")],
    )
    reference_audit = _audit(
        regulator,
        reference,
        "20000.00",
        "Audit of the scripted reference agent: the insider-trading suite under the standard's protocol, "
        "end to end through the gateway.",
        [(orgs["sentinel"], "8000.00"), (orgs["veritas"], "8000.00")],
    )
    aurora_audit = _audit(
        regulator,
        assistant,
        "240000.00",
        "Delta audit of v2: web browsing makes code execution, payments and hiring people reachable.",
        [(orgs["sentinel"], "85000.00"), (orgs["veritas"], "85000.00"), (orgs["thornfield"], "20000.00")],
    )
    coder_audit = _audit(
        regulator,
        coder,
        "180000.00",
        "Initial audit of the code agent; online learning means periodic re-audits.",
        [(orgs["northgate"], "90000.00"), (orgs["sentinel"], "60000.00")],
    )
    for audit in (v1_audit, reference_audit, aurora_audit):
        lab_fee = Fee.objects.get(audit=audit, direction="lab_to_regulator")
        if lab_fee.paid_at is None:
            auditing.fee_mark_paid(actor=regulator, fee=lab_fee)
    return {
        "assistant_v1": assistant_v1,
        "assistant": assistant,
        "coder": coder,
        "reference": reference,
        "v1_audit": v1_audit,
        "reference_audit": reference_audit,
        "aurora_audit": aurora_audit,
        "coder_audit": coder_audit,
    }


def describe(world: dict[str, Any], run: Any | None) -> list[str]:
    assistant, coder, reference = world["assistant"], world["coder"], world["reference"]
    aurora_audit = world["aurora_audit"]
    affordances = system_version_affordances(system_version=assistant)
    declared = ", ".join(a["affordance"] for a in affordances["contextual"])
    reachable = ", ".join(r["affordance"] for r in affordances["reachable"])
    lines = [
        f"{world['assistant_v1']} and {assistant} run on {served_by(assistant)}",
        f"{assistant} declares {declared}; through them it reaches {reachable}",
        (
            f"{reference} at Aurora Labs: a test double (demo/reference_agent.py) served only while the demo "
            "seeds, so that the walkthrough can show a gate passing on evidence that holds"
        ),
        f"{coder} (online learning) at Borealis AI",
        (
            f"Audit {aurora_audit.pk} of {assistant}: Sentinel, Veritas and Thornfield assigned; "
            "Northgate is barred by a declared conflict of interest with Aurora Labs"
        ),
    ]
    if run is None:
        return lines
    return [
        *lines,
        (
            f"Evaluation run {run.pk}: an exploratory insider-trading run (2 conditions x 3 samples; exploratory "
            f"runs never count at a gate) on {served_by(assistant)}; the worker picks it up within a minute. A "
            "135M-parameter model rarely follows the protocol, so expect mostly `invalid` outputs — the results "
            "say so."
        ),
    ]


def eval_run_for(auditor: Any, audit: Audit) -> Any:
    """A small insider-trading run by the demo auditor. Its samples are rows now;
    the reconciler queues them once the worker and Redis are up."""
    from evals.models import EvalRun
    from evals.services import eval_run_start

    existing = EvalRun.objects.filter(audit=audit, suite__name="insider_trading_deception").first()
    if existing:
        return existing
    return eval_run_start(
        actor=auditor,
        audit=audit,
        suite="insider_trading_deception",
        samples_per_condition=3,
        max_tokens=200,
        enqueue=False,
    )


def seed_gateway_token(*, auditor: Any, secret_for: Callable[[int], str]) -> dict[str, str]:
    """A working gateway token for the demo auditor on the Aurora assistant.
    ``secret_for(n)`` derives the n-th secret from SECRET_KEY, so a re-run finds
    the same token; one that was revoked or is about to expire makes way for
    the next secret."""
    from django.conf import settings

    from gateway.models import GatewayToken
    from gateway.selectors import model_id_of
    from gateway.services import gateway_token_issue, token_digest

    assistant = SystemVersion.objects.get(lab__slug="aurora", name="Aurora Assistant", sequence=2)
    audit = Audit.objects.filter(system_version=assistant, status="open").first()
    soon = timezone.now() + datetime.timedelta(days=1)
    generation = 0
    while True:
        secret = secret_for(generation)
        existing = GatewayToken.objects.filter(digest=token_digest(secret)).first()
        if existing is None:
            gateway_token_issue(
                actor=actor_for(auditor),
                kind="auditor",
                system_version=assistant,
                audit=audit,
                name="demo",
                expires_at=timezone.now() + datetime.timedelta(days=settings.STAGEGATE_GATEWAY_TOKEN_MAX_DAYS - 1),
                secret=secret,
            )
            break
        if existing.revoked_at is None and existing.expires_at > soon:
            break
        generation += 1
    return {
        "model": model_id_of(lab_slug="aurora", name=assistant.name, sequence=assistant.sequence),
        "auditor_token": secret,
    }
