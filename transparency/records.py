"""What a transparency-log record may hold. Every signed-in user (and, in
time, anyone) reads the log, so a record carries ids that are public in their
own right and digests, never free text, names or the ids of private parties:

- ``text_digest(text)``: a reason, a note, a description. The service keeps
  the text where only those who may read it do; the log proves it was fixed
  at that moment and never changed.
- ``private_ref(kind, id)``: a customer organisation, a user. A keyed digest
  (HMAC-SHA256 under a key derived from the log's signing key): whoever may
  see the id can ask the service for its reference and find the entries that
  name it; whoever may not cannot link, enumerate or confirm it (a plain
  SHA-256 of an id they can guess would confirm it).
- ``actor_role(actor)``: who acted, as a role (``regulator``, ``lab``,
  ``auditor``, ``system``), never a username; the audit trail names the
  person for those who may read it."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from django.conf import settings

from core.actors import Actor

REF_KEY_LABEL = b"stagegate.transparency.private-ref/1"


def text_digest(text: str | None) -> str | None:
    """SHA-256 of the text as UTF-8; None for no text."""
    if text is None:
        return None
    return hashlib.sha256(text.encode()).hexdigest()


def _ref_key() -> bytes:
    seed = base64.b64decode(settings.STAGEGATE_LOG_SIGNING_KEY)
    return hmac.new(seed, REF_KEY_LABEL, hashlib.sha256).digest()


def private_ref(kind: str, value: Any) -> str | None:
    """The log's reference to a private party's id; None for no id."""
    if value is None:
        return None
    return hmac.new(_ref_key(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def actor_role(actor: Actor) -> str:
    """Who acted, as a role the log may show."""
    if actor.user is None:
        return "system"
    if actor.is_regulator:
        return "regulator"
    if actor.lab_ids:
        return "lab"
    if actor.auditor_org_ids:
        return "auditor"
    return "user"
