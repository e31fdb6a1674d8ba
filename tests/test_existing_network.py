"""Bring your own VPC: `network.existingVpcId` and `existingSubnetIds` place the stack in subnets it looks up
and does not manage; policy and reachability still judge what the plan shows (the security groups) and say
what they cannot see (the existing routes)."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from infra import offline
from infra.offline import plan_stack
from infra.planned import Plan
from infra.policies.evaluate import evaluate
from infra.policies.values import plain
from infra.reachability import Flow
from infra.spec import SpecError, parse_config
from scripts.plan_cmd import reachability
from tests.test_spec import config

VPC = "vpc-0123456789abcdef0"
SUBNETS = {
    tier: [f"subnet-0{digit}{'0' * 13}{zone}" for zone in "123"]
    for tier, digit in (("public", "a"), ("app", "b"), ("data", "c"))
}
DOMAIN = {"name": "app.example.com", "hostedZoneId": "Z0123456789EXAMPLE"}


def _existing(**network: Any) -> dict[str, Any]:
    return {"existingVpcId": VPC, "existingSubnetIds": SUBNETS, **network}


@pytest.fixture(scope="module")
def plan() -> Plan:
    # A prod stack must have an alarm subscriber (alarm-topic-subscribed), as the shipped prod file has.
    monitoring = {"alarmEmail": "oncall@example.com"}
    spec = parse_config(
        config("prod", network=_existing(), domain=DOMAIN, monitoring=monitoring),
        stack="prod",
        source="x.yaml",
    )
    return plan_stack(spec)


def test_the_stack_is_placed_in_the_existing_subnets_and_makes_no_network(plan: Plan) -> None:
    made = {r.type for r in plan.resources}
    for kind in (
        "vpc:Vpc",
        "subnet:Subnet",
        "natGateway:NatGateway",
        "routeTable:RouteTable",
        "flowLog:FlowLog",
    ):
        assert f"aws:ec2/{kind}" not in made
    (alb,) = plan.by_type("aws:lb/loadBalancer:LoadBalancer")
    assert alb.inputs["subnets"] == SUBNETS["public"]
    groups = {g.name: plain(g.inputs) for g in plan.by_type("aws:autoscaling/group:Group")}
    assert (
        groups["web-asg"]["vpcZoneIdentifiers"]
        == groups["worker-asg"]["vpcZoneIdentifiers"]
        == SUBNETS["app"]
    )
    (db_subnets,) = plan.by_type("aws:rds/subnetGroup:SubnetGroup")
    assert db_subnets.inputs["subnetIds"] == SUBNETS["data"]
    assert {g.inputs["vpcId"] for g in plan.by_type("aws:ec2/securityGroup:SecurityGroup")} == {VPC}


def test_policy_still_judges_what_the_plan_shows(plan: Plan) -> None:
    assert evaluate(plan.resources, "prod").violations == ()


def test_reachability_judges_the_security_groups_and_says_it_cannot_see_the_routes(plan: Plan) -> None:
    flows: dict[str, Flow] = {f.flow: f for f in reachability(plan)}
    forbidden = [f for f in flows.values() if not f.required]
    assert forbidden and all(not f.open for f in forbidden)
    assert not [f.flow for f in flows.values() if f.wrong]
    egress = flows["web-asg -> internet on 443 (via NAT)"]
    assert "can't tell: the subnets of web-asg are not in the plan" in egress.explanation


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        ({"existingVpcId": VPC}, "existingVpcId and existingSubnetIds go together"),
        (
            _existing(existingSubnetIds={**SUBNETS, "data": SUBNETS["data"][:2]}),
            "existingSubnetIds needs 3 subnets per tier (availabilityZones), one per zone; got 2 data",
        ),
        (
            _existing(existingVpcId="vpc-nope"),
            "scalestack:network.existingVpcId: String should match pattern",
        ),
    ],
)
def test_an_incomplete_existing_network_is_refused(network: dict[str, Any], expected: str) -> None:
    with pytest.raises(SpecError) as raised:
        parse_config(config("prod", network=network, domain=DOMAIN), stack="prod", source="x.yaml")
    assert expected in str(raised.value)


def test_a_subnet_of_another_vpc_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = offline._existing_network

    def elsewhere(region: str, network: Any) -> dict[str, dict[str, Any]]:
        found = answers(region, network)
        found[SUBNETS["app"][1]]["vpcId"] = "vpc-0fffffffffffffff0"
        return found

    monkeypatch.setattr(offline, "_existing_network", elsewhere)
    # A prod stack must have an alarm subscriber (alarm-topic-subscribed), as the shipped prod file has.
    monitoring = {"alarmEmail": "oncall@example.com"}
    spec = parse_config(
        config("prod", network=_existing(), domain=DOMAIN, monitoring=monitoring),
        stack="prod",
        source="x.yaml",
    )
    with pytest.raises(
        pulumi.RunError, match=r"existingSubnetIds: subnet-0b0+2 \(in vpc-0f+0\) not in existingVpcId"
    ):
        plan_stack(spec)
