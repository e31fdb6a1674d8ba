"""The offline plan records what the engine orders `pulumi up` by, so ordering rules can judge it."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.offline import plan_stack
from infra.planned import Plan
from infra.policies import evaluate
from infra.spec import StackSpec, load_stack_spec


def _network(ordered: bool) -> Plan:
    def build(spec: StackSpec) -> dict[str, object]:
        vpc = aws.ec2.Vpc("vpc", cidr_block="10.0.0.0/16")
        gateway = aws.ec2.InternetGateway("igw", vpc_id=vpc.id)
        subnet = aws.ec2.Subnet("public", vpc_id=vpc.id, cidr_block="10.0.0.0/24")
        address = aws.ec2.Eip("nat-ip", domain="vpc")
        aws.ec2.NatGateway(
            "nat",
            subnet_id=subnet.id,
            allocation_id=address.id,
            opts=pulumi.ResourceOptions(depends_on=[gateway] if ordered else None),
        )
        return {}

    return plan_stack(load_stack_spec("dev"), build)


def _urn(plan: Plan, name: str) -> str:
    return next(r.urn for r in plan.resources if r.name == name)


def test_dependencies_hold_explicit_depends_on_and_every_inputs_sources() -> None:
    plan = _network(ordered=True)
    nat = next(r for r in plan.resources if r.name == "nat")
    assert set(nat.dependencies) == {_urn(plan, "igw"), _urn(plan, "public"), _urn(plan, "nat-ip")}
    assert nat.to_json()["dependencies"] == sorted(nat.dependencies)


def test_the_ordering_rule_reads_them_from_a_real_plan() -> None:
    def nat_findings(plan: Plan) -> list[str]:
        report = evaluate(plan.resources, "prod")
        return [v.resource for v in report.violations if v.rule == "vpc-nat-after-internet-gateway"]

    assert nat_findings(_network(ordered=False)) == ["nat"]
    assert nat_findings(_network(ordered=True)) == []
