"""The shipped stacks' plans as comparable data, and the script that stores them as the baseline.

A refactor must not change what `pulumi up` would send: `tests/test_plan_snapshot.py` compares each
shipped stack's plan (every resource's type, name, parent, inputs, property dependencies and
dependencies; the stack outputs) against the baseline in `tests/data/plans/<stack>.json`.

Regenerate the baseline only for an intentional change, and name the change in the test:
    .venv/bin/python -m tests.plan_snapshot
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infra.offline import plan_stack
from infra.planned import Plan, masked
from infra.spec import STACKS_DIR, load_stack_spec

BASELINE_DIR = Path(__file__).resolve().parent / "data" / "plans"


def shipped_stacks() -> list[str]:
    return sorted(
        p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACKS_DIR.glob("Pulumi.*.yaml")
    )


def snapshot(plan: Plan) -> dict[str, Any]:
    """The plan as JSON-ready data, resources keyed by URN (registration order is not part of a plan)."""
    resources = {
        r.urn: {
            "type": r.type,
            "name": r.name,
            "parent": r.parent,
            "custom": r.custom,
            "inputs": masked(r.inputs),
            "propertyDependencies": {k: list(v) for k, v in sorted(r.property_dependencies.items())},
            "dependencies": list(r.dependencies),
            "ignoreChanges": list(r.ignore_changes),
        }
        for r in plan.resources
    }
    # A round trip through JSON makes tuples lists and leaves the comparison to plain data.
    return json.loads(
        json.dumps(
            {"resources": dict(sorted(resources.items())), "outputs": plan.outputs},
            sort_keys=True,
            default=str,
        )
    )


def baseline_path(stack: str) -> Path:
    return BASELINE_DIR / f"{stack}.json"


def write_baselines() -> None:
    BASELINE_DIR.mkdir(parents=True, exist_ok=True)
    for stack in shipped_stacks():
        data = snapshot(plan_stack(load_stack_spec(stack)))
        baseline_path(stack).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        print(f"wrote {baseline_path(stack)} ({len(data['resources'])} resources)")


if __name__ == "__main__":
    write_baselines()
