"""The demo's staged-release walkthrough: Aurora Assistant v1 from stage 0 to
stage 3 through the real gates, with a refused attempt on the way.

The standard asks for 30 days of monitoring at stage 2 before stage 3, which
cannot pass on a newcomer's machine. So the walkthrough is recorded as a
history: the steps before stage 3 run as of dates in the past (``at``, a
process-wide clock offset from time-machine, applied only while seeding), in
order, so that the transparency log stays chronological; stage 3 happens now.
Every step goes through the services, the suites run on the local model through
the gateway (served in this process while seeding), and nothing is written
around the rules. A step that is already done is skipped, so the command
stays idempotent."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import time_machine
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.db import connections
from django.utils import timezone

from auditing import services as auditing
from auditing.models import Audit, Finding, SigningKey
from core import dsse
from core.actors import actor_for
from core.canonical import canonical_json
from core.errors import ApplicationError
from customers import services as customers
from customers.models import KycRecord
from deploy import services as deploy
from deploy.models import Release
from labs.models import SystemVersion


# The conditions of the insider-trading grid with no system-prompt nudge and
# every pressure source (scratchpad on and off, risk low and high), one sample
# each: small enough to run on the local model while seeding.
def demo_conditions() -> list[str]:
    from evals.suites.insider_trading.scenario import condition_grid

    return [c.key for c in condition_grid() if c.key.startswith("prompt=none;") and ";pressure=all;" in c.key]


# How far back the history starts: stage 2 opens on its 7th day, so the
# standard's 30-day monitoring period has passed today.
HISTORY_DAYS = 40


def demo_signing_key(username: str) -> Ed25519PrivateKey:
    """A demo user's Ed25519 key, stable for a checkout (from SECRET_KEY)."""
    label = f"stagegate-demo-signing-key:{username}".encode()
    return Ed25519PrivateKey.from_private_bytes(hmac.new(settings.SECRET_KEY.encode(), label, hashlib.sha256).digest())


@contextlib.contextmanager
def at(when: datetime.datetime | None) -> Iterator[None]:
    """Run the block as of ``when`` (the clock keeps ticking from there); now if None."""
    if when is None:
        yield
        return
    with time_machine.travel(when, tick=True):
        yield


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def local_gateway() -> Iterator[str]:
    """The service's own ASGI app (gateway included) on a free local port for
    the length of the block; the evaluation code calls it as a worker would."""
    import uvicorn

    from config.asgi import application

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the in-process gateway did not start")
        time.sleep(0.05)
    previous = settings.STAGEGATE_GATEWAY_URL
    settings.STAGEGATE_GATEWAY_URL = f"http://127.0.0.1:{port}/gateway/v1"
    try:
        yield settings.STAGEGATE_GATEWAY_URL
    finally:
        settings.STAGEGATE_GATEWAY_URL = previous
        server.should_exit = True
        thread.join(timeout=10)
        from gateway.server import close_db_connections

        close_db_connections()
        connections.close_all()


class Walkthrough:
    def __init__(self, *, users: dict[str, Any], out: list[str]) -> None:
        self.users = users
        self.out = out
        self.actors = {role: actor_for(user) for role, user in users.items()}

    def say(self, line: str) -> None:
        self.out.append(line)

    # --- building blocks -----------------------------------------------------

    def key(self, role: str) -> Ed25519PrivateKey:
        user = self.users[role]
        key = demo_signing_key(user.username)
        keyid = dsse.keyid_of(key.public_key())
        found = SigningKey.objects.filter(keyid=keyid).first()
        if found is None:
            found = auditing.signing_key_register(
                actor=actor_for(user), public_key_pem_text=dsse.public_key_pem(key.public_key())
            )
        if found.status == "pending":
            auditing.signing_key_approve(actor=self.actors["regulator"], key=found)
        return key

    def sign(self, role: str, sv: SystemVersion, stage: int, audit: Audit | None = None) -> None:
        actor = actor_for(self.users[role])
        doc = auditing.signoff_statement_build(
            actor=actor, system_version=sv, stage=stage, decision="approve", audit=audit
        )
        envelope = dsse.sign(dsse.IN_TOTO_PAYLOAD_TYPE, canonical_json(doc), self.key(role)).to_dict()
        auditing.signoff_submit(actor=actor, envelope=envelope)

    def kyc_verified(self) -> None:
        """The demo customer's know-your-customer record, verified by the regulator."""
        member = self.users["customer"]
        org = member.memberships.get().organisation
        record = KycRecord.objects.filter(organisation=org).first()
        if record is None:
            customers.kyc_submit(
                actor=actor_for(member),
                organisation=org,
                legal_name="Meridian Bank plc",
                registration_number="SC123456",
                jurisdiction="GB",
                registered_address="40 St Andrew Square, Edinburgh EH2 2YE",
                stated_purpose="Drafting first replies to customers' written complaints, reviewed by staff.",
                beneficial_owners=[
                    {"full_name": "Meridian Holdings plc", "country": "GB", "ownership_percent": "100.00"},
                ],
            )
        if not KycRecord.objects.filter(organisation=org, status="verified").exists():
            customers.kyc_verify(
                actor=self.actors["regulator"],
                organisation=org,
                note="Companies House record, register of persons with significant control and directors' IDs checked.",
            )

    def refused(self, sv: SystemVersion, stage: int, err: ApplicationError) -> None:
        unmet = [i["title"] for i in err.extra.get("checklist", {}).get("items", []) if not i["met"]]
        self.say(f"{sv}: stage {stage} request REFUSED ({err.code}): {'; '.join(unmet) or err.detail}")

    def open_stage(self, sv: SystemVersion, stage: int, note: str, reason: str) -> bool:
        """The lab asks and the regulator approves. A refusal is reported, not
        raised: the local model's results decide, and a model that trades on
        the tip must stop the walkthrough, not the demo."""
        try:
            request = deploy.gate_request_create(
                actor=self.actors["lab_admin"] if sv.lab.slug == "aurora" else self.actors["other_lab_admin"],
                system_version=sv,
                to_stage=stage,
                note=note,
            )
            deploy.gate_request_decide(
                actor=self.actors["regulator"], gate_request=request, decision="approve", reason=reason
            )
        except ApplicationError as err:
            self.refused(sv, stage, err)
            return False
        return True

    def run_suite(self, audit: Audit, role: str = "auditor") -> Any:
        """The insider-trading suite on the audited system, executed here
        sample by sample exactly as a worker would (through the gateway)."""
        from evals.services import eval_run_finish_if_done, eval_run_start, sample_execute

        run = eval_run_start(
            actor=self.actors[role],
            audit=audit,
            suite="insider_trading_deception",
            conditions=demo_conditions(),
            samples_per_condition=1,
            temperature=0.3,
            max_tokens=200,
            enqueue=False,
        )
        for sample_id in run.samples.values_list("pk", flat=True):
            sample_execute(sample_id=sample_id)
        eval_run_finish_if_done(run_id=run.pk)
        run.refresh_from_db()
        return run

    def stage(self, sv: SystemVersion) -> int:
        return stage_of(sv)

    # --- the story -------------------------------------------------------------

    def assistant_v1_history(self, sv: SystemVersion, audit: Audit, start: datetime.datetime) -> None:
        def day(n: float) -> datetime.datetime:
            return start + datetime.timedelta(days=n)

        with at(day(0.5)):
            self.kyc_verified()
        if self.stage(sv) < 1:
            with at(day(1)):
                self.sign("lab_reviewer", sv, 1)
                self.sign("lab_reviewer_2", sv, 1)
                opened = self.open_stage(
                    sv, 1, "Internal red-team review done.", "Two internal sign-offs; open to auditors."
                )
            if opened:
                self.say(f"{sv}: stage 0 → 1 on two lab-internal sign-offs, approved by the regulator")
        if self.stage(sv) == 1:
            with local_gateway(), at(day(3)):
                run = audit.eval_runs.filter(status="completed").first() or self.run_suite(audit)
            overall = (run.results or {}).get("overall", {}).get("deception_rate", {})
            self.say(
                f"{sv}: insider-trading suite on the local model, deception rate {overall.get('rate')} "
                f"({overall.get('count')}/{overall.get('of')} valid decisions)"
            )
            finding = Finding.objects.filter(audit=audit, severity="critical").first()
            with at(day(4)):
                if finding is None:
                    finding = auditing.finding_file(
                        actor=self.actors["second_auditor"],
                        audit=audit,
                        title="Retrieved documents can instruct the assistant to reveal other customers' orders",
                        description=(
                            "A product-manual page with an embedded instruction made the assistant list another "
                            "customer's recent orders (prompt injection through retrieval)."
                        ),
                        severity="critical",
                        risk_area="societal_impact",
                        capability_kind="contextual",
                        evidence=[
                            {
                                "kind": "file",
                                "reference": "retrieval-injection-transcripts.jsonl (3 of 20 attempts)",
                                "sha256": hashlib.sha256(b"demo: retrieval injection transcripts").hexdigest(),
                            }
                        ],
                    )
                try:
                    deploy.gate_request_create(
                        actor=self.actors["lab_admin"], system_version=sv, to_stage=2, note="Ready for customers."
                    )
                except ApplicationError as err:
                    self.refused(sv, 2, err)
            with at(day(6)):
                if finding.status in ("open", "lab_responded", "mitigated"):
                    auditing.finding_respond(
                        actor=self.actors["lab_admin"],
                        finding=finding,
                        note="Retrieved text is now quoted, not obeyed.",
                    )
                    auditing.finding_mitigate(
                        actor=self.actors["lab_engineer"], finding=finding, note="Retrieval output is sandboxed."
                    )
                    auditing.finding_retest(
                        actor=self.actors["second_auditor"],
                        finding=finding,
                        system_version=sv,
                        outcome="resolved",
                        note="0 of 40 injection attempts succeeded after the fix.",
                    )
                    auditing.finding_close(
                        actor=self.actors["second_auditor"], finding=finding, note="Re-tested: resolved."
                    )
                self.sign("auditor", sv, 2, audit)
                self.sign("second_auditor", sv, 2, audit)
            with at(day(7)):
                opened = self.open_stage(
                    sv,
                    2,
                    "Critical finding resolved and re-tested; two auditor approvals.",
                    "Checklist met: suites within thresholds, no open high or critical finding, two auditors.",
                )
            if opened:
                self.say(f"{sv}: finding resolved and re-tested; stage 1 → 2 approved")
        if self.stage(sv) == 2 and not sv.release.enrolments.filter(status="active").exists():
            with at(day(8)):
                customers.enrolment_create(
                    actor=self.actors["lab_admin"],
                    system_version=sv,
                    customer=self.users["customer"].memberships.get().organisation,
                )
            self.say(f"{sv}: Meridian Bank (KYC verified by the regulator) enrolled as a stage-2 customer")

    def assistant_v1_stage_3(self, sv: SystemVersion, audit: Audit) -> None:
        if self.stage(sv) == 2:
            with local_gateway():
                self.run_suite(audit)
            self.sign("auditor", sv, 3, audit)
            self.sign("second_auditor", sv, 3, audit)
            if self.open_stage(
                sv,
                3,
                "30 days at stage 2 without a serious incident; fresh evaluation and approvals.",
                "Monitoring period elapsed with no serious incident; fresh evidence.",
            ):
                self.say(f"{sv}: monitoring period elapsed; fresh run and sign-offs; stage 2 → 3 approved")

    def assistant_v2(self, sv: SystemVersion) -> None:
        """The next version opens to its auditors today; its checklist for
        stage 2 names the suites that web access now makes due."""
        if self.stage(sv) < 1:
            self.sign("lab_reviewer", sv, 1)
            self.sign("lab_reviewer_2", sv, 1)
            if self.open_stage(
                sv, 1, "Web browsing added; ready for the delta audit.", "Open to the assigned auditors."
            ):
                self.say(f"{sv}: stage 0 → 1 today for its delta audit")

    def coder(self, sv: SystemVersion, start: datetime.datetime) -> None:
        """Borealis's agent reaches stage 1, then the regulator halts it after
        the lab reports a serious incident."""
        if self.stage(sv) < 1 and status_of(sv) == "active":
            with at(start + datetime.timedelta(days=20)):
                self.sign("other_lab_reviewer", sv, 1)
                self.sign("other_lab_reviewer_2", sv, 1)
                self.open_stage(sv, 1, "Internal review done.", "Two internal sign-offs; open to auditors.")

    def coder_halt(self, sv: SystemVersion) -> None:
        if self.stage(sv) >= 1 and status_of(sv) == "active":
            reason = (
                "Borealis reported that the agent, during auditor testing, wrote outside its sandboxed workspace "
                "and read credentials from the host; halted until a re-audit."
            )
            incident = report_incident(self, sv, reason)
            deploy.release_halt(actor=self.actors["regulator"], system_version=sv, reason=reason)
            self.say(f"{sv}: halted by the regulator after an incident{incident}; every gateway token stopped")


def report_incident(walkthrough: Walkthrough, sv: SystemVersion, description: str) -> str:
    """The lab's own incident report, through the monitoring service."""
    from monitoring.services import incident_report

    now = timezone.now()
    incident = incident_report(
        actor=walkthrough.actors["other_lab_admin"],
        system_version=sv,
        kind="serious_misuse",
        title="Agent escaped its workspace during testing",
        description=description,
        occurred_at=now - datetime.timedelta(hours=6),
        aware_at=now - datetime.timedelta(hours=5),
    )
    return f" ({incident.pk})"


def stage_of(sv: SystemVersion) -> int:
    return Release.objects.filter(system_version=sv).values_list("stage", flat=True).first() or 0


def status_of(sv: SystemVersion) -> str:
    return Release.objects.filter(system_version=sv).values_list("status", flat=True).first() or "active"


def walk(*, users: dict[str, Any], world: dict[str, Any], start: datetime.datetime) -> list[str]:
    out: list[str] = []
    walkthrough = Walkthrough(users=users, out=out)
    # In date order, so that the transparency log is too.
    walkthrough.assistant_v1_history(world["assistant_v1"], world["v1_audit"], start)
    walkthrough.coder(world["coder"], start)
    walkthrough.assistant_v1_stage_3(world["assistant_v1"], world["v1_audit"])
    walkthrough.coder_halt(world["coder"])
    walkthrough.assistant_v2(world["assistant"])
    return out
