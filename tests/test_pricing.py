"""The cost view of a plan: standing charges per resource, from the plan the stack really makes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from infra.offline import plan_stack
from infra.planned import Plan
from infra.pricing import HOURS_PER_MONTH, MONTHLY, estimate
from infra.spec import StackSpec, parse_config
from scripts.cli import cli
from scripts.exit_codes import ExitCode

ROOT = Path(__file__).resolve().parents[1]

Planned = Callable[[str], tuple[StackSpec, Plan]]


def test_environments_cost_in_the_order_of_their_availability(planned: Planned) -> None:
    totals = {stack: estimate(planned(stack)[1]).total for stack in ("dev", "staging", "prod")}
    assert 0 < totals["dev"] < totals["staging"] < totals["prod"]


def test_one_line_per_charge_priced_from_the_plan(planned: Planned) -> None:
    spec, plan = planned("prod")
    lines = estimate(plan).lines
    nats = [line for line in lines if line.item == "NAT gateway"]
    assert len(nats) == len(plan.by_type("aws:ec2/natGateway:NatGateway")) == 3
    assert {line.monthly for line in nats} == {round(0.045 * HOURS_PER_MONTH, 2)}
    primary = next(
        line for line in lines if line.resource == "database-primary" and line.item.startswith("RDS Postgre")
    )
    assert primary.quantity == 2 and "Multi-AZ" in primary.note  # the standby is billed too
    replica_storage = {
        line.quantity for line in lines if line.item == "RDS gp3 storage" and "replica" in line.resource
    }
    assert replica_storage == {float(spec.database.allocated_storage_gib)}
    web = next(line for line in lines if line.resource == "web-asg" and line.item.startswith("EC2"))
    assert web.item == f"EC2 {spec.web.instance_type}" and web.quantity == spec.web.desired_capacity
    endpoints = [line for line in lines if line.item == "Interface endpoint"]
    assert endpoints and {line.quantity for line in endpoints} == {3.0}
    assert estimate(plan).total == round(sum(line.monthly or 0 for line in lines), 2)


def test_spot_workers_are_priced_on_demand_and_say_so(planned: Planned) -> None:
    _, plan = planned("dev")
    worker = next(
        line for line in estimate(plan).lines if line.resource == "worker-asg" and line.item.startswith("EC2")
    )
    assert "spot" in worker.note and worker.monthly is not None


def test_a_size_missing_from_the_table_is_unpriced_not_guessed() -> None:
    config = {
        "aws:region": "us-east-1",
        "scalestack:environment": "dev",
        "scalestack:imageTag": "1",
        "scalestack:web": {"instanceType": "c5.large"},
    }
    result = estimate(plan_stack(parse_config(config, stack="odd", source="Pulumi.odd.yaml")))
    assert [(line.resource, line.item) for line in result.unpriced] == [("web-asg", "EC2 c5.large")]
    assert result.total == round(sum(line.monthly or 0 for line in result.lines), 2)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_cost_command_json(stack: str) -> None:
    result = CliRunner().invoke(cli, ["cost", "--stack", stack, "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["currency"] == "USD" and document["total"] > MONTHLY["load_balancer"]
    assert any(line["item"] == "Application load balancer" for line in document["lines"])


def test_cost_command_refuses_a_bad_stack() -> None:
    result = CliRunner().invoke(cli, ["cost", "--stack", "nope"])
    assert result.exit_code == 3 and "no stack 'nope'" in result.stderr


def test_cost_refuses_a_region_it_has_no_prices_for(tmp_path: Path) -> None:
    """An eu-west-1 stack was priced with us-east-1's list prices (issue 14); now it gets no estimate."""
    stack_file = tmp_path / "Pulumi.ireland.yaml"
    stack_file.write_text(
        (ROOT / "stacks" / "Pulumi.dev.yaml")
        .read_text()
        .replace("aws:region: us-east-1", "aws:region: eu-west-1")
    )
    result = CliRunner().invoke(cli, ["cost", "--stack-file", str(stack_file)])
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith("error: stack 'ireland' is in eu-west-1; scalestack cost has list prices")
    assert result.stdout == ""
