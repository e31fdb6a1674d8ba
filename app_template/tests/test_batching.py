"""Coalescing (app.batching): calls made together share one run, each gets its own answer, and pages
read together from PostgreSQL are exactly the pages read one by one, from one statement."""

import asyncio
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.api.deps import Services
from app.api.items import items
from app.batching import Batcher
from app.cache import Cache, MemoryStore
from app.db import Database
from app.migrate import migrate
from app.models import TagCount
from app.schemas import TagCountOut
from app.settings import Settings
from app.tasks import enqueue_count_tags
from tests.servers import AppServer, PostgresCluster

ITEM_PAGES = "%FROM items%ORDER BY items.id%"


class Recorder:
    """A batch function that remembers every batch it was given and answers each key doubled."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_with = fail_with

    async def __call__(self, keys: list[int]) -> list[int]:
        self.batches.append(keys)
        await asyncio.sleep(0)
        if self.fail_with is not None:
            raise self.fail_with
        return [key * 2 for key in keys]


def test_calls_made_together_share_one_run_and_each_gets_its_own_answer() -> None:
    async def scenario() -> tuple[list[int], list[list[int]]]:
        recorder = Recorder()
        batcher = Batcher(recorder)
        answers = await asyncio.gather(*(batcher(key) for key in (3, 1, 2, 1)))
        return answers, recorder.batches

    answers, batches = asyncio.run(scenario())
    assert answers == [6, 2, 4, 2]
    assert batches == [[3, 1, 2, 1]]


def test_a_lone_call_runs_at_once_and_later_calls_make_a_new_batch() -> None:
    async def scenario() -> list[list[int]]:
        recorder = Recorder()
        batcher = Batcher(recorder)
        # Bounded well below any timer a batch might wait on: a lone call must not wait for company.
        assert await asyncio.wait_for(batcher(1), timeout=0.05) == 2
        assert await batcher(2) == 4
        return recorder.batches

    assert asyncio.run(scenario()) == [[1], [2]]


def test_a_full_batch_is_sent_and_the_rest_start_the_next() -> None:
    async def scenario() -> tuple[list[int], list[list[int]]]:
        recorder = Recorder()
        batcher = Batcher(recorder, max_batch=3)
        answers = await asyncio.gather(*(batcher(key) for key in range(7)))
        return answers, recorder.batches

    answers, batches = asyncio.run(scenario())
    assert answers == [key * 2 for key in range(7)]
    assert batches == [[0, 1, 2], [3, 4, 5], [6]]


def test_a_failed_run_fails_every_call_of_its_batch() -> None:
    async def scenario() -> list[BaseException | int]:
        batcher = Batcher(Recorder(fail_with=ConnectionError("database gone")))
        return await asyncio.gather(*(batcher(key) for key in range(3)), return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert [repr(outcome) for outcome in outcomes] == [repr(ConnectionError("database gone"))] * 3


def test_a_cancelled_caller_leaves_the_batch_and_the_others_are_answered() -> None:
    async def scenario() -> tuple[list[int], list[list[int]]]:
        recorder = Recorder()
        batcher = Batcher(recorder)
        leaving = asyncio.ensure_future(batcher(1))
        staying = asyncio.ensure_future(batcher(2))
        await asyncio.sleep(0)  # both have joined the batch, which is not sent yet
        leaving.cancel()
        return [await staying], recorder.batches

    answers, batches = asyncio.run(scenario())
    assert answers == [4]
    assert batches == [[2]]


def test_a_batch_answered_with_the_wrong_number_of_values_is_an_error_not_a_wrong_answer() -> None:
    async def short(keys: list[int]) -> list[int]:
        return keys[:-1]

    async def scenario() -> list[BaseException | int]:
        batcher = Batcher(short)
        return list(await asyncio.gather(batcher(1), batcher(2), return_exceptions=True))

    assert all(isinstance(outcome, RuntimeError) for outcome in asyncio.run(scenario()))


# Cursors a client may send: the first page, mid-table, the same cursor with two limits, past the end.
PAGES = [(None, 5), (3, 2), (3, 7), (10, 1), (10**12, 5), (None, 100)]


async def _pages(settings: Settings, together: bool) -> list[bytes]:
    services = Services(settings, Database(settings), Cache(settings, MemoryStore(100)), publisher=None)
    try:

        async def page(cursor: int | None, limit: int) -> bytes:
            return await items.page(services, limit=limit, cursor=cursor, wrote_recently=False)

        if together:
            return list(await asyncio.gather(*(page(cursor, limit) for cursor, limit in PAGES)))
        return [await page(cursor, limit) for cursor, limit in PAGES]
    finally:
        await services.db.dispose()


def test_pages_read_together_are_the_pages_read_one_by_one_from_one_statement(
    pg: PostgresCluster, pg_app: AppServer
) -> None:
    for n in range(12):
        pg.primary.sql(f"INSERT INTO items (name, price_cents, tags) VALUES ('page {n}', {n}, '[\"t{n}\"]')")
    pg.wait_replicated()
    replica = pg.replicas[0]
    settings = Settings(database_url=pg.primary.url, database_replica_urls=[replica.url])

    alone = asyncio.run(_pages(settings, together=False))
    before = replica.statement_calls(ITEM_PAGES)
    together = asyncio.run(_pages(settings, together=True))
    assert replica.statement_calls(ITEM_PAGES) - before == 1
    assert together == alone
    assert b'"next_cursor":null' in together[4]  # past the end: an empty last page


def test_pages_read_together_on_the_embedded_default_are_the_pages_read_one_by_one(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")

    async def seeded() -> None:
        await migrate(settings)
        services = Services(settings, Database(settings), Cache(settings, MemoryStore(100)), publisher=None)
        try:
            for n in range(12):
                await items.create(services, {"name": f"page {n}", "price_cents": n, "tags": [f"t{n}"]})
        finally:
            await services.db.dispose()

    asyncio.run(seeded())
    together = asyncio.run(_pages(settings, together=True))
    assert together == asyncio.run(_pages(settings, together=False))
    assert together[0].count(b'"id"') == 5


@pytest.mark.parametrize("cursor", [None, 0])
def test_the_first_page_is_every_record_from_the_start(tmp_path: Path, cursor: int | None) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")

    async def first_page() -> bytes:
        await migrate(settings)
        services = Services(settings, Database(settings), Cache(settings, MemoryStore(100)), publisher=None)
        try:
            await items.create(services, {"name": "only", "price_cents": 1, "tags": []})
            return await items.page(services, limit=5, cursor=cursor, wrote_recently=False)
        finally:
            await services.db.dispose()

    assert asyncio.run(first_page()).count(b'"id"') == 1


INSERT_ITEM = "INSERT INTO items %"


async def _create_together(settings: Settings, names: list[str]) -> list[tuple[int, bytes] | BaseException]:
    services = Services(settings, Database(settings), Cache(settings, MemoryStore(100)), publisher=None)
    try:
        creates = (items.create(services, {"name": name, "price_cents": 1, "tags": [name]}) for name in names)
        return list(await asyncio.gather(*creates, return_exceptions=True))
    finally:
        await services.db.dispose()


def test_creates_made_together_are_one_insert_and_each_gets_its_own_row(
    pg: PostgresCluster, pg_app: AppServer
) -> None:
    settings = Settings(database_url=pg.primary.url)
    names = [f"together {n}" for n in range(8)]
    before = pg.primary.statement_calls(INSERT_ITEM)
    created = asyncio.run(_create_together(settings, names))
    assert pg.primary.statement_calls(INSERT_ITEM) - before == 1
    ids = [outcome[0] for outcome in created if isinstance(outcome, tuple)]
    assert [orjson.loads(outcome[1])["name"] for outcome in created if isinstance(outcome, tuple)] == names
    assert ids == sorted(ids) and len(set(ids)) == len(names)
    stored = pg.primary.sql(f"SELECT name FROM items WHERE id IN ({','.join(map(str, ids))}) ORDER BY id")
    assert stored.splitlines() == names


def test_a_bad_row_fails_only_its_own_create(pg: PostgresCluster, pg_app: AppServer) -> None:
    settings = Settings(database_url=pg.primary.url)
    too_long = "x" * 201  # the column is VARCHAR(200); the API refuses this before, a fork might not
    outcomes = asyncio.run(_create_together(settings, ["good one", too_long, "good two"]))
    assert isinstance(outcomes[1], DBAPIError)
    assert [orjson.loads(outcome[1])["name"] for outcome in (outcomes[0], outcomes[2])] == [  # type: ignore[index]
        "good one",
        "good two",
    ]


def test_creates_made_together_on_the_embedded_default_each_get_their_own_row(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
    asyncio.run(migrate(settings))
    names = [f"together {n}" for n in range(8)]
    created = asyncio.run(_create_together(settings, names))
    assert [orjson.loads(outcome[1])["name"] for outcome in created] == names  # type: ignore[index]
    assert len({outcome[0] for outcome in created}) == len(names)  # type: ignore[index]


def test_inline_tag_counts_made_together_count_each_item_once_per_tag(tmp_path: Path) -> None:
    """No broker: the tag counts of concurrent creates are one upsert, and each item still counts a tag
    once however often it lists it."""
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")

    async def counted() -> list[TagCountOut]:
        await migrate(settings)
        db = Database(settings)
        try:
            await enqueue_count_tags(["a"], db, publisher=None)
            await asyncio.gather(
                *(enqueue_count_tags(tags, db, publisher=None) for tags in (["a", "b"], ["a", "a"], ["c"]))
            )
            return await db.read(_top_tags)
        finally:
            await db.dispose()

    assert asyncio.run(counted()) == [
        TagCountOut(tag="a", count=3),
        TagCountOut(tag="b", count=1),
        TagCountOut(tag="c", count=1),
    ]


async def _top_tags(connection: AsyncConnection) -> list[TagCountOut]:
    rows = await connection.execute(select(TagCount.tag, TagCount.count).order_by(TagCount.tag))
    return [TagCountOut(tag=tag, count=count) for tag, count in rows]
