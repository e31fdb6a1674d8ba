"""CloudFront distributions in front of the ALB and the static bucket."""

from __future__ import annotations

from infra.policies import tokens as t
from infra.policies.model import PROD_ONLY, STANDARD, Resource, ResourceRule, Rule, Severity
from infra.policies.rules._checks import present
from infra.policies.values import flag, get, is_set, is_unknown, items

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
    ),
    ResourceRule(
        id="cloudfront-origin-https",
        description="CloudFront reaches custom origins over HTTPS with TLS 1.2.",
        severity=Severity.HIGH,
        enforcement=STANDARD,
        types=t.DISTRIBUTION,
        check=_origin_https,
    ),
    ResourceRule(
        id="cloudfront-logging",
        description="CloudFront writes standard access logs.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.DISTRIBUTION,
        check=present(
            "loggingConfig.bucket",
            "the distribution keeps no access logs, so abuse and errors at the edge leave no trace; set "
            "loggingConfig with a log bucket.",
        ),
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
    ),
    ResourceRule(
        id="cloudfront-no-legacy-oai",
        description="S3 origins use origin access control, not a legacy origin access identity.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.DISTRIBUTION + t.ORIGIN_ACCESS_IDENTITY,
        check=_no_origin_access_identity,
    ),
]
