"""STAGEGATE_ENV=production refuses every unsafe default and accepts a safe
configuration. Each case loads the settings in a fresh interpreter, as a server
process would, with nothing inherited from the test environment."""

from __future__ import annotations

import base64
import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parents[2]
LOAD = (
    "import django; django.setup(); from django.conf import settings; "
    "print('loaded', settings.DEBUG, settings.DATABASES['default']['NAME'])"
)


def load_settings(env: dict[str, str], state_dir: Path) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "STAGEGATE_STATE_DIR": str(state_dir),
    }
    return subprocess.run(
        [sys.executable, "-c", LOAD],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


SAFE = {
    "STAGEGATE_ENV": "production",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "stagegate.example.org",
    "DATABASE_URL": "postgres://stagegate:pw@db.invalid:5432/stagegate?sslmode=verify-full",
    "REDIS_URL": "rediss://:pw@redis.invalid:6380/0?ssl_cert_reqs=required",
    "STAGEGATE_CREDENTIAL_KEYS": Fernet.generate_key().decode(),
    "STAGEGATE_LOG_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    "STAGEGATE_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "STAGEGATE_WITNESS_URL": "https://witness.regulator.example",
    "STAGEGATE_WITNESS_PUBLIC_KEY": Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode(),
}


def test_safe_production_configuration_loads(tmp_path: Path) -> None:
    result = load_settings(SAFE, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "loaded False" in result.stdout
    # Production never generates local secrets.
    assert not any(tmp_path.iterdir())


def without(*names: str) -> dict[str, str]:
    return {k: v for k, v in SAFE.items() if k not in names}


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        pytest.param({**SAFE, "DEBUG": "true"}, "DEBUG must be off", id="debug-on"),
        pytest.param(without("SECRET_KEY"), "SECRET_KEY must be set", id="no-secret-key"),
        pytest.param({**SAFE, "SECRET_KEY": "short-and-guessable"}, "SECRET_KEY must be set", id="short-secret-key"),
        pytest.param(without("ALLOWED_HOSTS"), "ALLOWED_HOSTS must name", id="no-allowed-hosts"),
        pytest.param(
            {**SAFE, "ALLOWED_HOSTS": "stagegate.example.org,*"}, "ALLOWED_HOSTS must name", id="wildcard-host"
        ),
        pytest.param(without("DATABASE_URL"), "DATABASE_URL", id="no-database-url"),
        pytest.param(without("STAGEGATE_EMAIL_BACKEND"), "must deliver email", id="console-email"),
        pytest.param(without("STAGEGATE_WITNESS_URL"), "independent witness", id="no-witness"),
        pytest.param(
            {**SAFE, "STAGEGATE_WITNESS_DATABASE_URL": "postgres://w@db.invalid/witness"},
            "witness's alone",
            id="witness-database-in-service-env",
        ),
        pytest.param({**SAFE, "DATABASE_URL": "sqlite:////tmp/x.sqlite3"}, "must point at PostgreSQL", id="sqlite"),
        pytest.param(
            without("STAGEGATE_CREDENTIAL_KEYS"), "STAGEGATE_CREDENTIAL_KEYS must hold", id="no-credential-keys"
        ),
        pytest.param(
            {**SAFE, "STAGEGATE_ALLOW_PRIVATE_UPSTREAMS": "true"},
            "STAGEGATE_ALLOW_PRIVATE_UPSTREAMS must be off",
            id="private-upstreams",
        ),
        pytest.param(without("REDIS_URL"), "REDIS_URL must be set", id="no-redis-url"),
        pytest.param(
            without("STAGEGATE_LOG_SIGNING_KEY"), "STAGEGATE_LOG_SIGNING_KEY must hold", id="no-log-signing-key"
        ),
        pytest.param(
            {**SAFE, "STAGEGATE_LOG_SIGNING_KEY": "c2hvcnQ="}, "STAGEGATE_LOG_SIGNING_KEY must hold", id="short-log-key"
        ),
        # A long key is not a random one.
        pytest.param({**SAFE, "SECRET_KEY": "x" * 80}, "SECRET_KEY must be", id="one-character-secret-key"),
        pytest.param({**SAFE, "SECRET_KEY": secrets.token_hex(40)}, "SECRET_KEY must be", id="hex-secret-key"),
        pytest.param(
            {**SAFE, "SECRET_KEY": string.ascii_letters[:30] * 2}, "SECRET_KEY must be", id="repeated-secret-key"
        ),
        pytest.param(
            {**SAFE, "SECRET_KEY": "django-insecure-" + secrets.token_urlsafe(50)},
            "SECRET_KEY must be",
            id="django-insecure-secret-key",
        ),
        pytest.param(
            {**SAFE, "STAGEGATE_LOG_SIGNING_KEY": base64.b64encode(bytes(32)).decode()},
            "STAGEGATE_LOG_SIGNING_KEY must hold",
            id="all-zero-log-key",
        ),
        pytest.param(
            {**SAFE, "STAGEGATE_LOG_SIGNING_KEY": base64.b64encode(b"\x01\x02" * 16).decode()},
            "STAGEGATE_LOG_SIGNING_KEY must hold",
            id="patterned-log-key",
        ),
        pytest.param(
            {**SAFE, "STAGEGATE_CREDENTIAL_KEYS": "not-a-fernet-key"},
            "STAGEGATE_CREDENTIAL_KEYS: key 1 is not a Fernet key",
            id="invalid-credential-key",
        ),
        pytest.param(
            {
                **SAFE,
                "STAGEGATE_CREDENTIAL_KEYS": f"{Fernet.generate_key().decode()},{base64.b64encode(bytes(16)).decode()}",
            },
            "STAGEGATE_CREDENTIAL_KEYS: key 2 is not a Fernet key",
            id="short-second-credential-key",
        ),
        pytest.param(
            {**SAFE, "STAGEGATE_CREDENTIAL_KEYS": base64.urlsafe_b64encode(bytes(32)).decode()},
            "STAGEGATE_CREDENTIAL_KEYS: key 1 is not a Fernet key",
            id="all-zero-credential-key",
        ),
        pytest.param(
            {**SAFE, "DATABASE_URL": "postgres://stagegate:pw@db.invalid:5432/stagegate"},
            "DATABASE_URL must ask for TLS",
            id="database-without-tls",
        ),
        pytest.param(
            {**SAFE, "DATABASE_URL": "postgres://stagegate:pw@db.invalid:5432/stagegate?sslmode=prefer"},
            "DATABASE_URL must ask for TLS",
            id="database-tls-preferred-only",
        ),
        pytest.param(
            {**SAFE, "REDIS_URL": "redis://:pw@redis.invalid:6379/0"}, "REDIS_URL must use rediss://", id="redis-no-tls"
        ),
        pytest.param(
            {**SAFE, "STAGEGATE_GATEWAY_REDIS_URL": "redis://redis.invalid:6379/1"},
            "STAGEGATE_GATEWAY_REDIS_URL must use rediss://",
            id="gateway-redis-no-tls",
        ),
        pytest.param(
            {
                **SAFE,
                "DATABASE_URL": "postgres://stagegate:pw@db.invalid:5432/stagegate",
                "STAGEGATE_ALLOW_PLAINTEXT_INTERNAL": "false",
            },
            "DATABASE_URL must ask for TLS",
            id="plaintext-allowance-off",
        ),
    ],
)
def test_production_refuses_unsafe_setting(env: dict[str, str], problem: str, tmp_path: Path) -> None:
    result = load_settings(env, tmp_path)
    assert result.returncode != 0
    assert "loaded" not in result.stdout
    assert problem in result.stderr, result.stderr[-2000:]


def test_refusals_never_echo_the_secrets(tmp_path: Path) -> None:
    weak_key = "correct-horse-battery-staple-" * 3
    fernet = "not-a-fernet-key-but-secret"
    result = load_settings({**SAFE, "SECRET_KEY": weak_key, "STAGEGATE_CREDENTIAL_KEYS": fernet}, tmp_path)
    assert result.returncode != 0
    assert weak_key not in result.stderr and fernet not in result.stderr


@pytest.mark.parametrize(
    "env",
    [
        pytest.param(
            {
                **SAFE,
                "DATABASE_URL": "postgres://stagegate:pw@db.internal:5432/stagegate",
                "REDIS_URL": "redis://redis.internal:6379/0",
                "STAGEGATE_ALLOW_PLAINTEXT_INTERNAL": "true",
            },
            id="plaintext-on-a-private-network-when-allowed",
        ),
        pytest.param(
            {**SAFE, "DATABASE_URL": "postgres://stagegate:pw@db.invalid:5432/stagegate?sslmode=require"},
            id="database-tls-required",
        ),
        pytest.param(
            {
                **SAFE,
                "DATABASE_URL": "postgres://stagegate@/stagegate?host=/var/run/postgresql",
                "REDIS_URL": "unix:///var/run/redis/redis.sock?db=0",
            },
            id="unix-sockets-never-leave-the-host",
        ),
        pytest.param(
            {**SAFE, "STAGEGATE_CREDENTIAL_KEYS": f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}"},
            id="two-credential-keys-during-rotation",
        ),
        pytest.param({**SAFE, "SECRET_KEY": secrets.token_urlsafe(50)}, id="another-generated-secret-key"),
        pytest.param(
            {**SAFE, "SECRET_KEY": base64.b64encode(secrets.token_bytes(48)).decode()}, id="openssl-rand-base64-48"
        ),
    ],
)
def test_production_accepts(env: dict[str, str], tmp_path: Path) -> None:
    result = load_settings(env, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "loaded False" in result.stdout


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    # An operator fixes everything in one go instead of one error per restart.
    result = load_settings({**without("SECRET_KEY", "ALLOWED_HOSTS", "REDIS_URL"), "DEBUG": "1"}, tmp_path)
    assert result.returncode != 0
    for problem in ("DEBUG must be off", "SECRET_KEY must be set", "ALLOWED_HOSTS must name", "REDIS_URL must be set"):
        assert problem in result.stderr


def test_unknown_environment_name_is_refused(tmp_path: Path) -> None:
    result = load_settings({**SAFE, "STAGEGATE_ENV": "prod"}, tmp_path)
    assert result.returncode != 0
    assert "STAGEGATE_ENV must be development, test or production" in result.stderr


def test_development_defaults_need_no_configuration(tmp_path: Path) -> None:
    result = load_settings({}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "loaded True" in result.stdout
    # SQLite and generated secrets live in the state directory, readable by the owner only.
    for name in ("secret_key", "credential_key"):
        assert (tmp_path / name).stat().st_mode & 0o077 == 0
    assert result.stdout.split()[-1] == str(tmp_path / "stagegate.sqlite3")
