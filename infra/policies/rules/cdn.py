"""CloudFront distributions in front of the ALB and the static bucket."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from infra.policies import tokens as t
from infra.policies.model import (
    PROD_ONLY,
    STANDARD,
    Finding,
    Resource,
    ResourceRule,
    Rule,
    Severity,
    Stack,
    StackRule,
    stack_key,
)
from infra.policies.rules._checks import present
from infra.policies.values import flag, get, is_set, is_unknown, items, number

_SECURE_VIEWER = {"redirect-to-https", "https-only"}
_WEAK_ORIGIN_PROTOCOLS = {"SSLv3", "TLSv1", "TLSv1.1"}


def _viewer_https(resource: Resource) -> str | None:
    behaviors = [resource.get("defaultCacheBehavior")] + (items(resource.get("orderedCacheBehaviors")) or [])
    for behavior in behaviors:
        policy = get(behavior, "viewerProtocolPolicy")
        if policy is not None and not is_unknown(policy) and policy not in _SECURE_VIEWER:
            where = get(behavior, "pathPattern", "the default behavior")
            return (
                f"{where} serves viewers over HTTP (viewerProtocolPolicy={policy!r}), so pages and cookies "
                "can be read or altered in transit; use 'redirect-to-https'."
            )
    return None


def _minimum_tls(resource: Resource) -> str | None:
    certificate = resource.get("viewerCertificate")
    if is_unknown(certificate):
        return None
    custom = is_set(get(certificate, "acmCertificateArn")) or is_set(get(certificate, "iamCertificateId"))
    if not custom or flag(get(certificate, "cloudfrontDefaultCertificate")) is True:
        return (
            "the distribution uses the default *.cloudfront.net certificate, which always accepts TLS 1.0; "
            "serve a custom domain with an ACM certificate and minimumProtocolVersion TLSv1.2_2021."
        )
    version = get(certificate, "minimumProtocolVersion", "TLSv1")
    if is_unknown(version) or str(version).startswith(("TLSv1.2", "TLSv1.3")):
        return None
    return (
        f"viewers may connect with {version}, below TLS 1.2, so weak ciphers allow downgrade attacks; "
        "set minimumProtocolVersion to TLSv1.2_2021."
    )


def _origin_https(resource: Resource) -> str | None:
    for origin in items(resource.get("origins")) or []:
        config = get(origin, "customOriginConfig")
        if config is None or is_unknown(config):
            continue
        origin_id = get(origin, "originId", "an origin")
        policy = get(config, "originProtocolPolicy")
        if policy is not None and not is_unknown(policy) and policy != "https-only":
            return (
                f"CloudFront reaches origin {origin_id} with originProtocolPolicy {policy!r}, so traffic "
                "between the edge and the app can be read in transit; use 'https-only'."
            )
        weak = sorted(_WEAK_ORIGIN_PROTOCOLS.intersection(items(get(config, "originSslProtocols")) or []))
        if weak:
            return (
                f"CloudFront may reach origin {origin_id} with {', '.join(weak)}, so the edge-to-app hop "
                "can be downgraded to a broken protocol; set originSslProtocols to ['TLSv1.2']."
            )
    return None


def _no_origin_access_identity(resource: Resource) -> str | None:
    if resource.type in t.ORIGIN_ACCESS_IDENTITY:
        return (
            "a legacy origin access identity is created; it can't sign requests for SSE-KMS objects or newer "
            "regions, so use an origin access control instead."
        )
    for origin in items(resource.get("origins")) or []:
        if is_set(get(origin, "s3OriginConfig.originAccessIdentity")):
            return (
                f"origin {get(origin, 'originId', '')} reads the bucket through a legacy origin access "
                "identity; use originAccessControlId (OAC), which signs every request and supports SSE-KMS."
            )
    return None


def _logged(stack: Stack) -> Iterator[Finding]:
    """Standard logging (legacy `loggingConfig`) or v2: a delivery source on the distribution, delivered."""
    delivered = {
        urn
        for delivery in stack.of_type(*t.LOG_DELIVERY)
        for source in stack.sources(delivery, "deliverySourceName", *t.LOG_DELIVERY_SOURCE)
        for urn in source.deps.get("resourceArn", ())
    }
    for distribution in stack.of_type(*t.DISTRIBUTION):
        if distribution.urn not in delivered and not is_set(distribution.get("loggingConfig.bucket")):
            yield Finding(
                distribution,
                "the distribution keeps no access logs, so abuse and errors at the edge leave no trace; "
                "deliver its ACCESS_LOGS with a LogDeliverySource, LogDeliveryDestination and LogDelivery "
                "(standard logging v2).",
            )


HSTS_MINIMUM_SECONDS = 31536000
"""One year: the minimum the HSTS preload list and most scanners accept."""


def _header_gaps(policy: Resource) -> list[str]:
    config = policy.get("securityHeadersConfig")
    if is_unknown(config):
        return []
    hsts: Mapping[str, Any] = get(config, "strictTransportSecurity") or {}
    max_age = number(get(hsts, "accessControlMaxAgeSec"))
    gaps = []
    if not hsts or (max_age is not None and max_age < HSTS_MINIMUM_SECONDS):
        gaps.append(f"Strict-Transport-Security for at least {HSTS_MINIMUM_SECONDS} s")
    if hsts and flag(get(hsts, "includeSubdomains")) is not True:
        gaps.append("HSTS includeSubDomains")
    for header, path in (
        ("X-Content-Type-Options: nosniff", "contentTypeOptions"),
        ("X-Frame-Options", "frameOptions.frameOption"),
        ("Referrer-Policy", "referrerPolicy.referrerPolicy"),
    ):
        if not is_set(get(config, path)):
            gaps.append(header)
    return gaps


def _security_headers(stack: Stack) -> Iterator[Finding]:
    """Every behavior answers with a response headers policy from the plan that sets all four headers."""
    for distribution in stack.of_type(*t.DISTRIBUTION):
        behaviors = [distribution.get("defaultCacheBehavior")] + (
            items(distribution.get("orderedCacheBehaviors")) or []
        )
        if any(is_set(b) and not is_set(get(b, "responseHeadersPolicyId")) for b in behaviors):
            yield Finding(
                distribution,
                "a cache behavior sets no response headers policy, so browsers get no HSTS, nosniff, frame "
                "or referrer policy and the app is open to downgrade, MIME sniffing and clickjacking; set "
                "responseHeadersPolicyId on every behavior.",
            )
            continue
        props = ("defaultCacheBehavior", "orderedCacheBehaviors")
        policies = [
            p for prop in props for p in stack.sources(distribution, prop, *t.RESPONSE_HEADERS_POLICY)
        ]
        if not policies and not any(is_unknown(get(b, "responseHeadersPolicyId")) for b in behaviors):
            yield Finding(
                distribution,
                "the behaviors use response headers policies the plan doesn't define, so which headers "
                "browsers get can't be shown; define an aws.cloudfront.ResponseHeadersPolicy.",
            )
        for policy in policies:
            gaps = _header_gaps(policy)
            if gaps:
                yield Finding(
                    distribution,
                    f"response headers policy {policy.name} lacks {', '.join(gaps)}, so browsers may be "
                    "downgraded to HTTP, sniff content types or frame the app; add them with override=true.",
                )


def _waf_logged(stack: Stack) -> Iterator[Finding]:
    logged = {
        urn for config in stack.of_type(*t.WEB_ACL_LOGGING) for urn in config.deps.get("resourceArn", ())
    }
    for acl in stack.of_type(*t.WEB_ACL):
        if acl.urn not in logged:
            yield Finding(
                acl,
                "the web ACL keeps no log of the requests it blocks or allows, so an attack or a false "
                "positive can't be investigated; add a WebAclLoggingConfiguration to an aws-waf-logs- "
                "log group.",
            )


KNOWN_BAD_INPUTS = "AWSManagedRulesKnownBadInputsRuleSet"
"""Blocks request patterns of known exploits, Log4j (CVE-2021-44228) among them
(https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-baseline.html)."""


def _known_bad_inputs(resource: Resource) -> str | None:
    rules = items(resource.get("rules"))
    if rules is None or any(is_unknown(get(r, "statement")) for r in rules):
        return None
    names = {get(r, "statement.managedRuleGroupStatement.name") for r in rules}
    if KNOWN_BAD_INPUTS in names:
        return None
    return (
        f"the web ACL doesn't use the AWS managed {KNOWN_BAD_INPUTS}, so known exploit payloads such as "
        "Log4Shell (CVE-2021-44228) reach the app; add it as a managed rule group statement."
    )


RULES: list[Rule] = [
    ResourceRule(
        id="cloudfront-https-only",
        description="CloudFront serves viewers over HTTPS only (HTTP redirects).",
        severity=Severity.HIGH,
        enforcement=STANDARD,
        types=t.DISTRIBUTION,
        check=_viewer_https,
    ),
    ResourceRule(
        id="cloudfront-minimum-tls",
        description="CloudFront uses a custom certificate with a TLS 1.2+ minimum protocol.",
        severity=Severity.HIGH,
        enforcement=STANDARD,
        types=t.DISTRIBUTION,
        check=_minimum_tls,
        fix=stack_key("domain"),
    ),
    ResourceRule(
        id="cloudfront-origin-https",
        description="CloudFront reaches custom origins over HTTPS with TLS 1.2.",
        severity=Severity.HIGH,
        enforcement=STANDARD,
        types=t.DISTRIBUTION,
        check=_origin_https,
        fix=stack_key("domain"),
    ),
    StackRule(
        id="cloudfront-logging",
        description="CloudFront writes access logs (standard logging v2 to S3, or legacy standard logging).",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.DISTRIBUTION,
        check=_logged,
        fix=stack_key("cdn.accessLogs"),
    ),
    ResourceRule(
        id="cloudfront-waf",
        description="Production distributions are protected by a WAF web ACL.",
        severity=Severity.MEDIUM,
        enforcement=PROD_ONLY,
        types=t.DISTRIBUTION,
        check=present(
            "webAclId",
            "the production distribution has no WAF web ACL, so common exploits and floods reach the app "
            "unfiltered; set webAclId.",
        ),
        fix=stack_key("cdn.webAcl"),
    ),
    ResourceRule(
        id="cloudfront-no-legacy-oai",
        description="S3 origins use origin access control, not a legacy origin access identity.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.DISTRIBUTION + t.ORIGIN_ACCESS_IDENTITY,
        check=_no_origin_access_identity,
    ),
    StackRule(
        id="cloudfront-security-headers",
        description=(
            "CloudFront behaviors send HSTS (1 year+, includeSubDomains), nosniff, frame options and a "
            "referrer policy."
        ),
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.DISTRIBUTION + t.RESPONSE_HEADERS_POLICY,
        check=_security_headers,
    ),
    StackRule(
        id="waf-logging",
        description="Every WAF web ACL logs the requests it inspects.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.WEB_ACL + t.WEB_ACL_LOGGING,
        check=_waf_logged,
    ),
    ResourceRule(
        id="waf-known-bad-inputs",
        description="Every WAF web ACL uses the AWS managed Known Bad Inputs rule group (Log4j and similar).",
        severity=Severity.HIGH,
        enforcement=STANDARD,
        types=t.WEB_ACL,
        check=_known_bad_inputs,
    ),
]
