"""CPU per query: one indexed SELECT through SQLAlchemy's async engine, as the app runs it, against the
same query on a bare asyncpg pool, on a PostgreSQL it starts on a free 127.0.0.1 port:

    python3 bench/app/sql_overhead.py [--queries 6000] [--concurrency 32]

It prints the CPU this process spent per query (µs, user + system) for each way, twice, interleaved:
the difference is what SQLAlchemy's execution costs a read in the app (bench/app/README.md). The server
it starts is stopped at the end.
"""

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import APP_DIR, REPO, reexec_in_app_venv

SQL = "SELECT id, name FROM items WHERE id > $1 ORDER BY id LIMIT $2"


async def _cpu_per_call(call: Callable[[], Awaitable[None]], queries: int, concurrency: int) -> float:
    async def client() -> None:
        for _ in range(queries // concurrency):
            await call()

    started = time.process_time()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return (time.process_time() - started) / (queries // concurrency * concurrency) * 1e6


async def _compare(url: str, args: argparse.Namespace) -> None:
    import asyncpg
    from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, select
    from sqlalchemy.ext.asyncio import create_async_engine

    items = Table("items", MetaData(), Column("id", Integer, primary_key=True), Column("name", String))
    statement = (
        select(items.c.id, items.c.name)
        .where(items.c.id > bindparam("cursor"))
        .order_by(items.c.id)
        .limit(bindparam("limit"))
    )
    # As app.db builds a replica's engine: autocommit, no pre-ping.
    engine = create_async_engine(url, pool_size=5, max_overflow=0, isolation_level="AUTOCOMMIT")
    pool = await asyncpg.create_pool(
        url.replace("postgresql+asyncpg://", "postgresql://"), min_size=5, max_size=5
    )

    async def through_sqlalchemy() -> None:
        async with engine.connect() as connection:
            (await connection.execute(statement, {"cursor": 5, "limit": 2})).all()

    async def through_asyncpg() -> None:
        async with pool.acquire() as connection:
            await connection.fetch(SQL, 5, 2)

    ways = {"SQLAlchemy async engine": through_sqlalchemy, "asyncpg pool": through_asyncpg}
    for round_number in (1, 2):
        for name, call in ways.items():
            cpu = await _cpu_per_call(call, args.queries, args.concurrency)
            print(f"round {round_number}  {name:<24} {cpu:6.0f} µs CPU per query")
    await pool.close()
    await engine.dispose()


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
    cluster = PostgresCluster(replicas=0)
    try:
        cluster.primary.sql(
            "CREATE TABLE items (id serial PRIMARY KEY, name text);"
            "INSERT INTO items (name) SELECT 'item ' || n FROM generate_series(1, 1000) AS n"
        )
        uvloop.run(_compare(cluster.primary.url, args))
    finally:
        cluster.stop()
    print(f"\nproduced by (in {REPO}): python3 bench/app/sql_overhead.py {' '.join(sys.argv[1:])}".rstrip())


if __name__ == "__main__":
    main()
