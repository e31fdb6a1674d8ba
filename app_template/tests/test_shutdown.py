"""SIGTERM: readiness turns 503 first, requests already in flight complete, the process exits in time.

Every connection the kernel accepts must be answered. With one listening socket per worker
(SO_REUSEPORT), connections queued on a worker that stopped (SIGTERM during its boot, a recycle) were
reset: this test failed about 2 runs in 25. The workers now share one socket, so a queued connection
waits for whichever worker takes it; `test_workers_share_one_listening_socket` checks that directly.
"""

import json
import socket
import sqlite3
import time
from pathlib import Path

import httpx

from tests.servers import AppServer, running, wait_for

# Long enough that the checks made during the drain finish inside it on a loaded machine (they are
# bounded by DRAIN_MARGIN_SECONDS before its end), short enough to keep the test quick.
DRAIN_SECONDS = 3.0
DRAIN_MARGIN_SECONDS = 1.0
GRACEFUL_SECONDS = 15  # generous: on a loaded machine the exit itself takes seconds


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

        # The master relays the signal to the workers: readiness turns 503 within moments, then stays so.
        wait_for(lambda: httpx.get(f"{server.url}/readyz", timeout=1).status_code == 503, "readyz 503", 1.0)
        assert httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200  # alive while draining
        readiness: list[int] = []
        while time.monotonic() - signalled < DRAIN_SECONDS - DRAIN_MARGIN_SECONDS:
            readiness.append(httpx.get(f"{server.url}/readyz", timeout=1).status_code)
            time.sleep(0.1)
        assert time.monotonic() - signalled < DRAIN_SECONDS, (
            "the checks overran the drain; raise DRAIN_SECONDS"
        )
        assert readiness and set(readiness) == {503}

        # Past the drain: the workers have stopped accepting and now wait for the in-flight bodies.
        time.sleep(max(0.0, signalled + DRAIN_SECONDS + 0.5 - time.monotonic()))
        responses = [finish(conn, rest) for conn, rest in in_flight]
        assert all(response.startswith(b"HTTP/1.1 201") for response in responses), responses

        assert server.process is not None
        assert server.process.wait(timeout=GRACEFUL_SECONDS) == 0
        assert time.monotonic() - signalled < GRACEFUL_SECONDS
    with sqlite3.connect(database) as connection:
        names = {row[0] for row in connection.execute("SELECT name FROM items")}
    assert names == {f"in-flight-{n}" for n in range(4)}


def listening_sockets(port: int) -> int:
    """How many sockets listen on 127.0.0.1:`port` (each SO_REUSEPORT socket is one more)."""
    local = f"0100007F:{port:04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[1] == local and line.split()[3] == "0A")


def test_workers_share_one_listening_socket(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"}
    server = AppServer(env, tmp_path / "app.log", workers=3)
    with running(server):
        assert listening_sockets(server.port) == 1


def test_connections_queued_while_a_worker_boots_are_answered(tmp_path: Path) -> None:
    """Requests sent the moment the first worker answers, while the others still boot, and SIGTERM at
    once: each gets its answer (before, those queued on a booting worker's own socket were reset)."""
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        "SHUTDOWN_DRAIN_SECONDS": "1",
        "GRACEFUL_TIMEOUT_SECONDS": str(GRACEFUL_SECONDS),
    }
    server = AppServer(env, tmp_path / "app.log", workers=4)
    with running(server):
        in_flight = [start_post(server.port, f"early-{n}") for n in range(16)]
        server.terminate()
        responses = [finish(conn, rest) for conn, rest in in_flight]
        assert all(response.startswith(b"HTTP/1.1 201") for response in responses), responses
