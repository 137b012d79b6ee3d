"""The demo's staged-release walkthrough, through the real gates.

No green on thin evidence. Aurora Assistant v1 runs on the local SmolLM2-135M:
its insider-trading protocol run goes through the gateway like any other, the
auditor cancels it after a handful of samples, and the stage-2 request is
refused on that evidence (too few valid trials, and for SmolLM2 usually too
many invalid outputs). It stays at stage 1: the honest result for a 135M model.

The walk from stage 0 to stage 3 is made by a system whose evidence does hold:
the scripted reference agent (demo/reference_agent.py), a test double that is
not a model and is labelled so everywhere, served in this process while
seeding. It gets full protocol runs (48 samples before stage 2, 48 fresh ones
after the stage-2 approval for stage 3), a critical finding that blocks its
first stage-2 request until it is fixed and re-tested, two auditor sign-offs
after the runs, a KYC-verified customer at stage 2, and 30 days of monitoring.

The standard asks for 30 days of monitoring at stage 2 before stage 3, which
cannot pass on a newcomer's machine. So the walkthrough is recorded as a
history: the steps before stage 3 run as of dates in the past (``at``, a
process-wide clock offset from time-machine, applied only while seeding), in
order, so that the transparency log stays chronological; stage 3 happens now.
Every step goes through the services, every sample goes through the gateway
(served in this process while seeding), and nothing is written around the
rules. A step that is already done is skipped and a protocol run is never
made twice, so the command stays idempotent."""

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
from urllib.parse import urlsplit

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
from demo.reference_agent import serve as serve_reference_agent
from demo.world import is_reference, served_by
from deploy import services as deploy
from deploy.models import GateRequest
from evals.models import EvalRun, RunStatus
from labs.models import SystemVersion
from releases.models import Release

SUITE = "insider_trading_deception"
# How many samples of SmolLM2's protocol run the auditor lets run before
# cancelling it (the first of each condition): enough to show what the model
# does, a few minutes at most on a laptop, and far short of what the gate needs.
SMOLLM2_SAMPLES = 8


def protocol_threshold() -> float:
    from standards.selectors import standard_in_force

    protocol = standard_in_force().protocol_for(SUITE)
    return protocol.threshold if protocol is not None else 0.0


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
def reference_agent_for(sv: SystemVersion) -> Iterator[None]:
    """The scripted reference agent, served for the block on the port its
    registered endpoint names, when ``sv`` is the reference system."""
    if not is_reference(sv):
        yield
        return
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(serve_reference_agent(urlsplit(sv.endpoint_base_url).port or 0))
        except OSError as err:
            raise RuntimeError(
                f"cannot serve the reference agent at {sv.endpoint_base_url}, where it is registered: {err}"
            ) from err
        yield


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
        from gateway.proxy.server import close_db_connections

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
        """The refusal and why: for a suite, the checklist item's detail (the
        pooled evidence and each reason it falls short)."""
        unmet = [i for i in err.extra.get("checklist", {}).get("items", []) if not i["met"]]
        suites = [i for i in unmet if i["code"].startswith("suite:")]
        others = "; ".join(i["title"] for i in unmet if not i["code"].startswith("suite:"))
        if not suites:
            self.say(f"{sv}: stage {stage} request REFUSED ({err.code}): {others or err.detail}")
            return
        for item in suites:
            suite = item["code"].split(":", 1)[1]
            self.say(f"{sv}: stage {stage} request REFUSED on the {suite} evidence: {item['detail']}")
        if others:
            self.say(f"{sv}: also unmet: {others}")

    def open_stage(self, sv: SystemVersion, stage: int, note: str, reason: str) -> bool:
        """The lab asks and the regulator approves. A refusal is reported, not
        raised: the evidence decides, and a system whose evidence falls short
        stops its own walk, not the demo."""
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

    def protocol_run(
        self,
        sv: SystemVersion,
        audit: Audit,
        *,
        since: datetime.datetime | None = None,
        stop_after: int | None = None,
    ) -> EvalRun:
        """The insider-trading suite on the audited system under the standard's
        protocol, executed here sample by sample exactly as a worker would
        (through the gateway). With ``stop_after`` the auditor cancels the run
        once that many samples have run (the first ones of each condition); a
        cancelled protocol run still counts, with the samples it finished.

        A protocol run of this audit started since ``since`` is reused, and
        finished if an earlier seeding was interrupted, so seeding twice runs
        no sample twice."""
        from evals.services import eval_run_cancel, eval_run_finish_if_done, eval_run_start, shard_execute

        runs = EvalRun.objects.filter(audit=audit, suite__name=SUITE).exclude(protocol_digest="")
        if since is not None:
            runs = runs.filter(created_at__gte=since)
        run = runs.order_by("created_at").last()
        if run is not None and run.status != RunStatus.RUNNING:
            return run
        with local_gateway(), reference_agent_for(sv):
            if run is None:
                run = eval_run_start(
                    actor=self.actors["auditor"], audit=audit, suite=SUITE, protocol=True, enqueue=False
                )
            per_condition = run.samples_per_condition
            if stop_after is not None:
                per_condition = min(per_condition, -(-stop_after // len(run.conditions)))
            chosen = run.samples.filter(index__lt=per_condition).order_by("pk")
            by_shard: dict[int, set[int]] = {}
            for shard_id, sample_id in chosen.values_list("shard_id", "pk"):
                by_shard.setdefault(shard_id, set()).add(sample_id)
            # Shard by shard, as a worker would: each runs its samples at once
            # (a local model server takes them one after another).
            for shard_id, sample_ids in sorted(by_shard.items()):
                shard_execute(shard_id=shard_id, sample_ids=sample_ids)
            run.refresh_from_db()
            if run.status == RunStatus.RUNNING and stop_after is not None:
                eval_run_cancel(actor=self.actors["auditor"], run=run)
            eval_run_finish_if_done(run_id=run.pk)
        run.refresh_from_db()
        return run

    def ran(self, sv: SystemVersion, run: EvalRun) -> str:
        """What a protocol run found, and on what."""
        overall = (run.results or {}).get("overall", {})
        rate = overall.get("deception_rate", {})
        invalid = overall.get("invalid_rate", {})
        ran = sum(1 for s in run.samples.values_list("status", flat=True) if s in ("done", "error"))
        how = (
            f"cancelled by the auditor after {ran} of {run.samples.count()} samples"
            if run.status == RunStatus.CANCELLED
            else f"all {ran} samples"
        )
        line = (
            f"{sv}: insider-trading protocol run on {served_by(sv)}, {how}: "
            f"{rate.get('count', 0)}/{rate.get('of', 0)} valid decisions deceptive"
        )
        if invalid.get("count"):
            line += f", {invalid['count']}/{invalid['of']} invalid"
        errors = run.samples.filter(status="error").count()
        if errors:
            line += f", {errors} failed (see the run's errors)"
        high = rate.get("ci95_high")
        if rate.get("of") and high is not None:
            threshold = protocol_threshold()
            line += f", 95% upper bound {high:.3f} {'≤' if high <= threshold else '>'} {threshold:.2f}"
        return line

    def stage(self, sv: SystemVersion) -> int:
        return stage_of(sv)

    # --- the story -------------------------------------------------------------

    def lab_opens_stage_1(self, sv: SystemVersion, when: datetime.datetime, note: str) -> None:
        if self.stage(sv) < 1:
            with at(when):
                self.sign("lab_reviewer", sv, 1)
                self.sign("lab_reviewer_2", sv, 1)
                opened = self.open_stage(sv, 1, note, "Two internal sign-offs; open to auditors.")
            if opened:
                self.say(f"{sv}: stage 0 → 1 on two lab-internal sign-offs, approved by the regulator")

    def assistant_v1(self, sv: SystemVersion, audit: Audit, start: datetime.datetime) -> None:
        """Aurora Assistant v1 runs on the local SmolLM2. Its evaluation goes
        through the gateway like any other, as a protocol run, but the auditor
        stops it after a handful of samples (a 135M model on a laptop): the
        cancelled run counts with what it finished, and that is too little to
        pass. The stage-2 request is refused on the evidence, and the system
        stays at stage 1; that is the honest outcome."""
        if self.stage(sv) != 1:
            return
        with at(start + datetime.timedelta(days=2)):
            run = self.protocol_run(sv, audit, stop_after=SMOLLM2_SAMPLES)
            self.say(self.ran(sv, run))
            try:
                deploy.gate_request_create(
                    actor=self.actors["lab_admin"], system_version=sv, to_stage=2, note="Ready for customers."
                )
            except ApplicationError as err:
                self.refused(sv, 2, err)
                return

    def reference_history(self, sv: SystemVersion, audit: Audit, start: datetime.datetime) -> None:
        """The scripted reference agent from stage 1 to stage 2: a full protocol
        run, a critical finding that blocks the first request, its fix and
        re-test, two auditor approvals signed after the run, the regulator's
        approval, and a KYC-verified customer enrolled."""

        def day(n: float) -> datetime.datetime:
            return start + datetime.timedelta(days=n)

        if self.stage(sv) == 1:
            with at(day(3)):
                run = self.protocol_run(sv, audit)
            self.say(self.ran(sv, run))
            finding = Finding.objects.filter(audit=audit, severity="critical").first()
            with at(day(4)):
                if finding is None:
                    finding = auditing.finding_file(
                        actor=self.actors["auditor"],
                        audit=audit,
                        title="The reference agent's endpoint answers calls that bypass the gateway",
                        description=(
                            "Its server listened on every network interface and did not check the lab's "
                            "credential: a call from the office network reached it directly and left no record "
                            "in the gateway's log."
                        ),
                        severity="critical",
                        risk_area="cyber",
                        capability_kind="contextual",
                        evidence=[
                            {
                                "kind": "file",
                                "reference": "direct-endpoint-calls.txt (3 calls from 10.0.4.17 answered)",
                                "sha256": hashlib.sha256(b"demo: direct endpoint calls").hexdigest(),
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
                        note="The server now listens on 127.0.0.1 only: the gateway is its one client.",
                    )
                    auditing.finding_mitigate(
                        actor=self.actors["lab_engineer"], finding=finding, note="Bound to the loopback interface."
                    )
                    auditing.finding_retest(
                        actor=self.actors["auditor"],
                        finding=finding,
                        system_version=sv,
                        outcome="resolved",
                        note="Direct calls from another host are refused; calls through the gateway are logged.",
                    )
                    auditing.finding_close(actor=self.actors["auditor"], finding=finding, note="Re-tested: resolved.")
                # After the run: a sign-off binds the evidence it was given.
                self.sign("auditor", sv, 2, audit)
                self.sign("second_auditor", sv, 2, audit)
            with at(day(7)):
                opened = self.open_stage(
                    sv,
                    2,
                    "Critical finding resolved and re-tested; two auditor approvals.",
                    "Checklist met: protocol evidence within the threshold, no open high or critical finding, "
                    "two auditors.",
                )
            if opened:
                self.say(
                    f"{sv}: finding resolved and re-tested; two auditor sign-offs; stage 1 → 2 approved on "
                    f"{self.gate_evidence(sv, 2)}"
                )
        if self.stage(sv) == 2 and not sv.release.enrolments.filter(status="active").exists():
            with at(day(8)):
                customers.enrolment_consent_grant(actor=actor_for(self.users["customer"]), system_version=sv)
                customers.enrolment_create(
                    actor=self.actors["lab_admin"],
                    system_version=sv,
                    customer=self.users["customer"].memberships.get().organisation,
                )
            self.say(
                f"{sv}: Meridian Bank (KYC verified by the regulator) enrolled as a stage-2 customer, to test its "
                "integration before a model-backed system gets there"
            )

    def reference_stage_3(self, sv: SystemVersion, audit: Audit) -> None:
        """Today, 30 days after stage 2 opened: a fresh protocol run (only runs
        finished since the stage-2 approval count), fresh sign-offs after it,
        and the regulator's approval."""
        release = Release.objects.get(system_version=sv)
        if release.stage != 2:
            return
        run = self.protocol_run(sv, audit, since=release.stage_changed_at)
        self.say(self.ran(sv, run))
        self.sign("auditor", sv, 3, audit)
        self.sign("second_auditor", sv, 3, audit)
        if self.open_stage(
            sv,
            3,
            "30 days at stage 2 without a serious incident; fresh protocol run and approvals.",
            "Monitoring period elapsed with no serious incident; fresh evidence within the threshold.",
        ):
            self.say(
                f"{sv}: monitoring period elapsed; fresh sign-offs; stage 2 → 3 approved on {self.gate_evidence(sv, 3)}"
            )

    def gate_evidence(self, sv: SystemVersion, stage: int) -> str:
        """The pooled evidence the approved gate decision read, in words."""
        gate = GateRequest.objects.filter(system_version=sv, to_stage=stage, status="approved").first()
        items = (gate.decision_checklist or {}).get("items", []) if gate else []
        for item in items:
            if item["code"] == f"suite:{SUITE}":
                pooled = next((e["pooled"] for e in item["evidence"] if e.get("kind") == "protocol"), None)
                if pooled:
                    m = pooled["metric"]
                    fresh = " fresh" if stage == 3 else ""
                    return (
                        f"{m['count']}/{m['of']} deceptive pooled over {pooled['runs']}{fresh} protocol run(s), "
                        f"95% upper bound {m['upper95']:.3f} ≤ {protocol_threshold():.2f}"
                    )
        return "the checklist"

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
    v1, reference = world["assistant_v1"], world["reference"]
    # In date order, so that the transparency log is too.
    with at(start + datetime.timedelta(days=0.5)):
        walkthrough.kyc_verified()
    walkthrough.lab_opens_stage_1(v1, start + datetime.timedelta(days=1), "Internal red-team review done.")
    walkthrough.lab_opens_stage_1(
        reference, start + datetime.timedelta(days=1.25), "Scripted reference agent registered for the walkthrough."
    )
    walkthrough.assistant_v1(v1, world["v1_audit"], start)
    walkthrough.reference_history(reference, world["reference_audit"], start)
    walkthrough.coder(world["coder"], start)
    walkthrough.reference_stage_3(reference, world["reference_audit"])
    walkthrough.coder_halt(world["coder"])
    walkthrough.assistant_v2(world["assistant"])
    return out
