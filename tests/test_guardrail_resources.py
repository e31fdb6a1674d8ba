"""What the shipped stacks build to satisfy the scanner-level guardrails (issue 11), read from their plans."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.planned import Plan, PlannedResource
from tests.conftest import SHIPPED_STACKS, plan_of

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
KEY = "aws:kms/key:Key"


def _of(plan: Plan, type_token: str) -> list[PlannedResource]:
    return [r for r in plan.resources if r.type == type_token]


def _source(plan: Plan, resource: PlannedResource, prop: str) -> PlannedResource:
    by_urn = {r.urn: r for r in plan.resources}
    [urn] = resource.property_dependencies[prop]
    return by_urn[urn]


def _statements(key: PlannedResource) -> list[dict[str, Any]]:
    return list(json.loads(key.inputs["policy"])["Statement"])


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_log_group_is_encrypted_with_a_key_cloudwatch_logs_may_use_for_log_groups_only(
    stack: str,
) -> None:
    _, plan = plan_of(stack)
    groups = _of(plan, LOG_GROUP)
    assert len(groups) >= 5  # flow logs, web, worker, database exports, cache slow log, ...
    for group in groups:
        key = _source(plan, group, "kmsKeyId")
        assert key.type == KEY, group.name
        [logs] = [s for s in _statements(key) if str(s["Principal"].get("Service", "")).startswith("logs.")]
        assert "kms:EncryptionContext:aws:logs:arn" in logs["Condition"]["ArnLike"], key.name
        assert logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"].endswith(":log-group:*")


def test_prod_keeps_a_year_of_logs_and_dev_less() -> None:
    for stack, at_least in (("prod", 365), ("dev", 1)):
        _, plan = plan_of(stack)
        assert min(g.inputs["retentionInDays"] for g in _of(plan, LOG_GROUP)) >= at_least
    _, dev = plan_of("dev")
    assert max(g.inputs["retentionInDays"] for g in _of(dev, LOG_GROUP)) < 365


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_key_has_a_policy_the_account_root_administers(stack: str) -> None:
    _, plan = plan_of(stack)
    for key in _of(plan, KEY):
        roots = [s for s in _statements(key) if str(s["Principal"].get("AWS", "")).endswith(":root")]
        assert roots and roots[0]["Action"] == "kms:*", key.name


def test_settings_are_secure_strings_under_a_key_the_instances_may_decrypt() -> None:
    _, plan = plan_of("prod")
    parameters = _of(plan, "aws:ssm/parameter:Parameter")
    assert parameters and {p.inputs["type"] for p in parameters} == {"SecureString"}
    keys = {_source(plan, p, "keyId").urn for p in parameters}
    assert len(keys) == 1
    # The instances read them `--with-decryption`: their role may decrypt with that key.
    web_access = next(r for r in plan.resources if r.name == "web-access")
    assert keys <= set(web_access.property_dependencies["policy"])
    statements = json.loads(web_access.inputs["policy"])["Statement"]
    assert any(s["Action"] == ["kms:Decrypt"] for s in statements)


def test_buckets_disable_acls_abort_uploads_and_the_static_bucket_is_kms_encrypted_and_logged() -> None:
    _, plan = plan_of("prod")
    buckets = _of(plan, "aws:s3/bucket:Bucket")

    def companion(bucket: PlannedResource, type_token: str) -> PlannedResource:
        [found] = [
            r for r in _of(plan, type_token) if bucket.urn in r.property_dependencies.get("bucket", ())
        ]
        return found

    for bucket in buckets:
        ownership = companion(bucket, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
        assert ownership.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"
        [rule] = companion(bucket, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs[
            "rules"
        ]
        assert rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"] >= 1
    static = next(b for b in buckets if b.name == "cdn-static")
    [encryption] = companion(
        static, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ).inputs["rules"]
    assert encryption["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    key = _source(
        plan,
        companion(
            static, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        ),
        "rules",
    )
    [cloudfront] = [
        s for s in _statements(key) if s["Principal"].get("Service") == "cloudfront.amazonaws.com"
    ]
    assert (
        cloudfront["Action"] == "kms:Decrypt" and "AWS:SourceArn" in cloudfront["Condition"]["StringEquals"]
    )
    lifecycle = companion(static, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert lifecycle.inputs["rules"][0]["noncurrentVersionExpiration"]["noncurrentDays"] >= 1
    logging = companion(static, "aws:s3/bucketLogging:BucketLogging")
    assert _source(plan, logging, "targetBucket").name == "cdn-logs"


def test_cloudfront_logs_through_standard_logging_v2_and_the_waf_logs_to_its_own_group() -> None:
    _, plan = plan_of("prod")
    [distribution] = _of(plan, "aws:cloudfront/distribution:Distribution")
    assert "loggingConfig" not in distribution.inputs
    [source] = _of(plan, "aws:cloudwatch/logDeliverySource:LogDeliverySource")
    assert source.inputs["logType"] == "ACCESS_LOGS" and _source(plan, source, "resourceArn") == distribution
    [destination] = _of(plan, "aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination")
    assert _source(plan, destination, "deliveryDestinationConfiguration").name == "cdn-logs"
    [logging] = _of(plan, "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration")
    [destination_group] = [
        r for r in plan.resources if r.urn in logging.property_dependencies["logDestinationConfigs"]
    ]
    assert destination_group.inputs["name"].startswith("aws-waf-logs-")


def test_every_behavior_sends_the_security_headers() -> None:
    _, plan = plan_of("prod")
    [distribution] = _of(plan, "aws:cloudfront/distribution:Distribution")
    [policy] = _of(plan, "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy")
    headers = policy.inputs["securityHeadersConfig"]
    assert headers["strictTransportSecurity"]["accessControlMaxAgeSec"] >= 31536000
    assert headers["strictTransportSecurity"]["includeSubdomains"] is True
    assert headers["frameOptions"]["frameOption"] == "DENY" and "contentTypeOptions" in headers
    for prop in ("defaultCacheBehavior", "orderedCacheBehaviors"):
        assert policy.urn in distribution.property_dependencies[prop]
