"""Network reachability from the plan: the shipped stacks let every needed packet through and no other,
and a change that breaks a path (or opens a forbidden one) fails the plan with a one-line explanation.

Breaking changes are made on a copy of a plan's resource list (dropping or altering a resource is what
the matching code change would register); one is made through the real program.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pulumi_aws as aws
import pytest
from click.testing import CliRunner

import infra.components.app_group as app_group
from infra.offline import plan_stack
from infra.planned import PlannedResource
from infra.policies import evaluate
from infra.policies.evaluate import to_resource
from infra.policies.model import Stack
from infra.reachability import INSTANCE_AWS_SERVICES, Flow, analyse
from infra.spec import load_spec_file
from scripts.cli import cli
from scripts.exit_codes import ExitCode
from tests.conftest import SHIPPED_STACKS, plan_of
from tests.policies.helpers import crossguard_hits

EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
NAT = "aws:ec2/natGateway:NatGateway"
IGW = "aws:ec2/internetGateway:InternetGateway"
SUBNET = "aws:ec2/subnet:Subnet"
RULE = "network-reachability"


def flows_of(resources: Iterable[PlannedResource]) -> list[Flow]:
    return analyse(Stack(tuple(to_resource(r) for r in resources if r.custom)))


def by_name(flows: Sequence[Flow]) -> dict[str, Flow]:
    return {f.flow: f for f in flows}


def resources(stack: str = "prod") -> list[PlannedResource]:
    return list(plan_of(stack)[1].resources)


def named(resources: Sequence[PlannedResource], name: str) -> PlannedResource:
    """The resource (not the component) of that name."""
    return next(r for r in resources if r.name == name and r.custom)


def without(resources: Sequence[PlannedResource], *names: str) -> list[PlannedResource]:
    return [r for r in resources if not (r.custom and r.name in names)]


def replaced(resources: Sequence[PlannedResource], name: str, **changes: Any) -> list[PlannedResource]:
    return [dataclasses.replace(r, **changes) if r.name == name and r.custom else r for r in resources]


def blocking(resources: Sequence[PlannedResource], environment: str = "prod") -> list[str]:
    """The reachability messages that block the plan (mandatory in every environment)."""
    report = evaluate(resources, environment)
    return [v.message for v in report.mandatory if v.rule == RULE]


# --- the shipped stacks ----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_required_flow_is_open_and_every_forbidden_one_closed(stack: str) -> None:
    spec, plan = plan_of(stack)
    flows = flows_of(plan.resources)
    assert [f.explanation for f in flows if f.wrong] == []
    found = by_name(flows)
    listener = 443 if spec.domain else 80
    port = spec.app.port
    required = [
        f"cloudfront -> alb on {listener}",
        f"alb -> web-asg on {port} (requests and health checks)",
        *(
            f"{g} -> {s} on {p}"
            for g in ("web-asg", "worker-asg")
            for s, p in (("database-primary", 5432), ("cache", 6379))
        ),
        *(f"{g} -> internet on 443 (via NAT)" for g in ("web-asg", "worker-asg")),
        *(f"{g} -> s3 on 443 (via gateway endpoint)" for g in ("web-asg", "worker-asg")),
        *(
            f"web-asg -> {service} on 443 (via endpoint network-{service.replace('.', '-')})"
            for service in INSTANCE_AWS_SERVICES
        ),
    ]
    forbidden = [
        *(f"internet -> {t}" for t in ("web-asg", "worker-asg", "database-primary", "cache")),
        "alb -> database-primary on 5432",
        "alb -> cache on 6379",
    ]
    assert {name: found[name].open for name in required} == dict.fromkeys(required, True)
    assert {name: found[name].open for name in forbidden} == dict.fromkeys(forbidden, False)
    assert all(found[n].required for n in required) and not any(found[n].required for n in forbidden)


def test_scalestack_plan_prints_the_flows_it_judges() -> None:
    result = CliRunner().invoke(cli, ["plan", "--stack", "staging", "--format", "json"])
    assert result.exit_code == ExitCode.OK
    listed = json.loads(result.stdout)["reachability"]
    assert listed == [f.to_json() for f in flows_of(plan_of("staging")[1].resources)]
    assert {(f["kind"], f["open"]) for f in listed} == {("required", True), ("forbidden", False)}
    text = CliRunner().invoke(cli, ["plan", "--stack", "staging"], env={"COLUMNS": "250"}).stdout
    assert "Network reachability" in text and "alb -> web-asg on 8000 (requests and health checks)" in text


# --- changes that break a required flow -------------------------------------------------------------


def test_dropping_the_alb_egress_fails_the_plan() -> None:
    """Defect 2: on the code before the fix the ALB had no egress at all, so this is what it planned."""
    broken = without(resources(), "web-alb-to-app")
    assert blocking(broken) == [
        "alb -> web-asg on 8000 (requests and health checks): security group alb-sg has no egress to "
        "web-sg on 8000, so the app's traffic is dropped on this path."
    ]


def test_the_same_through_crossguard() -> None:
    broken = without(resources(), "web-alb-to-app")
    alb_group = named(broken, "alb-sg").urn
    assert (RULE, alb_group) in crossguard_hits(broken)
    assert RULE not in {rule for rule, _ in crossguard_hits(resources())}


def test_program_without_the_alb_egress_fails_the_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real program with the ALB egress left out, as it was before the fix."""
    real = aws.vpc.SecurityGroupEgressRule

    def egress(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name.endswith("-alb-to-app") else real(name, *args, **kwargs)

    monkeypatch.setattr(app_group.aws.vpc, "SecurityGroupEgressRule", egress)
    plan = plan_stack(plan_of("dev")[0])
    assert [f.explanation for f in flows_of(plan.resources) if f.wrong] == [
        "alb -> web-asg on 8000 (requests and health checks): security group alb-sg has no egress to web-sg on 8000"
    ]
    assert evaluate(plan.resources, "dev").blocked


def test_dropping_the_app_ingress_fails_the_plan() -> None:
    assert blocking(without(resources(), "web-from-alb")) == [
        "alb -> web-asg on 8000 (requests and health checks): security group web-sg has no ingress from "
        "alb-sg on 8000, so the app's traffic is dropped on this path."
    ]


def test_dropping_the_database_ingress_fails_the_plan() -> None:
    # database-from-web admits the web group (each rule is named after its client service).
    assert blocking(without(resources(), "database-from-web")) == [
        "web-asg -> database-primary on 5432: security group database-sg has no ingress from web-sg on 5432, "
        "so the app's traffic is dropped on this path."
    ]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_dropping_the_nat_route_fails_the_plan(stack: str) -> None:
    planned = resources(stack)
    app_tables = [r.name for r in planned if r.type == ROUTE_TABLE and r.name.startswith("network-app-")]
    broken = planned
    for table in app_tables:
        inputs = {k: v for k, v in named(planned, table).inputs.items() if k != "routes"}
        deps = {k: v for k, v in named(planned, table).property_dependencies.items() if k != "routes"}
        broken = replaced(broken, table, inputs=inputs, property_dependencies=deps)
    messages = blocking(broken, stack)
    assert messages and all("has no default route to a NAT gateway" in m for m in messages)
    assert (
        "web-asg -> internet on 443 (via NAT): route table network-app-a-rt of subnet network-app-a has no "
        "default route to a NAT gateway, so the app's traffic is dropped on this path."
    ) in messages
    # The AWS APIs still answer on their interface endpoints and S3 on its gateway endpoint.
    wrong = {f.flow for f in flows_of(broken) if f.wrong}
    groups = [f"{service.name}-asg" for service in plan_of(stack)[0].all_services]
    assert wrong == {f"{group} -> internet on 443 (via NAT)" for group in groups}


def test_a_nat_gateway_in_a_private_subnet_fails_the_plan() -> None:
    planned = resources("dev")
    nat = next(r for r in planned if r.type == NAT)
    app_subnet = named(planned, "network-app-a").urn
    deps = {**nat.property_dependencies, "subnetId": (app_subnet,)}
    messages = blocking(replaced(planned, nat.name, property_dependencies=deps), "dev")
    assert (
        f"web-asg -> internet on 443 (via NAT): NAT gateway {nat.name} sits in network-app-a: route table "
        "network-app-a-rt of subnet network-app-a has no route to an internet gateway, so the app's traffic is "
        "dropped on this path."
    ) in messages


def test_without_interface_endpoints_aws_calls_go_through_nat(tmp_path: Path) -> None:
    """A stack file that turns the interface endpoints off: the AWS APIs are then reached through NAT."""
    path = tmp_path / "Pulumi.lean.yaml"
    path.write_text(
        Path("stacks/Pulumi.dev.yaml").read_text() + "  scalestack:network:\n    interfaceEndpoints: false\n"
    )
    found = by_name(flows_of(plan_stack(load_spec_file(path)).resources))
    assert found["web-asg -> ecr.api on 443 (via NAT)"].open
    assert [f.flow for f in found.values() if f.wrong] == []


def test_an_endpoint_group_that_refuses_the_instances_breaks_the_aws_calls() -> None:
    # With private DNS the service names resolve to the endpoint, so its group must admit the instances.
    broken = without(resources(), "network-endpoints-https")
    wrong = [f.explanation for f in flows_of(broken) if f.wrong]
    assert len(wrong) == len(plan_of("prod")[0].all_services) * len(INSTANCE_AWS_SERVICES)
    assert (
        "web-asg -> logs on 443 (via endpoint network-logs): security group network-endpoints-sg has no "
        "ingress from web-sg on 443"
    ) in wrong


# --- changes that open a forbidden flow -------------------------------------------------------------


def _rule(
    like: PlannedResource, name: str, type_: str, inputs: dict[str, Any], **deps: str
) -> PlannedResource:
    """A new security-group rule beside `like`, its inputs wired to the given resources by URN."""
    return PlannedResource(
        type=type_,
        name=name,
        urn=f"{like.urn.rsplit('::', 2)[0]}::{type_}::{name}",
        parent=like.parent,
        inputs={"ipProtocol": "tcp", "description": "x", **inputs},
        property_dependencies={prop: (urn,) for prop, urn in deps.items()},
    )


def test_a_world_ingress_on_the_database_fails_the_plan() -> None:
    planned = resources()
    group = named(planned, "database-sg")
    world = {"fromPort": 5432.0, "toPort": 5432.0, "cidrIpv4": "0.0.0.0/0"}
    opened = [*planned, _rule(group, "db-world", INGRESS, world, securityGroupId=group.urn)]
    assert blocking(opened) == [
        "internet -> database-primary: security group database-sg admits 0.0.0.0/0 on 5432 through db-world, "
        "so a path that must stay closed is open."
    ]


def test_the_alb_reaching_the_database_fails_the_plan() -> None:
    planned = resources()
    alb, database = named(planned, "alb-sg"), named(planned, "database-sg")
    opened = [
        *planned,
        _rule(
            alb,
            "alb-to-vpc",
            EGRESS,
            {"ipProtocol": "-1", "cidrIpv4": "10.0.0.0/16"},
            securityGroupId=alb.urn,
        ),
        _rule(
            database,
            "db-from-alb",
            INGRESS,
            {"fromPort": 5432.0, "toPort": 5432.0},
            securityGroupId=database.urn,
            referencedSecurityGroupId=alb.urn,
        ),
    ]
    found = by_name(flows_of(opened))
    assert found["alb -> database-primary on 5432"].explanation == (
        "alb -> database-primary on 5432: security group alb-sg has egress to database-sg on 5432; "
        "security group database-sg has ingress from alb-sg on 5432"
    )
    assert not found["alb -> cache on 6379"].open
    assert [m for m in blocking(opened) if m.startswith("alb -> ")] == [
        found["alb -> database-primary on 5432"].explanation + ", so a path that must stay closed is open."
    ]


# --- identified by structure, not by name -----------------------------------------------------------


def _renamed(planned: Sequence[PlannedResource]) -> list[PlannedResource]:
    """Every resource under another logical name, references rewired: what a rename in the code does."""
    urns = {r.urn: r.urn.rsplit("::", 1)[0] + "::renamed-" + str(i) for i, r in enumerate(planned)}
    return [
        dataclasses.replace(
            r,
            name=urns[r.urn].rsplit("::", 1)[1],
            urn=urns[r.urn],
            property_dependencies={
                k: tuple(urns.get(u, u) for u in v) for k, v in r.property_dependencies.items()
            },
        )
        for r in planned
    ]


def test_renamed_resources_are_still_analysed() -> None:
    planned = _renamed(resources())
    flows = flows_of(planned)
    assert len(flows) == len(flows_of(resources())) and not [f for f in flows if f.wrong]
    alb_group = next(r for r in planned if r.type == EGRESS and r.inputs.get("referencedSecurityGroupId"))
    assert any(
        "has no egress" in f.explanation for f in flows_of(without(planned, alb_group.name)) if f.wrong
    )


# --- ordering (defect 10) ---------------------------------------------------------------------------


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_nat_gateways_wait_for_the_internet_gateway(stack: str) -> None:
    """AWS refuses a public NAT gateway before the VPC's internet gateway is attached (Gateway.NotAttached)."""
    planned = resources(stack)
    gateway = next(r for r in planned if r.type == IGW)
    nats = [r for r in planned if r.type == NAT]
    assert nats and all(gateway.urn in nat.dependencies for nat in nats)


def test_a_nat_gateway_that_does_not_wait_fails_the_plan() -> None:
    """The plan of the code before the fix: the NAT gateways' dependencies without the internet gateway."""
    planned = resources("staging")
    gateway = next(r.urn for r in planned if r.type == IGW)
    racing = [
        dataclasses.replace(r, dependencies=tuple(u for u in r.dependencies if u != gateway))
        if r.type == NAT
        else r
        for r in planned
    ]
    report = evaluate(racing, "staging")
    assert sorted(v.resource for v in report.mandatory if v.rule == "vpc-nat-after-internet-gateway") == [
        "network-nat-a",
        "network-nat-b",
    ]
    assert "vpc-nat-after-internet-gateway" not in {v.rule for v in evaluate(planned, "staging").violations}


def test_an_internal_load_balancer_cannot_be_reached_by_cloudfront() -> None:
    planned = resources()
    alb = named(planned, "alb")
    internal = replaced(planned, "alb", inputs={**alb.inputs, "internal": True})
    assert blocking(internal)[0] == (
        "cloudfront -> alb on 443: load balancer alb is internal (no address CloudFront can reach), so the "
        "app's traffic is dropped on this path."
    )


def test_a_zone_the_load_balancer_does_not_serve_fails_the_plan() -> None:
    planned = resources()
    alb = named(planned, "alb")
    two_zones = tuple(u for u in alb.property_dependencies["subnets"] if not u.endswith("network-public-c"))
    narrowed = replaced(
        planned, "alb", property_dependencies={**alb.property_dependencies, "subnets": two_zones}
    )
    assert blocking(narrowed) == [
        f"alb -> {group} on 8000 (requests and health checks): load balancer alb has no subnet in "
        f"us-east-1c, where {group} places instances, so the app's traffic is dropped on this path."
        for group in ("tags-asg", "web-asg")  # every web service of the prod stack, in the flows' order
    ]
