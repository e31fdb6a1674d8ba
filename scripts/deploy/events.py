"""Progress for people (rich) and for CI (one JSON object per line), from the same stream of events."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TextIO

from rich.console import Console

Status = Literal["started", "progress", "succeeded", "skipped", "warning", "failed"]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Event:
    step: str
    status: Status
    message: str
    data: dict[str, Any] = field(default_factory=dict)
    at: str = field(default_factory=utc_now)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "event",
            "step": self.step,
            "status": self.status,
            "message": self.message,
            "at": self.at,
            **({"data": self.data} if self.data else {}),
        }


class Reporter(Protocol):
    def emit(self, event: Event) -> None: ...

    def summary(self, summary: dict[str, Any]) -> None: ...


class JsonReporter:
    """One JSON object per line on stdout, flushed, so a CI log shows each step as it happens."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout

    def _write(self, obj: dict[str, Any]) -> None:
        self._stream.write(json.dumps(obj, default=str) + "\n")
        self._stream.flush()

    def emit(self, event: Event) -> None:
        self._write(event.to_json())

    def summary(self, summary: dict[str, Any]) -> None:
        self._write({"type": "summary", "at": utc_now(), **summary})


_STYLE: dict[Status, str] = {
    "started": "bold cyan",
    "progress": "dim",
    "succeeded": "green",
    "skipped": "yellow",
    "warning": "yellow",
    "failed": "bold red",
}
_MARK: dict[Status, str] = {
    "started": "▶",
    "progress": "·",
    "succeeded": "✓",
    "skipped": "-",
    "warning": "!",
    "failed": "✗",
}


class RichReporter:
    """Human output on stderr, leaving stdout for anything a person pipes."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console or Console(stderr=True, highlight=False)

    def emit(self, event: Event) -> None:
        style = _STYLE[event.status]
        self._console.print(
            f"[{style}]{_MARK[event.status]} {event.step:<10}[/{style}] {event.message}",
            markup=True,
            soft_wrap=True,
        )

    def summary(self, summary: dict[str, Any]) -> None:
        style = "green" if summary.get("exitCode") == 0 else "bold red"
        self._console.rule(f"[{style}]{summary.get('result', '')}[/{style}]")
        self._console.print(summary.get("account", ""), markup=False, soft_wrap=True)
