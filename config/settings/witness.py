"""The log's side of the independent witness (docs/witness.md).

The witness is a separate process with its own database and its own key
(``python -m stagegate_witness``, configured by STAGEGATE_WITNESS_* variables
in *its* environment). The log's settings deliberately hold no credentials for
the witness's database: the log only reads what the witness publishes over
HTTP and checks it against the witness's public key pinned here."""

from __future__ import annotations

from config.settings.env import env

# Where the witness publishes its cosigned heads and split-view alarms, e.g.
# https://witness.regulator.example (empty: no witness configured).
STAGEGATE_WITNESS_URL: str = env.str("STAGEGATE_WITNESS_URL", default="").rstrip("/")

# The witness's Ed25519 public key (SubjectPublicKeyInfo PEM). Cosignatures and
# alarms that do not verify under it are ignored.
STAGEGATE_WITNESS_PUBLIC_KEY: str = env.str("STAGEGATE_WITNESS_PUBLIC_KEY", default="").replace("\\n", "\n")

# Seconds to wait for the witness before giving up (pages fall back to "not yet
# cosigned"; the periodic pull retries).
STAGEGATE_WITNESS_TIMEOUT: float = env.float("STAGEGATE_WITNESS_TIMEOUT", default=3.0)

# Who is told, besides the regulator's audit trail, when the witness reports a
# split view: the regulator's duty addresses.
STAGEGATE_WITNESS_ALERT_EMAILS: list[str] = env.list("STAGEGATE_WITNESS_ALERT_EMAILS", default=[])
