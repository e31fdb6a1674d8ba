"""Application load balancer, listeners and target groups."""

from __future__ import annotations

from infra.policies import tokens as t
from infra.policies.model import (
    AWS_REQUIRED,
    PROD_ONLY,
    STANDARD,
    Category,
    Resource,
    ResourceRule,
    Rule,
    Severity,
    stack_key,
)
from infra.policies.rules._checks import first, flag_is, only_if, present
from infra.policies.values import get, is_unknown, items, number


def _is_alb(resource: Resource) -> bool:
    # Network load balancers have no HTTP layer, so header and HTTPS rules don't apply to them.
    return resource.get("loadBalancerType", "application") == "application"


def _listener_https(resource: Resource) -> str | None:
    protocol = resource.get("protocol", "HTTP")
    if is_unknown(protocol) or protocol in {"HTTPS", "TLS"}:
        return None
    if protocol != "HTTP":
        return None
    actions = items(resource.get("defaultActions"))
    if actions is None:
        return None
    redirects = [
        a for a in actions if get(a, "type") == "redirect" and get(a, "redirect.protocol") == "HTTPS"
    ]
    if actions and len(redirects) == len(actions):
        return None
    return (
        "the listener serves plain HTTP instead of redirecting to HTTPS, so credentials and session cookies "
        "cross the network unencrypted."
    )


# TLS 1.2+ policies: the TLS13-*, TLS-1-2-* and forward-secrecy FS-1-2-* families.
_MODERN_TLS_MARKERS = ("TLS13-", "TLS-1-2-", "FS-1-2-")


def _listener_tls_policy(resource: Resource) -> str | None:
    if resource.get("protocol") not in {"HTTPS", "TLS"}:
        return None
    # Omitted, AWS applies ELBSecurityPolicy-2016-08, which still accepts TLS 1.0 and 1.1.
    policy = resource.get("sslPolicy", "ELBSecurityPolicy-2016-08")
    if is_unknown(policy) or any(marker in str(policy) for marker in _MODERN_TLS_MARKERS):
        return None
    return (
        f"the HTTPS listener uses TLS policy {policy!r}, which accepts TLS 1.0/1.1; use a TLS 1.2+ policy "
        "such as ELBSecurityPolicy-TLS13-1-2-2021-06 so downgraded, breakable connections are refused."
    )


def _is_http_target_group(resource: Resource) -> bool:
    return resource.get("targetType") != "lambda" and resource.get("protocol", "HTTP") in {"HTTP", "HTTPS"}


def _slow_start_with_least_outstanding(resource: Resource) -> str | None:
    seconds, algorithm = number(resource.get("slowStart")), resource.get("loadBalancingAlgorithmType")
    if not seconds or algorithm != "least_outstanding_requests":
        return None
    return (
        f"the target group sets slowStart={seconds:g} with the least_outstanding_requests algorithm, which "
        "AWS refuses, so the update fails; keep slow start with round_robin, or drop it (slowStart=0)."
    )


RULES: list[Rule] = [
    ResourceRule(
        id="alb-drop-invalid-headers",
        description="Application load balancers drop requests with invalid HTTP header fields.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.LOAD_BALANCER,
        check=only_if(
            _is_alb,
            flag_is(
                "dropInvalidHeaderFields",
                True,
                "the load balancer forwards invalid HTTP header fields to the app, which enables request "
                "smuggling and header injection; set dropInvalidHeaderFields=true.",
                default=False,
            ),
        ),
    ),
    ResourceRule(
        id="alb-access-logs",
        description="Load balancers write access logs to S3.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.LOAD_BALANCER,
        check=first(
            flag_is(
                "accessLogs.enabled",
                True,
                "the load balancer keeps no access logs, so there is no record of who called what during an "
                "incident; enable accessLogs with a bucket.",
                default=False,
            ),
            present(
                "accessLogs.bucket",
                "the load balancer's access logs name no bucket, so no request record is kept.",
            ),
        ),
    ),
    ResourceRule(
        id="alb-deletion-protection",
        description="Production load balancers have deletion protection on.",
        severity=Severity.MEDIUM,
        enforcement=PROD_ONLY,
        types=t.LOAD_BALANCER,
        check=flag_is(
            "enableDeletionProtection",
            True,
            "the load balancer has no deletion protection, so one API call or a mistaken replace takes the "
            "site down; set enableDeletionProtection=true.",
            default=False,
        ),
        fix=stack_key("loadBalancer.deletionProtection"),
    ),
    ResourceRule(
        id="alb-listener-https",
        description="Listeners serve HTTPS, or only redirect HTTP to HTTPS.",
        severity=Severity.HIGH,
        enforcement=STANDARD,
        types=t.LISTENER,
        check=_listener_https,
        fix=stack_key("domain"),
    ),
    ResourceRule(
        id="alb-listener-tls-policy",
        description="HTTPS listeners use a TLS 1.2+ security policy.",
        severity=Severity.HIGH,
        enforcement=STANDARD,
        types=t.LISTENER,
        check=_listener_tls_policy,
    ),
    ResourceRule(
        id="alb-target-group-health-check",
        description="HTTP target groups health-check a path so unhealthy instances are taken out.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.TARGET_GROUP,
        check=only_if(
            _is_http_target_group,
            first(
                flag_is(
                    "healthCheck.enabled",
                    True,
                    "the target group's health check is disabled, so traffic keeps going to broken "
                    "instances.",
                    default=True,
                ),
                present(
                    "healthCheck.path",
                    "the target group has no health-check path, so a running but broken app still gets "
                    "traffic; point healthCheck.path at the app's health endpoint.",
                ),
            ),
        ),
    ),
    ResourceRule(
        id="alb-slow-start-round-robin-only",
        description="A target group can't combine slow start with the least outstanding requests algorithm.",
        severity=Severity.HIGH,
        enforcement=AWS_REQUIRED,
        types=t.TARGET_GROUP,
        check=_slow_start_with_least_outstanding,
        category=Category.AWS,
        source="https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html#slow-start-mode",
    ),
]
