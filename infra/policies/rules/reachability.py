"""Network reachability as a rule: a stack where the app's packets can't flow, or where forbidden ones can."""

from __future__ import annotations

from collections.abc import Iterator

# Imported as a module: infra.reachability reads rules.network, so it may still be loading here.
import infra.reachability as network_flows
from infra.policies import tokens as t
from infra.policies.model import AWS_REQUIRED, Category, Finding, Rule, Severity, Stack, StackRule


def _reachability(stack: Stack) -> Iterator[Finding]:
    for flow in network_flows.wrong_flows(stack):
        if flow.culprit is None:
            continue
        consequence = (
            "so the app's traffic is dropped on this path"
            if flow.required
            else "so a path that must stay closed is open"
        )
        yield Finding(flow.culprit, f"{flow.explanation}, {consequence}.")


RULES: list[Rule] = [
    StackRule(
        id="network-reachability",
        types=(
            t.SECURITY_GROUP
            + t.INGRESS_RULE
            + t.EGRESS_RULE
            + t.ROUTE_TABLE
            + t.NAT_GATEWAY
            + t.INTERNET_GATEWAY
            + t.VPC_ENDPOINT
            + t.LOAD_BALANCER
            + t.AUTOSCALING_GROUP
            + t.DB_INSTANCE
            + t.CACHE_REPLICATION_GROUP
        ),
        description=(
            "Every flow the app needs (CloudFront to the ALB, the ALB to the web instances, the instances to "
            "the database, the cache, AWS endpoints and the internet through NAT) is open end to end "
            "(egress, ingress and route) and no forbidden one is (internet to the instances or data, ALB "
            "to the data)."
        ),
        severity=Severity.CRITICAL,
        # A stack where no packet flows is never acceptable, in any environment.
        enforcement=AWS_REQUIRED,
        check=_reachability,
        category=Category.AWS,
        source="https://docs.aws.amazon.com/vpc/latest/userguide/vpc-security-groups.html",
    ),
]
