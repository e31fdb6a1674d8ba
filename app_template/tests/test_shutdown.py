"""SIGTERM: readiness turns 503 first, requests already in flight complete, the process exits in time."""

import json
import socket
import sqlite3
import time
from pathlib import Path

import httpx

from tests.servers import AppServer, running

DRAIN_SECONDS = 1.5
GRACEFUL_SECONDS = 10


def start_post(port: int, name: str) -> tuple[socket.socket, bytes]:
    """Sends the headers and half the body of a POST: the request is in flight until the rest arrives."""
    body = json.dumps({"name": name, "price": 1}).encode()
    head = (
        f"POST /api/items HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    conn = socket.create_connection(("127.0.0.1", port), timeout=GRACEFUL_SECONDS)
    conn.sendall(head + body[:10])
    return conn, body[10:]


def finish(conn: socket.socket, rest: bytes) -> bytes:
    conn.sendall(rest)
    response = b""
    while chunk := conn.recv(65536):
        response += chunk
    conn.close()
    return response


def test_sigterm_drains_then_completes_in_flight_requests(tmp_path: Path) -> None:
    database = tmp_path / "app.db"
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
        "GRACEFUL_TIMEOUT_SECONDS": str(GRACEFUL_SECONDS),
    }
    server = AppServer(env, tmp_path / "app.log", workers=2)
    with running(server):
        in_flight = [start_post(server.port, f"in-flight-{n}") for n in range(4)]
        time.sleep(0.2)  # let the workers parse the headers
        signalled = time.monotonic()
        server.terminate()

        readiness: list[int] = []
        while time.monotonic() - signalled < DRAIN_SECONDS - 0.3:
            readiness.append(httpx.get(f"{server.url}/readyz", timeout=2).status_code)
            time.sleep(0.1)
        assert readiness and set(readiness) == {503}
        assert httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200  # alive while draining

        time.sleep(DRAIN_SECONDS)  # past the drain: the workers have stopped accepting and now wait
        responses = [finish(conn, rest) for conn, rest in in_flight]
        assert all(response.startswith(b"HTTP/1.1 201") for response in responses), responses

        assert server.process is not None
        assert server.process.wait(timeout=GRACEFUL_SECONDS) == 0
        assert time.monotonic() - signalled < GRACEFUL_SECONDS
    with sqlite3.connect(database) as connection:
        names = {row[0] for row in connection.execute("SELECT name FROM items")}
    assert names == {f"in-flight-{n}" for n in range(4)}
