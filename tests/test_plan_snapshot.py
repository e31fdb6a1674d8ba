"""Refactors leave the shipped stacks' plans as they were, bar the changes named here.

The baseline (`tests/data/plans/<stack>.json`) was the plan of the code before issue 13's restructuring
until issue 12's per-service alarms, IAM scope and client-named data-tier rules, which were checked
against it as the named changes below and then made the new baseline; `python -m tests.plan_snapshot`
rewrites it. The named changes stay listed as the record of why the plan differs from the older one. A difference fails with the resource, the field and both
values; an intentional difference is listed in INTENDED with the reason, so a review sees every one.
"""

from __future__ import annotations

import base64
import difflib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from tests.conftest import plan_of
from tests.plan_snapshot import baseline_path, shipped_stacks, snapshot

# (stack, path prefix) -> why the plan differs from the baseline on purpose. A path is
# "resources/<urn>/<field>/..." or "outputs/<name>/...", as the failure message prints it.
ROLLOUT_PER_ROLE = (
    "the rollout output names each role's warm-up and minimum healthy percentage under `roles` (the worker "
    "has its own keys now, issue 13 item 3) instead of the web role's at the top"
)
APP_SECRETS_READ = (
    "the instance roles may read the app's own secrets, scalestack/<stack>/app-secrets-?????? (issue 14, "
    "`scalestack secret`), beside the database and cache secrets"
)
SERVICES = {
    "outputs/services": "issue 12: every service's group, target group and launch template, for the pipeline",
    "resources/urn:pulumi:{stack}::scalestack::scalestack:compute:AppGroup$aws:autoscaling/policy:Policy::"
    "worker-backlog": "issue 12: the worker scales on its queue's backlog per in-service instance",
    "resources/urn:pulumi:{stack}::scalestack::scalestack:compute:AppGroup$aws:ec2/launchTemplate:LaunchTemplate::"
    "web-lt/inputs/userData": "issue 12: the default web service's instances install the queue-length "
    "publisher and its one-minute timer after the rest of the boot script, which stays as it was; the "
    "publisher's Python is written without its comments and docstrings (boot.compact: user data is at "
    "most 16 KB, rule ec2-user-data-size)",
    "resources/urn:pulumi:{stack}::scalestack::scalestack:observability:Monitoring$aws:cloudwatch/dashboard:"
    "Dashboard::monitoring-dashboard/": "issue 12: the dashboard gains a row per service (its instances, then "
    "requests per target or queue lengths), so it reads every group and target group",
    "resources/urn:pulumi:{stack}::scalestack::scalestack:compute:AppGroup$aws:lb/listenerRule:ListenerRule::"
    "web-rule/inputs/priority": "issue 12: the default service's catch-all rule comes last (50000) so routed "
    "services' rules are tried first; AWS moves a rule's priority in place (SetRulePriorities)",
}
ALARMS = "resources/urn:pulumi:{stack}::scalestack::scalestack:observability:Monitoring$aws:cloudwatch/metricAlarm:MetricAlarm::"
SERVICE_ALARMS = {
    "outputs/alarmNames": "issue 12: each service's own alarms join the stack's",
    "outputs/rollout/alarmNames": "issue 12: the stack-wide rollout alarm is the ALB's 5xx rate; the web p99 "
    "latency moved to the web role's own (`roles/web/alarmNames`), beside each service's",
    "outputs/rollout/roles": "issue 12: each role names the alarms that stop its refresh (`alarmNames`)",
    ALARMS + "scalestack-{stack}-target-p99-latency/inputs/alarmDescription": "issue 12: the description "
    "names the service (the default web service keeps its alarm's name)",
    ALARMS + "scalestack-{stack}-unhealthy-hosts/inputs/alarmDescription": "issue 12: as the p99 alarm",
    ALARMS + "scalestack-{stack}-web-target-5xx-rate": "issue 12: the default web service's own 5xx rate",
    ALARMS + "scalestack-{stack}-worker-backlog-per-instance": "issue 12: the worker's backlog alarm",
}
ADDED_SERVICE_ALARMS = "issue 12: the added services' own alarms (tests/test_services.py)"
MASTER_SECRET_FOR_THE_MIGRATOR = (
    "issue 12: only the default web service, which the deploy migrates on, reads the database's master "
    "secret and decrypts it with the database's key; the worker connects as app_user with rds-db:connect "
    "only, and its renderer names no master secret"
)
INTENDED: Mapping[tuple[str, str], str] = {
    **{
        (stack, path.format(stack=stack)): why
        for stack in ("dev", "staging", "prod")
        for path, why in SERVICE_ALARMS.items()
    },
    **{
        (stack, ALARMS.format(stack=stack) + f"scalestack-{stack}-{service}-"): ADDED_SERVICE_ALARMS
        for stack in ("prod",)
        for service in ("tags", "reports")
    },
    **{
        (
            stack,
            f"resources/urn:pulumi:{stack}::scalestack::scalestack:compute:AppGroup$aws:iam/rolePolicy:"
            f"RolePolicy::{role}-access/inputs/policy",
        ): APP_SECRETS_READ
        for stack in ("dev", "staging", "prod")
        for role in ("web", "worker")
    },
    **{
        (
            stack,
            f"resources/urn:pulumi:{stack}::scalestack::scalestack:compute:AppGroup$aws:iam/rolePolicy:"
            f"RolePolicy::worker-access/{field}",
        ): MASTER_SECRET_FOR_THE_MIGRATOR
        for stack in ("dev", "staging", "prod")
        for field in ("dependencies", "propertyDependencies/policy")
    },
    **{
        (stack, f"outputs/rollout/{key}"): ROLLOUT_PER_ROLE
        for stack in ("dev", "staging", "prod")
        for key in ("roles", "minHealthyPercentage", "instanceWarmupSeconds")
    },
    **{
        (stack, path.format(stack=stack)): why
        for stack in ("dev", "staging", "prod")
        for path, why in SERVICES.items()
    },
}

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
RENDERER = re.compile(r"(<<'PY'\n).*?(\nPY\n)", re.DOTALL)


def _settings_renderer_aside(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Named change: the settings renderer's Python (the heredoc between <<'PY' and PY in the user data)
    became a module ruff and mypy check, infra/components/boot/render_env.py; what it computes is held by
    tests/test_boot_scripts.py. Everything else in the user data stays byte-identical."""
    for resource in snapshot["resources"].values():
        if resource["type"] == LAUNCH_TEMPLATE:
            text = base64.b64decode(resource["inputs"]["userData"]).decode()
            resource["inputs"]["userData"] = RENDERER.sub(r"\1<settings renderer>\2", text)
    return snapshot


DEFAULT_SERVICES = ("web", "worker")


def _added_services_aside(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Named change (issue 12): a stack file's `services` entries are new app groups (tests/test_services.py
    holds what they plan) and new clients of the data tier, whose admitting rules come after the web and
    worker groups' (`-from-client-2` on). Set aside, the two default services' plan must stay as it was."""
    outputs = snapshot["outputs"]
    added = [name for name in outputs.get("services") or {} if name not in DEFAULT_SERVICES]
    if not added:
        return snapshot
    extra_clients = re.compile(r"-from-client-([2-9]|[1-9][0-9])$")

    def added_resource(urn: str) -> bool:
        name = urn.rsplit("::", 1)[-1]
        return any(
            name == s or name.startswith(f"{s}-") or name.endswith(f"-from-{s}") for s in added
        ) or bool(extra_clients.search(name))

    snapshot["resources"] = {u: r for u, r in snapshot["resources"].items() if not added_resource(u)}
    for per_service in (outputs["launchTemplates"], outputs["rollout"]["roles"], outputs["services"]):
        for name in added:
            per_service.pop(name, None)
    return snapshot


NUMBERED_CLIENT = re.compile(r"^(.*::)?(database|cache)-from-client-([01])$")


def _clients_by_name(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Named change (issue 12 item 4): the data tier's ingress rules are named after their client service
    (`database-from-web`), not numbered (`database-from-client-0`), so adding a service renames none. The
    baseline numbered the two default services web first; renamed so, each rule must be what it was (the
    program gives each the numbered name as an alias, so `pulumi up` moves it without replacing it)."""

    def renamed(text: str) -> str:
        found = NUMBERED_CLIENT.match(text)
        if not found:
            return text
        return f"{found[1] or ''}{found[2]}-from-{DEFAULT_SERVICES[int(found[3])]}"

    resources = {}
    for urn, resource in snapshot["resources"].items():
        if NUMBERED_CLIENT.match(urn):
            resource = {**resource, "name": renamed(resource["name"])}
        resources[renamed(urn)] = resource
    snapshot["resources"] = dict(sorted(resources.items()))
    return snapshot


# Applied to the baseline and the current plan alike before they are compared: each names a change that
# is intended in one part of a value and proves the rest of it unchanged.
NORMALISED: tuple[Callable[[dict[str, Any]], dict[str, Any]], ...] = (
    _settings_renderer_aside,
    _added_services_aside,
    _clients_by_name,
)


def differences(old: Any, new: Any, path: str = "") -> Iterator[str]:
    """Each place the two JSON values differ, as `path: old -> new` (missing sides say so)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            where = f"{path}/{key}" if path else str(key)
            if key not in new:
                yield f"{where}: removed (was {_short(old[key])})"
            elif key not in old:
                yield f"{where}: added ({_short(new[key])})"
            else:
                yield from differences(old[key], new[key], where)
    elif isinstance(old, str) and isinstance(new, str) and "\n" in old + new and old != new:
        lines = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=1)
        yield f"{path}:\n" + "\n".join(list(lines)[2:])
    elif old != new:
        yield f"{path}: {_short(old)} -> {_short(new)}"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 300 else text[:300] + "..."


def _intended(stack: str, difference: str) -> bool:
    return any(s == stack and difference.startswith(prefix) for s, prefix in INTENDED)


@pytest.mark.parametrize("stack", shipped_stacks())
def test_the_plan_matches_the_baseline_bar_named_changes(stack: str) -> None:
    baseline = json.loads(baseline_path(stack).read_text())
    current = snapshot(plan_of(stack)[1])
    for normalise in NORMALISED:
        baseline, current = normalise(baseline), normalise(current)
    unexpected = [d for d in differences(baseline, current) if not _intended(stack, d)]
    assert not unexpected, f"the {stack} plan changed ({len(unexpected)}):\n" + "\n".join(unexpected[:40])


def test_the_comparison_names_the_field_that_changed() -> None:
    old = {"resources": {"urn:a": {"inputs": {"port": 80, "gone": 1}}}}
    new = {"resources": {"urn:a": {"inputs": {"port": 443, "new": 2}}}}
    assert list(differences(old, new)) == [
        "resources/urn:a/inputs/gone: removed (was 1)",
        "resources/urn:a/inputs/new: added (2)",
        "resources/urn:a/inputs/port: 80 -> 443",
    ]
