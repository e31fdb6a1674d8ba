"""Read/write routing: writes to the primary, reads spread over the replicas, failed replicas left out.

Reads take a callable rather than a connection so that a replica failing mid-read can be retried on the
next server: the caller sees a result, never the failure, as long as the primary answers.
"""

import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import orjson
from sqlalchemy import exc, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app.batching import Batcher
from app.dburl import connect_options
from app.logs import get_logger
from app.settings import Settings

log = get_logger(__name__)
T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")
# A statement for many keys at once: one value per key, in the keys' order (or an exception for a key
# that failed on its own, which only that key's caller sees).
QueryForEach: TypeAlias = Callable[[AsyncConnection, list[K]], Awaitable[Sequence[V | Exception]]]

# Errors that say "this server cannot answer now", as opposed to errors in the query itself.
_UNAVAILABLE = (OSError, TimeoutError, exc.OperationalError, exc.InterfaceError)


def is_unavailable(error: BaseException) -> bool:
    if isinstance(error, _UNAVAILABLE):
        return True
    return isinstance(error, exc.DBAPIError) and error.connection_invalidated


def password_file_reader(directory: Path, host: str) -> Callable[[], str]:
    """The password of each new connection to `host`, read when it connects: a secret rotated or a token
    re-signed outside the app is used from the next connection on, with no restart. asyncpg calls a
    callable `password` for every connection it opens."""
    path = directory / host

    def read() -> str:
        return path.read_text().strip()

    return read


def password_args(url: str, settings: Settings) -> dict[str, Any]:
    """asyncpg's per-connection `password` for `url`'s host when DATABASE_PASSWORD_DIR is set."""
    if settings.database_password_dir is None or not url.startswith("postgresql"):
        return {}
    host = make_url(url).host or "localhost"
    return {"password": password_file_reader(settings.database_password_dir, host)}


def engine_for(url: str, **options: Any) -> AsyncEngine:
    """An engine for a URL the settings normalized, with the connect arguments its query implies."""
    engine_url, from_url = connect_options(url)
    # What the URL says (e.g. its connect_timeout) wins over the app-wide defaults.
    connect_args = options.pop("connect_args", {}) | from_url
    # JSON columns (an item's tags) through orjson: several times faster than the json module, per row.
    return create_async_engine(
        engine_url,
        connect_args=connect_args,
        json_serializer=_json_text,
        json_deserializer=orjson.loads,
        **options,
    )


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _engine(url: str, settings: Settings, *, reads: bool = False, ping: bool = True) -> AsyncEngine:
    options: dict[str, Any] = {"pool_pre_ping": ping}
    if reads:
        # Autocommit for the whole pool: a lone SELECT then costs one statement, with no BEGIN/ROLLBACK
        # around it (a per-checkout isolation level would add statements to reset it on return).
        options["isolation_level"] = "AUTOCOMMIT"
    if url.startswith("postgresql"):
        options |= {
            # No overflow: under a burst, waiting for a pooled connection is cheaper than opening new
            # ones that are closed again right after (a PostgreSQL backend process each).
            "pool_size": settings.db_pool_size,
            "max_overflow": 0,
            "connect_args": {"timeout": settings.db_connect_timeout_seconds, **password_args(url, settings)},
        }
    return engine_for(url, **options)


@dataclass
class Replica:
    engine: AsyncEngine
    down_until: float = 0.0

    @property
    def available(self) -> bool:
        return time.monotonic() >= self.down_until


class Database:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.primary = _engine(settings.database_url, settings)
        self._primary_reads = _engine(settings.database_url, settings, reads=True)
        # Replica connections skip the pre-ping round trip: a dead one fails the read over to the next
        # server anyway. The primary keeps it, as nothing is behind it to fail over to.
        self.replicas = [
            Replica(_engine(url, settings, reads=True, ping=False)) for url in settings.database_replica_urls
        ]
        self._turn = itertools.count()
        self._batchers: dict[tuple[QueryForEach[Any, Any], str], Batcher[Any, Any]] = {}

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """Writes, and reads that must see them, in one transaction on the primary."""
        async with self.primary.begin() as connection:
            yield connection

    @asynccontextmanager
    async def statement(self) -> AsyncIterator[AsyncConnection]:
        """A primary connection in autocommit, for a write that is one statement (atomic by itself):
        one round trip instead of three (BEGIN, the statement, COMMIT)."""
        async with self._primary_reads.connect() as connection:
            yield connection

    def _read_order(self, use_primary: bool) -> list[AsyncEngine]:
        if use_primary or not self.replicas:
            return [self._primary_reads]
        start = next(self._turn) % len(self.replicas)
        rotated = self.replicas[start:] + self.replicas[:start]
        return [replica.engine for replica in rotated if replica.available] + [self._primary_reads]

    async def read(self, query: Callable[[AsyncConnection], Awaitable[T]], *, use_primary: bool = False) -> T:
        """Runs `query` on a replica (round robin); if that replica fails, on the next, then the primary."""
        *replicas, primary = self._read_order(use_primary)
        for engine in replicas:
            try:
                async with engine.connect() as connection:
                    return await query(connection)
            except Exception as error:
                if not is_unavailable(error):
                    raise
                self._take_out(engine, error)
        async with primary.connect() as connection:
            return await query(connection)

    async def read_one(self, query: QueryForEach[K, V], key: K, *, use_primary: bool = False) -> V:
        """`query`'s value for `key`, read as `read` does, together with the keys of the other calls
        made in the same turn of the event loop: one statement for all of them (app.batching)."""

        async def run(keys: list[K]) -> Sequence[V | Exception]:
            return await self.read(lambda connection: query(connection, keys), use_primary=use_primary)

        return await self._together(query, "primary" if use_primary else "replicas", run, key)

    async def write_one(self, statement: QueryForEach[K, V], key: K) -> V:
        """`statement`'s value for `key`, run as `statement()` runs it (primary, autocommit), together
        with the keys of the other calls made in the same turn of the event loop."""

        async def run(keys: list[K]) -> Sequence[V | Exception]:
            async with self.statement() as connection:
                return await statement(connection, keys)

        return await self._together(statement, "write", run, key)

    async def _together(
        self,
        query: QueryForEach[K, V],
        route: str,
        run: Callable[[list[K]], Awaitable[Sequence[V | Exception]]],
        key: K,
    ) -> V:
        batcher = self._batchers.get((query, route))
        if batcher is None:
            batcher = self._batchers[(query, route)] = Batcher(run)
        answer: V = await batcher(key)
        return answer

    def _take_out(self, engine: AsyncEngine, error: BaseException) -> None:
        for replica in self.replicas:
            if replica.engine is engine:
                replica.down_until = time.monotonic() + self.settings.replica_retry_seconds
        log.warning(
            "replica unavailable, reads go elsewhere",
            replica=engine.url.render_as_string(),
            retry_in_s=self.settings.replica_retry_seconds,
            error=repr(error),
        )

    async def ping(self) -> None:
        """Readiness: the primary must answer; replicas are optional because reads fall back."""
        async with self.primary.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        for engine in [self.primary, self._primary_reads, *(replica.engine for replica in self.replicas)]:
            await engine.dispose()
