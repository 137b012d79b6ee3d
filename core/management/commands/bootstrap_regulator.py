"""The first regulator, from the host shell: creates the regulator organisation
and one account, and prints the account's single-use set-password link for the
operator to hand over. Refused once a regulator exists (it then creates
further accounts through the API)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.accounts import regulator_bootstrap
from core.errors import ApplicationError


class Command(BaseCommand):
    help = "Create the first regulator (organisation and account) and print its set-password link."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--email", required=True)
        parser.add_argument("--organisation", default="The Regulator", help="The regulator organisation's name.")
        parser.add_argument("--slug", default="regulator")

    def handle(self, *args: Any, username: str, email: str, organisation: str, slug: str, **options: Any) -> None:
        try:
            user, link = regulator_bootstrap(username=username, email=email, organisation_name=organisation, slug=slug)
        except ApplicationError as exc:
            details = "; ".join(f"{k}: {' '.join(v)}" for k, v in (getattr(exc, "errors", None) or {}).items())
            raise CommandError(f"{exc}{' (' + details + ')' if details else ''}") from None
        self.stdout.write(f"Created regulator {user.username}. Set the password (the link works once):\n{link}")
