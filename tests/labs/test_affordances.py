"""Reachable affordances: shortest paths through the edges, cycles, ties."""

from __future__ import annotations

import itertools
import random

import pytest

from labs.affordances import reachable_affordances
from labs.catalogue import EDGES

CATALOGUE_EDGES = [(s, t) for s, t, _ in EDGES]


def test_nothing_declared_reaches_nothing() -> None:
    assert reachable_affordances([], CATALOGUE_EDGES) == {}


def test_an_affordance_without_outgoing_edges_reaches_nothing() -> None:
    assert reachable_affordances(["retrieval"], CATALOGUE_EDGES) == {}


def test_direct_and_transitive_reach_with_shortest_paths() -> None:
    result = reachable_affordances(["code_execution"], CATALOGUE_EDGES)
    assert result == {
        "shell": ["code_execution", "shell"],
        "file_system": ["code_execution", "shell", "file_system"],
    }


def test_declared_affordances_are_not_reported_as_reachable() -> None:
    result = reachable_affordances(["internet_access", "email"], CATALOGUE_EDGES)
    assert "email" not in result
    assert "internet_access" not in result
    # One step from either declared affordance: the tie goes to the smaller key.
    assert result["human_contractors"] == ["email", "human_contractors"]
    # Not through email (two steps) when internet access reaches it in one.
    assert result["compute_rental"] == ["internet_access", "compute_rental"]


def test_internet_access_reaches_the_paper_examples() -> None:
    result = reachable_affordances(["internet_access"], CATALOGUE_EDGES)
    assert set(result) == {
        "code_execution",
        "email",
        "payments",
        "human_contractors",
        "compute_rental",
        "shell",
        "file_system",
    }
    assert result["file_system"] == ["internet_access", "code_execution", "shell", "file_system"]


def test_shortest_path_wins_over_a_longer_one() -> None:
    edges = [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")]
    assert reachable_affordances(["a"], edges)["d"] == ["a", "d"]


def test_shortest_path_from_the_nearest_declared_affordance() -> None:
    edges = [("a", "b"), ("b", "c"), ("c", "d"), ("x", "d")]
    assert reachable_affordances(["a", "x"], edges)["d"] == ["x", "d"]


def test_ties_break_by_key_whatever_the_input_order() -> None:
    # d is two steps from a through b or through c, and two steps from z through y.
    edges = [("a", "c"), ("a", "b"), ("c", "d"), ("b", "d"), ("z", "y"), ("y", "d")]
    expected = ["a", "b", "d"]
    for declared in itertools.permutations(["a", "z"]):
        for _ in range(10):
            shuffled = edges[:]
            random.shuffle(shuffled)
            assert reachable_affordances(declared, shuffled)["d"] == expected


def test_tie_break_compares_whole_paths_not_only_the_last_step() -> None:
    # Two shortest paths to e: a-c-e and b-d-e; the parent keys c < d but a < b
    # decides first. And via (a, d) vs (b, c): a path starting at a wins.
    edges = [("b", "c"), ("a", "d"), ("c", "e"), ("d", "e")]
    assert reachable_affordances(["a", "b"], edges)["e"] == ["a", "d", "e"]


@pytest.mark.parametrize(
    "edges",
    [
        [("a", "b"), ("b", "a")],
        [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")],
        [("a", "a"), ("a", "b")],  # a self-loop is ignored
    ],
)
def test_cycles_terminate(edges: list[tuple[str, str]]) -> None:
    result = reachable_affordances(["a"], edges)
    assert "a" not in result
    assert result["b"] == ["a", "b"]


def test_a_cycle_back_to_a_declared_affordance_does_not_report_it() -> None:
    edges = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]
    assert reachable_affordances(["a"], edges) == {"b": ["a", "b"], "c": ["a", "b", "c"], "d": ["a", "b", "c", "d"]}


def test_duplicate_inputs_change_nothing() -> None:
    edges = [("a", "b"), ("a", "b"), ("b", "c")]
    assert reachable_affordances(["a", "a"], edges) == reachable_affordances(["a"], [("a", "b"), ("b", "c")])


def test_result_is_ordered_by_key() -> None:
    edges = [("a", "z"), ("a", "m"), ("a", "b")]
    assert list(reachable_affordances(["a"], edges)) == ["b", "m", "z"]


def test_accepts_iterators() -> None:
    result = reachable_affordances(iter(["a"]), iter([("a", "b")]))
    assert result == {"b": ["a", "b"]}
