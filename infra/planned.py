"""What an offline plan produced: the resources the program registered and the stack's outputs.

This is the contract between the plan, the policy rules and the renderers: a resource as the engine
receives it (type token, logical name, camelCase inputs), where it sits in the tree, and which other
resources its inputs came from, so rules can follow references (a security group rule to its group)
the same way a CrossGuard stack policy does through property dependencies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# How the engine's wire format marks a secret value: {SECRET_SIGNATURE_KEY: SECRET_SIGNATURE, "value": ...}.
SECRET_SIGNATURE_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIGNATURE = "1b47061264138c4ac30d75fd1eb44270"
SECRET_MASK = "[secret]"


def masked(value: Any, inside_secret: bool = False) -> Any:
    """The value with every scalar inside a secret replaced by a mask: a plan never prints a secret."""
    if isinstance(value, Mapping):
        if value.get(SECRET_SIGNATURE_KEY) == SECRET_SIGNATURE:
            return masked(value.get("value"), inside_secret=True)
        return {k: masked(v, inside_secret) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v, inside_secret) for v in value]
    return SECRET_MASK if inside_secret and value is not None else value


@dataclass(frozen=True)
class PlannedResource:
    type: str  # Pulumi type token, e.g. "aws:rds/instance:Instance"
    name: str  # logical name, unique per type and parent
    urn: str
    parent: str | None  # the parent's URN; None for children of the stack itself
    inputs: Mapping[str, Any]  # as the engine receives them: camelCase keys, numbers as floats
    custom: bool = True  # False for component resources
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # input -> URNs
    dependencies: tuple[str, ...] = ()  # every URN the engine creates first, explicit depends_on included

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "inputs": masked(self.inputs),
            "urn": self.urn,
            "propertyDependencies": {k: list(v) for k, v in self.property_dependencies.items()},
        }


@dataclass(frozen=True)
class Plan:
    stack: str
    resources: tuple[PlannedResource, ...]
    outputs: Mapping[str, Any]

    def by_type(self, type_token: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_token]

    def by_urn(self) -> dict[str, PlannedResource]:
        return {r.urn: r for r in self.resources}
