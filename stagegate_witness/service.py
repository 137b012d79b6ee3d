"""One round of witnessing: fetch the log's latest signed head (and, when it
grew, the consistency proof from the last cosigned head), check it with
``transparency.witness.check``, then cosign and store, or store the evidence
of a split view. Nothing here trusts the log's answers beyond its signature."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from stagegate_witness.config import Config
from stagegate_witness.store import Store
from transparency import witness as rules

logger = logging.getLogger("stagegate.witness")


class LogUnavailable(RuntimeError):
    """The log did not answer usefully this round (retry next round)."""


def _now_ms() -> int:
    return int(time.time() * 1000)


class LogClient:
    """The log's public API, read with the witness's own token."""

    def __init__(self, config: Config) -> None:
        self.base = config.log_url
        self.token = config.log_token
        self.timeout = config.timeout

    def get(self, path: str, **query: int) -> Any:
        try:
            resp = httpx.get(
                f"{self.base}{path}",
                params=query or None,
                headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
                timeout=self.timeout,
            )
        except httpx.HTTPError as e:
            raise LogUnavailable(f"GET {path}: {e}") from None
        if resp.status_code != 200:
            raise LogUnavailable(f"GET {path}: HTTP {resp.status_code}")
        try:
            return resp.json()
        except ValueError:
            raise LogUnavailable(f"GET {path}: not JSON") from None


def poll_once(*, config: Config, store: Store, client: LogClient | None = None) -> rules.Verdict:
    """Witness the log's current head once; returns the verdict."""
    client = client or LogClient(config)
    try:
        new = rules.TreeHead.from_json(client.get("/log/tree-head"))
    except rules.WitnessInputError as e:
        return rules.Verdict(rules.REJECTED, f"malformed tree head: {e}")
    stored = store.last_cosigned()
    last = rules.TreeHead.from_json(stored) if stored else None

    proof: list[bytes] | None = None
    at_last: rules.TreeHead | None = None
    if last is not None and new.tree_size > last.tree_size and rules.log_signature_ok(new, config.log_key):
        try:
            answer = client.get("/log/proof/consistency", first=last.tree_size, second=new.tree_size)
            proof = rules.proof_from_json(answer.get("proof"))
            if answer.get("first") != last.tree_size or answer.get("second") != new.tree_size:
                proof = None
            second = rules.TreeHead.from_json(answer.get("second_tree_head"))
            if second != new:
                # The log changed between the two requests: judge next round.
                return rules.Verdict(rules.REJECTED, "the log's head moved during the round")
            at_last = rules.TreeHead.from_json(answer.get("first_tree_head"))
        except (rules.WitnessInputError, LogUnavailable, AttributeError) as e:
            # No usable proof this round (the network, or a malformed answer):
            # nothing is proven either way, so refuse now and ask again next round.
            return rules.Verdict(rules.REJECTED, f"no usable consistency proof from the log: {e}")
        if proof is None:
            return rules.Verdict(rules.REJECTED, "the log answered a proof for other sizes")

    verdict = rules.check(last=last, new=new, proof=proof, log_key=config.log_key, log_head_at_last_size=at_last)
    if verdict.cosign:
        record = rules.cosign(head=new, witness_key=config.signing_key, cosigned_at=_now_ms())
        store.add_cosignature(record)
        logger.info("cosigned the log's head of %s entries (%s)", new.tree_size, verdict.reason)
    elif verdict.alarm:
        alarm = rules.alarm_sign(verdict=verdict, witness_key=config.signing_key, detected_at=_now_ms())
        if store.add_split_view(alarm):
            logger.error("SPLIT VIEW: refused to cosign: %s (evidence %s)", verdict.reason, alarm["digest"])
    elif verdict.outcome == rules.REJECTED:
        logger.warning("refused the log's head: %s", verdict.reason)
    return verdict
