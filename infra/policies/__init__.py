"""scalestack's guardrails: one rule list, enforced by CrossGuard (policy_pack/) and by `scalestack plan`.

Rules are plain Python over resource inputs as the engine sees them (type tokens, camelCase keys); see
`model` for what a rule is, `rules/` for the rules, `evaluate` for the offline adapter and `crossguard` for
the pulumi-policy one. Nothing here constructs a PolicyPack (that starts a server and blocks).
"""

from __future__ import annotations

from infra.policies.evaluate import (
    PolicyReport,
    UnknownRuleError,
    Violation,
    Waived,
    check_waivers,
    evaluate,
)
from infra.policies.model import ENVIRONMENTS, Level, ResourceRule, Rule, Severity, StackRule
from infra.policies.rules import RULES

RULE_IDS: frozenset[str] = frozenset(r.id for r in RULES)

__all__ = [
    "ENVIRONMENTS",
    "RULES",
    "RULE_IDS",
    "Level",
    "PolicyReport",
    "ResourceRule",
    "Rule",
    "Severity",
    "StackRule",
    "UnknownRuleError",
    "Violation",
    "Waived",
    "check_waivers",
    "evaluate",
]
