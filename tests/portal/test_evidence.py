"""Evidence pages: every evidence link of a gate checklist opens a page a
person reads (a run, a transcript, a finding, a sign-off with its signature
verified here, a log entry with its inclusion proof checked here, the
standard), for those who may see it, and a 404 for anyone else. The API's
JSON stays linked beside."""

from __future__ import annotations

import base64
import copy
import re
import shlex

import pytest

from core.canonical import canonical_json
from deploy import services as deploy_services
from deploy.models import ReauditSource
from evals.models import EvalSample
from portal import presenters
from stagegate_sign import cli
from standards.selectors import standard_in_force
from tests.auditing.conftest import actor
from tests.deploy.conftest import Gate
from tests.factories import release_at
from transparency.models import LogEntry

pytestmark = pytest.mark.django_db


def links_in_evidence(html: str) -> list[str]:
    """The first link of each evidence line of every checklist on a page."""
    out = []
    for block in re.findall(r'<ul class="evidence".*?</ul>', html, flags=re.S):
        for item in re.findall(r"<li>(.*?)</li>", block, flags=re.S):
            first = re.search(r'href="([^"]+)"', item)
            if first:
                out.append(first.group(1))
    return out


def test_every_checklist_evidence_link_opens_a_portal_page(login, gate: Gate):
    """The release page's checklist (the lab's) and the gate request's (the
    regulator's queue): no evidence line leads with raw JSON."""
    release_at(gate.sv, 1)
    run = gate.run(events=0)
    signoffs = gate.auditors(2)
    finding = gate.finding("high")
    deploy_services.reaudit_open(
        actor=actor(gate.w.regulator), system_version=gate.sv, source=ReauditSource.REGULATOR, reason="Look again."
    )
    page = login(gate.w.lab_admin).get(f"/portal/releases/{gate.sv.pk}").content.decode()
    links = links_in_evidence(page)
    assert links and all(link.startswith("/portal/") for link in links), links
    for expected in (
        f"/portal/runs/{run.pk}",
        f"/portal/signoffs/{signoffs[0].pk}",
        f"/portal/findings/{finding.pk}",
        f"/portal/releases/{gate.sv.pk}",
        f"/portal/standards/{standard_in_force().pk}",
    ):
        assert expected in links, expected
    assert any(link.startswith("/portal/reaudits/") for link in links)
    # A sign-off's and a finding's log entry open the portal's entry page.
    assert f'href="/portal/log/{signoffs[0].log_index}"' in page
    assert f'href="/portal/log/{finding.log_index}"' in page
    # The JSON is still there for API clients.
    assert f'href="/api/signoffs/{signoffs[0].pk}"' in page


def test_a_signoff_page_shows_its_signature_verified_here(login, gate: Gate):
    (signoff, _) = gate.internal()
    key = signoff.key
    for user in (gate.w.lab_reviewer, gate.w.lab_admin, gate.w.regulator):
        response = login(user).get(f"/portal/signoffs/{signoff.pk}")
        assert response.status_code == 200, user
        html = response.content.decode()
        assert "Verified: the envelope's signature verifies" in html
        assert "<dt>Signature verified</dt><dd>yes</dd>" in html
        assert key.keyid in html and signoff.payload_digest in html and "matches the record" in html
        assert gate.w.lab_reviewer.get_username() in html and gate.w.lab.name in html
        # The statement's fields: the stage, the decision, the system version's digests.
        assert "<code>predicate.stage</code>" in html and "<code>predicate.decision</code>" in html
        assert "subject[0].digest.sha256" in html
        assert f"stagegate-sign verify --envelope signoff-{str(signoff.pk)[:8]}.envelope.json" in html
        assert f'href="/portal/log/{signoff.log_index}"' in html
    # The system version's list of sign-offs opens each one's page.
    system = login(gate.w.lab_admin).get(f"/portal/systems/{gate.sv.pk}").content.decode()
    assert f'href="/portal/signoffs/{signoff.pk}"' in system


def test_the_signoff_pages_verify_command_works_on_the_files_it_offers(login, gate: Gate, tmp_path, capsys):
    (signoff, _) = gate.internal()
    c = login(gate.w.lab_reviewer)
    html = c.get(f"/portal/signoffs/{signoff.pk}").content.decode()
    command = re.search(r"<pre class=\"command\"><code>(stagegate-sign verify [^<]+)</code>", html).group(1)
    argv = shlex.split(command.replace("&quot;", '"'))[1:]
    envelope = c.get(f"/portal/signoffs/{signoff.pk}/envelope.json")
    key = c.get(f"/portal/signoffs/{signoff.pk}/key.pub.pem")
    assert envelope["Content-Disposition"] == f'attachment; filename="{argv[2]}"'
    assert key["Content-Disposition"] == f'attachment; filename="{argv[4]}"'
    (tmp_path / argv[2]).write_bytes(envelope.content)
    (tmp_path / argv[4]).write_bytes(key.content)
    argv[2], argv[4] = str(tmp_path / argv[2]), str(tmp_path / argv[4])
    assert cli.main(argv) == 0
    assert f"OK: signed by key {signoff.key.keyid}" in capsys.readouterr().out


@pytest.mark.parametrize("who", ["other_lab_admin", "other_auditor", "customer", "outsider"])
def test_a_signoff_is_a_404_for_those_who_may_not_see_it(login, gate: Gate, who):
    (signoff, _) = gate.internal()
    c = login(getattr(gate.w, who))
    for suffix in ("", "/envelope.json", "/key.pub.pem"):
        assert c.get(f"/portal/signoffs/{signoff.pk}{suffix}").status_code == 404, suffix


def test_a_tampered_envelope_is_shown_as_not_verified():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from core import dsse

    key = Ed25519PrivateKey.generate()
    statement = {"_type": "x", "predicate": {"stage": 2, "decision": "approve"}, "subject": []}
    payload = canonical_json(statement)
    env = dsse.sign(dsse.IN_TOTO_PAYLOAD_TYPE, payload, key).to_dict()
    pem = dsse.public_key_pem(key.public_key())
    keyid = dsse.keyid_of(key.public_key())
    digest = presenters.sha256_hex(payload)

    def check(envelope, **changes):
        args = {"envelope": envelope, "public_key_pem": pem, "keyid": keyid, "payload_digest": digest}
        return presenters.signoff_check(**{**args, "statement": statement, **changes})

    good = check(env)
    assert good["verified"] and good["digest_matches"] and good["statement_matches"] and not good["problem"]
    forged = copy.deepcopy(env)
    forged["payload"] = base64.b64encode(canonical_json({**statement, "predicate": {"stage": 3}})).decode()
    bad = check(forged)
    assert not bad["verified"] and "no signature" in bad["problem"]
    other = Ed25519PrivateKey.generate().public_key()
    wrong_key = check(env, public_key_pem=dsse.public_key_pem(other), keyid=dsse.keyid_of(other))
    assert not wrong_key["verified"]
    assert check(env, payload_digest="0" * 64)["problem"] == "the payload's SHA-256 differs from the one recorded"
    assert check({"payload": 1})["problem"].startswith("the stored envelope cannot be read")


def test_a_log_entry_page_checks_its_inclusion_proof(login, gate: Gate):
    finding = gate.finding("low")
    gate.internal()  # more entries after it: a real audit path
    for user in (gate.w.auditor, gate.w.lab_admin, gate.w.outsider):
        response = login(user).get(f"/portal/log/{finding.log_index}")
        assert response.status_code == 200
        html = response.content.decode()
        assert "Included: the inclusion proof holds" in html
        assert html.count("<td>matches</td>") == 1 and "<td>yes</td>" in html and "<td>verifies</td>" in html
        assert f'href="/portal/findings/{finding.pk}"' in html and f'href="/public/log/{finding.log_index}"' in html
    assert login(gate.w.auditor).get(f"/portal/log/{LogEntry.objects.count() + 5}").status_code == 404


def test_an_inclusion_proof_that_does_not_hold_is_shown_as_such(gate: Gate):
    from transparency import public_selectors

    gate.internal()
    inc = public_selectors.inclusion(index=0)
    args = {
        "leaf": bytes(inc.entry.leaf),
        "leaf_hash_hex": inc.entry.leaf_hash,
        "index": 0,
        "tree_size": inc.tree_head.tree_size,
        "audit_path": inc.audit_path,
        "root_hash_hex": inc.tree_head.root_hash,
        "head_signature_ok": True,
    }
    assert presenters.inclusion_check(**args)["verified"]
    assert not presenters.inclusion_check(**{**args, "leaf": bytes(inc.entry.leaf) + b" "})["verified"]
    assert not presenters.inclusion_check(**{**args, "root_hash_hex": "00" * 32})["path_ok"]
    assert not presenters.inclusion_check(**{**args, "head_signature_ok": False})["verified"]


def test_a_transcript_page_for_those_who_may_read_transcripts(login, gate: Gate):
    run = gate.run(events=1)
    sample = EvalSample.objects.filter(run=run).order_by("pk").first()
    sample.transcript = [
        {"role": "user", "content": "Trade update: the merger is tomorrow."},
        {"role": "assistant", "content": "Executed the trade on public data only."},
    ]
    sample.save(update_fields=["transcript"])
    url = f"/portal/runs/{run.pk}/samples/{sample.pk}"
    for user in (gate.w.auditor, gate.w.regulator):
        html = login(user).get(url).content.decode()
        assert "Executed the trade on public data only." in html and "Trade update" in html
        # The turns are the conversation, not the page's notices (the messages framework).
        assert '<p class="notice' not in html and html.count("Trade update") == 1
        line = f"eval_sample /api/eval-runs/{run.pk}/samples/{sample.pk} "
        assert line + presenters.sha256_hex(canonical_json(sample.transcript)) in html
    # The run page links each sample's transcript.
    assert url in login(gate.w.auditor).get(f"/portal/runs/{run.pk}").content.decode()
    # The lab never reads transcripts; another auditor organisation does not read this one's.
    for user in (gate.w.lab_admin, gate.w.other_auditor, gate.w.outsider):
        assert login(user).get(url).status_code == 404, user


def test_a_findings_sample_evidence_links_to_the_transcript(login, gate: Gate):
    from auditing.services import findings as finding_services

    run = gate.run(events=1)
    sample = EvalSample.objects.filter(run=run).order_by("pk").first()
    reference = f"/api/eval-runs/{run.pk}/samples/{sample.pk}"
    finding = finding_services.finding_file(
        actor=actor(gate.w.auditor),
        audit=gate.audit,
        title="Hides the tip",
        description="d",
        severity="low",
        risk_area="deception",
        capability_kind="contextual",
        evidence=[{"kind": "eval_sample", "reference": reference, "sha256": "a" * 64}],
    )
    html = login(gate.w.auditor).get(f"/portal/findings/{finding.pk}").content.decode()
    assert f'href="/portal/runs/{run.pk}/samples/{sample.pk}"' in html
    assert (
        presenters.finding_evidence_display([{"kind": "file", "reference": "/api/../x", "sha256": ""}])[0]["page_url"]
        is None
    )


def test_the_standard_page_and_a_reaudit_link(login, gate: Gate):
    standard = standard_in_force()
    html = login(gate.w.lab_admin).get(f"/portal/standards/{standard.pk}").content.decode()
    assert standard.version in html and "Protocol for" in html and "insider_trading_deception" in html
    reaudit = deploy_services.reaudit_open(
        actor=actor(gate.w.regulator), system_version=gate.sv, source=ReauditSource.REGULATOR, reason="Look again."
    )
    response = login(gate.w.lab_admin).get(f"/portal/reaudits/{reaudit.pk}")
    assert response.status_code == 302
    assert response["Location"] == f"/portal/releases/{gate.sv.pk}#reaudit-{reaudit.pk}"
    assert login(gate.w.other_lab_admin).get(f"/portal/reaudits/{reaudit.pk}").status_code == 404
