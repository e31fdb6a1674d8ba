"""The `pulumi up` path: the spec comes from the config the engine hands the program, as JSON strings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from infra.program import run, spec_from_engine
from infra.spec import STACKS_DIR, load_stack_spec


class _NoCloud(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        raise AssertionError("no resource may be created before the spec is valid")

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        raise AssertionError("no provider call may be made before the spec is valid")


def engine_config(monkeypatch: pytest.MonkeyPatch, stack: str, **overrides: Any) -> None:
    """What the language host passes: every key namespaced, structured values JSON-encoded."""
    config = {**yaml.safe_load((STACKS_DIR / f"Pulumi.{stack}.yaml").read_text())["config"], **overrides}
    encoded = {k: json.dumps(v) if isinstance(v, dict | list) else str(v) for k, v in config.items()}
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(encoded))
    pulumi.runtime.set_mocks(_NoCloud(), project="scalestack", stack=stack, preview=False)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_engine_config_gives_the_same_spec_as_the_stack_file(
    monkeypatch: pytest.MonkeyPatch, stack: str
) -> None:
    engine_config(monkeypatch, stack)
    from_engine = spec_from_engine().model_dump(exclude={"source"})
    assert from_engine == load_stack_spec(stack).model_dump(exclude={"source"})


def test_a_bad_value_stops_pulumi_up_before_any_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    engine_config(monkeypatch, "prod", **{"scalestack:database": {"multiAz": False}})
    with pytest.raises(pulumi.RunError) as raised:
        run()
    assert str(raised.value).startswith(f"{Path('stacks') / 'Pulumi.prod.yaml'}: scalestack:database.multiAz")


def test_a_namespace_typo_in_the_engine_config_stops_pulumi_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine hands over every key; a near-miss of `scalestack:` is refused there too, not dropped."""
    engine_config(monkeypatch, "dev", **{"scalestak:web": {"minSize": 2}, "aws:profile": "dev-admin"})
    with pytest.raises(pulumi.RunError) as raised:
        run()
    assert "config key 'scalestak:web': unknown namespace 'scalestak'" in str(raised.value)
