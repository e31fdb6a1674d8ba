"""Fixtures that start real servers. Under CI=true a missing server fails the run; elsewhere it skips."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import (
    EMBEDDED_VERSION,
    INSTALL_HINT,
    AppServer,
    PostgresCluster,
    RedisServer,
    postgres_bin_dir,
    redis_server_binary,
    running,
)

IN_CI = os.environ.get("CI") == "true"


def require(available: bool, what: str) -> None:
    message = f"{what} is not installed ({INSTALL_HINT})"
    if available:
        return
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresCluster]:
    require(postgres_bin_dir() is not None, "PostgreSQL (initdb, pg_ctl, pg_basebackup, psql)")
    cluster = PostgresCluster(replicas=2)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    require(redis_server_binary() is not None, "redis-server")
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def embedded_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """The embedded default, as `make run` serves it: one worker, since its cache lives in the process."""
    root = tmp_path_factory.mktemp("embedded")
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{root / 'app.db'}", "APP_VERSION": EMBEDDED_VERSION}
    with running(AppServer(env, root / "app.log", workers=1)) as server:
        yield server


@pytest.fixture(scope="session")
def pg_app(
    pg: PostgresCluster, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppServer]:
    """Primary, two replicas and Redis; two gunicorn workers; short windows so tests can wait them out.

    Configured with the URLs users hold (`postgres://`, `postgresql://`, libpq's `sslmode`), not
    SQLAlchemy's driver-qualified ones: the app must pick its driver itself."""
    root = tmp_path_factory.mktemp("pg_app")
    plain = pg.primary.url.replace("postgresql+asyncpg://", "postgres://") + "?sslmode=disable"
    replicas = pg.replica_urls.replace("postgresql+asyncpg://", "postgresql://")
    env = {
        "DATABASE_URL": plain,
        "DATABASE_REPLICA_URLS": replicas,
        "REDIS_URL": redis_server.url,
        "MIGRATE_ON_START": "true",
        "READ_YOUR_WRITES_SECONDS": "2",
        "REPLICA_RETRY_SECONDS": "1",
        "REDIS_RETRY_SECONDS": "1",
    }
    with running(AppServer(env, Path(root) / "app.log")) as server:
        pg.wait_replicated()  # the replicas must have the tables the app just migrated
        yield server
