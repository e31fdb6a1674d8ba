"""Run the rules through each adapter the way its engine would, returning {(rule id, resource urn)}."""

from __future__ import annotations

from collections.abc import Sequence

from pulumi_policy import (
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from infra.planned import PlannedResource
from infra.policies import RULES, evaluate
from infra.policies.crossguard import to_policies

Hits = set[tuple[str, str]]


def offline_hits(planned: Sequence[PlannedResource], environment: str = "prod") -> Hits:
    report = evaluate(planned, environment, ())
    return {(v.rule, v.urn) for v in report.violations}


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=None,  # type: ignore[arg-type]
        additional_secret_outputs=[],
        parent=None,
    )


def _policy_resources(planned: Sequence[PlannedResource]) -> list[PolicyResource]:
    by_urn: dict[str, PolicyResource] = {}
    for r in planned:
        # Props go through the same unknown-checking proxy the analyzer wraps them in.
        by_urn[r.urn] = PolicyResource(
            r.type, unknown_checking_proxy(dict(r.inputs)), r.urn, r.name, _options(), None, None, [], {}
        )
    for r in planned:
        by_urn[r.urn].property_dependencies = {
            prop: [by_urn[u] for u in urns if u in by_urn] for prop, urns in r.property_dependencies.items()
        }
        by_urn[r.urn].dependencies = [by_urn[u] for u in r.dependencies if u in by_urn]
    return list(by_urn.values())


def crossguard_hits(planned: Sequence[PlannedResource], environment: str = "prod") -> Hits:
    hits: Hits = set()
    resources = _policy_resources(planned)
    for policy in to_policies(environment, rules=RULES):
        if policy.enforcement_level is not None and policy.enforcement_level.value == "disabled":
            continue
        if isinstance(policy, ResourceValidationPolicy):
            for r in resources:
                args = ResourceValidationArgs(r.resource_type, r.props, r.urn, r.name, r.opts, None)
                policy.validate(
                    args, lambda message, urn, name=policy.name, at=r.urn: hits.add((name, urn or at))
                )
        elif isinstance(policy, StackValidationPolicy):
            args_stack = StackValidationArgs(resources)
            policy.validate(args_stack, lambda message, urn, name=policy.name: hits.add((name, urn or "")))
    return hits
