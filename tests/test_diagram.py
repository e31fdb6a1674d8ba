"""The diagram view: components and the outputs they take from each other, as the program wires them."""

from __future__ import annotations

from collections.abc import Callable

from click.testing import CliRunner

from infra.diagram import component_edges, mermaid
from infra.planned import Plan
from infra.spec import StackSpec
from scripts.cli import cli

Planned = Callable[[str], tuple[StackSpec, Plan]]


def test_edges_follow_the_wiring(planned: Planned) -> None:
    _, plan = planned("prod")
    edges = component_edges(plan)
    expected = {
        ("web", "alb"),
        ("web", "registry"),
        ("database", "web"),
        ("cdn", "alb"),
        ("alb", "domain"),
        ("monitoring", "cdn"),
    }
    assert expected <= edges
    assert ("alb", "web") not in edges and ("registry", "web") not in edges  # arrows point one way
    assert all(consumer != provider for consumer, provider in edges)


def test_dev_without_a_domain_has_no_domain_box(planned: Planned) -> None:
    _, plan = planned("dev")
    text = mermaid(plan)
    assert text.startswith("flowchart LR\n") and "domain" not in text
    assert 'web["web<br/>AppGroup, ' in text and "    cdn --> alb\n" in text


def test_plan_format_mermaid() -> None:
    result = CliRunner().invoke(cli, ["plan", "--stack", "prod", "--format", "mermaid"])
    assert result.exit_code == 0 and result.stdout.startswith("flowchart LR")
    assert "    web --> alb\n" in result.stdout
