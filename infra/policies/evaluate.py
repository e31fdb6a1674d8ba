"""The offline adapter: runs the rules over an offline plan's resources and reports like CrossGuard would."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from infra.planned import PlannedResource
from infra.policies.model import Category, Finding, Level, Resource, Rule, Stack, StackRule, fix_for
from infra.policies.values import plain


class WaiverLike(Protocol):
    @property
    def rule(self) -> str: ...

    @property
    def reason(self) -> str: ...


@dataclass(frozen=True)
class Violation:
    rule: str
    resource: str  # the resource's logical name (the URN is in `urn`, for tools that need it)
    message: str
    level: str  # "mandatory" | "advisory"
    urn: str = ""
    fix: str = ""
    """The stack-file key to change, or the waiver to write (empty when only the program can change)."""

    def to_json(self) -> dict[str, str]:
        return {
            "rule": self.rule,
            "resource": self.resource,
            "message": self.message,
            "level": self.level,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class Waived:
    rule: str
    reason: str


@dataclass(frozen=True)
class PolicyReport:
    environment: str
    rules: int  # rules in force for the environment (not disabled, not waived)
    violations: tuple[Violation, ...]
    waived: tuple[Waived, ...] = field(default_factory=tuple)

    @property
    def mandatory(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.level == Level.MANDATORY.value)

    @property
    def blocked(self) -> bool:
        """True when a mandatory rule is violated: the plan must not go ahead."""
        return bool(self.mandatory)

    def verdict(self) -> str:
        """One line: whether the plan may go ahead, and if not, which rules refused it."""
        if not self.blocked:
            return f"Plan accepted for {self.environment}: no mandatory policy violation."
        rules = sorted({v.rule for v in self.mandatory})
        return (
            f"Plan refused for {self.environment}: {len(self.mandatory)} mandatory violation(s) of "
            f"{', '.join(rules)}; change the stack as each fix says, or write the waiver it names."
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "rules": self.rules,
            "violations": [v.to_json() for v in self.violations],
            "blocked": self.blocked,
            "verdict": self.verdict(),
        }


def to_resource(planned: PlannedResource) -> Resource:
    return Resource(
        type=planned.type,
        name=planned.name,
        urn=planned.urn,
        props=plain(planned.inputs),
        deps={k: tuple(v) for k, v in planned.property_dependencies.items()},
        depends_on=tuple(planned.dependencies),
    )


def findings(rule: Rule, stack: Stack) -> Iterable[Finding]:
    """What one rule finds in a stack: the single place both rule kinds are told apart offline."""
    if isinstance(rule, StackRule):
        yield from rule.check(stack)
        return
    for resource in stack.of_type(*rule.types):
        message = rule.check(resource)
        if message is not None:
            yield Finding(resource, message)


def evaluate(
    resources: Sequence[PlannedResource],
    environment: str,
    waivers: Sequence[WaiverLike] = (),
    rules: Sequence[Rule] | None = None,
) -> PolicyReport:
    from infra.policies.rules import RULES

    active = RULES if rules is None else rules
    reasons: Mapping[str, str] = {w.rule: w.reason for w in waivers}
    check_waivers(reasons, active)
    stack = Stack(tuple(to_resource(r) for r in resources if r.custom))
    in_force = [r for r in active if r.enforcement.level(environment) is not Level.DISABLED]
    violations = [
        Violation(
            rule.id,
            f.resource.name,
            f.message,
            rule.enforcement.level(environment).value,
            f.resource.urn,
            fix_for(rule, f),
        )
        for rule in in_force
        if rule.id not in reasons
        for f in findings(rule, stack)
    ]
    return PolicyReport(
        environment=environment,
        rules=sum(1 for r in in_force if r.id not in reasons),
        violations=tuple(sorted(violations, key=_order)),
        waived=tuple(Waived(r.id, reasons[r.id]) for r in in_force if r.id in reasons),
    )


class UnknownRuleError(ValueError):
    """A waiver names no rule (most likely a typo), or an AWS constraint, which no waiver can lift."""


def check_waivers(rule_ids: Iterable[str], rules: Sequence[Rule]) -> None:
    waived = set(rule_ids)
    unknown = sorted(waived - {r.id for r in rules})
    if unknown:
        raise UnknownRuleError(
            f"waiver for unknown policy rule(s) {', '.join(unknown)}; "
            "`scalestack policy --list` shows the ids"
        )
    # AWS refuses (or silently breaks) such a stack whatever the waiver says, so a waiver would only hide it.
    constraints = sorted(r.id for r in rules if r.category is Category.AWS and r.id in waived)
    if constraints:
        raise UnknownRuleError(
            f"{', '.join(constraints)} can't be waived: AWS itself enforces it (docs/aws-constraints.md)"
        )


def _order(violation: Violation) -> tuple[int, str, str]:
    return (0 if violation.level == Level.MANDATORY.value else 1, violation.rule, violation.resource)
