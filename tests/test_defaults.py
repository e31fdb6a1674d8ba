"""One source of defaults: the profiles (infra/profiles.py). Every spec key reaches the program, and the
worker role has its own rollout settings instead of borrowing the web role's."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from infra import spec as spec_module
from infra.components.app_group import AppGroupArgs, HttpExposure
from infra.components.app_settings import AppSettingsArgs
from infra.components.cache import CacheArgs
from infra.components.cdn import CdnArgs
from infra.components.database import DatabaseArgs
from infra.components.domain import DomainArgs
from infra.components.load_balancer import LoadBalancerArgs
from infra.components.monitoring import MonitoringArgs
from infra.components.network import NetworkArgs
from infra.components.registry import RegistryArgs
from infra.contract import RolloutOutput
from infra.offline import plan_stack
from infra.policies.values import plain
from infra.spec import SpecError, StackSpec, parse_config
from tests.conftest import SHIPPED_STACKS
from tests.test_spec import config

# Spec keys the program does not read, each with the consumer that does.
READ_ELSEWHERE = {
    ("stack",): "names the stack; the program reads it through name_prefix and tags",
    ("source",): "where the spec came from, for error messages",
    ("app", "liveness_path"): "read by the deploy's smoke test (scripts/deploy/commands.py)",
    ("app", "architecture"): "the platform the deploy builds the image for (scripts/deploy/commands.py), "
    "checked against the groups' instance types by the spec; each group's AMI follows its instance type",
    ("policy", "waivers"): "read by the policy evaluator (scalestack plan, policy_pack)",
    ("app", "build_context"): "the app a deploy builds (scripts/deploy/app_source.py)",
    ("app", "smoke_path"): "read by the deploy's smoke test (scripts/deploy/app_source.py)",
    ("app", "static_dir"): "the assets a deploy publishes (scripts/deploy/app_source.py)",
}


def leaves(model: BaseModel, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], BaseModel]]:
    """Each leaf key of the spec, with the section that holds it (dicts and lists are one leaf each)."""
    for name in type(model).model_fields:
        value = model.__dict__[name]
        if isinstance(value, BaseModel):
            yield from leaves(value, (*path, name))
        elif value is not None or name != "domain":
            yield (*path, name), model


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_the_program_reads_every_key_of_the_spec(stack: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = spec_module.load_stack_spec(stack)
    reads: set[tuple[int, str]] = set()
    section = spec_module._Section
    get = section.__getattribute__
    dump = section.model_dump

    def spy_get(self: BaseModel, name: str) -> Any:
        reads.add((id(self), name))
        return get(self, name)

    def spy_dump(self: BaseModel, **kwargs: Any) -> dict[str, Any]:
        reads.update((id(self), name) for name in type(self).model_fields)
        return dump(self, **kwargs)

    monkeypatch.setattr(section, "__getattribute__", spy_get)
    monkeypatch.setattr(section, "model_dump", spy_dump)
    plan_stack(spec)
    monkeypatch.undo()
    unread = [
        ".".join(path)
        for path, holder in leaves(spec)
        if (id(holder), path[-1]) not in reads and path not in READ_ELSEWHERE
    ]
    assert not unread, f"spec keys the program never reads: {unread}"


def test_a_refused_key_that_no_resource_read_says_why() -> None:
    with pytest.raises(SpecError, match=r"scalestack:cdn.staticMaxAgeSeconds is refused: static assets have"):
        parse_config(config("dev", cdn={"staticMaxAgeSeconds": 3600}), stack="dev", source="x.yaml")


def test_the_worker_has_its_own_grace_period_and_min_healthy_percentage() -> None:
    worker = {"healthCheckGracePeriodSeconds": 300, "minHealthyPercent": 100}
    spec = parse_config(config("dev", worker=worker), stack="dev", source="x.yaml")
    assert (spec.web.health_check_grace_period_seconds, spec.web.min_healthy_percent) != (300, 100)
    plan = plan_stack(spec)
    groups = {g.name: plain(g.inputs) for g in plan.by_type("aws:autoscaling/group:Group")}
    assert groups["worker-asg"]["healthCheckGracePeriod"] == 300
    assert groups["worker-asg"]["defaultInstanceWarmup"] == 300
    assert groups["web-asg"]["healthCheckGracePeriod"] == spec.web.health_check_grace_period_seconds
    roles = RolloutOutput.parse(plan.outputs["rollout"]).roles
    assert (roles["worker"].min_healthy_percentage, roles["worker"].instance_warmup_seconds) == (100, 300)
    assert roles["web"].min_healthy_percentage == spec.web.min_healthy_percent


ARGS = (
    NetworkArgs,
    RegistryArgs,
    DomainArgs,
    LoadBalancerArgs,
    CdnArgs,
    DatabaseArgs,
    CacheArgs,
    AppSettingsArgs,
    AppGroupArgs,
    HttpExposure,
    MonitoringArgs,
)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_args_the_program_always_passes_have_no_default_of_their_own(stack: str) -> None:
    """A default on a field the program always sets is a second home for the value, and drifts (the profiles
    are the one home of defaults). Fields the program leaves out keep theirs: they are the component's own."""
    passed = _fields_the_program_passes(spec_module.load_stack_spec(stack))
    defaulted = [
        f"{args.__name__}.{f.name}"
        for args in ARGS
        for f in dataclasses.fields(args)
        if f.name in passed[args]
        and (f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING)
    ]
    assert not defaulted, f"fields with defaults the program always overrides: {defaulted}"


def _fields_the_program_passes(spec: StackSpec) -> dict[type, set[str]]:
    captured: dict[type, set[str]] = {args: set() for args in ARGS}
    with pytest.MonkeyPatch.context() as patch:
        for args in ARGS:
            patch.setattr(args, "__init__", _spy(args, args.__init__, captured[args]))
        plan_stack(spec)
    return captured


def _spy(args: type, original: Any, captured: set[str]) -> Any:
    names = [f.name for f in dataclasses.fields(args)]

    def init(self: Any, *positional: Any, **named: Any) -> None:
        captured.update(names[: len(positional)], named)
        original(self, *positional, **named)

    return init
