"""The orchestrator over in-process fakes: step order, decisions, rollback per failure class, exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from scripts.deploy.events import JsonReporter
from scripts.deploy.pipeline import Deployment, DeployRequest, RollbackRun, migrate_commands, static_assets
from scripts.deploy.ports import HistoryEntry, HttpResponse
from scripts.deploy.source import Revision
from scripts.exit_codes import ExitCode

from .asg_model import Instance
from .fakes import FAST, WEB_TEMPLATE, Recorder, World

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def request(tmp_path: Path, tag: str | None = "v2") -> DeployRequest:
    return DeployRequest(
        stack="dev",
        region="us-east-1",
        image_tag=tag,
        context=tmp_path,
        revision=Revision(COMMIT, dirty=False),
        actor="arn:aws:iam::123456789012:user/ci",
        smoke_path="/api/tags",
        static_dir=tmp_path / "app" / "static",
    )


def deploy(world: World, tmp_path: Path, tag: str | None = "v2") -> tuple[ExitCode, Recorder]:
    recorder = Recorder()
    code = Deployment(world.ports(), request(tmp_path, tag), recorder, FAST).run()
    return code, recorder


def test_happy_path_runs_every_step_in_order_and_records_history(tmp_path: Path) -> None:
    world = World()
    code, rec = deploy(world, tmp_path)

    assert code == ExitCode.OK
    assert world.journal.names() == [
        "build",
        "ecr.login",
        "push",
        "ssm.run",
        "config.imageTag",
        "up",
        "refresh.start",
        "refresh.start",
        "history.record",
        "history.record",
    ]
    image, build_args, labels = world.journal[0][1]
    assert image.endswith("/scalestack-dev:v2")
    assert build_args == {"GIT_COMMIT": COMMIT, "IMAGE_TAG": "v2"}
    assert labels["org.opencontainers.image.revision"] == COMMIT
    instance, commands = world.journal[3][1]
    assert instance == "i-0001"  # the first web instance, migrations run before any is replaced
    assert commands[-1].endswith("scalestack-dev:v2 migrate") and "--env-file" in commands[-1]
    assert world.stack.deployed["imageTag"] == "v2"
    # `up` made version 4 of each template; the pipeline's refreshes put every instance on it, and AWS saved
    # it on each group when the refresh succeeded.
    assert world.versions("web-asg") == (["4", "4"], "4")
    assert world.versions("worker-asg") == (["4", "4"], "4")
    assert [(e.tag, e.kind) for e in world.history.items] == [("v1", "deploy"), ("v2", "deploy")]
    assert rec.summaries[-1]["result"] == "deployed"
    assert set(rec.summaries[-1]["steps"].values()) <= {"succeeded", "skipped"}
    assert any("checkpoint 50% passed" in m for m in rec.messages("rollout"))


def test_tag_already_in_ecr_skips_build_and_push(tmp_path: Path) -> None:
    world = World(ecr_tags={"v1", "v2"})
    world.engine.reachable = False  # not needed: the image exists

    code, rec = deploy(world, tmp_path)

    assert code == ExitCode.OK
    assert "build" not in world.journal.names() and "push" not in world.journal.names()
    assert rec.summaries[-1]["steps"]["build"] == "skipped"


def test_default_tag_comes_from_the_commit(tmp_path: Path) -> None:
    world = World()
    code, _ = deploy(world, tmp_path, tag=None)
    assert code == ExitCode.OK
    assert world.stack.config_tag == COMMIT[:12]


def test_the_spot_worker_keeps_its_mixed_instances_policy_on_the_new_version(tmp_path: Path) -> None:
    """AWS saves the desired configuration on the group when the refresh succeeds: a launch template alone
    would replace the worker's mixed instances policy (spot, overrides) with a plain template."""
    world = World()

    code, _ = deploy(world, tmp_path)

    assert code == ExitCode.OK
    policy = world.model.groups["worker-asg"].configuration["MixedInstancesPolicy"]
    assert policy["LaunchTemplate"]["LaunchTemplateSpecification"]["Version"] == "4"
    assert policy["LaunchTemplate"]["Overrides"] == [{"InstanceType": "t3.small"}]
    assert policy["InstancesDistribution"]["OnDemandPercentageAboveBaseCapacity"] == 0


def test_redeploying_the_same_tag_starts_no_refresh(tmp_path: Path) -> None:
    world = World(ecr_tags={"v1"})

    code, rec = deploy(world, tmp_path, tag="v1")

    assert code == ExitCode.OK
    assert "refresh.start" not in world.journal.names()
    assert rec.summaries[-1]["steps"]["rollout"] == "skipped"
    assert world.versions("web-asg") == (["3", "3"], "3")


def test_a_bare_pulumi_up_makes_a_version_and_moves_no_instance() -> None:
    """What `pulumi up` alone does now: a new template version, every instance still on the previous one."""
    world = World()
    world.stack.set_image_tag("v2")

    world.stack.up(lambda line: None)

    assert world.stack.outputs()["launchTemplates"]["web"]["version"] == 4
    assert world.versions("web-asg") == (["3", "3"], "3")
    assert world.versions("worker-asg") == (["3", "3"], "3")
    assert "refresh.start" not in world.journal.names()


@pytest.mark.parametrize(
    ("breaks", "code", "last_effect"),
    [
        ("engine", ExitCode.ENGINE_UNREACHABLE, None),
        ("build", ExitCode.BUILD_FAILED, "build"),
        ("push", ExitCode.PUSH_FAILED, "push"),
        ("migrate", ExitCode.MIGRATION_FAILED, "ssm.run"),
    ],
)
def test_failures_before_the_update_change_nothing(
    tmp_path: Path, breaks: str, code: ExitCode, last_effect: str | None
) -> None:
    world = World()
    if breaks == "engine":
        world.engine.reachable = False
    world.engine.build_error = "exit 1" if breaks == "build" else None
    world.engine.push_error = "denied" if breaks == "push" else None
    if breaks == "migrate":
        world.commands.result = world.commands.result.__class__("Failed", "", "relation exists\nboom")

    got, rec = deploy(world, tmp_path)

    assert got == code
    names = world.journal.names()
    assert names[-1:] == ([last_effect] if last_effect else [])
    assert "up" not in names and "config.imageTag" not in names and not world.history.items
    assert world.stack.config_tag == "v1"
    assert world.versions("web-asg") == (["3", "3"], "3")
    assert "Nothing in the stack changed; it still runs v1." in rec.summaries[-1]["account"]


def test_busy_stack_is_refused(tmp_path: Path) -> None:
    world = World()
    world.model.create_version(WEB_TEMPLATE)
    world.model.start_instance_refresh(
        "web-asg", DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": WEB_TEMPLATE, "Version": "4"}}
    )
    world.journal.clear()

    code, rec = deploy(world, tmp_path)

    assert code == ExitCode.USAGE
    assert "already running" in rec.summaries[-1]["account"] and world.journal.names() == []


def test_failed_health_checks_roll_every_instance_back_to_the_previous_version(tmp_path: Path) -> None:
    """Version 4 of the web template fails its health checks: AWS's auto rollback returns the web group to
    version 3, the pipeline rolls the worker's refresh back, and no second `up` runs."""
    world = World()
    world.model.failing = {(WEB_TEMPLATE, "4")}

    code, rec = deploy(world, tmp_path)

    assert code == ExitCode.ROLLED_BACK
    assert world.versions("web-asg") == (["3", "3"], "3")
    assert world.versions("worker-asg") == (["3", "3"], "3")
    assert ("refresh.rollback", "worker-asg") in world.journal  # the other group is not left on v2
    assert [args for name, args in world.journal if name == "up"] == ["v2"]
    assert world.stack.config_tag == "v1"
    assert [(e.tag, e.kind) for e in world.history.items][-1] == ("v1", "rollback")
    messages = rec.messages("rollout")
    assert any(m.startswith("web: RollbackInProgress") and "failed its health checks" in m for m in messages)
    assert any(m.startswith("web: RollbackSuccessful") for m in messages)
    summary = rec.summaries[-1]
    assert summary["result"] == "rolled back" and summary["exitCode"] == ExitCode.ROLLED_BACK
    assert summary["steps"]["rollout"] == "failed" and summary["steps"]["rollback"] == "succeeded"
    assert "web refresh refresh-" in summary["account"] and "RollbackInProgress" in summary["account"]
    assert "Rolled back: v1 is back in service" in summary["account"]


def test_alarm_rolls_every_instance_back_to_the_previous_version(tmp_path: Path) -> None:
    """The 5xx alarm fires once a version-4 web instance serves: the refresh's alarm specification makes AWS
    fail it and roll it back (auto rollback), and the pipeline rolls the worker back with it."""
    world = World()
    world.model.alarm_rules = {"web-5xx": (WEB_TEMPLATE, "4")}

    code, rec = deploy(world, tmp_path)

    assert code == ExitCode.ROLLED_BACK
    assert world.versions("web-asg") == (["3", "3"], "3")
    assert world.versions("worker-asg") == (["3", "3"], "3")
    assert any("alarm web-5xx in ALARM" in m for m in rec.messages("rollout"))
    assert world.model.firing == set()  # version 4 no longer serves


def test_unhealthy_targets_at_the_checkpoint_roll_every_instance_back(tmp_path: Path) -> None:
    """The load balancer finds version 4 unhealthy at the 50% checkpoint: the pipeline rolls both refreshes
    back (RollbackInstanceRefresh) and AWS returns every instance to version 3."""
    world = World()
    world.model.elb_unhealthy = {(WEB_TEMPLATE, "4")}

    code, rec = deploy(world, tmp_path)

    assert code == ExitCode.ROLLED_BACK
    assert ("refresh.rollback", "web-asg") in world.journal
    assert ("refresh.rollback", "worker-asg") in world.journal
    assert any(
        "checkpoint 50% failed: unhealthy targets: i-" in m and "unhealthy" in m
        for m in rec.messages("rollout")
    )
    assert world.versions("web-asg") == (["3", "3"], "3")
    assert world.versions("worker-asg") == (["3", "3"], "3")


def test_smoke_failure_refreshes_back_to_the_recorded_version(tmp_path: Path) -> None:
    """The refresh to version 4 succeeded, so AWS cannot roll it back; a new refresh whose desired
    configuration is the recorded version 3 puts every instance back, and the tag goes back in config."""
    world = World()
    world.http.answers["readyz"] = [HttpResponse(503, b"draining")]

    code, rec = deploy(world, tmp_path)

    assert code == ExitCode.ROLLED_BACK
    starts = [args for name, args in world.journal if name == "refresh.start"]
    assert starts == [("web-asg", "4"), ("worker-asg", "4"), ("web-asg", "3"), ("worker-asg", "3")]
    assert world.versions("web-asg") == (["3", "3"], "3")
    assert world.versions("worker-asg") == (["3", "3"], "3")
    assert "MixedInstancesPolicy" in world.model.groups["worker-asg"].configuration
    assert [args for name, args in world.journal if name == "up"] == ["v2"]
    assert world.stack.config_tag == "v1"
    assert "answered 503" in rec.summaries[-1]["account"]
    assert len([u for u in world.http.requests if u.endswith("/readyz")]) == FAST.smoke_attempts


@pytest.mark.parametrize(
    ("answering", "code", "account"),
    [
        ("v2", ExitCode.OK, "Smoke test passed"),
        ("v1", ExitCode.ROLLED_BACK, "/healthz reports version v1, not v2"),
    ],
)
def test_smoke_checks_which_version_answers(tmp_path: Path, answering: str, code: int, account: str) -> None:
    world = World()
    world.http.answers["healthz"] = [
        HttpResponse(200, b'{"status": "ok", "version": "%s"}' % answering.encode())
    ]
    result, rec = deploy(world, tmp_path)
    assert result == code
    assert account in rec.summaries[-1]["account"]


def test_api_read_must_be_json(tmp_path: Path) -> None:
    world = World()
    world.http.answers["api/tags"] = [HttpResponse(200, b"<html>CloudFront error</html>")]
    code, rec = deploy(world, tmp_path)
    assert code == ExitCode.ROLLED_BACK
    assert "answered 200 but not JSON" in rec.summaries[-1]["account"]


def test_failed_rollback_is_its_own_exit_code(tmp_path: Path) -> None:
    world = World()
    world.http.answers["readyz"] = [HttpResponse(500, b"")]
    # The instances already running version 3 are fine; a new one launched from it fails (say, its image
    # pull does): the refresh back to version 3 fails, with no rollback towards the version being undone.
    world.model.failing = {(WEB_TEMPLATE, "3")}

    code, rec = deploy(world, tmp_path)

    assert code == ExitCode.ROLLBACK_FAILED
    assert "Rolling back to v1 failed too" in rec.summaries[-1]["account"]
    assert "refresh.rollback" not in world.journal.names()


def test_update_failure_restores_the_tag_and_moves_no_instance(tmp_path: Path) -> None:
    world = World()
    world.stack.up_errors = ["aws:autoscaling:Group web-asg: ValidationError"]

    code, rec = deploy(world, tmp_path)

    assert code == ExitCode.INFRA_UPDATE_FAILED
    assert world.stack.config_tag == "v1"
    assert "refresh.start" not in world.journal.names()
    assert [args for name, args in world.journal if name == "up"] == ["v2"]  # no second `up`
    assert world.versions("web-asg") == (["3", "3"], "3")
    assert "image tag is v1 again" in rec.summaries[-1]["account"]


def test_without_a_previous_tag_nothing_is_rolled_back(tmp_path: Path) -> None:
    world = World()
    world.stack.deployed["imageTag"] = None
    world.stack.config_tag = None  # type: ignore[assignment]
    world.model.failing = {(WEB_TEMPLATE, "4")}

    code, rec = deploy(world, tmp_path)

    assert code == ExitCode.ROLLOUT_FAILED
    assert "No previous tag is known" in rec.summaries[-1]["account"]


def test_ctrl_c_during_rollout_says_the_refresh_goes_on(tmp_path: Path) -> None:
    world = World()
    world.clock.interrupt_after = 3

    code, rec = deploy(world, tmp_path)

    assert code == ExitCode.INTERRUPTED
    assert "refresh.rollback" not in world.journal.names()
    assert "keeps going in AWS" in rec.summaries[-1]["account"]
    assert world.model.groups["web-asg"].active() is not None


def test_static_overwrites_are_invalidated_new_names_are_not(tmp_path: Path) -> None:
    static = tmp_path / "app" / "static"
    static.mkdir(parents=True)
    (static / "app.css").write_text("body{}")
    world = World()
    [key] = static_assets(static)
    world.cdn.bucket[key] = b"older bytes under the same name"
    world.cdn.statuses = ["InProgress", "COMPLETED"]  # moto's spelling

    code, rec = deploy(world, tmp_path)

    assert code == ExitCode.OK
    assert ("cloudfront.invalidate", [f"/{key}"]) in world.journal
    assert key.startswith("static/app.") and key.endswith(".css")
    assert "invalidation I1 of 1 path(s) completed" in rec.summaries[-1]["account"]


def test_a_slow_invalidation_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    static = tmp_path / "app" / "static"
    static.mkdir(parents=True)
    (static / "app.css").write_text("body{}")
    world = World()
    world.cdn.bucket[next(iter(static_assets(static)))] = b"old"
    world.cdn.statuses = ["InProgress"]

    code, rec = deploy(world, tmp_path)

    assert code == ExitCode.OK
    assert [e.status for e in rec.events if e.step == "static"][-2:] == ["warning", "succeeded"]


def test_history_failure_does_not_fail_a_good_deploy(tmp_path: Path) -> None:
    world = World()
    world.history.broken = True
    code, rec = deploy(world, tmp_path)
    assert code == ExitCode.OK
    assert any(e.status == "warning" and "ThrottlingException" in e.message for e in rec.events)


def test_json_events_are_one_object_per_line_with_a_summary(tmp_path: Path) -> None:
    world = World()
    out = io.StringIO()
    code = Deployment(world.ports(), request(tmp_path), JsonReporter(out), FAST).run()

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert code == ExitCode.OK
    assert all(line["type"] == "event" for line in lines[:-1]) and lines[-1]["type"] == "summary"
    assert {"step", "status", "message", "at"} <= set(lines[0])
    started = [line["step"] for line in lines if line["type"] == "event" and line["status"] == "started"]
    assert started == ["preflight", "build", "push", "migrate", "update", "rollout", "smoke", "static"]
    assert lines[-1]["exitCode"] == 0 and lines[-1]["imageTag"] == "v2" and lines[-1]["previousTag"] == "v1"


@pytest.mark.parametrize(
    ("fleet", "expected"),
    [
        (
            [Instance("i-sick", "3", health_status="Unhealthy"), Instance("i-good", "3")],
            "i-good",
        ),
        # First rollout: the stack's instances have never had an image to run, so none is healthy.
        ([Instance("i-new", "3", health_status="Unhealthy")], "i-new"),
    ],
)
def test_migrations_run_on_a_healthy_instance_or_any_in_service(
    tmp_path: Path, fleet: list[Instance], expected: str
) -> None:
    world = World()
    world.model.groups["web-asg"].instances = fleet
    code, _ = deploy(world, tmp_path)
    assert code == ExitCode.OK
    assert next(args for name, args in world.journal if name == "ssm.run")[0] == expected


def test_no_instance_in_service_skips_migrations_and_says_so(tmp_path: Path) -> None:
    world = World()
    world.model.groups["web-asg"].instances = [Instance("i-boot", "3", lifecycle_state="Pending")]
    code, rec = deploy(world, tmp_path)
    assert "ssm.run" not in world.journal.names()
    assert any(
        "run the migrate command once the first instance is in service" in m for m in rec.messages("migrate")
    )
    assert code == ExitCode.OK


def test_migrate_command_forms() -> None:
    image = "1.dkr.ecr.eu-west-1.amazonaws.com/app:v2"
    assert migrate_commands(None, image, "eu-west-1")[-1] == (
        "docker run --rm --env-file /etc/scalestack/app.env --env-file /etc/scalestack/migrate.env "
        f"{image} migrate"
    )
    # The master login is rendered fresh just before, and removed however the migration ends.
    assert migrate_commands(None, image, "eu-west-1")[2:4] == [
        "trap 'rm -f /etc/scalestack/migrate.env' EXIT",
        "AWS_DEFAULT_REGION=eu-west-1 /usr/local/bin/scalestack-render-env migrate",
    ]
    assert migrate_commands(["python", "-m", "app.migrate"], image, "eu-west-1")[-1].endswith(
        f"{image} python -m app.migrate"
    )
    assert migrate_commands("docker run --network host {image} migrate", image, "eu-west-1")[-1] == (
        f"docker run --network host {image} migrate"
    )
    assert (
        "docker login --username AWS --password-stdin 1.dkr.ecr.eu-west-1.amazonaws.com"
        in (migrate_commands(None, image, "eu-west-1")[1])
    )


def rollback(world: World, to: str | None) -> tuple[ExitCode, Recorder]:
    recorder = Recorder()
    return RollbackRun(world.ports(), "dev", to, "me", recorder, FAST).run(), recorder


def test_rollback_defaults_to_the_previous_tag_in_history() -> None:
    world = World(ecr_tags={"v1", "v2"})
    world.stack.deployed["imageTag"] = world.stack.config_tag = "v2"
    world.history.items = [HistoryEntry("v1", "t0", "deploy", "ci"), HistoryEntry("v2", "t1", "deploy", "ci")]

    code, _ = rollback(world, None)

    assert code == ExitCode.OK
    assert world.stack.deployed["imageTag"] == "v1"
    # `up` with v1 made version 4; the rollback ends with a refresh to that numbered version.
    assert world.versions("web-asg") == (["4", "4"], "4")
    assert world.versions("worker-asg") == (["4", "4"], "4")
    assert world.history.items[-1].tag == "v1" and world.history.items[-1].kind == "rollback"


def test_rollback_stops_a_running_refresh_first() -> None:
    world = World(ecr_tags={"v1", "v2"})
    world.stack.deployed["imageTag"] = world.stack.config_tag = "v2"
    version = world.model.create_version(WEB_TEMPLATE)
    world.model.start_instance_refresh(
        "web-asg",
        DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": WEB_TEMPLATE, "Version": version}},
        Preferences={"AutoRollback": True},
    )
    world.model.step()
    world.model.step()  # one web instance on version 4
    world.journal.clear()

    code, _ = rollback(world, "v1")

    assert code == ExitCode.OK
    names = world.journal.names()
    assert names[:3] == ["refresh.rollback", "config.imageTag", "up"]
    assert world.versions("web-asg") == (["5", "5"], "5")


@pytest.mark.parametrize(
    ("to", "history", "message"),
    [
        (None, [], "no earlier tag in the deploy history"),
        ("v9", [], "v9 is not in the stack's ECR repository"),
    ],
)
def test_rollback_bad_input(to: str | None, history: list[HistoryEntry], message: str) -> None:
    world = World()
    world.history.items = history
    code, rec = rollback(world, to)
    assert code == ExitCode.USAGE
    assert message in rec.summaries[-1]["account"] and world.journal.names() == []


@pytest.mark.parametrize("platform", ["linux/amd64", "linux/arm64"])
def test_the_image_is_built_for_the_instances_platform(tmp_path: Path, platform: str) -> None:
    world = World()
    arm = DeployRequest(**{**request(tmp_path).__dict__, "platform": platform})
    code = Deployment(world.ports(), arm, Recorder(), FAST).run()
    assert code == ExitCode.OK and world.engine.platforms == [platform]


def test_a_key_error_in_a_step_is_a_bug_not_a_failure_to_roll_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyError inside a step is a defect in scalestack: it leaves the run, so the command line reports it
    as a bug, and nothing is rolled back on its account (a rollback answers a failed deploy, not a bug)."""
    world = World()

    def broken(target_group_arn: str) -> list[object]:
        raise KeyError("TargetHealthDescriptions")

    monkeypatch.setattr(world.fleet, "target_health", broken)
    recorder = Recorder()

    with pytest.raises(KeyError, match="TargetHealthDescriptions"):
        Deployment(world.ports(), request(tmp_path), recorder, FAST).run()

    names = world.journal.names()
    assert "refresh.rollback" not in names and "refresh.cancel" not in names
    assert world.stack.config_tag == "v2"  # not put back to v1 as a rollback would
    assert [(e.step, e.status) for e in recorder.events if e.status == "started"][-1] == (
        "rollout",
        "started",
    )
    assert not any(e.step == "rollback" for e in recorder.events) and not recorder.summaries


@pytest.mark.parametrize(
    ("breaks", "code", "message"),
    [
        ("build", ExitCode.BUILD_FAILED, "docker build failed: exit 1"),
        ("smoke", ExitCode.ROLLED_BACK, "smoke test failed at https://d111.cloudfront.net: GET "),
    ],
)
def test_a_failed_runs_json_summary_names_what_went_wrong_in_message(
    tmp_path: Path, breaks: str, code: ExitCode, message: str
) -> None:
    """CI reads one field for the reason (issue 14); `account` keeps the whole story."""
    world = World()
    world.engine.build_error = "exit 1" if breaks == "build" else None
    if breaks == "smoke":
        world.http.answers["readyz"] = [HttpResponse(503, b"draining")]
    out = io.StringIO()

    got = Deployment(world.ports(), request(tmp_path), JsonReporter(out), FAST).run()

    summary = json.loads(out.getvalue().splitlines()[-1])
    assert got == code and summary["exitCode"] == code
    assert summary["message"].startswith(message) and summary["message"] in summary["account"]


@pytest.mark.parametrize("body", [b'["not", "an", "object"]', b'"v1"', b"null"])
def test_a_liveness_answer_that_is_not_an_object_is_not_judged_on_its_version(
    tmp_path: Path, body: bytes
) -> None:
    world = World()
    world.http.answers["healthz"] = [HttpResponse(200, body)]
    code, rec = deploy(world, tmp_path)
    assert code == ExitCode.OK and "Smoke test passed" in rec.summaries[-1]["account"]


def test_each_group_is_refreshed_with_its_own_roles_preferences(tmp_path: Path) -> None:
    """The worker has its own warm-up and minimum healthy percentage (the `rollout` output's `roles`)."""
    world = World()
    world.stack.deployed["rollout"]["roles"]["worker"] = {
        "minHealthyPercentage": 100,
        "instanceWarmupSeconds": 300,
    }

    code, _ = deploy(world, tmp_path)

    assert code == ExitCode.OK
    started = {name: world.model.groups[name].refreshes[0].preferences for name in ("web-asg", "worker-asg")}
    assert (started["worker-asg"]["MinHealthyPercentage"], started["worker-asg"]["InstanceWarmup"]) == (
        100,
        300,
    )
    assert (started["web-asg"]["MinHealthyPercentage"], started["web-asg"]["InstanceWarmup"]) == (90, 60)
