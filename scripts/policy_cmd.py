"""`scalestack policy`: the guardrail rules, their severity and the level each has per environment."""

from __future__ import annotations

import json
from typing import Any, NoReturn

import click
from rich.table import Table

from infra.policies import ENVIRONMENTS, RULES, Rule, UnknownRuleError, check_waivers
from infra.policies.crossguard import level_for, pulumi_config
from infra.policies.model import Category
from infra.spec import SpecError, StackSpec, load_stack_spec
from scripts.console import output_console
from scripts.exit_codes import ExitCode

EXIT_CODES_HELP = f"""
\b
Exit codes:
  {ExitCode.OK:>3}  listed
  {ExitCode.USAGE:>3}  bad flag or format
  {ExitCode.INVALID_SPEC:>3}  unknown stack, invalid stack file, or a waiver naming no rule
"""


@click.command(epilog=EXIT_CODES_HELP)
@click.option("--list", "list_rules", is_flag=True, help="List the rules (the default action).")
@click.option("--stack", "stack_name", metavar="NAME", help="Show levels and waivers for this stack only.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--pulumi-config",
    "pulumi_config_flag",
    is_flag=True,
    help="Print a --policy-pack-config document for this stack (needs --stack): levels, waivers disabled.",
)
def policy(list_rules: bool, stack_name: str | None, fmt: str, pulumi_config_flag: bool) -> None:
    """Show the policy rules every stack is checked against (by `scalestack plan` and policy_pack/)."""
    if pulumi_config_flag and not stack_name:
        raise click.UsageError("--pulumi-config needs --stack NAME")
    spec = _load(stack_name) if stack_name else None
    waived = {w.rule: w.reason for w in spec.policy.waivers} if spec else {}
    if spec is not None:
        try:
            check_waivers(waived, RULES)
        except UnknownRuleError as err:
            _fail(f"{spec.source}: scalestack:policy.waivers: {err}")
    if pulumi_config_flag and spec is not None:
        click.echo(json.dumps(pulumi_config(spec.environment, waived), indent=2))
        return
    rows = [_row(rule, spec, waived) for rule in _by_category(RULES)]
    if fmt == "json":
        document: dict[str, Any] = {"rules": rows}
        if spec:
            document = {"stack": spec.stack, "environment": spec.environment, **document}
        click.echo(json.dumps(document, indent=2))
    else:
        _print_table(rows, spec)


def _load(stack_name: str) -> StackSpec:
    try:
        return load_stack_spec(stack_name)
    except SpecError as err:
        _fail(str(err))


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(ExitCode.INVALID_SPEC)


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
    output_console().print(table)
