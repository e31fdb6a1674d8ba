"""The gunicorn worker: uvicorn, plus a drain period between SIGTERM and closing the listening socket.

Closing at once would turn new requests into connection errors while the load balancer still routes
here. Instead the worker keeps serving with /readyz at 503 for SHUTDOWN_DRAIN_SECONDS (the load balancer
sees it and stops sending), then stops accepting and lets in-flight requests finish.
"""

import signal
import sys
import time
from types import FrameType
from typing import Any, ClassVar

from fastapi import FastAPI
from gunicorn.arbiter import Arbiter
from uvicorn.config import Config
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from app.settings import get_settings


class DrainingServer(Server):
    def __init__(self, config: Config, app: FastAPI) -> None:
        super().__init__(config)
        self.app = app
        self.drain_deadline: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM:
            super().handle_exit(sig, frame)
        # A repeated SIGTERM (systemd signals the whole control group) must not cut the drain short.
        elif self.drain_deadline is None:
            self.app.state.shutting_down = True
            self.drain_deadline = time.monotonic() + get_settings().shutdown_drain_seconds

    async def on_tick(self, counter: int) -> bool:
        if self.drain_deadline is not None and time.monotonic() >= self.drain_deadline:
            self.should_exit = True
        return await super().on_tick(counter)


class Worker(UvicornWorker):  # type: ignore[misc]  # uvicorn-worker ships no type hints
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {"loop": "uvloop", "http": "httptools"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        # What is left of gunicorn's graceful timeout after the drain, less a margin to exit cleanly.
        self.config.timeout_graceful_shutdown = max(
            1, int(settings.graceful_timeout_seconds - settings.shutdown_drain_seconds - 1)
        )

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = DrainingServer(self.config, self.wsgi)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
