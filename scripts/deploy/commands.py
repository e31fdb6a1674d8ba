"""The click commands: `deploy`, `rollback`, `status`, `images`. They validate input, wire the real adapters
and map every failure to its exit code with a one-paragraph message, never a traceback."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from infra.aws_facts import DOCKER_PLATFORMS
from infra.contract import Output
from infra.spec import SpecError, StackSpec, load_stack_spec
from scripts.deploy.aws import (
    AutoScalingRefreshes,
    Aws,
    AwsFleet,
    EcrRegistry,
    S3CloudFrontCdn,
    SsmCommandRunner,
    SsmHistory,
    SystemClock,
    UrllibHttp,
)
from scripts.deploy.docker_engine import DockerEngine
from scripts.deploy.errors import DeployError, aws_errors
from scripts.deploy.events import JsonReporter, Reporter, RichReporter
from scripts.deploy.pipeline import Deployment, DeployRequest, Ports, RollbackRun, StackOutputs, Timing
from scripts.deploy.pulumi_stack import REPO_ROOT, PulumiStack
from scripts.deploy.source import check_tag, revision
from scripts.deploy.status import collect_images, collect_status, human_age
from scripts.exit_codes import ExitCode

APP_CONTEXT = REPO_ROOT / "app_template"

EXIT_CODES_HELP = f"""
\b
Exit codes:
  {ExitCode.OK:>3}  deployed (warnings, e.g. a slow CloudFront invalidation, do not fail it)
  {ExitCode.USAGE:>3}  bad input: malformed tag, stack not brought up yet, a refresh already running
  {ExitCode.INVALID_SPEC:>3}  unknown stack or invalid stacks/Pulumi.<stack>.yaml
  {ExitCode.MISSING_CREDENTIALS:>3}  no usable AWS credentials
  {ExitCode.ENGINE_UNREACHABLE:>3}  Docker engine (DOCKER_HOST) or pulumi CLI unreachable
  {ExitCode.BUILD_FAILED:>3}  image build failed             (nothing changed)
  {ExitCode.PUSH_FAILED:>3}  push to ECR failed             (nothing changed)
  {ExitCode.MIGRATION_FAILED:>3}  migrations failed              (no traffic moved)
  {ExitCode.INFRA_UPDATE_FAILED:>3}  `pulumi up` failed             (old tag back in config, refresh stopped)
  {ExitCode.ROLLOUT_FAILED:>3}  rollout failed, no previous tag to roll back to
  {ExitCode.SMOKE_TEST_FAILED:>3}  smoke test failed, no previous tag to roll back to
  {ExitCode.ROLLED_BACK:>3}  the new version failed after going live; the previous one is back
  {ExitCode.ROLLBACK_FAILED:>3}  the new version failed and so did the rollback: look now
  {ExitCode.INTERRUPTED:>3}  Ctrl-C: the message says what state the stack is in
"""

DEPLOY_HELP = (
    """Ship a new version of the app to STACK with no downtime, and undo it when it is bad.

\b
Steps:
  preflight  read the stack's outputs, check the tag, refuse while a refresh runs,
             check ECR for the tag and the Docker engine when a build is needed
  build      docker build app_template/ (labels: git commit, tag; build args
             GIT_COMMIT, IMAGE_TAG); the tag defaults to the commit (12 hex digits,
             plus -dirty-<time> with uncommitted changes); skipped if ECR has the tag
  push       log in with ecr:GetAuthorizationToken and push (tags are immutable)
  migrate    SSM Run Command on one web instance (healthy if any): docker run <new image>
             <the stack's appCommands.migrate>; expand-only, so the old version keeps working
  update     record each group's launch template version, set scalestack:imageTag and
             `pulumi up` (Automation API; the backend your `pulumi` CLI uses:
             PULUMI_BACKEND_URL, else `pulumi login`'s; the stack must exist there):
             a new template version, no instance replaced
  rollout    start an instance refresh on the web and worker groups to the new numbered
             version (min healthy %, checkpoints, auto rollback, the stack's alarms); at
             each checkpoint the web targets must be healthy and no alarm firing; one
             group failing rolls back the other
  smoke      GET <url>/readyz, one API read and /healthz (its version must be the new tag)
  static     upload new static assets to S3; invalidate overwritten paths
\b
From `update` on, a failure rolls back: the refresh is rolled back (or cancelled),
a finished one is undone by a refresh back to the recorded version, and the previous
tag goes back in config. With --json, one JSON object per event and a
final summary object go to stdout.
"""
    + EXIT_CODES_HELP
)


def _reporter(as_json: bool) -> Reporter:
    return JsonReporter() if as_json else RichReporter()


@contextmanager
def _boundary(reporter: Reporter, stack: str) -> Iterator[None]:
    """Errors before an orchestrator runs (bad stack, credentials, engines) and bugs: message, code, exit."""
    try:
        yield
    except DeployError as err:
        reporter.summary(
            {"result": "failed", "exitCode": int(err.code), "stack": stack, "account": err.message}
        )
        sys.exit(err.code)
    except KeyboardInterrupt:
        reporter.summary(
            {
                "result": "interrupted",
                "exitCode": int(ExitCode.INTERRUPTED),
                "stack": stack,
                "account": "Interrupted before anything changed.",
            }
        )
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as err:  # a bug: say so and where, keep the traceback out unless asked for
        if os.environ.get("SCALESTACK_DEBUG"):
            traceback.print_exc()
        reporter.summary(
            {
                "result": "failed",
                "exitCode": int(ExitCode.FAILURE),
                "stack": stack,
                "account": f"unexpected error ({type(err).__name__}: {err}); this is a bug in "
                "scalestack: rerun with SCALESTACK_DEBUG=1 and report the traceback.",
            }
        )
        sys.exit(ExitCode.FAILURE)


def _spec(stack: str) -> StackSpec:
    try:
        return load_stack_spec(stack)
    except SpecError as err:
        raise DeployError(ExitCode.INVALID_SPEC, str(err)) from None


def _aws(spec: StackSpec) -> tuple[Aws, str]:
    aws = Aws(spec.region)
    with aws_errors(ExitCode.MISSING_CREDENTIALS, "checking AWS credentials (sts:GetCallerIdentity)"):
        return aws, aws.caller_arn()


def _ports(aws: Aws, stack: PulumiStack, stack_name: str) -> Ports:
    clock = SystemClock()
    return Ports(
        engine=DockerEngine(),
        registry=EcrRegistry(aws.client("ecr")),
        stack=stack,
        refreshes=AutoScalingRefreshes(aws.client("autoscaling")),
        commands=SsmCommandRunner(aws.client("ssm"), clock),
        fleet=AwsFleet(aws.client("autoscaling"), aws.client("elbv2"), aws.client("cloudwatch")),
        cdn=S3CloudFrontCdn(aws.client("s3"), aws.client("cloudfront")),
        history=SsmHistory(aws.client("ssm"), stack_name),
        http=UrllibHttp(),
        clock=clock,
    )


def _confirm(spec: StackSpec, stack: str, what: str, yes: bool, as_json: bool) -> None:
    if yes:
        return
    if as_json or not sys.stdin.isatty():
        raise DeployError(
            ExitCode.USAGE,
            f"{what} on {stack} needs confirmation: pass --yes when nobody can answer a prompt (CI, --json).",
        )
    if not click.confirm(f"{what} on {stack} ({spec.environment}, {spec.region})?", err=True):
        raise DeployError(ExitCode.USAGE, "not confirmed; nothing changed.")


stack_option = click.option(
    "--stack", required=True, metavar="NAME", help="Stack name: stacks/Pulumi.NAME.yaml."
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per event, then a summary."
)
yes_option = click.option("--yes", is_flag=True, help="Do not ask for confirmation (CI).")


@click.command("deploy", help=DEPLOY_HELP)
@stack_option
@click.option("--image-tag", metavar="TAG", help="Tag to build and deploy; default: the git commit.")
@yes_option
@json_option
def deploy(stack: str, image_tag: str | None, yes: bool, as_json: bool) -> None:
    reporter = _reporter(as_json)
    with _boundary(reporter, stack):
        spec = _spec(stack)
        if image_tag is not None:
            check_tag(image_tag)
        aws, actor = _aws(spec)
        _confirm(spec, stack, f"Deploy {image_tag or 'the current commit'}", yes, as_json)
        request = DeployRequest(
            stack=stack,
            region=spec.region,
            image_tag=image_tag,
            context=APP_CONTEXT,
            revision=revision(REPO_ROOT, APP_CONTEXT),
            actor=actor,
            readiness_path=spec.app.readiness_path,
            liveness_path=spec.app.liveness_path,
            platform=DOCKER_PLATFORMS[spec.app.architecture],
        )
        code = Deployment(_ports(aws, PulumiStack(stack), stack), request, reporter, Timing()).run()
    sys.exit(code)


@click.command(
    "rollback",
    help="""Put an earlier image tag back in service on STACK.

\b
Stops a running instance refresh first (rollback_instance_refresh, or cancel when AWS
cannot roll it back), then sets the tag, runs `pulumi up` and refreshes the groups to
the new numbered launch template version.
Without --to, the tag is the newest one in the deploy history (SSM parameter
/scalestack/<stack>/deploy-history) other than the one running now.
"""
    + EXIT_CODES_HELP,
)
@stack_option
@click.option("--to", "to", metavar="TAG", help="Tag to return to (must be in the stack's ECR repository).")
@yes_option
@json_option
def rollback(stack: str, to: str | None, yes: bool, as_json: bool) -> None:
    reporter = _reporter(as_json)
    with _boundary(reporter, stack):
        spec = _spec(stack)
        if to is not None:
            check_tag(to)
        aws, actor = _aws(spec)
        _confirm(spec, stack, f"Roll back to {to or 'the previous tag'}", yes, as_json)
        run = RollbackRun(_ports(aws, PulumiStack(stack), stack), stack, to, actor, reporter, Timing())
        code = run.run()
    sys.exit(code)


def _read_only(
    stack: str, as_json: bool, read: Callable[[Aws, dict[str, Any]], Any], render: Callable[[Any], None]
) -> None:
    reporter = _reporter(as_json)
    with _boundary(reporter, stack):
        spec = _spec(stack)
        aws, _ = _aws(spec)
        outputs = StackOutputs.parse(stack, PulumiStack(stack).outputs()).raw
        with aws_errors(ExitCode.FAILURE, f"reading stack {stack}"):
            document = read(aws, dict(outputs))
    if as_json:
        click.echo(json.dumps(document, default=str, indent=2))
    else:
        render(document)


@click.command(
    "status",
    help="What runs on STACK: image tag per instance, groups and refreshes, target "
    "health, replica lag, cache, alarms in ALARM.",
)
@stack_option
@json_option
def status(stack: str, as_json: bool) -> None:
    _read_only(
        stack,
        as_json,
        lambda aws, outputs: collect_status(aws, outputs, AutoScalingRefreshes(aws.client("autoscaling"))),
        _render_status,
    )


@click.command("images", help="Image tags in STACK's ECR repository, newest first, with their age.")
@stack_option
@json_option
def images(stack: str, as_json: bool) -> None:
    def read(aws: Aws, outputs: dict[str, Any]) -> Any:
        registry = EcrRegistry(aws.client("ecr"))
        return collect_images(
            registry, outputs[Output.ECR_REPOSITORY_NAME], outputs.get(Output.IMAGE_TAG), datetime.now(UTC)
        )

    _read_only(stack, as_json, read, _render_images)


def _render_status(doc: dict[str, Any]) -> None:
    console = Console()
    console.print(f"[bold]{doc['url']}[/bold]  image tag in config: [bold]{doc['imageTag']}[/bold]")
    for role, group in doc["groups"].items():
        refresh = group["refresh"]
        table = Table(
            title=f"{role}: {group.get('name', '')} min {group.get('min')} desired "
            f"{group.get('desired')} max {group.get('max')}; refresh "
            f"{refresh.get('status', refresh.get('error'))} {refresh.get('percentage', '')}"
        )
        for column in ("instance", "state", "health", "zone", "image tag"):
            table.add_column(column)
        for i in group.get("instances", []):
            table.add_row(i["id"], i["state"], i["health"], i["zone"], i["imageTag"])
        console.print(table if "error" not in group else f"{role}: {group['error']}")
        template = group.get("launchTemplate") or {}
        if template.get("pendingRollout"):
            console.print(
                f"{role}: pending rollout: the group launches version {template['groupVersion']}, the "
                f"template's latest is {template['latestVersion']} (`scalestack deploy` rolls it out)"
            )
    console.print_json(data={k: doc[k] for k in ("targets", "replicaLagSeconds", "cache", "alarmsInAlarm")})


def _render_images(rows: list[dict[str, Any]]) -> None:
    table = Table()
    for column in ("tags", "pushed", "age", "size", "live"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            ", ".join(row["tags"]) or "<untagged>",
            row["pushedAt"] or "?",
            human_age(row["ageSeconds"]),
            f"{row['sizeBytes'] / 1e6:.0f} MB",
            "yes" if row["live"] else "",
        )
    Console().print(table)
