"""Security groups and their rules (inline, `aws:vpc` rule resources and legacy `aws:ec2` rules)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from infra.policies import tokens as t
from infra.policies.model import (
    EVERYWHERE,
    RECOMMENDED,
    Finding,
    Resource,
    ResourceRule,
    Rule,
    Severity,
    Stack,
    StackRule,
)
from infra.policies.values import flag, get, is_set, is_unknown, items, number

_WORLD = {"0.0.0.0/0", "::/0"}
_WEB_PORTS = {80.0, 443.0}
_ALL_PROTOCOLS = {"-1", "all"}
_PORT_PROTOCOLS = {"tcp", "udp", "6", "17"}


@dataclass(frozen=True)
class Permission:
    """One ingress permission, whichever of the three ways it was declared."""

    declared_by: Resource  # the rule resource, or the group itself for inline rules
    target_prop: str | None  # input naming the group it opens; None when declared inline on the group
    source_prop: str | None  # input naming a source security group, if any
    protocol: Any
    from_port: Any
    to_port: Any
    cidrs: tuple[Any, ...]
    prefix_lists: tuple[Any, ...]
    has_group_source: bool
    description: Any


def permissions(resource: Resource) -> list[Permission]:
    if resource.type in t.INGRESS_RULE:
        return [_from_vpc_rule(resource)]
    if resource.type in t.LEGACY_SG_RULE and resource.get("type") == "ingress":
        return [_from_legacy_rule(resource)]
    if resource.type in t.SECURITY_GROUP:
        return [_from_inline(resource, entry) for entry in items(resource.get("ingress")) or []]
    return []


def egress_permissions(resource: Resource) -> list[Permission]:
    """The egress counterpart of `permissions`: `source_prop` then names the destination's group."""
    if resource.type in t.EGRESS_RULE:
        return [_from_vpc_rule(resource)]
    if resource.type in t.LEGACY_SG_RULE and resource.get("type") == "egress":
        return [_from_legacy_rule(resource)]
    if resource.type in t.SECURITY_GROUP:
        return [_from_inline(resource, entry, "egress") for entry in items(resource.get("egress")) or []]
    return []


def _from_vpc_rule(rule: Resource) -> Permission:
    return Permission(
        declared_by=rule,
        target_prop="securityGroupId",
        source_prop="referencedSecurityGroupId",
        protocol=rule.get("ipProtocol"),
        from_port=rule.get("fromPort"),
        to_port=rule.get("toPort"),
        cidrs=tuple(c for c in (rule.get("cidrIpv4"), rule.get("cidrIpv6")) if c is not None),
        prefix_lists=tuple(p for p in (rule.get("prefixListId"),) if p is not None),
        has_group_source=is_set(rule.get("referencedSecurityGroupId")),
        description=rule.get("description"),
    )


def _from_legacy_rule(rule: Resource) -> Permission:
    return Permission(
        declared_by=rule,
        target_prop="securityGroupId",
        source_prop="sourceSecurityGroupId",
        protocol=rule.get("protocol"),
        from_port=rule.get("fromPort"),
        to_port=rule.get("toPort"),
        cidrs=tuple((items(rule.get("cidrBlocks")) or []) + (items(rule.get("ipv6CidrBlocks")) or [])),
        prefix_lists=tuple(items(rule.get("prefixListIds")) or []),
        has_group_source=is_set(rule.get("sourceSecurityGroupId")) or rule.get("self") is True,
        description=rule.get("description"),
    )


def _from_inline(group: Resource, entry: Any, direction: str = "ingress") -> Permission:
    return Permission(
        declared_by=group,
        target_prop=None,
        source_prop=direction,
        protocol=get(entry, "protocol"),
        from_port=get(entry, "fromPort"),
        to_port=get(entry, "toPort"),
        cidrs=tuple((items(get(entry, "cidrBlocks")) or []) + (items(get(entry, "ipv6CidrBlocks")) or [])),
        prefix_lists=tuple(items(get(entry, "prefixListIds")) or []),
        has_group_source=is_set(get(entry, "securityGroups")) or get(entry, "self") is True,
        description=get(entry, "description"),
    )


def _targets(stack: Stack, permission: Permission) -> list[Resource]:
    if permission.target_prop is None:
        return [permission.declared_by]
    return stack.sources(permission.declared_by, permission.target_prop, *t.SECURITY_GROUP)


def _all_ports(permission: Permission) -> bool:
    protocol = str(permission.protocol).lower()
    if protocol in _ALL_PROTOCOLS:
        return True
    low, high = number(permission.from_port), number(permission.to_port)
    return protocol in _PORT_PROTOCOLS and low is not None and high is not None and low <= 1 and high >= 65535


def _port_text(permission: Permission) -> str:
    if str(permission.protocol).lower() in _ALL_PROTOCOLS:
        return "all ports"
    low, high = number(permission.from_port), number(permission.to_port)
    if low is None or high is None:
        return "unknown ports"
    return f"port {low:.0f}" if low == high else f"ports {low:.0f}-{high:.0f}"


def _web_only(permission: Permission) -> bool:
    low, high = number(permission.from_port), number(permission.to_port)
    return str(permission.protocol).lower() in {"tcp", "6"} and low == high and low in _WEB_PORTS


def _public_load_balancer_groups(stack: Stack) -> set[str]:
    return {
        group.urn
        for lb in stack.of_type(*t.LOAD_BALANCER)
        if flag(lb.get("internal")) is not True
        for group in stack.sources(lb, "securityGroups", *t.SECURITY_GROUP)
    }


def _world_ingress(stack: Stack) -> Iterator[Finding]:
    front_doors = _public_load_balancer_groups(stack)
    for resource in stack.resources:
        for permission in permissions(resource):
            world = sorted(str(c) for c in permission.cidrs if c in _WORLD)
            if not world:
                continue
            targets = _targets(stack, permission)
            # The internet-facing load balancer is the one door: HTTP/HTTPS from anywhere is its job.
            if targets and all(g.urn in front_doors for g in targets) and _web_only(permission):
                continue
            yield Finding(
                resource,
                f"{_port_text(permission)} is open to {' and '.join(world)}, so anyone on the internet can "
                "reach it; admit only the load balancer's or the app's security group.",
            )


def _data_from_app_only(stack: Stack) -> Iterator[Finding]:
    data = {
        g.urn: store.name
        for types, prop in (
            (t.DB_INSTANCE, "vpcSecurityGroupIds"),
            (t.CACHE_REPLICATION_GROUP, "securityGroupIds"),
        )
        for store in stack.of_type(*types)
        for g in stack.sources(store, prop, *t.SECURITY_GROUP)
    }
    app = {
        g.urn
        for template in stack.of_type(*t.LAUNCH_TEMPLATE)
        for prop in ("vpcSecurityGroupIds", "networkInterfaces")
        for g in stack.sources(template, prop, *t.SECURITY_GROUP)
    }
    for resource in stack.resources:
        for permission in permissions(resource):
            stores = [data[g.urn] for g in _targets(stack, permission) if g.urn in data]
            if stores and not _only_from(stack, permission, app):
                yield Finding(
                    resource,
                    f"the security group of {', '.join(sorted(set(stores)))} admits traffic from outside the "
                    "app instances' security groups, widening who can try its credentials; allow only the "
                    "app's security group.",
                )


def _only_from(stack: Stack, permission: Permission, app: set[str]) -> bool:
    if permission.cidrs or permission.prefix_lists:
        return False
    if permission.source_prop is None:
        return True
    sources = stack.sources(permission.declared_by, permission.source_prop, *t.SECURITY_GROUP)
    own = {permission.declared_by.urn} if permission.target_prop is None else set()
    # A source group outside this stack can't be judged here; in-stack ones must be app groups.
    return all(s.urn in app or s.urn in own for s in sources)


def _no_all_ports(resource: Resource) -> str | None:
    wide = [p for p in permissions(resource) if _all_ports(p)]
    if not wide:
        return None
    return (
        "an ingress rule opens every port, so any service that starts listening on the instance is "
        "reachable; open only the port the service uses."
    )


def _described(resource: Resource) -> str | None:
    missing = [
        p for p in permissions(resource) if not is_set(p.description) and not is_unknown(p.description)
    ]
    if not missing:
        return None
    return (
        f"an ingress rule ({_port_text(missing[0])}) has no description, so reviewers can't tell why it "
        "exists or whether it can go; describe each rule."
    )


_SG_RULE_TYPES = t.SECURITY_GROUP + t.INGRESS_RULE + t.LEGACY_SG_RULE

RULES: list[Rule] = [
    StackRule(
        id="sg-no-world-ingress",
        description="No security group admits 0.0.0.0/0 or ::/0 (bar HTTP/HTTPS to an internet-facing ALB).",
        severity=Severity.CRITICAL,
        enforcement=EVERYWHERE,
        check=_world_ingress,
    ),
    ResourceRule(
        id="sg-no-all-ports",
        description="No ingress rule opens all ports or all protocols.",
        severity=Severity.HIGH,
        enforcement=EVERYWHERE,
        types=_SG_RULE_TYPES,
        check=_no_all_ports,
    ),
    StackRule(
        id="sg-data-from-app-only",
        description="Database and cache security groups admit only the app instances' security groups.",
        severity=Severity.HIGH,
        enforcement=EVERYWHERE,
        check=_data_from_app_only,
    ),
    ResourceRule(
        id="sg-rule-description",
        description="Every ingress rule carries a description.",
        severity=Severity.LOW,
        enforcement=RECOMMENDED,
        types=_SG_RULE_TYPES,
        check=_described,
    ),
]
