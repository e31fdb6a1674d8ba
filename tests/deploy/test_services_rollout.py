"""A deploy rolls every service's group (issue 12): five groups move to the new version together, one
failing rolls all five back, and `--service NAME` rolls that service's group alone. The AWS side is
the Auto Scaling model behind a real boto3 client, as in test_pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scripts.deploy.pipeline import Deployment, DeployRequest
from scripts.deploy.ports import LAUNCH_TEMPLATE, HttpResponse
from scripts.deploy.source import Revision
from scripts.exit_codes import ExitCode

from .asg_model import ModelFleet
from .fakes import FAST, OUTPUTS, FakeStack, Recorder, World

EXTRA = {  # service -> (kind, launch template id)
    "api": ("web", "lt-0a1b2c3d4e5f60003"),
    "admin": ("web", "lt-0a1b2c3d4e5f60004"),
    "reports": ("worker", "lt-0a1b2c3d4e5f60005"),
}
ALL = ("web", "worker", "api", "admin", "reports")
ROUTES = {  # what the program exports for a routed web service (infra/program.py _service_output)
    "api": {"pathPatterns": ["/api/*"], "hostNames": [], "livenessPath": "/api/healthz"},
    "admin": {"pathPatterns": ["/admin/*"], "hostNames": ["admin.example.com"], "livenessPath": "/admin/up"},
}


def five_services() -> World:
    """The World of test_pipeline with three more services and the `services` output naming all five."""
    world = World()
    outputs: dict[str, Any] = {**OUTPUTS}
    templates = dict(outputs["launchTemplates"])
    services: dict[str, Any] = {
        "web": {"kind": "web", "asgName": "web-asg", "targetGroupArn": OUTPUTS["webTargetGroupArn"]},
        "worker": {"kind": "worker", "asgName": "worker-asg"},
    }
    roles = dict(outputs["rollout"]["roles"])
    target_groups = {OUTPUTS["webTargetGroupArn"]: "web-asg"}
    for name, (kind, template) in EXTRA.items():
        world.model.add_group(
            f"{name}-asg",
            {
                LAUNCH_TEMPLATE: {
                    "LaunchTemplateId": template,
                    "LaunchTemplateName": f"{name}-lt",
                    "Version": "3",
                }
            },
            size=2,
        )
        templates[name] = {"id": template, "version": 3}
        roles[name] = {**roles["web"], "alarmNames": [f"{name}-alarm"]}
        services[name] = {"kind": kind, "asgName": f"{name}-asg"}
        if kind == "web":
            arn = f"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{name}/abc"
            services[name]["targetGroupArn"] = arn
            services[name].update(ROUTES[name])
            target_groups[arn] = f"{name}-asg"
    for name, service in services.items():
        service["launchTemplate"] = templates[name]
    # As prod: more alarms in all (database, cache, CDN) than one refresh may name.
    everything = ["web-5xx", "web-latency", *(f"{n}-alarm" for n in EXTRA), *(f"db-{i}" for i in range(8))]
    outputs.update(
        launchTemplates=templates,
        services=services,
        rollout={**outputs["rollout"], "roles": roles},
        alarmNames=everything,
    )
    world.stack = FakeStack(world.journal, world.model, outputs)
    world.fleet = ModelFleet(world.model, "web-asg", target_groups)
    return world


def deploy(world: World, tmp_path: Path, service: str | None = None) -> tuple[ExitCode, Recorder]:
    request = DeployRequest(
        stack="prod",
        region="us-east-1",
        image_tag="v2",
        context=tmp_path,
        revision=Revision("0123456789abcdef0123456789abcdef01234567", dirty=False),
        actor="arn:aws:iam::123456789012:user/ci",
        smoke_path="/api/tags",
        static_dir=tmp_path / "app" / "static",
        service=service,
    )
    recorder = Recorder()
    return Deployment(world.ports(), request, recorder, FAST).run(), recorder


def test_a_deploy_moves_every_service_to_the_new_version(tmp_path: Path) -> None:
    world = five_services()
    code, _ = deploy(world, tmp_path)
    assert code == ExitCode.OK
    assert {name: world.versions(f"{name}-asg") for name in ALL} == dict.fromkeys(ALL, (["4", "4"], "4"))


def test_one_service_failing_rolls_all_five_back(tmp_path: Path) -> None:
    """The api service's version 4 fails its health checks: AWS rolls api back, the pipeline rolls back
    the other four refreshes, and every instance of every service ends on version 3."""
    world = five_services()
    world.model.failing = {(EXTRA["api"][1], "4")}
    code, rec = deploy(world, tmp_path)
    assert code == ExitCode.ROLLED_BACK
    assert {name: world.versions(f"{name}-asg") for name in ALL} == dict.fromkeys(ALL, (["3", "3"], "3"))
    rolled_back = {args for name, args in world.journal if name == "refresh.rollback"}
    assert rolled_back >= {"web-asg", "worker-asg", "admin-asg", "reports-asg"}
    assert any(m.startswith("api: RollbackInProgress") for m in rec.messages("rollout"))


def test_a_routed_service_unhealthy_at_its_checkpoint_rolls_all_back(tmp_path: Path) -> None:
    """The admin service's own target group reports version 4 unhealthy at the checkpoint."""
    world = five_services()
    world.model.elb_unhealthy = {(EXTRA["admin"][1], "4")}
    code, rec = deploy(world, tmp_path)
    assert code == ExitCode.ROLLED_BACK
    assert any("admin: checkpoint 50% failed: unhealthy targets: i-" in m for m in rec.messages("rollout"))
    assert {name: world.versions(f"{name}-asg") for name in ALL} == dict.fromkeys(ALL, (["3", "3"], "3"))


def test_service_option_rolls_one_group_and_leaves_the_others(tmp_path: Path) -> None:
    world = five_services()
    code, _ = deploy(world, tmp_path, service="reports")
    assert code == ExitCode.OK
    assert world.versions("reports-asg") == (["4", "4"], "4")
    others = [name for name in ALL if name != "reports"]
    assert {name: world.versions(f"{name}-asg") for name in others} == dict.fromkeys(
        others, (["3", "3"], "3")
    )


def test_an_unknown_service_is_refused_before_anything_changes(tmp_path: Path) -> None:
    world = five_services()
    code, rec = deploy(world, tmp_path, service="billing")
    assert code == ExitCode.USAGE
    assert (
        "has no service 'billing' (services: web, worker, api, admin, reports)"
        in rec.summaries[-1]["account"]
    )
    assert world.journal.names() == []


def test_status_lists_every_service_with_its_kind_group_and_target_group() -> None:
    from scripts.deploy.status import service_groups

    listed = service_groups(five_services().stack.outputs())
    assert {name: (kind, group) for name, (kind, group, _) in listed.items()} == {
        "web": ("web", "web-asg"),
        "worker": ("worker", "worker-asg"),
        "api": ("web", "api-asg"),
        "admin": ("web", "admin-asg"),
        "reports": ("worker", "reports-asg"),
    }
    assert [name for name, (_, _, arn) in listed.items() if arn] == ["web", "api", "admin"]
    before = {k: v for k, v in OUTPUTS.items() if k != "services"}
    assert service_groups(before) == {
        "web": ("web", "web-asg", OUTPUTS["webTargetGroupArn"]),
        "worker": ("worker", "worker-asg", None),
    }


def test_a_services_own_alarm_stops_its_refresh_and_rolls_all_five_back(tmp_path: Path) -> None:
    """The reports worker's alarm fires once its version 4 runs: the alarm specification of its refresh
    names it, AWS rolls reports back, and the pipeline the other four."""
    world = five_services()
    world.model.alarm_rules = {"reports-alarm": (EXTRA["reports"][1], "4")}
    code, rec = deploy(world, tmp_path)
    assert code == ExitCode.ROLLED_BACK
    assert any("alarm reports-alarm in ALARM" in m for m in rec.messages("rollout"))
    assert {name: world.versions(f"{name}-asg") for name in ALL} == dict.fromkeys(ALL, (["3", "3"], "3"))


def test_each_refresh_names_its_services_alarms_not_every_alarm_of_the_stack(tmp_path: Path) -> None:
    """The stack has 13 alarms, more than a refresh takes (10); each refresh names the stack-wide 5xx and
    its own service's, so every refresh starts and a database alarm does not judge a new version."""
    world = five_services()
    world.model.alarm_rules = {"db-0": (EXTRA["api"][1], "4")}
    code, _ = deploy(world, tmp_path)
    assert code == ExitCode.OK
    assert {name: world.versions(f"{name}-asg") for name in ALL} == dict.fromkeys(ALL, (["4", "4"], "4"))
    named = {
        group: tuple(refresh.preferences["AlarmSpecification"]["Alarms"])
        for group, state in world.model.groups.items()
        for refresh in state.refreshes
    }
    assert named == {
        "web-asg": ("web-5xx", "web-latency"),
        "worker-asg": ("web-5xx",),
        **{f"{n}-asg": ("web-5xx", f"{n}-alarm") for n in EXTRA},
    }


@pytest.mark.parametrize(
    ("path", "answer", "why"),
    [
        (
            "api/healthz",
            HttpResponse(503, b"down"),
            "GET https://d111.cloudfront.net/api/healthz answered 503",
        ),
        # The admin route still reaches the old version: its rule or its group did not move.
        (
            "admin/up",
            HttpResponse(200, b'{"version": "v1"}'),
            "GET https://admin.example.com/admin/up reports version v1, not v2",
        ),
    ],
)
def test_a_routed_services_liveness_failing_on_its_route_rolls_all_back(
    tmp_path: Path, path: str, answer: HttpResponse, why: str
) -> None:
    """The default route answers; one routed service's liveness path, asked on its own route (its path,
    its host), does not: the smoke test fails and every service goes back to version 3."""
    world = five_services()
    world.http.answers[path] = [answer]
    code, rec = deploy(world, tmp_path)
    assert code == ExitCode.ROLLED_BACK
    assert why in rec.summaries[-1]["account"]
    assert {name: world.versions(f"{name}-asg") for name in ALL} == dict.fromkeys(ALL, (["3", "3"], "3"))


# --- `deploy --service X`: the smoke test asks X, and no other service's version --------------------------

OLD = HttpResponse(200, b'{"version": "v1"}')
NEW = HttpResponse(200, b'{"version": "v2"}')


def _versions(world: World) -> dict[str, tuple[list[str], str]]:
    """Which launch template version each group's instances run, and the one saved on the group."""
    return {name: world.versions(f"{name}-asg") for name in ALL}


def _expected(service: str, version: str) -> dict[str, tuple[list[str], str]]:
    """`service` on `version`, every other group still on version 3."""
    return {name: ([version] * 2, version) if name == service else (["3", "3"], "3") for name in ALL}


def test_service_option_smoke_asks_that_service_not_the_default_one(tmp_path: Path) -> None:
    """`--service api` rolls api alone; the default service still answers the version before (v1). The
    smoke test asks api's liveness path on its route, which answers v2, and never the default's version."""
    world = five_services()
    world.http.answers["healthz"] = [OLD]
    world.http.answers["api/healthz"] = [NEW]
    code, rec = deploy(world, tmp_path, service="api")
    assert code == ExitCode.OK, rec.summaries[-1]
    assert _versions(world) == _expected("api", "4")
    assert world.http.requests == ["https://d111.cloudfront.net/api/healthz"] * 2


def test_service_option_smoke_fails_when_that_service_answers_the_old_version(tmp_path: Path) -> None:
    world = five_services()
    world.http.answers["healthz"] = [NEW]  # the default's answer would pass: it is not what is judged
    world.http.answers["admin/up"] = [OLD]
    code, rec = deploy(world, tmp_path, service="admin")
    assert code == ExitCode.ROLLED_BACK
    assert "GET https://admin.example.com/admin/up reports version v1, not v2" in rec.summaries[-1]["account"]
    assert _versions(world) == _expected("admin", "3")
    assert not any(u.endswith("/healthz") and "admin" not in u for u in world.http.requests)


def test_service_option_on_a_worker_asks_no_web_service(tmp_path: Path) -> None:
    """A worker answers no request: the default service's old version must not roll the worker back."""
    world = five_services()
    world.http.answers["healthz"] = [OLD]
    code, rec = deploy(world, tmp_path, service="reports")
    assert code == ExitCode.OK, rec.summaries[-1]
    assert _versions(world) == _expected("reports", "4")
    assert world.http.requests == []


def test_service_option_on_the_default_service_asks_it_and_not_the_routed_ones(tmp_path: Path) -> None:
    world = five_services()
    world.http.answers["healthz"] = [NEW]
    world.http.answers["admin/up"] = [OLD]  # admin was not rolled: its old version is expected
    code, rec = deploy(world, tmp_path, service="web")
    assert code == ExitCode.OK, rec.summaries[-1]
    assert _versions(world) == _expected("web", "4")
    assert {u.split("://")[1] for u in world.http.requests} == {
        "d111.cloudfront.net/readyz",
        "d111.cloudfront.net/api/tags",
        "d111.cloudfront.net/healthz",
    }


def test_a_wildcard_host_is_asked_on_a_name_it_matches(tmp_path: Path) -> None:
    """A service routed on *.tenants.<domain> only: asking the stack's host would reach the default
    service, so the smoke test asks a concrete name under the wildcard, which the service's rule matches
    (CloudFront forwards it as Host)."""
    world = five_services()
    world.stack.deployed["services"]["admin"]["hostNames"] = ["*.tenants.app.example.com"]
    code, _ = deploy(world, tmp_path)
    assert code == ExitCode.OK
    assert "https://smoke-test.tenants.app.example.com/admin/up" in world.http.requests
    assert "https://d111.cloudfront.net/admin/up" not in world.http.requests


def test_the_migrations_run_on_the_default_web_service_whatever_its_name(tmp_path: Path) -> None:
    """Only the default web service's role may read the master secret (issue 12), so the deploy migrates
    on that service's group, even when the `web` key is a routed service and a `services` entry the
    default."""
    world = five_services()
    services = world.stack.deployed["services"]
    services["web"].update(pathPatterns=["/web/*"], hostNames=[], livenessPath="/web/healthz")
    for key in ("pathPatterns", "hostNames"):
        services["api"].pop(key)
    default = {i.instance_id for i in world.model.groups["api-asg"].instances}  # before the refresh
    deploy(world, tmp_path)
    assert next(args for name, args in world.journal if name == "ssm.run")[0] in default
