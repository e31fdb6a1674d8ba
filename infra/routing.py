"""Listener-rule facts for web services: how many condition values a rule takes, which routes overlap, and
which priority a service's rule gets. Plain Python: the spec checks routes before any resource exists.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache

RULE_CONDITIONS_SOURCE = (
    "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html"
)
RULE_CONDITION_VALUES = 5
"""ALB quota "Condition values per rule": 5, not adjustable (RULE_CONDITIONS_SOURCE)."""
RULE_CONDITION_WILDCARDS = 5
"""ALB quota "Condition wildcards per rule": 5, not adjustable (RULE_CONDITIONS_SOURCE)."""
ORIGIN_HEADER_VALUES = 1
"""Every rule carries the origin-header condition (one value), so a service has 4 route values left."""
ROUTE_VALUES_PER_SERVICE = RULE_CONDITION_VALUES - ORIGIN_HEADER_VALUES

PRIORITY_SOURCE = "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateRule.html"
LOWEST_PRIORITY = 50000
"""Rule priorities are 1 to 50000, evaluated lowest first (PRIORITY_SOURCE): the default service's
catch-all rule takes the last one, so every routed service is tried before it."""
DERIVED_PRIORITIES = LOWEST_PRIORITY - 2
"""Derived priorities fall in 1..49998, below the default service's."""


def derived_priority(name: str) -> int:
    """A routed service's rule priority, from its name alone: adding or removing another service never
    moves it (a reshuffle would rewrite every rule). Routes never overlap (`overlap`), so the order
    between routed services decides nothing; only uniqueness matters, and the spec checks it."""
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    return 1 + digest % DERIVED_PRIORITIES


def wildcards(values: Sequence[str]) -> int:
    return sum(value.count("*") + value.count("?") for value in values)


def patterns_overlap(first: str, second: str) -> bool:
    """Whether some string matches both ALB wildcard patterns (`*` any run of characters, `?` one).

    A walk over pairs of positions in the two patterns: a `*` may match nothing (advance past it) or
    one more character, which the other pattern must match too.
    """

    @cache
    def meet(i: int, j: int) -> bool:
        if i == len(first) and j == len(second):
            return True
        if i < len(first) and first[i] == "*" and meet(i + 1, j):
            return True
        if j < len(second) and second[j] == "*" and meet(i, j + 1):
            return True
        if i == len(first) or j == len(second):
            return False
        a, b = first[i], second[j]
        if a not in "*?" and b not in "*?" and a != b:
            return False
        return meet(i if a == "*" else i + 1, j if b == "*" else j + 1) if (a, b) != ("*", "*") else False

    return meet(0, 0)


def routes_overlap(
    paths_a: Sequence[str], hosts_a: Sequence[str], paths_b: Sequence[str], hosts_b: Sequence[str]
) -> bool:
    """Whether one request could match both services' rules: their hosts meet (no host condition meets
    every host) and their paths meet. Host conditions are case-insensitive, path conditions are not."""
    hosts = (
        not hosts_a or not hosts_b or _any_pair([h.lower() for h in hosts_a], [h.lower() for h in hosts_b])
    )
    paths = not paths_a or not paths_b or _any_pair(paths_a, paths_b)
    return hosts and paths


def _any_pair(first: Sequence[str], second: Sequence[str]) -> bool:
    return any(patterns_overlap(a, b) for a in first for b in second)
