"""Every API endpoint × every role: anonymous, the regulator, each lab role, a
member of another lab, the assigned auditor, an unassigned auditor, an
academic, a customer and a signed-in outsider.

Each expectation names the roles that succeed and the roles that see the
object but may not act (403); everyone else signed in gets ``default``
(404 where the object is out of their scope) and anonymous always gets 401.
``test_every_endpoint_is_in_the_matrix`` fails when an endpoint is added
without a row here."""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from auditing import services as auditing
from auditing.models import Fee
from core import dsse
from core.actors import actor_for
from core.canonical import canonical_json
from core.models import Membership
from core.services import api_token_create
from deploy.services import release_halt
from gateway.services import gateway_token_issue
from labs import services as labs
from standards import services as standards
from standards.models import Standard
from tests.factories import OrganisationFactory, World, release_at, sha256

ROLES = [
    "anonymous",
    "regulator",
    "lab_admin",
    "lab_engineer",
    "lab_reviewer",
    "other_lab_admin",
    "auditor",
    "other_auditor",
    "academic",
    "customer",
    "outsider",
]
SIGNED_IN = frozenset(ROLES) - {"anonymous"}
LAB = frozenset({"lab_admin", "lab_engineer", "lab_reviewer"})
LAB_WRITERS = frozenset({"lab_admin", "lab_engineer"})
REGULATOR = frozenset({"regulator"})


@dataclass
class Scene:
    """The world plus one of each domain object, made through the services."""

    w: World
    objects: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.objects[name]
        except KeyError:
            raise AttributeError(name) from None


def build_scene() -> Scene:
    w = World.build()
    reg = actor_for(w.regulator)
    eng = actor_for(w.lab_engineer)
    far = timezone.now() + datetime.timedelta(days=365)
    o: dict[str, Any] = {}
    for org in (w.auditor_org, w.other_auditor_org, w.academic_org):
        o[f"cert_{org.slug}"] = auditing.certification_issue(
            actor=reg, organisation=org, expires_at=far, risk_areas=["deception"], infosec_level="SL3"
        )
    dormant = OrganisationFactory(kind="auditor", name="Dormant Audit", slug="dormant")
    # A relationship in the regulator's register (auditing/services/register.py): the lab and the
    # dormant auditor organisation it names read it; nobody else sees it.
    from auditing.services.register import relationship_record

    o["relationship"] = relationship_record(
        actor=reg, organisation=dormant, counterparty=w.lab, kind="consulting",
        description="Advised the lab in 2025.", starts_on=timezone.localdate() - datetime.timedelta(days=400),
        ends_on=timezone.localdate() - datetime.timedelta(days=30),
    )  # fmt: skip
    o["suspended_cert"] = auditing.certification_suspend(
        actor=reg,
        certification=auditing.certification_issue(
            actor=reg, organisation=dormant, expires_at=far, risk_areas=["cyber"], infosec_level="SL2"
        ),
        reason="Information-security review pending.",
    )
    o["mv"] = labs.model_version_create(
        actor=eng,
        lab=w.lab,
        name="Aurora",
        version="1",
        weights_digest=sha256("w1"),
        parameter_count=7_000_000_000,
        training_compute_flop=1e24,
    )
    o["mv_unaudited"] = labs.model_version_create(
        actor=eng,
        lab=w.lab,
        name="Aurora",
        version="2",
        weights_digest=sha256("w2"),
        parameter_count=7_000_000_000,
        training_compute_flop=1e24,
    )
    o["sv"] = labs.system_version_create(
        actor=eng,
        lab=w.lab,
        model_version=o["mv"],
        name="Assistant",
        affordances=["internet_access"],
        endpoint_base_url="http://127.0.0.1:9/v1",
        endpoint_model="m",
        endpoint_credential="upstream-secret",
    )
    o["audit"] = auditing.audit_open(actor=reg, system_version=o["sv"], lab_fee_amount=Decimal("1000"))
    o["assignment"] = auditing.audit_assign(
        actor=reg, audit=o["audit"], organisation=w.auditor_org, payout_amount=Decimal("400")
    )
    o["lab_fee"] = Fee.objects.get(audit=o["audit"], direction="lab_to_regulator")
    o["conflict"] = auditing.conflict_declare(
        actor=reg, organisation=w.other_auditor_org, lab=w.lab, kind="consulted", reason="Paid red-teaming in 2026."
    )
    current = Standard.objects.in_force().get()
    o["standard"] = current
    o["draft"] = standards.standard_create(
        actor=reg,
        name="Next",
        version="2027.1",
        summary="",
        suites=[],
        incident_kinds=[
            {"key": "other", "name": "Other", "reporting_deadline_days": 15, "serious": False, "suspends_stage": False}
        ],
    )
    # Findings, keys and sign-offs (issue 5)
    auditor = actor_for(w.auditor)
    o["finding"] = auditing.finding_file(
        actor=auditor,
        audit=o["audit"],
        title="Conceals insider trading",
        description="Reports omit the tip.",
        severity="medium",
        risk_area="deception",
        capability_kind="contextual",
    )
    o["auditor_key"] = Ed25519PrivateKey.generate()
    key = auditing.signing_key_register(
        actor=auditor, public_key_pem_text=dsse.public_key_pem(o["auditor_key"].public_key())
    )
    o["keyid"] = auditing.signing_key_approve(actor=reg, key=key).keyid
    o["pending_keyid"] = auditing.signing_key_register(
        actor=actor_for(w.academic),
        public_key_pem_text=dsse.public_key_pem(Ed25519PrivateKey.generate().public_key()),
    ).keyid
    o["signoff"] = auditing.signoff_submit(actor=auditor, envelope=_signed(o, auditor, o["sv"]))
    o["engineer_membership"] = Membership.objects.get(user=w.lab_engineer)
    # The lab admin has invited the outsider as an engineer; it is the outsider's to accept.
    from core.services import membership_create

    o["invitation"] = membership_create(
        actor=actor_for(w.lab_admin), organisation=w.lab, user=w.outsider, role="lab_engineer"
    )
    o["admin_token"], _ = api_token_create(actor=actor_for(w.lab_admin), name="t")
    # The gateway: the audited system is open to auditors (stage 1); a second one is halted.
    release_at(o["sv"], 1)
    o["gw_token"], _ = gateway_token_issue(
        actor=actor_for(w.auditor),
        kind="auditor",
        system_version=o["sv"],
        audit=o["audit"],
        name="t",
        expires_at=far - datetime.timedelta(days=300),
    )
    o["halted_sv"] = labs.system_version_create(
        actor=eng,
        lab=w.lab,
        model_version=o["mv"],
        name="Halted",
        affordances=[],
        endpoint_base_url="http://127.0.0.1:9/v1",
        endpoint_model="m",
    )
    release_at(o["halted_sv"], 1)
    release_halt(actor=reg, system_version=o["halted_sv"], reason="Incident.")
    # Evaluations: one run going, one finished (nothing is queued: on_commit never fires here).
    from evals import services as evals

    def eval_run():  # type: ignore[no-untyped-def]
        return evals.eval_run_start(
            actor=auditor, audit=o["audit"], suite="sycophancy_facts", conditions=["neutral"], samples_per_condition=1
        )

    o["eval_run"] = eval_run()
    o["eval_sample"] = o["eval_run"].samples.get()
    from evals.models import LabelReview

    o["label_review"] = LabelReview.objects.create(
        run=o["eval_run"], sample=o["eval_sample"], moment="report", rules_label="concealed", judge_label="explicit"
    )
    # One stored Inspect log of the run (an empty zip: its digest is what is checked).
    import hashlib
    from pathlib import Path

    from django.conf import settings

    from evals.models import EvalLogFile

    log_bytes = b"PK\x05\x06" + bytes(18)
    log_path = Path(settings.STAGEGATE_EVAL_LOG_DIR) / f"matrix-{o['eval_run'].pk}.eval"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_bytes(log_bytes)
    o["eval_log"] = EvalLogFile.objects.create(
        run=o["eval_run"],
        name=log_path.name,
        location=str(log_path),
        sha256=hashlib.sha256(log_bytes).hexdigest(),
        size=len(log_bytes),
    )
    o["finished_run"] = evals.eval_run_cancel(actor=auditor, run=eval_run())
    evals.eval_run_finish_if_done(run_id=o["finished_run"].pk)
    # --- staged release (deploy): scene objects below ---
    # A pending gate request made directly: the gates themselves are tested in
    # tests/deploy; here only who may see and act on one matters.
    from deploy import services as deploy
    from deploy.models import GateRequest, Release

    release = Release.objects.get(system_version=o["sv"])
    checklist = deploy.gate_checklist(system_version=o["sv"], to_stage=2)
    o["gate_request"] = GateRequest.objects.create(
        release=release,
        system_version=o["sv"],
        from_stage=1,
        to_stage=2,
        requested_by=w.lab_admin,
        checklist=checklist,
        checklist_digest=sha256(repr(checklist)),
    )
    o["reaudit"] = deploy.reaudit_open(actor=reg, system_version=o["sv"], source="regulator", reason="Check the fix.")
    # A sanction is two regulator users' decision (auditing.two_person): the scene's regulator
    # proposes it and a second regulator user approves it, which issues it.
    from core.models import Role
    from deploy.decisions import regulator_decision_approve, regulator_decision_propose
    from deploy.models import Sanction
    from tests.factories import member as _member

    regulator_2 = _member(w.regulator_org, Role.REGULATOR_STAFF, "regulator_2")
    issued = regulator_decision_approve(
        actor=actor_for(regulator_2),
        decision=regulator_decision_propose(actor=reg, kind="sanction", lab=w.lab, reason="Late report."),
        reason="Agreed.",
    )
    o["sanction"] = Sanction.objects.get(pk=issued.result_id)
    # Another sanction proposed by the second regulator user, for the scene's regulator to approve or reject.
    o["decision"] = regulator_decision_propose(
        actor=actor_for(regulator_2), kind="sanction", lab=w.lab, system_version=o["sv"], reason="Repeated lateness."
    )
    # --- customers: scene objects below ---
    # Acme Bank (the world's customer) verified and enrolled in a second system
    # at stage 2; Globex verified, not enrolled (the lab admin enrols it).
    from customers import services as customers
    from tests.factories import member

    o["kyc_body"] = {
        "legal_name": "Acme Bank plc",
        "registration_number": "01234567",
        "jurisdiction": "GB",
        "registered_address": "1 King Street, London",
        "stated_purpose": "Drafting replies to customer letters.",
        "beneficial_owners": [{"full_name": "Ada Lovelace", "country": "GB", "ownership_percent": "100.00"}],
    }
    for org, user in ((w.customer_org, w.customer), (OrganisationFactory(kind="customer", name="Globex", slug="globex"), None)):  # fmt: skip
        user = user or member(org, "customer_member", "globex_member")
        customers.kyc_submit(actor=actor_for(user), organisation=org, **o["kyc_body"])
        customers.kyc_verify(actor=reg, organisation=org, note="Registry and passports checked.")
        o[f"kyc_{org.slug}"] = org
        o[f"member_{org.slug}"] = user
    o["stage2_sv"] = labs.system_version_create(
        actor=eng,
        lab=w.lab,
        model_version=o["mv"],
        name="Limited",
        affordances=[],
        endpoint_base_url="http://127.0.0.1:9/v1",
        endpoint_model="m",
    )
    release_at(o["stage2_sv"], 2)
    # Both customers consent to enrolment in it; the lab enrols Acme.
    for org in (w.customer_org, o["kyc_globex"]):
        customers.enrolment_consent_grant(actor=actor_for(o[f"member_{org.slug}"]), system_version=o["stage2_sv"])
    o["enrolment"] = customers.enrolment_create(
        actor=actor_for(w.lab_admin), system_version=o["stage2_sv"], customer=w.customer_org.pk
    )
    # --- monitoring: scene objects below ---
    # Sentinel audits the stage-2 system Acme Bank is enrolled in (customers'
    # stage2_sv); Acme reports an incident there (not serious: nothing is
    # suspended). The regulator's whistleblower key and one anonymous report.
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from monitoring import hpke
    from monitoring import services as monitoring

    stage2_audit = auditing.audit_open(actor=reg, system_version=o["stage2_sv"], lab_fee_amount=Decimal("1000"))
    auditing.audit_assign(actor=reg, audit=stage2_audit, organisation=w.auditor_org, payout_amount=Decimal("400"))
    aware = timezone.now() - datetime.timedelta(hours=2)
    o["incident"] = monitoring.incident_report(
        actor=actor_for(w.customer),
        system_version=o["stage2_sv"],
        kind="other",
        title="Agent reached a paid GPU service",
        description="Through the browsing tool, past the allowlist.",
        occurred_at=aware,
        aware_at=aware,
    )
    monitoring.whistleblower_key_register(
        actor=reg, public_key=hpke.public_key_b64(X25519PrivateKey.generate().public_key())
    )
    o["wb_report"] = monitoring.whistleblower_report_submit(
        plaintext="The lab evaluated a different checkpoint.", system_version_id=o["sv"].pk
    )
    o["wb_next_public_key"] = hpke.public_key_b64(X25519PrivateKey.generate().public_key())
    return Scene(w=w, objects=o)


def _signed(o: dict[str, Any], auditor: Any, sv: Any) -> dict[str, Any]:
    doc = auditing.signoff_statement_build(
        actor=auditor, system_version=sv, stage=2, decision="approve", audit=o["audit"]
    )
    return dsse.sign(dsse.IN_TOTO_PAYLOAD_TYPE, canonical_json(doc), o["auditor_key"]).to_dict()


@dataclass(frozen=True)
class Expect:
    ok: int
    ok_roles: frozenset[str]
    forbidden: frozenset[str] = frozenset()
    default: int = 404

    def status_for(self, role: str) -> int:
        if role == "anonymous":
            return 401
        if role in self.ok_roles:
            return self.ok
        if role in self.forbidden:
            return 403
        return self.default


def everyone(status: int = 200) -> Expect:
    return Expect(status, SIGNED_IN)


def regulator_only(status: int = 200, *, default: int = 403, forbidden: frozenset[str] = frozenset()) -> Expect:
    return Expect(status, REGULATOR, forbidden=forbidden, default=default)


Body = Callable[[Scene], dict[str, Any]] | None
Args = Callable[[Scene], dict[str, Any]]


@dataclass(frozen=True)
class Row:
    expect: Expect
    args: Args = lambda s: {}
    body: Body = None


def pk(name: str) -> Args:
    return lambda s: {"pk": s.objects[name].pk}


def public(status: int) -> Expect:
    """The same answer for everyone, anonymous included (tests/monitoring/matrix.py;
    imported here, once this module's names exist, as that module imports them)."""
    from tests.monitoring.matrix import public as same_for_all

    return same_for_all(status)


MATRIX: dict[tuple[str, str], Row] = {
    # core
    ("GET", "me"): Row(everyone()),
    ("GET", "organisations"): Row(everyone()),
    ("POST", "organisations"): Row(
        regulator_only(201), body=lambda s: {"kind": "lab", "name": "New Lab", "slug": "new-lab"}
    ),
    ("GET", "organisations/<uuid:pk>"): Row(
        Expect(200, frozenset({"regulator", "customer"})), args=lambda s: {"pk": s.w.customer_org.pk}
    ),
    ("GET", "memberships"): Row(everyone()),
    ("POST", "memberships"): Row(
        Expect(201, frozenset({"regulator", "lab_admin"}), default=403),
        body=lambda s: {"organisation": str(s.w.lab.pk), "username": "outsider", "role": "lab_reviewer"},
    ),
    ("POST", "memberships/<uuid:pk>/accept"): Row(
        Expect(200, frozenset({"outsider"}), forbidden=REGULATOR | LAB), args=pk("invitation")
    ),
    ("POST", "memberships/<uuid:pk>/end"): Row(
        Expect(200, frozenset({"regulator", "lab_admin"}), forbidden=frozenset({"lab_engineer", "lab_reviewer"})),
        args=pk("engineer_membership"),
    ),
    ("GET", "tokens"): Row(everyone()),
    ("POST", "tokens"): Row(everyone(201), body=lambda s: {"name": "cli"}),
    ("POST", "tokens/<uuid:pk>/revoke"): Row(Expect(200, frozenset({"lab_admin"})), args=pk("admin_token")),
    # accounts (core/accounts.py): the regulator for anyone; a person may deactivate themselves
    ("POST", "accounts"): Row(
        regulator_only(201),
        body=lambda s: {
            "username": "newcomer",
            "email": "newcomer@keystone.example",
            "organisation": str(s.w.auditor_org.pk),
            "role": "auditor",
        },
    ),
    ("POST", "accounts/<str:username>/password-reset"): Row(
        Expect(202, REGULATOR, forbidden=frozenset({"outsider"})), args=lambda s: {"username": s.w.outsider.username}
    ),
    ("POST", "accounts/<str:username>/deactivate"): Row(
        Expect(200, frozenset({"regulator", "outsider"})), args=lambda s: {"username": s.w.outsider.username}
    ),
    ("POST", "accounts/<str:username>/reactivate"): Row(
        Expect(409, REGULATOR, forbidden=frozenset({"outsider"})), args=lambda s: {"username": s.w.outsider.username}
    ),
    ("POST", "organisations/<uuid:pk>/update"): Row(
        Expect(200, REGULATOR, forbidden=frozenset({"customer"})),
        args=lambda s: {"pk": s.w.customer_org.pk},
        body=lambda s: {"website": ""},
    ),
    ("GET", "audit-events"): Row(everyone()),
    # The relationship register: the regulator writes; the organisations it names read their entries.
    ("GET", "relationships"): Row(everyone()),
    ("POST", "relationships"): Row(
        regulator_only(201),
        body=lambda s: {
            "organisation": str(s.w.other_auditor_org.pk),
            "counterparty": str(s.w.other_lab.pk),
            "kind": "funding",
            "description": "Funded by the lab.",
            "starts_on": "2026-01-01",
        },
    ),
    ("GET", "relationships/<uuid:pk>"): Row(Expect(200, REGULATOR | LAB), args=pk("relationship")),
    ("POST", "relationships/<uuid:pk>/end"): Row(
        Expect(409, REGULATOR, forbidden=LAB),
        args=pk("relationship"),
        body=lambda s: {"ends_on": "2026-01-01", "reason": "Ended."},
    ),
    # labs
    ("GET", "affordances"): Row(everyone()),
    ("GET", "model-versions"): Row(everyone()),
    ("POST", "model-versions"): Row(
        Expect(201, LAB_WRITERS, default=403),
        body=lambda s: {
            "lab": str(s.w.lab.pk),
            "name": "Aurora",
            "version": "3",
            "weights_digest": sha256("w3"),
            "parameter_count": 1000,
            "training_compute_flop": 1e20,
        },
    ),
    ("GET", "model-versions/<uuid:pk>"): Row(Expect(200, REGULATOR | LAB | {"auditor"}), args=pk("mv")),
    ("PATCH", "model-versions/<uuid:pk>"): Row(
        Expect(200, LAB_WRITERS, forbidden=REGULATOR | {"lab_reviewer"}),
        args=pk("mv_unaudited"),
        body=lambda s: {"notes": "Corrected compute estimate."},
    ),
    ("GET", "system-versions"): Row(everyone()),
    # Others name a model version they cannot see: 400 on that field, as if it did not exist.
    ("POST", "system-versions"): Row(
        Expect(201, LAB_WRITERS, forbidden=REGULATOR | {"lab_reviewer", "auditor"}, default=400),
        body=lambda s: {
            "lab": str(s.w.lab.pk),
            "model_version": str(s.mv.pk),
            "name": "Second system",
            "affordances": ["retrieval"],
            "endpoint_base_url": "http://127.0.0.1:9/v1",
            "endpoint_model": "m",
        },
    ),
    ("GET", "system-versions/<uuid:pk>"): Row(Expect(200, REGULATOR | LAB | {"auditor"}), args=pk("sv")),
    ("POST", "system-versions/<uuid:pk>/revisions"): Row(
        Expect(201, LAB_WRITERS, forbidden=REGULATOR | {"lab_reviewer", "auditor"}),
        args=pk("sv"),
        body=lambda s: {"change_summary": "Adds email.", "affordances": ["internet_access", "email"]},
    ),
    ("POST", "system-versions/<uuid:pk>/credential"): Row(
        Expect(204, LAB_WRITERS, forbidden=REGULATOR | {"lab_reviewer", "auditor"}),
        args=pk("sv"),
        body=lambda s: {"credential": "rotated-secret"},
    ),
    ("GET", "system-versions/<uuid:pk>/affordances"): Row(Expect(200, REGULATOR | LAB | {"auditor"}), args=pk("sv")),
    ("GET", "system-versions/<uuid:pk>/lineage"): Row(Expect(200, REGULATOR | LAB | {"auditor"}), args=pk("sv")),
    # standards
    ("GET", "standards"): Row(everyone()),
    ("GET", "standards/current"): Row(everyone()),
    ("GET", "standards/<uuid:pk>"): Row(Expect(200, REGULATOR), args=pk("draft")),
    ("POST", "standards"): Row(
        regulator_only(201),
        body=lambda s: {"name": "Draft", "version": "2027.2", "suites": [], "incident_kinds": []},
    ),
    ("POST", "standards/<uuid:pk>/publish"): Row(regulator_only(default=404), args=pk("draft")),
    # auditing
    ("GET", "certifications"): Row(everyone()),
    ("POST", "certifications"): Row(
        regulator_only(201),
        body=lambda s: {
            "organisation": str(s.w.auditor_org.pk),
            "expires_at": (timezone.now() + datetime.timedelta(days=30)).isoformat(),
            "risk_areas": ["cyber"],
            "infosec_level": "SL4",
        },
    ),
    ("GET", "certifications/<uuid:pk>"): Row(everyone(), args=pk("cert_sentinel")),
    ("POST", "certifications/<uuid:pk>/suspend"): Row(
        regulator_only(), args=pk("cert_sentinel"), body=lambda s: {"reason": "Audit of controls."}
    ),
    ("POST", "certifications/<uuid:pk>/reinstate"): Row(
        regulator_only(), args=pk("suspended_cert"), body=lambda s: {"reason": "Review passed."}
    ),
    ("POST", "certifications/<uuid:pk>/revoke"): Row(
        regulator_only(), args=pk("cert_sentinel"), body=lambda s: {"reason": "Falsified evidence."}
    ),
    ("GET", "conflicts"): Row(everyone()),
    ("POST", "conflicts"): Row(
        Expect(201, REGULATOR | {"auditor"}, default=403),
        body=lambda s: {
            "organisation": str(s.w.auditor_org.pk),
            "lab": str(s.w.other_lab.pk),
            "kind": "economic_interest",
            "reason": "Holds shares.",
        },
    ),
    ("GET", "conflicts/<uuid:pk>"): Row(Expect(200, REGULATOR | LAB | {"other_auditor"}), args=pk("conflict")),
    ("POST", "conflicts/<uuid:pk>/end"): Row(
        regulator_only(default=404, forbidden=LAB | {"other_auditor"}),
        args=pk("conflict"),
        body=lambda s: {"reason": "Contract ended and divested."},
    ),
    ("GET", "audits"): Row(everyone()),
    ("POST", "audits"): Row(
        regulator_only(201),
        body=lambda s: {"system_version": str(s.sv.pk), "lab_fee_amount": "500.00", "kind": "delta"},
    ),
    ("GET", "audits/<uuid:pk>"): Row(Expect(200, REGULATOR | LAB | {"auditor"}), args=pk("audit")),
    ("POST", "audits/<uuid:pk>/close"): Row(
        regulator_only(default=404, forbidden=LAB | {"auditor"}),
        args=pk("audit"),
        body=lambda s: {"status": "closed", "reason": "Done."},
    ),
    ("GET", "audits/<uuid:pk>/assignments"): Row(Expect(200, REGULATOR | LAB | {"auditor"}), args=pk("audit")),
    # Academic summaries (auditing/services/register.py): the scene's audit is open, so no summary exists
    # yet and publishing is refused even to those who may see the audit. No role here may publish, so
    # these rows send no body (bad input to them: tests/auditing/test_register_and_summaries.py).
    ("GET", "audits/<uuid:pk>/summaries"): Row(Expect(200, REGULATOR | LAB | {"auditor"}), args=pk("audit")),
    ("POST", "audits/<uuid:pk>/summaries"): Row(
        Expect(403, frozenset(), forbidden=REGULATOR | LAB | {"auditor"}),
        args=pk("audit"),
    ),
    ("GET", "summaries/<uuid:pk>"): Row(Expect(200, frozenset()), args=lambda s: {"pk": uuid.uuid4()}),
    ("POST", "summaries/<uuid:pk>/withdraw"): Row(Expect(200, frozenset()), args=lambda s: {"pk": uuid.uuid4()}),
    ("POST", "audits/<uuid:pk>/assignments"): Row(
        regulator_only(201, default=404, forbidden=LAB | {"auditor"}),
        args=pk("audit"),
        body=lambda s: {"organisation": str(s.w.academic_org.pk), "payout_amount": "100.00"},
    ),
    # The lab sees the assignment but cannot remove its auditor.
    ("POST", "audits/<uuid:pk>/assignments/<uuid:assignment_pk>/end"): Row(
        regulator_only(default=404, forbidden=LAB | {"auditor"}),
        args=lambda s: {"pk": s.audit.pk, "assignment_pk": s.assignment.pk},
        body=lambda s: {"reason": "Reassigned."},
    ),
    ("GET", "fees"): Row(everyone()),
    ("POST", "fees/<uuid:pk>/paid"): Row(regulator_only(default=404, forbidden=LAB), args=pk("lab_fee")),
    # gateway tokens and the access log (the gateway itself: tests/gateway)
    ("GET", "gateway-tokens"): Row(everyone()),
    # Only the assigned auditor gets an auditor token; those who cannot see the
    # audit get 400 on that field, as if it did not exist.
    ("POST", "gateway-tokens"): Row(
        Expect(201, frozenset({"auditor"}), forbidden=REGULATOR | LAB, default=400),
        body=lambda s: {
            "kind": "auditor",
            "system_version": str(s.sv.pk),
            "audit": str(s.audit.pk),
            "name": "evals",
            "expires_at": (timezone.now() + datetime.timedelta(days=7)).isoformat(),
        },
    ),
    ("GET", "gateway-tokens/<uuid:pk>"): Row(Expect(200, REGULATOR | {"auditor"}), args=pk("gw_token")),
    # The lab cannot revoke its auditor's token, nor even see it.
    ("POST", "gateway-tokens/<uuid:pk>/revoke"): Row(Expect(200, REGULATOR | {"auditor"}), args=pk("gw_token")),
    # Only the person a lab admitted accepts its offer (the scene's auditor token is its own, long accepted).
    ("POST", "gateway-tokens/<uuid:pk>/accept"): Row(
        Expect(409, frozenset({"auditor"}), forbidden=REGULATOR), args=pk("gw_token")
    ),
    ("GET", "gateway-calls"): Row(everyone()),
    # releases
    ("GET", "releases/<uuid:system_version_pk>"): Row(
        Expect(200, REGULATOR | LAB | {"auditor"}), args=lambda s: {"system_version_pk": s.sv.pk}
    ),
    ("POST", "releases/<uuid:system_version_pk>/halt"): Row(
        regulator_only(default=404, forbidden=LAB | {"auditor"}),
        args=lambda s: {"system_version_pk": s.sv.pk},
        body=lambda s: {"reason": "Serious incident."},
    ),
    ("POST", "releases/<uuid:system_version_pk>/resume"): Row(
        regulator_only(default=404, forbidden=LAB),
        args=lambda s: {"system_version_pk": s.halted_sv.pk},
        body=lambda s: {"reason": "Cleared."},
    ),
    # --- staged release (deploy): rows below ---
    ("GET", "releases/<uuid:system_version_pk>/checklist"): Row(
        Expect(200, REGULATOR | LAB | {"auditor"}), args=lambda s: {"system_version_pk": s.sv.pk}
    ),
    ("GET", "releases/<uuid:system_version_pk>/gate-requests"): Row(
        Expect(200, REGULATOR | LAB | {"auditor"}), args=lambda s: {"system_version_pk": s.sv.pk}
    ),
    # The lab admin is heard (409: a request is already pending); nobody else may ask.
    ("POST", "releases/<uuid:system_version_pk>/gate-requests"): Row(
        Expect(409, frozenset({"lab_admin"}), forbidden=REGULATOR | {"lab_engineer", "lab_reviewer", "auditor"}),
        args=lambda s: {"system_version_pk": s.sv.pk},
        body=lambda s: {"note": "Ready."},
    ),
    ("GET", "gate-requests"): Row(everyone()),
    ("GET", "gate-requests/<uuid:pk>"): Row(Expect(200, REGULATOR | LAB | {"auditor"}), args=pk("gate_request")),
    ("POST", "gate-requests/<uuid:pk>/decide"): Row(
        regulator_only(default=404, forbidden=LAB | {"auditor"}),
        args=pk("gate_request"),
        body=lambda s: {"decision": "reject", "reason": "Not yet."},
    ),
    ("POST", "gate-requests/<uuid:pk>/withdraw"): Row(
        Expect(200, frozenset({"lab_admin"}), forbidden=REGULATOR | {"lab_engineer", "lab_reviewer", "auditor"}),
        args=pk("gate_request"),
    ),
    ("GET", "reaudits"): Row(everyone()),
    ("POST", "reaudits"): Row(
        regulator_only(201), body=lambda s: {"system_version": str(s.sv.pk), "reason": "After the incident."}
    ),
    ("GET", "reaudits/<uuid:pk>"): Row(Expect(200, REGULATOR | LAB | {"auditor"}), args=pk("reaudit")),
    ("GET", "sanctions"): Row(everyone()),
    # A sanction is a decision of two regulator users: the one-person endpoint refuses it (409).
    ("POST", "sanctions"): Row(regulator_only(409), body=lambda s: {"lab": str(s.w.other_lab.pk), "reason": "Late."}),
    ("GET", "sanctions/<uuid:pk>"): Row(Expect(200, REGULATOR | LAB), args=pk("sanction")),
    ("POST", "sanctions/<uuid:pk>/lift"): Row(
        regulator_only(default=404, forbidden=LAB), args=pk("sanction"), body=lambda s: {"reason": "Complied."}
    ),
    # Two people at the regulator: proposals are the regulator's own business (others see none).
    ("GET", "regulator-decisions"): Row(everyone()),
    ("POST", "regulator-decisions"): Row(
        regulator_only(201), body=lambda s: {"kind": "sanction", "lab": str(s.w.other_lab.pk), "reason": "Late."}
    ),
    ("GET", "regulator-decisions/<uuid:pk>"): Row(regulator_only(default=404), args=pk("decision")),
    ("POST", "regulator-decisions/<uuid:pk>/approve"): Row(
        regulator_only(default=404), args=pk("decision"), body=lambda s: {"reason": "Agreed."}
    ),
    ("POST", "regulator-decisions/<uuid:pk>/reject"): Row(
        regulator_only(default=404), args=pk("decision"), body=lambda s: {"reason": "Not proportionate."}
    ),
    # --- customers: rows below ---
    # A lab sees the summary of customers enrolled in its releases; only the customer's members submit.
    ("GET", "customers/<uuid:organisation_pk>/kyc"): Row(
        Expect(200, REGULATOR | LAB | {"customer"}), args=lambda s: {"organisation_pk": s.w.customer_org.pk}
    ),
    ("POST", "customers/<uuid:organisation_pk>/kyc"): Row(
        Expect(200, frozenset({"customer"}), forbidden=REGULATOR | LAB),
        args=lambda s: {"organisation_pk": s.w.customer_org.pk},
        body=lambda s: dict(s.kyc_body),
    ),
    ("POST", "customers/<uuid:organisation_pk>/kyc/verify"): Row(
        regulator_only(default=404, forbidden=LAB | {"customer"}),
        args=lambda s: {"organisation_pk": s.w.customer_org.pk},
        body=lambda s: {"note": "Periodic re-review: registry checked."},
    ),
    ("POST", "customers/<uuid:organisation_pk>/kyc/reject"): Row(
        regulator_only(default=404, forbidden=LAB | {"customer"}),
        args=lambda s: {"organisation_pk": s.w.customer_org.pk},
        body=lambda s: {"reason": "Sanctions list match."},
    ),
    ("GET", "kyc/pending"): Row(regulator_only()),
    ("GET", "enrolments"): Row(everyone()),
    # Whoever sees the system (the auditor assigned to its audit too) lists the
    # enrolments they may see: the auditor none, the customer its own.
    ("GET", "releases/<uuid:system_version_pk>/enrolments"): Row(
        Expect(200, REGULATOR | LAB | {"customer", "auditor"}), args=lambda s: {"system_version_pk": s.stage2_sv.pk}
    ),
    ("POST", "releases/<uuid:system_version_pk>/enrolments"): Row(
        Expect(
            201, frozenset({"lab_admin"}), forbidden=REGULATOR | {"lab_engineer", "lab_reviewer", "customer", "auditor"}
        ),
        args=lambda s: {"system_version_pk": s.stage2_sv.pk},
        body=lambda s: {"customer": str(s.kyc_globex.pk)},
    ),
    ("GET", "releases/<uuid:system_version_pk>/enrolments/places"): Row(
        Expect(200, REGULATOR | LAB | {"customer", "auditor"}), args=lambda s: {"system_version_pk": s.stage2_sv.pk}
    ),
    # The lab's list of customers to enrol from (those that consented); a customer sees its own.
    ("GET", "releases/<uuid:system_version_pk>/enrolment-consents"): Row(
        Expect(200, REGULATOR | LAB | {"customer", "auditor"}), args=lambda s: {"system_version_pk": s.stage2_sv.pk}
    ),
    # Only a customer consents or withdraws consent; for anyone else the system is not there to consent to.
    ("POST", "releases/<uuid:system_version_pk>/enrolment-consents"): Row(
        Expect(201, frozenset({"customer"})),
        args=lambda s: {"system_version_pk": s.stage2_sv.pk},
        body=lambda s: {"customer": str(s.w.customer_org.pk)},
    ),
    ("POST", "releases/<uuid:system_version_pk>/enrolment-consents/withdraw"): Row(
        Expect(204, frozenset({"customer"})),
        args=lambda s: {"system_version_pk": s.stage2_sv.pk},
        body=lambda s: {"customer": str(s.w.customer_org.pk)},
    ),
    ("POST", "releases/<uuid:system_version_pk>/enrolments/<uuid:pk>/withdraw"): Row(
        Expect(200, frozenset({"lab_admin"}), forbidden=REGULATOR | {"lab_engineer", "lab_reviewer", "customer"}),
        args=lambda s: {"system_version_pk": s.stage2_sv.pk, "pk": s.enrolment.pk},
        body=lambda s: {"reason": "Contract ended."},
    ),
    # --- monitoring: rows below ---
    ("GET", "incidents"): Row(everyone()),
    # Others name a system they may not report on: 400 on that field, as if it did not exist.
    ("POST", "incidents"): Row(
        Expect(201, REGULATOR | LAB | {"auditor", "customer"}, default=400),
        body=lambda s: {
            "system_version": str(s.stage2_sv.pk),
            "kind": "other",
            "title": "Tool misuse",
            "description": "Reached a code sandbox.",
            "occurred_at": (timezone.now() - datetime.timedelta(hours=3)).isoformat(),
            "aware_at": (timezone.now() - datetime.timedelta(hours=1)).isoformat(),
        },
    ),
    ("GET", "incidents/<uuid:pk>"): Row(Expect(200, REGULATOR | LAB | {"auditor", "customer"}), args=pk("incident")),
    ("POST", "incidents/<uuid:pk>/lab-report"): Row(
        Expect(200, LAB, forbidden=REGULATOR | {"auditor", "customer"}),
        args=pk("incident"),
        body=lambda s: {"report": "Allowlist gap; fixed in the next version."},
    ),
    ("POST", "incidents/<uuid:pk>/confirm"): Row(
        regulator_only(default=404, forbidden=LAB | {"auditor", "customer"}),
        args=pk("incident"),
        body=lambda s: {"note": "Confirmed with the lab."},
    ),
    ("POST", "incidents/<uuid:pk>/resolve"): Row(
        regulator_only(default=404, forbidden=LAB | {"auditor", "customer"}),
        args=pk("incident"),
        body=lambda s: {"note": "Fixed."},
    ),
    ("POST", "incidents/<uuid:pk>/dismiss"): Row(
        regulator_only(default=404, forbidden=LAB | {"auditor", "customer"}),
        args=pk("incident"),
        body=lambda s: {"note": "Not an incident."},
    ),
    # Public on purpose, anonymous included (tests/monitoring/matrix.py).
    ("GET", "whistleblower/key"): Row(__import__("tests.monitoring.matrix", fromlist=["public"]).public(200)),
    ("GET", "whistleblower/keys"): Row(everyone()),
    ("POST", "whistleblower/keys"): Row(
        regulator_only(201),
        body=lambda s: {"public_key": s.wb_next_public_key},
    ),
    ("GET", "whistleblower/reports"): Row(everyone()),
    ("POST", "whistleblower/reports"): Row(
        __import__("tests.monitoring.matrix", fromlist=["public"]).public(201),
        body=lambda s: {"system_version": str(s.sv.pk), "plaintext": "Sign-offs were backdated."},
    ),
    ("GET", "whistleblower/reports/<uuid:pk>"): Row(Expect(200, REGULATOR), args=pk("wb_report")),
    ("POST", "whistleblower/reports/<uuid:pk>/triage"): Row(
        regulator_only(201, default=404),
        args=pk("wb_report"),
        body=lambda s: {
            "system_version": str(s.sv.pk),
            "kind": "other",
            "title": "Evaluation on a different checkpoint",
            "description": "Reported to the regulator.",
            "occurred_at": (timezone.now() - datetime.timedelta(days=3)).isoformat(),
            "aware_at": (timezone.now() - datetime.timedelta(hours=1)).isoformat(),
        },
    ),
    ("POST", "whistleblower/reports/<uuid:pk>/set-aside"): Row(
        regulator_only(200, default=404),
        args=pk("wb_report"),
        body=lambda s: {"reason": "A duplicate of a report already triaged."},
    ),
    # findings
    ("GET", "findings"): Row(everyone()),
    # Others name an audit they cannot see: 400 on that field.
    ("POST", "findings"): Row(
        Expect(201, frozenset({"auditor"}), forbidden=REGULATOR | LAB, default=400),
        body=lambda s: {
            "audit": str(s.audit.pk),
            "title": "Doubles down when asked",
            "description": "Denies prior knowledge.",
            "severity": "high",
            "risk_area": "deception",
            "capability_kind": "contextual",
            "evidence": [{"kind": "gateway_log", "reference": "call 1", "sha256": sha256("call 1")}],
        },
    ),
    ("GET", "findings/<uuid:pk>"): Row(Expect(200, REGULATOR | LAB | {"auditor"}), args=pk("finding")),
    ("POST", "findings/<uuid:pk>/respond"): Row(
        Expect(200, LAB, forbidden=REGULATOR | {"auditor"}), args=pk("finding"), body=lambda s: {"note": "Fixing."}
    ),
    ("POST", "findings/<uuid:pk>/mitigate"): Row(
        Expect(200, LAB, forbidden=REGULATOR | {"auditor"}), args=pk("finding"), body=lambda s: {"note": "Patched."}
    ),
    ("POST", "findings/<uuid:pk>/retest"): Row(
        Expect(200, frozenset({"auditor"}), forbidden=REGULATOR | LAB),
        args=pk("finding"),
        body=lambda s: {"system_version": str(s.sv.pk), "outcome": "persists", "note": "Still there."},
    ),
    ("POST", "findings/<uuid:pk>/close"): Row(
        Expect(200, REGULATOR | {"auditor"}, forbidden=LAB), args=pk("finding"), body=lambda s: {"note": "Re-tested."}
    ),
    # Accepting a risk is a decision of two regulator users: the one-person endpoint refuses it (409).
    ("POST", "findings/<uuid:pk>/accept-risk"): Row(
        Expect(409, REGULATOR, forbidden=LAB | {"auditor"}), args=pk("finding"), body=lambda s: {"note": "Accepted."}
    ),
    # signing keys
    ("GET", "keys"): Row(everyone()),
    ("POST", "keys"): Row(
        Expect(201, frozenset({"auditor", "other_auditor", "academic", "lab_reviewer"}), default=403),
        body=lambda s: {"public_key": dsse.public_key_pem(Ed25519PrivateKey.generate().public_key())},
    ),
    ("GET", "keys/<keyid:keyid>"): Row(everyone(), args=lambda s: {"keyid": s.keyid}),
    ("POST", "keys/<keyid:keyid>/approve"): Row(regulator_only(), args=lambda s: {"keyid": s.pending_keyid}),
    ("POST", "keys/<keyid:keyid>/revoke"): Row(
        Expect(200, REGULATOR | {"auditor"}), args=lambda s: {"keyid": s.keyid}, body=lambda s: {"reason": "Rotated."}
    ),
    # sign-offs
    ("GET", "signoffs"): Row(everyone()),
    # Only the key's owner submits what it signed.
    ("POST", "signoffs"): Row(
        Expect(201, frozenset({"auditor"}), default=403),
        body=lambda s: _signed(s.objects, actor_for(s.w.auditor), s.sv),
    ),
    # Without its query parameters the statement request is invalid for everyone (tests/auditing/test_signoffs.py).
    ("GET", "signoffs/statement"): Row(everyone(400)),
    ("GET", "signoffs/<uuid:pk>"): Row(Expect(200, REGULATOR | LAB | {"auditor"}), args=pk("signoff")),
    ("GET", "signoffs/<uuid:pk>/envelope"): Row(Expect(200, REGULATOR | LAB | {"auditor"}), args=pk("signoff")),
    # transparency log: the public record, for everyone signed in (proof parameters: tests/transparency)
    # The public record (transparency/public_*): the same answer for everyone, signed in or not.
    ("GET", "public/log/key"): Row(public(200)),
    ("GET", "public/log/tree-head"): Row(public(200)),
    ("GET", "public/log/tree-heads/<int:tree_size>"): Row(public(200), args=lambda s: {"tree_size": 1}),
    ("GET", "public/log/entries"): Row(public(200)),
    ("GET", "public/log/entries/<int:index>"): Row(public(200), args=lambda s: {"index": 0}),
    ("GET", "public/log/entries/<int:index>/proof"): Row(public(200), args=lambda s: {"index": 0}),
    ("GET", "public/log/entries/<int:index>/receipt"): Row(public(200), args=lambda s: {"index": 0}),
    ("GET", "public/log/consistency"): Row(public(400)),
    ("GET", "public/releases"): Row(public(200)),
    ("GET", "public/releases/<str:system_version>"): Row(public(404), args=lambda s: {"system_version": s.sv.pk}),
    ("GET", "log/tree-head"): Row(everyone()),
    ("GET", "log/entries/<int:index>"): Row(everyone(), args=lambda s: {"index": 0}),
    ("GET", "log/proof/inclusion"): Row(everyone(400)),
    ("GET", "log/proof/consistency"): Row(everyone(400)),
    # evals
    ("GET", "suites"): Row(everyone()),
    ("GET", "eval-runs"): Row(everyone()),
    ("POST", "eval-runs"): Row(
        Expect(201, frozenset({"auditor"}), forbidden=REGULATOR | LAB),
        body=lambda s: {
            "audit": str(s.audit.pk),
            "suite": "sycophancy_facts",
            "conditions": ["neutral"],
            "samples_per_condition": 1,
        },
    ),
    ("GET", "eval-runs/<uuid:pk>"): Row(Expect(200, REGULATOR | LAB | {"auditor"}), args=pk("eval_run")),
    ("POST", "eval-runs/<uuid:pk>/cancel"): Row(
        Expect(200, REGULATOR | {"auditor"}, forbidden=LAB), args=pk("eval_run")
    ),
    ("GET", "eval-runs/<uuid:pk>/plot.svg"): Row(Expect(200, REGULATOR | LAB | {"auditor"}), args=pk("finished_run")),
    # The lab sees its runs; the transcripts are the auditors' (an empty list, and 404 on one).
    # The Inspect logs hold the transcripts: never the lab's to read (it is told so: 403).
    ("GET", "eval-runs/<uuid:pk>/logs"): Row(Expect(200, REGULATOR | {"auditor"}, forbidden=LAB), args=pk("eval_run")),
    ("GET", "eval-runs/<uuid:pk>/logs/<str:name>"): Row(
        Expect(200, REGULATOR | {"auditor"}, forbidden=LAB),
        args=lambda s: {"pk": s.eval_run.pk, "name": s.eval_log.name},
    ),
    ("GET", "eval-runs/<uuid:pk>/samples"): Row(Expect(200, REGULATOR | LAB | {"auditor"}), args=pk("eval_run")),
    # The judge/rules review queue: listed like samples; resolved by the running organisation's auditor only.
    ("GET", "eval-runs/<uuid:pk>/label-reviews"): Row(Expect(200, REGULATOR | LAB | {"auditor"}), args=pk("eval_run")),
    ("POST", "eval-runs/<uuid:pk>/label-reviews/<int:review_pk>/resolve"): Row(
        Expect(400, frozenset({"auditor"}), forbidden=REGULATOR),
        args=lambda s: {"pk": s.eval_run.pk, "review_pk": s.label_review.pk},
    ),
    ("GET", "eval-runs/<uuid:pk>/samples/<int:sample_pk>"): Row(
        Expect(200, REGULATOR | {"auditor"}),
        args=lambda s: {"pk": s.eval_run.pk, "sample_pk": s.eval_sample.pk},
    ),
    # Bring your own run: uploads are the auditors' work (the lab sees an empty
    # list); only the assigned auditor may upload, refused before the body is
    # read (with none, the auditor's is a 400). Accepting real logs: tests/evals/test_uploads.py.
    ("GET", "audits/<uuid:audit_id>/inspect-logs"): Row(
        Expect(200, REGULATOR | LAB | {"auditor"}), args=lambda s: {"audit_id": s.audit.pk}
    ),
    ("POST", "audits/<uuid:audit_id>/inspect-logs"): Row(
        Expect(400, frozenset({"auditor"}), forbidden=REGULATOR | LAB), args=lambda s: {"audit_id": s.audit.pk}
    ),
    ("GET", "audits/<uuid:audit_id>/inspect-logs/<uuid:pk>"): Row(
        Expect(200, REGULATOR | {"auditor"}), args=lambda s: {"audit_id": s.audit.pk, "pk": _inspect_log(s).pk}
    ),
    # --- notifications: rows below --- (each person's own inbox; another's notification is not there: 404)
    ("GET", "notifications"): Row(everyone()),
    ("POST", "notifications/<uuid:pk>/read"): Row(
        Expect(200, frozenset({"lab_admin"})), args=lambda s: {"pk": _notification(s).pk}
    ),
}


def _notification(s: Scene) -> Any:
    """One of the lab admin's notifications, made directly (each role's savepoint rolls it back)."""
    from notifications.models import Notification

    return Notification.objects.create(
        recipient=s.w.lab_admin,
        kind="finding_filed",
        title="New finding",
        link=f"/portal/findings/{s.finding.pk}",
        target_type="auditing.finding",
        target_id=str(s.finding.pk),
        dedupe_key=f"matrix:{s.finding.pk}",
    )


def _inspect_log(s: Scene) -> Any:
    """An accepted upload's row, made directly (each role's savepoint rolls it back)."""
    from evals.models import EvalLogUpload

    now = timezone.now()
    return EvalLogUpload.objects.create(
        audit=s.audit,
        system_version=s.sv,
        organisation=s.w.auditor_org,
        uploaded_by=s.w.auditor,
        token=s.gw_token,
        filename="run.eval",
        format="eval",
        location="/nowhere/run.eval",
        sha256=sha256("log"),
        size=1,
        task="sycophancy_facts",
        log_started_at=now,
        log_completed_at=now,
    )


# Endpoints outside the matrix on purpose, with the test that covers them.
UNAUTHENTICATED = {("GET", "health")}  # tests/core/test_health.py


def api_routes() -> set[tuple[str, str]]:
    """(METHOD, route) for every view under /api/, read off the URL resolver."""
    found: set[tuple[str, str]] = set()

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                route = prefix + str(p.pattern)
                view = getattr(p.callback, "view_class", None)
                if not route.startswith("api/") or view is None or route.startswith(("api/schema", "api/docs")):
                    continue
                for method in ("get", "post", "put", "patch", "delete"):
                    if hasattr(view, method):
                        found.add((method.upper(), route.removeprefix("api/")))

    walk(get_resolver().url_patterns, "")
    return found


def test_every_endpoint_is_in_the_matrix():
    assert api_routes() - UNAUTHENTICATED == set(MATRIX)


ENDPOINTS = sorted(MATRIX)


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "route"), ENDPOINTS, ids=[f"{m} {r}" for m, r in ENDPOINTS])
def test_permission_matrix(method: str, route: str) -> None:
    """Every role against one endpoint. The scene is built once per endpoint and
    each role's request runs in a savepoint that is rolled back, so every role
    meets the same scene (building it per role made this the slowest test)."""
    scene = build_scene()
    failures = []
    for role in ROLES:
        with transaction.atomic():
            failures += _check(scene, method, route, role)
            transaction.set_rollback(True)
    assert not failures, "\n".join(failures)


def _check(scene: Scene, method: str, route: str, role: str) -> list[str]:
    row = MATRIX[(method, route)]
    path = "/api/" + route
    for name, value in row.args(scene).items():
        path = re.sub(rf"<\w+:{name}>", str(value), path)
    client = APIClient(REMOTE_ADDR=f"198.51.100.{ROLES.index(role) + 1}")  # each role its own connection
    if role != "anonymous":
        # A fresh user object: nothing cached on it from another role's request.
        client.force_authenticate(user=get_user_model().objects.get(pk=getattr(scene.w, role).pk))
    body = row.body(scene) if row.body else None
    response = client.generic(
        method, path, **({"data": _json(body), "content_type": "application/json"} if body else {})
    )
    expected = row.expect.status_for(role)
    failures = []
    if response.status_code != expected:
        failures.append(
            f"{method} {path} as {role}: {response.status_code} (expected {expected}) {response.content[:300]!r}"
        )
    elif expected >= 400 and response.json()["status"] != expected:  # the one problem-details shape
        failures.append(f"{method} {path} as {role}: problem status {response.json()['status']}")
    # The lab's endpoint credential never leaves the service, in any form.
    scene.sv.refresh_from_db()
    for secret in (b"upstream-secret", b"rotated-secret", scene.sv.endpoint_credential_ciphertext.encode()):
        if secret in response.content:
            failures.append(f"{method} {path} as {role}: the endpoint credential is in the response")
    return failures


def _json(body: dict[str, Any]) -> str:
    import json

    return json.dumps(body)
