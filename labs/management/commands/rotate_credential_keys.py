"""Re-encrypt every stored endpoint credential under the newest key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from labs.credentials import credentials_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt lab endpoint credentials under the first key of STAGEGATE_CREDENTIAL_KEYS. "
        "Run after putting a new key first; drop the old key only afterwards."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=100, help="Rows locked and rewritten per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        count = credentials_rotate(batch_size=options["batch_size"])
        self.stdout.write(f"Re-encrypted {count} credential(s) under the newest key.")
