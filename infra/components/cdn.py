"""CloudFront: the app's only front door, with static assets from S3 and the rest from the load balancer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from infra import iam
from infra.components.bucket import SecureBucket, SecureBucketArgs
from infra.kms import account_administers, encryption_key, logs_key

# AWS-managed policies (fixed IDs, the same in every account).
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
USE_ORIGIN_CACHE_CONTROL_WITH_QUERY_STRINGS = "4cc15a8a-d715-48a4-82b8-cc0b614638fe"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
MINIMUM_VIEWER_TLS = "TLSv1.2_2021"
STATIC_OLD_VERSIONS_DAYS = 30
"""How long an overwritten or deleted asset stays restorable."""
HSTS_MAX_AGE_SECONDS = 63072000
"""Two years: browsers keep using HTTPS for the domain and its subdomains that long after a visit."""
STANDARD_LOGGING_V2 = (
    "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/standard-logging.html"
)
VENDED_LOGS_TO_S3 = (
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/AWS-logs-infrastructure-V2-S3.html"
)
OAC_SSE_KMS = "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-s3.html"
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
    """In us-east-1, naming `name` and every host of `host_names`."""
    host_names: tuple[str, ...]
    """The hosts web services route on besides `name` (infra/hosts.py): each an alias of the distribution
    with its own A/AAAA alias records, or viewers for it never reach CloudFront."""

    @property
    def aliases(self) -> list[str]:
        return [self.name, *self.host_names]


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
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        logs = self._log_bucket(name, args, account) if args.access_logs else None
        static_key = encryption_key(
            f"{name}-static-key",
            "Static assets served through CloudFront",
            self,
            policy=pulumi.Output.all(account, distribution_arn).apply(
                lambda v: iam.document([account_administers(v[0]), _cloudfront_decrypts(v[1])])
            ),
        )
        static = SecureBucket(
            f"{name}-static",
            SecureBucketArgs(
                force_destroy=args.destroy_buckets_with_stack,
                kms_key_arn=static_key.arn,
                noncurrent_expire_after_days=STATIC_OLD_VERSIONS_DAYS,
                access_log_bucket=logs.name if logs else None,
            ),
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
        acl = self._web_acl(name, args) if args.web_acl else None
        headers = self._security_headers(name)
        distribution = aws.cloudfront.Distribution(
            name,
            enabled=True,
            is_ipv6_enabled=True,
            http_version="http2and3",
            price_class=args.price_class,
            comment=f"{pulumi.get_project()}-{pulumi.get_stack()}",
            aliases=args.domain.aliases if args.domain else [],
            origins=[self._app_origin(args), self._static_origin(static, access)],
            default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id="app",
                viewer_protocol_policy="redirect-to-https",
                allowed_methods=["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
                cached_methods=["GET", "HEAD"],
                cache_policy_id=USE_ORIGIN_CACHE_CONTROL_WITH_QUERY_STRINGS,
                origin_request_policy_id=ALL_VIEWER_EXCEPT_HOST_HEADER,
                response_headers_policy_id=headers.id,
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
                    response_headers_policy_id=headers.id,
                    compress=True,
                )
            ],
            viewer_certificate=self._viewer_certificate(args.domain),
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(
                    restriction_type="none"
                )
            ),
            web_acl_id=acl.arn if acl else None,
            opts=child,
        )
        resolve_distribution_arn(distribution.arn)
        self.distribution = distribution
        if logs:
            self._standard_logging(name, args, distribution, logs)
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
        acl = aws.wafv2.WebAcl(
            f"{name}-waf",
            scope="CLOUDFRONT",
            default_action=aws.wafv2.WebAclDefaultActionArgs(allow=aws.wafv2.WebAclDefaultActionAllowArgs()),
            rules=[*managed, rate_limit],
            visibility_config=aws.wafv2.WebAclVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True, metric_name=f"{name}-waf", sampled_requests_enabled=True
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=args.edge_provider),
        )
        self._waf_logging(name, args, acl)
        return acl

    def _waf_logging(self, name: str, args: CdnArgs, acl: aws.wafv2.WebAcl) -> None:
        """Every request the web ACL judges, logged to an encrypted log group beside it in us-east-1.

        WAF requires the group's name to start with `aws-waf-logs-` and adds the log group resource policy
        for its log delivery itself when the deploying principal may call logs:PutResourcePolicy
        (https://docs.aws.amazon.com/waf/latest/developerguide/logging-cw-logs.html).
        """
        edge = pulumi.ResourceOptions(parent=self, provider=args.edge_provider)
        key = logs_key(f"{name}-edge-logs-key", self, args.edge_provider)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-waf-logs",
            name=f"aws-waf-logs-{pulumi.get_project()}-{pulumi.get_stack()}",
            retention_in_days=args.log_retention_days,
            kms_key_id=key.arn,
            opts=edge,
        )
        aws.wafv2.WebAclLoggingConfiguration(
            f"{name}-waf-logging", resource_arn=acl.arn, log_destination_configs=[log_group.arn], opts=edge
        )

    def _security_headers(self, name: str) -> aws.cloudfront.ResponseHeadersPolicy:
        """HSTS, nosniff, frame and referrer policy on every response, whatever the origin sends.

        https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/understanding-response-headers-policies.html
        """
        security = aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigArgs(
            strict_transport_security=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigStrictTransportSecurityArgs(
                access_control_max_age_sec=HSTS_MAX_AGE_SECONDS, include_subdomains=True, override=True
            ),
            content_type_options=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigContentTypeOptionsArgs(
                override=True
            ),
            frame_options=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigFrameOptionsArgs(
                frame_option="DENY", override=True
            ),
            referrer_policy=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigReferrerPolicyArgs(
                referrer_policy="strict-origin-when-cross-origin", override=True
            ),
        )
        return aws.cloudfront.ResponseHeadersPolicy(
            f"{name}-security-headers",
            # Names are unique per account, across stacks.
            name=f"{pulumi.get_project()}-{pulumi.get_stack()}-security-headers",
            security_headers_config=security,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _log_bucket(self, name: str, args: CdnArgs, account: pulumi.Output[str]) -> SecureBucket:
        """CloudFront's access logs (standard logging v2) and the static bucket's S3 access logs; no ACLs."""
        return SecureBucket(
            f"{name}-logs",
            SecureBucketArgs(
                expire_after_days=args.log_retention_days,
                versioning=False,
                force_destroy=args.destroy_buckets_with_stack,
            ),
            policy_statements=lambda bucket_arn: pulumi.Output.all(bucket_arn, account).apply(
                lambda v: _log_writers(v[0], v[1])
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _standard_logging(
        self, name: str, args: CdnArgs, distribution: aws.cloudfront.Distribution, logs: SecureBucket
    ) -> None:
        """Access logs by CloudWatch Logs vended delivery to S3, set up in us-east-1 (STANDARD_LOGGING_V2)."""
        edge = pulumi.ResourceOptions(parent=self, provider=args.edge_provider)
        source = aws.cloudwatch.LogDeliverySource(
            f"{name}-access-logs",
            name=f"{pulumi.get_project()}-{pulumi.get_stack()}-cdn",
            log_type="ACCESS_LOGS",
            resource_arn=distribution.arn,
            opts=edge,
        )
        destination = aws.cloudwatch.LogDeliveryDestination(
            f"{name}-access-logs-bucket",
            name=f"{pulumi.get_project()}-{pulumi.get_stack()}-cdn-logs",
            output_format="parquet",
            delivery_destination_configuration=aws.cloudwatch.LogDeliveryDestinationDeliveryDestinationConfigurationArgs(
                destination_resource_arn=logs.arn
            ),
            opts=edge,
        )
        aws.cloudwatch.LogDelivery(
            f"{name}-access-logs-delivery",
            delivery_source_name=source.name,
            delivery_destination_arn=destination.arn,
            opts=edge,
        )

    def _records(
        self, name: str, domain: CustomDomain, origin: AppOrigin, distribution: aws.cloudfront.Distribution
    ) -> None:
        # Each host a service routes on points at the distribution like the domain itself; a record's
        # resource name carries its host, so adding a host never renames another's record.
        hosted = [
            (
                f"host-{host.replace('*', 'wildcard')}",
                host,
                distribution.domain_name,
                distribution.hosted_zone_id,
            )
            for host in domain.host_names
        ]
        targets = [
            ("app", domain.name, distribution.domain_name, distribution.hosted_zone_id, ("A", "AAAA")),
            *((label, host, target, zone, ("A", "AAAA")) for label, host, target, zone in hosted),
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


def _cloudfront_decrypts(distribution_arn: str) -> dict[str, object]:
    """Only this distribution, reading through OAC, may decrypt the assets (OAC_SSE_KMS, "SSE-KMS")."""
    return {
        "Sid": "CloudFrontDecryptsAssets",
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}},
    }


def _log_writers(bucket_arn: str, account_id: str) -> list[dict[str, object]]:
    """The two services writing to the log bucket, each limited to its prefix and this account.

    CloudWatch Logs delivers CloudFront's logs under AWSLogs/<account>/ (VENDED_LOGS_TO_S3); S3 writes
    server access logs as logging.s3.amazonaws.com
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html).
    """
    return [
        {
            "Sid": "CloudFrontStandardLogsV2",
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/AWSLogs/{account_id}/*",
            "Condition": {
                "StringEquals": {
                    "s3:x-amz-acl": "bucket-owner-full-control",
                    "aws:SourceAccount": account_id,
                },
                "ArnLike": {"aws:SourceArn": f"arn:aws:logs:us-east-1:{account_id}:delivery-source:*"},
            },
        },
        {
            "Sid": "S3ServerAccessLogs",
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/s3/*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        },
    ]
