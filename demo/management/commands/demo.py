"""Seed a believable demo world and print how to log in.

Idempotent: organisations, people and domain objects are looked up by natural
keys before anything is created, so running it twice duplicates nothing.
Passwords and API tokens are derived from SECRET_KEY, so they are stable for a
checkout and never stored in the repository.

In two parts for scripts/run, which serves the portal before the evaluation
engine is installed: ``--quick`` seeds the organisations, people, logins,
systems and audits (seconds; nothing of the evaluation engine is imported);
the command without it does that and the staged-release walkthrough, whose
evaluations need the engine and the local model (demo/history.py), and the
demo auditor's gateway token (stage 1, which the walkthrough opens, admits it)."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from core.actors import actor_for
from core.authentication import token_digest
from core.models import ApiToken, Membership, Organisation, OrganisationKind, Role
from core.services import api_token_create, demo_token_secret

User = get_user_model()
K = OrganisationKind

ORGANISATIONS = [
    # slug, kind, name, country
    ("oaiso", K.REGULATOR, "Office for AI Safety Oversight", "GB"),
    ("aurora", K.LAB, "Aurora Labs", "GB"),
    ("borealis", K.LAB, "Borealis AI", "US"),
    ("sentinel", K.AUDITOR, "Sentinel Assurance", "GB"),
    ("veritas", K.AUDITOR, "Veritas Evaluations", "DE"),
    ("northgate", K.AUDITOR, "Northgate Security Labs", "US"),
    ("thornfield", K.ACADEMIC, "Thornfield University AI Evaluation Group", "GB"),
    ("meridian", K.CUSTOMER, "Meridian Bank", "GB"),
]

# Demo role -> (username, organisation slug, membership role, full name)
PEOPLE = {
    "regulator": ("regulator", "oaiso", Role.REGULATOR_STAFF, "Rhea Okafor"),
    "lab_admin": ("aurora_admin", "aurora", Role.LAB_ADMIN, "Ada Lindqvist"),
    "lab_engineer": ("aurora_engineer", "aurora", Role.LAB_ENGINEER, "Eitan Moreau"),
    "lab_reviewer": ("aurora_reviewer", "aurora", Role.LAB_REVIEWER, "Priya Raman"),
    "lab_reviewer_2": ("aurora_reviewer2", "aurora", Role.LAB_REVIEWER, "Tomasz Wójcik"),
    "other_lab_admin": ("borealis_admin", "borealis", Role.LAB_ADMIN, "Bjørn Halvorsen"),
    "other_lab_reviewer": ("borealis_reviewer", "borealis", Role.LAB_REVIEWER, "Grace Adeyemi"),
    "other_lab_reviewer_2": ("borealis_reviewer2", "borealis", Role.LAB_REVIEWER, "Kenji Watanabe"),
    "auditor": ("sentinel_auditor", "sentinel", Role.AUDITOR, "Sofia Marchetti"),
    "second_auditor": ("veritas_auditor", "veritas", Role.AUDITOR, "Viktor Brandt"),
    "conflicted_auditor": ("northgate_auditor", "northgate", Role.AUDITOR, "Nadia Castillo"),
    "academic": ("thornfield_academic", "thornfield", Role.ACADEMIC_AUDITOR, "Dr Amara Osei"),
    "customer": ("meridian_customer", "meridian", Role.CUSTOMER_MEMBER, "Clara Mendes"),
}


def demo_password(username: str) -> str:
    mac = hmac.new(settings.SECRET_KEY.encode(), f"stagegate-demo-password:{username}".encode(), hashlib.sha256)
    return "demo-" + mac.hexdigest()[:16]


def demo_gateway_secret(username: str, generation: int = 0) -> str:
    """The demo auditor's gateway token, stable for a checkout (from SECRET_KEY)."""
    label = f"stagegate-demo-gateway-token:{username}:{generation}"
    mac = hmac.new(settings.SECRET_KEY.encode(), label.encode(), hashlib.sha256)
    return "sgw_" + mac.hexdigest()[:43]


def sha256_of(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


class Command(BaseCommand):
    help = "Seed the demo world (idempotent) and print how to log in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", dest="json_path", help="Also write logins and URLs as JSON to this file.")
        parser.add_argument(
            "--quick",
            action="store_true",
            help="Seed the people, logins and records only; no evaluations (the walkthrough runs without this).",
        )

    def handle(self, *args: Any, json_path: str | None = None, quick: bool = False, **options: Any) -> None:
        from demo import history
        from demo.world import describe, eval_run_for, seed_domain, seed_gateway_token, served_by

        with transaction.atomic():
            orgs = self.seed_organisations()
            users = self.seed_people(orgs)
            tokens = {role: self.seed_token(user) for role, user in users.items()}
            operator = self.seed_operator()
        # The world as it stood when the history begins (see demo/history.py).
        start = timezone.now() - datetime.timedelta(days=history.HISTORY_DAYS)
        with history.at(start), transaction.atomic():
            world = seed_domain(orgs=orgs, users=users)
        if quick:
            summary = ["The staged-release walkthrough is not seeded yet (manage.py demo without --quick)."]
        else:
            summary = history.walk(users=users, world=world, start=start)
        with transaction.atomic():
            run = None if quick else eval_run_for(actor_for(users["auditor"]), world["aurora_audit"])
            auditor = users["auditor"]
            # A gateway token needs the system at stage 1, which the walkthrough opens.
            gateway = (
                None
                if quick
                else seed_gateway_token(auditor=auditor, secret_for=lambda n: demo_gateway_secret(auditor.username, n))
            )
        summary = describe(world, run) + summary

        base = settings.STAGEGATE_BASE_URL.rstrip("/")
        logins: dict[str, dict[str, str]] = {
            role: {"username": user.username, "password": demo_password(user.username), "api_token": tokens[role]}
            for role, user in users.items()
        }
        logins["operator"] = {
            "username": operator.username,
            "password": demo_password(operator.username),
            "api_token": self.seed_token(operator),
        }
        document = {
            "walkthrough": "pending" if quick else "done",
            "web": base + "/",
            "api": base + "/api/",
            "users": logins,
            "gateway": None if gateway is None else {"base_url": base + "/gateway/v1", **gateway},
            "releases": [
                {
                    "system_version": str(sv.pk),
                    "name": f"{sv.name} v{sv.sequence}",
                    "served_by": served_by(sv),
                    "stage": history.stage_of(sv),
                    "status": history.status_of(sv),
                    "checklist": f"{base}/api/releases/{sv.pk}/checklist",
                }
                for sv in (world["assistant_v1"], world["reference"], world["assistant"], world["coder"])
            ],
        }
        if json_path:
            path = Path(json_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(document, indent=2) + "\n")
            path.chmod(0o600)
        self.print_logins(document, summary)

    def seed_organisations(self) -> dict[str, Organisation]:
        orgs = {}
        for slug, kind, name, country in ORGANISATIONS:
            org, _ = Organisation.objects.get_or_create(
                slug=slug, defaults={"kind": kind, "name": name, "country": country}
            )
            orgs[slug] = org
        return orgs

    def seed_people(self, orgs: dict[str, Organisation]) -> dict[str, Any]:
        users = {}
        for role_key, (username, slug, role, full_name) in PEOPLE.items():
            first, _, last = full_name.rpartition(" ")
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"email": f"{username}@demo.stagegate.test", "first_name": first, "last_name": last},
            )
            if created:
                user.set_password(demo_password(username))
                user.save(update_fields=["password"])
            Membership.objects.get_or_create(user=user, organisation=orgs[slug], role=role, ended_at=None)
            users[role_key] = user
        return users

    def seed_operator(self) -> Any:
        operator, created = User.objects.get_or_create(
            username="operator",
            defaults={"email": "operator@demo.stagegate.test", "is_staff": True, "is_superuser": True},
        )
        if created:
            operator.set_password(demo_password("operator"))
            operator.save(update_fields=["password"])
        return operator

    def seed_token(self, user: Any) -> str:
        secret = demo_token_secret(user.username)
        if not ApiToken.objects.filter(digest=token_digest(secret)).exists():
            api_token_create(actor=actor_for(user), name="demo", secret=secret)
        return secret

    def print_logins(self, document: dict[str, Any], summary: list[str]) -> None:
        w = self.stdout.write
        w(self.style.SUCCESS("Stagegate demo world is ready."))
        for line in summary:
            w(f"  {line}")
        w("")
        w(f"Web:   {document['web']}   (admin: {document['web']}admin/, API docs: {document['api']}docs/)")
        w(f"API:   {document['api']}   (Authorization: Bearer <api_token>)")
        w("Logins (username / password / API token):")
        for role, login in document["users"].items():
            w(f"  {role:<19} {login['username']:<20} {login['password']:<22} {login['api_token']}")
        gw = document["gateway"]
        if gw:
            w(f"Gateway: {gw['base_url']}   model {gw['model']}   auditor token {gw['auditor_token']}")
