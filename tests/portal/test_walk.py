"""Every portal URL, as every role: a GET, and a POST with an empty form,
never answer 5xx (a refusal is a 4xx page, a form page a 200 or a 405 for
the wrong method). The objects in the URLs are real ones of one lab's
audited system, so pages render with content, not just their 404s."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.urls import URLPattern, URLResolver

from auditing.services import findings as finding_services
from auditing.services import keys as key_services
from core import dsse
from customers.models import EnrolmentConsent
from deploy import services as deploy_services
from evals import services as evals_services
from monitoring import services as monitoring_services
from portal import urls as portal_urls
from standards.selectors import standard_in_force
from tests.auditing.conftest import actor
from tests.customers.conftest import submit
from tests.deploy.conftest import Gate
from tests.factories import release_at
from tests.monitoring.conftest import body

pytestmark = pytest.mark.django_db

ROLES = (
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
)


def routes() -> list[str]:
    out = []
    for p in portal_urls.urlpatterns:
        assert isinstance(p, URLPattern) and not isinstance(p, URLResolver)
        out.append(str(p.pattern))
    return out


def fill(route: str, ids: dict[str, Any]) -> str:
    """The route with its parameters filled from ``ids`` by the first part
    of the path (a random UUID where there is no such object)."""
    section = route.split("/", 1)[0]
    path = route
    for name, value in (
        ("<uuid:pk>", ids.get(section, uuid.uuid4())),
        ("<uuid:assignment_pk>", ids["assignment"]),
        ("<uuid:enrolment_pk>", uuid.uuid4()),
        ("<uuid:organisation_pk>", ids["kyc"]),
        ("<str:keyid>", ids["keys"]),
        ("<slug:action>", ids["actions"].get(section, "x")),
        ("<int:sample_pk>", ids["sample"]),
        ("<int:index>", 0),
    ):
        path = path.replace(name, str(value))
    assert "<" not in path, path
    return "/portal/" + path


@pytest.fixture
def scene(gate: Gate) -> dict[str, Any]:
    w = gate.w
    signoffs = gate.internal()
    gate_request = deploy_services.gate_request_create(actor=actor(w.lab_admin), system_version=gate.sv)
    release_at(gate.sv, 1)  # the auditors' stage, so that runs get their gateway token
    run = evals_services.eval_run_start(
        actor=actor(w.auditor), audit=gate.audit, suite="sycophancy_facts", enqueue=False
    )
    finding = finding_services.finding_file(
        actor=actor(w.auditor),
        audit=gate.audit,
        title="t",
        description="d",
        severity="low",
        risk_area="deception",
        capability_kind="contextual",
    )
    key = key_services.signing_key_register(
        actor=actor(w.auditor), public_key_pem_text=dsse.public_key_pem(Ed25519PrivateKey.generate().public_key())
    )
    incident = monitoring_services.incident_report(actor=actor(w.regulator), system_version=gate.sv, **body())
    submit(w.customer_org, w.customer)
    assert not EnrolmentConsent.objects.exists()
    certification = gate.w.auditor_org.certifications.first()
    reaudit = deploy_services.reaudit_open(
        actor=actor(w.regulator), system_version=gate.sv, source="regulator", reason="Look again."
    )
    sample = run.samples.order_by("pk").first()
    return {
        "signoffs": signoffs[0].pk,
        "standards": standard_in_force().pk,
        "reaudits": reaudit.pk,
        "sample": sample.pk if sample else 1,
        "releases": gate.sv.pk,
        "systems": gate.sv.pk,
        "gate-requests": gate_request.pk,
        "audits": gate.audit.pk,
        "assignment": gate.audit.assignments.first().pk,
        "runs": run.pk,
        "findings": finding.pk,
        "keys": key.keyid,
        "incidents": incident.pk,
        "certifications": certification.pk,
        "kyc": w.customer_org.pk,
        "enrolments": gate.sv.pk,
        "actions": {"findings": "respond", "incidents": "confirm", "certifications": "suspend"},
    }


def test_every_portal_url_answers_every_role_without_a_server_error(login, gate: Gate, scene):
    paths = [fill(r, scene) for r in routes()]
    assert len(paths) > 50
    failures = []
    for role in ROLES:
        c = login(getattr(gate.w, role))
        for path in paths:
            if path.endswith("/logout"):
                continue
            for method in ("get", "post"):
                response = getattr(c, method)(path, {})
                if response.status_code >= 500:
                    failures.append((role, method, path, response.status_code))
    assert failures == []


def test_the_pages_a_role_uses_render_with_content(login, gate: Gate, scene):
    """Not just "no 5xx": the main page of each role's work answers 200."""
    expect = {
        "regulator": ["", "releases", "audits", "certifications", "conflicts", "keys", "kyc", "whistleblower",
                      "audit-trail", f"audits/{scene['audits']}", f"runs/{scene['runs']}",
                      f"findings/{scene['findings']}", f"incidents/{scene['incidents']}",
                      f"kyc/{scene['kyc']}", f"gate-requests/{scene['gate-requests']}"],
        "lab_admin": ["", "systems", f"systems/{scene['systems']}", "audits", f"audits/{scene['audits']}",
                      "findings", f"findings/{scene['findings']}", "enrolments", "incidents",
                      f"incidents/{scene['incidents']}", "incidents/report", f"releases/{scene['releases']}",
                      f"signoffs/{scene['signoffs']}"],
        "auditor": ["audits", f"audits/{scene['audits']}", f"runs/{scene['runs']}",
                    f"runs/{scene['runs']}/progress", "tokens", "keys", "findings", "conflicts",
                    "log/0", f"standards/{scene['standards']}"],
        "academic": ["audits", "tokens", "keys", "findings", "incidents/report"],
        "customer": [f"kyc/{scene['kyc']}", "enrolments", "tokens", "incidents/report"],
    }  # fmt: skip
    for role, pages in expect.items():
        c = login(getattr(gate.w, role))
        for page in pages:
            assert c.get(f"/portal/{page}").status_code == 200, (role, page)
