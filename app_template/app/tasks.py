"""Background work on Celery with Redis as the broker: `celery -A app.tasks worker`.

Without REDIS_URL (the embedded default) there is no broker, and tasks run inline where they are sent.
"""

import asyncio
import ssl
from collections import Counter
from typing import Any

from celery import Celery
from celery.signals import setup_logging
from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import NullPool

from app.db import Database, engine_for, password_args
from app.logs import configure_logging, get_logger
from app.models import TagCount
from app.publisher import TaskPublisher
from app.settings import Settings, get_settings

log = get_logger(__name__)
REPORTS_QUEUE = "reports"
REPORT_TASK = "app.tag_report"


def make_celery(settings: Settings) -> Celery:
    celery = Celery("app")
    celery.conf.update(
        broker_url=settings.redis_url or "memory://",
        task_always_eager=settings.redis_url is None,
        task_ignore_result=True,
        # A request must not hang on a broker that is down: publishing fails at once (kombu would
        # otherwise retry the connection for seconds) and the caller logs it. The worker's own
        # reconnecting is governed by broker_connection_retry, which this leaves on.
        task_publish_retry=False,
        broker_transport_options={"max_retries": 0, "socket_connect_timeout": 1, "socket_timeout": 1},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # Reports are slow and may wait: their own queue, so a worker service scaled on that queue's
        # backlog (`--queues reports`) takes them and the counting on `celery` is never stuck behind one.
        task_routes={REPORT_TASK: {"queue": REPORTS_QUEUE}},
    )
    if settings.redis_url and settings.redis_url.startswith("rediss://"):
        # ElastiCache's in-transit encryption: verify the server certificate.
        celery.conf.broker_use_ssl = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    return celery


celery_app = make_celery(get_settings())


@setup_logging.connect
def _json_logs(**_: Any) -> None:
    configure_logging(get_settings().log_level)


def _tag_counts(items_tags: list[list[str]]) -> Counter[str]:
    """How many of the items have each tag (an item lists a tag twice: it still counts once)."""
    return Counter(tag for tags in items_tags for tag in set(tags))


def _upsert(dialect: str, items_tags: list[list[str]]) -> Insert:
    """One statement for the tags of some items: atomic by itself, and one round trip. Rows in sorted
    order, so concurrent tasks lock shared rows in the same order and cannot deadlock."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    counts = _tag_counts(items_tags)
    statement = insert(TagCount).values([{"tag": tag, "count": counts[tag]} for tag in sorted(counts)])
    return statement.on_conflict_do_update(
        index_elements=[TagCount.tag], set_={"count": TagCount.count + statement.excluded.count}
    )


async def _count_tags_on(engine: AsyncEngine, tags: list[str]) -> None:
    async with engine.begin() as connection:
        await _count_items_tags(connection, [tags])


async def _count_items_tags(connection: AsyncConnection, items_tags: list[list[str]]) -> list[None]:
    await connection.execute(_upsert(connection.dialect.name, items_tags))
    return [None] * len(items_tags)


async def _count_tags(tags: list[str]) -> None:
    # In the Celery worker: a pool per task run would outlive its event loop; NullPool closes the
    # connection with the task.
    settings = get_settings()
    engine = engine_for(
        settings.database_url, poolclass=NullPool, connect_args=password_args(settings.database_url, settings)
    )
    try:
        await _count_tags_on(engine, tags)
    finally:
        await engine.dispose()


def tag_count_layers(sends: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The `count_tags` sends of many items as few that count the same: the k-th holds every tag that
    at least k of the items have, so each tag is in as many messages as items have it. Measured, the
    Celery message was the largest part of a create's CPU; creates sent together mostly share tags
    rarely, so a batch of them becomes one or two messages."""
    counts = _tag_counts([tags for (tags,) in sends])
    most = max(counts.values(), default=0)
    return [(sorted(tag for tag, count in counts.items() if count >= k),) for k in range(1, most + 1)]


def task_publisher() -> TaskPublisher | None:
    """The process's publisher of tasks to the broker; None without one (tasks then run inline)."""
    if celery_app.conf.task_always_eager:
        return None
    return TaskPublisher(celery_app, coalesce={count_tags.name: tag_count_layers})


async def enqueue_count_tags(tags: list[str], db: Database, publisher: TaskPublisher | None) -> None:
    """Sends the task to the worker; with no broker, does the work here, on the app's pooled primary
    connections (a connection of its own per task would cost a connect, and a PostgreSQL backend
    process, per request), in one statement with the counts of the creates made at the same moment."""
    if not tags:
        return
    if publisher is None:
        await db.write_one(_count_items_tags, tags)
    else:
        publisher.send(count_tags, tags)


@celery_app.task(name="app.count_tags")
def count_tags(tags: list[str]) -> None:
    """Keeps the per-tag counters, off the request path so writes stay fast and hot tags do not contend."""
    asyncio.run(_count_tags(tags))
    log.info("tags counted", tags=len(tags))


async def _tag_report(limit: int) -> list[tuple[str, int]]:
    settings = get_settings()
    # As `_count_tags`: NullPool, so the connection closes with the task's event loop.
    engine = engine_for(
        settings.database_url, poolclass=NullPool, connect_args=password_args(settings.database_url, settings)
    )
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(TagCount.tag, TagCount.count)
                .order_by(TagCount.count.desc(), TagCount.tag)
                .limit(limit)
            )
            return [(tag, count) for tag, count in rows]
    finally:
        await engine.dispose()


@celery_app.task(name=REPORT_TASK)
def tag_report(limit: int = 10) -> list[tuple[str, int]]:
    """The most used tags: a read over every counter, slow on a big table, so it runs on the reports queue."""
    top = asyncio.run(_tag_report(limit))
    log.info("tag report", top=top)
    return top
