"""Cache-aside with two tiers, one loader per key, stale-while-revalidate, and Redis as optional.

Tier 1 lives in each worker process for about a second: a hot key then costs a dict lookup instead of a
Redis round trip, at the price of other processes seeing an invalidation up to that second late.
Tier 2 is Redis (or, on the embedded default, a per-process store of the same shape).
A cold key is loaded by one caller: callers in the same process await one loading task, and processes
share a Redis lock (`SET NX`); the others serve the stale copy if there is one, or wait for the new one.
When Redis fails the app logs a warning, stops asking Redis for a few seconds, and loads from the database.
"""

import asyncio
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import NamedTuple, Protocol, TypeVar, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.batching import Batcher
from app.logs import get_logger
from app.settings import Settings

log = get_logger(__name__)

Loader = Callable[[], Awaitable[bytes | None]]
R = TypeVar("R")

LOCK_SECONDS = 5.0
INVALIDATION_CHANNEL = "cache:invalidate"
WAIT_STEP_SECONDS = 0.01


class LocalCache:
    """A bounded dict with expiry; the oldest insertion goes first when full."""

    def __init__(self, max_items: int) -> None:
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max_items = max_items

    def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def set(self, key: str, value: bytes, ttl: float) -> None:
        self._entries.pop(key, None)
        self._entries[key] = (time.monotonic() + ttl, value)
        if len(self._entries) > self._max_items:
            self._entries.popitem(last=False)

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        if self.get(key) is not None:
            return False
        self.set(key, value, ttl)
        return True

    def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


class Store(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl: float) -> None: ...
    async def add(self, key: str, value: bytes, ttl: float) -> bool: ...
    async def delete(self, key: str) -> None: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


class MemoryStore:
    """The shared tier of the embedded default: shared by nothing but this process."""

    def __init__(self, max_items: int) -> None:
        self._local = LocalCache(max_items)

    async def get(self, key: str) -> bytes | None:
        return self._local.get(key)

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self._local.set(key, value, ttl)

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        return self._local.add(key, value, ttl)

    async def delete(self, key: str) -> None:
        self._local.delete(key)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


class _Write(NamedTuple):
    key: str
    value: bytes
    ttl: float
    announce: tuple[str, bytes] | None = None  # (channel, message) to PUBLISH with it


class RedisStore:
    def __init__(self, url: str) -> None:
        # Short timeouts: a slow Redis must cost a request milliseconds, not the load balancer's patience.
        self._redis = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        # Writes made in the same turn of the event loop (concurrent requests' write-throughs) go out in
        # one pipeline: one round trip for all of them (app.batching).
        self._writes: Batcher[_Write, None] = Batcher(self._write_all)

    async def get(self, key: str) -> bytes | None:
        return cast(bytes | None, await self._redis.get(key))

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self._writes(_Write(key, value, ttl))

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        return bool(await self._redis.set(key, value, px=int(ttl * 1000), nx=True))

    async def delete(self, key: str) -> None:
        await self._redis.delete(key)

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()

    async def set_and_publish(self, key: str, value: bytes, ttl: float, channel: str, message: bytes) -> None:
        """SET and PUBLISH in one round trip (shared with the other writes of the moment)."""
        await self._writes(_Write(key, value, ttl, (channel, message)))

    async def _write_all(self, writes: list["_Write"]) -> list[None]:
        async with self._redis.pipeline(transaction=False) as pipeline:
            for write in writes:
                pipeline.set(write.key, write.value, px=int(write.ttl * 1000))
                if write.announce is not None:
                    pipeline.publish(*write.announce)
            await pipeline.execute()
        return [None] * len(writes)

    async def listen(self, channel: str) -> AsyncIterator[bytes]:
        """An empty message once subscribed, then the messages published on `channel`; raises when the
        connection fails."""
        # No read timeout: the subscription is idle for as long as nobody writes.
        async with self._redis.pubsub() as pubsub:
            await pubsub.subscribe(channel)
            await pubsub.get_message(timeout=None)  # the subscription's confirmation
            yield b""
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                if message is not None and message["type"] == "message":
                    yield cast(bytes, message["data"])


def _pack(payload: bytes, fresh_until: float) -> bytes:
    return b"%.3f|%b" % (fresh_until, payload)


def _unpack(raw: bytes) -> tuple[float, bytes]:
    fresh_until, _, payload = raw.partition(b"|")
    return float(fresh_until), payload


class Cache:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.local = LocalCache(settings.local_cache_max_items)
        self._loading: dict[str, asyncio.Task[bytes | None]] = {}
        self._store_down_until = 0.0
        # While this process hears the other processes' writes (`listen_for_invalidations`), its local
        # copies may live as long as they are fresh in Redis; otherwise LOCAL_CACHE_TTL_SECONDS.
        self.hears_invalidations = False
        self._sender = uuid.uuid4().hex.encode()
        # When each key was last invalidated: a lookup that began before must not keep its (older) value.
        self._invalidated = LocalCache(settings.local_cache_max_items)

    async def get_or_load(self, key: str, loader: Loader) -> bytes | None:
        """The cached bytes for `key`, loading (and caching) them on a miss; None if the loader finds none."""
        value = self.local.get(key)
        if value is not None:
            return value
        # The load runs as a task of its own, so a caller that goes away cannot cancel it for the others.
        loading = self._loading.get(key)
        if loading is None:
            loading = asyncio.create_task(self._fetch(key, loader))
            self._loading[key] = loading
            loading.add_done_callback(lambda _: self._loading.pop(key, None))
        return await asyncio.shield(loading)

    async def put(self, key: str, payload: bytes, *, announce: bool = True) -> None:
        """Write-through after a write, so the next read does not race a lagging replica; the other
        processes drop their local copies when they hear of it. A key no process can hold (a record
        just created, as ids are never reused; a value loaded after the shared one went stale) needs no
        announcement, and skipping it spares every process the message: measured, hearing them cost
        each create more than its INSERT."""
        ttl = self._jittered_ttl()
        self._keep_local(key, payload, ttl)
        packed = _pack(payload, time.time() + ttl)
        keep_for = ttl + self.settings.cache_stale_seconds
        store = self.store
        if isinstance(store, RedisStore) and announce:
            announcement = self._sender + b"|" + key.encode()
            await self._guard(
                lambda: store.set_and_publish(key, packed, keep_for, INVALIDATION_CHANNEL, announcement)
            )
        else:
            await self._guard(lambda: store.set(key, packed, keep_for))

    async def listen_for_invalidations(self) -> None:
        """Runs for the life of the process (a task of the lifespan): drops the local copy of every key
        another process writes. On any failure it forgets every local copy (it may have missed a
        write), falls back to the short local TTL, and subscribes again after REDIS_RETRY_SECONDS."""
        if not isinstance(self.store, RedisStore):
            return
        while True:
            try:
                async for message in self.store.listen(INVALIDATION_CHANNEL):
                    if not message:  # subscribed: from now on no write goes unheard
                        self.local.clear()
                        self.hears_invalidations = True
                        continue
                    sender, _, key = message.partition(b"|")
                    if sender != self._sender:
                        self._forget(key.decode())
            except (RedisError, OSError) as error:
                log.warning("cache invalidations unavailable", error=repr(error))
            self.hears_invalidations = False
            self.local.clear()
            await asyncio.sleep(self.settings.redis_retry_seconds)

    def _forget(self, key: str) -> None:
        self.local.delete(key)
        self._invalidated.set(key, b"%f" % time.monotonic(), LOCK_SECONDS)

    async def ping(self) -> None:
        await self.store.ping()

    async def _fetch(self, key: str, loader: Loader) -> bytes | None:
        payload, fresh = await self._lookup(key)
        if fresh:
            return payload
        if await self._lock(key):
            return await self._load(key, loader)
        if payload is not None:  # stale, and another caller is refreshing it
            return payload
        return await self._wait_for_other_loader(key, loader)

    async def _load(self, key: str, loader: Loader) -> bytes | None:
        try:
            # Checked again under the lock: the previous holder may have stored the value and released
            # the lock between this caller's miss and its taking the lock.
            payload, fresh = await self._lookup(key)
            if not fresh:
                payload = await loader()
                if payload is not None:
                    # Unannounced: every local copy lives no longer than the shared value was fresh
                    # (`_lookup`), so once it is stale no process holds the old value to drop.
                    await self.put(key, payload, announce=False)
            return payload
        finally:
            await self._guard(lambda: self.store.delete(f"lock:{key}"))

    async def _wait_for_other_loader(self, key: str, loader: Loader) -> bytes | None:
        deadline = time.monotonic() + LOCK_SECONDS
        while time.monotonic() < deadline:
            await asyncio.sleep(WAIT_STEP_SECONDS)
            payload, _ = await self._lookup(key)
            if payload is not None:
                return payload
            # The lock is gone with no value: the other loader found nothing, or Redis went away.
            if await self._lock(key):
                return await self._load(key, loader)
        return await loader()

    async def _lookup(self, key: str) -> tuple[bytes | None, bool]:
        """The shared tier's value for `key` and whether it is still fresh."""
        started = time.monotonic()
        raw = await self._guard(lambda: self.store.get(key))
        if raw is None:
            return None, False
        fresh_until, payload = _unpack(raw)
        remaining = fresh_until - time.time()
        fresh = remaining > 0
        invalidated = self._invalidated.get(key)
        if fresh and (invalidated is None or float(invalidated) < started):
            self._keep_local(key, payload, remaining)
        return payload, fresh

    async def _lock(self, key: str) -> bool:
        """Takes the per-key loader lock; without a working store every caller may load."""
        taken = await self._guard(lambda: self.store.add(f"lock:{key}", b"1", LOCK_SECONDS), fallback=True)
        return bool(taken)

    def _keep_local(self, key: str, payload: bytes, fresh_for: float) -> None:
        if self.settings.local_cache_ttl_seconds <= 0:
            return
        ttl = fresh_for if self.hears_invalidations else min(fresh_for, self.settings.local_cache_ttl_seconds)
        self.local.set(key, payload, ttl)

    def _jittered_ttl(self) -> float:
        jitter = self.settings.cache_ttl_jitter
        return self.settings.cache_ttl_seconds * random.uniform(1 - jitter, 1 + jitter)

    async def _guard(self, operation: Callable[[], Awaitable[R]], fallback: R | None = None) -> R | None:
        """Runs a store operation; while the store is failing, skips it and answers `fallback`."""
        if time.monotonic() < self._store_down_until:
            return fallback
        try:
            return await operation()
        except (RedisError, OSError) as error:
            self._store_down_until = time.monotonic() + self.settings.redis_retry_seconds
            log.warning(
                "cache unavailable, serving from the database",
                retry_in_s=self.settings.redis_retry_seconds,
                error=repr(error),
            )
            return fallback
