"""The cache's own rules, against a real Redis (two Cache objects stand for two processes)."""

import asyncio
import time
from typing import cast

from redis.asyncio import Redis

from app.cache import INVALIDATION_CHANNEL, Cache, MemoryStore, RedisStore
from app.settings import Settings
from tests.servers import RedisServer, free_port


def settings(**overrides: float) -> Settings:
    return Settings(local_cache_ttl_seconds=0, **overrides)  # type: ignore[arg-type]


def test_stale_value_is_served_while_one_caller_refreshes(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        config = settings(cache_ttl_seconds=0.2, cache_ttl_jitter=0, cache_stale_seconds=30)
        first = Cache(config, RedisStore(redis_server.url))
        second = Cache(config, RedisStore(redis_server.url))
        await first.put("stale-demo", b"old")
        await asyncio.sleep(0.3)  # now past its TTL, within the stale window

        release = asyncio.Event()
        loads = 0

        async def slow_loader() -> bytes:
            nonlocal loads
            loads += 1
            await release.wait()
            return b"new"

        refreshing = asyncio.create_task(first.get_or_load("stale-demo", slow_loader))
        await asyncio.sleep(0.1)  # the first caller holds the refresh lock
        started = time.monotonic()
        assert await second.get_or_load("stale-demo", slow_loader) == b"old"
        assert time.monotonic() - started < 0.5
        release.set()
        assert await refreshing == b"new"
        assert await second.get_or_load("stale-demo", slow_loader) == b"new"
        assert loads == 1

    asyncio.run(scenario())


def test_ttls_are_jittered(redis_server: RedisServer) -> None:
    async def scenario() -> list[int]:
        config = settings(cache_ttl_seconds=100, cache_ttl_jitter=0.1, cache_stale_seconds=0)
        cache = Cache(config, RedisStore(redis_server.url))
        for n in range(30):
            await cache.put(f"jitter-{n}", b"x")
        async with Redis.from_url(redis_server.url) as redis:
            return [await redis.pttl(f"jitter-{n}") for n in range(30)]

    ttls = asyncio.run(scenario())
    assert all(90_000 - 50 <= ttl <= 110_000 for ttl in ttls)
    assert max(ttls) - min(ttls) > 2_000


def test_one_loader_per_key_within_a_process() -> None:
    async def scenario() -> int:
        cache = Cache(settings(), MemoryStore(100))
        loads = 0

        async def loader() -> bytes:
            nonlocal loads
            loads += 1
            await asyncio.sleep(0.05)
            return b"v"

        results = await asyncio.gather(*(cache.get_or_load("k", loader) for _ in range(50)))
        assert results == [b"v"] * 50
        return loads

    assert asyncio.run(scenario()) == 1


def test_an_unreachable_redis_is_skipped_for_the_retry_window() -> None:
    async def scenario() -> None:
        config = settings(redis_retry_seconds=30)
        cache = Cache(config, RedisStore(f"redis://127.0.0.1:{free_port()}/0"))

        async def loader() -> bytes:
            return b"from the database"

        assert await cache.get_or_load("a", loader) == b"from the database"
        started = time.monotonic()
        for n in range(100):  # no connection attempts now: each would cost a refused connect
            assert await cache.get_or_load(f"b{n}", loader) == b"from the database"
        assert time.monotonic() - started < 0.2
        # A write's cache update must not fail the write: it returns although Redis is unreachable.
        await cache.put("c", b"x")

    asyncio.run(scenario())


def test_other_processes_drop_their_local_copy_when_one_writes(redis_server: RedisServer) -> None:
    """With the invalidation channel heard, local copies live as long as they are fresh in Redis (so
    random reads over many keys stay in memory) and a write elsewhere still replaces them at once."""

    async def scenario() -> None:
        config = Settings(cache_ttl_seconds=60, cache_ttl_jitter=0)
        writer = Cache(config, RedisStore(redis_server.url))
        reader = Cache(config, RedisStore(redis_server.url))
        listening = [asyncio.create_task(cache.listen_for_invalidations()) for cache in (writer, reader)]
        try:
            deadline = time.monotonic() + 5
            while not (writer.hears_invalidations and reader.hears_invalidations):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)

            async def never() -> bytes:
                raise AssertionError("the value is cached; nothing should load it")

            await writer.put("shared", b"v1")
            assert await reader.get_or_load("shared", never) == b"v1"
            await asyncio.sleep(1.5)  # past the short local TTL and an idle subscription's socket timeout
            assert reader.local.get("shared") == b"v1" and reader.hears_invalidations

            await writer.put("shared", b"v2")
            deadline = time.monotonic() + 2
            while reader.local.get("shared") is not None:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            assert await reader.get_or_load("shared", never) == b"v2"
            assert writer.local.get("shared") == b"v2"  # the writer ignores its own message
        finally:
            for task in listening:
                task.cancel()
            await writer.store.close()
            await reader.store.close()

    asyncio.run(scenario())


def test_concurrent_writes_each_land_with_their_own_value_and_announcement(redis_server: RedisServer) -> None:
    """Write-throughs made together share a pipeline (app.batching); each key still gets its own value
    and TTL, and only the announced ones reach the other processes."""

    async def scenario() -> tuple[list[bytes | None], list[int], list[bytes]]:
        config = settings(cache_ttl_seconds=100, cache_ttl_jitter=0, cache_stale_seconds=0)
        cache = Cache(config, RedisStore(redis_server.url))
        async with Redis.from_url(redis_server.url) as redis, redis.pubsub() as pubsub:
            await pubsub.subscribe(INVALIDATION_CHANNEL)
            await pubsub.get_message(timeout=1)  # the subscription's confirmation
            await asyncio.gather(
                *(cache.put(f"together-{n}", b"v%d" % n, announce=n % 2 == 0) for n in range(10))
            )
            values = [cast(bytes | None, await redis.get(f"together-{n}")) for n in range(10)]
            ttls = [await redis.pttl(f"together-{n}") for n in range(10)]
            heard = []
            while (
                message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            ) is not None:
                heard.append(message["data"].partition(b"|")[2])
        await cache.store.close()
        return values, ttls, heard

    values, ttls, heard = asyncio.run(scenario())
    assert [value.partition(b"|")[2] if value else None for value in values] == [
        b"v%d" % n for n in range(10)
    ]
    assert all(99_000 <= ttl <= 100_000 for ttl in ttls)
    assert sorted(heard) == sorted(b"together-%d" % n for n in range(0, 10, 2))
