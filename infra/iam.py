"""IAM policy documents as plain JSON, so a plan shows them exactly as AWS will store them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi

Statement = dict[str, Any]


def document(statements: Sequence[Statement]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def allow(actions: Sequence[str], resources: Sequence[str], **extra: Any) -> Statement:
    return {"Effect": "Allow", "Action": list(actions), "Resource": list(resources), **extra}


def assume_role(service: str) -> str:
    return document([{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}])


def deny_insecure_transport(bucket_arn: str) -> Statement:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def rendered(statements: pulumi.Input[Sequence[Statement]]) -> pulumi.Output[str]:
    """A policy document from statements that may hold outputs (ARNs known only after creation)."""
    return pulumi.Output.from_input(statements).apply(document)
