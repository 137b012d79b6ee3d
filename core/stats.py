"""Rates with confidence intervals, and the bounds gates decide on. Pure: no
Django (standards, evals and deploy all use it)."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054  # two-sided 95% normal quantile


@dataclass(frozen=True)
class Rate:
    successes: int
    trials: int
    low: float
    high: float

    @property
    def value(self) -> float | None:
        return self.successes / self.trials if self.trials else None

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "count": self.successes,
            "of": self.trials,
            "rate": self.value,
            "ci95_low": self.low,
            "ci95_high": self.high,
        }


def wilson(successes: int, trials: int, z: float = Z95) -> Rate:
    """The Wilson score interval (Wilson 1927): sound at small n and at rates
    near 0 or 1, where the normal approximation collapses to a zero-width
    interval. With no trials the interval is the whole of [0, 1]."""
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes}/{trials}")
    if trials == 0:
        return Rate(0, 0, 0.0, 1.0)
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return Rate(successes, trials, max(0.0, centre - half), min(1.0, centre + half))
