"""For tests/test_permission_matrix.py: an expectation for the endpoints that
are public on purpose (the whistleblower's key and submission). Everyone,
anonymous included, gets the same answer: a session or token sent along is
not even looked at (tests/monitoring/test_whistleblower.py checks that with
real credentials; the matrix's forced authentication bypasses it)."""

from __future__ import annotations

from dataclasses import dataclass

from tests.test_permission_matrix import SIGNED_IN, Expect


@dataclass(frozen=True)
class Public(Expect):
    def status_for(self, role: str) -> int:
        return self.ok


def public(status: int) -> Expect:
    return Public(status, SIGNED_IN)
