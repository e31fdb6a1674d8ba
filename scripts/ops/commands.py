"""The click commands for a running stack: `logs`, `run`, `exec`, `secret`. Each reads the stack's spec
(region, name) and, where it needs the instances, the stack's outputs; scripts/command.py's boundary turns
every failure into its exit code."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from typing import Any, Literal

import click

from infra.contract import Output, log_group_name
from infra.spec import StackSpec
from scripts.command import Command, load_spec_or_exit, stack_option
from scripts.deploy.aws import Aws, AwsFleet, SsmCommandRunner, SystemClock
from scripts.deploy.cli_support import aws_session, stack_backend
from scripts.deploy.errors import DeployError, aws_errors
from scripts.deploy.pipeline import StackOutputs
from scripts.deploy.ports import Clock, CommandRunner, Fleet
from scripts.deploy.remote import app_task_commands
from scripts.deploy.source import check_tag
from scripts.exit_codes import ExitCode
from scripts.ops import logs as cloudwatch_logs
from scripts.ops.secrets import AppSecrets, check_name, check_value
from scripts.ops.session import choose_instance, require_plugin, session_argv

Role = Literal["web", "worker"]
service_option = click.option(
    "--service",
    type=click.Choice(["web", "worker"]),
    default="web",
    show_default=True,
    help="Which role's instances (and log group).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def _outputs(spec: StackSpec) -> StackOutputs:
    return StackOutputs.parse(spec.stack, stack_backend(spec).outputs())


def _fleet(aws: Aws) -> Fleet:
    return AwsFleet(aws.client("autoscaling"), aws.client("elbv2"), aws.client("cloudwatch"))


def _group(outputs: StackOutputs, service: Role) -> str:
    return str(outputs[Output.WEB_ASG_NAME if service == "web" else Output.WORKER_ASG_NAME])


def _clock() -> Clock:
    return SystemClock()


@click.command(
    "logs",
    cls=Command,
    help="""The app's logs on STACK, from CloudWatch Logs (one group per role:
/scalestack/<stack>/web and /worker, one stream per container).

\b
JSON lines (the app template's structlog) are shown as `time level logger: event
key=value`; --json passes each line through as the app wrote it. --follow keeps
polling for new lines until Ctrl-C.
""",
)
@stack_option(required=True)
@service_option
@click.option(
    "--since", default="10m", show_default=True, metavar="AGE", help="From this long ago: 30s, 10m, 2h, 1d."
)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines as they arrive.")
@json_option
def logs(stack: str, service: Role, since: str, follow: bool, as_json: bool) -> None:
    spec = load_spec_or_exit(stack)
    start = cloudwatch_logs.since_millis(since, datetime.now(UTC))
    aws, _ = aws_session(spec)
    client = aws.client("logs")
    group = log_group_name(spec.stack, service)
    show = cloudwatch_logs.printer(as_json, click.echo)
    lines = (
        cloudwatch_logs.follow(client, group, start, _clock(), polls=_follow_polls())
        if follow
        else cloudwatch_logs.read(client, group, start)
    )
    with aws_errors(ExitCode.FAILURE, f"reading log group {group}"):
        for line in lines:
            show(line)


def _follow_polls() -> int | None:
    """How many polls a follow makes after its first read: until interrupted (tests bound it)."""
    return None


def _runner(aws: Aws) -> CommandRunner:
    return SsmCommandRunner(aws.client("ssm"), SystemClock())


@click.command(
    "run",
    cls=Command,
    context_settings={"ignore_unknown_options": True},
    help="""Run a one-off command in STACK's live image (or --image-tag) on one instance (SSM Run Command),
and show its output and exit code: `scalestack run --stack dev -- python -m app.seed`.

\b
The container gets the app's settings (its env file, rendered by the boot script)
and database tokens, as the app does. SSM returns the first 24,000 characters of
stdout and 8,000 of stderr (GetCommandInvocation, https://docs.aws.amazon.com/
systems-manager/latest/APIReference/API_GetCommandInvocation.html); longer output
belongs in the logs.
""",
)
@stack_option(required=True)
@service_option
@click.option("--instance", metavar="ID", help="This in-service instance, not the first healthy one.")
@click.option("--timeout", default=900, show_default=True, type=click.IntRange(30, 172800), help="Seconds.")
@click.option(
    "--image-tag", metavar="TAG", help="An image in the stack's ECR repository; default: the live one."
)
@json_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(
    stack: str,
    service: Role,
    instance: str | None,
    timeout: int,
    image_tag: str | None,
    as_json: bool,
    command: tuple[str, ...],
) -> None:
    spec = load_spec_or_exit(stack)
    tag = check_tag(image_tag) if image_tag is not None else None
    aws, _ = aws_session(spec)
    outputs = _outputs(spec)
    tag = tag or outputs.image_tag
    if not tag:
        raise DeployError(ExitCode.USAGE, f"stack {stack} runs no image yet: `scalestack deploy` one first")
    image = f"{outputs[Output.ECR_REPOSITORY_URL]}:{tag}"
    with aws_errors(ExitCode.FAILURE, "running the command"):
        target = choose_instance(
            _fleet(aws).instances(_group(outputs, service)), instance, f"{stack} {service}"
        )
        result = _runner(aws).run(
            target, app_task_commands(image, spec.region, command), f"scalestack run {stack}", timeout
        )
    document: dict[str, Any] = {
        "instance": target,
        "image": image,
        "status": result.status,
        "exitCode": result.exit_code,
        "stdout": result.stdout,
        "stderr": result.stderr,
    }
    if as_json:
        click.echo(json.dumps(document))
    else:
        click.echo(result.stdout, nl=False)
        click.echo(result.stderr, nl=False, err=True)
        click.echo(f"{result.status} on {target} (exit code {result.exit_code})", err=True)
    if result.status != "Success":
        raise _remote_failure(result.status, result.exit_code, target)


def _remote_failure(status: str, code: int | None, target: str) -> DeployError:
    return DeployError(
        ExitCode.REMOTE_COMMAND_FAILED, f"the command ended {status} on {target} (exit code {code})"
    )


@click.command(
    "exec",
    cls=Command,
    context_settings={"ignore_unknown_options": True},
    help="""A shell (or CMD) on one of STACK's instances through Session Manager, inside the
app container unless --host: `scalestack exec --stack dev -- python -m app.shell`.

\b
Runs `aws ssm start-session`, which needs the AWS CLI and the session-manager-plugin
(https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html).
No SSH key or open port: the instance profile allows Session Manager.
""",
)
@stack_option(required=True)
@service_option
@click.option("--instance", metavar="ID", help="This in-service instance, not the first healthy one.")
@click.option("--host", "on_host", is_flag=True, help="On the instance itself, not in the app container.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def exec_(stack: str, service: Role, instance: str | None, on_host: bool, command: tuple[str, ...]) -> None:
    spec = load_spec_or_exit(stack)
    require_plugin()
    aws, _ = aws_session(spec)
    outputs = _outputs(spec)
    with aws_errors(ExitCode.FAILURE, "listing the instances"):
        target = choose_instance(
            _fleet(aws).instances(_group(outputs, service)), instance, f"{stack} {service}"
        )
    _exec(session_argv(target, spec.region, command, on_host))


def _exec(argv: list[str]) -> None:
    """Become the AWS CLI: the session owns the terminal, and its exit status is the command's."""
    os.execvp(argv[0], argv)


def _read_value(name: str) -> str:
    """The value from a pipe, or typed twice without echo: never an argument (shell history, `ps`)."""
    if not sys.stdin.isatty():
        return check_value(name, sys.stdin.read())
    return check_value(
        name, click.prompt(f"Value of {name}", hide_input=True, confirmation_prompt=True, err=True)
    )


@click.command(
    "secret",
    cls=Command,
    help="""The app's own secrets on STACK: `set KEY` (value from a pipe or typed, never
an argument), `list` (names only), `rm KEY`.

\b
They live in one Secrets Manager secret, scalestack/<stack>/app-secrets, and reach the
app's environment when its container next starts (a deploy, or an instance refresh);
names the kit sets (DATABASE_URL, PORT, ...) or the stack file's app.environment sets
are refused. Values are never printed.
""",
)
@click.argument("action", type=click.Choice(["set", "list", "rm"]))
@click.argument("key", required=False)
@stack_option(required=True)
def secret(action: str, key: str | None, stack: str) -> None:
    spec = load_spec_or_exit(stack)
    if (key is None) != (action == "list"):
        raise click.UsageError(f"`secret {action}` takes {'no KEY' if action == 'list' else 'one KEY'}")
    aws, _ = aws_session(spec)
    store = AppSecrets(aws.client("secretsmanager"), spec.stack)
    with aws_errors(ExitCode.FAILURE, f"reading {store.name}"):
        values = store.read()
    if action == "list":
        for name in sorted(values):
            click.echo(name)
        return
    assert key is not None
    if action == "set":
        values[check_name(spec, key)] = _read_value(key)
        done = f"set {key} on {stack}; the app sees it from its next container start"
    elif key not in values:
        raise DeployError(
            ExitCode.USAGE,
            f"stack {stack} has no secret {key} (it has: {', '.join(sorted(values)) or 'none'})",
        )
    else:
        del values[key]
        done = f"removed {key} from {stack}; the app loses it at its next container start"
    with aws_errors(ExitCode.FAILURE, f"writing {store.name}"):
        store.write(values)
    click.echo(done, err=True)
