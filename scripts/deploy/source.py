"""The app's source: where the build context is and which tag a build of it gets."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from scripts.deploy.errors import DeployError
from scripts.exit_codes import ExitCode

# Docker's tag grammar; the stack spec validates scalestack:imageTag with the same expression.
TAG_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def check_tag(tag: str) -> str:
    if not TAG_PATTERN.match(tag):
        raise DeployError(
            ExitCode.USAGE,
            f"'{tag}' is not a valid image tag: use 1-128 letters, digits, '_', '.' or '-', not starting "
            "with '.' or '-' (e.g. 3f9c2a1b7d0e or v1.4.2).",
        )
    return tag


@dataclass(frozen=True)
class Revision:
    commit: str  # full SHA, or "unknown" outside a git checkout
    dirty: bool  # uncommitted changes under the build context

    def default_tag(self, now: datetime | None = None) -> str:
        """The short commit; a dirty tree gets a timestamp too, because ECR tags are immutable and the same
        commit with different edits must not claim the clean build's tag."""
        if self.commit == "unknown":
            raise DeployError(
                ExitCode.USAGE, "not in a git checkout, so no tag can be derived: pass --image-tag TAG."
            )
        tag = self.commit[:12]
        if self.dirty:
            tag += "-dirty-" + (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
        return tag


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def revision(context: Path) -> Revision:
    """The commit of the repository that holds the build context (the app's own, not the kit's), dirty when
    the context has uncommitted changes."""
    try:
        commit = _git(context, "rev-parse", "HEAD")
        dirty = bool(_git(context, "status", "--porcelain", "--", "."))
    except (OSError, subprocess.CalledProcessError):
        return Revision("unknown", dirty=False)
    return Revision(commit, dirty)
