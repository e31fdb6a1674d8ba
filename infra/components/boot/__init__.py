"""What an instance runs at boot, as files: shell scripts, systemd units and the settings renderer.

Each file is a `string.Template`. Shell and unit templates (`*.sh.tmpl`, `*.service.tmpl`,
`*.timer.tmpl`) mark placeholders `@{name}`, so the shell's own `$` stays as written and a template reads
as the script it renders; the Python renderer (`render_env.py`, a module ruff and mypy check like any
other) uses the standard `${name}` inside string constants, as Python has no `$` of its own. A
placeholder without a value fails the render (`substitute`, never `safe_substitute`). `make lint` runs
shellcheck on the rendered user data (tests/boot_lint.py).
"""

from __future__ import annotations

from importlib.resources import files
from string import Template


class ShellTemplate(Template):
    delimiter = "@"


def render(name: str, **values: object) -> str:
    """The template file `name` of this package with its placeholders filled."""
    text = files(__package__).joinpath(name).read_text()
    template = Template(text) if name.endswith(".py") else ShellTemplate(text)
    return template.substitute(values)
