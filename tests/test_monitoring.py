"""The alarms and the dashboard read metrics where AWS publishes them, so they can fire and show data."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from infra.planned import Plan
from infra.policies.rules.metrics import widget_uses
from infra.policies.values import plain
from infra.spec import StackSpec

Planned = Callable[[str], tuple[StackSpec, Plan]]


def _alarms(plan: Plan) -> dict[str, dict[str, Any]]:
    return {r.name: plain(r.inputs) for r in plan.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")}


def _member_clusters(plan: Plan) -> list[str]:
    (group,) = plan.by_type("aws:elasticache/replicationGroup:ReplicationGroup")
    inputs = plain(group.inputs)
    # What ElastiCache names the node clusters (the offline engine models it; see infra/offline.py).
    return [f"{inputs['replicationGroupId']}-{n:03d}" for n in range(1, int(inputs["numCacheClusters"]) + 1)]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_cache_alarms_watch_every_node_by_its_cache_cluster_id(planned: Planned, stack: str) -> None:
    spec, plan = planned(stack)
    nodes = _member_clusters(plan)
    assert len(nodes) == 1 + spec.cache.replicas
    for kind in ("cpu", "memory", "evictions"):
        alarm = _alarms(plan)[f"scalestack-{stack}-cache-{kind}"]
        queries = alarm["metricQueries"]
        watched = [q["metric"]["dimensions"] for q in queries if q.get("metric")]
        assert watched == [{"CacheClusterId": node} for node in nodes]
        (alarmed,) = [q for q in queries if q.get("returnData")]
        assert alarmed["expression"] == f"MAX([{', '.join(f'node{i + 1}' for i in range(len(nodes)))}])"


def _widgets(plan: Plan) -> dict[str, dict[str, Any]]:
    (dashboard,) = plan.by_type("aws:cloudwatch/dashboard:Dashboard")
    body = json.loads(plain(dashboard.inputs)["dashboardBody"])
    return {w["properties"]["title"]: w for w in body["widgets"]}


def test_dev_dashboard_leaves_out_the_replica_lag_widget_it_has_nothing_for(planned: Planned) -> None:
    _, dev = planned("dev")
    widgets = _widgets(dev)
    assert "Replica lag" not in widgets
    assert all(widget_uses(w) for w in widgets.values())  # no widget without a metric
    _, prod = planned("prod")
    lag = widget_uses(_widgets(prod)["Replica lag"])
    assert lag is not None and len(lag) == 2  # one line per replica


def test_cache_widgets_plot_each_node(planned: Planned) -> None:
    _, plan = planned("prod")
    for title in ("Cache CPU", "Cache hits"):
        rows = _widgets(plan)[title]["properties"]["metrics"]
        assert [row[2:] for row in rows] == [["CacheClusterId", node] for node in _member_clusters(plan)]
