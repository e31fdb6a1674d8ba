"""The cache's own rules, against a real Redis (two Cache objects stand for two processes)."""

import asyncio
import time

from redis.asyncio import Redis

from app.cache import Cache, MemoryStore, RedisStore
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
