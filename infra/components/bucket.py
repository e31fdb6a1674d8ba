"""An S3 bucket that cannot be made public, refuses plain HTTP and is encrypted and versioned."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import iam

# Extra bucket-policy statements, made from the bucket's ARN once it exists.
StatementsFor = Callable[[pulumi.Output[str]], pulumi.Input[Sequence[iam.Statement]]]


@dataclass(frozen=True)
class SecureBucketArgs:
    expire_after_days: int | None = None
    """Delete objects (and old versions) after this many days; None keeps them."""
    versioning: bool = True
    """Keep old versions, so an overwrite or delete can be undone."""
    noncurrent_expire_after_days: int | None = None
    """Delete an overwritten or deleted version this many days later (default: `expire_after_days`)."""
    kms_key_arn: pulumi.Input[str] | None = None
    """Encrypt with this customer-managed key (SSE-KMS); None uses SSE-S3, the only encryption ALB access
    log delivery supports (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html)."""
    access_log_bucket: pulumi.Input[str] | None = None
    """Name of the bucket S3 server access logs of this bucket go to (under `s3/<name>/`)."""
    force_destroy: bool = False
    """Let `pulumi destroy` delete a bucket that still has objects (logs in non-production stacks)."""


# Parts left behind by an interrupted upload are billed until aborted.
ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS = 7


class SecureBucket(pulumi.ComponentResource):
    """A private bucket: public access blocked, ACLs disabled, encrypted, TLS-only policy, a lifecycle.

    Object ownership is always BucketOwnerEnforced (ACLs disabled): every writer the kit uses (ALB access
    logs, S3 server access logs, CloudFront standard logging v2) works without ACLs. Encryption is SSE-KMS
    when a key is given, else SSE-S3 (log buckets: ALB log delivery supports only SSE-S3).
    """

    bucket: aws.s3.Bucket
    arn: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: SecureBucketArgs,
        policy_statements: StatementsFor | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("scalestack:storage:SecureBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(name, force_destroy=args.force_destroy, opts=child)
        self.arn, self.name = self.bucket.arn, self.bucket.bucket
        block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms" if args.kms_key_arn is not None else "AES256",
                        kms_master_key_id=args.kms_key_arn,
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        if args.versioning:
            aws.s3.BucketVersioning(
                f"{name}-versioning",
                bucket=self.bucket.id,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                opts=child,
            )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle", bucket=self.bucket.id, rules=[_lifecycle_rule(args)], opts=child
        )
        if args.access_log_bucket is not None:
            aws.s3.BucketLogging(
                f"{name}-access-logging",
                bucket=self.bucket.id,
                target_bucket=args.access_log_bucket,
                target_prefix=f"s3/{name}/",
                opts=child,
            )
        extra = policy_statements(self.arn) if policy_statements else []
        statements = pulumi.Output.all(self.arn, extra).apply(
            lambda pair: [iam.deny_insecure_transport(pair[0]), *pair[1]]
        )
        # After the public access block: a policy naming a service principal is judged against it.
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=iam.rendered(statements),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[block]),
        )
        self.register_outputs({"arn": self.arn, "name": self.name})


def _lifecycle_rule(args: SecureBucketArgs) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    """Aborts incomplete multipart uploads always; expires objects and old versions when asked to."""
    noncurrent_days = args.noncurrent_expire_after_days or args.expire_after_days
    return aws.s3.BucketLifecycleConfigurationRuleArgs(
        id="expire",
        status="Enabled",
        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=args.expire_after_days)
        if args.expire_after_days is not None
        else None,
        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
            noncurrent_days=noncurrent_days
        )
        if args.versioning and noncurrent_days is not None
        else None,
        abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
            days_after_initiation=ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS
        ),
    )
