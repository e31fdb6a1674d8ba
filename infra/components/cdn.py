"""CloudFront: the app's only front door, with static assets from S3 and the rest from the load balancer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from infra.components.bucket import SecureBucket, SecureBucketArgs

# AWS-managed policies (fixed IDs, the same in every account).
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
USE_ORIGIN_CACHE_CONTROL_WITH_QUERY_STRINGS = "4cc15a8a-d715-48a4-82b8-cc0b614638fe"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
SECURITY_HEADERS = "67f7725c-6f97-4210-82d7-5512b31e9d03"
MINIMUM_VIEWER_TLS = "TLSv1.2_2021"
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)


@dataclass(frozen=True)
class AppOrigin:
    """The load balancer as CloudFront sees it."""

    domain_name: pulumi.Input[str]
    protocol: Literal["http", "https"]
    header_name: str
    secret: pulumi.Input[str]
    load_balancer_dns_name: pulumi.Input[str]
    load_balancer_zone_id: pulumi.Input[str]


@dataclass(frozen=True)
class CustomDomain:
    name: str
    origin_name: str
    hosted_zone_id: str
    certificate_arn: pulumi.Input[str]
    """In us-east-1."""


@dataclass(frozen=True)
class CdnArgs:
    origin: AppOrigin
    edge_provider: pulumi.ProviderResource
    """A provider in us-east-1, where CloudFront's WAF web ACLs live."""
    domain: CustomDomain | None
    price_class: str
    web_acl: bool
    """A WAF web ACL with AWS managed rule groups and a per-IP rate limit."""
    access_logs: bool
    log_retention_days: int
    destroy_buckets_with_stack: bool
    rate_limit_per_5_minutes: int = 2000
    static_path: str = "/static/*"


class Cdn(pulumi.ComponentResource):
    """A distribution that redirects HTTP to HTTPS, serves HTTP/2 and HTTP/3, and signs its origin requests.

    Requests to `/static/*` go to a private S3 bucket through Origin Access Control and are cached for
    long (content-hashed names); everything else goes to the load balancer with the secret origin header,
    cached only as the app's own Cache-Control says.
    """

    distribution: aws.cloudfront.Distribution
    static_bucket: SecureBucket
    distribution_id: pulumi.Output[str]
    domain_name: pulumi.Output[str]
    url: pulumi.Output[str]
    static_bucket_name: pulumi.Output[str]

    def __init__(self, name: str, args: CdnArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("scalestack:edge:Cdn", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        distribution_arn: pulumi.Output[str]
        resolve_distribution_arn: Callable[[pulumi.Output[str]], None]
        distribution_arn, resolve_distribution_arn = pulumi.deferred_output()
        static = SecureBucket(
            f"{name}-static",
            SecureBucketArgs(force_destroy=args.destroy_buckets_with_stack),
            policy_statements=lambda bucket_arn: pulumi.Output.all(bucket_arn, distribution_arn).apply(
                lambda v: [_cloudfront_read(v[0], v[1])]
            ),
            opts=child,
        )
        self.static_bucket, self.static_bucket_name = static, static.name
        access = aws.cloudfront.OriginAccessControl(
            f"{name}-oac",
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            opts=child,
        )
        logs = (
            SecureBucket(
                f"{name}-logs",
                SecureBucketArgs(
                    expire_after_days=args.log_retention_days,
                    versioning=False,
                    object_ownership="BucketOwnerPreferred",
                    force_destroy=args.destroy_buckets_with_stack,
                ),
                opts=child,
            )
            if args.access_logs
            else None
        )
        acl = self._web_acl(name, args) if args.web_acl else None
        distribution = aws.cloudfront.Distribution(
            name,
            enabled=True,
            is_ipv6_enabled=True,
            http_version="http2and3",
            price_class=args.price_class,
            comment=f"{pulumi.get_project()}-{pulumi.get_stack()}",
            aliases=[args.domain.name] if args.domain else [],
            origins=[self._app_origin(args), self._static_origin(static, access)],
            default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id="app",
                viewer_protocol_policy="redirect-to-https",
                allowed_methods=["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
                cached_methods=["GET", "HEAD"],
                cache_policy_id=USE_ORIGIN_CACHE_CONTROL_WITH_QUERY_STRINGS,
                origin_request_policy_id=ALL_VIEWER_EXCEPT_HOST_HEADER,
                response_headers_policy_id=SECURITY_HEADERS,
                compress=True,
            ),
            ordered_cache_behaviors=[
                aws.cloudfront.DistributionOrderedCacheBehaviorArgs(
                    path_pattern=args.static_path,
                    target_origin_id="static",
                    viewer_protocol_policy="redirect-to-https",
                    allowed_methods=["GET", "HEAD"],
                    cached_methods=["GET", "HEAD"],
                    cache_policy_id=CACHING_OPTIMIZED,
                    response_headers_policy_id=SECURITY_HEADERS,
                    compress=True,
                )
            ],
            viewer_certificate=self._viewer_certificate(args.domain),
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(
                    restriction_type="none"
                )
            ),
            logging_config=aws.cloudfront.DistributionLoggingConfigArgs(
                bucket=logs.bucket.bucket_domain_name, include_cookies=False, prefix="cloudfront/"
            )
            if logs
            else None,
            web_acl_id=acl.arn if acl else None,
            opts=child,
        )
        resolve_distribution_arn(distribution.arn)
        self.distribution = distribution
        self.distribution_id = distribution.id
        self.domain_name = distribution.domain_name
        self.url = pulumi.Output.concat(
            "https://", args.domain.name if args.domain else distribution.domain_name
        )
        if args.domain:
            self._records(name, args.domain, args.origin, distribution)
        self.register_outputs({"distributionId": self.distribution_id, "url": self.url})

    def _app_origin(self, args: CdnArgs) -> aws.cloudfront.DistributionOriginArgs:
        origin = args.origin
        return aws.cloudfront.DistributionOriginArgs(
            origin_id="app",
            domain_name=args.domain.origin_name if args.domain else origin.domain_name,
            custom_origin_config=aws.cloudfront.DistributionOriginCustomOriginConfigArgs(
                origin_protocol_policy=f"{origin.protocol}-only",
                http_port=80,
                https_port=443,
                origin_ssl_protocols=["TLSv1.2"],
                origin_keepalive_timeout=30,
                origin_read_timeout=30,
            ),
            custom_headers=[
                aws.cloudfront.DistributionOriginCustomHeaderArgs(
                    name=origin.header_name, value=origin.secret
                )
            ],
        )

    def _static_origin(
        self, static: SecureBucket, access: aws.cloudfront.OriginAccessControl
    ) -> aws.cloudfront.DistributionOriginArgs:
        return aws.cloudfront.DistributionOriginArgs(
            origin_id="static",
            domain_name=static.bucket.bucket_regional_domain_name,
            origin_access_control_id=access.id,
        )

    def _viewer_certificate(
        self, domain: CustomDomain | None
    ) -> aws.cloudfront.DistributionViewerCertificateArgs:
        if domain is None:
            return aws.cloudfront.DistributionViewerCertificateArgs(cloudfront_default_certificate=True)
        return aws.cloudfront.DistributionViewerCertificateArgs(
            acm_certificate_arn=domain.certificate_arn,
            ssl_support_method="sni-only",
            minimum_protocol_version=MINIMUM_VIEWER_TLS,
        )

    def _web_acl(self, name: str, args: CdnArgs) -> aws.wafv2.WebAcl:
        def visibility(metric: str) -> aws.wafv2.WebAclRuleVisibilityConfigArgs:
            return aws.wafv2.WebAclRuleVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
            )

        managed = [
            aws.wafv2.WebAclRuleArgs(
                name=group,
                priority=i,
                override_action=aws.wafv2.WebAclRuleOverrideActionArgs(
                    none=aws.wafv2.WebAclRuleOverrideActionNoneArgs()
                ),
                statement=aws.wafv2.WebAclRuleStatementArgs(
                    managed_rule_group_statement=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs(
                        vendor_name="AWS", name=group
                    )
                ),
                visibility_config=visibility(group),
            )
            for i, group in enumerate(MANAGED_RULE_GROUPS)
        ]
        rate_limit = aws.wafv2.WebAclRuleArgs(
            name="rate-limit-per-ip",
            priority=len(managed),
            action=aws.wafv2.WebAclRuleActionArgs(block=aws.wafv2.WebAclRuleActionBlockArgs()),
            statement=aws.wafv2.WebAclRuleStatementArgs(
                rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
                    limit=args.rate_limit_per_5_minutes, aggregate_key_type="IP"
                )
            ),
            visibility_config=visibility("rate-limit-per-ip"),
        )
        return aws.wafv2.WebAcl(
            f"{name}-waf",
            scope="CLOUDFRONT",
            default_action=aws.wafv2.WebAclDefaultActionArgs(allow=aws.wafv2.WebAclDefaultActionAllowArgs()),
            rules=[*managed, rate_limit],
            visibility_config=aws.wafv2.WebAclVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True, metric_name=f"{name}-waf", sampled_requests_enabled=True
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=args.edge_provider),
        )

    def _records(
        self, name: str, domain: CustomDomain, origin: AppOrigin, distribution: aws.cloudfront.Distribution
    ) -> None:
        targets = [
            ("app", domain.name, distribution.domain_name, distribution.hosted_zone_id, ("A", "AAAA")),
            (
                "origin",
                domain.origin_name,
                origin.load_balancer_dns_name,
                origin.load_balancer_zone_id,
                ("A",),
            ),
        ]
        for label, record_name, target, zone, kinds in targets:
            for kind in kinds:
                aws.route53.Record(
                    f"{name}-{label}-{kind.lower()}",
                    zone_id=domain.hosted_zone_id,
                    name=record_name,
                    type=kind,
                    aliases=[
                        aws.route53.RecordAliasArgs(name=target, zone_id=zone, evaluate_target_health=False)
                    ],
                    opts=pulumi.ResourceOptions(parent=self),
                )


def _cloudfront_read(bucket_arn: str, distribution_arn: str) -> dict[str, object]:
    """Only this distribution, signing through Origin Access Control, may read the assets."""
    return {
        "Sid": "CloudFrontReadsAssets",
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject",
        "Resource": f"{bucket_arn}/*",
        "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}},
    }
