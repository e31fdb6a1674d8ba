"""Defect 13: the app reaches PostgreSQL as its own role with IAM tokens, never as the rotating master user.

The instance role may sign tokens for that one database user, on the primary and on each replica (each
instance has its own DbiResourceId, https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/
UsingWithRDS.IAMDBAuth.IAMPolicy.html), and the container sees the tokens through a read-only mount.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable

import pytest

from infra.components import app_settings
from infra.components.app_settings import APP_DATABASE_USER, TOKEN_DIR_IN_CONTAINER, TOKEN_DIR_ON_HOST
from infra.planned import Plan
from infra.policies.values import plain
from infra.spec import StackSpec
from scripts.deploy import pipeline

Planned = Callable[[str], tuple[StackSpec, Plan]]


def _connect_resources(plan: Plan, role_policy: str) -> list[str]:
    policy = next(r for r in plan.by_type("aws:iam/rolePolicy:RolePolicy") if r.name == role_policy)
    document = json.loads(plain(policy.inputs)["policy"])
    granted = [s for s in document["Statement"] if "rds-db:connect" in s["Action"]]
    assert len(granted) == 1 and granted[0]["Action"] == ["rds-db:connect"]
    resources: list[str] = granted[0]["Resource"]
    return resources


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_instances_may_connect_as_the_app_user_on_every_database_instance_only(
    planned: Planned, stack: str
) -> None:
    spec, plan = planned(stack)
    instances = plan.by_type("aws:rds/instance:Instance")
    assert len(instances) == 1 + spec.database.read_replicas
    pattern = re.compile(
        rf"arn:aws:rds-db:{spec.region}:\d{{12}}:dbuser:(db-[A-Z0-9]{{26}})/{APP_DATABASE_USER}"
    )
    for group in ("web", "worker"):
        resources = _connect_resources(plan, f"{group}-access")
        ids = [m.group(1) for m in map(pattern.fullmatch, resources) if m]
        assert len(ids) == len(resources) == len(instances)
        assert len(set(ids)) == len(ids)  # the primary's and each replica's own resource ID
        policy = next(r for r in plan.by_type("aws:iam/rolePolicy:RolePolicy") if r.name == f"{group}-access")
        # The ARNs are built from the database instances themselves, all of them.
        assert {i.urn for i in instances} <= set(policy.property_dependencies.get("policy", ()))


def test_the_container_reads_tokens_that_a_timer_keeps_fresh(planned: Planned) -> None:
    _, plan = planned("prod")
    for template in plan.by_type("aws:ec2/launchTemplate:LaunchTemplate"):
        script = base64.b64decode(plain(template.inputs)["userData"]).decode()
        start = script[script.index("ExecStart=/usr/bin/docker run") :].split("\nExecStop", 1)[0]
        assert f"-v {TOKEN_DIR_ON_HOST}:{TOKEN_DIR_IN_CONTAINER}:ro" in start
        assert "ExecStart=/usr/local/bin/scalestack-render-env tokens" in script
        assert "OnUnitActiveSec=5min" in script  # well inside a token's 15 minutes
        assert "systemctl enable --now scalestack-db-tokens.timer" in script


def test_the_pipeline_and_the_user_data_agree_on_the_migration_files(planned: Planned) -> None:
    assert pipeline.MIGRATION_ENV_FILE == app_settings.MIGRATION_ENV_FILE
    _, plan = planned("dev")
    template = plan.by_type("aws:ec2/launchTemplate:LaunchTemplate")[0]
    script = base64.b64decode(plain(template.inputs)["userData"]).decode()
    assert f"cat > {pipeline.RENDER_COMMAND} <<'RENDER'" in script
