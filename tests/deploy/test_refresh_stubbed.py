"""Instance refresh and Run Command are not in moto: the real adapters on real boto3 clients, answered by
botocore's Stubber in the order AWS would answer, through realistic sequences. What the refreshes do to
each instance is tested against the AWS model (test_asg_model.py, test_pipeline.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from scripts.deploy.aws import AutoScalingRefreshes, SsmCommandRunner
from scripts.deploy.errors import DeployError
from scripts.deploy.ports import RolloutPreferences, TargetHealth, TemplateVersion
from scripts.deploy.rollout import Rollout, RolloutTarget, RolloutTiming
from scripts.exit_codes import ExitCode

from .fakes import FakeClock, FakeFleet

PREFS = RolloutPreferences(
    min_healthy_percentage=90,
    checkpoint_percentages=(50,),
    checkpoint_delay_seconds=120,
    instance_warmup_seconds=60,
)
TARGET = RolloutTarget(
    groups={"web": "web-asg", "worker": "worker-asg"},
    target_group_arns={"web": "arn:tg"},
    alarm_names={"web": ("web-5xx",), "worker": ("web-5xx",)},
    preferences={"web": PREFS, "worker": PREFS},
)
COMMAND_ID = "6a1b5c1e-0d9f-4c7e-9f64-2b8f3e0f8a11"
TIMING = RolloutTiming(poll_seconds=1, timeout_seconds=100, health_timeout_seconds=5, failed_grace_polls=2)


@pytest.fixture
def asg(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Stubber]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("autoscaling", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def refresh(rid: str, status: str, pct: int = 0, reason: str = "") -> dict[str, Any]:
    item = {
        "InstanceRefreshId": rid,
        "AutoScalingGroupName": "g",
        "Status": status,
        "PercentageComplete": pct,
        "StartTime": datetime(2026, 1, 1, tzinfo=UTC),
    }
    if reason:
        item["StatusReason"] = reason
    return {"InstanceRefreshes": [item]}


def expect_get(stubber: Stubber, group: str, rid: str, status: str, pct: int = 0, reason: str = "") -> None:
    stubber.add_response(
        "describe_instance_refreshes",
        refresh(rid, status, pct, reason),
        {"AutoScalingGroupName": group, "InstanceRefreshIds": [rid]},
    )


def expect_latest(stubber: Stubber, group: str, rid: str, status: str, pct: int = 0) -> None:
    stubber.add_response(
        "describe_instance_refreshes",
        refresh(rid, status, pct),
        {"AutoScalingGroupName": group, "MaxRecords": 1},
    )


def make_rollout(client: Any, fleet: FakeFleet | None = None) -> tuple[Rollout, list[tuple[str, str]]]:
    printed: list[tuple[str, str]] = []
    rollout = Rollout(
        AutoScalingRefreshes(client),
        fleet or FakeFleet(),
        FakeClock(lambda: None),
        TARGET,
        TIMING,
        lambda status, message, data: printed.append((status, message)),
    )
    return rollout, printed


def test_begin_sends_each_group_its_desired_configuration_on_the_new_version(
    asg: tuple[Any, Stubber],
) -> None:
    """The web group's launch template and the worker's mixed instances policy, each on version 8."""
    client, stubber = asg
    web = {"LaunchTemplate": {"LaunchTemplateId": "lt-web", "LaunchTemplateName": "web-lt", "Version": "7"}}
    worker = {
        "MixedInstancesPolicy": {
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateId": "lt-worker", "Version": "7"},
                "Overrides": [{"InstanceType": "t3.small"}],
            },
            "InstancesDistribution": {"OnDemandPercentageAboveBaseCapacity": 0},
        }
    }
    desired = {
        "web-asg": {"LaunchTemplate": {"LaunchTemplateId": "lt-web", "Version": "8"}},
        "worker-asg": {
            "MixedInstancesPolicy": {
                "LaunchTemplate": {
                    "LaunchTemplateSpecification": {"LaunchTemplateId": "lt-worker", "Version": "8"},
                    "Overrides": [{"InstanceType": "t3.small"}],
                },
                "InstancesDistribution": {"OnDemandPercentageAboveBaseCapacity": 0},
            }
        },
    }
    for group, saved in (("web-asg", web), ("worker-asg", worker)):
        stubber.add_response(
            "describe_auto_scaling_groups",
            {"AutoScalingGroups": [describe_group(group, saved)]},
            {"AutoScalingGroupNames": [group]},
        )
        stubber.add_response(
            "start_instance_refresh",
            {"InstanceRefreshId": f"{group}-new"},
            {
                "AutoScalingGroupName": group,
                "Strategy": "Rolling",
                "DesiredConfiguration": desired[group],
                "Preferences": {
                    "MinHealthyPercentage": 90,
                    "InstanceWarmup": 60,
                    "AutoRollback": True,
                    "SkipMatching": True,
                    "ScaleInProtectedInstances": "Refresh",
                    "StandbyInstances": "Terminate",
                    "CheckpointPercentages": [50, 100],
                    "CheckpointDelay": 120,
                    "AlarmSpecification": {"Alarms": ["web-5xx"]},
                },
            },
        )
    rollout, printed = make_rollout(client)

    ids = rollout.begin({"web": TemplateVersion("lt-web", "8"), "worker": TemplateVersion("lt-worker", "8")})

    assert ids == {"web": "web-asg-new", "worker": "worker-asg-new"}
    assert printed[0] == ("progress", "web: started refresh web-asg-new to launch template version 8")


def describe_group(name: str, configuration: dict[str, Any]) -> dict[str, Any]:
    return {
        "AutoScalingGroupName": name,
        "MinSize": 1,
        "MaxSize": 2,
        "DesiredCapacity": 1,
        "DefaultCooldown": 300,
        "AvailabilityZones": ["us-east-1a"],
        "HealthCheckType": "ELB",
        "CreatedTime": datetime(2026, 1, 1, tzinfo=UTC),
        **configuration,
    }


def test_failed_then_rolled_back_by_aws_rolls_the_other_group_back(asg: tuple[Any, Stubber]) -> None:
    """InProgress -> Failed -> RollbackInProgress -> RollbackSuccessful, with the worker mid-refresh."""
    client, stubber = asg
    expect_get(stubber, "web-asg", "w1", "InProgress", 0)
    expect_get(stubber, "worker-asg", "k1", "InProgress", 0)
    expect_get(stubber, "web-asg", "w1", "Failed", 50, "Instances failed ELB health checks")
    expect_latest(stubber, "worker-asg", "k1", "InProgress", 40)
    stubber.add_response(
        "rollback_instance_refresh", {"InstanceRefreshId": "k1"}, {"AutoScalingGroupName": "worker-asg"}
    )
    expect_get(stubber, "worker-asg", "k1", "RollbackInProgress", 40)
    expect_get(stubber, "web-asg", "w1", "RollbackInProgress", 50)
    expect_get(stubber, "worker-asg", "k1", "RollbackSuccessful", 100)
    expect_get(stubber, "web-asg", "w1", "RollbackSuccessful", 100)
    rollout, printed = make_rollout(client)

    with pytest.raises(DeployError) as failure:
        rollout.follow({"web": "w1", "worker": "k1"})

    assert failure.value.code == ExitCode.ROLLOUT_FAILED
    assert failure.value.message == "web refresh w1 failed at 50%: Instances failed ELB health checks"
    assert printed == [
        ("progress", "web: InProgress 0%"),
        ("progress", "worker: InProgress 0%"),
        ("failed", "web: Failed 50% (Instances failed ELB health checks)"),
        ("progress", "worker: rolling back refresh (web failed)"),
        ("progress", "worker: RollbackInProgress 40%"),
        ("progress", "web: RollbackInProgress 50%"),
        ("failed", "worker: RollbackSuccessful 100%"),
        ("failed", "web: RollbackSuccessful 100%"),
    ]


def test_unhealthy_checkpoint_rolls_back_and_falls_back_to_cancel(asg: tuple[Any, Stubber]) -> None:
    client, stubber = asg
    fleet = FakeFleet()
    fleet.targets = [TargetHealth("i-new", "unhealthy", "Health checks failed")]
    expect_get(stubber, "web-asg", "w1", "InProgress", 50, "Waiting for checkpoint to complete")
    expect_latest(stubber, "web-asg", "w1", "InProgress", 50)
    stubber.add_response(
        "rollback_instance_refresh", {"InstanceRefreshId": "w1"}, {"AutoScalingGroupName": "web-asg"}
    )
    expect_latest(stubber, "worker-asg", "k1", "InProgress", 50)
    stubber.add_client_error(
        "rollback_instance_refresh",
        "IrreversibleInstanceRefresh",
        "cannot roll back",
        expected_params={"AutoScalingGroupName": "worker-asg"},
    )
    stubber.add_response(
        "cancel_instance_refresh", {"InstanceRefreshId": "k1"}, {"AutoScalingGroupName": "worker-asg"}
    )
    expect_get(stubber, "worker-asg", "k1", "Cancelling", 50)
    expect_get(stubber, "web-asg", "w1", "RollbackSuccessful", 100)
    expect_get(stubber, "worker-asg", "k1", "Cancelled", 50)
    rollout, printed = make_rollout(client, fleet)

    with pytest.raises(DeployError) as failure:
        rollout.follow({"web": "w1", "worker": "k1"})

    assert "web checkpoint 50% failed: unhealthy targets: i-new unhealthy (Health checks failed)" in (
        failure.value.message
    )
    assert ("progress", "web: rolling back refresh (checkpoint failed)") in printed
    assert any(
        status == "warning" and "cancelled refresh k1 instead" in message for status, message in printed
    )


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Stubber]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("ssm", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(("final", "stdout"), [("Success", "Running upgrade 0001 -> 0002"), ("Failed", "")])
def test_run_command_waits_for_the_invocation(ssm: tuple[Any, Stubber], final: str, stdout: str) -> None:
    client, stubber = ssm
    commands = ["set -eu", "docker run --rm img migrate"]
    stubber.add_response(
        "send_command",
        {"Command": {"CommandId": COMMAND_ID}},
        {
            "InstanceIds": ["i-web1"],
            "DocumentName": "AWS-RunShellScript",
            "Comment": "migrate",
            "Parameters": {"commands": commands, "executionTimeout": ["600"]},
        },
    )
    invocation = {"CommandId": COMMAND_ID, "InstanceId": "i-web1"}
    stubber.add_client_error("get_command_invocation", "InvocationDoesNotExist", expected_params=invocation)
    stubber.add_response("get_command_invocation", {"Status": "InProgress"}, invocation)
    stubber.add_response(
        "get_command_invocation",
        {
            "Status": final,
            "StandardOutputContent": stdout,
            "StandardErrorContent": "" if stdout else "lock timeout",
        },
        invocation,
    )
    clock = FakeClock(lambda: None)

    result = SsmCommandRunner(client, clock, poll_seconds=2).run("i-web1", commands, "migrate", 600)

    assert (result.status, result.stdout) == (final, stdout)
    assert clock.now == 4  # two polls while pending, none after the answer
