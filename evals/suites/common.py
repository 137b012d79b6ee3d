"""Helpers shared by the single-turn suites."""

from __future__ import annotations

import re


def mentions(text: str, phrases: tuple[str, ...]) -> str | None:
    """The first phrase found as whole words (case-insensitive), or None."""
    for phrase in phrases:
        if re.search(rf"(?<![\w]){re.escape(phrase)}(?![\w])", text, re.IGNORECASE):
            return phrase
    return None
