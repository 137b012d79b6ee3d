"""Endpoint credentials: encrypted at rest, readable across a key rotation."""

from __future__ import annotations

import io
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import override_settings

from core.models import AuditEvent
from labs.credentials import CredentialUnreadable, credentials_rotate, decrypt_credential, encrypt_credential
from labs.models import SystemVersion
from tests.labs.conftest import CREDENTIAL, OTHER_CREDENTIAL


def key() -> str:
    return Fernet.generate_key().decode()


def test_round_trip_and_ciphertext_hides_the_value() -> None:
    ciphertext = encrypt_credential(CREDENTIAL)
    assert CREDENTIAL not in ciphertext
    assert decrypt_credential(ciphertext) == CREDENTIAL
    # Fernet is randomised: the same value encrypts differently each time.
    assert encrypt_credential(CREDENTIAL) != ciphertext


def test_a_different_key_cannot_decrypt() -> None:
    ciphertext = encrypt_credential(CREDENTIAL)
    with override_settings(STAGEGATE_CREDENTIAL_KEYS=[key()]), pytest.raises(CredentialUnreadable):
        decrypt_credential(ciphertext)


def test_no_keys_is_a_configuration_error() -> None:
    with override_settings(STAGEGATE_CREDENTIAL_KEYS=[]), pytest.raises(ImproperlyConfigured):
        encrypt_credential(CREDENTIAL)


def test_override_settings_takes_effect_between_calls() -> None:
    a, b = key(), key()
    with override_settings(STAGEGATE_CREDENTIAL_KEYS=[a]):
        under_a = encrypt_credential("x")
    with override_settings(STAGEGATE_CREDENTIAL_KEYS=[b]):
        with pytest.raises(CredentialUnreadable):
            decrypt_credential(under_a)
        assert Fernet(b.encode()).decrypt(encrypt_credential("y").encode()) == b"y"


def test_old_keys_still_decrypt_until_dropped() -> None:
    a, b = key(), key()
    with override_settings(STAGEGATE_CREDENTIAL_KEYS=[a]):
        ciphertext = encrypt_credential(CREDENTIAL)
    with override_settings(STAGEGATE_CREDENTIAL_KEYS=[b, a]):
        assert decrypt_credential(ciphertext) == CREDENTIAL
        # New values go under the newest key.
        assert Fernet(b.encode()).decrypt(encrypt_credential("new").encode()) == b"new"


def _ciphertexts() -> dict[Any, str]:
    return dict(SystemVersion.objects.values_list("pk", "endpoint_credential_ciphertext"))


@pytest.mark.django_db
def test_rotation_re_encrypts_every_credential_under_the_newest_key(
    world: Any, system_version: Any, other_system_version: Any, credential_key: str
) -> None:
    """Encrypt under A; keys become [B, A]; rotate; keys become [B]; decrypt still works."""
    a, b = credential_key, key()
    # A system version without a credential is left alone.
    from tests.labs.conftest import make_system_version

    bare = make_system_version(
        world.lab_admin, world.lab, system_version.model_version, name="no-credential", endpoint_credential=None
    )
    before = _ciphertexts()
    with override_settings(STAGEGATE_CREDENTIAL_KEYS=[b, a]):
        assert credentials_rotate(batch_size=1) == 2  # batches of one: the loop must continue
        after = _ciphertexts()
        assert credentials_rotate() == 0  # already under the newest key
    assert after[bare.pk] == "" == before[bare.pk]
    assert after[system_version.pk] != before[system_version.pk]
    with override_settings(STAGEGATE_CREDENTIAL_KEYS=[b]):
        assert decrypt_credential(after[system_version.pk]) == CREDENTIAL
        assert decrypt_credential(after[other_system_version.pk]) == OTHER_CREDENTIAL
        with pytest.raises(CredentialUnreadable):
            decrypt_credential(before[system_version.pk])  # the old ciphertext needed A

    events = AuditEvent.objects.filter(action="system_version.credential_reencrypted")
    assert {e.target_id for e in events} == {str(system_version.pk), str(other_system_version.pk)}
    for event in events:
        assert event.actor is None and event.actor_label == "system:rotate_credential_keys"
        text = str(event.before) + str(event.after)
        assert CREDENTIAL not in text and OTHER_CREDENTIAL not in text
        assert before[system_version.pk] not in text and after[system_version.pk] not in text
    assert set(events.get(target_id=str(system_version.pk)).organisations.all()) == {world.lab}


@pytest.mark.django_db
def test_rotation_leaves_the_configuration_untouched(system_version: Any, credential_key: str) -> None:
    row = SystemVersion.objects.values().get(pk=system_version.pk)
    with override_settings(STAGEGATE_CREDENTIAL_KEYS=[key(), credential_key]):
        credentials_rotate()
    rotated = SystemVersion.objects.values().get(pk=system_version.pk)
    changed = {k for k in row if row[k] != rotated[k]}
    assert changed == {"endpoint_credential_ciphertext", "updated_at"}


@pytest.mark.django_db
def test_rotation_refuses_a_credential_no_key_can_read(system_version: Any) -> None:
    with override_settings(STAGEGATE_CREDENTIAL_KEYS=[key()]), pytest.raises(CredentialUnreadable):
        credentials_rotate()


@pytest.mark.django_db
def test_management_command(system_version: Any, credential_key: str) -> None:
    b = key()
    out = io.StringIO()
    with override_settings(STAGEGATE_CREDENTIAL_KEYS=[b, credential_key]):
        call_command("rotate_credential_keys", stdout=out)
    assert "Re-encrypted 1 credential(s)" in out.getvalue()
    with override_settings(STAGEGATE_CREDENTIAL_KEYS=[b]):
        ciphertext = SystemVersion.objects.get(pk=system_version.pk).endpoint_credential_ciphertext
        assert decrypt_credential(ciphertext) == CREDENTIAL
        out = io.StringIO()
        call_command("rotate_credential_keys", stdout=out)
        assert "Re-encrypted 0 credential(s)" in out.getvalue()
