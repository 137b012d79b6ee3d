"""Helpers shared by the single-turn suites."""

from __future__ import annotations

import re
from collections.abc import Iterable

from core.stats import Rate, wilson


def mentions(text: str, phrases: tuple[str, ...]) -> str | None:
    """The first phrase found as whole words (case-insensitive), or None."""
    for phrase in phrases:
        if re.search(rf"(?<![\w]){re.escape(phrase)}(?![\w])", text, re.IGNORECASE):
            return phrase
    return None


def rate_among_valid(
    labels: Iterable[dict[str, str]], *, key: str, metric: str, hit: str, valid: tuple[str, ...]
) -> dict[str, Rate]:
    """``metric``: how often the label under ``key`` is ``hit`` among the
    samples whose label is one of ``valid``; ``invalid_rate``: how often it is
    ``invalid`` among all of them."""
    rows = [r.get(key) for r in labels]
    graded = [r for r in rows if r in valid]
    return {
        metric: wilson(sum(r == hit for r in graded), len(graded)),
        "invalid_rate": wilson(sum(r == "invalid" for r in rows), len(rows)),
    }
