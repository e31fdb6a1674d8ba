"""Pure ASGI middleware: they run on every request, so they avoid Starlette's per-request wrappers."""

import re
import time
import uuid

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import get_logger

access_log = get_logger("app.access")

# Echoed into logs and headers, so only a conservative alphabet and length is honoured.
_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    """Honours or assigns X-Request-ID, echoes it, binds it to every log line, writes the access log."""

    def __init__(self, app: ASGIApp, *, access_log_enabled: bool) -> None:
        self.app = app
        self.access_log_enabled = access_log_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        if not _REQUEST_ID.match(request_id):
            request_id = uuid.uuid4().hex.encode()
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id.decode()):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                if self.access_log_enabled:
                    access_log.info(
                        "request",
                        method=scope["method"],
                        path=scope["path"],
                        status=status,
                        duration_ms=round((time.perf_counter() - started) * 1000, 2),
                    )


# How much of an oversize body is read (and thrown away) before the 413. A client that sends its whole
# body without waiting for an answer would otherwise see the connection reset, because closing a socket
# with unread data makes the kernel send RST, and a load balancer turns that into a 502.
DISCARD_LIMIT_BYTES = 16 * 1024 * 1024


class BodyLimitMiddleware:
    """Answers 413 to a body over the limit, before the app reads any of it into a model or the database.

    The body is buffered (it is small by definition) so the limit also holds for chunked uploads that
    announce no length. A client that asked `Expect: 100-continue` gets the 413 at once and never sends
    its body (the server sends `100 Continue` only when the app first reads); any other client's body
    is read and discarded, up to DISCARD_LIMIT_BYTES, so the 413 reaches it.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not any(
            k in (b"content-length", b"transfer-encoding") for k, _ in scope["headers"]
        ):
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            expects_continue = any(k == b"expect" for k, _ in scope["headers"])
            if not expects_continue and declared.isdigit() and int(declared) <= DISCARD_LIMIT_BYTES:
                await self._discard(receive)
            await self._reject(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                if message.get("more_body", False):
                    await self._discard(receive, size)
                await self._reject(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    async def _discard(receive: Receive, already: int = 0) -> None:
        """Reads the rest of the body, up to DISCARD_LIMIT_BYTES in all, into nowhere."""
        size = already
        while size <= DISCARD_LIMIT_BYTES:
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                return
            size += len(message.get("body", b""))

    async def _reject(self, send: Send) -> None:
        body = orjson.dumps({"detail": f"request body larger than {self.max_body_bytes} bytes"})
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
