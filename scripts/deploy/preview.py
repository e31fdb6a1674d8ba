"""What a `pulumi up` would change, summarised before anyone confirms it (`scalestack up`, `deploy`).

The Automation API's preview reports each resource step as an engine event (op, type, URN); the summary
counts creates, updates, replacements and deletes, and names two kinds of change a person must opt into:
- replacing a resource that holds data (a database, the cache, a bucket, the image repository): Pulumi
  replaces by creating a new resource and deleting the old one, and the data does not move with it
  (https://www.pulumi.com/docs/iac/concepts/how-pulumi-works/#creation-and-deletion-order);
- for a deploy, any change beyond the image tag's: a new tag changes only the launch templates' user data,
  which is an in-place update making a new template version
  (https://docs.aws.amazon.com/autoscaling/ec2/userguide/create-launch-template.html#change-launch-template).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from scripts.deploy.errors import DeployError
from scripts.exit_codes import ExitCode

# Resource types whose replacement loses what they hold (pulumi_aws type tokens).
STATEFUL_TYPES: dict[str, str] = {
    "aws:rds/instance:Instance": "database",
    "aws:rds/cluster:Cluster": "database",
    "aws:elasticache/replicationGroup:ReplicationGroup": "cache",
    "aws:elasticache/cluster:Cluster": "cache",
    "aws:s3/bucket:Bucket": "bucket",
    "aws:s3/bucketV2:BucketV2": "bucket",
    "aws:ecr/repository:Repository": "image repository",
}
# What a new image tag changes: the launch templates' user data, updated in place to a new version.
IMAGE_TAG_CHANGE = ("update", "aws:ec2/launchTemplate:LaunchTemplate")

# Pulumi's step ops folded into what a person reads: a replacement shows as up to three steps.
_KIND = {
    "create": "create",
    "update": "update",
    "delete": "delete",
    "replace": "replace",
    "create-replacement": "replace",
    "delete-replaced": "replace",
    "import": "create",
}


@dataclass(frozen=True)
class ResourceChange:
    op: str  # Pulumi's OpType value: create, update, replace, create-replacement, ...
    type: str  # e.g. aws:rds/instance:Instance
    urn: str

    @property
    def kind(self) -> str | None:
        return _KIND.get(self.op)

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def stateful(self) -> str | None:
        return STATEFUL_TYPES.get(self.type)


@dataclass(frozen=True)
class DiffSummary:
    changes: tuple[ResourceChange, ...]  # one per resource that changes, in the engine's order

    @classmethod
    def of(cls, steps: Iterable[ResourceChange]) -> DiffSummary:
        seen: dict[str, ResourceChange] = {}
        for step in steps:
            if step.kind is not None:
                # A replacement's steps share a URN; the first names the kind (replace) for all of them.
                seen.setdefault(step.urn, step)
        return cls(tuple(seen.values()))

    def counts(self) -> dict[str, int]:
        tally = Counter(change.kind for change in self.changes)
        return {kind: tally.get(kind, 0) for kind in ("create", "update", "replace", "delete")}

    def stateful_replacements(self) -> list[ResourceChange]:
        return [c for c in self.changes if c.kind in {"replace", "delete"} and c.stateful]

    def beyond_image_tag(self) -> list[ResourceChange]:
        return [c for c in self.changes if (c.kind, c.type) != IMAGE_TAG_CHANGE]

    def lines(self) -> list[str]:
        counts = ", ".join(f"{n} to {kind}" for kind, n in self.counts().items())
        lines = [f"Infrastructure diff: {counts}." if self.changes else "Infrastructure diff: no changes."]
        for change in self.changes:
            mark = (
                f"  !! replaces the {change.stateful}: its data does not move" if self._loses(change) else ""
            )
            lines.append(f"  {change.kind:<8} {change.type} {change.name}{mark}")
        return lines

    def _loses(self, change: ResourceChange) -> bool:
        return change in self.stateful_replacements()


def refuse_unsafe(summary: DiffSummary, *, allow_replace: bool, infra_allowed: bool = True) -> None:
    """Raise UNSAFE_CHANGE for a stateful replacement without --allow-replace, and, for a deploy
    (infra_allowed False), for anything beyond the image tag's change without --with-infra."""
    lost = summary.stateful_replacements()
    if lost and not allow_replace:
        names = ", ".join(f"{c.stateful} {c.name} ({c.kind})" for c in lost)
        raise DeployError(
            ExitCode.UNSAFE_CHANGE,
            f"the update would replace {names}, losing what it holds; nothing changed. Find the key whose "
            "change forces it (`pulumi preview --diff`), or pass --allow-replace once the data is safe.",
        )
    extra = [] if infra_allowed else summary.beyond_image_tag()
    if extra:
        names = ", ".join(f"{c.kind} {c.name}" for c in extra[:5]) + (" ..." if len(extra) > 5 else "")
        raise DeployError(
            ExitCode.UNSAFE_CHANGE,
            f"the deploy would also change the infrastructure ({names}), not only the image tag; nothing "
            "changed. Run `scalestack up` for those first, or pass --with-infra to ship both together.",
        )
