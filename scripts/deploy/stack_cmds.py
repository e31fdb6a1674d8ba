"""`scalestack up` and `scalestack destroy`: the infrastructure alone, through the Automation API, each shown
or checked before anything changes."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from infra.spec import NAMESPACE, StackSpec
from scripts.command import load_spec_or_exit, stack_file_option, stack_option
from scripts.deploy.cli_support import (
    DeployCommand,
    allow_replace_option,
    aws_session,
    confirm,
    json_option,
    preview_or_refuse,
    reporter_for,
    stack_backend,
    yes_option,
)
from scripts.deploy.errors import DeployError
from scripts.deploy.events import Event
from scripts.exit_codes import ExitCode


@click.command(
    "up",
    cls=DeployCommand,
    help="""Bring STACK's infrastructure up to its stack file, without building or shipping an image.

\b
1. `pulumi preview` (Automation API) with the policy pack (policy_pack/, the
   stack's environment levels and waivers): a mandatory violation stops here
2. the diff summarised: creates, updates, replacements; replacing the database,
   cache, a bucket or the ECR repository is refused without --allow-replace
3. confirmation (or --yes), then `pulumi up` with the same pack
Instances keep their image: the groups pin their launch template version, and
`scalestack deploy` rolls a new one out.
""",
)
@stack_option()
@stack_file_option
@allow_replace_option
@yes_option
@json_option
def up(stack: str | None, stack_file: Path | None, allow_replace: bool, yes: bool, as_json: bool) -> None:
    spec = load_spec_or_exit(stack, stack_file)
    aws_session(spec)
    reporter = reporter_for(as_json)
    backend = stack_backend(spec)
    summary = preview_or_refuse(backend, reporter, allow_replace=allow_replace)
    result = {"result": "up", "exitCode": 0, "stack": spec.stack, "diff": summary.counts()}
    if not summary.changes:
        reporter.summary({**result, "account": f"Stack {spec.stack} is up to date: nothing to change."})
        return
    confirm(spec, spec.stack, "Apply this diff", yes, as_json)
    applied = backend.up(lambda line: reporter.emit(Event("up", "progress", line)))
    reporter.summary(
        {**result, "changes": applied.changes, "account": f"pulumi up applied on stack {spec.stack}."}
    )


# Spec keys that make AWS refuse to delete a resource, with what they protect. A stack file's change reaches
# AWS only through `scalestack up`, so turning one off means editing the key, `up`, then `destroy`.
DELETION_PROTECTION: dict[str, str] = {
    "database.deletionProtection": "the database (RDS DeletionProtection, "
    "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_DeleteInstance.html)",
    "loadBalancer.deletionProtection": "the load balancer (deletion_protection.enabled, "
    "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html"
    "#deletion-protection)",
}


def protected(spec: StackSpec) -> list[str]:
    """`key: what it protects` for each deletion protection the stack file turns on."""
    values = {
        "database.deletionProtection": spec.database.deletion_protection,
        "loadBalancer.deletionProtection": spec.load_balancer.deletion_protection,
    }
    return [f"{NAMESPACE}:{key} protects {DELETION_PROTECTION[key]}" for key, on in values.items() if on]


def _interactive() -> bool:
    return sys.stdin.isatty()


def _typed_confirmation(stack: str, yes: bool, as_json: bool) -> None:
    if yes:
        return
    if as_json or not _interactive():
        raise DeployError(
            ExitCode.USAGE, f"destroying {stack} needs confirmation: pass --yes when nobody can type it (CI)."
        )
    typed = click.prompt(f"This deletes every resource of {stack}. Type the stack name to go on", err=True)
    if typed.strip() != stack:
        raise DeployError(ExitCode.USAGE, f"typed {typed.strip()!r}, not {stack!r}; nothing was deleted.")


@click.command(
    "destroy",
    cls=DeployCommand,
    help="""Delete every resource of STACK (`pulumi destroy`, Automation API).

\b
Refused while the stack file turns deletion protection on (database.deletionProtection,
loadBalancer.deletionProtection): set them false, `scalestack up`, then destroy.
Asks for the stack name to be typed; --yes skips that (CI). The Pulumi stack
itself (its history and config) stays: `pulumi stack rm` removes it.
""",
)
@stack_option()
@stack_file_option
@yes_option
@json_option
def destroy(stack: str | None, stack_file: Path | None, yes: bool, as_json: bool) -> None:
    spec = load_spec_or_exit(stack, stack_file)
    on = protected(spec)
    if on:
        raise DeployError(
            ExitCode.DELETION_PROTECTED,
            f"{spec.source}: deletion protection is on, so AWS would refuse: " + "; ".join(on) + ". Set "
            f"{'them' if len(on) > 1 else 'it'} to false, run `scalestack up`, then destroy; "
            "nothing was deleted.",
        )
    aws_session(spec)
    _typed_confirmation(spec.stack, yes, as_json)
    reporter = reporter_for(as_json)
    result = stack_backend(spec).destroy(lambda line: reporter.emit(Event("destroy", "progress", line)))
    reporter.summary(
        {
            "result": "destroyed",
            "exitCode": 0,
            "stack": spec.stack,
            "changes": result.changes,
            "account": f"Every resource of stack {spec.stack} was deleted.",
        }
    )
