"""Shared fixtures: offline plans of the shipped stacks, each run once per session (they are immutable)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import pytest

from infra.offline import plan_stack
from infra.planned import Plan
from infra.spec import STACKS_DIR, StackSpec, load_stack_spec

SHIPPED_STACKS = sorted(
    p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACKS_DIR.glob("Pulumi.*.yaml")
)


@cache
def plan_of(stack: str) -> tuple[StackSpec, Plan]:
    """The spec and offline plan of a shipped stack, made once per session (plans are immutable)."""
    spec = load_stack_spec(stack)
    return spec, plan_stack(spec)


@pytest.fixture
def planned() -> Callable[[str], tuple[StackSpec, Plan]]:
    """The spec and offline plan of a shipped stack; the mock engine is set up anew for each plan."""
    return plan_of
