"""Which app a deploy ships: the stack's `app.buildContext` (or `--app-dir` for one run), its smoke path and
its static assets, and the Pulumi project the stack file belongs to.

A team that forks app_template/ into its own repository keeps its stack files there too and installs the
kit with pip (README, "Ship your own app"); nothing here assumes the app or the stack file lives in the
kit's tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from infra.spec import NAMESPACE, StackSpec
from scripts.deploy.errors import DeployError
from scripts.deploy.pulumi_stack import REPO_ROOT
from scripts.exit_codes import ExitCode

KIT_APP = REPO_ROOT / "app_template"
PROJECT_FILE = "Pulumi.yaml"


@dataclass(frozen=True)
class AppSource:
    context: Path  # the Docker build context (holds the Dockerfile)
    smoke_path: str
    static_dir: Path


def resolve_app(spec: StackSpec, app_dir: Path | None = None) -> AppSource:
    """The app to build for this stack; a context that is not a directory with a Dockerfile is refused."""
    if app_dir is not None:
        context, named = app_dir, "--app-dir"
    elif spec.app.build_context is None:
        context, named = KIT_APP, f"{spec.source}: {NAMESPACE}:app.buildContext (unset: the kit's app)"
    else:
        context = Path(spec.source).parent / Path(spec.app.build_context).expanduser()
        named = f"{spec.source}: {NAMESPACE}:app.buildContext"
    context = context.resolve()
    if not (context / "Dockerfile").is_file():
        raise DeployError(
            ExitCode.USAGE,
            f"{named}: {context} is not a build context (no Dockerfile there); give the directory that "
            "holds the app's Dockerfile, absolute or relative to the stack file",
        )
    return AppSource(context, spec.app.smoke_path, context / spec.app.static_dir)


def project_dir(spec: StackSpec) -> Path:
    """The Pulumi project a stack file belongs to: the nearest directory above it holding Pulumi.yaml
    (its `stackConfigDir` names the stack files' folder); the kit's own for a stack file outside any."""
    for directory in Path(spec.source).resolve().parents:
        if (directory / PROJECT_FILE).is_file():
            return directory
    return REPO_ROOT
