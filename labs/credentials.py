"""Endpoint credentials, encrypted at rest with Fernet under the keys in
``settings.STAGEGATE_CREDENTIAL_KEYS`` (newest first). Rotation: put a new key
first, run ``manage.py rotate_credential_keys``, then drop the old key.

Only the gateway decrypts; nothing here ever logs, audits or returns a value."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from core.actors import Actor, system_actor
from core.audit import audit_event_record


class CredentialUnreadable(Exception):
    """No configured key decrypts the stored credential (a key was dropped
    before rotation finished, or the ciphertext is damaged)."""


@functools.lru_cache(maxsize=8)
def _fernets(keys: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    if not keys:
        raise ImproperlyConfigured("STAGEGATE_CREDENTIAL_KEYS must hold at least one Fernet key")
    fernets = [Fernet(k.encode() if isinstance(k, str) else k) for k in keys]
    return MultiFernet(fernets), fernets[0]


def _keys() -> tuple[str, ...]:
    # Keyed on the settings value, so override_settings and a rotated key list
    # take effect without a restart of the cache.
    keys: Sequence[str] = settings.STAGEGATE_CREDENTIAL_KEYS
    return tuple(keys)


def encrypt_credential(plaintext: str) -> str:
    multi, _ = _fernets(_keys())
    return multi.encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt_credential(ciphertext: str) -> str:
    multi, _ = _fernets(_keys())
    try:
        return multi.decrypt(ciphertext.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise CredentialUnreadable("no configured key decrypts this credential") from None


def _under_newest_key(newest: Fernet, ciphertext: str) -> bool:
    try:
        newest.decrypt(ciphertext.encode("ascii"))
    except InvalidToken:
        return False
    return True


def credentials_rotate(*, actor: Actor | None = None, batch_size: int = 100) -> int:
    """Re-encrypt every stored credential that is not yet under the newest key.

    Works in batches, each its own transaction with the rows locked, so a large
    table does not hold one long lock and a crash loses at most one batch.
    Returns how many credentials were re-encrypted; running it again returns 0.
    """
    from labs.models import SystemVersion

    actor = actor or system_actor("rotate_credential_keys")
    multi, newest = _fernets(_keys())
    rotated = 0
    last_pk = None
    while True:
        with transaction.atomic():
            qs = SystemVersion.objects.exclude(endpoint_credential_ciphertext="").order_by("pk")
            if last_pk is not None:
                qs = qs.filter(pk__gt=last_pk)
            batch = list(
                qs.select_for_update(of=("self",)).only("pk", "lab", "endpoint_credential_ciphertext")[:batch_size]
            )
            if not batch:
                return rotated
            last_pk = batch[-1].pk
            now = timezone.now()
            for sv in batch:
                if _under_newest_key(newest, sv.endpoint_credential_ciphertext):
                    continue
                try:
                    new = multi.rotate(sv.endpoint_credential_ciphertext.encode("ascii")).decode("ascii")
                except InvalidToken:
                    raise CredentialUnreadable(
                        f"no configured key decrypts the credential of system version {sv.pk}"
                    ) from None
                SystemVersion.objects.filter(pk=sv.pk).update(endpoint_credential_ciphertext=new, updated_at=now)
                audit_event_record(
                    actor=actor,
                    action="system_version.credential_reencrypted",
                    target=sv,
                    before={"has_credential": True},
                    after={"has_credential": True, "under_newest_key": True},
                    organisations=[sv.lab_id],
                )
                rotated += 1
