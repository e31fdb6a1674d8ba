"""Read/write routing and failure handling on PostgreSQL primary + streaming replica + Redis.

The evidence is each server's own pg_stat_statements: which server ran which statement, how often.
"""

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.servers import AppServer, PostgresCluster, RedisServer, wait_for

ITEM_BY_ID = "SELECT items.id%FROM items%WHERE items.id = %"
ITEM_PAGE = "SELECT items.id%FROM items%ORDER BY items.id%"
INSERT_ITEM = "INSERT INTO items %"


def calls(pg: PostgresCluster, pattern: str) -> tuple[int, int]:
    """(primary, replica) execution counts of statements matching `pattern`."""
    return pg.primary.statement_calls(pattern), pg.replica.statement_calls(pattern)


def insert_behind_the_apps_back(pg: PostgresCluster, name: str) -> int:
    """An item the app has never seen, so nothing of it is cached anywhere."""
    item_id = int(
        pg.primary.sql(
            f"INSERT INTO items (name, price_cents, tags) VALUES ('{name}', 100, '[]') RETURNING id"
        ).splitlines()[0]
    )
    pg.wait_replicated()
    return item_id


async def get_many(url: str, path: str, count: int, concurrency: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=20, limits=limits) as client:
        return await asyncio.gather(*(client.get(path) for _ in range(count)))


@pytest.fixture
def client(pg_app: AppServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=pg_app.url, timeout=10) as client:
        yield client


def test_writes_go_to_the_primary(pg: PostgresCluster, client: httpx.Client) -> None:
    before = calls(pg, INSERT_ITEM)
    for n in range(3):
        assert client.post("/api/items", json={"name": f"w{n}", "price": 1}).status_code == 201
    after = calls(pg, INSERT_ITEM)
    assert after[0] - before[0] == 3
    assert after[1] == before[1]


def test_reads_go_to_the_replica(pg: PostgresCluster, pg_app: AppServer) -> None:
    before = calls(pg, ITEM_PAGE)
    responses = asyncio.run(get_many(pg_app.url, "/api/items?limit=5", count=20, concurrency=5))
    assert all(response.status_code == 200 for response in responses)
    after = calls(pg, ITEM_PAGE)
    assert after[1] - before[1] == 20
    assert after[0] == before[0]


def test_a_client_reads_its_own_writes_from_the_primary(pg: PostgresCluster, pg_app: AppServer) -> None:
    pg.replica.sql("SELECT pg_wal_replay_pause()")  # the replica now lags as far as this test needs
    try:
        with httpx.Client(base_url=pg_app.url) as writer, httpx.Client(base_url=pg_app.url) as other:
            created = writer.post("/api/items", json={"name": "mine", "price": 3}).json()
            newest = {"limit": 1, "cursor": created["id"] - 1}
            before = calls(pg, ITEM_PAGE)
            assert [item["id"] for item in writer.get("/api/items", params=newest).json()["items"]] == [
                created["id"]
            ]
            assert other.get("/api/items", params=newest).json()["items"] == []  # the lagging replica
            after = calls(pg, ITEM_PAGE)
            assert (after[0] - before[0], after[1] - before[1]) == (1, 1)

            # After the window (2 s here) the writer's reads go back to the (still lagging) replica.
            wait_for(
                lambda: writer.get("/api/items", params=newest).json()["items"] == [],
                "the read-your-writes window to close",
                timeout=5,
            )
    finally:
        pg.replica.sql("SELECT pg_wal_replay_resume()")


def test_a_cold_key_under_100_concurrent_requests_costs_one_query(
    pg: PostgresCluster, pg_app: AppServer
) -> None:
    item_id = insert_behind_the_apps_back(pg, "stampede")
    before = calls(pg, ITEM_BY_ID)
    responses = asyncio.run(get_many(pg_app.url, f"/api/items/{item_id}", count=100, concurrency=100))
    assert [response.status_code for response in responses] == [200] * 100
    assert {response.json()["name"] for response in responses} == {"stampede"}
    after = calls(pg, ITEM_BY_ID)
    assert sum(after) - sum(before) == 1


def test_a_stopped_replica_costs_no_failed_request(pg: PostgresCluster, pg_app: AppServer) -> None:
    pg.replica.stop("immediate")
    try:
        before = pg.primary.statement_calls(ITEM_PAGE)
        responses = asyncio.run(get_many(pg_app.url, "/api/items?limit=3", count=40, concurrency=8))
        assert [response.status_code for response in responses] == [200] * 40
        assert pg.primary.statement_calls(ITEM_PAGE) - before == 40
    finally:
        pg.replica.start()
    # Once the retry window (1 s here) has passed, reads find the replica again.
    replica_before = pg.replica.statement_calls(ITEM_PAGE)

    def replica_serves_again() -> bool:
        assert httpx.get(f"{pg_app.url}/api/items?limit=3").status_code == 200
        return pg.replica.statement_calls(ITEM_PAGE) > replica_before

    wait_for(replica_serves_again, "reads to return to the replica", timeout=10)
    assert any("replica unavailable" in line for line in pg_app.log_lines())


def test_a_stopped_redis_costs_no_failed_request(
    pg: PostgresCluster, pg_app: AppServer, redis_server: RedisServer
) -> None:
    cached_id = insert_behind_the_apps_back(pg, "cached")
    assert httpx.get(f"{pg_app.url}/api/items/{cached_id}").status_code == 200
    redis_server.stop()
    try:
        cold_id = insert_behind_the_apps_back(pg, "cold")
        with httpx.Client(base_url=pg_app.url, timeout=10) as client:
            statuses = [
                client.get(f"/api/items/{item_id}").status_code for item_id in (cached_id, cold_id) * 10
            ]
            # Tags make the API enqueue a task: with the broker down too, the item is stored regardless.
            started = time.monotonic()
            created = client.post("/api/items", json={"name": "during outage", "price": 1, "tags": ["x"]})
            assert time.monotonic() - started < 5
            assert statuses == [200] * 20 and created.status_code == 201
            readiness = client.get("/readyz")
            assert readiness.status_code == 200 and readiness.json()["cache"] == "unavailable"
        warnings = [json.loads(line) for line in pg_app.log_lines() if "cache unavailable" in line]
        assert warnings and warnings[0]["level"] == "warning"
    finally:
        redis_server.start()
    wait_for(
        lambda: httpx.get(f"{pg_app.url}/readyz").json()["cache"] == "ok",
        "the cache to come back",
        timeout=10,
    )
