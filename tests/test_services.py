"""Several services per stack (issue 12): the spec's `services` map, refused when AWS or the routing could
not work, and planned as one group, target group and listener rule per service, each admitted to the
data tier it uses and nothing else."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from infra import routing
from infra.contract import ServiceOutput, StackOutputs, parse_services
from infra.offline import plan_stack
from infra.planned import Plan, PlannedResource
from infra.policies import evaluate
from infra.policies.evaluate import to_resource
from infra.policies.model import Stack
from infra.policies.values import plain
from infra.reachability import analyse
from infra.spec import SpecError, StackSpec, load_spec_file, parse_config
from tests.test_spec import SOURCE, config, error_for

ASG = "aws:autoscaling/group:Group"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
RULE = "aws:lb/listenerRule:ListenerRule"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
FIVE_SERVICES: dict[str, Any] = {
    "api": {
        "kind": "web",
        "pathPatterns": ["/api/*", "/graphql"],
        "livenessPath": "/api/healthz",
        "minSize": 2,
    },
    # Host and path: a host-only rule would overlap api's path-only one (admin.app.example.com/api/x).
    "admin": {
        "kind": "web",
        "hostNames": ["admin.app.example.com"],
        "pathPatterns": ["/admin/*"],
        "livenessPath": "/admin/healthz",
        "usesCache": False,
    },
    "reports": {"kind": "worker", "queues": ["reports"], "minSize": 0, "desiredCapacity": 0},
}


def five(**sections: Any) -> dict[str, Any]:
    """A prod stack of three web services (web, api, admin) and two workers (worker, reports)."""
    shipped = {
        "domain": {"name": "app.example.com", "hostedZoneId": "Z0123456789EXAMPLE"},
        # Prod alarms must reach someone (alarm-topic-subscribed), as in the shipped prod stack.
        "monitoring": {"alarmEmail": "oncall@example.com"},
    }
    return config("prod", **{"services": FIVE_SERVICES, **shipped, **sections})


@cache
def five_planned() -> tuple[StackSpec, Plan]:
    spec = parse_config(five(), stack="multi", source=SOURCE)
    return spec, plan_stack(spec)


def inputs(resource: PlannedResource) -> dict[str, Any]:
    return plain(resource.inputs)  # type: ignore[no-any-return]


def by_name(plan: Plan, type_token: str) -> dict[str, dict[str, Any]]:
    return {r.name: inputs(r) for r in plan.by_type(type_token)}


# --- the spec -----------------------------------------------------------------------------------------


def test_services_take_sizes_from_their_kind_and_keep_their_own() -> None:
    spec, _ = five_planned()
    services = {s.name: s for s in spec.all_services}
    assert list(services) == ["web", "worker", "api", "admin", "reports"]
    assert [s.name for s in spec.all_services if s.default] == ["web"]
    api, reports = services["api"].spec, services["reports"].spec
    assert (api.instance_type, api.min_size, api.max_size) == (spec.web.instance_type, 2, spec.web.max_size)
    assert api.path_patterns == ["/api/*", "/graphql"] and spec.web.path_patterns == []
    assert (reports.min_size, reports.queues, reports.instance_type) == (0, ["reports"], "m7i.large")


@pytest.mark.parametrize(
    ("services", "expected"),
    [
        (
            {
                "api": {"kind": "web", "pathPatterns": ["/api/*"]},
                "v1": {"kind": "web", "pathPatterns": ["/api/v1/*"]},
            },
            "scalestack:services.v1: its routes overlap services.api's",
        ),
        (
            {"a": {"kind": "web", "pathPatterns": ["/a*"]}, "b": {"kind": "web", "pathPatterns": ["/*b"]}},
            "scalestack:services.b: its routes overlap services.a's",
        ),
        (
            {
                "admin": {"kind": "web", "hostNames": ["ADMIN.example.com"]},
                "api": {"kind": "web", "pathPatterns": ["/api/*"]},
            },
            "scalestack:services.api: its routes overlap services.admin's",
        ),
        (
            {"site": {"kind": "web"}},
            "scalestack:services: exactly one web service has no pathPatterns or hostNames and takes every "
            "other request (got 2: web, services.site)",
        ),
        (
            {
                "api": {
                    "kind": "web",
                    "pathPatterns": ["/a", "/b", "/c"],
                    "hostNames": ["x.example.com", "y.io"],
                }
            },
            "scalestack:services.api: 5 pathPatterns and hostNames: a listener rule takes 5 condition values "
            "and the origin-header check uses one, so at most 4",
        ),
        (
            {"api": {"kind": "web", "pathPatterns": ["/*/*/*", "/?/?/?"]}},
            "scalestack:services.api: 6 wildcards in pathPatterns and hostNames: a listener rule takes at most 5",
        ),
        ({"reports": {"kind": "worker"}}, "scalestack:services.reports.queues: required key is missing"),
        (
            {"site": {"kind": "web", "minSize": 0, "desiredCapacity": 0, "usesCache": False}},
            "scalestack:services: exactly one web service",
        ),
        (
            {"reports": {"kind": "worker", "queues": []}},
            "scalestack:services.reports.queues: List should have at least 1 item",
        ),
        (
            {"Reports": {"kind": "worker", "queues": ["r"]}},
            "scalestack:services.Reports (as a name): String should match pattern",
        ),
        (
            {"a-very-long-service-name": {"kind": "worker", "queues": ["r"]}},
            "scalestack:services.a-very-long-service-name (as a name): String should have at most 21 characters",
        ),
        (
            {"cache": {"kind": "worker", "queues": ["r"]}},
            "scalestack:services: cache: names taken by the web and worker keys",
        ),
        (
            {"api": {"kind": "cron"}},
            "scalestack:services.api: Input tag 'cron' found using 'kind' does not match",
        ),
        (
            {"api": {"kind": "web", "pathPatterns": ["api/*"]}},
            "scalestack:services.api.pathPatterns[0]: String should match pattern",
        ),
        (
            {"api": {"kind": "web", "pathPatterns": ["/api/*"], "queues": ["x"]}},
            "scalestack:services.api.queues: unknown key",
        ),
        (
            {"api": {"kind": "web", "pathPatterns": ["/api/*"]}},
            "scalestack:services.api.livenessPath: /healthz is not on its pathPatterns (/api/*), so a request "
            "for it reaches another service",
        ),
    ],
)
def test_bad_services_are_refused_naming_file_and_key(services: dict[str, Any], expected: str) -> None:
    assert expected in error_for(config("dev", services=services))


def test_a_duplicate_name_is_refused_by_the_file_loader(tmp_path: Any) -> None:
    """The map's keys are the names: YAML keeps one of two equal keys silently, the loader refuses."""
    from infra.spec import load_spec_file

    path = tmp_path / "Pulumi.dup.yaml"
    path.write_text(
        "config:\n  aws:region: us-east-1\n  scalestack:environment: dev\n  scalestack:imageTag: '1'\n"
        "  scalestack:services:\n    api: {kind: web, pathPatterns: ['/api/*']}\n"
        "    api: {kind: worker, queues: [r]}\n"
    )
    with pytest.raises(SpecError, match="key 'api' appears twice in one mapping"):
        load_spec_file(path)


def test_two_routed_services_on_one_derived_priority_are_refused() -> None:
    services = {
        "api": {"kind": "web", "pathPatterns": ["/api/*"]},
        "docs": {"kind": "web", "pathPatterns": ["/docs/*"], "priority": routing.derived_priority("api")},
    }
    assert (
        f"scalestack:services.docs.priority: {routing.derived_priority('api')} is services.api's"
        in error_for(config("dev", services=services))
    )


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        ("/api/*", "/api/v1/*", True),
        ("/a*", "/*b", True),
        ("/static/*", "/api/*", False),
        ("/a?c", "/abc", True),
        ("/a?c", "/ab", False),
        ("*", "/anything", True),
        ("/x*y", "/x", False),
    ],
)
def test_patterns_overlap_when_some_path_matches_both(first: str, second: str, overlap: bool) -> None:
    assert routing.patterns_overlap(first, second) is overlap
    assert routing.patterns_overlap(second, first) is overlap


def test_derived_priorities_do_not_move_when_a_service_is_added() -> None:
    one = parse_config(five(services={"api": FIVE_SERVICES["api"]}), stack="a", source=SOURCE)
    two = parse_config(five(), stack="a", source=SOURCE)
    from infra.spec import rule_priority

    before = {s.name: rule_priority(s) for s in one.all_services if s.web}
    after = {s.name: rule_priority(s) for s in two.all_services if s.web}
    assert after["api"] == before["api"] and after["web"] == before["web"] == routing.LOWEST_PRIORITY


# --- the plan -----------------------------------------------------------------------------------------


def test_each_service_gets_its_group_and_each_web_service_its_target_group_and_rule() -> None:
    _, plan = five_planned()
    assert sorted(by_name(plan, ASG)) == sorted(
        f"{n}-asg" for n in ("web", "worker", "api", "admin", "reports")
    )
    assert sorted(by_name(plan, TARGET_GROUP)) == ["admin-tg", "api-tg", "web-tg"]
    rules = by_name(plan, RULE)
    assert {name: rule["priority"] for name, rule in rules.items()} == {
        "web-rule": routing.LOWEST_PRIORITY,
        "api-rule": routing.derived_priority("api"),
        "admin-rule": routing.derived_priority("admin"),
    }
    for rule in rules.values():
        header = rule["conditions"][0]["httpHeader"]
        assert header["httpHeaderName"] == "X-Origin-Verify" and len(header["values"]) == 1
    routes = {
        name: {k: v["values"] for c in rule["conditions"][1:] for k, v in c.items()}
        for name, rule in rules.items()
    }
    assert routes == {
        "web-rule": {"pathPattern": ["/*"]},
        "api-rule": {"pathPattern": ["/api/*", "/graphql"]},
        "admin-rule": {"pathPattern": ["/admin/*"], "hostHeader": ["admin.app.example.com"]},
    }


def test_workers_run_their_queues_and_scale_from_zero() -> None:
    _, plan = five_planned()
    groups = by_name(plan, ASG)
    assert (groups["reports-asg"]["minSize"], groups["reports-asg"]["desiredCapacity"]) == (0, 0)
    assert "targetGroupArns" not in groups["reports-asg"] or groups["reports-asg"]["targetGroupArns"] == []
    import base64

    templates = by_name(plan, "aws:ec2/launchTemplate:LaunchTemplate")
    reports = base64.b64decode(templates["reports-lt"]["userData"]).decode()
    worker = base64.b64decode(templates["worker-lt"]["userData"]).decode()
    assert "worker --loglevel=INFO --queues reports" in reports
    assert "--queues" not in worker


def _admitted(plan: Plan, store_group: str) -> set[str]:
    by_urn = plan.by_urn()
    admitted = set()
    for rule in plan.by_type(INGRESS):
        groups = {
            key: [
                by_urn[u].name
                for u in rule.property_dependencies.get(key, ())
                if by_urn[u].type == SECURITY_GROUP
            ]
            for key in ("securityGroupId", "referencedSecurityGroupId")
        }
        if groups["securityGroupId"] == [store_group]:
            admitted.update(groups["referencedSecurityGroupId"])
    return admitted


def test_the_data_tier_admits_the_services_that_use_it_and_nothing_else() -> None:
    _, plan = five_planned()
    everyone = {f"{n}-sg" for n in ("web", "worker", "api", "admin", "reports")}
    assert _admitted(plan, "database-sg") == everyone
    assert _admitted(plan, "cache-sg") == everyone - {"admin-sg"}


def test_adding_a_service_renames_no_other_services_data_tier_rule() -> None:
    """Each rule is named after its client: with api removed (it comes before admin and reports), every
    other service's rule keeps its name and what it admits, so Pulumi replaces none of them."""
    _, plan = five_planned()
    fewer = {k: v for k, v in FIVE_SERVICES.items() if k != "api"}
    smaller = plan_stack(parse_config(five(services=fewer), stack="multi", source=SOURCE))

    def rules(p: Plan) -> dict[str, set[str]]:
        by_urn = p.by_urn()
        return {
            r.name: {by_urn[u].name for u in r.property_dependencies["referencedSecurityGroupId"]}
            for r in p.by_type(INGRESS)
            if r.name.startswith(("database-from-", "cache-from-"))
        }

    before, after = rules(plan), rules(smaller)
    assert set(before) - set(after) == {"database-from-api", "cache-from-api"}
    assert after == {name: admits for name, admits in before.items() if not name.endswith("-api")}
    assert after["database-from-reports"] == {"reports-sg"} and "cache-from-admin" not in after


def test_reachability_holds_per_service() -> None:
    _, plan = five_planned()
    flows = {f.flow: f for f in analyse(Stack(tuple(to_resource(r) for r in plan.resources if r.custom)))}
    assert [f.explanation for f in flows.values() if f.wrong] == []
    for name in ("web", "api", "admin"):
        assert flows[f"alb -> {name}-asg on 8000 (requests and health checks)"].open
    for name in ("web", "worker", "api", "admin", "reports"):
        assert flows[f"{name}-asg -> database-primary on 5432"].open
        assert not flows[f"internet -> {name}-asg"].open
    assert flows["admin-asg -> cache on 6379"].required is False
    assert flows["admin-asg -> cache on 6379"].open is False
    assert flows["api-asg -> cache on 6379"].open and flows["api-asg -> cache on 6379"].required


def test_services_output_names_every_group_for_the_pipeline() -> None:
    _, plan = five_planned()
    outputs = plain(plan.outputs)
    services = parse_services(outputs)
    assert {n: s.kind for n, s in services.items()} == {
        "web": "web",
        "worker": "worker",
        "api": "web",
        "admin": "web",
        "reports": "worker",
    }
    assert services["reports"].target_group_arn is None and services["api"].target_group_arn
    # What the deploy's smoke test asks each routed web service by (the default takes the stack's URL).
    assert {n: (s.path_patterns, s.host_names, s.liveness_path) for n, s in services.items() if s.routed} == {
        "api": (("/api/*", "/graphql"), (), "/api/healthz"),
        "admin": (("/admin/*",), ("admin.app.example.com",), "/admin/healthz"),
    }
    assert set(outputs["rollout"]["roles"]) == set(services) == set(outputs["launchTemplates"])
    parsed = StackOutputs.parse(outputs)
    assert parsed.asg_names == {n: s.asg_name for n, s in services.items()}


def test_outputs_from_before_services_still_parse_as_web_and_worker() -> None:
    _, plan = five_planned()
    old = {k: v for k, v in plain(plan.outputs).items() if k != "services"}
    old["launchTemplates"] = {k: v for k, v in old["launchTemplates"].items() if k in ("web", "worker")}
    services = parse_services(old)
    assert set(services) == {"web", "worker"}
    assert isinstance(services["web"], ServiceOutput) and services["web"].asg_name == old["webAsgName"]


def _policies(plan: Plan) -> dict[str, dict[str, Any]]:
    return by_name(plan, "aws:autoscaling/policy:Policy")


def test_each_worker_tracks_its_backlog_per_in_service_instance() -> None:
    spec, plan = five_planned()
    policies = _policies(plan)
    backlog = policies["reports-backlog"]["targetTrackingConfiguration"]
    assert backlog["targetValue"] == spec.services["reports"].target_messages_per_worker
    metrics = {m["id"]: m for m in backlog["customizedMetricSpecification"]["metrics"]}
    assert metrics["backlog"]["expression"] == "(q0) / instances" and metrics["backlog"]["returnData"]
    queue = metrics["q0"]["metricStat"]
    assert queue["metric"] == {
        "namespace": "scalestack/multi",
        "metricName": "QueueLength",
        "dimensions": [{"name": "Queue", "value": "reports"}],
    }
    instances = metrics["instances"]["metricStat"]["metric"]
    assert (
        instances["namespace"] == "AWS/AutoScaling" and instances["metricName"] == "GroupInServiceInstances"
    )
    assert instances["dimensions"] == [{"name": "AutoScalingGroupName", "value": "reports-asg"}]
    groups = by_name(plan, ASG)
    assert "GroupInServiceInstances" in groups["reports-asg"]["enabledMetrics"]
    worker_queue = {
        m["id"]: m
        for m in policies["worker-backlog"]["targetTrackingConfiguration"]["customizedMetricSpecification"][
            "metrics"
        ]
    }
    assert worker_queue["q0"]["metricStat"]["metric"]["dimensions"] == [{"name": "Queue", "value": "celery"}]
    assert not any(name.startswith(("web-backlog", "api-backlog")) for name in policies)


def test_a_worker_at_zero_is_woken_by_the_first_waiting_message() -> None:
    _, plan = five_planned()
    policies = _policies(plan)
    assert "reports-wake" in policies and "worker-wake" not in policies  # worker's minimum is 2 in prod
    wake = policies["reports-wake"]
    assert (wake["policyType"], wake["adjustmentType"]) == ("StepScaling", "ChangeInCapacity")
    assert wake["stepAdjustments"] == [{"scalingAdjustment": 1, "metricIntervalLowerBound": "0"}]
    alarm = by_name(plan, "aws:cloudwatch/metricAlarm:MetricAlarm")["reports-wake"]
    queries = {q["id"]: q for q in alarm["metricQueries"]}
    assert queries["waiting"]["expression"] == "IF(FILL(instances, 0) < 1, q0, 0)"
    assert queries["q0"]["metric"]["dimensions"] == {"Queue": "reports"}
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    by_urn = plan.by_urn()
    wake_urns = [r.urn for r in plan.by_type("aws:autoscaling/policy:Policy") if r.name == "reports-wake"]
    alarm_resource = next(
        r for r in plan.by_type("aws:cloudwatch/metricAlarm:MetricAlarm") if r.name == "reports-wake"
    )
    assert [by_urn[u].urn for u in alarm_resource.property_dependencies["alarmActions"]] == wake_urns


def test_every_policy_rule_holds_for_every_service() -> None:
    spec, plan = five_planned()
    report = evaluate(plan.resources, spec.environment, spec.policy.waivers)
    assert [(v["rule"], v["resource"]) for v in report.to_json()["violations"]] == []


def test_the_default_web_service_keeps_running_and_on_the_cache_for_the_publisher() -> None:
    message = error_for(config("dev", web={"minSize": 0, "desiredCapacity": 0, "usesCache": False}))
    assert (
        "scalestack:web: the default web service publishes the queue lengths workers scale on, so it needs "
        "minSize >= 1 and usesCache: true (got minSize 0, usesCache False)" in message
    )


def test_cost_itemises_every_service() -> None:
    from infra.pricing import estimate

    _, plan = five_planned()
    result = estimate(plan)
    assert sorted(result.by_service) == ["admin", "api", "reports", "web", "worker"]
    api = [line for line in result.lines if line.service == "api"]
    assert {line.item for line in api} == {"EC2 m7i.large", "EBS gp3 root volumes"}
    assert result.by_service["api"] == round(sum(line.monthly or 0 for line in api), 2)
    reports = {line.item: line for line in result.lines if line.service == "reports"}
    assert (reports["EC2 m7i.large"].quantity, reports["EC2 m7i.large"].monthly) == (0, 0)  # at zero
    assert result.by_service["reports"] == round(sum(line.monthly or 0 for line in reports.values()), 2)
    assert result.to_json()["services"] == result.by_service


def test_the_diagram_draws_each_service_and_what_it_takes_from() -> None:
    from infra.diagram import mermaid

    _, plan = five_planned()
    drawn = mermaid(plan)
    for name in ("web", "worker", "api", "admin", "reports"):
        assert f'    {name}["{name}<br/>AppGroup, ' in drawn
        assert f"    {name} --> database" in drawn and f"    database --> {name}" in drawn
    assert "    api --> alb" in drawn and "    admin --> alb" in drawn and "    reports --> alb" not in drawn
    assert "    cache --> admin" not in drawn and "    cache --> reports" in drawn  # admin opted out


def test_the_dashboard_has_a_row_per_service() -> None:
    _, plan = five_planned()
    (dashboard,) = plan.by_type("aws:cloudwatch/dashboard:Dashboard")
    widgets = {
        w["properties"]["title"]: w["properties"]
        for w in json.loads(inputs(dashboard)["dashboardBody"])["widgets"]
    }
    for name in ("web", "worker", "api", "admin", "reports"):
        assert widgets[f"{name}: instances"]["metrics"][0][3] == f"{name}-asg"
    api = widgets["api: requests per target"]["metrics"][0]
    assert api[:4] == [
        "AWS/ApplicationELB",
        "RequestCountPerTarget",
        "TargetGroup",
        "targetgroup/api-tg/0123456789abcdef",
    ]
    assert widgets["reports: queue length"]["metrics"] == [
        ["scalestack/multi", "QueueLength", "Queue", "reports"]
    ]


def test_the_benchmarks_five_service_stack_plans_and_passes_the_policy() -> None:
    """bench/plan_speed.py times this file; a stack the policy refuses would time an error."""
    spec = load_spec_file(Path("bench/stacks/Pulumi.services.yaml"))
    report = evaluate(plan_stack(spec).resources, spec.environment, spec.policy.waivers)
    assert len(spec.all_services) == 5 and report.mandatory == ()


# --- alarms per service -------------------------------------------------------------------------------

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def _watched(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An alarm's metrics by name (a plain alarm's one, or each metric query's) with their dimensions."""
    if alarm.get("metricName"):
        return {alarm["metricName"]: alarm["dimensions"]}
    return {
        q["metric"]["metricName"]: q["metric"]["dimensions"]
        for q in alarm["metricQueries"]
        if q.get("metric")
    }


def test_each_web_service_has_its_own_target_group_alarms_by_name() -> None:
    """p99 latency, unhealthy hosts and the 5xx rate of each web service's own target group, named after
    the service; the default web service keeps the names its alarms had before services."""
    _, plan = five_planned()
    alarms = by_name(plan, ALARM)
    suffixes = {
        "web": ("multi-target-p99-latency", "multi-unhealthy-hosts", "multi-web-target-5xx-rate"),
        "api": ("multi-api-target-p99-latency", "multi-api-unhealthy-hosts", "multi-api-target-5xx-rate"),
        "admin": (
            "multi-admin-target-p99-latency",
            "multi-admin-unhealthy-hosts",
            "multi-admin-target-5xx-rate",
        ),
    }
    for service, names in suffixes.items():
        target = {
            "LoadBalancer": "app/alb/0123456789abcdef",
            "TargetGroup": f"targetgroup/{service}-tg/0123456789abcdef",
        }
        latency, unhealthy, errors = (alarms[f"scalestack-{name}"] for name in names)
        assert _watched(latency) == {"TargetResponseTime": target} and latency["extendedStatistic"] == "p99"
        assert _watched(unhealthy) == {"UnHealthyHostCount": target}
        assert _watched(errors) == {"HTTPCode_Target_5XX_Count": target, "RequestCount": target}
        (rate,) = [q for q in errors["metricQueries"] if q.get("returnData")]
        assert rate["expression"] == "100 * FILL(target5xx, 0) / MAX([requests, 1])"


def test_each_worker_alarms_on_a_backlog_per_instance_that_stays_high() -> None:
    spec, plan = five_planned()
    alarms = by_name(plan, ALARM)
    for name, queues in (("worker", ["celery"]), ("reports", ["reports"])):
        alarm = alarms[f"scalestack-multi-{name}-backlog-per-instance"]
        queries = {q["id"]: q for q in alarm["metricQueries"]}
        assert [queries[f"q{i}"]["metric"]["dimensions"] for i in range(len(queues))] == [
            {"Queue": q} for q in queues
        ]
        assert queries["q0"]["metric"]["namespace"] == "scalestack/multi"
        assert queries["instances"]["metric"]["dimensions"] == {"AutoScalingGroupName": f"{name}-asg"}
        assert queries["backlog"]["expression"] == "(FILL(q0, 0)) / MAX([FILL(instances, 0), 1])"
        service = next(s for s in spec.all_services if s.name == name)
        assert service.worker is not None
        assert alarm["threshold"] == 3 * service.worker.target_messages_per_worker
        assert alarm["evaluationPeriods"] == alarm["datapointsToAlarm"] == 15


def test_a_refresh_of_each_service_is_stopped_by_its_own_alarms_and_the_stack_wide_5xx() -> None:
    _, plan = five_planned()
    outputs = plain(plan.outputs)
    rollout = StackOutputs.parse(outputs).rollout
    alarms = set(by_name(plan, ALARM))
    expected = {
        "web": ["target-p99-latency", "unhealthy-hosts", "web-target-5xx-rate"],
        "api": ["api-target-p99-latency", "api-unhealthy-hosts", "api-target-5xx-rate"],
        "admin": ["admin-target-p99-latency", "admin-unhealthy-hosts", "admin-target-5xx-rate"],
        "worker": ["worker-backlog-per-instance"],
        "reports": ["reports-backlog-per-instance"],
    }
    for service, own in expected.items():
        names = rollout.alarms_for(service)
        assert names == tuple(f"scalestack-multi-{n}" for n in ["alb-5xx-rate", *own])
        assert set(names) <= alarms  # each names an alarm the stack has
        assert set(names) <= set(outputs["alarmNames"])


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_shipped_groups_refresh_names_at_most_the_alarms_aws_takes(stack: str) -> None:
    """StartInstanceRefresh takes up to 10 alarms (contract.REFRESH_ALARMS_MAX); prod has more than 10
    alarms in all, so the refresh must name its own service's, not every alarm of the stack."""
    from infra.contract import REFRESH_ALARMS_MAX

    plan = plan_stack(load_spec_file(Path(f"stacks/Pulumi.{stack}.yaml")))
    rollout = StackOutputs.parse(plain(plan.outputs)).rollout
    for role in rollout.roles:
        assert 2 <= len(rollout.alarms_for(role)) <= REFRESH_ALARMS_MAX


# --- each service reads only the stores it uses ---------------------------------------------------------


@cache
def _opted_out() -> Plan:
    """The five services, with reports off the database too (admin is off the cache)."""
    services = {**FIVE_SERVICES, "reports": {**FIVE_SERVICES["reports"], "usesDatabase": False}}
    return plan_stack(parse_config(five(services=services), stack="multi", source=SOURCE))


def _access(plan: Plan, service: str) -> tuple[list[dict[str, Any]], set[str]]:
    """A service's own policy statements, and the names of the resources the policy was built from."""
    (policy,) = [r for r in plan.by_type("aws:iam/rolePolicy:RolePolicy") if r.name == f"{service}-access"]
    by_urn = plan.by_urn()
    sources = {by_urn[u].name for u in policy.property_dependencies.get("policy", ())}
    return json.loads(inputs(policy)["policy"])["Statement"], sources


def _user_data(plan: Plan, service: str) -> str:
    import base64

    return base64.b64decode(
        by_name(plan, "aws:ec2/launchTemplate:LaunchTemplate")[f"{service}-lt"]["userData"]
    ).decode()


def test_a_service_off_the_cache_or_database_cannot_read_their_credentials() -> None:
    plan = _opted_out()
    # The database's login is rds-db:connect on its instances (its key is the master secret's: the
    # migrating web service's alone, see test_only_the_default_web_role_reads_the_master_secret).
    cache, database = {"cache-auth", "cache-key"}, {"database-primary"}
    built_from = {service: _access(plan, service)[1] for service in ("admin", "api", "reports", "worker")}
    assert not cache & built_from["admin"] and database <= built_from["admin"]
    assert not database & built_from["reports"] and cache <= built_from["reports"]
    assert cache | database <= built_from["api"] and cache | database <= built_from["worker"]
    actions = {s: {a for st in _access(plan, s)[0] for a in st["Action"]} for s in ("reports", "worker")}
    assert "rds-db:connect" not in actions["reports"] and "rds-db:connect" in actions["worker"]
    # The renderer asks for no secret its role may not read: admin renders no REDIS_URL, reports no
    # database URLs or tokens.
    assert "CACHE_SECRET_ARN = ''" in _user_data(plan, "admin")
    assert "USES_DATABASE = bool('')" in _user_data(plan, "reports")
    assert "CACHE_SECRET_ARN = ''" not in _user_data(plan, "api")
    spec = parse_config(five(), stack="multi", source=SOURCE)
    report = evaluate(plan.resources, spec.environment, ())
    assert [v for v in report.violations if v.rule == "iam-data-credentials-for-clients-only"] == []


def test_the_default_web_service_stays_on_the_database_for_the_migrations() -> None:
    """The deploy runs migrations on a default web instance: its role must keep the master secret."""
    assert "scalestack:web.usesDatabase: the default web service's instances run the deploy's migrations" in (
        error_for(config("dev", web={"usesDatabase": False}))
    )


# --- only the migrating service reads the master login ----------------------------------------------------


@cache
def _bench_planned() -> tuple[StackSpec, Plan]:
    spec = load_spec_file(Path("bench/stacks/Pulumi.services.yaml"))
    return spec, plan_stack(spec)


def _several(source: str) -> tuple[StackSpec, Plan]:
    return five_planned() if source == "five" else _bench_planned()


def _master_reads(plan: Plan, service: str) -> set[str]:
    """What in a service's role reads the master login: the RDS-managed secret (RDS names it `rds!...`),
    and the database's key it is encrypted under."""
    statements, built_from = _access(plan, service)
    secrets = {
        r for st in statements if "secretsmanager:GetSecretValue" in st["Action"] for r in st["Resource"]
    }
    return {r for r in secrets if ":secret:rds!" in r} | (built_from & {"database-key"})


@pytest.mark.parametrize("source", ["five", "bench"])
def test_only_the_default_web_role_reads_the_master_secret(source: str) -> None:
    """Issue 12: the deploy migrates on the default web service; every other service on the database
    connects as the app's role with IAM tokens, so neither its role nor its renderer has the master login."""
    spec, plan = _several(source)
    on_database = [s for s in spec.all_services if s.spec.uses_database]
    assert [s.name for s in spec.all_services if s.default] == ["web"] and len(on_database) >= 4
    for service in on_database:
        actions = {a for st in _access(plan, service.name)[0] for a in st["Action"]}
        assert "rds-db:connect" in actions, service.name
        reads, user_data = _master_reads(plan, service.name), _user_data(plan, service.name)
        if service.name == "web":
            assert len(reads) == 2 and "MASTER_SECRET_ARN = ''" not in user_data
        else:
            assert reads == set() and "MASTER_SECRET_ARN = ''" in user_data, service.name
    report = evaluate(plan.resources, spec.environment, ())
    assert [v for v in report.violations if v.rule == "iam-data-credentials-for-clients-only"] == []


def test_the_policy_refuses_the_master_secret_on_a_routed_services_role() -> None:
    """The rule knows the migrating role from the plan (the group behind the rule that takes the rest):
    granting a routed web service the master secret's key is a violation on that service's policy."""
    import dataclasses

    spec, plan = five_planned()
    (key,) = [r.urn for r in plan.resources if r.name == "database-key"]

    def granted(resource: PlannedResource) -> PlannedResource:
        if resource.name != "api-access":
            return resource
        deps = dict(resource.property_dependencies)
        return dataclasses.replace(resource, property_dependencies={**deps, "policy": (*deps["policy"], key)})

    report = evaluate([granted(r) for r in plan.resources], spec.environment, ())
    found = [v for v in report.violations if v.rule == "iam-data-credentials-for-clients-only"]
    assert [v.resource for v in found] == ["api-access"] and "master secret" in found[0].message
