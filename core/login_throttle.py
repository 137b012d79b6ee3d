"""Limits on failed password sign-ins (the portal and the admin).

Counted in Redis, so the limits hold across every web process: after
``STAGEGATE_LOGIN_MAX_FAILURES_PER_USER`` failures for one username, or
``STAGEGATE_LOGIN_MAX_FAILURES_PER_ADDRESS`` from one client address, within
``STAGEGATE_LOGIN_WINDOW_SECONDS`` of the first, every further attempt is
refused, right password or not, until the window ends. A successful sign-in
clears its username's count (not its address's: one good account must not
launder guesses at others).

Two parts, so no password path escapes: ``ThrottleBackend`` sits first in
AUTHENTICATION_BACKENDS and refuses (PermissionDenied stops Django's
``authenticate``) while a limit is reached; the ``user_login_failed`` and
``user_logged_in`` signals count and clear. The portal's login view also asks
``seconds_locked`` to say why, with 429.

If Redis cannot be reached the counts are kept in this process instead
(bounded), so a Redis outage weakens the limit to one per process rather than
lifting it or locking everyone out.

**A known device is not locked out by strangers.** The per-username limit
alone would let anyone lock a known user (the regulator) out with a few bad
passwords. So a successful sign-in leaves a signed device cookie
(``DEVICE_COOKIE``, HttpOnly, for ``DEVICE_DAYS``); an attempt that carries a
valid one for the username it names is counted against that device's own
limit instead of the username's, so failures elsewhere do not stop it, while
guesses from anywhere else still meet the username's limit (and every
attempt meets its address's)."""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections import OrderedDict
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from core.redis_client import redis_client

logger = logging.getLogger("stagegate.login")

_PREFIX = "stagegate:login:"
DEVICE_COOKIE = "stagegate_device"
DEVICE_DAYS = 90
_DEVICE_SALT = "stagegate.login.device"


def _user_digest(username: str) -> str:
    return hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]


def _device(request: HttpRequest | None, digest: str) -> str | None:
    """The id of the request's device cookie when it was issued to this
    username, else None."""
    raw = request.COOKIES.get(DEVICE_COOKIE) if request is not None else None
    if not raw:
        return None
    try:
        value = signing.loads(raw, salt=_DEVICE_SALT, max_age=DEVICE_DAYS * 86400)
    except signing.BadSignature:
        return None
    if not isinstance(value, dict) or value.get("u") != digest or not isinstance(value.get("d"), str):
        return None
    return str(value["d"])


def _keys(request: HttpRequest | None, username: str | None) -> list[tuple[str, int]]:
    """(key, limit) for the username — or, on a device the username signed in
    from before, that device — and the client address of an attempt.
    Usernames are hashed (no one's name sits in Redis) and case-folded (the
    same account, spelt two ways, is one account)."""
    keys = []
    if username:
        digest = _user_digest(username)
        device = _device(request, digest)
        key = f"{_PREFIX}user:{digest}" + (f":device:{device}" if device else "")
        keys.append((key, settings.STAGEGATE_LOGIN_MAX_FAILURES_PER_USER))
    address = request.META.get("REMOTE_ADDR") if request is not None else None
    if address:
        keys.append((f"{_PREFIX}addr:{address}", settings.STAGEGATE_LOGIN_MAX_FAILURES_PER_ADDRESS))
    return keys


class _Local:
    """The fallback while Redis is down: counts with an expiry, in this process."""

    MAX = 10_000

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def get(self, key: str) -> tuple[int, float]:
        with self.lock:
            count, until = self.counts.get(key, (0, 0.0))
            return (count, until) if until > time.monotonic() else (0, 0.0)

    def incr(self, key: str, window: int) -> None:
        with self.lock:
            count, until = self.counts.pop(key, (0, 0.0))
            if until <= time.monotonic():
                count, until = 0, time.monotonic() + window
            self.counts[key] = (count + 1, until)
            while len(self.counts) > self.MAX:
                self.counts.popitem(last=False)

    def delete(self, key: str) -> None:
        with self.lock:
            self.counts.pop(key, None)


_local = _Local()


def _redis() -> Any:
    return redis_client(settings.REDIS_URL, 0.5)


def seconds_locked(request: HttpRequest | None, username: str | None) -> int:
    """How long attempts for this username or from this address stay refused (0: not)."""
    keys = _keys(request, username)
    if not keys:
        return 0
    try:
        pipe = _redis().pipeline(transaction=False)
        for key, _ in keys:
            pipe.get(key)
            pipe.pttl(key)
        replies = pipe.execute()
        found = [(int(replies[2 * i] or 0), max(0, int(replies[2 * i + 1])) / 1000) for i in range(len(keys))]
    except (redis.RedisError, OSError):
        now = time.monotonic()
        found = [(count, until - now) for count, until in (_local.get(key) for key, _ in keys)]
    waits = [left for (count, left), (_, limit) in zip(found, keys, strict=True) if count >= limit]
    return int(max(waits) + 0.999) if waits else 0


def _record_failure(request: HttpRequest | None, username: str | None) -> None:
    window = settings.STAGEGATE_LOGIN_WINDOW_SECONDS
    keys = _keys(request, username)
    try:
        pipe = _redis().pipeline(transaction=False)
        for key, _ in keys:
            pipe.set(key, 0, ex=window, nx=True)  # the window starts at the first failure
            pipe.incr(key)  # keeps the expiry
        pipe.execute()
    except (redis.RedisError, OSError):
        logger.warning("sign-in limits: Redis unreachable; counting in this process")
        for key, _ in keys:
            _local.incr(key, window)


def _clear_user(request: HttpRequest | None, username: str) -> None:
    keys = [key for key, _ in _keys(request, username) if f"{_PREFIX}addr:" not in key]
    try:
        _redis().delete(*keys)
    except (redis.RedisError, OSError):
        pass
    for key in keys:
        _local.delete(key)


class ThrottleBackend:
    """First in AUTHENTICATION_BACKENDS: refuses every attempt while a limit
    is reached; otherwise lets the next backend decide."""

    # No get_user: this backend never signs anyone in, so no session names it
    # (and Django's test client's force_login passes over it).

    def authenticate(self, request: HttpRequest | None, username: str | None = None, **kwargs: Any) -> None:
        if seconds_locked(request, username):
            raise PermissionDenied("too many failed sign-ins")
        return None


@receiver(user_login_failed, dispatch_uid="stagegate-login-throttle-failed")
def _on_failure(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    _record_failure(request, credentials.get("username"))


@receiver(user_logged_in, dispatch_uid="stagegate-login-throttle-ok")
def _on_success(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    _clear_user(request, user.get_username())
    if request is not None:
        # DeviceCookieMiddleware sets it on the response (a signal has none).
        digest = _user_digest(user.get_username())
        device = _device(request, digest) or secrets.token_hex(8)
        request._stagegate_device_cookie = signing.dumps({"u": digest, "d": device}, salt=_DEVICE_SALT)  # type: ignore[attr-defined]


class DeviceCookieMiddleware:
    """Sets the device cookie a successful password sign-in asked for."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response: HttpResponse = self.get_response(request)
        value = getattr(request, "_stagegate_device_cookie", None)
        if value:
            response.set_cookie(
                DEVICE_COOKIE,
                value,
                max_age=DEVICE_DAYS * 86400,
                httponly=True,
                secure=settings.SESSION_COOKIE_SECURE,
                samesite="Lax",
            )
        return response
