"""The click commands: `deploy`, `rollback`, `status`, `images`. They validate input and wire the real
adapters; scripts/command.py's boundary turns every failure into its exit code and a one-paragraph
summary, never a traceback."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from infra.aws_facts import DOCKER_PLATFORMS
from infra.contract import Output
from infra.spec import StackSpec
from scripts.command import load_spec_or_exit, stack_file_option, stack_option
from scripts.console import output_console
from scripts.deploy.app_source import resolve_app
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
from scripts.deploy.cli_support import (
    DeployCommand,
    allow_replace_option,
    aws_session,
    confirm,
    json_option,
    preview_or_refuse,
    reporter_for,
    require_answerable,
    stack_backend,
    yes_option,
)
from scripts.deploy.docker_engine import DockerEngine
from scripts.deploy.errors import DeployError, aws_errors
from scripts.deploy.pipeline import Deployment, DeployRequest, Ports, RollbackRun, StackOutputs, Timing
from scripts.deploy.ports import StackBackend
from scripts.deploy.pulumi_stack import PulumiStack
from scripts.deploy.source import check_tag, revision
from scripts.deploy.status import collect_images, collect_status, human_age
from scripts.exit_codes import ExitCode

DEPLOY_HELP = """Ship a new version of the app to STACK with no downtime, and undo it when it is bad.

\b
Steps:
  preflight  read the stack's outputs, check the tag, refuse while a refresh runs,
             check ECR for the tag and the Docker engine when a build is needed
  build      docker build the stack's app.buildContext (default: the kit's app_template/;
             --app-dir for one run; labels: git commit, tag; build args GIT_COMMIT,
             IMAGE_TAG); the tag defaults to the app repository's commit (12 hex
             digits, plus -dirty-<time> with uncommitted changes); skipped if ECR has it
  push       log in with ecr:GetAuthorizationToken and push (tags are immutable)
  migrate    SSM Run Command on one default web instance (healthy if any; its role alone
             reads the master secret): docker run <new image>
             <the stack's appCommands.migrate>; expand-only, so the old version keeps working
  update     record each group's launch template version, set scalestack:imageTag and
             `pulumi up` (Automation API; the backend your `pulumi` CLI uses:
             PULUMI_BACKEND_URL, else `pulumi login`'s; the stack must exist there):
             a new template version, no instance replaced
  rollout    start an instance refresh on every service's group to the new numbered
             version (min healthy %, checkpoints, auto rollback, the stack's alarms); at
             each checkpoint each web service's targets must be healthy and no alarm
             firing; one group failing rolls back the others (--service NAME: that
             service's group only, e.g. a service with its own image)
  smoke      GET <url>/readyz, the stack's app.smokePath (JSON) and /healthz (its
             version must be the new tag)
  static     upload the app's app.staticDir to S3; invalidate overwritten paths
\b
From `update` on, a failure rolls back: the refresh is rolled back (or cancelled),
a finished one is undone by a refresh back to the recorded version, and the previous
tag goes back in config. With --json, one JSON object per event and a
final summary object go to stdout.
"""


def _known_service(spec: StackSpec, service: str | None) -> str | None:
    """The service `--service` names, refused before anything runs when the stack file has no such one."""
    names = [s.name for s in spec.all_services]
    if service is not None and service not in names:
        raise DeployError(
            ExitCode.USAGE, f"--service {service}: {spec.source} has no such service ({', '.join(names)})"
        )
    return service


def _ports(aws: Aws, stack: StackBackend, stack_name: str) -> Ports:
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


@click.command("deploy", cls=DeployCommand, help=DEPLOY_HELP)
@stack_option()
@stack_file_option
@click.option(
    "--image-tag", metavar="TAG", help="Tag to build and deploy; default: the app repository's git commit."
)
@click.option(
    "--app-dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="PATH",
    help="Build this app (a directory with a Dockerfile) instead of the stack's app.buildContext, once.",
)
@click.option(
    "--with-infra",
    is_flag=True,
    help="Also apply infrastructure changes the preview shows beyond the image tag's.",
)
@click.option(
    "--service", metavar="NAME", help="Roll out this service's group only (web, worker or a services entry)."
)
@allow_replace_option
@yes_option
@json_option
def deploy(
    stack: str | None,
    stack_file: Path | None,
    image_tag: str | None,
    app_dir: Path | None,
    with_infra: bool,
    service: str | None,
    allow_replace: bool,
    yes: bool,
    as_json: bool,
) -> None:
    spec = load_spec_or_exit(stack, stack_file)
    if image_tag is not None:
        check_tag(image_tag)
    app = resolve_app(spec, app_dir)
    source = revision(app.context)
    tag = check_tag(image_tag or source.default_tag())
    require_answerable(f"Deploy {tag}", spec.stack, yes, as_json)
    aws, actor = aws_session(spec)
    reporter = reporter_for(as_json)
    ports = _ports(aws, stack_backend(spec), spec.stack)
    preview_or_refuse(
        ports.stack, reporter, image_tag=tag, allow_replace=allow_replace, infra_allowed=with_infra
    )
    confirm(spec, spec.stack, f"Deploy {tag} of {app.context}", yes, as_json)
    request = DeployRequest(
        stack=spec.stack,
        region=spec.region,
        image_tag=tag,
        context=app.context,
        revision=source,
        actor=actor,
        smoke_path=app.smoke_path,
        static_dir=app.static_dir,
        readiness_path=spec.app.readiness_path,
        liveness_path=spec.app.liveness_path,
        platform=DOCKER_PLATFORMS[spec.app.architecture],
        service=_known_service(spec, service),
    )
    sys.exit(Deployment(ports, request, reporter, Timing()).run())


@click.command(
    "rollback",
    cls=DeployCommand,
    help="""Put an earlier image tag back in service on STACK.

\b
Stops a running instance refresh first (rollback_instance_refresh, or cancel when AWS
cannot roll it back), then sets the tag, runs `pulumi up` and refreshes the groups to
the new numbered launch template version.
Without --to, the tag is the newest one in the deploy history (SSM parameter
/scalestack/<stack>/deploy-history) other than the one running now.
""",
)
@stack_option(required=True)
@click.option("--to", "to", metavar="TAG", help="Tag to return to (must be in the stack's ECR repository).")
@yes_option
@json_option
def rollback(stack: str, to: str | None, yes: bool, as_json: bool) -> None:
    spec = load_spec_or_exit(stack)
    if to is not None:
        check_tag(to)
    aws, actor = aws_session(spec)
    confirm(spec, stack, f"Roll back to {to or 'the previous tag'}", yes, as_json)
    ports = _ports(aws, PulumiStack(stack), stack)
    sys.exit(RollbackRun(ports, stack, to, actor, reporter_for(as_json), Timing()).run())


def _read_only(
    stack: str, as_json: bool, read: Callable[[Aws, dict[str, Any]], Any], render: Callable[[Any], None]
) -> None:
    aws, _ = aws_session(load_spec_or_exit(stack))
    outputs = StackOutputs.parse(stack, PulumiStack(stack).outputs()).raw
    with aws_errors(ExitCode.FAILURE, f"reading stack {stack}"):
        document = read(aws, dict(outputs))
    if as_json:
        click.echo(json.dumps(document, default=str, indent=2))
    else:
        render(document)


@click.command(
    "status",
    cls=DeployCommand,
    help="What runs on STACK: image tag per instance, groups and refreshes, target "
    "health, replica lag, cache, alarms in ALARM.",
)
@stack_option(required=True)
@json_option
def status(stack: str, as_json: bool) -> None:
    _read_only(
        stack,
        as_json,
        lambda aws, outputs: collect_status(aws, outputs, AutoScalingRefreshes(aws.client("autoscaling"))),
        _render_status,
    )


@click.command(
    "images", cls=DeployCommand, help="Image tags in STACK's ECR repository, newest first, with their age."
)
@stack_option(required=True)
@json_option
def images(stack: str, as_json: bool) -> None:
    def read(aws: Aws, outputs: dict[str, Any]) -> Any:
        registry = EcrRegistry(aws.client("ecr"))
        return collect_images(
            registry, outputs[Output.ECR_REPOSITORY_NAME], outputs.get(Output.IMAGE_TAG), datetime.now(UTC)
        )

    _read_only(stack, as_json, read, _render_images)


def _render_status(doc: dict[str, Any]) -> None:
    console = output_console()
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
    output_console().print(table)
