"""Customer-managed KMS keys: rotated yearly, with a deletion window long enough to notice a mistake.

Every key carries an explicit key policy: the account root administers it (which also lets IAM policies
in the account grant its use, https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html),
and each AWS service that must use it on the kit's behalf gets only the actions it needs, scoped by a
condition (`service_statements`). Services acting for a principal (RDS, ElastiCache, Secrets Manager,
SSM, S3 for the uploader) are authorised through that principal's IAM policy, not the key policy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pulumi
import pulumi_aws as aws

from infra import iam

# What a service may do with a key, given the account id and the region the key lives in.
ServiceStatements = Callable[[str, str], Sequence[iam.Statement]]

LOGS_KMS_DOC = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html"
LOGS_ENCRYPTION_CONTEXT = "kms:EncryptionContext:aws:logs:arn"


def encryption_key(
    name: str,
    description: str,
    parent: pulumi.Resource | None,
    policy: pulumi.Input[str] | None = None,
    provider: pulumi.ProviderResource | None = None,
    services: ServiceStatements | None = None,
) -> aws.kms.Key:
    """A key whose policy is `policy`, or else the account root plus the `services` statements."""
    opts = pulumi.ResourceOptions(parent=parent, provider=provider)
    key = aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=policy if policy is not None else key_policy(parent, provider, services),
        opts=opts,
    )
    aws.kms.Alias(
        f"{name}-alias",
        name=f"alias/{pulumi.get_project()}-{pulumi.get_stack()}-{name}",
        target_key_id=key.key_id,
        opts=opts,
    )
    return key


def key_policy(
    parent: pulumi.Resource | None,
    provider: pulumi.ProviderResource | None,
    services: ServiceStatements | None = None,
) -> pulumi.Output[str]:
    """The account root administers the key; `services` adds what each service principal needs."""
    invoke = pulumi.InvokeOutputOptions(parent=parent, provider=provider)
    account = aws.get_caller_identity_output(opts=invoke).account_id
    region = aws.get_region_output(opts=invoke).region
    return pulumi.Output.all(account, region).apply(
        lambda v: iam.document([account_administers(v[0]), *(services(v[0], v[1]) if services else [])])
    )


def account_administers(account_id: str) -> iam.Statement:
    return {
        "Sid": "AccountAdministers",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


def cloudwatch_logs_may_encrypt(account_id: str, region: str) -> list[iam.Statement]:
    """CloudWatch Logs of this region may use the key only for this account's log groups (LOGS_KMS_DOC)."""
    return [
        {
            "Sid": "CloudWatchLogsEncryptsLogGroups",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": [
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            "Resource": "*",
            "Condition": {
                "ArnLike": {LOGS_ENCRYPTION_CONTEXT: f"arn:aws:logs:{region}:{account_id}:log-group:*"}
            },
        }
    ]


def logs_key(
    name: str, parent: pulumi.Resource | None, provider: pulumi.ProviderResource | None
) -> aws.kms.Key:
    """One key per stack and region for every CloudWatch log group the kit creates."""
    return encryption_key(
        name, "CloudWatch log groups", parent, provider=provider, services=cloudwatch_logs_may_encrypt
    )
