"""The task publisher (app.publisher) against a real Redis: every task a request queued reaches the
broker as a message a Celery worker takes, stopping sends what is queued, and a broker that is down or
silent never holds a request up."""

import base64
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery
from hypothesis import given
from hypothesis import strategies as st

from app.publisher import PublisherUnavailable, TaskPublisher
from app.settings import Settings
from app.tasks import make_celery, tag_count_layers
from tests.servers import RedisServer


def _celery(redis_url: str) -> Celery:
    app = make_celery(Settings(database_url="sqlite+aiosqlite://", redis_url=redis_url))

    @app.task(name="test.record", shared=False)
    def record(n: int) -> None: ...

    @app.task(name="test.report", shared=False)
    def report(n: int) -> None: ...

    app.conf.task_routes = {"test.report": {"queue": "reports"}}
    return app


def _queued_tasks(redis_url: str, queue: str = "celery") -> list[tuple[str, list[Any]]]:
    """(task name, args) of every message on `queue` (Celery's default), oldest first."""
    messages = redis.Redis.from_url(redis_url).lrange(queue, 0, -1)
    tasks = []
    for raw in reversed(messages):  # LPUSH: the newest is first
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        tasks.append((message["headers"]["task"], args))
    return tasks


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    url = f"{redis_server.url.rsplit('/', 1)[0]}/7"  # a database of its own, emptied around each test
    redis.Redis.from_url(url).flushdb()
    yield url
    redis.Redis.from_url(url).flushdb()


def test_every_task_sent_from_several_threads_reaches_the_broker_once(redis_url: str) -> None:
    app = _celery(redis_url)
    publisher = TaskPublisher(app, linger_seconds=0.01)
    task = app.tasks["test.record"]

    def send_fifty(first: int) -> None:
        for n in range(first, first + 50):
            publisher.send(task, n)

    senders = [threading.Thread(target=send_fifty, args=(k * 100,)) for k in range(4)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    publisher.close()
    tasks = _queued_tasks(redis_url)
    assert sorted(args[0] for _, args in tasks) == sorted(k * 100 + n for k in range(4) for n in range(50))
    assert {name for name, _ in tasks} == {"test.record"}


def test_closing_sends_what_is_queued_without_waiting_for_the_linger(redis_url: str) -> None:
    app = _celery(redis_url)
    publisher = TaskPublisher(app, linger_seconds=30)
    for n in range(20):
        publisher.send(app.tasks["test.record"], n)
    started = time.monotonic()
    publisher.close(timeout=10)
    assert time.monotonic() - started < 5
    assert [args for _, args in _queued_tasks(redis_url)] == [[n] for n in range(20)]
    with pytest.raises(PublisherUnavailable, match="stopping"):
        publisher.send(app.tasks["test.record"], 99)


def test_a_task_routed_to_its_own_queue_lands_there(redis_url: str) -> None:
    app = _celery(redis_url)
    publisher = TaskPublisher(app, linger_seconds=0)
    publisher.send(app.tasks["test.report"], 5)
    publisher.send(app.tasks["test.record"], 6)
    publisher.close()
    assert _queued_tasks(redis_url, "reports") == [("test.report", [5])]
    assert _queued_tasks(redis_url) == [("test.record", [6])]


@pytest.fixture
def silent_broker() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers: a hung Redis."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


def test_a_silent_broker_never_holds_up_the_sender_and_the_backlog_is_bounded(silent_broker: str) -> None:
    app = _celery(silent_broker)
    publisher = TaskPublisher(app, linger_seconds=0, max_batch=1, max_pending=3)
    task = app.tasks["test.record"]
    started = time.monotonic()
    refused = 0
    for n in range(20):
        try:
            publisher.send(task, n)
        except PublisherUnavailable as error:
            assert "wait for the broker" in str(error)
            refused += 1
    # The publishing thread is stuck on the first task (the socket timeout is 1 s); three more fit.
    assert time.monotonic() - started < 0.5
    assert refused >= 20 - 1 - 3
    publisher.close(timeout=0.5)


def test_tag_counts_sent_together_become_fewer_messages_that_count_the_same(redis_url: str) -> None:
    app = _celery(redis_url)

    @app.task(name="test.count_tags", shared=False)
    def count(tags: list[str]) -> None: ...

    publisher = TaskPublisher(app, linger_seconds=30, coalesce={"test.count_tags": tag_count_layers})
    items_tags = [["a", "b"], ["a", "c"], ["a", "a"], ["d"], []]
    for tags in items_tags:
        publisher.send(count, tags)
    publisher.close(timeout=10)  # sends the five as one batch
    messages = _queued_tasks(redis_url)
    assert len(messages) == 3  # "a" is on three items
    counted = Counter(tag for _, (tags,) in messages for tag in set(tags))
    assert counted == Counter({"a": 3, "b": 1, "c": 1, "d": 1})


@given(st.lists(st.lists(st.sampled_from("abcdef"), max_size=4), max_size=12))
def test_tag_count_layers_count_what_the_items_count(items_tags: list[list[str]]) -> None:
    layers = [tags for (tags,) in tag_count_layers([(tags,) for tags in items_tags])]
    per_item = Counter(tag for tags in items_tags for tag in set(tags))
    assert Counter(tag for tags in layers for tag in tags) == per_item
    assert len(layers) == max(per_item.values(), default=0)
    assert all(tags == sorted(set(tags)) for tags in layers)  # as the upsert wants them: no deadlocks
