"""The usage a lab's endpoint reports, checked before it reaches anything.

The upstream's ``usage`` object is the lab's claim: the gateway counts it
against the token's daily quota (a Redis script, gateway/proxy/limits.py) and writes
it to the access log (a PostgreSQL ``integer``). A count that is not a
plausible number of tokens would error the script or the insert, so it is
clamped here, once, and the call's entry says so (``usage_clamped``):

- a count that is not a JSON integer (a float, a string, a bool, null when
  present as something else, an object) or is negative is unknown: 0;
- a count above ``USAGE_CEILING`` is the ceiling; so is a total above it;
- a missing total is prompt + completion, as before.

Only the three counts are read, so the check costs the same whatever else the
object holds."""

from __future__ import annotations

from typing import Any

# The most tokens one call may be recorded or charged as (far above any model's
# context, far below PostgreSQL's integer and Lua's exact integers).
USAGE_CEILING = 1_000_000_000

Usage = tuple[int, int, int, bool]  # prompt, completion, total, clamped

NO_USAGE: Usage = (0, 0, 0, False)


def clamp_count(value: int) -> int:
    """A count already meant to be an int, within 0 .. USAGE_CEILING (the last
    check before a number goes to the quota script)."""
    if type(value) is not int or value < 0:
        return 0
    return value if value <= USAGE_CEILING else USAGE_CEILING


def usage_of(data: Any) -> Usage:
    """(prompt, completion, total, clamped) from a completion or chunk object."""
    usage = data.get("usage") if type(data) is dict else None
    if usage is None:
        return NO_USAGE
    if type(usage) is not dict:
        return 0, 0, 0, True
    prompt, completion, total = usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("total_tokens")
    if (
        type(prompt) is int
        and type(completion) is int
        and type(total) is int
        and 0 <= prompt <= USAGE_CEILING
        and 0 <= completion <= USAGE_CEILING
        and 0 < total <= USAGE_CEILING
    ):
        return prompt, completion, total, False  # an honest upstream's usage
    return _checked(prompt, completion, total)


def _checked(*values: Any) -> Usage:
    clamped = False
    counts = [0, 0, 0]
    for i, v in enumerate(values):
        if type(v) is int and 0 <= v <= USAGE_CEILING:
            counts[i] = v
        elif v is not None:
            clamped = True
            if type(v) is int and v > 0:
                counts[i] = USAGE_CEILING
    prompt, completion, total = counts
    if not total:
        total = prompt + completion
        if total > USAGE_CEILING:
            total, clamped = USAGE_CEILING, True
    return prompt, completion, total, clamped
