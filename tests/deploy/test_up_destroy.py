"""`scalestack up`, the diff a deploy shows before its prompt, and `scalestack destroy`, over a fake of the
Automation API's stack (tests/deploy/fakes.py FakeStack) and the engine events a real preview reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pulumi import automation as auto

from scripts.cli import cli
from scripts.deploy.preview import DiffSummary, ResourceChange
from scripts.deploy.pulumi_stack import PreviewEvents
from scripts.exit_codes import ExitCode

from .fakes import FAST, World

DB_URN = "urn:pulumi:dev::scalestack::scalestack:Database$aws:rds/instance:Instance::db"
DB_REPLACEMENT = [
    ResourceChange(op, "aws:rds/instance:Instance", DB_URN)
    for op in ("create-replacement", "replace", "delete-replaced")
]
SG_UPDATE = ResourceChange(
    "update", "aws:ec2/securityGroup:SecurityGroup", "urn:pulumi:dev::scalestack::web-sg"
)


def _step(op: str, type_: str, name: str) -> auto.EngineEvent:
    urn = f"urn:pulumi:dev::scalestack::{type_}::{name}"
    return auto.EngineEvent.from_json(
        {
            "sequence": 1,
            "timestamp": 0,
            "resourcePreEvent": {"metadata": {"op": op, "urn": urn, "type": type_}},
        }
    )


def test_preview_events_summarise_creates_updates_and_a_database_replacement() -> None:
    """The engine reports a replacement as up to three steps on one URN; the summary counts it once."""
    lines: list[str] = []
    events = PreviewEvents(lines.append)
    for op in ("same", "create-replacement", "replace", "delete-replaced"):
        events(_step(op, "aws:rds/instance:Instance", "db"))
    events(_step("update", "aws:ec2/launchTemplate:LaunchTemplate", "web-lt"))
    events(_step("create", "aws:s3/bucketPolicy:BucketPolicy", "static-policy"))
    events(
        auto.EngineEvent.from_json(
            {
                "sequence": 9,
                "timestamp": 0,
                "policyEvent": {
                    "message": "buckets block public access",
                    "policyName": "s3-public-access-block",
                    "enforcementLevel": "mandatory",
                    "resourceUrn": "urn:pulumi:dev::scalestack::aws:s3/bucketV2:BucketV2::static",
                },
            }
        )
    )
    summary = events.summary()
    assert summary.counts() == {"create": 1, "update": 1, "replace": 1, "delete": 0}
    assert [c.name for c in summary.stateful_replacements()] == ["db"]
    assert events.violations == ["s3-public-access-block on static: buckets block public access"]
    flagged = [line.split() for line in summary.lines() if "!!" in line]
    assert flagged == [
        [
            "replace",
            "aws:rds/instance:Instance",
            "db",
            "!!",
            "replaces",
            "the",
            "database:",
            "its",
            "data",
            "does",
            "not",
            "move",
        ]
    ]


def test_a_tag_only_diff_is_nothing_beyond_the_image_tag() -> None:
    tag_only = DiffSummary.of(
        [
            ResourceChange("update", "aws:ec2/launchTemplate:LaunchTemplate", f"urn:x::{r}-lt")
            for r in ("web", "worker")
        ]
    )
    assert tag_only.beyond_image_tag() == [] and tag_only.stateful_replacements() == []
    assert DiffSummary.of([SG_UPDATE]).beyond_image_tag() == [SG_UPDATE]


def _run(world: World, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, list[dict[str, Any]]]:
    import scripts.deploy.commands as commands
    import scripts.deploy.stack_cmds as stack_cmds

    monkeypatch.setattr(commands, "_ports", lambda *_: world.ports())
    monkeypatch.setattr(commands, "Timing", lambda: FAST)
    monkeypatch.setattr(stack_cmds, "stack_backend", lambda spec: world.stack)
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]


def test_up_refuses_a_database_replacement_without_allow_replace(
    aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World()
    world.stack.drift = list(DB_REPLACEMENT)
    code, lines = _run(world, monkeypatch, "up", "--stack", "dev", "--yes", "--json")
    assert code == ExitCode.UNSAFE_CHANGE
    assert "up" not in world.journal.names()
    preview = next(line for line in lines if line.get("step") == "preview" and "data" in line)
    assert preview["data"]["statefulReplacements"] == ["db"]
    assert lines[-1]["message"].startswith(
        "the update would replace database db (replace), losing what it holds"
    )


def test_up_applies_a_database_replacement_with_allow_replace(
    aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World()
    world.stack.drift = list(DB_REPLACEMENT)
    code, lines = _run(world, monkeypatch, "up", "--stack", "dev", "--yes", "--allow-replace", "--json")
    assert code == ExitCode.OK, lines[-1]
    assert world.journal.names()[-2:] == ["preview", "up"]
    assert lines[-1]["diff"] == {"create": 0, "update": 0, "replace": 1, "delete": 0}


def test_up_with_nothing_to_change_does_not_ask_or_run_up(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World()
    code, lines = _run(world, monkeypatch, "up", "--stack", "dev", "--json")
    assert code == ExitCode.OK and "up" not in world.journal.names()
    assert lines[-1]["account"] == "Stack dev is up to date: nothing to change."


def test_up_needs_yes_without_a_terminal(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World()
    world.stack.drift = [SG_UPDATE]
    code, _ = _run(world, monkeypatch, "up", "--stack", "dev", "--json")
    assert code == ExitCode.USAGE and "up" not in world.journal.names()


def test_a_tag_only_deploy_passes_the_preview(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World()
    code, lines = _run(world, monkeypatch, "deploy", "--stack", "dev", "--image-tag", "v2", "--yes", "--json")
    assert code == ExitCode.OK, lines[-1]
    assert world.journal.names().index("preview") < world.journal.names().index("build")
    preview = next(line for line in lines if line.get("step") == "preview" and "data" in line)
    assert preview["data"]["counts"] == {"create": 0, "update": 2, "replace": 0, "delete": 0}
    assert world.versions("web-asg")[1] == "4"


def test_a_deploy_with_infrastructure_drift_is_refused_without_with_infra(
    aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World()
    world.stack.drift = [SG_UPDATE]
    code, lines = _run(world, monkeypatch, "deploy", "--stack", "dev", "--image-tag", "v2", "--yes", "--json")
    assert code == ExitCode.UNSAFE_CHANGE
    assert world.journal.names() == ["preview"] and world.stack.config_tag == "v1"
    assert "not only the image tag" in lines[-1]["message"] and "update web-sg" in lines[-1]["message"]

    code, lines = _run(
        world, monkeypatch, "deploy", "--stack", "dev", "--image-tag", "v2", "--with-infra", "--yes", "--json"
    )
    assert code == ExitCode.OK, lines[-1]


def test_with_infra_still_refuses_a_database_replacement(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World()
    world.stack.drift = list(DB_REPLACEMENT)
    code, _ = _run(
        world, monkeypatch, "deploy", "--stack", "dev", "--image-tag", "v2", "--with-infra", "--yes", "--json"
    )
    assert code == ExitCode.UNSAFE_CHANGE and "build" not in world.journal.names()


def test_destroy_refuses_while_deletion_protection_is_on_naming_the_keys(
    aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World()
    code, lines = _run(world, monkeypatch, "destroy", "--stack", "prod", "--yes", "--json")
    assert code == ExitCode.DELETION_PROTECTED and not world.stack.destroyed
    message = lines[-1]["message"]
    assert "scalestack:database.deletionProtection protects the database" in message
    assert "scalestack:loadBalancer.deletionProtection protects the load balancer" in message


def test_destroy_asks_for_the_stack_name(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import scripts.deploy.stack_cmds as stack_cmds

    world = World()
    monkeypatch.setattr(stack_cmds, "_interactive", lambda: True)
    monkeypatch.setattr(stack_cmds, "stack_backend", lambda spec: world.stack)
    wrong = CliRunner().invoke(cli, ["destroy", "--stack", "dev"], input="prod\n")
    assert wrong.exit_code == ExitCode.USAGE and not world.stack.destroyed
    assert "typed 'prod', not 'dev'; nothing was deleted." in wrong.output
    right = CliRunner().invoke(cli, ["destroy", "--stack", "dev"], input="dev\n")
    assert right.exit_code == ExitCode.OK and world.stack.destroyed


def test_destroy_in_ci_needs_yes(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World()
    code, _ = _run(world, monkeypatch, "destroy", "--stack", "dev", "--json")
    assert code == ExitCode.USAGE and not world.stack.destroyed
    code, lines = _run(world, monkeypatch, "destroy", "--stack", "dev", "--yes", "--json")
    assert code == ExitCode.OK and world.stack.destroyed and lines[-1]["result"] == "destroyed"


def test_a_deploy_previews_a_copy_of_the_stack_config_with_the_new_tag(tmp_path: Any) -> None:
    """The preview must not change the stack before the deploy is confirmed: a copy carries the tag, and
    secrets stay the ciphertext the stack file holds."""
    import yaml

    from scripts.deploy.pulumi_stack import PulumiStack

    stack_file = tmp_path / "Pulumi.dev.yaml"
    original = (
        "encryptionsalt: v1:abc\nconfig:\n  aws:region: us-east-1\n  scalestack:imageTag: v1\n"
        "  scalestack:token:\n    secure: v1:ciphertext\n"
    )
    stack_file.write_text(original)
    with PulumiStack("dev", tmp_path, stack_file)._config_with_tag("v2") as copy:
        assert copy is not None
        document = yaml.safe_load(Path(copy).read_text())
    assert document["config"]["scalestack:imageTag"] == "v2"
    assert document["config"]["scalestack:token"] == {"secure": "v1:ciphertext"}
    assert document["encryptionsalt"] == "v1:abc" and stack_file.read_text() == original


class _PreviewingStack:
    """A stand-in for the Automation API's Stack: `preview` reports the engine events a real one streams
    (a database replacement, a launch template update, a mandatory policy violation), then fails as the
    CLI does when a mandatory policy is violated."""

    def __init__(self, violate: bool) -> None:
        self.violate = violate
        self.kwargs: dict[str, Any] = {}

    def preview(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        for op in ("create-replacement", "replace", "delete-replaced"):
            kwargs["on_event"](_step(op, "aws:rds/instance:Instance", "db"))
        kwargs["on_event"](_step("update", "aws:ec2/launchTemplate:LaunchTemplate", "web-lt"))
        if self.violate:
            kwargs["on_event"](
                auto.EngineEvent.from_json(
                    {
                        "sequence": 5,
                        "timestamp": 0,
                        "policyEvent": {
                            "message": "the database is not encrypted",
                            "policyName": "rds-encrypted",
                            "enforcementLevel": "mandatory",
                            "resourceUrn": DB_URN,
                        },
                    }
                )
            )
            from pulumi.automation._cmd import CommandResult

            raise auto.errors.CommandError(CommandResult("", "error: preview failed", 255))


@pytest.mark.parametrize("violate", [False, True])
def test_the_pulumi_adapter_summarises_the_preview_and_stops_on_a_mandatory_policy(
    violate: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scripts.deploy.errors import DeployError
    from scripts.deploy.pulumi_stack import POLICY_PACK, PulumiStack

    stack = PulumiStack("dev")
    engine = _PreviewingStack(violate)
    monkeypatch.setattr(stack, "_select", lambda: engine)
    if not violate:
        summary = stack.preview(lambda line: None)
        assert summary.counts() == {"create": 0, "update": 1, "replace": 1, "delete": 0}
        assert engine.kwargs["policy_packs"] == [str(POLICY_PACK)] and engine.kwargs["config_file"] is None
        return
    with pytest.raises(DeployError) as raised:
        stack.preview(lambda line: None)
    assert raised.value.code == ExitCode.POLICY_VIOLATION
    assert raised.value.message == (
        "the policy pack refused the update: rds-encrypted on db: the database is not encrypted"
    )
