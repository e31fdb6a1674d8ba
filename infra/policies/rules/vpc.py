"""VPC gateways: what the engine must create before a NAT gateway can work."""

from __future__ import annotations

from collections.abc import Iterator

from infra.policies import tokens as t
from infra.policies.model import AWS_REQUIRED, Category, Finding, Resource, Rule, Severity, Stack, StackRule


def _nat_vpcs(stack: Stack, nat: Resource) -> set[str]:
    """The NAT gateway's VPC, through its subnet (empty when the plan doesn't show it)."""
    subnets = stack.sources(nat, "subnetId", *t.SUBNET)
    return {vpc.urn for subnet in subnets for vpc in stack.sources(subnet, "vpcId", *t.VPC)}


def _gateway_vpcs(stack: Stack, gateway: Resource) -> set[str]:
    return {vpc.urn for vpc in stack.sources(gateway, "vpcId", *t.VPC)}


def _nat_after_internet_gateway(stack: Stack) -> Iterator[Finding]:
    gateways = t.INTERNET_GATEWAY + t.INTERNET_GATEWAY_ATTACHMENT
    for nat in stack.of_type(*t.NAT_GATEWAY):
        # A private NAT gateway routes inside the network and needs no internet gateway.
        if nat.get("connectivityType", "public") == "private":
            continue
        vpcs = _nat_vpcs(stack, nat)
        before = [
            r
            for r in stack.upstream(nat)
            if r.type in gateways
            and (not vpcs or not _gateway_vpcs(stack, r) or _gateway_vpcs(stack, r) & vpcs)
        ]
        if not before:
            yield Finding(
                nat,
                f"the NAT gateway {nat.name} does not depend on its VPC's internet gateway, so the engine "
                "may create it first and AWS fails it with Gateway.NotAttached; add depends_on on it.",
            )


RULES: list[Rule] = [
    StackRule(
        id="vpc-nat-after-internet-gateway",
        types=t.NAT_GATEWAY + t.INTERNET_GATEWAY + t.INTERNET_GATEWAY_ATTACHMENT,
        description="A public NAT gateway is created after its VPC's internet gateway is attached.",
        severity=Severity.HIGH,
        enforcement=AWS_REQUIRED,
        check=_nat_after_internet_gateway,
        category=Category.AWS,
        # The provider's own NAT gateway page: "it is recommended to add an explicit dependency on the
        # Internet Gateway for the VPC", because EC2 refuses a public NAT gateway before the attachment.
        source=(
            "https://github.com/hashicorp/terraform-provider-aws/blob/main/website/docs/r/nat_gateway.html.markdown"
        ),
    ),
]
