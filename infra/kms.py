"""Customer-managed KMS keys: rotated yearly, with a deletion window long enough to notice a mistake."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


def encryption_key(
    name: str,
    description: str,
    parent: pulumi.Resource,
    policy: pulumi.Input[str] | None = None,
    provider: pulumi.ProviderResource | None = None,
) -> aws.kms.Key:
    opts = pulumi.ResourceOptions(parent=parent, provider=provider)
    key = aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=policy,
        opts=opts,
    )
    aws.kms.Alias(
        f"{name}-alias",
        name=f"alias/{pulumi.get_project()}-{pulumi.get_stack()}-{name}",
        target_key_id=key.key_id,
        opts=opts,
    )
    return key
