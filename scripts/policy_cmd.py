"""`scalestack policy`: the guardrail rules, their severity and the level each has per environment."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from infra.policies import ENVIRONMENTS, RULES, Rule, check_waivers
from infra.policies.crossguard import level_for, pulumi_config
from infra.policies.model import Category
from infra.spec import StackSpec
from scripts.command import Command, format_option, load_spec_or_exit, stack_errors, stack_option


@click.command(cls=Command)
@click.option("--list", "list_rules", is_flag=True, help="List the rules (the default action).")
@stack_option(help="Show levels and waivers for this stack only.")
@format_option("json")
@click.option(
    "--pulumi-config",
    "pulumi_config_flag",
    is_flag=True,
    help="Print a --policy-pack-config document for this stack (needs --stack): levels, waivers disabled.",
)
def policy(list_rules: bool, stack: str | None, output_format: str, pulumi_config_flag: bool) -> None:
    """Show the policy rules every stack is checked against (by `scalestack plan` and policy_pack/)."""
    if pulumi_config_flag and not stack:
        raise click.UsageError("--pulumi-config needs --stack NAME")
    spec = load_spec_or_exit(stack) if stack else None
    waived = {w.rule: w.reason for w in spec.policy.waivers} if spec else {}
    if spec is not None:
        with stack_errors(spec):
            check_waivers(waived, RULES)
    if pulumi_config_flag and spec is not None:
        click.echo(json.dumps(pulumi_config(spec.environment, waived), indent=2))
        return
    rows = [_row(rule, spec, waived) for rule in _by_category(RULES)]
    if output_format == "json":
        document: dict[str, Any] = {"rules": rows}
        if spec:
            document = {"stack": spec.stack, "environment": spec.environment, **document}
        click.echo(json.dumps(document, indent=2))
    else:
        _print_table(rows, spec)


def _by_category(rules: tuple[Rule, ...]) -> list[Rule]:
    """Security guardrails first, then the AWS constraints as their own block; service order within each."""
    order = list(Category)
    return sorted(rules, key=lambda rule: order.index(rule.category))


def _row(rule: Rule, spec: StackSpec | None, waived: dict[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": rule.id,
        "category": rule.category.value,
        "severity": rule.severity.value,
        "description": rule.description,
    }
    if rule.source:
        row["source"] = rule.source
    if spec is None:
        row["levels"] = {env: rule.enforcement.level(env).value for env in ENVIRONMENTS}
    else:
        row["level"] = "waived" if rule.id in waived else level_for(rule, spec.environment, waived).value
        row["waiver"] = waived.get(rule.id)
    return row


_LEVEL_STYLE = {"mandatory": "bold red", "advisory": "yellow", "disabled": "dim", "waived": "magenta"}


def _print_table(rows: list[dict[str, Any]], spec: StackSpec | None) -> None:
    title = f"{len(rows)} policy rules" + (f" for stack {spec.stack} ({spec.environment})" if spec else "")
    table = Table(title=title, show_lines=False)
    table.add_column("rule", no_wrap=True)
    table.add_column("category", no_wrap=True)
    table.add_column("severity")
    level_columns = list(ENVIRONMENTS) if spec is None else ["level"]
    for column in level_columns:
        table.add_column(column)
    table.add_column("description")
    for row, previous in zip(rows, [None, *rows], strict=False):
        if previous is not None and previous["category"] != row["category"]:
            table.add_section()
        levels = row["levels"] if spec is None else {"level": row["level"]}
        cells = [f"[{_LEVEL_STYLE[levels[c]]}]{levels[c]}[/]" for c in level_columns]
        description = row["description"] + (
            f" [magenta](waived: {row['waiver']})[/]" if row.get("waiver") else ""
        )
        table.add_row(row["id"], row["category"], row["severity"], *cells, description)
    # Piped output (CI logs) gets a wide console instead of rich's 80 columns, so rows stay one line.
    Console(width=None if sys.stdout.isatty() else 200).print(table)
