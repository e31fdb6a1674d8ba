"""Puts each Celery queue's length in CloudWatch, once a minute (a systemd timer); runs on the instance.

A `string.Template`: the placeholder constants below are filled in by `infra.components.app_group` when
the user data is rendered, and the result runs under the instance's own python3 (Amazon Linux 2023's
3.9: nothing newer than its standard library, so Redis is spoken directly: RESP over TLS). It reads the
cache's address and password from the app's env file (the settings renderer writes REDIS_URL there with
the stack's own cache credentials) and puts one data point per queue through the AWS CLI, which signs
with the instance's role (PutMetricData, pinned to the stack's namespace).

Celery's Redis transport keeps a queue as a Redis list named after it (kombu's LPUSH/BRPOP), so its
length is LLEN of that name.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import urllib.parse
from collections.abc import Callable
from typing import Any, BinaryIO

NAMESPACE = "${namespace}"
METRIC_NAME = "${metric_name}"
DIMENSION = "${dimension}"
QUEUE_LIST = "${queues}"
"""Comma-separated: queue names hold no commas (the spec's QueueName)."""
ENV_FILE = "${env_file}"
BULK = b"\x24"
"""RESP's bulk-string marker, the dollar sign, spelled so that the template leaves it alone."""


def command(*parts: str) -> bytes:
    """One Redis command in RESP: an array of bulk strings."""
    encoded = [part.encode() for part in parts]
    return b"*%d\r\n" % len(encoded) + b"".join(BULK + b"%d\r\n%s\r\n" % (len(p), p) for p in encoded)


def reply(stream: BinaryIO) -> int | bytes | None:
    """One RESP reply: simple string, integer or bulk string; an error reply raises."""
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("Redis closed the connection")
    kind, body = line[:1], line[1:-2]
    if kind == b"-":
        raise RuntimeError("Redis answered " + body.decode(errors="replace"))
    if kind == b":":
        return int(body)
    if kind == BULK:
        size = int(body)
        return None if size < 0 else stream.read(size + 2)[:-2]
    if kind == b"+":
        return body
    raise RuntimeError("unexpected Redis reply " + repr(line[:40]))


def connect(url: str, timeout: float) -> socket.socket:
    """A connection to the server of a redis:// or rediss:// URL (rediss: TLS, certificate checked)."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port or 6379
    sock = socket.create_connection((host, port), timeout=timeout)
    if parts.scheme == "rediss":
        return ssl.create_default_context().wrap_socket(sock, server_hostname=host)
    return sock


def queue_lengths(url: str, queues: list[str], timeout: float = 5.0) -> dict[str, int]:
    """Each queue's length, as the server of `url` (with its password and database) holds it now."""
    parts = urllib.parse.urlsplit(url)
    setup = []
    if parts.password:
        setup.append(command("AUTH", urllib.parse.unquote(parts.password)))
    database = parts.path.strip("/")
    if database:
        setup.append(command("SELECT", database))
    with connect(url, timeout) as sock, sock.makefile("rb") as replies:
        sock.sendall(b"".join(setup) + b"".join(command("LLEN", q) for q in queues))
        for _ in setup:
            reply(replies)
        lengths = {q: reply(replies) for q in queues}
    return {q: n if isinstance(n, int) else 0 for q, n in lengths.items()}


def metric_data(lengths: dict[str, int]) -> list[dict[str, Any]]:
    """PutMetricData's MetricData: one data point per queue, its name the dimension."""
    return [
        {
            "MetricName": METRIC_NAME,
            "Dimensions": [{"Name": DIMENSION, "Value": q}],
            "Value": n,
            "Unit": "Count",
        }
        for q, n in sorted(lengths.items())
    ]


def put_with_cli(namespace: str, data: list[dict[str, Any]]) -> None:
    args = ["cloudwatch", "put-metric-data", "--namespace", namespace, "--metric-data", json.dumps(data)]
    subprocess.check_call(["aws", *args])


def publish(url: str, put: Callable[[str, list[dict[str, Any]]], None] = put_with_cli) -> dict[str, int]:
    """Read every queue's length and put it; returns what was put."""
    lengths = queue_lengths(url, QUEUE_LIST.split(","))
    put(NAMESPACE, metric_data(lengths))
    return lengths


def redis_url(env_file: str) -> str | None:
    with open(env_file) as lines:
        env = dict(line.rstrip("\n").split("=", 1) for line in lines if "=" in line)
    return env.get("REDIS_URL")


def main() -> None:
    url = redis_url(ENV_FILE)
    if not url:
        sys.exit(f"no REDIS_URL in {ENV_FILE}: the settings renderer has not run yet")
    publish(url)


if __name__ == "__main__":
    main()
