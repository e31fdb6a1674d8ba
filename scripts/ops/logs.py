"""`scalestack logs`: the app's CloudWatch Logs, read with FilterLogEvents and followed by polling it.

The containers log through Docker's awslogs driver to one log group per role (`log_group_name`), one
stream per container. FilterLogEvents interleaves the streams by time and pages with nextToken
(https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html); a follow
asks again from a little before the newest timestamp it has seen (another container's line may arrive after
a newer one) and drops the events it has already shown by eventId.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from scripts.deploy.errors import DeployError
from scripts.deploy.ports import Clock
from scripts.exit_codes import ExitCode

SINCE = re.compile(r"^(\d+)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# How far behind the newest line a follow asks again: lines of other streams that arrive late still show.
FOLLOW_OVERLAP_MS = 30_000


def since_millis(since: str, now: datetime) -> int:
    """`10m`, `2h`, `30s`, `1d` ago, in epoch milliseconds (CloudWatch Logs' startTime)."""
    match = SINCE.match(since.strip())
    if not match:
        raise DeployError(
            ExitCode.USAGE, f"--since {since!r}: give a number and a unit, s, m, h or d (e.g. 10m, 2h, 1d)"
        )
    seconds = int(match.group(1)) * _SECONDS[match.group(2)]
    return int(now.timestamp() * 1000) - seconds * 1000


@dataclass(frozen=True)
class LogLine:
    timestamp: int  # epoch milliseconds
    stream: str
    message: str
    event_id: str


def read(logs: Any, group: str, start: int) -> Iterator[LogLine]:
    """Every event of the group from `start` on, oldest first, across all its pages."""
    token: str | None = None
    while True:
        page = logs.filter_log_events(
            logGroupName=group, startTime=start, interleaved=True, **({"nextToken": token} if token else {})
        )
        for event in page.get("events", []):
            yield LogLine(
                event["timestamp"], event.get("logStreamName", ""), event["message"], event["eventId"]
            )
        token = page.get("nextToken")
        if not token:
            return


def follow(
    logs: Any,
    group: str,
    start: int,
    clock: Clock,
    poll_seconds: float = 2.0,
    polls: int | None = None,
) -> Iterator[LogLine]:
    """What `read` gives, then new events as they arrive; `polls` bounds the polls after the first (None:
    until interrupted)."""
    seen: set[str] = set()
    newest = start
    done = 0
    while True:
        for line in read(logs, group, max(start, newest - FOLLOW_OVERLAP_MS)):
            if line.event_id not in seen:
                seen.add(line.event_id)
                newest = max(newest, line.timestamp)
                yield line
        if polls is not None and done >= polls:
            return
        done += 1
        clock.sleep(poll_seconds)


def readable(line: LogLine) -> str:
    """A structlog JSON line (app_template/app/logs.py) as `time level logger: event key=value`; any
    other line as it is, after its time."""
    when = datetime.fromtimestamp(line.timestamp / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    try:
        record = json.loads(line.message)
    except ValueError:
        return f"{when} {line.message.rstrip()}"
    if not isinstance(record, dict):
        return f"{when} {line.message.rstrip()}"
    level = str(record.pop("level", "")).upper()
    logger = record.pop("logger", "")
    event = record.pop("event", "")
    record.pop("timestamp", None)
    rest = " ".join(
        f"{key}={json.dumps(value) if not isinstance(value, str) else value}" for key, value in record.items()
    )
    head = f"{when} {level:<7} {logger + ': ' if logger else ''}{event}"
    return f"{head} {rest}".rstrip()


def printer(as_json: bool, echo: Callable[[str], None]) -> Callable[[LogLine], None]:
    """With --json each message passes through as the app wrote it (its JSON line); otherwise readable."""
    if as_json:
        return lambda line: echo(line.message.rstrip("\n"))
    return lambda line: echo(readable(line))
