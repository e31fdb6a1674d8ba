"""Read/write routing and failure handling on a PostgreSQL primary, two streaming replicas and Redis.

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
# A page on its own or pages read together (app.batching): the statement holds the same SELECT.
ITEM_PAGE = "%FROM items%ORDER BY items.id%"
INSERT_ITEM = "INSERT INTO items %"


def calls(pg: PostgresCluster, pattern: str) -> list[int]:
    """Execution counts of statements matching `pattern`: [primary, replica 0, replica 1]."""
    return [server.statement_calls(pattern) for server in (pg.primary, *pg.replicas)]


def delta(before: list[int], after: list[int]) -> list[int]:
    return [b - a for a, b in zip(before, after, strict=True)]


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
    assert delta(before, calls(pg, INSERT_ITEM)) == [3, 0, 0]


def test_reads_are_spread_over_the_replicas(pg: PostgresCluster, pg_app: AppServer) -> None:
    before = calls(pg, ITEM_PAGE)
    # One at a time: concurrent reads would share statements (app.batching), and this counts statements.
    responses = asyncio.run(get_many(pg_app.url, "/api/items?limit=5", count=40, concurrency=1))
    assert all(response.status_code == 200 for response in responses)
    primary, *replicas = delta(before, calls(pg, ITEM_PAGE))
    assert primary == 0 and sum(replicas) == 40
    # Round robin within each of the two workers: neither replica is left idle or takes nearly all.
    assert all(10 <= count <= 30 for count in replicas), replicas


def test_a_client_reads_its_own_writes_from_the_primary(pg: PostgresCluster, pg_app: AppServer) -> None:
    for replica in pg.replicas:  # the replicas now lag as far as this test needs
        replica.sql("SELECT pg_wal_replay_pause()")
    try:
        with httpx.Client(base_url=pg_app.url) as writer, httpx.Client(base_url=pg_app.url) as other:
            created = writer.post("/api/items", json={"name": "mine", "price": 3}).json()
            newest = {"limit": 1, "cursor": created["id"] - 1}
            before = calls(pg, ITEM_PAGE)
            mine = writer.get("/api/items", params=newest).json()["items"]
            assert [item["id"] for item in mine] == [created["id"]]
            assert other.get("/api/items", params=newest).json()["items"] == []  # a lagging replica
            primary, *replicas = delta(before, calls(pg, ITEM_PAGE))
            assert (primary, sum(replicas)) == (1, 1)

            # After the window (2 s here) the writer's reads go back to the (still lagging) replicas.
            wait_for(
                lambda: writer.get("/api/items", params=newest).json()["items"] == [],
                "the read-your-writes window to close",
                timeout=5,
            )
    finally:
        for replica in pg.replicas:
            replica.sql("SELECT pg_wal_replay_resume()")


def test_a_deleted_item_stays_deleted_while_the_replicas_lag(pg: PostgresCluster, pg_app: AppServer) -> None:
    item_id = insert_behind_the_apps_back(pg, "doomed")
    for replica in pg.replicas:
        replica.sql("SELECT pg_wal_replay_pause()")
    try:
        assert httpx.delete(f"{pg_app.url}/api/items/{item_id}").status_code == 204
        statuses = [httpx.get(f"{pg_app.url}/api/items/{item_id}").status_code for _ in range(10)]
        assert statuses == [404] * 10
        # The replicas still have the row, so a plain cache miss would have served and re-cached it.
        still_there = {
            replica.sql(f"SELECT count(*) FROM items WHERE id = {item_id}") for replica in pg.replicas
        }
        assert still_there == {"1"}
    finally:
        for replica in pg.replicas:
            replica.sql("SELECT pg_wal_replay_resume()")


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


def read_pages(pg_app: AppServer, count: int) -> None:
    responses = asyncio.run(get_many(pg_app.url, "/api/items?limit=3", count=count, concurrency=8))
    assert [response.status_code for response in responses] == [200] * count


def test_stopped_replicas_cost_no_failed_request(pg: PostgresCluster, pg_app: AppServer) -> None:
    first, second = pg.replicas
    first.stop("immediate")
    try:
        before = [pg.primary.statement_calls(ITEM_PAGE), second.statement_calls(ITEM_PAGE)]
        read_pages(pg_app, 40)  # the remaining replica takes them all
        after = [pg.primary.statement_calls(ITEM_PAGE), second.statement_calls(ITEM_PAGE)]
        # Concurrent reads may share a statement (app.batching): what counts is where they ran.
        primary_reads, second_reads = delta(before, after)
        assert primary_reads == 0 and 1 <= second_reads <= 40

        second.stop("immediate")
        before_primary = pg.primary.statement_calls(ITEM_PAGE)
        read_pages(pg_app, 20)  # no replica left: the primary takes them
        assert 1 <= pg.primary.statement_calls(ITEM_PAGE) - before_primary <= 20
    finally:
        first.start()
        second.start()
    assert any("replica unavailable" in line for line in pg_app.log_lines())

    # Once the retry window (1 s here) has passed, reads find both replicas again.
    before = calls(pg, ITEM_PAGE)

    def both_replicas_serve() -> bool:
        read_pages(pg_app, 8)
        return all(count > 0 for count in delta(before, calls(pg, ITEM_PAGE))[1:])

    wait_for(both_replicas_serve, "reads to return to the replicas", timeout=10)


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


def test_only_changes_to_existing_items_are_announced_to_the_other_processes(
    pg_app: AppServer, redis_server: RedisServer, client: httpx.Client
) -> None:
    """Every process drops its local copy of a key another process wrote (app.cache). A created item
    has an id no process has seen, so its write-through is not announced: hearing one message per
    create cost every process more CPU than the create's INSERT. Updates and deletes are announced."""
    import redis as sync_redis

    from app.cache import INVALIDATION_CHANNEL

    subscription = sync_redis.Redis.from_url(redis_server.url).pubsub()  # type: ignore[no-untyped-call]
    subscription.subscribe(INVALIDATION_CHANNEL)
    assert subscription.get_message(timeout=2)["type"] == "subscribe"

    def announced(key: str) -> int:
        """Announcements of `key` heard until the channel is quiet for half a second."""
        heard = 0
        while (message := subscription.get_message(timeout=0.5)) is not None:
            heard += message["data"].decode().partition("|")[2] == key
        return heard

    def announced_patch(item_id: int) -> bool:
        assert client.patch(f"/api/items/{item_id}", json={"price": 3}).status_code == 200
        return announced(f"items:v1:{item_id}") > 0

    # An earlier test stopped Redis, and each worker skips it for REDIS_RETRY_SECONDS after a failure:
    # updates announced several times in a row show that both workers write to Redis again.
    probe = client.post("/api/items", json={"name": "probe", "price": 1}).json()
    deadline, in_a_row = time.monotonic() + 20, 0
    while in_a_row < 8:
        assert time.monotonic() < deadline, "updates are not announced: is the app writing to Redis?"
        in_a_row = in_a_row + 1 if announced_patch(probe["id"]) else 0

    created = client.post("/api/items", json={"name": "quiet", "price": 1}).json()
    key = f"items:v1:{created['id']}"
    assert announced(key) == 0
    assert client.get(f"/api/items/{created['id']}").status_code == 200
    assert client.patch(f"/api/items/{created['id']}", json={"price": 2}).status_code == 200
    assert client.delete(f"/api/items/{created['id']}").status_code == 204
    assert announced(key) == 2
    subscription.close()
