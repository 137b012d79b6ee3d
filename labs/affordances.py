"""Reachable affordances: what a system can get to, with extra effort, through
the affordances it was given. Pure functions over keys and edges; no ORM."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable


def reachable_affordances(declared: Iterable[str], edges: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """For every affordance reachable through ``edges`` but not declared, the
    shortest path to it from a declared affordance.

    A path is the list of keys from the declared affordance to the target, both
    included. Among paths of equal length the lexicographically smallest list of
    keys wins, so the answer does not depend on the order of the inputs. Cycles
    are fine: each affordance is visited once. The result is ordered by key.
    """
    start = sorted(set(declared))
    successors: dict[str, set[str]] = {}
    for source, target in edges:
        if source != target:
            successors.setdefault(source, set()).add(target)

    # Breadth-first from all declared affordances at once. Sources are queued in
    # key order and neighbours visited in key order, so each level of the queue
    # is sorted by path and the first path that reaches a node is the smallest.
    parent: dict[str, str | None] = dict.fromkeys(start)
    queue = deque(start)
    while queue:
        node = queue.popleft()
        for nxt in sorted(successors.get(node, ())):
            if nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)

    declared_set = set(start)
    paths: dict[str, list[str]] = {}
    for key in sorted(parent):
        if key in declared_set:
            continue
        path = [key]
        step = parent[key]
        while step is not None:
            path.append(step)
            step = parent[step]
        paths[key] = path[::-1]
    return paths
