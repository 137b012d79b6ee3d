"""Agreement between two raters of the same items (rules, an LLM judge, human
labels): the confusion matrix and Cohen's kappa. Pure: no Django.

Cohen's kappa is (p_o - p_e) / (1 - p_e): p_o the share of items both raters
label alike, p_e the share they would agree on by chance, from each rater's
own label frequencies. It is undefined when chance agreement is certain (both
raters give every item one and the same label); ``kappa`` is then None, never
a made-up 0 or 1."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Agreement:
    labels: tuple[str, ...]
    # counts[i][j]: items the first rater labelled labels[i] and the second labels[j].
    counts: tuple[tuple[int, ...], ...]

    @property
    def n(self) -> int:
        return sum(sum(row) for row in self.counts)

    @property
    def observed(self) -> float | None:
        """The share of items the raters label alike (p_o)."""
        if not self.n:
            return None
        return sum(self.counts[i][i] for i in range(len(self.labels))) / self.n

    @property
    def expected(self) -> float | None:
        """The agreement expected by chance from each rater's label frequencies (p_e)."""
        if not self.n:
            return None
        rows = [sum(row) for row in self.counts]
        cols = [sum(row[j] for row in self.counts) for j in range(len(self.labels))]
        return sum(r * c for r, c in zip(rows, cols, strict=True)) / (self.n * self.n)

    @property
    def kappa(self) -> float | None:
        po, pe = self.observed, self.expected
        if po is None or pe is None or pe >= 1.0:
            return None
        return (po - pe) / (1.0 - pe)

    def as_dict(self) -> dict[str, object]:
        return {
            "labels": list(self.labels),
            "counts": [list(row) for row in self.counts],
            "n": self.n,
            "observed": self.observed,
            "expected": self.expected,
            "kappa": self.kappa,
        }

    def table(self, first: str = "first", second: str = "second") -> str:
        """The matrix as text: rows the first rater, columns the second."""
        width = max([len(x) for x in self.labels] + [len(first) + 4, 5])
        corner = f"{first} \\ {second}"
        width = max(width, len(corner) - 4)
        head = f"{corner:<{width + 4}}" + "".join(f"{x:>{width + 2}}" for x in self.labels)
        lines = [head]
        for label, row in zip(self.labels, self.counts, strict=True):
            lines.append(f"{label:<{width + 4}}" + "".join(f"{c:>{width + 2}}" for c in row))
        return "\n".join(lines)


def agreement(pairs: Iterable[tuple[str, str]], labels: Sequence[str] | None = None) -> Agreement:
    """The confusion matrix of (first rater's label, second rater's label)
    pairs. ``labels`` fixes the rows' and columns' order (a label outside it
    is refused); by default every label seen, sorted."""
    pairs = list(pairs)
    seen = sorted({a for a, _ in pairs} | {b for _, b in pairs})
    order = tuple(labels) if labels is not None else tuple(seen)
    if len(set(order)) != len(order):
        raise ValueError("labels must not repeat")
    unknown = [x for x in seen if x not in order]
    if unknown:
        raise ValueError(f"labels outside {list(order)}: {unknown}")
    index = {label: i for i, label in enumerate(order)}
    tally = Counter((index[a], index[b]) for a, b in pairs)
    counts = tuple(tuple(tally[(i, j)] for j in range(len(order))) for i in range(len(order)))
    return Agreement(order, counts)


def cohen_kappa(pairs: Iterable[tuple[str, str]]) -> float | None:
    return agreement(pairs).kappa
