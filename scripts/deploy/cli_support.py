"""What the commands that change or read a stack through Pulumi and AWS share (deploy, rollback, status,
images, up, destroy, logs, run, exec, secret): their failure report, the AWS session, the Pulumi stack of a
spec, the preview shown and judged before a prompt, the prompt itself and the options. Commands import this,
never each other (tests/test_cli_layer.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from infra.spec import StackSpec
from scripts.command import Command
from scripts.deploy.app_source import project_dir
from scripts.deploy.aws import Aws
from scripts.deploy.errors import DeployError, aws_errors
from scripts.deploy.events import Event, JsonReporter, Reporter, RichReporter
from scripts.deploy.ports import StackBackend
from scripts.deploy.preview import DiffSummary, refuse_unsafe
from scripts.deploy.pulumi_stack import PulumiStack
from scripts.exit_codes import ExitCode


def reporter_for(as_json: bool) -> Reporter:
    return JsonReporter() if as_json else RichReporter()


class DeployCommand(Command):
    """A command that talks to AWS: a failure ends with the summary a run ends with (JSON with --json)."""

    interrupted_message = "Interrupted before anything changed."

    def report(self, ctx: click.Context, code: ExitCode, message: str) -> None:
        reporter_for(bool(ctx.params.get("as_json"))).summary(
            {
                "result": "interrupted" if code == ExitCode.INTERRUPTED else "failed",
                "exitCode": int(code),
                "stack": ctx.params.get("stack"),
                "message": message,
                "account": message,
            }
        )


def aws_session(spec: StackSpec) -> tuple[Aws, str]:
    aws = Aws(spec.region)
    with aws_errors(ExitCode.MISSING_CREDENTIALS, "checking AWS credentials (sts:GetCallerIdentity)"):
        return aws, aws.caller_arn()


def stack_backend(spec: StackSpec) -> PulumiStack:
    """The stack in the Pulumi project its stack file belongs to (the kit's, or a fork's own)."""
    return PulumiStack(spec.stack, project_dir(spec), Path(spec.source))


def show_diff(reporter: Reporter, summary: DiffSummary) -> None:
    """The preview's summary, before any prompt: one event per line (JSON: the counts and changes too)."""
    data = {
        "counts": summary.counts(),
        "changes": [{"kind": c.kind, "type": c.type, "name": c.name} for c in summary.changes],
        "statefulReplacements": [c.name for c in summary.stateful_replacements()],
    }
    lines = summary.lines()
    reporter.emit(Event("preview", "succeeded", lines[0], data))
    for line in lines[1:]:
        reporter.emit(Event("preview", "warning" if "!!" in line else "progress", line.strip()))


def preview_or_refuse(
    backend: StackBackend,
    reporter: Reporter,
    *,
    image_tag: str | None = None,
    allow_replace: bool,
    infra_allowed: bool = True,
) -> DiffSummary:
    """`pulumi preview` (policy pack applied), its summary shown, an unsafe diff refused (UNSAFE_CHANGE)."""

    def log(line: str) -> None:
        reporter.emit(Event("preview", "progress", line))

    summary = backend.preview(log, image_tag=image_tag)
    show_diff(reporter, summary)
    refuse_unsafe(summary, allow_replace=allow_replace, infra_allowed=infra_allowed)
    return summary


def require_answerable(what: str, stack: str, yes: bool, as_json: bool) -> None:
    """Without --yes a prompt must be answerable; checked first, before any slow preview."""
    if not yes and (as_json or not sys.stdin.isatty()):
        raise DeployError(
            ExitCode.USAGE,
            f"{what} on {stack} needs confirmation: pass --yes when nobody can answer a prompt (CI, --json).",
        )


def confirm(spec: StackSpec, stack: str, what: str, yes: bool, as_json: bool) -> None:
    if yes:
        return
    require_answerable(what, stack, yes, as_json)
    if not click.confirm(f"{what} on {stack} ({spec.environment}, {spec.region})?", err=True):
        raise DeployError(ExitCode.USAGE, "not confirmed; nothing changed.")


json_option = click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per event, then a summary."
)
yes_option = click.option("--yes", is_flag=True, help="Do not ask for confirmation (CI).")
allow_replace_option = click.option(
    "--allow-replace",
    is_flag=True,
    help="Go ahead when the diff replaces a database, cache, bucket or the image repository (data lost).",
)
