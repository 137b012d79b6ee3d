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


def wilson_upper(successes: float, trials: float, z: float = Z95) -> float:
    """The upper end of the Wilson interval for ``successes`` of ``trials``.
    Counts may be fractional (effective counts after a design effect). With no
    trials the bound is 1: nothing is known."""
    if trials <= 0:
        return 1.0
    if successes < 0 or successes > trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes}/{trials}")
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return min(1.0, centre + half)


def zero_event_trials(threshold: float, z: float = Z95) -> int:
    """The fewest trials for which 0 events give a Wilson upper bound within
    ``threshold``: 0/n has upper bound z²/(n + z²), so n ≥ z²(1 − t)/t."""
    if not 0 < threshold <= 1:
        raise ValueError("the threshold must be in (0, 1]")
    n = max(1, math.ceil(z * z * (1 - threshold) / threshold - 1e-9))
    while wilson_upper(0, n, z) > threshold:  # guard the float arithmetic
        n += 1
    return n


def design_effect(clusters: list[tuple[int, int]]) -> float:
    """How much repeats of the same item inflate the variance of a pooled rate:
    the cluster-robust (sandwich) variance of the proportion over the simple
    binomial one, from (events, trials) per item. At least 1 (never narrower
    than independent trials); 1 when it cannot be estimated (fewer than two
    items, or no variation at all)."""
    clusters = [(y, n) for y, n in clusters if n > 0]
    total = sum(n for _, n in clusters)
    events = sum(y for y, _ in clusters)
    k = len(clusters)
    if k < 2 or events in (0, total):
        return 1.0
    p = events / total
    robust = k / (k - 1) * sum((y - p * n) ** 2 for y, n in clusters) / (total * total)
    simple = p * (1 - p) / total
    return max(1.0, robust / simple)


@dataclass(frozen=True)
class Bound:
    """The gated statistic: events of trials, the design effect applied, and
    the upper end of the 95% Wilson interval over the effective counts."""

    events: int
    trials: int
    design_effect: float
    upper: float

    @property
    def effective_trials(self) -> float:
        return self.trials / self.design_effect

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "count": self.events,
            "of": self.trials,
            "rate": self.events / self.trials if self.trials else None,
            "design_effect": round(self.design_effect, 4),
            "effective_trials": round(self.effective_trials, 2),
            "upper95": self.upper,
        }


def upper_bound(events: int, trials: int, *, design_effect: float = 1.0) -> Bound:
    """The Wilson upper bound over effective counts (events and trials divided
    by the design effect), the usual survey-statistics adjustment for
    clustered binary data."""
    deff = max(1.0, design_effect)
    return Bound(events, trials, deff, wilson_upper(events / deff, trials / deff))


@dataclass(frozen=True)
class Difference:
    """A difference of two rates (a − b) with Newcombe's hybrid score 95%
    interval (Newcombe 1998, method 10), built from each rate's Wilson limits."""

    estimate: float | None
    low: float
    high: float

    @property
    def direction(self) -> str:
        if self.estimate is None:
            return "n/a"
        if self.low > 0:
            return "higher"
        if self.high < 0:
            return "lower"
        return "no clear difference"

    def as_dict(self) -> dict[str, float | str | None]:
        return {"difference": self.estimate, "ci95_low": self.low, "ci95_high": self.high, "direction": self.direction}


def difference(a: Rate, b: Rate) -> Difference:
    pa, pb = a.value, b.value
    if pa is None or pb is None:
        return Difference(None, -1.0, 1.0)
    d = pa - pb
    low = d - math.sqrt((pa - a.low) ** 2 + (b.high - pb) ** 2)
    high = d + math.sqrt((a.high - pa) ** 2 + (pb - b.low) ** 2)
    return Difference(d, max(-1.0, low), min(1.0, high))
