"""Shellcheck on what instances actually run: each shipped stack's rendered user data, per role, and every
script it installs (the heredocs that start with `#!`; shellcheck does not look inside heredocs).

Run by `make lint`: `.venv/bin/python -m tests.boot_lint` (needs shellcheck: `make servers` installs it).
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator

from infra.offline import plan_stack
from infra.spec import load_stack_spec
from tests.plan_snapshot import shipped_stacks

HEREDOC = re.compile(r"^cat > (\S+) <<'(\w+)'\n(.*?)^\2$", re.MULTILINE | re.DOTALL)


def installed_scripts(user_data: str) -> Iterator[tuple[str, str]]:
    """The user data itself, then each script it writes with a heredoc, by the path it installs at."""
    yield "user data", user_data
    for match in HEREDOC.finditer(user_data):
        path, body = match.group(1), match.group(3)
        if body.startswith("#!"):
            yield path, body


def rendered_scripts() -> Iterator[tuple[str, str]]:
    for stack in shipped_stacks():
        plan = plan_stack(load_stack_spec(stack))
        for template in plan.by_type("aws:ec2/launchTemplate:LaunchTemplate"):
            user_data = base64.b64decode(str(template.inputs["userData"])).decode()
            for path, script in installed_scripts(user_data):
                yield f"{stack} {template.name}: {path}", script


def shellcheck(script: str) -> str:
    """Shellcheck's findings (empty when clean)."""
    result = subprocess.run(
        ["shellcheck", "--shell=bash", "--format=gcc", "-"], input=script, capture_output=True, text=True
    )
    return result.stdout + result.stderr


def main() -> int:
    if not shutil.which("shellcheck"):
        print(
            "boot_lint: shellcheck is not installed (make servers installs it from Debian)", file=sys.stderr
        )
        return 1
    failed = 0
    for where, script in rendered_scripts():
        findings = shellcheck(script)
        if findings:
            failed += 1
            print(f"{where}:\n{findings}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
