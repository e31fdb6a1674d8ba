"""What a rule is: data (id, description, severity, enforcement per environment) plus one small predicate.

Rules see resources through `Resource`/`Stack`, a neutral view both adapters build: CrossGuard from
`ResourceValidationArgs`/`PolicyResource`, the offline evaluator from `infra.planned.PlannedResource`.
Cross-resource rules follow property dependencies (input name -> URNs it came from), exactly what a
CrossGuard stack policy sees, so they behave the same under `pulumi preview` and `scalestack plan`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, Final

from infra.contract import ENVIRONMENTS
from infra.policies.values import get


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Category(StrEnum):
    """Why a rule exists: a security guardrail, or a constraint AWS itself enforces (refused or broken)."""

    SECURITY = "security"
    AWS = "aws-constraint"


class Level(StrEnum):
    ADVISORY = "advisory"
    MANDATORY = "mandatory"
    DISABLED = "disabled"


STACK_NAMESPACE: Final = "scalestack"
"""The stack file's config namespace (infra.spec.NAMESPACE; a test keeps them equal)."""


def stack_key(path: str) -> str:
    """A stack-file key as a user writes it, e.g. `scalestack:database.deletionProtection`."""
    return f"{STACK_NAMESPACE}:{path}"


def waiver_hint(rule_id: str) -> str:
    """The waiver a user writes when the kit's choice is deliberate for this stack (SECURITY.md)."""
    return f"or waive it: {stack_key('policy.waivers')} [{{rule: {rule_id}, reason: ...}}]"


@dataclass(frozen=True)
class Enforcement:
    dev: Level
    staging: Level
    prod: Level

    def level(self, environment: str) -> Level:
        # An environment the kit doesn't know gets the strictest treatment rather than a free pass.
        return getattr(self, environment) if environment in ENVIRONMENTS else self.prod


# Presets: every rule picks one, so the per-environment policy is visible at a glance in SECURITY.md.
EVERYWHERE: Final = Enforcement(Level.MANDATORY, Level.MANDATORY, Level.MANDATORY)
STANDARD: Final = Enforcement(Level.ADVISORY, Level.MANDATORY, Level.MANDATORY)
PROD_ONLY: Final = Enforcement(Level.DISABLED, Level.ADVISORY, Level.MANDATORY)
RECOMMENDED: Final = Enforcement(Level.ADVISORY, Level.ADVISORY, Level.ADVISORY)
AWS_REQUIRED: Final = EVERYWHERE
"""Every AWS-constraint rule: a stack AWS refuses, or one that deploys but can't work, is never acceptable."""


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    deps: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # input name -> source URNs
    depends_on: tuple[str, ...] = ()
    """Every URN the engine creates first: explicit `depends_on` plus each input's sources."""

    def get(self, path: str, default: Any = None) -> Any:
        return get(self.props, path, default)


@dataclass(frozen=True)
class Stack:
    resources: tuple[Resource, ...]

    @cached_property
    def _by_urn(self) -> dict[str, Resource]:
        return {r.urn: r for r in self.resources}

    def of_type(self, *types: str) -> list[Resource]:
        return [r for r in self.resources if r.type in types]

    def sources(self, resource: Resource, prop: str, *types: str) -> list[Resource]:
        """The resources `resource.<prop>` was built from, optionally only those of the given types."""
        found = (self._by_urn.get(urn) for urn in resource.deps.get(prop, ()))
        return [r for r in found if r is not None and (not types or r.type in types)]

    def upstream(self, resource: Resource) -> list[Resource]:
        """Everything the engine must create before `resource`: its dependencies, followed transitively."""
        seen: set[str] = set()
        pending = [*resource.depends_on, *(u for urns in resource.deps.values() for u in urns)]
        while pending:
            urn = pending.pop()
            found = self._by_urn.get(urn)
            if urn in seen or found is None:
                continue
            seen.add(urn)
            pending.extend([*found.depends_on, *(u for urns in found.deps.values() for u in urns)])
        return [self._by_urn[urn] for urn in sorted(seen)]

    def referencing(self, target: Resource, prop: str, *types: str) -> list[Resource]:
        """Resources of the given types whose input `prop` came from `target` (e.g. a bucket's policy)."""
        return [r for r in self.of_type(*types) if target.urn in r.deps.get(prop, ())]


@dataclass(frozen=True)
class Finding:
    resource: Resource
    message: str
    fix: str = ""
    """What to change, when this finding needs a different fix than its rule's `fix`."""


ResourceCheck = Callable[[Resource], "str | None"]
StackCheck = Callable[[Stack], Iterable[Finding]]


@dataclass(frozen=True)
class ResourceRule:
    """Judges one resource on its own inputs; becomes a CrossGuard ResourceValidationPolicy."""

    id: str
    description: str
    severity: Severity
    enforcement: Enforcement
    types: tuple[str, ...]
    check: ResourceCheck
    category: Category = Category.SECURITY
    source: str = ""
    """For AWS constraints: the AWS documentation page or provider source that states the constraint."""
    fix: str = ""
    """The stack-file key that fixes a violation (`stack_key(...)`), when one does; shown with it."""


@dataclass(frozen=True)
class StackRule:
    """Judges resources together (a bucket and its policy); becomes a CrossGuard StackValidationPolicy."""

    id: str
    description: str
    severity: Severity
    enforcement: Enforcement
    check: StackCheck
    category: Category = Category.SECURITY
    source: str = ""
    """For AWS constraints: the AWS documentation page or provider source that states the constraint."""
    types: tuple[str, ...] = ()
    """The resource types it reports on, for the docs; its check sees the whole stack regardless."""
    fix: str = ""
    """The stack-file key that fixes a violation (`stack_key(...)`), when one does; shown with it."""


Rule = ResourceRule | StackRule


def fix_for(rule: Rule, finding: Finding) -> str:
    """What a user changes: the stack key that fixes it, and for guardrails the waiver that accepts it.

    AWS constraints can't be waived; without a key, a program change (the message says which) is the fix.
    """
    key = finding.fix or rule.fix
    if rule.category is Category.AWS:
        return f"set {key}" if key else ""
    return f"set {key}, {waiver_hint(rule.id)}" if key else waiver_hint(rule.id).removeprefix("or ")
