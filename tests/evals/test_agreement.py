"""Cohen's kappa and the confusion matrix against values computed by hand."""

from __future__ import annotations

import pytest

from evals.agreement import agreement, cohen_kappa


def pairs(table: dict[tuple[str, str], int]) -> list[tuple[str, str]]:
    return [pair for pair, count in table.items() for _ in range(count)]


def test_two_labels_by_hand() -> None:
    # 50 items: both yes 20, first yes second no 5, first no second yes 10, both no 15.
    # p_o = 35/50 = 0.7; first says yes 25/50, second 30/50; p_e = 0.5*0.6 + 0.5*0.4 = 0.5;
    # kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4.
    a = agreement(pairs({("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10, ("no", "no"): 15}), ["yes", "no"])
    assert a.counts == ((20, 5), (10, 15))
    assert a.n == 50
    assert a.observed == pytest.approx(0.7)
    assert a.expected == pytest.approx(0.5)
    assert a.kappa == pytest.approx(0.4)


def test_three_labels_by_hand() -> None:
    # Rows (first) / columns (second) over explicit, implied, concealed:
    #   [[10, 2, 0], [1, 5, 2], [0, 3, 7]], n = 30.
    # p_o = 22/30. Row sums 12, 8, 10; column sums 11, 10, 9.
    # p_e = (12*11 + 8*10 + 10*9) / 900 = 302/900.
    # kappa = (22/30 - 302/900) / (1 - 302/900) = (660 - 302) / (900 - 302) = 358/598.
    table = {
        ("explicit", "explicit"): 10, ("explicit", "implied"): 2,
        ("implied", "explicit"): 1, ("implied", "implied"): 5, ("implied", "concealed"): 2,
        ("concealed", "implied"): 3, ("concealed", "concealed"): 7,
    }  # fmt: skip
    a = agreement(pairs(table), ["explicit", "implied", "concealed"])
    assert a.counts == ((10, 2, 0), (1, 5, 2), (0, 3, 7))
    assert a.kappa == pytest.approx(358 / 598)
    assert cohen_kappa(pairs(table)) == pytest.approx(358 / 598)  # the order of labels does not matter


def test_perfect_chance_and_worse_than_chance() -> None:
    assert cohen_kappa([("a", "a"), ("b", "b"), ("a", "a")]) == pytest.approx(1.0)
    # Systematic disagreement: p_o = 0, p_e = 0.5, kappa = -1.
    assert cohen_kappa([("a", "b"), ("b", "a")]) == pytest.approx(-1.0)


def test_undefined_cases_are_none() -> None:
    assert agreement([]).kappa is None
    assert agreement([]).observed is None
    # Both raters always say the same single label: chance agreement is certain.
    assert cohen_kappa([("a", "a"), ("a", "a")]) is None


def test_label_order_and_unknown_labels() -> None:
    a = agreement([("b", "a")])
    assert a.labels == ("a", "b")
    assert a.counts == ((0, 0), (1, 0))
    with pytest.raises(ValueError, match="outside"):
        agreement([("a", "z")], ["a", "b"])
    with pytest.raises(ValueError, match="repeat"):
        agreement([("a", "a")], ["a", "a"])


def test_table_and_dict() -> None:
    a = agreement([("yes", "yes"), ("yes", "no")], ["yes", "no"])
    text = a.table("rules", "human")
    assert text.splitlines()[0].startswith("rules \\ human")
    assert text.splitlines()[1].split() == ["yes", "1", "1"]
    assert a.as_dict()["counts"] == [[1, 1], [0, 0]]
