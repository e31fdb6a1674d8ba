"""`scalestack plan --format terraform-json`: the plan in the shape Terraform scanners read."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pulumi_aws
import pytest
from click.testing import CliRunner

from infra.planned import SECRET_MASK, Plan, PlannedResource, masked
from infra.spec import StackSpec
from infra.terraform_export import MAP_ARGUMENTS, TERRAFORM_TYPES, UnmappedTypeError, export, snake_case
from scripts.cli import cli
from scripts.exit_codes import ExitCode
from tests.conftest import SHIPPED_STACKS

Planned = Callable[[str], tuple[StackSpec, Plan]]
TERRAFORM_NAME = re.compile(r"^[a-z0-9_]+$")


def resources_of(document: dict[str, Any], tf_type: str) -> list[dict[str, Any]]:
    return [r for r in document["planned_values"]["root_module"]["resources"] if r["type"] == tf_type]


def one(document: dict[str, Any], address: str) -> dict[str, Any]:
    return next(r for r in document["planned_values"]["root_module"]["resources"] if r["address"] == address)


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_deployed_type_has_a_terraform_name(planned: Planned, stack: str) -> None:
    _, plan = planned(stack)
    deployed = {r.type for r in plan.resources if r.custom and not r.type.startswith("pulumi:providers:")}
    assert deployed - set(TERRAFORM_TYPES) == set()
    document = export(plan)
    assert len(document["resource_changes"]) == sum(
        1 for r in plan.resources if r.custom and not r.type.startswith("pulumi:providers:")
    )


def test_a_type_without_a_terraform_name_fails_the_export_naming_it() -> None:
    stranger = PlannedResource(type="aws:sqs/queue:Queue", name="jobs", urn="urn:q", parent=None, inputs={})
    with pytest.raises(UnmappedTypeError, match=r"aws:sqs/queue:Queue.*TERRAFORM_TYPES"):
        export(Plan(stack="x", resources=(stranger,), outputs={}))


def attribute_names(value: Any, key: str = "") -> Iterator[str]:
    """Every attribute name in Terraform values, map arguments' keys (tag keys) excepted."""
    if isinstance(value, dict) and key not in MAP_ARGUMENTS:
        for name, inner in value.items():
            yield name
            yield from attribute_names(inner, name)
    elif isinstance(value, list):
        for item in value:
            yield from attribute_names(item, key)


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_argument_has_a_terraform_name_and_every_change_creates(planned: Planned, stack: str) -> None:
    document = export(planned(stack)[1])
    for resource in document["planned_values"]["root_module"]["resources"]:
        bad = [n for n in attribute_names(resource["values"]) if not TERRAFORM_NAME.match(n)]
        assert bad == [], f"{resource['address']}: {bad}"
    assert {tuple(c["change"]["actions"]) for c in document["resource_changes"]} == {("create",)}
    addresses = [r["address"] for r in document["resource_changes"]]
    assert len(addresses) == len(set(addresses))


def test_pluralised_blocks_get_terraform_names_and_nested_blocks_are_lists(planned: Planned) -> None:
    document = export(planned("prod")[1])
    listener = resources_of(document, "aws_lb_listener")[0]["values"]
    assert "default_action" in listener and "default_actions" not in listener
    group = resources_of(document, "aws_autoscaling_group")[0]["values"]
    assert isinstance(group["vpc_zone_identifier"], list) and "tag" in group
    assert group["launch_template"][0]["version"]  # a block allowed once is still a list of one
    cdn = resources_of(document, "aws_cloudfront_distribution")[0]["values"]
    assert cdn["origin"] and cdn["ordered_cache_behavior"] and cdn["default_cache_behavior"][0]
    acl = resources_of(document, "aws_wafv2_web_acl")[0]["values"]
    assert acl["rule"][0]["visibility_config"][0]["metric_name"]
    route_tables = resources_of(document, "aws_route_table")
    assert any(t["values"].get("route") for t in route_tables)
    vpc = resources_of(document, "aws_vpc")[0]["values"]
    assert vpc["tags"]["Name"]  # map keys are data, not argument names


def test_references_come_from_the_engines_property_dependencies(planned: Planned) -> None:
    _, plan = planned("prod")
    document = export(plan)
    configured = {r["address"]: r for r in document["configuration"]["root_module"]["resources"]}
    rule = configured["aws_vpc_security_group_ingress_rule.web-from-alb"]["expressions"]
    assert rule["security_group_id"] == {"references": ["aws_security_group.web-sg"]}
    assert rule["referenced_security_group_id"] == {"references": ["aws_security_group.alb-sg"]}
    assert rule["from_port"] == {"constant_value": 8000}
    listener = next(r for a, r in configured.items() if a == "aws_lb_listener.alb-https")
    assert listener["expressions"]["default_action"][0]["type"] == {"constant_value": "fixed-response"}
    for resource in configured.values():
        for expression in resource["expressions"].values():
            if isinstance(expression, dict):  # a block's expressions are a list of these
                assert set(expression.get("references", [])) <= set(configured)


def test_secrets_are_masked_as_in_the_other_formats(planned: Planned) -> None:
    _, plan = planned("prod")
    secret_inputs = [
        r for r in plan.resources if r.type == "aws:elasticache/replicationGroup:ReplicationGroup"
    ]
    assert secret_inputs and all(r.inputs.get("authToken") for r in secret_inputs)
    document = export(plan)
    cache = resources_of(document, "aws_elasticache_replication_group")[0]
    assert cache["values"]["auth_token"] == SECRET_MASK
    text = json.dumps(document)
    assert "x" * 32 not in text  # the mock's password value, which a secret would carry


def test_the_cli_prints_the_export() -> None:
    result = CliRunner().invoke(cli, ["plan", "--stack", "dev", "--format", "terraform-json"])
    assert result.exit_code == ExitCode.OK, result.output
    document = json.loads(result.stdout)
    assert document["format_version"].startswith("1.")
    assert resources_of(document, "aws_lb")[0]["address"] == "aws_lb.alb"


def sdk_python_names(modules: set[str]) -> dict[str, str]:
    """camelCase -> snake_case as the pulumi-aws SDK spells its properties (`@pulumi.getter(name=...)`)."""
    getter = re.compile(r'@pulumi\.getter\(name="(\w+)"\)\s+def (\w+)\(')
    root = Path(pulumi_aws.__file__).parent
    names: dict[str, str] = {}
    for module in modules:
        for source in (root / module).glob("*.py"):
            names.update(getter.findall(source.read_text()))
    return names


def test_snake_case_spells_every_input_as_the_sdk_does(planned: Planned) -> None:
    resources = [r for s in SHIPPED_STACKS for r in planned(s)[1].resources if r.type.startswith("aws:")]
    sdk = sdk_python_names({r.type.split(":")[1].split("/")[0] for r in resources})
    camel = {n for r in resources for n in attribute_names(masked(r.inputs))}
    checked = {n for n in camel if n in sdk}
    assert len(checked) > 50  # most inputs are two words or more, so the SDK names them
    assert {n: snake_case(n) for n in checked if snake_case(n) != sdk[n]} == {}


def test_every_mapped_type_token_is_one_the_sdk_registers() -> None:
    root = Path(pulumi_aws.__file__).parent
    unknown = []
    for token in (t for t in TERRAFORM_TYPES if t.startswith("aws:")):
        module = token.split(":")[1].split("/")[0]
        # Modules named after Python keywords get a trailing underscore (pulumi_aws.lambda_).
        folder = root / module if (root / module).is_dir() else root / f"{module}_"
        if not any(f"'{token}'" in f.read_text() for f in folder.glob("*.py")):
            unknown.append(token)
    assert unknown == []
