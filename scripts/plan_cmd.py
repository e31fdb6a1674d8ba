"""`scalestack plan`: what `pulumi up` would create for a stack, computed offline, checked by the policy."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from infra.diagram import mermaid
from infra.offline import plan_stack
from infra.planned import Plan, PlannedResource, masked
from infra.policies import PolicyReport, evaluate
from infra.policies.evaluate import to_resource
from infra.policies.model import Stack
from infra.reachability import Flow, analyse
from infra.spec import StackSpec, rule_priority
from infra.terraform_export import export as terraform_export
from scripts.command import (
    Command,
    format_option,
    load_spec_or_exit,
    stack_errors,
    stack_file_option,
    stack_option,
)
from scripts.console import output_console
from scripts.exit_codes import ExitCode


@click.command(cls=Command)
@stack_option()
@stack_file_option
@format_option(
    "json",
    "mermaid",
    "terraform-json",
    help="mermaid: a diagram of the components and which outputs each takes from which. terraform-json: "
    "the plan as a Terraform plan JSON, for checkov, trivy or conftest.",
)
def plan(stack: str | None, stack_file: Path | None, output_format: str) -> None:
    """Show every resource `pulumi up` would create for a stack, offline, and check it against the policy.

    Runs the stack's real program under Pulumi's mock engine: no Pulumi CLI, AWS credentials or network.
    """
    spec = load_spec_or_exit(stack, stack_file)
    with stack_errors(spec):
        result = plan_stack(spec)
        report = evaluate(result.resources, spec.environment, spec.policy.waivers)
    flows = reachability(result)
    if output_format == "json":
        click.echo(json.dumps(plan_json(result, report, flows), indent=2, default=str))
    elif output_format == "mermaid":
        click.echo(mermaid(result), nl=False)
    elif output_format == "terraform-json":
        click.echo(json.dumps(terraform_export(result), indent=2))
    else:
        render_text(result, report, spec, flows)
    if report.blocked:
        sys.exit(ExitCode.POLICY_VIOLATION)


def reachability(result: Plan) -> list[Flow]:
    """The plan's network flows; the `network-reachability` rule judges the same list."""
    return analyse(Stack(tuple(to_resource(r) for r in result.resources if r.custom)))


def plan_json(result: Plan, report: PolicyReport, flows: list[Flow]) -> dict[str, Any]:
    return {
        "stack": result.stack,
        "resources": [r.to_json() for r in result.resources],
        "outputs": masked(result.outputs),
        "reachability": [f.to_json() for f in flows],
        "policy": report.to_json(),
    }


def render_text(result: Plan, report: PolicyReport, spec: StackSpec, flows: list[Flow]) -> None:
    console = output_console()
    custom = [r for r in result.resources if r.custom]
    title = f"[bold]{result.stack}[/] ({spec.environment}, {spec.region}): {len(custom)} resources"
    console.print(_tree(result, title))
    console.print(_services_table(spec))
    console.print(_type_counts(custom))
    outputs = Table(title="Stack outputs", show_header=False, title_justify="left")
    for key, value in masked(result.outputs).items():
        outputs.add_row(key, json.dumps(value) if isinstance(value, list | dict) else str(value))
    console.print(outputs)
    console.print(_reachability_table(flows))
    _render_policy(console, report)


def _tree(result: Plan, title: str) -> Tree:
    """Components as branches, the resources directly under each counted by type."""
    root = Tree(title)
    children: dict[str | None, list[PlannedResource]] = {}
    for resource in result.resources:
        children.setdefault(resource.parent, []).append(resource)

    def grow(branch: Tree, parent: str | None) -> None:
        below = children.get(parent, [])
        for component in (r for r in below if not r.custom):
            grow(branch.add(f"[cyan]{component.name}[/] [dim]{component.type}[/]"), component.urn)
        for type_token, count in sorted(Counter(r.type for r in below if r.custom).items()):
            branch.add(f"{count} x {type_token}")

    grow(root, None)
    return root


def _services_table(spec: StackSpec) -> Table:
    """Each service: what it takes (routes and the rule's priority, or queues) and its group's sizes."""
    table = Table(title="Services", title_justify="left")
    for column in ("service", "kind", "takes", "instance type", "min/desired/max", "scales on"):
        table.add_column(column)
    for service in spec.all_services:
        group, web, worker = service.spec, service.web, service.worker
        if web:
            routes = [*web.path_patterns, *web.host_names] or ["every other request"]
            takes = f"{', '.join(routes)} (rule priority {rule_priority(service)})"
            scales = f"CPU {group.cpu_target_percent}%, {web.requests_per_target} requests/target"
        else:
            assert worker is not None
            takes = "queues " + ", ".join(worker.queues)
            scales = f"CPU {group.cpu_target_percent}%, {worker.target_messages_per_worker} messages/worker"
        sizes = f"{group.min_size}/{group.desired_capacity}/{group.max_size}"
        table.add_row(service.name, "web" if web else "worker", takes, group.instance_type, sizes, scales)
    return table


def _type_counts(resources: list[PlannedResource]) -> Table:
    table = Table(title="Resources by type", title_justify="left")
    table.add_column("type")
    table.add_column("count", justify="right")
    for type_token, count in Counter(r.type for r in resources).most_common():
        table.add_row(type_token, str(count))
    return table


def _reachability_table(flows: list[Flow]) -> Table:
    table = Table(title="Network reachability (from the plan)", title_justify="left")
    for column in ("flow", "kind", "state", "explanation"):
        table.add_column(column)
    for flow in flows:
        state = "open" if flow.open else "closed"
        style = "red" if flow.wrong else "green"
        kind = "required" if flow.required else "forbidden"
        table.add_row(flow.flow, kind, f"[{style}]{state}[/]", flow.explanation)
    return table


def _render_policy(console: Console, report: PolicyReport) -> None:
    summary = (
        f"Policy: {report.rules} rules in force for {report.environment}, {len(report.violations)} violations"
    )
    if report.waived:
        summary += f", {len(report.waived)} waived"
    console.print(f"[bold]{summary}[/]")
    for waived in report.waived:
        console.print(f"  waived {waived.rule}: {waived.reason}")
    if report.violations:
        table = Table(title_justify="left")
        for column in ("level", "rule", "resource", "message", "fix"):
            table.add_column(column)
        for v in report.violations:
            style = "red" if v.level == "mandatory" else "yellow"
            table.add_row(f"[{style}]{v.level}[/]", v.rule, v.resource, v.message, v.fix)
        console.print(table)
    # The last line of the output, so a CI log's tail says whether the plan may go ahead and why not.
    console.print(f"[bold {'red' if report.blocked else 'green'}]{report.verdict()}[/]")
