"""AWS constraints the stack spec enforces before any resource exists, each with the source that states it.

Constraints that need the planned resources are policy rules of category `aws-constraint`
(`infra.policies`); the ones a stack file alone can break live here, so `docs/aws-constraints.md` lists
both from one place each.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpecConstraint:
    id: str
    """kebab-case, unique among spec constraints and policy rules."""
    keys: tuple[str, ...]
    """The stack-file keys it judges, e.g. ("scalestack:cache.engine", "scalestack:cache.engineVersion")."""
    statement: str
    """What AWS requires, in one sentence."""
    source: str
    """The AWS documentation page (or provider source) that states it."""


SPEC_CONSTRAINTS: tuple[SpecConstraint, ...] = ()
