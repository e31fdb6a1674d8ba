"""The example API on the embedded default (SQLite + in-process cache), through gunicorn over HTTP."""

import json
import re
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import APP_DIR, EMBEDDED_VERSION, AppServer


def item_count(app: AppServer) -> int:
    database = app.env["DATABASE_URL"].removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(database) as connection:
        count: int = connection.execute("SELECT count(*) FROM items").fetchone()[0]
        return count


@pytest.fixture
def client(embedded_app: AppServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=embedded_app.url, timeout=10) as client:
        yield client


def create(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/items", json={"name": "lamp", "price": 12.5, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_then_read_back(client: httpx.Client) -> None:
    response = client.post("/api/items", json={"name": "desk lamp", "price": "19.99", "tags": ["light"]})
    assert response.status_code == 201
    created = response.json()
    assert created["name"] == "desk lamp" and created["price"] == 19.99 and created["tags"] == ["light"]
    assert response.headers["location"] == f"/api/items/{created['id']}"
    assert response.headers["cache-control"] == "no-store"

    read = client.get(f"/api/items/{created['id']}")
    assert read.status_code == 200
    assert read.json() == created
    cache_control = read.headers["cache-control"]
    assert cache_control.startswith("public") and "s-maxage=30" in cache_control


def test_missing_item_is_a_json_404_that_no_cache_keeps(client: httpx.Client) -> None:
    response = client.get("/api/items/999999")
    assert response.status_code == 404
    assert response.json() == {"detail": "item not found"}
    assert response.headers["cache-control"] == "no-store"


def test_keyset_pagination_walks_every_item_once(client: httpx.Client) -> None:
    created = {create(client, name=f"page-{n}")["id"] for n in range(5)}
    seen: list[int] = []
    cursor: int | None = None
    for _ in range(100):
        params = {"limit": 2} | ({"cursor": cursor} if cursor is not None else {})
        page = client.get("/api/items", params=params).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert created <= set(seen)


def test_update_is_visible_at_once_to_other_clients(client: httpx.Client, embedded_app: AppServer) -> None:
    item = create(client)
    assert client.get(f"/api/items/{item['id']}").json()["price"] == 12.5  # now cached
    patched = client.patch(f"/api/items/{item['id']}", json={"price": 7})
    assert patched.status_code == 200 and patched.json()["price"] == 7
    with httpx.Client(base_url=embedded_app.url) as stranger:  # no read-your-writes cookie
        assert stranger.get(f"/api/items/{item['id']}").json()["price"] == 7


def test_delete_removes_the_cached_copy(client: httpx.Client, embedded_app: AppServer) -> None:
    item = create(client)
    assert client.get(f"/api/items/{item['id']}").status_code == 200
    assert client.delete(f"/api/items/{item['id']}").status_code == 204
    with httpx.Client(base_url=embedded_app.url) as stranger:
        assert stranger.get(f"/api/items/{item['id']}").status_code == 404
    assert client.delete(f"/api/items/{item['id']}").status_code == 404


def test_tags_are_counted_by_the_task(client: httpx.Client) -> None:
    before = {row["tag"]: row["count"] for row in client.get("/api/tags", params={"limit": 100}).json()}
    create(client, tags=["kitchen", "sale", "sale"])
    after = {row["tag"]: row["count"] for row in client.get("/api/tags", params={"limit": 100}).json()}
    assert after["kitchen"] == before.get("kitchen", 0) + 1
    assert after["sale"] == before.get("sale", 0) + 1


BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("malformed JSON", b'{"name": "x", "price": ', "body"),
    ("name of the wrong type", json.dumps({"name": 5, "price": 1}).encode(), "name"),
    ("empty name", json.dumps({"name": "", "price": 1}).encode(), "name"),
    ("name too long", json.dumps({"name": "x" * 201, "price": 1}).encode(), "name"),
    ("negative price", json.dumps({"name": "x", "price": -1}).encode(), "price"),
    ("price that is not a number", json.dumps({"name": "x", "price": "cheap"}).encode(), "price"),
    ("price finer than cents", json.dumps({"name": "x", "price": 1.001}).encode(), "price"),
    # Decimal itself takes these; the OpenAPI document does not, so neither does the app.
    ("price in exponent notation", json.dumps({"name": "x", "price": "1e3"}).encode(), "price"),
    ("price with spaces", json.dumps({"name": "x", "price": " 5"}).encode(), "price"),
    ("price over what the document allows", json.dumps({"name": "x", "price": 1e10}).encode(), "price"),
    ("price as a boolean", json.dumps({"name": "x", "price": True}).encode(), "price"),
    ("tags not a list", json.dumps({"name": "x", "price": 1, "tags": "a"}).encode(), "tags"),
    ("unknown field", json.dumps({"name": "x", "price": 1, "owner": "me"}).encode(), "owner"),
    ("missing field", json.dumps({"name": "x"}).encode(), "price"),
    ("a list instead of an object", b"[1, 2]", "body"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_BODIES, ids=[case for case, _, _ in BAD_BODIES])
def test_invalid_input_is_a_4xx_naming_the_field_and_writes_nothing(
    client: httpx.Client, embedded_app: AppServer, case: str, body: bytes, field: str
) -> None:
    before = item_count(embedded_app)
    response = client.post("/api/items", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, case
    errors = response.json()["detail"]
    assert any(field in error["loc"] for error in errors), errors
    assert item_count(embedded_app) == before


def test_oversize_body_is_413_and_writes_nothing(client: httpx.Client, embedded_app: AppServer) -> None:
    before = item_count(embedded_app)
    body = json.dumps({"name": "x", "price": 1, "tags": ["t" * 50] * 2000}).encode()
    response = client.post("/api/items", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold on the stream too
        yield b'{"name": "x", "price": 1, "tags": ['
        for _ in range(2000):
            yield b'"' + b"t" * 50 + b'",'
        yield b'"t"]}'

    chunked = client.post("/api/items", content=chunks(), headers={"content-type": "application/json"})
    assert chunked.status_code == 413
    assert item_count(embedded_app) == before


def test_bad_query_and_path_values_are_422(client: httpx.Client) -> None:
    assert client.get("/api/items", params={"limit": 0}).status_code == 422
    assert client.get("/api/items", params={"cursor": "abc"}).status_code == 422
    assert client.get("/api/items/0").status_code == 422
    assert client.patch("/api/items/1", json={"colour": "red"}).status_code == 422


BIGINT_MAX = 2**63 - 1
OUT_OF_RANGE: list[tuple[str, str, dict[str, Any], str]] = [
    ("item id past BIGINT", f"/api/items/{BIGINT_MAX + 1}", {}, "item_id"),
    ("cursor past BIGINT", "/api/items", {"cursor": str(BIGINT_MAX + 1)}, "cursor"),
    ("huge cursor", "/api/items", {"cursor": "9" * 40}, "cursor"),
    ("negative cursor", "/api/items", {"cursor": "-1"}, "cursor"),
]


@pytest.mark.parametrize(
    ("case", "path", "params", "field"), OUT_OF_RANGE, ids=[case for case, *_ in OUT_OF_RANGE]
)
def test_numbers_beyond_the_column_are_422_naming_the_field(
    client: httpx.Client, case: str, path: str, params: dict[str, Any], field: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 422, (case, response.text)
    assert any(field in error["loc"] for error in response.json()["detail"])


def test_largest_id_and_cursor_are_answered(client: httpx.Client) -> None:
    assert client.get(f"/api/items/{BIGINT_MAX}").status_code == 404
    assert client.get("/api/items", params={"cursor": BIGINT_MAX}).json() == {
        "items": [],
        "next_cursor": None,
    }


@pytest.mark.parametrize("escaped", [r"nul\u0000byte", r"lone \ud800 surrogate"])
def test_text_a_database_cannot_store_is_422(client: httpx.Client, escaped: str) -> None:
    body = b'{"name": "' + escaped.encode() + b'", "price": 1}'  # JSON escapes, valid JSON
    response = client.post("/api/items", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert any("name" in error["loc"] for error in response.json()["detail"])


def test_openapi_declares_what_the_app_returns(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    page = spec["components"]["schemas"]["ItemPage"]["properties"]["next_cursor"]
    assert {"type": "integer"} in page["anyOf"]
    client.post("/api/items", json={"name": "a", "price": 1})
    client.post("/api/items", json={"name": "b", "price": 1})
    assert isinstance(client.get("/api/items", params={"limit": 1}).json()["next_cursor"], int)
    create_item = spec["paths"]["/api/items"]["post"]["responses"]
    assert {"201", "400", "413", "422"} <= set(create_item)


def send_without_waiting(port: int, head: bytes, body_size: int) -> bytes:
    """Sends headers and the whole body at once, as most clients do, then reads the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        chunk = b"x" * 65536
        sent = 0
        while sent < body_size:
            sock.sendall(chunk[: body_size - sent])
            sent += len(chunk)
        sock.shutdown(socket.SHUT_WR)
        response = b""
        while data := sock.recv(65536):
            response += data
        return response


def test_oversize_body_sent_without_waiting_gets_its_413(embedded_app: AppServer) -> None:
    size = 8 * 1024 * 1024
    head = (
        "POST /api/items HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode()
    response = send_without_waiting(embedded_app.port, head, size)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    chunked_head = (
        b"POST /api/items HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
    with socket.create_connection(("127.0.0.1", embedded_app.port), timeout=30) as sock:
        sock.sendall(chunked_head + chunk * 64 + b"0\r\n\r\n")  # 4 MiB
        response = sock.recv(65536)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]


def test_oversize_body_announced_with_expect_continue_is_refused_before_it_is_sent(
    embedded_app: AppServer,
) -> None:
    head = (
        "POST /api/items HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {8 * 1024 * 1024}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", embedded_app.port), timeout=10) as sock:
        sock.sendall(head)
        assert sock.recv(65536).startswith(b"HTTP/1.1 413")


def test_request_id_is_honoured_echoed_and_logged(client: httpx.Client, embedded_app: AppServer) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "trace-abc.123"})
    assert response.headers["x-request-id"] == "trace-abc.123"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])

    access = [json.loads(line) for line in embedded_app.log_lines() if "trace-abc.123" in line]
    assert access and access[0]["path"] == "/healthz" and access[0]["status"] == 200


def test_health_probes(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "version": EMBEDDED_VERSION}
    assert client.get("/readyz").json() == {"status": "ok", "database": "ok", "cache": "ok"}


def test_static_assets_have_hashed_names_and_a_year_of_caching(client: httpx.Client) -> None:
    page = client.get("/").text
    match = re.search(r'href="(/static/app\.[0-9a-f]{12}\.css)"', page)
    assert match, page
    asset = client.get(match.group(1))
    assert asset.status_code == 200 and "font-family" in asset.text
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert asset.headers["content-type"].startswith("text/css")
    assert client.get("/static/app.css").status_code == 404


def test_static_build_writes_the_names_the_app_serves(client: httpx.Client, tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "app.static", str(tmp_path)], cwd=APP_DIR, check=True, timeout=30)
    built = [path.name for path in tmp_path.iterdir()]
    assert built and all(re.fullmatch(r"[\w-]+\.[0-9a-f]{12}\.\w+", name) for name in built)
    for name in built:  # the files uploaded to S3 are byte for byte what the app serves under that name
        assert client.get(f"/static/{name}").content == (tmp_path / name).read_bytes()
