"""A diagram of a plan: its top-level components and which ones each takes inputs from.

Edges come from the engine's property dependencies, so the picture is what the program wires, not a
drawing kept by hand: `web --> alb` because the web group's listener rule and security group take the
load balancer's outputs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from infra.planned import Plan, PlannedResource


def _owner(resource: PlannedResource, by_urn: Mapping[str, PlannedResource]) -> PlannedResource:
    """The top-level component a resource belongs to (itself, for a resource outside any component)."""
    while resource.parent is not None and resource.parent in by_urn:
        resource = by_urn[resource.parent]
    return resource


def component_edges(plan: Plan) -> set[tuple[str, str]]:
    """(consumer, provider) pairs between top-level components, from their resources' inputs."""
    by_urn = plan.by_urn()
    edges = set()
    for resource in plan.resources:
        consumer = _owner(resource, by_urn)
        for urn in (u for urns in resource.property_dependencies.values() for u in urns if u in by_urn):
            provider = _owner(by_urn[urn], by_urn)
            if provider.urn != consumer.urn and not provider.custom:
                edges.add((consumer.name, provider.name))
    return edges


def mermaid(plan: Plan) -> str:
    """A Mermaid flowchart: one box per component with its resource count, an arrow per dependency."""
    by_urn = plan.by_urn()
    components = [r for r in plan.resources if not r.custom and r.parent is None]
    counts = Counter(_owner(r, by_urn).name for r in plan.resources if r.custom)
    lines = [
        "flowchart LR",
        f"    %% {plan.stack}: an arrow points from a component to one whose outputs it takes",
    ]
    lines += [
        f'    {c.name}["{c.name}<br/>{c.type.rsplit(":", 1)[-1]}, {counts[c.name]} resources"]'
        for c in components
    ]
    lines += [f"    {consumer} --> {provider}" for consumer, provider in sorted(component_edges(plan))]
    return "\n".join(lines) + "\n"
