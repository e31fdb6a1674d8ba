"""Every shipped stack passes its mandatory rules, and the dangerous edits a user might make are refused."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
import yaml

from infra.planned import Plan
from infra.policies import PolicyReport, evaluate
from infra.spec import STACKS_DIR, SpecError, StackSpec, load_spec_file
from tests.conftest import SHIPPED_STACKS as SHIPPED
from tests.conftest import plan_of


@cache
def _checked(stack: str) -> tuple[StackSpec, Plan, PolicyReport]:
    spec, plan = plan_of(stack)
    return spec, plan, evaluate(plan.resources, spec.environment, spec.policy.waivers)


def test_the_three_environments_are_shipped() -> None:
    assert {"dev", "staging", "prod"} <= set(SHIPPED)


@pytest.mark.parametrize("stack", SHIPPED)
def test_shipped_stack_has_no_mandatory_violation(stack: str) -> None:
    _, _, report = _checked(stack)
    assert [(v.rule, v.resource, v.message) for v in report.mandatory] == []


def test_prod_plans_with_no_violation_at_all() -> None:
    _, _, report = _checked("prod")
    assert report.to_json()["violations"] == []


def test_rules_see_the_real_topology() -> None:
    """Guard against a vacuous pass: the plan must contain what the rules are about."""
    _, plan, _ = _checked("prod")
    types = {r.type for r in plan.resources}
    for token in (
        "aws:rds/instance:Instance",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:lb/loadBalancer:LoadBalancer",
        "aws:cloudfront/distribution:Distribution",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    ):
        assert token in types
    stripped = [
        r for r in plan.resources if r.type != "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
    ]
    assert "s3-block-public-access" in {v.rule for v in evaluate(stripped, "prod").violations}


def _stack_file(tmp_path: Path, base: str, edit: dict[str, object]) -> Path:
    document = yaml.safe_load((STACKS_DIR / f"Pulumi.{base}.yaml").read_text())
    for key, value in edit.items():
        section, _, leaf = key.partition(".")
        document["config"].setdefault(f"scalestack:{section}", {})[leaf] = value
    path = tmp_path / f"Pulumi.{base}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("database.publiclyAccessible", True),
        ("database.storageEncrypted", False),
        ("web.sshIngressCidrs", ["0.0.0.0/0"]),
        ("cache.transitEncryption", False),
    ],
)
@pytest.mark.parametrize("base", ["dev", "prod"])
def test_dangerous_stack_file_is_refused_with_the_key_and_why(
    tmp_path: Path, base: str, key: str, value: object
) -> None:
    path = _stack_file(tmp_path, base, {key: value})
    with pytest.raises(SpecError) as refused:
        load_spec_file(path)
    message = str(refused.value)
    assert str(path) in message and key.split(".")[1] in message
