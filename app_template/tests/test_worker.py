"""The Celery worker (same code, different command) consumes a task the API enqueues through Redis."""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import APP_DIR, AppServer, PostgresCluster, RedisServer, running, wait_for


@pytest.fixture
def worker(pg: PostgresCluster, redis_server: RedisServer, tmp_path: Path) -> Iterator[Path]:
    env = os.environ | {"DATABASE_URL": pg.primary.url, "REDIS_URL": redis_server.url}
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "app.tasks", "worker", "--pool=solo", "--loglevel=INFO"],
            cwd=APP_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield log_path
    finally:
        process.terminate()  # Celery's warm shutdown: finish the current task, then exit
        process.wait(timeout=20)


def test_created_items_tags_are_counted_by_the_worker(pg_app: AppServer, worker: Path) -> None:
    tag = f"t-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=pg_app.url, timeout=10) as client:
        for _ in range(2):
            assert client.post("/api/items", json={"name": "x", "price": 1, "tags": [tag]}).status_code == 201

    def counted_twice() -> bool:
        tags = httpx.get(f"{pg_app.url}/api/tags", params={"limit": 100}).json()
        return {"tag": tag, "count": 2} in tags

    wait_for(counted_twice, f"the worker to count the tags (log: {worker})", timeout=30)
    assert "app.count_tags" in worker.read_text()


def test_inline_tasks_without_a_broker_use_the_apps_pooled_connections(
    pg: PostgresCluster, tmp_path: Path
) -> None:
    """No REDIS_URL: tasks run in the request, on the app's pool, not on a connection opened per task
    (which cost a connect and a PostgreSQL backend each, and timeouts under load)."""
    pg.primary.sql("CREATE DATABASE inline_tasks", database="postgres")
    url = pg.primary.url.rsplit("/", 1)[0] + "/inline_tasks"
    env = {"DATABASE_URL": url, "MIGRATE_ON_START": "true", "DB_POOL_SIZE": "2"}

    def sessions() -> int:  # every connection ever opened to the database (PostgreSQL 14+)
        query = "SELECT sessions FROM pg_stat_database WHERE datname = 'inline_tasks'"
        return int(pg.primary.sql(query, database="postgres"))

    with (
        running(AppServer(env, tmp_path / "app.log", workers=1)) as app,
        httpx.Client(base_url=app.url) as client,
    ):
        for n in range(3):  # warm the pools up
            assert (
                client.post("/api/items", json={"name": "x", "price": 1, "tags": [f"warm{n}"]}).status_code
                == 201
            )
        before = sessions()
        for n in range(20):
            assert (
                client.post("/api/items", json={"name": "x", "price": 1, "tags": [f"t{n}"]}).status_code
                == 201
            )
        opened = sessions() - before
        tags = {row["tag"]: row["count"] for row in client.get("/api/tags", params={"limit": 100}).json()}
    assert opened == 0
    assert all(tags[f"t{n}"] == 1 for n in range(20))
