"""Instance refresh step by step, through the real adapter and boto3 client to the AWS model: which launch
template version each instance runs and what the group has saved, before, during and after a refresh, after
a rollback, and the requests AWS refuses (each cited in asg_model.py)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from scripts.deploy.aws import AutoScalingRefreshes
from scripts.deploy.ports import GroupConfiguration, RolloutPreferences, TemplateVersion

from .asg_model import AutoScalingModel
from .fakes import WEB_GROUP, WEB_TEMPLATE, model_client

PREFS = RolloutPreferences(
    min_healthy_percentage=90,
    checkpoint_percentages=(),
    checkpoint_delay_seconds=0,
    instance_warmup_seconds=60,
)


@pytest.fixture
def model() -> AutoScalingModel:
    model = AutoScalingModel()
    model.add_group("web-asg", WEB_GROUP, size=2)
    return model


def state(model: AutoScalingModel, refreshes: AutoScalingRefreshes) -> tuple[str, list[str], str]:
    """The refresh's status, the version each instance runs, the version saved on the group."""
    latest = refreshes.latest("web-asg")
    return (latest.status if latest else "none", model.versions("web-asg"), model.saved_version("web-asg"))


def to_version(refreshes: AutoScalingRefreshes, version: str, auto_rollback: bool = True) -> str:
    desired = refreshes.configuration("web-asg").with_template(TemplateVersion(WEB_TEMPLATE, version))
    return refreshes.start("web-asg", desired, PREFS, alarms=["web-5xx"], auto_rollback=auto_rollback)


def test_a_successful_refresh_saves_the_new_version_only_when_it_ends(model: AutoScalingModel) -> None:
    refreshes = AutoScalingRefreshes(model_client(model))
    version = model.create_version(WEB_TEMPLATE)  # `pulumi up`: version 4, nothing moves
    assert state(model, refreshes) == ("none", ["3", "3"], "3")

    to_version(refreshes, version)
    seen = [state(model, refreshes)]
    for _ in range(4):
        model.step()
        seen.append(state(model, refreshes))

    assert seen == [
        ("Pending", ["3", "3"], "3"),
        ("InProgress", ["3", "3"], "3"),
        ("InProgress", ["4", "3"], "3"),  # the group keeps the previous version while it refreshes
        ("InProgress", ["4", "4"], "3"),
        ("Successful", ["4", "4"], "4"),  # saved on the group when the refresh succeeds
    ]


def test_a_rollback_returns_every_instance_to_the_saved_version(model: AutoScalingModel) -> None:
    refreshes = AutoScalingRefreshes(model_client(model))
    to_version(refreshes, model.create_version(WEB_TEMPLATE))
    model.step()
    model.step()
    assert state(model, refreshes) == ("InProgress", ["4", "3"], "3")

    refreshes.rollback("web-asg")
    seen = [state(model, refreshes)]
    for _ in range(2):
        model.step()
        seen.append(state(model, refreshes))

    assert seen == [
        ("RollbackInProgress", ["4", "3"], "3"),
        ("RollbackInProgress", ["3", "3"], "3"),
        ("RollbackSuccessful", ["3", "3"], "3"),
    ]


def test_an_alarm_rolls_the_refresh_back_on_its_own(model: AutoScalingModel) -> None:
    refreshes = AutoScalingRefreshes(model_client(model))
    version = model.create_version(WEB_TEMPLATE)
    model.alarm_rules = {"web-5xx": (WEB_TEMPLATE, version)}
    to_version(refreshes, version)

    seen = []
    for _ in range(4):
        model.step()
        seen.append(state(model, refreshes))

    assert seen == [
        ("InProgress", ["3", "3"], "3"),
        ("RollbackInProgress", ["4", "3"], "3"),  # version 4 serves, the alarm fires, AWS rolls back
        ("RollbackInProgress", ["3", "3"], "3"),
        ("RollbackSuccessful", ["3", "3"], "3"),
    ]


def test_a_finished_refresh_cannot_be_rolled_back_but_a_new_one_goes_back(model: AutoScalingModel) -> None:
    refreshes = AutoScalingRefreshes(model_client(model))
    to_version(refreshes, model.create_version(WEB_TEMPLATE))
    for _ in range(4):
        model.step()
    assert state(model, refreshes) == ("Successful", ["4", "4"], "4")

    with pytest.raises(ClientError) as refused:
        refreshes.rollback("web-asg")
    assert refused.value.response["Error"]["Code"] == "ActiveInstanceRefreshNotFound"

    to_version(refreshes, "3", auto_rollback=False)
    for _ in range(4):
        model.step()
    assert state(model, refreshes) == ("Successful", ["3", "3"], "3")


def test_auto_rollback_without_a_desired_configuration_is_refused(model: AutoScalingModel) -> None:
    """Defect 5: the request the pipeline used to send. AWS refuses it; so does the model."""
    client = model_client(model)

    with pytest.raises(ClientError) as refused:
        client.start_instance_refresh(
            AutoScalingGroupName="web-asg",
            Strategy="Rolling",
            Preferences={"MinHealthyPercentage": 90, "AutoRollback": True, "SkipMatching": True},
        )

    assert refused.value.response["Error"] == {
        "Code": "ValidationError",
        "Message": "The AutoRollback parameter cannot be set to true when the DesiredConfiguration "
        "parameter is empty.",
        "Type": "Sender",
    }
    assert model.groups["web-asg"].refreshes == []


@pytest.mark.parametrize("version", ["$Latest", "$Default"])
def test_auto_rollback_to_an_unnumbered_version_is_refused(model: AutoScalingModel, version: str) -> None:
    refreshes = AutoScalingRefreshes(model_client(model))
    desired = GroupConfiguration({"LaunchTemplate": {"LaunchTemplateId": WEB_TEMPLATE, "Version": version}})

    with pytest.raises(ClientError) as refused:
        refreshes.start("web-asg", desired, PREFS, alarms=[], auto_rollback=True)

    assert refused.value.response["Error"]["Code"] == "ValidationError"


def test_botocore_still_validates_every_request(model: AutoScalingModel) -> None:
    client = model_client(model)
    bad: dict[str, Any] = {"MinHealthyPercentage": "ninety"}

    with pytest.raises(ParamValidationError):
        client.start_instance_refresh(AutoScalingGroupName="web-asg", Preferences=bad)
