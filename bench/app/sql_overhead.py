"""CPU per read: one indexed SELECT (a page of 2 items) through SQLAlchemy's async engine, against the
same query on a bare asyncpg pool, against the app's own page read (`Records.page`, which coalesces
the reads made at the same moment into one statement: app/batching.py), on a PostgreSQL it starts on
a free 127.0.0.1 port and migrates with the app's migrations:

    python3 bench/app/sql_overhead.py [--queries 6000] [--concurrency 32]

It prints the CPU this process spent per read (µs, user + system) for each way, twice, interleaved:
what SQLAlchemy's execution costs a read, and what coalescing saves of it (bench/app/README.md). The
app's way also turns its rows into the response's JSON, which the other two do not. The server it
starts is stopped at the end.
"""

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import APP_DIR, REPO, reexec_in_app_venv

SQL = "SELECT id, name, price_cents, tags, created_at FROM items WHERE id > $1 ORDER BY id LIMIT $2"


async def _cpu_per_call(call: Callable[[], Awaitable[None]], queries: int, concurrency: int) -> float:
    async def client() -> None:
        for _ in range(queries // concurrency):
            await call()

    started = time.process_time()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return (time.process_time() - started) / (queries // concurrency * concurrency) * 1e6


async def _compare(url: str, args: argparse.Namespace) -> None:
    import asyncpg
    from app.api.deps import Services
    from app.api.items import items
    from app.cache import Cache, MemoryStore
    from app.db import Database
    from app.models import Item
    from app.settings import Settings
    from sqlalchemy import bindparam, select
    from sqlalchemy.ext.asyncio import create_async_engine

    statement = (
        select(Item.id, Item.name, Item.price_cents, Item.tags, Item.created_at)
        .where(Item.id > bindparam("cursor"))
        .order_by(Item.id)
        .limit(bindparam("limit"))
    )
    # As app.db builds a replica's engine: autocommit, no pre-ping.
    engine = create_async_engine(url, pool_size=5, max_overflow=0, isolation_level="AUTOCOMMIT")
    pool = await asyncpg.create_pool(
        url.replace("postgresql+asyncpg://", "postgresql://"), min_size=5, max_size=5
    )
    # The app's page read, as a request runs it on the primary-only set-up (no replica, no Redis).
    settings = Settings(database_url=url, db_pool_size=5)
    services = Services(settings, Database(settings), Cache(settings, MemoryStore(10)), publisher=None)

    async def through_sqlalchemy() -> None:
        async with engine.connect() as connection:
            (await connection.execute(statement, {"cursor": 5, "limit": 3})).all()

    async def through_asyncpg() -> None:
        async with pool.acquire() as connection:
            await connection.fetch(SQL, 5, 3)

    async def through_the_app() -> None:
        await items.page(services, limit=2, cursor=5, wrote_recently=False)

    ways = {
        "SQLAlchemy async engine": through_sqlalchemy,
        "asyncpg pool": through_asyncpg,
        "app's page read, coalesced": through_the_app,
    }
    for round_number in (1, 2):
        for name, call in ways.items():
            cpu = await _cpu_per_call(call, args.queries, args.concurrency)
            print(f"round {round_number}  {name:<28} {cpu:6.0f} µs CPU per read")
    await pool.close()
    await engine.dispose()
    await services.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queries", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    reexec_in_app_venv()
    sys.path.insert(0, str(APP_DIR))
    import uvloop
    from tests.servers import PostgresCluster, postgres_bin_dir

    if postgres_bin_dir() is None:
        sys.exit("PostgreSQL is needed: apt-get install -y postgresql")
    from app.migrate import migrate
    from app.settings import Settings

    cluster = PostgresCluster(replicas=0)
    try:
        uvloop.run(migrate(Settings(database_url=cluster.primary.url)))
        cluster.primary.sql(
            "INSERT INTO items (name, price_cents, tags) "
            "SELECT 'item ' || n, n, '[]' FROM generate_series(1, 1000) AS n"
        )
        uvloop.run(_compare(cluster.primary.url, args))
    finally:
        cluster.stop()
    print(f"\nproduced by (in {REPO}): python3 bench/app/sql_overhead.py {' '.join(sys.argv[1:])}".rstrip())


if __name__ == "__main__":
    main()
