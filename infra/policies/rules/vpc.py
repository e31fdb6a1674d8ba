"""VPC resources whose order of creation AWS depends on but no input expresses."""

from __future__ import annotations

from collections.abc import Iterator

from infra.policies import tokens as t
from infra.policies.model import EVERYWHERE, Category, Finding, Resource, Rule, Severity, Stack, StackRule

_IGW_ATTACHMENT = ("aws:ec2/internetGatewayAttachment:InternetGatewayAttachment",)


def _created_before(stack: Stack, resource: Resource) -> set[str]:
    """Every URN the engine finishes before `resource`: its dependencies, followed transitively."""
    by_urn = {r.urn: r for r in stack.resources}
    seen: set[str] = set()
    pending = list(resource.depends_on)
    while pending:
        urn = pending.pop()
        if urn not in seen:
            seen.add(urn)
            found = by_urn.get(urn)
            pending.extend(found.depends_on if found is not None else ())
    return seen


def _vpcs(stack: Stack, resource: Resource, prop: str) -> set[str]:
    return {v.urn for v in stack.sources(resource, prop, *t.VPC)}


def _gateways_of(stack: Stack, vpcs: set[str]) -> list[Resource]:
    """The internet gateways (or their attachments) that attach a gateway to one of these VPCs."""
    return [
        gateway
        for gateway in stack.of_type(*t.INTERNET_GATEWAY, *_IGW_ATTACHMENT)
        if _vpcs(stack, gateway, "vpcId") & vpcs
    ]


def _nat_after_internet_gateway(stack: Stack) -> Iterator[Finding]:
    for nat in stack.of_type(*t.NAT_GATEWAY):
        if nat.get("connectivityType", "public") == "private":
            continue
        vpcs = {
            v for subnet in stack.sources(nat, "subnetId", *t.SUBNET) for v in _vpcs(stack, subnet, "vpcId")
        }
        gateways = _gateways_of(stack, vpcs)
        if not gateways:
            continue  # the VPC's gateway is outside the plan: can't tell
        if _created_before(stack, nat) & {g.urn for g in gateways}:
            continue
        yield Finding(
            nat,
            f"the public NAT gateway does not wait for internet gateway {gateways[0].name}, so AWS can "
            "create it before the gateway is attached and fail it (Gateway.NotAttached); add dependsOn.",
        )


RULES: list[Rule] = [
    StackRule(
        id="nat-gateway-after-internet-gateway",
        description=(
            "A public NAT gateway depends on the internet gateway of its VPC, which AWS needs attached first."
        ),
        severity=Severity.HIGH,
        enforcement=EVERYWHERE,
        check=_nat_after_internet_gateway,
        category=Category.AWS,
        source="https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/nat_gateway",
    ),
]
