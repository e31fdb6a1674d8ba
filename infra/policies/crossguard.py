"""The CrossGuard adapter: the shared rules as pulumi-policy policies, for `pulumi preview --policy-pack`.

This module builds policy objects only. Constructing `PolicyPack` starts a gRPC server and blocks, so
that happens in policy_pack/__main__.py alone and never in anything tests or the CLI import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import ResourceValidation, StackValidation

from infra.policies.evaluate import check_waivers
from infra.policies.model import (
    Category,
    Finding,
    Level,
    Resource,
    ResourceRule,
    Rule,
    Stack,
    StackRule,
    fix_for,
)
from infra.policies.rules import RULES
from infra.policies.values import plain


def level_for(rule: Rule, environment: str, waived: Mapping[str, str]) -> Level:
    return Level.DISABLED if rule.id in waived else rule.enforcement.level(environment)


def to_policies(
    environment: str, waived: Mapping[str, str] | None = None, rules: Sequence[Rule] = RULES
) -> list[Policy]:
    """One policy per rule, at the rule's level for `environment`; waived rules (id -> reason) disabled."""
    waived = waived or {}
    check_waivers(waived, rules)
    return [to_policy(rule, level_for(rule, environment, waived)) for rule in rules]


def to_policy(rule: Rule, level: Level) -> Policy:
    common = {
        "name": rule.id,
        "description": describe(rule),
        "enforcement_level": EnforcementLevel(level.value),
        "severity": Severity(rule.severity.value),
    }
    if isinstance(rule, StackRule):
        return StackValidationPolicy(validate=_stack_validation(rule), **common)  # type: ignore[arg-type]
    return ResourceValidationPolicy(validate=_resource_validation(rule), **common)  # type: ignore[arg-type]


def describe(rule: Rule) -> str:
    """The policy's description: an AWS constraint says so and where AWS states it, so a preview shows why."""
    if rule.category is Category.AWS:
        return f"[{rule.category.value}] {rule.description} Source: {rule.source}"
    return rule.description


def _resource_validation(rule: ResourceRule) -> ResourceValidation:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in rule.types:
            return
        resource = Resource(type=args.resource_type, name=args.name, urn=args.urn, props=plain(args.props))
        message = rule.check(resource)
        if message is not None:
            report_violation(_with_fix(rule, Finding(resource, message)), None)

    return validate


def _stack_validation(rule: StackRule) -> StackValidation:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        stack = Stack(tuple(_from_policy_resource(r) for r in args.resources))
        for finding in rule.check(stack):
            report_violation(_with_fix(rule, finding), finding.resource.urn)

    return validate


def _with_fix(rule: Rule, finding: Finding) -> str:
    """The message `pulumi preview` prints, ending with what to change, as `scalestack plan` shows it."""
    fix = fix_for(rule, finding)
    return f"{finding.message} Fix: {fix}." if fix else finding.message


def _from_policy_resource(resource: PolicyResource) -> Resource:
    return Resource(
        type=resource.resource_type,
        name=resource.name,
        urn=resource.urn,
        props=plain(resource.props),
        deps={
            prop: tuple(r.urn for r in sources) for prop, sources in resource.property_dependencies.items()
        },
        depends_on=tuple(r.urn for r in resource.dependencies),
    )


def pulumi_config(environment: str, waived: Mapping[str, str] | None = None) -> dict[str, dict[str, str]]:
    """A `--policy-pack-config` document pinning each rule's level for one stack (waivers disabled)."""
    waived = waived or {}
    check_waivers(waived, RULES)
    return {r.id: {"enforcementLevel": level_for(r, environment, waived).value} for r in RULES}
