"""Signing keys and sign-offs: an auditor signs a stage approval and the server
accepts it; every refusal the issue lists has its own problem code; the
envelope and key endpoints let anyone verify without trusting the server."""

from __future__ import annotations

import base64
import datetime
import json
from typing import Any

import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditing import services
from auditing.models import SigningKey, SignOff
from core import dsse, merkle
from core.canonical import canonical_json
from tests.auditing.conftest import actor, make_system_version
from transparency.models import LogEntry


def register(client: Any, key: Ed25519PrivateKey, **extra: Any) -> Any:
    return client.post("/api/keys", {"public_key": dsse.public_key_pem(key.public_key()), **extra}, format="json")


@pytest.fixture
def auditor_key(world, client_for, assignment) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    r = register(client_for(world.auditor), key)
    assert r.status_code == 201, r.content
    assert r.json()["status"] == "pending"
    r = client_for(world.regulator).post(f"/api/keys/{dsse.keyid_of(key.public_key())}/approve")
    assert r.status_code == 200, r.content
    return key


def statement(client: Any, sv: Any, audit: Any | None, stage: int = 2, decision: str = "approve") -> dict[str, Any]:
    q = f"system_version={sv.pk}&stage={stage}&decision={decision}" + (f"&audit={audit.pk}" if audit else "")
    r = client.get(f"/api/signoffs/statement?{q}")
    assert r.status_code == 200, r.content
    return r.json()


def envelope(doc: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    return dsse.sign(dsse.IN_TOTO_PAYLOAD_TYPE, canonical_json(doc), key).to_dict()


def submit(client: Any, env: dict[str, Any]) -> Any:
    return client.post("/api/signoffs", env, format="json")


def refused(r: Any, code: str, status: int = 409) -> None:
    assert r.status_code == status, r.content
    assert r.json()["code"] == code, r.json()
    assert SignOff.objects.count() == 0 or code == "replay"


@pytest.mark.django_db
def test_an_assigned_auditor_signs_and_the_server_accepts(world, client_for, audit, auditor_key, system_version):
    client = client_for(world.auditor)
    doc = statement(client, system_version, audit)
    assert doc["_type"] == "https://in-toto.io/Statement/v1"
    assert doc["predicateType"] == "https://stagegate.dev/attestations/stage-signoff/v1"
    assert doc["subject"] == [
        {"name": "weights", "digest": {"sha256": system_version.model_version.weights_digest}},
        {"name": "system-configuration", "digest": {"sha256": system_version.configuration_digest}},
    ]
    p = doc["predicate"]
    assert p["stage"] == 2 and p["decision"] == "approve" and p["open_findings"] == []
    # The suites the standard requires before stage 2, as the gate reads them: no protocol run yet.
    assert [(s["suite"], s["runs"], s["met"]) for s in p["suites"]] == [("insider_trading_deception", [], False)]
    assert p["organisation"]["id"] == str(world.auditor_org.pk) and p["audit"]["id"] == str(audit.pk)
    env = envelope(doc, auditor_key)
    r = submit(client, env)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["valid_now"] is True and body["status"] == "active"
    entry = LogEntry.objects.get(index=body["log_index"])
    assert entry.kind == "signoff.accept"
    assert json.loads(bytes(entry.leaf))["record"]["payload_digest"] == body["payload_digest"]

    # Anyone who may see it verifies it with the public key from /keys, not the server's word.
    stored = client_for(world.lab_reviewer).get(f"/api/signoffs/{body['id']}/envelope").json()
    assert set(stored) == {"payloadType", "payload", "signatures"}
    assert set(stored["signatures"][0]) == {"keyid", "sig"}
    keyid = stored["signatures"][0]["keyid"]
    published = client_for(world.customer).get(f"/api/keys/{keyid}").json()
    assert published["owner"] == "auditor" and published["status"] == "active"
    assert dsse.verify(dsse.envelope_from_dict(stored), dsse.load_public_key_pem(published["public_key"]))
    assert json.loads(base64.b64decode(stored["payload"])) == doc
    # ... and its log entry is included in the signed tree.
    proof = (
        client_for(world.customer)
        .get(f"/api/log/proof/inclusion?index={entry.index}&tree_size={entry.index + 1}")
        .json()
    )
    assert merkle.verify_inclusion(
        bytes.fromhex(entry.leaf_hash),
        entry.index,
        entry.index + 1,
        [bytes.fromhex(h) for h in proof["audit_path"]],
        bytes.fromhex(proof["tree_head"]["root_hash"]),
    )


@pytest.mark.django_db
def test_a_tampered_payload_is_refused(world, client_for, audit, auditor_key, system_version):
    client = client_for(world.auditor)
    env = envelope(statement(client, system_version, audit), auditor_key)
    doc = json.loads(base64.b64decode(env["payload"]))
    doc["predicate"]["decision"] = "reject"
    env["payload"] = base64.b64encode(canonical_json(doc)).decode()
    refused(submit(client, env), "bad_signature")


@pytest.mark.django_db
def test_a_wrong_key_is_refused(world, client_for, audit, auditor_key, system_version):
    client = client_for(world.auditor)
    doc = statement(client, system_version, audit)
    # Signed by an unregistered key under the registered key's id...
    env = envelope(doc, Ed25519PrivateKey.generate())
    env["signatures"][0]["keyid"] = dsse.keyid_of(auditor_key.public_key())
    refused(submit(client, env), "bad_signature")
    # ...or under its own id.
    refused(submit(client, envelope(doc, Ed25519PrivateKey.generate())), "unknown_key")


@pytest.mark.django_db
def test_someone_elses_key_is_refused(world, client_for, audit, auditor_key, system_version):
    env = envelope(statement(client_for(world.auditor), system_version, audit), auditor_key)
    refused(submit(client_for(world.other_auditor), env), "not_your_key", 403)


@pytest.mark.django_db
def test_an_unapproved_key_is_refused(world, client_for, audit, assignment, system_version):
    key = Ed25519PrivateKey.generate()
    register(client_for(world.auditor), key)
    client = client_for(world.auditor)
    refused(submit(client, envelope(statement(client, system_version, audit), key)), "key_not_approved")


@pytest.mark.django_db
def test_a_revoked_key_is_refused_but_still_verifies_what_it_signed_before(
    world, client_for, audit, auditor_key, system_version
):
    client = client_for(world.auditor)
    first = submit(client, envelope(statement(client, system_version, audit), auditor_key))
    assert first.status_code == 201
    keyid = dsse.keyid_of(auditor_key.public_key())
    r = client.post(f"/api/keys/{keyid}/revoke", {"reason": "Laptop lost."}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    assert LogEntry.objects.filter(kind="key.revoke").count() == 1
    env = envelope(statement(client, system_version, audit, decision="reject"), auditor_key)
    r = submit(client, env)
    assert r.status_code == 409 and r.json()["code"] == "key_revoked"
    # The earlier sign-off was made before revocation: still valid, still verifiable.
    earlier = client.get(f"/api/signoffs/{first.json()['id']}").json()
    assert earlier["valid_now"] is True
    published = client.get(f"/api/keys/{keyid}").json()
    assert published["revoked_at"] > earlier["created_at"]


@pytest.mark.django_db
def test_an_uncertified_auditor_is_refused(world, client_for, audit, auditor_key, system_version, certified, reg):
    client = client_for(world.auditor)
    env = envelope(statement(client, system_version, audit), auditor_key)
    services.certification_suspend(actor=reg, certification=certified["auditor"], reason="Controls review.")
    refused(submit(client, env), "not_certified")


@pytest.mark.django_db
def test_an_expired_certification_is_refused(world, client_for, audit, auditor_key, system_version):
    client = client_for(world.auditor)
    env = envelope(statement(client, system_version, audit), auditor_key)
    with time_machine.travel(datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=366)):
        r = submit(client, env)
    # The statement (30 days) expires before the certification (365 days): either refusal is correct,
    # but the statement's own expiry is checked first.
    refused(r, "statement_expired")


@pytest.mark.django_db
def test_an_unassigned_auditor_is_refused(world, client_for, audit, assignment, auditor_key, system_version, reg):
    client = client_for(world.auditor)
    env = envelope(statement(client, system_version, audit), auditor_key)
    services.assignment_end(actor=reg, assignment=assignment, reason="Reassigned.")
    refused(submit(client, env), "not_assigned")


@pytest.mark.django_db
def test_unassigned_auditor_cannot_even_fetch_a_statement(world, client_for, audit, assignment, system_version):
    r = client_for(world.other_auditor).get(
        f"/api/signoffs/statement?system_version={system_version.pk}&stage=2&decision=approve&audit={audit.pk}"
    )
    assert r.status_code == 400  # the audit and version are not visible to them: "does not exist"
    assert {"system_version", "audit"} <= set(r.json()["errors"])


@pytest.mark.django_db
def test_a_conflicted_auditor_is_refused(world, client_for, audit, auditor_key, system_version, reg):
    client = client_for(world.auditor)
    env = envelope(statement(client, system_version, audit), auditor_key)
    # conflict_declare would also end the assignment (covered in test_conflicts); a conflict
    # recorded while the assignment stands must still refuse the sign-off.
    from auditing.models import ConflictOfInterest

    ConflictOfInterest.objects.create(
        organisation=world.auditor_org,
        lab=world.lab,
        kind="economic_interest",
        reason="Shares.",
        declared_by=world.regulator,
    )
    refused(submit(client, env), "conflict_of_interest")


@pytest.mark.django_db
def test_a_digest_mismatch_is_refused(world, client_for, audit, auditor_key, system_version):
    client = client_for(world.auditor)
    doc = statement(client, system_version, audit)
    doc["subject"][0]["digest"]["sha256"] = "0" * 64  # signed over digests that are not this version's
    refused(submit(client, envelope(doc, auditor_key)), "digest_mismatch")


@pytest.mark.django_db
def test_an_expired_statement_is_refused(world, client_for, audit, auditor_key, system_version):
    client = client_for(world.auditor)
    env = envelope(statement(client, system_version, audit), auditor_key)
    with time_machine.travel(datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=31)):
        refused(submit(client, env), "statement_expired")


@pytest.mark.django_db
def test_a_stretched_validity_is_refused(world, client_for, audit, auditor_key, system_version):
    client = client_for(world.auditor)
    doc = statement(client, system_version, audit)
    doc["predicate"]["valid_until"] = "2999-01-01T00:00:00Z"
    refused(submit(client, envelope(doc, auditor_key)), "invalid_statement")


@pytest.mark.django_db
def test_a_replay_is_refused(world, client_for, audit, auditor_key, system_version):
    client = client_for(world.auditor)
    doc = statement(client, system_version, audit)
    env = envelope(doc, auditor_key)
    assert submit(client, env).status_code == 201
    refused(submit(client, env), "replay")
    # Same nonce, different bytes (another decision): still a replay.
    doc["predicate"]["decision"] = "reject"
    refused(submit(client, envelope(doc, auditor_key)), "replay")
    assert SignOff.objects.count() == 1


@pytest.mark.django_db
def test_a_stale_statement_is_refused_when_findings_change(world, client_for, audit, auditor_key, system_version):
    client = client_for(world.auditor)
    env = envelope(statement(client, system_version, audit), auditor_key)
    services.finding_file(
        actor=actor(world.auditor),
        audit=audit,
        title="Deceives under pressure",
        description="Trades on the tip and hides it.",
        severity="high",
        risk_area="deception",
        capability_kind="contextual",
    )
    refused(submit(client, env), "statement_stale")


@pytest.mark.django_db
def test_signer_mismatch_and_wrong_payload_type_and_malformed(world, client_for, audit, auditor_key, system_version):
    client = client_for(world.auditor)
    doc = statement(client, system_version, audit)
    forged = json.loads(json.dumps(doc))
    forged["predicate"]["signer"]["id"] = str(world.other_auditor.pk)
    refused(submit(client, envelope(forged, auditor_key)), "signer_mismatch")
    env = dsse.sign("text/plain", canonical_json(doc), auditor_key).to_dict()
    refused(submit(client, env), "wrong_payload_type")
    not_canonical = dsse.sign(dsse.IN_TOTO_PAYLOAD_TYPE, json.dumps(doc, indent=1).encode(), auditor_key).to_dict()
    refused(submit(client, not_canonical), "invalid_statement")
    r = submit(
        client, {"payloadType": dsse.IN_TOTO_PAYLOAD_TYPE, "payload": "%%%", "signatures": [{"keyid": "a", "sig": "b"}]}
    )
    refused(r, "malformed_envelope", 400)


@pytest.mark.django_db
def test_lab_reviewer_signs_internally_and_others_cannot_without_audit(world, client_for, system_version):
    key = Ed25519PrivateKey.generate()
    assert register(client_for(world.lab_reviewer), key).status_code == 201
    client_for(world.regulator).post(f"/api/keys/{dsse.keyid_of(key.public_key())}/approve")
    client = client_for(world.lab_reviewer)
    r = submit(client, envelope(statement(client, system_version, None, stage=1), key))
    assert r.status_code == 201, r.content
    assert r.json()["role"] == "lab_reviewer" and r.json()["audit"] is None
    r = client_for(world.lab_engineer).get(
        f"/api/signoffs/statement?system_version={system_version.pk}&stage=1&decision=approve"
    )
    assert r.status_code == 409 and r.json()["code"] == "not_lab_reviewer"


@pytest.mark.django_db
def test_revoking_the_certification_voids_pending_signoffs(
    world, client_for, audit, auditor_key, system_version, certified, reg
):
    client = client_for(world.auditor)
    signed = submit(client, envelope(statement(client, system_version, audit), auditor_key)).json()
    services.certification_revoke(actor=reg, certification=certified["auditor"], reason="Falsified evidence.")
    after = client_for(world.regulator).get(f"/api/signoffs/{signed['id']}").json()
    assert after["status"] == "void" and after["valid_now"] is False
    assert LogEntry.objects.filter(kind="signoff.void", subject_id=signed["id"]).exists()
    from core.models import AuditEvent

    assert AuditEvent.objects.filter(action="signoff.void", target_id=signed["id"]).exists()


@pytest.mark.django_db
def test_a_new_open_finding_makes_an_accepted_signoff_not_valid_now(
    world, client_for, audit, auditor_key, system_version
):
    client = client_for(world.auditor)
    signed = submit(client, envelope(statement(client, system_version, audit), auditor_key)).json()
    services.finding_file(
        actor=actor(world.auditor),
        audit=audit,
        title="t",
        description="d",
        severity="low",
        risk_area="cyber",
        capability_kind="reachable",
    )
    after = client.get(f"/api/signoffs/{signed['id']}").json()
    assert after["valid_now"] is False and after["validity"] == "open_findings_changed"


# Keys


@pytest.mark.django_db
def test_key_registration_rules(world, client_for):
    key = Ed25519PrivateKey.generate()
    r = register(client_for(world.lab_engineer), key)
    assert r.status_code == 403 and r.json()["code"] == "no_signing_role"
    r = client_for(world.auditor).post("/api/keys", {"public_key": "not a key"}, format="json")
    assert r.status_code == 400 and "public_key" in r.json()["errors"]
    assert register(client_for(world.auditor), key).status_code == 201
    r = register(client_for(world.auditor), key)
    assert r.status_code == 409 and r.json()["code"] == "key_already_registered"
    assert SigningKey.objects.count() == 1
    keyid = dsse.keyid_of(key.public_key())
    assert client_for(world.auditor).post(f"/api/keys/{keyid}/approve").status_code == 403
    assert client_for(world.regulator).post(f"/api/keys/{keyid}/approve").status_code == 200
    r = client_for(world.regulator).post(f"/api/keys/{keyid}/approve")
    assert r.status_code == 409 and r.json()["code"] == "key_not_pending"
    # Only the owner or the regulator revokes.
    assert (
        client_for(world.other_auditor).post(f"/api/keys/{keyid}/revoke", {"reason": "x"}, format="json").status_code
        == 404
    )
    assert LogEntry.objects.filter(kind__in=["key.register", "key.approve"]).count() == 2


@pytest.mark.django_db
def test_successor_version_digests_differ_so_old_statements_do_not_fit(
    world, client_for, audit, auditor_key, system_version
):
    client = client_for(world.auditor)
    doc = statement(client, system_version, audit)
    successor = make_system_version(world.lab, world.lab_engineer, sequence=2)
    successor.predecessor = system_version
    successor.save()
    doc["predicate"]["system_version"]["id"] = str(successor.pk)
    r = submit(client, envelope(doc, auditor_key))
    assert r.status_code == 409  # the successor is not visible or its digests differ
    assert r.json()["code"] in {"digest_mismatch", "invalid_statement"}
