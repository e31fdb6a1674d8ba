"""A stand-in `pulumi` CLI for the Automation API, answering as the real CLI documents it does.

Which backend: PULUMI_BACKEND_URL when set, else the one `pulumi login` recorded as `current` in
$PULUMI_HOME/credentials.json (https://www.pulumi.com/docs/iac/concepts/state-and-backends/). Stacks live
in a backend; `stack select` of one that does not exist fails with "no stack named '<name>' found" (the
text the Automation API turns into StackNotFoundError); `stack init` creates one; `whoami --json` names the
user and the backend URL. Every call is appended to $FAKE_PULUMI_LOG with the backend it used, so a test
can say which backend each command touched and whether anything was created.

State: $FAKE_PULUMI_BACKENDS, a JSON file {backend URL: {stack: {output: value}}}.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

VERSION = "v3.272.0"


def _backend() -> str | None:
    if os.environ.get("PULUMI_BACKEND_URL"):
        return os.environ["PULUMI_BACKEND_URL"]
    credentials = Path(os.environ["PULUMI_HOME"]) / "credentials.json"
    if credentials.is_file():
        current = json.loads(credentials.read_text()).get("current")
        return str(current) if current else None
    return None


def _fail(message: str, code: int = 255) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def _option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def main(argv: list[str]) -> None:
    args = [a for a in argv if a != "--non-interactive"]  # a global flag the Automation API always adds
    backend = _backend()
    with Path(os.environ["FAKE_PULUMI_LOG"]).open("a") as log:
        log.write(json.dumps({"args": args, "backend": backend}) + "\n")
    if args == ["version"]:
        print(VERSION)
        return
    if backend is None:
        _fail("PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions")
    state_file = Path(os.environ["FAKE_PULUMI_BACKENDS"])
    state: dict[str, dict[str, dict[str, Any]]] = json.loads(state_file.read_text())
    stacks = state.setdefault(str(backend), {})
    if args[:2] == ["whoami", "--json"]:
        print(json.dumps({"user": "alice", "url": backend, "organizations": []}))
    elif args[:2] == ["stack", "select"]:
        name = _option(args, "--stack")
        if name not in stacks:
            _fail(f"no stack named '{name}' found")
    elif args[:2] == ["stack", "init"]:
        stacks[args[2]] = {}
    elif args[:2] == ["stack", "output"]:
        name = _option(args, "--stack")
        if name not in stacks:
            _fail(f"no stack named '{name}' found")
        print(json.dumps(stacks[str(name)]))
    else:
        _fail(f"the fake pulumi does not model `pulumi {' '.join(args)}`", code=2)
    state_file.write_text(json.dumps(state))


if __name__ == "__main__":
    main(sys.argv[1:])
