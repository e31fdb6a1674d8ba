"""The image registry: one ECR repository per stack."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class RegistryArgs:
    repository_name: str
    force_delete: bool
    """Let `pulumi destroy` delete the repository with its images (non-production stacks)."""
    keep_tagged_images: int = 50
    """Tagged images kept for rollback; older ones expire."""
    untagged_expire_days: int = 7


class Registry(pulumi.ComponentResource):
    """An ECR repository that scans on push, never lets a tag move, and expires what no deploy can use."""

    repository_url: pulumi.Output[str]
    repository_arn: pulumi.Output[str]
    repository_name: pulumi.Output[str]

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("scalestack:registry:Registry", name, None, opts)
        repository = aws.ecr.Repository(
            name,
            name=args.repository_name,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS")],
            force_delete=args.force_delete,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=repository.name,
            policy=json.dumps({"rules": _lifecycle_rules(args)}),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.repository_url = repository.repository_url
        self.repository_arn = repository.arn
        self.repository_name = repository.name
        self.register_outputs({"repositoryUrl": self.repository_url})


def _lifecycle_rules(args: RegistryArgs) -> list[dict[str, object]]:
    return [
        {
            "rulePriority": 1,
            "description": "Expire untagged layers left by failed or superseded builds",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": args.untagged_expire_days,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": "Keep the newest tagged images for rollback",
            "selection": {
                "tagStatus": "any",
                "countType": "imageCountMoreThan",
                "countNumber": args.keep_tagged_images,
            },
            "action": {"type": "expire"},
        },
    ]
