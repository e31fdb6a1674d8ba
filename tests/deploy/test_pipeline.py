"""The orchestrator over in-process fakes: step order, decisions, rollback per failure class, exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from scripts.deploy.events import JsonReporter
from scripts.deploy.pipeline import Deployment, DeployRequest, RollbackRun, migrate_commands, static_assets
from scripts.deploy.ports import GroupInstance, HistoryEntry, HttpResponse, TargetHealth
from scripts.deploy.source import Revision
from scripts.exit_codes import ExitCode

from .fakes import FAST, ROLLED_BACK_BY_AWS, SUCCESS, Recorder, World, s

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def request(tmp_path: Path, tag: str | None = "v2") -> DeployRequest:
    return DeployRequest(
        stack="dev",
        region="us-east-1",
        image_tag=tag,
        context=tmp_path,
        revision=Revision(COMMIT, dirty=False),
        actor="arn:aws:iam::123456789012:user/ci",
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
        "history.record",
        "history.record",
    ]
    image, build_args, labels = world.journal[0][1]
    assert image.endswith("/scalestack-dev:v2")
    assert build_args == {"GIT_COMMIT": COMMIT, "IMAGE_TAG": "v2"}
    assert labels["org.opencontainers.image.revision"] == COMMIT
    instance, commands = world.journal[3][1]
    assert instance == "i-web1"
    assert commands[-1].endswith("scalestack-dev:v2 migrate") and "--env-file" in commands[-1]
    assert world.stack.deployed["imageTag"] == "v2"
    # The refresh the update started was followed, not a second one started.
    assert "refresh.start" not in world.journal.names()
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


def test_starts_a_refresh_when_the_update_did_not(tmp_path: Path) -> None:
    world = World()
    world.stack.starts_refresh = False

    code, _ = deploy(world, tmp_path)

    assert code == ExitCode.OK
    starts = [args for name, args in world.journal if name == "refresh.start"]
    assert [group for group, _, _ in starts] == ["web-asg", "worker-asg"]
    _, preferences, alarms = starts[0]
    assert preferences.checkpoint_percentages == (50,) and preferences.min_healthy_percentage == 90
    assert alarms == ("web-5xx", "web-latency")


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
    assert "Nothing in the stack changed; it still runs v1." in rec.summaries[-1]["account"]


def test_busy_stack_is_refused(tmp_path: Path) -> None:
    world = World()
    world.refreshes.scripts["web-asg"] = [[s("InProgress", 20)]]
    world.refreshes.add("web-asg")

    code, rec = deploy(world, tmp_path)

    assert code == ExitCode.USAGE
    assert "already running" in rec.summaries[-1]["account"] and world.journal.names() == []


def test_rollout_failing_at_50_percent_ends_rolled_back(tmp_path: Path) -> None:
    """AWS fails the web refresh at 50% and rolls it back; the deploy rolls the worker back, redeploys v1."""
    world = World()
    world.refreshes.scripts["web-asg"] = [ROLLED_BACK_BY_AWS, SUCCESS]
    world.refreshes.scripts["worker-asg"] = [[s("InProgress", 0)] * 20, SUCCESS]

    code, rec = deploy(world, tmp_path)

    assert code == ExitCode.ROLLED_BACK
    names = world.journal.names()
    assert names.index("refresh.rollback") < names.index("config.imageTag", names.index("up"))
    assert ("refresh.rollback", "worker-asg") in world.journal  # the other group is not left on v2
    assert [args for name, args in world.journal if name == "up"] == ["v2", "v1"]
    assert world.stack.deployed["imageTag"] == "v1" and world.stack.config_tag == "v1"
    assert [(e.tag, e.kind) for e in world.history.items][-1] == ("v1", "rollback")
    messages = rec.messages("rollout")
    assert "web: Failed 50% (instances failed health checks)" in messages
    assert "web: RollbackSuccessful 100% (rolled back)" in messages
    summary = rec.summaries[-1]
    assert summary["result"] == "rolled back" and summary["exitCode"] == ExitCode.ROLLED_BACK
    assert summary["steps"]["rollout"] == "failed" and summary["steps"]["rollback"] == "succeeded"
    assert "web refresh web-asg-r1 failed at 50%: instances failed health checks" in summary["account"]
    assert "Rolled back: v1 is back in service" in summary["account"]


def test_checkpoint_with_unhealthy_targets_rolls_back(tmp_path: Path) -> None:
    world = World()
    world.refreshes.scripts["web-asg"] = [
        [s("InProgress", 0), s("InProgress", 50, "checkpoint")] * 3,
        SUCCESS,
    ]
    world.fleet.targets = [TargetHealth("i-new", "unhealthy", "Health checks failed with these codes: [502]")]
    original = world.stack.up

    def up_heals(log):  # type: ignore[no-untyped-def]
        if world.stack.config_tag == "v1":  # the old version is healthy again
            world.fleet.targets = [TargetHealth("i-web1", "healthy")]
        return original(log)

    world.stack.up = up_heals  # type: ignore[method-assign]
    code, rec = deploy(world, tmp_path)

    assert code == ExitCode.ROLLED_BACK
    assert ("refresh.rollback", "web-asg") in world.journal and (
        "refresh.rollback",
        "worker-asg",
    ) in world.journal
    assert any(
        "checkpoint 50% failed: unhealthy targets: i-new unhealthy" in m for m in rec.messages("rollout")
    )


def test_alarm_at_checkpoint_rolls_back(tmp_path: Path) -> None:
    world = World()
    world.refreshes.scripts["web-asg"] = [[s("InProgress", 50)] * 5, SUCCESS]
    world.fleet.firing = ["web-5xx"]
    code, rec = deploy(world, tmp_path)
    assert code == ExitCode.ROLLBACK_FAILED  # the alarm keeps firing under v1 too: a person must look
    assert any("alarms in ALARM: web-5xx" in m for m in rec.messages("rollout"))
    assert "Rolling back to v1 failed too" in rec.summaries[-1]["account"]


def test_smoke_failure_redeploys_previous_tag(tmp_path: Path) -> None:
    world = World()
    world.http.answers["readyz"] = [HttpResponse(503, b"draining")]

    code, rec = deploy(world, tmp_path)

    assert code == ExitCode.ROLLED_BACK
    assert [args for name, args in world.journal if name == "up"] == ["v2", "v1"]
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
    world.stack.up_errors = [None, "provider error: throttled"]

    code, rec = deploy(world, tmp_path)

    assert code == ExitCode.ROLLBACK_FAILED
    assert "Rolling back to v1 failed too" in rec.summaries[-1]["account"]


def test_update_failure_restores_the_tag_and_stops_the_refresh_it_started(tmp_path: Path) -> None:
    world = World()
    world.refreshes.scripts["web-asg"] = [[s("InProgress", 10)] * 3]
    world.stack.up_errors = ["aws:autoscaling:Group web-asg: ValidationError"]

    code, rec = deploy(world, tmp_path)

    assert code == ExitCode.INFRA_UPDATE_FAILED
    assert world.stack.config_tag == "v1"
    assert ("refresh.rollback", "web-asg") in world.journal
    assert [args for name, args in world.journal if name == "up"] == ["v2"]  # no second `up`
    assert "image tag is v1 again" in rec.summaries[-1]["account"]


def test_without_a_previous_tag_nothing_is_rolled_back(tmp_path: Path) -> None:
    world = World()
    world.stack.deployed["imageTag"] = None
    world.stack.config_tag = None  # type: ignore[assignment]
    world.refreshes.scripts["web-asg"] = [ROLLED_BACK_BY_AWS]

    code, rec = deploy(world, tmp_path)

    assert code == ExitCode.ROLLOUT_FAILED
    assert "No previous tag is known" in rec.summaries[-1]["account"]


def test_ctrl_c_during_rollout_says_the_refresh_goes_on(tmp_path: Path) -> None:
    world = World()
    world.refreshes.scripts["web-asg"] = [[s("InProgress", 10)] * 50]
    world.clock.interrupt_after = 3

    code, rec = deploy(world, tmp_path)

    assert code == ExitCode.INTERRUPTED
    assert "refresh.rollback" not in world.journal.names()
    assert "keeps going in AWS" in rec.summaries[-1]["account"]


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
            [
                GroupInstance("i-sick", "InService", "Unhealthy", "1"),
                GroupInstance("i-good", "InService", "Healthy", "1"),
            ],
            "i-good",
        ),
        # First rollout: the stack's instances have never had an image to run, so none is healthy.
        ([GroupInstance("i-new", "InService", "Unhealthy", "1")], "i-new"),
    ],
)
def test_migrations_run_on_a_healthy_instance_or_any_in_service(
    tmp_path: Path, fleet: list[GroupInstance], expected: str
) -> None:
    world = World()
    world.fleet.instances_by_group["web-asg"] = fleet
    code, _ = deploy(world, tmp_path)
    assert code == ExitCode.OK
    assert next(args for name, args in world.journal if name == "ssm.run")[0] == expected


def test_no_instance_in_service_skips_migrations_and_says_so(tmp_path: Path) -> None:
    world = World()
    world.fleet.instances_by_group["web-asg"] = [GroupInstance("i-boot", "Pending", "Healthy", "1")]
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
    assert world.history.items[-1].tag == "v1" and world.history.items[-1].kind == "rollback"


def test_rollback_stops_a_running_refresh_first() -> None:
    world = World(ecr_tags={"v1", "v2"})
    world.stack.deployed["imageTag"] = world.stack.config_tag = "v2"
    world.refreshes.scripts["web-asg"] = [[s("InProgress", 40)], SUCCESS]
    world.refreshes.add("web-asg")

    code, _ = rollback(world, "v1")

    assert code == ExitCode.OK
    names = world.journal.names()
    assert names[:3] == ["refresh.rollback", "config.imageTag", "up"]


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
