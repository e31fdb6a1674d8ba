"""`scalestack logs` against moto's CloudWatch Logs (a bounded follow), `scalestack run` against botocore
Stubber answers of SSM Run Command and Auto Scaling, and `scalestack exec`'s built Session Manager command
and instance choice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from click.testing import CliRunner

import scripts.ops.commands as ops
from scripts.cli import cli
from scripts.deploy.aws import AwsFleet, SsmCommandRunner
from scripts.deploy.pipeline import StackOutputs
from scripts.deploy.remote import app_task_commands
from scripts.exit_codes import ExitCode
from scripts.ops.logs import LogLine, readable
from scripts.ops.session import choose_instance, session_argv

from .fakes import OUTPUTS, FakeClock, FakeFleet

GROUP = "/scalestack/dev/web"
COMMAND_ID = "0b2f1c4e-5d6a-4b8c-9e0f-1a2b3c4d5e6f"  # SSM command ids are 36-character UUIDs


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


class _Now:
    """Epoch milliseconds a few minutes ago, so `--since 10m` includes them."""

    def __init__(self) -> None:
        import time

        self.base = int(time.time() * 1000) - 5 * 60 * 1000


@pytest.fixture
def log_group(aws: str) -> Iterator[tuple[Any, int]]:
    logs = boto3.client("logs", region_name="us-east-1")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="i-web1/app")
    base = _Now().base
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName="i-web1/app",
        logEvents=[
            {
                "timestamp": base,
                "message": json.dumps(
                    {
                        "event": "request",
                        "level": "info",
                        "logger": "app.http",
                        "path": "/api/tags",
                        "status": 200,
                    }
                ),
            },
            {"timestamp": base + 1000, "message": "plain text from gunicorn"},
        ],
    )
    yield logs, base


def test_logs_renders_json_lines_readably(log_group: tuple[Any, int]) -> None:
    code, output = invoke("logs", "--stack", "dev", "--since", "10m")
    assert code == ExitCode.OK, output
    first, second = output.splitlines()
    assert first.endswith("INFO    app.http: request path=/api/tags status=200")
    assert second.endswith(" plain text from gunicorn")


def test_logs_json_passes_the_lines_through(log_group: tuple[Any, int]) -> None:
    code, output = invoke("logs", "--stack", "dev", "--json")
    assert code == ExitCode.OK
    assert json.loads(output.splitlines()[0])["path"] == "/api/tags"
    assert output.splitlines()[1] == "plain text from gunicorn"


def test_logs_follow_prints_new_lines_once(
    log_group: tuple[Any, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    logs, base = log_group
    # "job done" arrives after "worker started" but is stamped earlier (another container's stream).
    arrivals = iter([(6, "worker started"), (5, "job done")])

    def arrive() -> None:
        seconds, message = next(arrivals, (0, ""))
        if message:
            logs.put_log_events(
                logGroupName=GROUP,
                logStreamName="i-web1/app",
                logEvents=[{"timestamp": base + seconds * 1000, "message": message}],
            )

    monkeypatch.setattr(ops, "_clock", lambda: FakeClock(arrive))
    monkeypatch.setattr(ops, "_follow_polls", lambda: 3)
    code, output = invoke("logs", "--stack", "dev", "--follow")
    assert code == ExitCode.OK
    assert [line.split(" ", 2)[2] for line in output.splitlines()][1:] == [
        "plain text from gunicorn",
        "worker started",
        "job done",
    ]


@pytest.mark.parametrize("since", ["10", "ten minutes", "5w", "-1m"])
def test_a_bad_since_is_one_line(since: str) -> None:
    code, output = invoke("logs", "--stack", "dev", "--since", since)
    assert code == ExitCode.USAGE
    assert output.strip().splitlines() == [
        f"error: --since {since!r}: give a number and a unit, s, m, h or d (e.g. 10m, 2h, 1d)"
    ]


def test_a_line_that_is_json_but_not_an_object_is_shown_as_it_is() -> None:
    assert readable(LogLine(0, "s", "[1, 2]", "e")) == "1970-01-01 00:00:00 [1, 2]"


# --- run ---------------------------------------------------------------------------------------------------

IMAGE = f"{OUTPUTS['ecrRepositoryUrl']}:{OUTPUTS['imageTag']}"
ASG_ANSWER = {
    "AutoScalingGroups": [
        {
            "AutoScalingGroupName": "web-asg",
            "MinSize": 1,
            "MaxSize": 2,
            "DesiredCapacity": 2,
            "DefaultCooldown": 300,
            "AvailabilityZones": ["us-east-1a"],
            "HealthCheckType": "ELB",
            "CreatedTime": "2026-01-01T00:00:00Z",
            "Instances": [
                {
                    "InstanceId": instance,
                    "AvailabilityZone": "us-east-1a",
                    "LifecycleState": "InService",
                    "HealthStatus": health,
                    "ProtectedFromScaleIn": False,
                }
                for instance, health in (("i-sick", "Unhealthy"), ("i-web2", "Healthy"))
            ],
        }
    ]
}


def _stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def _run_with(monkeypatch: pytest.MonkeyPatch, final: dict[str, Any]) -> tuple[int, str]:
    ssm, ssm_stub = _stubbed("ssm")
    asg, asg_stub = _stubbed("autoscaling")
    asg_stub.add_response("describe_auto_scaling_groups", ASG_ANSWER, {"AutoScalingGroupNames": ["web-asg"]})
    ssm_stub.add_response(
        "send_command",
        {"Command": {"CommandId": COMMAND_ID}},
        {
            "InstanceIds": ["i-web2"],
            "DocumentName": "AWS-RunShellScript",
            "Comment": "scalestack run dev",
            "Parameters": {
                "commands": app_task_commands(IMAGE, "us-east-1", ["python", "-m", "app.seed"]),
                "executionTimeout": ["900"],
            },
        },
    )
    ssm_stub.add_client_error("get_command_invocation", "InvocationDoesNotExist")
    ssm_stub.add_response(
        "get_command_invocation", {"Status": "InProgress"}, {"CommandId": COMMAND_ID, "InstanceId": ANY}
    )
    ssm_stub.add_response("get_command_invocation", final, {"CommandId": COMMAND_ID, "InstanceId": "i-web2"})
    monkeypatch.setattr(ops, "_outputs", lambda spec: StackOutputs.parse("dev", OUTPUTS))
    monkeypatch.setattr(ops, "_fleet", lambda aws: AwsFleet(asg, None, None))
    monkeypatch.setattr(ops, "_runner", lambda aws: SsmCommandRunner(ssm, FakeClock(lambda: None)))
    with ssm_stub, asg_stub:
        code, output = invoke("run", "--stack", "dev", "--json", "--", "python", "-m", "app.seed")
        ssm_stub.assert_no_pending_responses()
    return code, output


def test_run_runs_the_current_image_on_a_healthy_instance_and_reports_its_exit_code(
    aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = _run_with(
        monkeypatch,
        {
            "Status": "Success",
            "ResponseCode": 0,
            "StandardOutputContent": "seeded 3 rows\n",
            "StandardErrorContent": "",
        },
    )
    assert code == ExitCode.OK
    result = json.loads(output.splitlines()[0])
    assert (result["instance"], result["image"], result["exitCode"]) == ("i-web2", IMAGE, 0)
    assert result["stdout"] == "seeded 3 rows\n"


def test_run_a_failing_command_gives_its_exit_code_and_output(
    aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = _run_with(
        monkeypatch,
        {
            "Status": "Failed",
            "ResponseCode": 3,
            "StandardOutputContent": "",
            "StandardErrorContent": "no such table\n",
        },
    )
    assert code == ExitCode.REMOTE_COMMAND_FAILED
    result = json.loads(output.splitlines()[0])
    assert (result["exitCode"], result["stderr"]) == (3, "no such table\n")
    assert "error: the command ended Failed on i-web2 (exit code 3)" in output


def test_the_task_runs_with_the_apps_settings_and_database_tokens() -> None:
    lines = app_task_commands(IMAGE, "us-east-1", ["python", "-m", "app.seed"])
    assert lines[-1] == (
        "docker run --rm --env-file /etc/scalestack/app.env -v /run/scalestack/db-tokens:/run/db-tokens:ro "
        f"{IMAGE} python -m app.seed"
    )


# --- exec --------------------------------------------------------------------------------------------------


def test_exec_builds_a_session_into_the_app_container_of_a_healthy_instance(
    aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[list[str]] = []
    fleet = FakeFleet()
    fleet.instances_by_group["web-asg"][0] = fleet.instances_by_group["web-asg"][0].__class__(
        "i-web1", "InService", "Unhealthy", "3"
    )
    monkeypatch.setattr(ops, "_outputs", lambda spec: StackOutputs.parse("dev", OUTPUTS))
    monkeypatch.setattr(ops, "_fleet", lambda aws: fleet)
    monkeypatch.setattr(ops, "require_plugin", lambda: None)
    monkeypatch.setattr(ops, "_exec", started.append)
    code, _ = invoke("exec", "--stack", "dev", "--", "python", "-m", "app.shell")
    assert code == ExitCode.OK
    assert started == [
        [
            "aws", "ssm", "start-session", "--region", "us-east-1", "--target", "i-web2",
            "--document-name", "AWS-StartInteractiveCommand",
            "--parameters", '{"command": ["sudo docker exec -it app python -m app.shell"]}',
        ]
    ]  # fmt: skip


def test_exec_shapes() -> None:
    assert session_argv("i-1", "eu-west-1", (), on_host=True) == [
        "aws", "ssm", "start-session", "--region", "eu-west-1", "--target", "i-1",
    ]  # fmt: skip
    assert json.loads(session_argv("i-1", "eu-west-1", (), on_host=False)[-1]) == {
        "command": ["sudo docker exec -it app sh"]
    }
    assert json.loads(session_argv("i-1", "eu-west-1", ("df", "-h"), on_host=True)[-1]) == {
        "command": ["df -h"]
    }


def test_exec_refuses_an_instance_outside_the_group() -> None:
    from scripts.deploy.errors import DeployError

    with pytest.raises(DeployError) as raised:
        choose_instance(FakeFleet().instances("web-asg"), "i-other", "dev web")
    assert (
        raised.value.message
        == "--instance i-other is not an in-service instance of dev web (in service: i-web1, i-web2)"
    )
    assert choose_instance(FakeFleet().instances("web-asg"), "i-web2", "dev web") == "i-web2"


def test_exec_without_the_plugin_says_what_to_install(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    code, output = invoke("exec", "--stack", "dev")
    assert code == ExitCode.ENGINE_UNREACHABLE
    assert "session-manager-plugin on PATH" in output
