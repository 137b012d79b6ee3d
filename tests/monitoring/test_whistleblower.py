"""Anonymous whistleblower reports: the regulator's key (one active, public to
fetch), submission that keeps nothing about the sender and ignores any
credentials, sealing the service cannot undo, the flood limit, the
regulator's queue and triage into an incident."""

from __future__ import annotations

import base64
import datetime
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from core.actors import actor_for
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import ApiToken, AuditEvent
from core.services import api_token_create
from deploy.models import Release
from monitoring import hpke
from monitoring import services as monitoring
from monitoring.models import Incident, WhistleblowerKey, WhistleblowerReport
from tests.auditing.conftest import actor
from tests.monitoring.conftest import ago
from transparency.models import LogEntry

pytestmark = pytest.mark.django_db

SECRET = "The lab switched off the bio-risk filter on 3 March to win the Acme contract."


def submit(client: APIClient | None = None, **data):
    return (client or APIClient()).post("/api/whistleblower/reports", json.dumps(data), content_type="application/json")


def triage_body(sv) -> dict[str, str]:
    return {
        "system_version": str(sv.pk),
        "kind": "other",
        "title": "t",
        "description": "d",
        "occurred_at": ago(days=2).isoformat(),
        "aware_at": ago(days=1).isoformat(),
    }


def counts() -> tuple[int, ...]:
    return (
        WhistleblowerReport.objects.count(),
        Incident.objects.count(),
        AuditEvent.objects.count(),
        LogEntry.objects.count(),
    )


# The key


def test_the_regulator_registers_the_key_and_a_new_one_retires_the_old(world, client_for):
    first = X25519PrivateKey.generate()
    with pytest.raises(Forbidden):
        monitoring.whistleblower_key_register(
            actor=actor(world.lab_admin), public_key=hpke.public_key_b64(first.public_key())
        )
    reg = actor(world.regulator)
    k1 = monitoring.whistleblower_key_register(actor=reg, public_key=hpke.public_key_b64(first.public_key()))
    assert k1.status == "active" and k1.keyid == hpke.keyid_of(first.public_key())
    entry = LogEntry.objects.get(kind="key.whistleblower_register")
    assert entry.index == k1.log_index
    with pytest.raises(Conflict) as err:
        monitoring.whistleblower_key_register(actor=reg, public_key=hpke.public_key_b64(first.public_key()))
    assert err.value.code == "key_exists"
    second = X25519PrivateKey.generate()
    k2 = monitoring.whistleblower_key_register(actor=reg, public_key=hpke.public_key_b64(second.public_key()))
    k1.refresh_from_db()
    assert (k1.status, k2.status) == ("retired", "active") and k1.retired_at is not None
    assert WhistleblowerKey.objects.filter(status="active").count() == 1
    with pytest.raises(InvalidInput):
        monitoring.whistleblower_key_register(actor=reg, public_key=base64.b64encode(bytes(32)).decode())
    # Anyone, signed in or not, fetches the active key and how to seal to it.
    r = APIClient().get("/api/whistleblower/key")
    assert r.status_code == 200
    assert r.json()["keyid"] == k2.keyid and r.json()["aead_id"] == 2 and r.json()["info"] == hpke.INFO_PREFIX.decode()
    assert r.json()["pad_block"] == hpke.PAD_BLOCK == 4096
    # The register itself is the regulator's.
    assert len(client_for(world.regulator).get("/api/whistleblower/keys").json()["results"]) == 2
    assert client_for(world.lab_admin).get("/api/whistleblower/keys").json()["results"] == []
    r = client_for(world.lab_admin).post("/api/whistleblower/keys", {"public_key": "x"}, format="json")
    assert r.status_code == 403


def test_without_a_key_nothing_can_be_submitted(db):
    assert APIClient().get("/api/whistleblower/key").status_code == 404
    r = submit(plaintext=SECRET)
    assert r.status_code == 409 and r.json()["code"] == "no_key"
    assert WhistleblowerReport.objects.count() == 0


# Submission


def test_a_plaintext_report_is_sealed_at_once_and_nothing_about_the_sender_is_kept(world, sv, wb_key, wb_private):
    before = counts()
    r = submit(plaintext=SECRET, system_version=str(sv.pk))
    assert r.status_code == 201, r.content
    receipt = r.json()
    assert set(receipt) == {"id", "received_on", "sealed_sha256"}
    report = WhistleblowerReport.objects.get()
    # Only the day, and no field that could hold who sent it.
    assert receipt["received_on"] == timezone.now().astimezone(datetime.UTC).date().isoformat()
    assert isinstance(report.received_on, datetime.date) and not isinstance(report.received_on, datetime.datetime)
    assert {f.name for f in WhistleblowerReport._meta.concrete_fields} == {
        "id",
        "received_on",
        "key",
        "sealed",
        "sealed_sha256",
        "system_version",
        "status",
        "triaged_at",
        "triaged_by",
        "set_aside_reason",  # the regulator's note, written when it decides
    }
    assert report.id.version == 4  # random, no time inside
    # The service holds only what it cannot read; the regulator's key opens it.
    sealed = bytes(report.sealed)
    assert SECRET.encode() not in sealed
    assert len(sealed) == hpke.PAD_BLOCK + hpke.ENC_LENGTH + hpke.TAG_LENGTH  # padded: its length is one block's
    assert hpke.open_sealed(sealed, wb_private, system_version_id=str(sv.pk)).decode() == SECRET
    # No audit event and no log entry: both carry the exact time.
    assert counts() == (before[0] + 1, *before[1:])


def test_a_report_sealed_by_the_whistleblower_is_stored_as_sent(world, sv, wb_key, wb_private):
    sealed = hpke.seal(SECRET.encode(), hpke.load_public_key_b64(wb_key.public_key))
    r = submit(sealed=hpke.encode_sealed(sealed), keyid=wb_key.keyid)
    assert r.status_code == 201, r.content
    report = WhistleblowerReport.objects.get()
    assert bytes(report.sealed) == sealed and report.system_version is None
    assert report.sealed_sha256 == r.json()["sealed_sha256"]
    assert hpke.open_sealed(bytes(report.sealed), wb_private).decode() == SECRET


def test_an_unpadded_sealed_report_is_refused_and_nothing_is_stored(world, wb_key):
    from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

    suite = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)
    unpadded = suite.encrypt(SECRET.encode(), hpke.load_public_key_b64(wb_key.public_key), info=hpke.info_for(None))
    r = submit(sealed=hpke.encode_sealed(unpadded), keyid=wb_key.keyid)
    assert r.status_code == 400 and "not padded" in r.content.decode()
    assert WhistleblowerReport.objects.count() == 0


def test_credentials_sent_along_are_ignored_not_even_looked_up(world, wb_key):
    token_row, token = api_token_create(actor=actor_for(world.lab_engineer), name="t")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert submit(client, plaintext=SECRET).status_code == 201
    token_row.refresh_from_db()
    assert token_row.last_used_at is None  # the token was never authenticated
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer sg_not_a_token")
    assert submit(bad, plaintext=SECRET).status_code == 201  # not 401: nothing checks it
    session = APIClient(enforce_csrf_checks=True)
    session.force_login(world.lab_engineer)
    assert submit(session, plaintext=SECRET).status_code == 201  # no CSRF failure: no session is used
    assert ApiToken.objects.get(pk=token_row.pk).last_used_at is None
    assert AuditEvent.objects.filter(action__startswith="whistleblower_report").count() == 0


@pytest.mark.parametrize(
    ("data", "status", "field"),
    [
        ({}, 400, "non_field_errors"),
        ({"plaintext": SECRET, "sealed": "AAAA", "keyid": "0" * 64}, 400, "non_field_errors"),
        ({"plaintext": "   "}, 400, "plaintext"),
        ({"plaintext": "x" * (64 * 1024 + 1)}, 400, "plaintext"),
        ({"plaintext": SECRET, "system_version": "7d1f3c3e-8a1b-4f0e-9d55-0c1b2a3e4f5a"}, 400, "system_version"),
        ({"plaintext": SECRET, "system_version": "not-a-uuid"}, 400, "system_version"),
        ({"sealed": "!!!", "keyid": "KEYID"}, 400, "sealed"),
        ({"sealed": base64.b64encode(b"too short").decode(), "keyid": "KEYID"}, 400, "sealed"),
        ({"sealed": base64.b64encode(b"x" * 64).decode(), "keyid": "f" * 64}, 409, None),
        ({"sealed": base64.b64encode(b"x" * 64).decode(), "keyid": "not hex"}, 400, "keyid"),
        ([1, 2], 400, None),
    ],
)
def test_bad_submissions_are_refused_and_write_nothing(world, wb_key, data, status, field):
    if isinstance(data, dict) and data.get("keyid") == "KEYID":
        data = {**data, "keyid": wb_key.keyid}
    before = counts()
    r = APIClient().post("/api/whistleblower/reports", json.dumps(data), content_type="application/json")
    assert r.status_code == status, r.content
    assert r.json()["status"] == status
    if field:
        assert field in r.json()["errors"]
    if status == 409:
        assert r.json()["code"] == "key_not_active" and r.json()["active_keyid"] == wb_key.keyid
    assert counts() == before


def from_address(address: str) -> APIClient:
    return APIClient(REMOTE_ADDR=address)


def test_the_endpoint_is_rate_limited_service_wide(world, wb_key):
    with override_settings(STAGEGATE_WHISTLEBLOWER_RATE_PER_MINUTE=3, STAGEGATE_WHISTLEBLOWER_RATE_PER_SOURCE=10):
        sent = [submit(from_address(f"198.51.100.{i}"), plaintext=SECRET).status_code for i in range(3)]
        assert sent == [201, 201, 201]
        r = submit(from_address("198.51.100.9"), plaintext=SECRET)
        assert r.status_code == 429 and r.json()["code"] == "rate_limited"
        assert 1 <= int(r["Retry-After"]) <= 60
    assert WhistleblowerReport.objects.count() == 3


def test_invalid_requests_cannot_use_up_the_channel(world, wb_key):
    """The red team closed the channel for everyone with 60 empty POSTs a
    minute: the limit was counted before validation."""
    with override_settings(STAGEGATE_WHISTLEBLOWER_RATE_PER_MINUTE=3):
        flood = [submit(from_address("203.0.113.66")).status_code for _ in range(20)]
        flood += [submit(from_address("203.0.113.66"), plaintext="x", system_version="nope").status_code] * 1
        assert set(flood) == {400}
        assert submit(from_address("192.0.2.10"), plaintext=SECRET).status_code == 201
    assert WhistleblowerReport.objects.count() == 1


def test_one_source_cannot_use_up_the_service_wide_budget(world, wb_key):
    with override_settings(STAGEGATE_WHISTLEBLOWER_RATE_PER_MINUTE=5, STAGEGATE_WHISTLEBLOWER_RATE_PER_SOURCE=2):
        noisy = [submit(from_address("203.0.113.66"), plaintext="junk").status_code for _ in range(6)]
        assert noisy == [201, 201, 429, 429, 429, 429]
        # A genuine reporter elsewhere still gets through.
        assert submit(from_address("192.0.2.10"), plaintext=SECRET).status_code == 201
    assert WhistleblowerReport.objects.count() == 3


def test_the_flood_counters_do_not_name_the_sender(world, wb_key):
    import redis
    from django.conf import settings

    assert submit(from_address("192.0.2.77"), plaintext=SECRET).status_code == 201
    keys = [k.decode() for k in redis.Redis.from_url(settings.REDIS_URL).keys("stagegate:whistleblower:*")]
    assert keys and not any("192.0.2.77" in k for k in keys)
    assert all(
        redis.Redis.from_url(settings.REDIS_URL).ttl(k) <= 120 for k in keys
    )  # every counter and salt expires within two minutes


def test_redis_unreachable_refuses_rather_than_go_unlimited(world, wb_key):
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        r = submit(plaintext=SECRET)
    assert r.status_code == 503 and r.json()["code"] == "unavailable"
    assert WhistleblowerReport.objects.count() == 0


# The regulator's queue and triage


def test_only_the_regulator_reads_the_queue(world, sv, wb_key, client_for):
    submit(plaintext=SECRET, system_version=str(sv.pk))
    report = WhistleblowerReport.objects.get()
    r = client_for(world.regulator).get("/api/whistleblower/reports")
    (row,) = r.json()["results"]
    assert row["id"] == str(report.pk) and row["keyid"] == wb_key.keyid and row["system_version"] == str(sv.pk)
    assert base64.b64decode(row["sealed"]) == bytes(report.sealed) and row["status"] == "new"
    assert client_for(world.regulator).get("/api/whistleblower/reports", {"status": "triaged"}).json()["results"] == []
    assert client_for(world.regulator).get(f"/api/whistleblower/reports/{report.pk}").status_code == 200
    for who in ("lab_admin", "auditor", "customer", "outsider"):
        assert client_for(getattr(world, who)).get("/api/whistleblower/reports").json()["results"] == []
        assert client_for(getattr(world, who)).get(f"/api/whistleblower/reports/{report.pk}").status_code == 404
    assert APIClient().get("/api/whistleblower/reports").status_code == 401


def test_triage_makes_an_incident_with_no_reporter_that_waits_for_confirmation(world, sv, at_stage, wb_key, client_for):
    at_stage(2)
    submit(plaintext=SECRET, system_version=str(sv.pk))
    report = WhistleblowerReport.objects.get()
    data = {
        "system_version": str(sv.pk),
        "kind": "critical_infrastructure",
        "title": "Safety filter disabled in production",
        "description": "The regulator received a credible report that the filter was switched off.",
        "occurred_at": ago(days=10).isoformat(),
        "aware_at": ago(hours=1).isoformat(),
    }
    path = f"/api/whistleblower/reports/{report.pk}/triage"
    assert client_for(world.lab_admin).post(path, data, format="json").status_code == 404
    r = client_for(world.regulator).post(path, data, format="json")
    assert r.status_code == 201, r.content
    incident = Incident.objects.get()
    assert incident.reporter_kind == "whistleblower"
    assert incident.reported_by is None and incident.reporter_organisation is None
    assert incident.whistleblower_report == report and incident.status == "open"
    assert Release.objects.get(system_version=sv).status == "active"  # a whistleblower cannot switch a release off
    assert incident.lab_reported_at is None and incident.lab_report_due_at > timezone.now()
    report.refresh_from_db()
    assert report.status == "triaged" and report.triaged_by == world.regulator
    assert client_for(world.regulator).post(path, data, format="json").status_code == 409
    # The lab sees the incident, never which report it came from.
    lab = client_for(world.lab_admin)
    seen = lab.get(f"/api/incidents/{incident.pk}").json()
    assert seen["reporter_kind"] == "whistleblower" and seen["reported_by"] is None
    assert str(report.pk) not in json.dumps(seen)
    events = lab.get("/api/audit-events").content
    assert str(report.pk).encode() not in events
    assert str(report.pk).encode() not in b"".join(LogEntry.objects.values_list("leaf", flat=True))
    # Confirmed by the regulator, rule 14 applies.
    monitoring.incident_confirm(actor=actor(world.regulator), incident=incident)
    assert Release.objects.get(system_version=sv).status == "suspended"


def test_triage_bad_input_writes_nothing(world, sv, wb_key, client_for):
    submit(plaintext=SECRET)
    report = WhistleblowerReport.objects.get()
    before = counts()
    reg = client_for(world.regulator)
    path = f"/api/whistleblower/reports/{report.pk}/triage"
    good = triage_body(sv)
    for bad in ({**good, "kind": "nope"}, {**good, "aware_at": ago(days=3).isoformat()}, {**good, "title": ""}):
        assert reg.post(path, bad, format="json").status_code == 400
    assert counts() == before
    report.refresh_from_db()
    assert report.status == "new"


def test_the_regulator_sets_a_junk_report_aside_with_no_incident(world, sv, wb_key, client_for):
    submit(plaintext="asdf asdf", system_version=str(sv.pk))
    report = WhistleblowerReport.objects.get()
    path = f"/api/whistleblower/reports/{report.pk}/set-aside"
    reason = {"reason": "Nonsense text; nothing to investigate."}
    assert client_for(world.lab_admin).post(path, reason, format="json").status_code == 404
    assert client_for(world.auditor).post(path, reason, format="json").status_code == 404
    reg = client_for(world.regulator)
    before = counts()
    for bad in ({}, {"reason": "   "}, {"reason": "x" * 501}):
        assert reg.post(path, bad, format="json").status_code == 400
    assert counts() == before
    r = reg.post(path, reason, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "set_aside" and r.json()["set_aside_reason"] == reason["reason"]
    assert r.json()["incident"] is None and Incident.objects.count() == 0
    report.refresh_from_db()
    assert report.triaged_by == world.regulator and report.triaged_at is not None
    # It has left the queue of new reports, and cannot be decided twice, nor triaged after.
    assert reg.get("/api/whistleblower/reports?status=new").json()["results"] == []
    assert [x["id"] for x in reg.get("/api/whistleblower/reports?status=set_aside").json()["results"]] == [
        str(report.pk)
    ]
    assert reg.post(path, reason, format="json").status_code == 409
    late = reg.post(f"/api/whistleblower/reports/{report.pk}/triage", triage_body(sv), format="json")
    assert late.status_code == 409 and late.json()["code"] == "already_triaged"
    # The lab learns nothing: no incident, and the audit event is the regulator's.
    assert str(report.pk) not in client_for(world.lab_admin).get("/api/audit-events").content.decode()
    assert str(report.pk) in reg.get("/api/audit-events").content.decode()


@pytest.mark.parametrize("cursor", ["garbage", "cD0yMDI2LTEzLTQw", "cD3/"])
def test_a_crafted_cursor_on_the_queue_is_a_400(world, wb_key, client_for, cursor):
    submit(plaintext=SECRET)
    r = client_for(world.regulator).get("/api/whistleblower/reports", {"cursor": cursor})
    assert r.status_code == 400 and r.json()["code"] == "invalid_cursor"
