"""`scalestack cost`: what a stack costs each month standing still, from its offline plan."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from infra.offline import plan_stack
from infra.pricing import LEFT_OUT, PRICED_REGION, PRICES_AS_OF, CostEstimate, estimate
from scripts.command import (
    Command,
    format_option,
    load_spec_or_exit,
    stack_errors,
    stack_file_option,
    stack_option,
)
from scripts.console import output_console
from scripts.errors import CommandError
from scripts.exit_codes import ExitCode


@click.command(cls=Command)
@stack_option()
@stack_file_option
@format_option("json")
def cost(stack: str | None, stack_file: Path | None, output_format: str) -> None:
    """Estimate a stack's standing monthly cost from its offline plan (list prices, no traffic)."""
    spec = load_spec_or_exit(stack, stack_file)
    if spec.region != PRICED_REGION:
        raise CommandError(
            ExitCode.USAGE,
            f"stack '{spec.stack}' is in {spec.region}; scalestack cost has list prices for {PRICED_REGION} "
            f"only (infra/pricing.py), and AWS prices each region differently: no estimate rather than a "
            "wrong one.",
        )
    with stack_errors(spec):
        result = estimate(plan_stack(spec))
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
    for service, subtotal in result.by_service.items():
        table.add_row(f"service {service}", "subtotal of its group's lines", "", f"{subtotal:,.2f}")
    table.add_section()
    table.add_row("[bold]total[/]", "", "", f"[bold]{result.total:,.2f}[/]")
    console = output_console()
    console.print(table)
    console.print(f"Prices: {PRICES_AS_OF}. Not included: {LEFT_OUT}.")
    if result.unpriced:
        console.print(f"[yellow]{len(result.unpriced)} line(s) have a size missing from the price table.[/]")
