"""checkov on every shipped stack's Terraform export: exactly the reviewed findings, and planted weaknesses
found (so the export carries what a scanner reads: encryption settings, key references, open ingress).

checkov runs once per session over all exports (it takes seconds to start); it lives in its own
virtualenv (requirements-scan.txt, made by `make test`; SCALESTACK_CHECKOV names another checkov).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.planned import Plan, PlannedResource
from infra.terraform_export import export
from tests.checkov_expected import EXPECTED, REASONS
from tests.conftest import SHIPPED_STACKS, plan_of

REPO = Path(__file__).resolve().parents[1]
CHECKOV = Path(os.environ.get("SCALESTACK_CHECKOV", REPO / ".venv-scan" / "bin" / "checkov"))
PLANTED = "planted"


@dataclass(frozen=True)
class Scan:
    failed: frozenset[tuple[str, str, str]]  # (stack, check id, Terraform address)
    passed: frozenset[tuple[str, str, str]]

    def failed_ids(self, stack: str) -> set[str]:
        return {check for s, check, _ in self.failed if s == stack}


def _planted_resource(type_token: str, name: str, inputs: dict[str, Any], **deps: str) -> PlannedResource:
    """A resource added to a plan by hand; `deps` names the inputs that reference another planted one."""
    return PlannedResource(
        type=type_token,
        name=name,
        urn=f"urn:pulumi:planted::scalestack::{type_token}::{name}",
        parent=None,
        inputs=inputs,
        property_dependencies={
            key: (f"urn:pulumi:planted::scalestack::{source}",) for key, source in deps.items()
        },
    )


KEY = "aws:kms/key:Key"
BUCKET = "aws:s3/bucket:Bucket"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"


def planted_weaknesses() -> tuple[PlannedResource, ...]:
    """Each weakness beside its remedy, so a pass shows the export carries the setting checkov reads."""
    return (
        _planted_resource(KEY, "planted-key", {"enableKeyRotation": True}),
        _planted_resource(BUCKET, "planted-plain", {}),
        _planted_resource(BUCKET, "planted-encrypted", {}),
        _planted_resource(
            SSE,
            "planted-encrypted-sse",
            {
                "bucket": "planted-encrypted",
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {
                            "sseAlgorithm": "aws:kms",
                            "kmsMasterKeyId": "planted-key-id",
                        },
                        "bucketKeyEnabled": True,
                    }
                ],
            },
            bucket=f"{BUCKET}::planted-encrypted",
            rules=f"{KEY}::planted-key",
        ),
        _planted_resource(
            LOG_GROUP, "planted-plain-logs", {"name": "planted-plain", "retentionInDays": 400.0}
        ),
        _planted_resource(
            LOG_GROUP,
            "planted-keyed-logs",
            {"name": "planted-keyed", "retentionInDays": 400.0, "kmsKeyId": "arn:aws:kms:us-east-1:1:key/k"},
            kmsKeyId=f"{KEY}::planted-key",
        ),
        _planted_resource(
            INGRESS,
            "planted-ssh-from-anywhere",
            {
                "securityGroupId": "sg-1",
                "ipProtocol": "tcp",
                "fromPort": 22.0,
                "toPort": 22.0,
                "cidrIpv4": "0.0.0.0/0",
            },
        ),
        _planted_resource(
            INGRESS,
            "planted-ssh-from-vpc",
            {
                "securityGroupId": "sg-1",
                "ipProtocol": "tcp",
                "fromPort": 22.0,
                "toPort": 22.0,
                "cidrIpv4": "10.0.0.0/16",
            },
        ),
        _planted_resource(
            SECURITY_GROUP, "planted-open-sg", {"vpcId": "vpc-1", "ingress": [_ssh("0.0.0.0/0")]}
        ),
        _planted_resource(
            SECURITY_GROUP, "planted-closed-sg", {"vpcId": "vpc-1", "ingress": [_ssh("10.0.0.0/16")]}
        ),
    )


def _ssh(cidr: str) -> dict[str, Any]:
    """An inline ingress block of a security group (the bridge keeps Terraform's name, `ingress`)."""
    return {"protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrBlocks": [cidr]}


def _exports() -> dict[str, dict[str, Any]]:
    documents = {stack: export(plan_of(stack)[1]) for stack in SHIPPED_STACKS}
    dev = plan_of("dev")[1]
    documents[PLANTED] = export(Plan(PLANTED, dev.resources + planted_weaknesses(), dev.outputs))
    return documents


def scan(directory: Path) -> Scan:
    """checkov's verdicts on every export, from one run (the session fixture below runs it once)."""
    names = []
    for stack, document in _exports().items():
        (directory / f"{stack}.json").write_text(json.dumps(document))
        names += ["-f", f"{stack}.json"]
    # --skip-download: no network (the guideline links it would fetch are not needed to judge).
    command = [str(CHECKOV), *names, "--framework", "terraform_plan", "-o", "json", "--compact"]
    completed = subprocess.run(
        [*command, "--skip-download"], cwd=directory, capture_output=True, text=True, timeout=300, check=False
    )
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov gave no JSON report (exit {completed.returncode}):\n{completed.stderr[-2000:]}")
    results = report["results"]

    def verdicts(kind: str) -> frozenset[tuple[str, str, str]]:
        return frozenset(
            (Path(r["file_path"]).stem, r["check_id"], r["resource"]) for r in results.get(kind, [])
        )

    return Scan(failed=verdicts("failed_checks"), passed=verdicts("passed_checks"))


@pytest.fixture(scope="session")
def checkov_scan(tmp_path_factory: pytest.TempPathFactory) -> Scan:
    if not CHECKOV.exists():
        message = f"checkov is not installed at {CHECKOV}: run `make test` (it makes .venv-scan)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return scan(tmp_path_factory.mktemp("checkov"))


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_checkov_finds_exactly_the_reviewed_findings(checkov_scan: Scan, stack: str) -> None:
    found = checkov_scan.failed_ids(stack)
    unexpected = {
        c: [a for s, i, a in checkov_scan.failed if s == stack and i == c] for c in found - EXPECTED[stack]
    }
    assert unexpected == {}, "new findings: review them, fix them or list them in tests/checkov_expected.py"
    assert EXPECTED[stack] - found == set(), "no longer found: take them off tests/checkov_expected.py"


def test_every_expected_finding_says_why() -> None:
    listed = set().union(*EXPECTED.values())
    assert listed == set(REASONS)


def test_security_md_explains_every_expected_finding() -> None:
    """A user who runs checkov reads the reason in SECURITY.md's table of deliberate exceptions."""
    text = Path("SECURITY.md").read_text(encoding="utf-8")
    table = text[text.index("## What the kit deliberately does not do") :]
    table = table[: table.index("\n## ")]
    explained = set(re.findall(r"`(CKV2?_AWS_[0-9]+)`", table))
    assert set(REASONS) - explained == set(), "add a row to SECURITY.md's table for each"


@pytest.mark.parametrize(
    ("check", "weak", "remedied"),
    [
        ("CKV_AWS_145", "aws_s3_bucket.planted-plain", "aws_s3_bucket.planted-encrypted"),  # KMS by default
        (
            "CKV_AWS_158",
            "aws_cloudwatch_log_group.planted-plain-logs",
            "aws_cloudwatch_log_group.planted-keyed-logs",
        ),
        (
            "CKV_AWS_24",  # SSH open to the world
            "aws_vpc_security_group_ingress_rule.planted-ssh-from-anywhere",
            "aws_vpc_security_group_ingress_rule.planted-ssh-from-vpc",
        ),
        ("CKV_AWS_24", "aws_security_group.planted-open-sg", "aws_security_group.planted-closed-sg"),
    ],
)
def test_a_planted_weakness_is_found_and_its_remedy_passes(
    checkov_scan: Scan, check: str, weak: str, remedied: str
) -> None:
    assert (PLANTED, check, weak) in checkov_scan.failed
    assert (PLANTED, check, remedied) in checkov_scan.passed
