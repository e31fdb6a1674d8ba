"""An S3 bucket that cannot be made public, refuses plain HTTP and is encrypted and versioned."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

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
    object_ownership: Literal["BucketOwnerEnforced", "BucketOwnerPreferred"] = "BucketOwnerEnforced"
    """`BucketOwnerPreferred` only for log writers that still need ACLs (CloudFront standard logs)."""
    force_destroy: bool = False
    """Let `pulumi destroy` delete a bucket that still has objects (logs in non-production stacks)."""


class SecureBucket(pulumi.ComponentResource):
    """A private bucket: public access blocked, SSE-S3 encryption, TLS-only policy, optional expiry.

    SSE-S3 rather than KMS because the services writing here (ALB access logs, CloudFront logs) and
    CloudFront's origin access control read and write SSE-S3 objects without key-policy grants.
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
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership=args.object_ownership),
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
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
        if args.expire_after_days is not None:
            aws.s3.BucketLifecycleConfiguration(
                f"{name}-lifecycle",
                bucket=self.bucket.id,
                rules=[
                    aws.s3.BucketLifecycleConfigurationRuleArgs(
                        id="expire",
                        status="Enabled",
                        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                            days=args.expire_after_days
                        ),
                        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                            noncurrent_days=args.expire_after_days
                        ),
                        abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                            days_after_initiation=7
                        ),
                    )
                ],
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
