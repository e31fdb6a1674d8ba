"""What policy_pack/__main__.py serves: the policies for the stack or environment named in its environment.

`pulumi preview --policy-pack policy_pack` runs the pack as a separate program that can't see the stack
being previewed, so the caller says which one: SCALESTACK_STACK (its environment and recorded waivers
apply) or SCALESTACK_ENVIRONMENT. With neither, the pack enforces production levels, the strictest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pulumi_policy import Policy

from infra.policies.crossguard import to_policies
from infra.policies.model import ENVIRONMENTS

STACK_VARIABLE = "SCALESTACK_STACK"
# A stack file outside the kit's stacks/ (a fork's own project); `scalestack up|deploy` set both.
STACK_FILE_VARIABLE = "SCALESTACK_STACK_FILE"
ENVIRONMENT_VARIABLE = "SCALESTACK_ENVIRONMENT"


class PackConfigError(Exception):
    """The variables name no usable stack or environment; the message says which and what is allowed."""


@dataclass(frozen=True)
class PackSelection:
    environment: str
    waived: Mapping[str, str]
    source: str  # for the pack's description: where the levels came from

    def policies(self) -> list[Policy]:
        return to_policies(self.environment, self.waived)


def select(environ: Mapping[str, str]) -> PackSelection:
    stack = environ.get(STACK_VARIABLE, "").strip()
    stack_file = environ.get(STACK_FILE_VARIABLE, "").strip()
    if stack:
        from pathlib import Path

        from infra.spec import SpecError, load_spec_file, load_stack_spec

        try:
            spec = load_spec_file(Path(stack_file), stack) if stack_file else load_stack_spec(stack)
        except SpecError as err:
            raise PackConfigError(f"{STACK_VARIABLE}={stack}: {err}") from None
        waived = {w.rule: w.reason for w in spec.policy.waivers}
        return PackSelection(spec.environment, waived, f"stack {stack} ({spec.source})")
    environment = environ.get(ENVIRONMENT_VARIABLE, "").strip() or "prod"
    if environment not in ENVIRONMENTS:
        raise PackConfigError(
            f"{ENVIRONMENT_VARIABLE}={environment!r}: must be one of {', '.join(ENVIRONMENTS)}"
        )
    return PackSelection(environment, {}, f"environment {environment}")
