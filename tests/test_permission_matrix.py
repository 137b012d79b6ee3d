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
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from auditing import services as auditing
from auditing.models import Fee
from core.actors import actor_for
from core.models import Membership
from core.services import api_token_create
from labs import services as labs
from standards import services as standards
from standards.models import Standard
from tests.factories import OrganisationFactory, World, sha256

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
    o["engineer_membership"] = Membership.objects.get(user=w.lab_engineer)
    o["admin_token"], _ = api_token_create(actor=actor_for(w.lab_admin), name="t")
    return Scene(w=w, objects=o)


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
    ("POST", "memberships/<uuid:pk>/end"): Row(
        Expect(200, frozenset({"regulator", "lab_admin"}), forbidden=frozenset({"lab_engineer", "lab_reviewer"})),
        args=pk("engineer_membership"),
    ),
    ("GET", "tokens"): Row(everyone()),
    ("POST", "tokens"): Row(everyone(201), body=lambda s: {"name": "cli"}),
    ("POST", "tokens/<uuid:pk>/revoke"): Row(Expect(200, frozenset({"lab_admin"})), args=pk("admin_token")),
    ("GET", "audit-events"): Row(everyone()),
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
}

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


CASES = [(method, route, role) for (method, route) in MATRIX for role in ROLES]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "route", "role"), CASES, ids=[f"{m} {r} as {role}" for m, r, role in CASES])
def test_permission_matrix(method: str, route: str, role: str) -> None:
    scene = build_scene()
    row = MATRIX[(method, route)]
    path = "/api/" + route
    for name, value in row.args(scene).items():
        path = path.replace(f"<uuid:{name}>", str(value))
    client = APIClient()
    if role != "anonymous":
        client.force_authenticate(user=getattr(scene.w, role))
    body = row.body(scene) if row.body else None
    response = client.generic(
        method, path, **({"data": _json(body), "content_type": "application/json"} if body else {})
    )
    expected = row.expect.status_for(role)
    assert response.status_code == expected, (
        f"{method} {path} as {role}: {response.status_code} {response.content[:300]!r}"
    )
    if expected >= 400:
        assert response.json()["status"] == expected  # the one problem-details shape
    # The lab's endpoint credential never leaves the service, in any form.
    scene.sv.refresh_from_db()
    for secret in (b"upstream-secret", b"rotated-secret", scene.sv.endpoint_credential_ciphertext.encode()):
        assert secret not in response.content


def _json(body: dict[str, Any]) -> str:
    import json

    return json.dumps(body)
