"""Sends Celery tasks to the broker from a thread of its own, many per round trip, off the request path.

Celery publishes synchronously, and each `delay()` builds a new Redis client and waits for its own
LPUSH: measured here, about 0.5 ms of CPU per task plus a thread-pool hand-off, which made the task a
create enqueues cost more than the create itself. Here a request only queues the task in memory; one
thread per process collects what arrives within LINGER_SECONDS and sends it in one pipeline (kombu's
`Producer.batch`), so the per-batch costs are shared by every task in it.

What that gives up: a task sits in the process for up to LINGER_SECONDS before it is in Redis, so a
process killed outright (not stopped: the lifespan's end sends what is queued) loses those. The tasks
sent this way are best-effort already (a create answers 201 when its task cannot be sent, app.api.items),
so this changes how many can be lost, not whether.
"""

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from celery import Celery, Task

from app.logs import get_logger

log = get_logger(__name__)

LINGER_SECONDS = 0.02
"""How long the thread collects tasks after the first before sending them."""
MAX_BATCH = 500
MAX_PENDING = 10_000
"""Tasks queued in memory at most (the broker down for a while): beyond it, `send` refuses."""


@dataclass(frozen=True)
class _Pending:
    task: Task  # type: ignore[type-arg]
    args: tuple[Any, ...]


Coalesce = Callable[[list[tuple[Any, ...]]], list[tuple[Any, ...]]]
"""The arguments of many sends of one task as those of fewer sends that do the same work."""


class PublisherUnavailable(Exception):
    """The task was not queued: too many are waiting already, or the process is stopping."""


class TaskPublisher:
    """One publishing thread per process, started by the first `send`."""

    def __init__(
        self,
        celery: Celery,
        *,
        linger_seconds: float = LINGER_SECONDS,
        max_batch: int = MAX_BATCH,
        max_pending: int = MAX_PENDING,
        coalesce: Mapping[str, Coalesce] | None = None,
    ) -> None:
        """`coalesce` maps a task's name to how the sends of it that are sent together can be fewer
        messages (each a message the task already takes, so workers of the previous release read them)."""
        self._celery = celery
        self._coalesce = dict(coalesce or {})
        self._linger_seconds = linger_seconds
        self._max_batch = max_batch
        self._pending: queue.Queue[_Pending | None] = queue.Queue(max_pending)
        self._thread = threading.Thread(target=self._run, name="task-publisher", daemon=True)
        self._lock = threading.Lock()
        # Set once the process is stopping: `send` refuses, and the linger is cut short to send at once.
        self._closing = threading.Event()

    def send(self, task: Task, *args: Any) -> None:  # type: ignore[type-arg]
        """Queues the task for the broker; raises PublisherUnavailable if it cannot."""
        with self._lock:
            if self._closing.is_set():
                raise PublisherUnavailable("the process is stopping")
            if not self._thread.is_alive():
                self._thread.start()
            try:
                self._pending.put_nowait(_Pending(task, args))
            except queue.Full:
                waiting = self._pending.maxsize
                raise PublisherUnavailable(f"{waiting} tasks wait for the broker already") from None

    def close(self, timeout: float = 5.0) -> None:
        """Sends what is queued, then stops the thread (the lifespan's end)."""
        with self._lock:
            self._closing.set()
            started = self._thread.is_alive()
        if not started:
            return
        deadline = time.monotonic() + timeout
        with contextlib.suppress(queue.Full):  # waits while full: the thread is draining it
            self._pending.put(None, timeout=timeout)
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            log.warning("tasks not sent before the process stopped", tasks=self._pending.qsize())

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._pending.get()
            if first is None:
                return
            batch, stop = self._collect(first)
            self._publish(batch)

    def _collect(self, first: _Pending) -> tuple[list[_Pending], bool]:
        """`first` and what arrived within the linger; whether the stop sign came with them. The thread
        sleeps through the linger rather than waking for each task: every wake-up takes the GIL from the
        event loop, which profiled at a tenth of a create's CPU."""
        self._closing.wait(self._linger_seconds)
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                item = self._pending.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _coalesced(self, batch: list[_Pending]) -> list[_Pending]:
        kept = [pending for pending in batch if pending.task.name not in self._coalesce]
        for name, coalesce in self._coalesce.items():
            sends = [pending for pending in batch if pending.task.name == name]
            if sends:
                kept += [_Pending(sends[0].task, args) for args in coalesce([send.args for send in sends])]
        return kept

    def _publish(self, batch: list[_Pending]) -> None:
        batch = self._coalesced(batch)
        try:
            with self._celery.producer_or_acquire() as producer, producer.batch():
                for pending in batch:
                    options = self._options(pending)
                    pending.task.apply_async(args=pending.args, producer=producer, **options)
        except Exception as error:
            log.warning("could not send tasks to the broker", tasks=len(batch), error=repr(error))

    @staticmethod
    def _options(pending: _Pending) -> dict[str, Any]:
        return {
            # Celery would copy and bind the queue entity for every message to declare it; a direct route
            # to a queue is an anonymous exchange on Redis, which delivers by queue name and reads no
            # binding (kombu/transport/virtual/base.py `_lookup`), and the worker declares the queues it
            # consumes. The argument repr would go through `saferepr`; tags are short. Together a third of
            # Celery's CPU per message, measured.
            "declare": [],
            "argsrepr": repr(pending.args),
            "kwargsrepr": "{}",
        }
