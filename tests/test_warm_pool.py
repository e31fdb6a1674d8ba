"""Prod's warm pool: its size as AWS computes it, the launch hook, and who may complete that hook."""

from __future__ import annotations

import json
from collections.abc import Callable

from infra.components.app_group import LIFECYCLE_TAG
from infra.planned import Plan
from infra.policies.values import plain
from infra.spec import StackSpec

Planned = Callable[[str], tuple[StackSpec, Plan]]


def _web_group(plan: Plan) -> dict[str, object]:
    group = next(r for r in plan.by_type("aws:autoscaling/group:Group") if r.name == "web-asg")
    return plain(group.inputs)


def test_the_pool_holds_the_configured_size_at_every_desired_capacity(planned: Planned) -> None:
    spec, plan = planned("prod")
    group = _web_group(plan)
    pool = group["warmPool"]
    assert isinstance(pool, dict)
    # AWS: pool = maxGroupPreparedCapacity - desired (max - desired without it), never below minSize.
    # https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-warm-pools.html
    sizes = {
        max(pool["minSize"], pool["maxGroupPreparedCapacity"] - desired)
        for desired in range(int(group["minSize"]), int(group["maxSize"]) + 1)
    }
    assert sizes == {spec.web.warm_pool_size} == {1}


def test_the_launch_hook_waits_for_boot_and_abandons_an_instance_that_never_gets_ready(
    planned: Planned,
) -> None:
    _, plan = planned("prod")
    (hook,) = _web_group(plan)["initialLifecycleHooks"]  # type: ignore[misc]
    assert hook["lifecycleTransition"] == "autoscaling:EC2_INSTANCE_LAUNCHING"
    assert hook["defaultResult"] == "ABANDON" and hook["heartbeatTimeout"] >= 600


def test_instances_may_complete_lifecycle_actions_on_their_own_group_only(planned: Planned) -> None:
    _, plan = planned("prod")
    tags = {t["key"]: t["value"] for t in _web_group(plan)["tags"]}  # type: ignore[union-attr]
    policy = next(r for r in plan.by_type("aws:iam/rolePolicy:RolePolicy") if r.name == "web-lifecycle")
    (complete,) = [
        s
        for s in json.loads(plain(policy.inputs)["policy"])["Statement"]
        if s["Action"] == ["autoscaling:CompleteLifecycleAction"]
    ]
    condition = complete["Condition"]["StringEquals"]
    assert (
        condition
        == {f"autoscaling:ResourceTag/{LIFECYCLE_TAG}": tags[LIFECYCLE_TAG]}
        == {f"autoscaling:ResourceTag/{LIFECYCLE_TAG}": "scalestack-prod-web"}
    )
    _, dev = planned("dev")  # no warm pool, no hook, no permission
    assert "web-lifecycle" not in {r.name for r in dev.by_type("aws:iam/rolePolicy:RolePolicy")}
