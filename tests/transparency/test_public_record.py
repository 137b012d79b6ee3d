"""The public record without signing in (issue 16, item 5): every public page
and endpoint answers anonymously and shows nothing that is not public (no
username, reason or note text, customer name); releases at stage 2 and above
with their decisions and history; log search with bounded pages; proofs that
verify; rate limits; and pages that run only our own script (CSP)."""

from __future__ import annotations

import base64
import json
import re
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from auditing import services as auditing
from core import merkle
from customers import services as customers
from deploy import services as deploy
from tests.auditing.conftest import actor, make_system_version
from tests.deploy.conftest import Gate, gate  # noqa: F401 (gate: the fixture)
from tests.factories import OrganisationFactory, release_at
from transparency.models import LogEntry, SignedTreeHead
from transparency.services import log_append

pytestmark = pytest.mark.django_db

SECRET_MARKERS = (
    "QX-REASON-approve-7731",
    "QX-REASON-halt-5520",
    "QX-NOTE-close-8812",
    "QX-FINDING-title-3391",
    "QX-FINDING-description-4409",
    "QX-KYC-note-6617",
    "QX-KYC-legal-name-2204",
    "QX-KYC-owner-1189",
    "QX-PROMPT-5151",
    "Acme Bank",  # the customer organisation's name
)


@pytest.fixture
def public_world(gate: Gate):  # noqa: F811 (the imported fixture)
    """A system version taken to stage 2 through the real gates, with a
    finding filed and closed, a halt, and a customer's KYC verified: log
    entries of every sensitive kind, each carrying a marker text that must
    never reach the public. Usernames are made unmistakable first."""
    w = gate.w
    User = get_user_model()
    usernames = []
    for user in User.objects.all():
        user.username = f"zz-user-{uuid.uuid4().hex[:10]}"
        user.save(update_fields=["username"])
        usernames.append(user.username)
    for u in (
        w.regulator,
        w.lab_admin,
        w.lab_engineer,
        w.lab_reviewer,
        w.auditor,
        w.other_auditor,
        w.customer,
        gate.reviewer_2,
    ):
        u.refresh_from_db()
    gate.sv.system_prompt = "QX-PROMPT-5151 You are careful."
    gate.sv.save(update_fields=["system_prompt"])

    gate.internal()
    first = deploy.gate_request_create(actor=actor(w.lab_admin), system_version=gate.sv)
    deploy.gate_request_decide(actor=actor(w.regulator), gate_request=first, decision="approve", reason="Stage 1 ok.")
    gate.run()
    finding = auditing.finding_file(
        actor=actor(w.auditor),
        audit=gate.audit,
        title="QX-FINDING-title-3391",
        description="QX-FINDING-description-4409",
        severity="critical",
        risk_area="deception",
        capability_kind="contextual",
    )
    auditing.finding_close(actor=actor(w.auditor), finding=finding, note="QX-NOTE-close-8812")
    gate.auditors(2)
    second = deploy.gate_request_create(actor=actor(w.lab_admin), system_version=gate.sv)
    deploy.gate_request_decide(
        actor=actor(w.regulator), gate_request=second, decision="approve", reason="QX-REASON-approve-7731"
    )
    deploy.release_halt(actor=actor(w.regulator), system_version=gate.sv, reason="QX-REASON-halt-5520")

    customers.kyc_submit(
        actor=actor(w.customer),
        organisation=w.customer_org,
        legal_name="QX-KYC-legal-name-2204",
        registration_number="12345678",
        jurisdiction="GB",
        registered_address="1 Example Street, London",
        stated_purpose="Fraud screening for retail banking.",
        beneficial_owners=[{"full_name": "QX-KYC-owner-1189", "country": "GB", "ownership_percent": 60}],
    )
    customers.kyc_verify(actor=actor(w.regulator), organisation=w.customer_org, note="QX-KYC-note-6617")

    # A release below stage 2 is not public.
    hidden = make_system_version(w.lab, w.lab_engineer, name="hidden")
    release_at(hidden, 1)
    return {"gate": gate, "usernames": usernames, "hidden": hidden}


def _walk_urls(sv_id: str) -> list[str]:
    size = SignedTreeHead.objects.order_by("-tree_size").values_list("tree_size", flat=True).first()
    urls = [
        "/public/",
        "/public/releases",
        "/public/releases?q=Aurora&stage=2",
        f"/public/releases/{sv_id}",
        "/public/log",
        "/public/log?kind=gate.",
        "/public/log?kind=kyc.verify",
        f"/public/log?subject={sv_id}",
        "/public/log?before=5",
        "/public/log/consistency",
        f"/public/log/consistency?first=1&second={size}",
        "/api/public/log/key",
        "/api/public/log/tree-head",
        f"/api/public/log/tree-heads/{size}",
        "/api/public/log/entries",
        "/api/public/log/entries?kind=release.",
        f"/api/public/log/consistency?first=2&second={size}",
        "/api/public/releases",
        f"/api/public/releases/{sv_id}",
    ]
    for index in LogEntry.objects.values_list("index", flat=True):
        urls += [
            f"/public/log/{index}",
            f"/api/public/log/entries/{index}",
            f"/api/public/log/entries/{index}/proof",
            f"/api/public/log/entries/{index}/receipt",
        ]
    return urls


def _texts(body: bytes) -> list[str]:
    """The response as text, plus every base64 leaf in it decoded (a leaf is
    public too, so what it holds must be)."""
    text = body.decode("utf-8", errors="replace")
    out = [text]
    for b64 in re.findall(r'"leaf": ?"([A-Za-z0-9+/=]+)"', text):
        out.append(base64.b64decode(b64).decode("utf-8", errors="replace"))
    return out


def test_every_public_page_and_endpoint_answers_anonymously_and_leaks_nothing(public_world):
    sv = public_world["gate"].sv
    forbidden = [*SECRET_MARKERS, *public_world["usernames"]]
    client = Client(REMOTE_ADDR="192.0.2.10")
    urls = _walk_urls(str(sv.pk))
    assert len(urls) > 40
    with override_settings(STAGEGATE_PUBLIC_RATE_PER_MINUTE=100_000):
        for url in urls:
            r = client.get(url)
            assert r.status_code == 200, (url, r.status_code, r.content[:300])
            assert "sessionid" not in r.cookies and "csrftoken" not in r.cookies, url
            for text in _texts(r.content):
                for secret in forbidden:
                    assert secret not in text, (url, secret)
    # The markers are really in the service, where the public must not see them.
    from deploy.models import GateRequest, Release

    assert Release.objects.get(system_version=sv).reason == "QX-REASON-halt-5520"
    assert GateRequest.objects.filter(decision_reason="QX-REASON-approve-7731").exists()
    assert LogEntry.objects.filter(kind="kyc.verify").exists()


def test_only_releases_at_stage_2_and_above_are_public(public_world, api):
    sv, hidden = public_world["gate"].sv, public_world["hidden"]
    listed = api.get("/api/public/releases").json()
    assert [r["system_version"] for r in listed["results"]] == [str(sv.pk)]
    assert api.get(f"/api/public/releases/{hidden.pk}").status_code == 404
    assert api.get("/public/releases/not-a-uuid").status_code == 404
    assert Client().get(f"/public/releases/{hidden.pk}").status_code == 404
    page = Client().get("/public/releases").content.decode()
    assert str(sv.pk) in page and str(hidden.pk) not in page


def test_a_release_shows_its_decisions_and_stage_history(public_world, api):
    sv = public_world["gate"].sv
    body = api.get(f"/api/public/releases/{sv.pk}").json()
    assert (body["stage"], body["status"], body["lab_name"]) == (2, "halted", "Aurora Labs")
    assert [(d["from_stage"], d["to_stage"], d["outcome"]) for d in body["decisions"]] == [
        (0, 1, "approved"),
        (1, 2, "approved"),
    ]
    assert all(len(d["signoff_payload_digests"]) == 2 for d in body["decisions"])
    kinds = [h["kind"] for h in body["history"]]
    assert kinds == ["gate.request", "gate.approved", "gate.request", "gate.approved", "release.halt"]
    halt = body["history"][-1]
    assert (halt["to_stage"], halt["status"]) == (2, "halted")
    for d in body["decisions"]:
        assert LogEntry.objects.get(index=d["decision_log_index"]).kind == "gate.approved"
    from deploy.models import Release

    release = Release.objects.get(system_version=sv)
    assert body["release"] == str(release.pk)
    page = Client().get(f"/public/releases/{sv.pk}").content.decode()
    assert "1 → 2" in page and "release.halt" in page and "sha256:" + sv.configuration_digest in page
    assert f"/public/log?subject=deploy.release:{release.pk}" in page


def test_log_search_by_kind_and_subject_with_bounded_pages(public_world, api):
    sv = public_world["gate"].sv
    gates = api.get("/api/public/log/entries?kind=gate.").json()["results"]
    assert gates and all(e["kind"].startswith("gate.") for e in gates)
    assert [e["index"] for e in gates] == sorted((e["index"] for e in gates), reverse=True)
    exact = api.get("/api/public/log/entries?kind=gate.approved").json()["results"]
    assert {e["kind"] for e in exact} == {"gate.approved"} and len(exact) == 2
    from deploy.models import Release

    release = Release.objects.get(system_version=sv)
    by_id = api.get(f"/api/public/log/entries?subject={release.pk}").json()["results"]
    by_type = api.get(f"/api/public/log/entries?subject=deploy.release:{release.pk}").json()["results"]
    assert by_id == by_type and [e["kind"] for e in by_id] == ["release.halt"]
    assert api.get("/api/public/log/entries?subject=deploy.gaterequest:" + str(release.pk)).json()["results"] == []
    # Pages of two, newest first, following next_before to the end.
    total = LogEntry.objects.count()
    seen, before = [], None
    while True:
        q = "/api/public/log/entries?limit=2" + (f"&before={before}" if before is not None else "")
        body = api.get(q).json()
        assert len(body["results"]) <= 2
        seen += [e["index"] for e in body["results"]]
        before = body["next_before"]
        if before is None:
            break
    assert seen == list(range(total - 1, -1, -1))
    # The page shows the same search.
    page = Client().get("/public/log?kind=gate.approved").content.decode()
    assert page.count("<td><code>gate.approved</code></td>") == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("before=-1", "before"),
        ("before=abc", "before"),
        ("kind=" + "x" * 81, "kind"),
        ("subject=" + "y" * 121, "subject"),
    ],
)
def test_bad_searches_are_a_400_naming_the_field(public_world, api, query, field):
    r = api.get(f"/api/public/log/entries?{query}")
    assert r.status_code == 400 and field in r.json()["errors"], r.content
    page = Client().get(f"/public/log?{query}")
    # The page takes kind, subject and before (its page size is fixed).
    assert page.status_code == (200 if field == "limit" else 400)
    assert LogEntry.objects.filter(kind__startswith="x" * 81).count() == 0


def test_every_inclusion_and_consistency_proof_verifies(public_world, api):
    size = SignedTreeHead.objects.count()
    key = api.get("/api/public/log/key").json()
    from core import dsse
    from transparency.signing import tree_head_verify

    public = dsse.load_public_key_pem(key["public_key"])
    assert dsse.keyid_of(public) == key["key_id"]
    for index in range(size):
        for tree_size in {index + 1, size}:
            p = api.get(f"/api/public/log/entries/{index}/proof?tree_size={tree_size}").json()
            leaf = base64.b64decode(api.get(f"/api/public/log/entries/{index}").json()["leaf"])
            head = p["tree_head"]
            assert merkle.verify_inclusion(
                merkle.leaf_hash(leaf),
                index,
                tree_size,
                [bytes.fromhex(h) for h in p["audit_path"]],
                bytes.fromhex(head["root_hash"]),
            )
            assert tree_head_verify(
                tree_size=head["tree_size"],
                root_hash=head["root_hash"],
                timestamp=head["timestamp"],
                signature=head["signature"],
                key=public,
            )
    for first in range(1, size + 1, 3):
        c = api.get(f"/api/public/log/consistency?first={first}&second={size}").json()
        assert merkle.verify_consistency(
            first,
            size,
            bytes.fromhex(c["first_tree_head"]["root_hash"]),
            bytes.fromhex(c["second_tree_head"]["root_hash"]),
            [bytes.fromhex(h) for h in c["proof"]],
        )
    # Out of range: a clear 4xx.
    assert api.get(f"/api/public/log/entries/{size}").status_code == 404
    assert api.get("/api/public/log/entries/3/proof?tree_size=3").status_code == 400
    assert api.get(f"/api/public/log/entries/0/proof?tree_size={size + 1}").status_code == 404
    assert api.get("/api/public/log/consistency?first=3&second=2").status_code == 400
    assert api.get("/api/public/log/consistency?first=1").status_code == 400
    assert api.get("/api/public/log/tree-heads/0").status_code == 404


def test_the_entry_page_embeds_the_proof_and_runs_only_our_script(public_world):
    index = LogEntry.objects.filter(kind="gate.approved").values_list("index", flat=True).first()
    r = Client().get(f"/public/log/{index}")
    assert r.status_code == 200
    csp = r["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    html = r.content.decode()
    scripts = re.findall(r"<script([^>]*)>", html)
    # Our file, and the proof as data (not executable): no inline code.
    assert any("transparency/verify.js" in s for s in scripts)
    assert all("src=" in s or 'type="application/json"' in s for s in scripts), scripts
    data = json.loads(re.search(r'<script id="proof-data" type="application/json">(.*?)</script>', html, re.S)[1])
    assert data["entry"]["index"] == index and data["inclusion"]["tree_size"] == SignedTreeHead.objects.count()
    # Until the script has verified it, the page does not claim it is verified.
    assert "Not verified in this browser" in html
    assert r["Cache-Control"].startswith("public")


def test_the_public_record_is_rate_limited_per_address(db, api):
    log_append(kind="test.entry", record={"n": 1}, subject=OrganisationFactory())
    with override_settings(STAGEGATE_PUBLIC_RATE_PER_MINUTE=3):
        address = f"198.51.100.{uuid.uuid4().int % 250}"
        c = Client(REMOTE_ADDR=address)
        assert [c.get("/api/public/log/tree-head").status_code for _ in range(3)] == [200] * 3
        limited = c.get("/api/public/log/tree-head")
        assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
        assert c.get("/public/log").status_code == 429
        # Another address is not limited by this one.
        other = f"203.0.113.{uuid.uuid4().int % 250}"
        assert Client(REMOTE_ADDR=other).get("/public/log").status_code == 200


def test_an_empty_log_is_a_404_not_an_error(db, api):
    assert api.get("/api/public/log/tree-head").status_code == 404
    assert Client().get("/public/").status_code == 200
    assert Client().get("/public/log").status_code == 200
