"""The gateway's per-token grant cache, and the epoch that invalidates it.

Re-reading the grant (one query over nine tables) on every call was most of a
call's cost (docs/performance.md). Each gateway process now keeps the grants
it read, per token digest, and uses one only while all of these hold:

- the **epoch** it was read under is still the current one. The epoch is a
  counter in Redis that every write which can change a grant bumps, once its
  transaction has committed (``connect_signals``: post_save and post_delete of
  the models the grant query reads). The gateway reads the epoch in the same
  Redis script as the rate limits (gateway/proxy/limits.py), so the check costs no
  extra round trip; and since the bump runs before the write's HTTP response
  returns, the very next call sees it. A missing epoch key (Redis flushed or
  restarted) is replaced by a new value from Redis's clock, which no earlier
  value can equal: every cached grant is dropped;
- it was read less than ``STAGEGATE_GATEWAY_GRANT_CACHE_SECONDS`` ago (a bound
  on anything a bump missed: a write made with ``QuerySet.update``, which sends
  no signal, or a bump lost while Redis was unreachable);
- the time-based facts still hold: ``Grant.valid_until`` is the earliest time
  the grant can stop holding by time alone (token expiry, certification expiry,
  KYC re-review due); from then on the grant is read again.

A grant is cached under the epoch observed *before* its query started, and
only when that is still the epoch after the call's admission: a write that
committed after the query's snapshot bumped the epoch after it too. Refusals
are never cached. When Redis fails, the whole cache is dropped (a bump may be
lost while Redis is down)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from gateway.selectors import Grant

logger = logging.getLogger("stagegate.gateway")

EPOCH_KEY = "stagegate:gw:grant-epoch"

# Lua: the epoch, created when missing. A new epoch is Redis's clock in
# microseconds times 1000, as a string (Lua numbers are doubles): bumps add 1,
# so an earlier epoch could only equal it after a thousand bumps per microsecond.
EPOCH_LUA = """
local epoch = redis.call('GET', {key})
if not epoch then
  local t = redis.call('TIME')
  epoch = t[1] .. string.format('%06d', tonumber(t[2])) .. '000'
  redis.call('SET', {key}, epoch)
end
"""

BUMP = (
    EPOCH_LUA.format(key="KEYS[1]")
    + """
return redis.call('INCR', KEYS[1])
"""
)


@dataclass(frozen=True)
class Cached:
    grant: Grant
    epoch: bytes
    read_at: float  # time.monotonic()


class GrantCache:
    """Grants by token digest, for one gateway process."""

    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self.entries: dict[str, Cached] = {}
        # Bumped by clear(): a grant read before a clear is not stored after it.
        self.generation = 0
        self.hits = 0

    def get(self, digest: str) -> Cached | None:
        """The cached grant if it is young enough and holds by time alone; its
        epoch is for the caller to compare with the current one."""
        found = self.entries.get(digest)
        if found is None:
            return None
        if (
            time.monotonic() - found.read_at >= settings.STAGEGATE_GATEWAY_GRANT_CACHE_SECONDS
            or time.time() >= found.grant.valid_until
        ):
            del self.entries[digest]
            return None
        return found

    def put(self, digest: str, grant: Grant, epoch: bytes, read_at: float, generation: int) -> None:
        if generation != self.generation or settings.STAGEGATE_GATEWAY_GRANT_CACHE_SECONDS <= 0:
            return
        if len(self.entries) >= self.MAX_ENTRIES:
            self.entries.clear()  # simple and rare: they are re-read on demand
        self.entries[digest] = Cached(grant, epoch, read_at)

    def drop(self, digest: str) -> None:
        self.entries.pop(digest, None)

    def clear(self) -> None:
        self.entries.clear()
        self.generation += 1


# Writers: bump the epoch once a write that can change a grant has committed.

_bump_scripts: dict[str, Any] = {}


def epoch_bump() -> None:
    """Bump the grant epoch (after a commit). A failure is logged, not raised:
    the write has committed; cached grants then last at most the cache's age."""
    url = settings.STAGEGATE_GATEWAY_REDIS_URL
    try:
        script = _bump_scripts.get(url)
        if script is None:
            timeout = settings.STAGEGATE_GATEWAY_REDIS_TIMEOUT
            client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
            script = _bump_scripts[url] = client.register_script(BUMP)
        script(keys=[EPOCH_KEY])
    except (redis.RedisError, OSError):
        logger.exception("gateway grant epoch: bump failed; cached grants expire within their age limit")


def _grant_inputs_changed(sender: Any, update_fields: Any = None, created: bool = False, **kwargs: Any) -> None:
    fields = _RELEVANT_FIELDS.get(sender)
    if fields is not None and update_fields is not None and not fields & set(update_fields):
        return  # e.g. a user's last_login
    if created and sender in _CREATION_IRRELEVANT:
        return  # a new token changes no cached grant (refusals are not cached)
    using = kwargs.get("using")
    connection = transaction.get_connection(using)
    if connection.in_atomic_block and any(func is epoch_bump for _, func, _ in connection.run_on_commit):
        return  # once per transaction is enough
    transaction.on_commit(epoch_bump, using=using)


# The models the grant query reads, looked up by name once every app is loaded.
GRANT_MODELS = (
    "gateway.GatewayToken",
    "auditing.Certification",
    "auditing.AuditAssignment",
    "auditing.Audit",
    "auditing.ConflictOfInterest",
    # The regulator's register: a relationship in force is a conflict on every
    # call (auditing.standing); an academic's grant has no assignment whose end
    # would show it.
    "auditing.OrganisationRelationship",
    "core.Membership",
    "core.Organisation",
    "labs.SystemVersion",
    "labs.ModelVersion",  # its weights digest (deployed as audited)
    "releases.Release",
    "customers.Enrolment",
    "customers.KycRecord",
)
_RELEVANT_FIELDS: dict[Any, frozenset[str]] = {}
_CREATION_IRRELEVANT: set[Any] = set()


def connect_signals() -> None:
    """Called from GatewayConfig.ready()."""
    from django.apps import apps
    from django.contrib.auth import get_user_model

    user = get_user_model()
    _RELEVANT_FIELDS[user] = frozenset({"is_active"})  # the only field of the user the grant reads
    senders: list[Any] = [user]
    for label in GRANT_MODELS:
        try:
            senders.append(apps.get_model(label))
        except LookupError:  # an app that is not installed (yet)
            continue
    _CREATION_IRRELEVANT.add(apps.get_model("gateway.GatewayToken"))
    for sender in senders:
        post_save.connect(_grant_inputs_changed, sender=sender, dispatch_uid="gateway-grant-epoch")
        post_delete.connect(_grant_inputs_changed, sender=sender, dispatch_uid="gateway-grant-epoch")
