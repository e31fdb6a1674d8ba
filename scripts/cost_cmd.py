"""`scalestack cost`: what a stack costs each month standing still, from its offline plan."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from infra.offline import PlanError, plan_stack
from infra.pricing import LEFT_OUT, PRICES_AS_OF, CostEstimate, estimate
from scripts.console import output_console
from scripts.exit_codes import ExitCode
from scripts.plan_cmd import fail, resolve_spec


@click.command()
@click.option("--stack", "-s", metavar="NAME", help="A stack in stacks/ (dev, staging, prod, ...).")
@click.option("--stack-file", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH")
@click.option(
    "--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def cost(stack: str | None, stack_file: Path | None, output_format: str) -> None:
    """Estimate a stack's standing monthly cost from its offline plan (list prices, no traffic).

    Exits 0, or 3 when the stack file is invalid.
    """
    spec = resolve_spec(stack, stack_file)
    try:
        result = estimate(plan_stack(spec))
    except PlanError as err:
        fail(f"the program for stack '{spec.stack}' cannot be planned: {err}", ExitCode.FAILURE)
    if output_format == "json":
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        render(result)


def render(result: CostEstimate) -> None:
    table = Table(title=f"{result.stack}: standing cost per month (USD)", title_justify="left")
    for column, justify in (
        ("item", "left"),
        ("resource", "left"),
        ("quantity", "right"),
        ("monthly", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for line in sorted(result.lines, key=lambda line: -(line.monthly or 0)):
        monthly = "unpriced" if line.monthly is None else f"{line.monthly:,.2f}"
        table.add_row(line.item, line.resource, f"{line.quantity:g} {line.unit}", monthly)
    table.add_section()
    table.add_row("[bold]total[/]", "", "", f"[bold]{result.total:,.2f}[/]")
    console = output_console()
    console.print(table)
    console.print(f"Prices: {PRICES_AS_OF}. Not included: {LEFT_OUT}.")
    if result.unpriced:
        console.print(f"[yellow]{len(result.unpriced)} line(s) have a size missing from the price table.[/]")
