"""Profiling a slow endpoint in a running deployment, without redeploying.

Off unless PROFILING_TOKEN is set. A request whose `X-Profile` header carries that token is served as
usual, under pyinstrument, and answered with the profile instead of its body: pyinstrument's HTML page,
or a speedscope JSON (https://www.speedscope.app) with `X-Profile-Format: speedscope`. The header is
removed before the app sees the request, and nothing logs headers, so the token never reaches a log.
A header rather than a query parameter, because load balancers and CDNs log query strings.
"""

import hmac

from pyinstrument import Profiler
from pyinstrument.renderers import SpeedscopeRenderer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROFILE_HEADER = b"x-profile"
FORMAT_HEADER = b"x-profile-format"
# Samples every 100 µs: a cached read takes a few hundred, and at pyinstrument's default millisecond
# its profile was often empty. The cost falls on the profiled request alone.
INTERVAL_SECONDS = 0.0001


class ProfilingMiddleware:
    def __init__(self, app: ASGIApp, *, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = next((v for k, v in scope["headers"] if k == PROFILE_HEADER), None)
        if offered is None:
            await self.app(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k not in (PROFILE_HEADER, FORMAT_HEADER)]
        wanted = next((v for k, v in scope["headers"] if k == FORMAT_HEADER), b"html")
        scope = {**scope, "headers": headers}
        # Constant time: the comparison must not tell an attacker how much of a guess was right.
        if not hmac.compare_digest(offered, self.token):
            await self.app(scope, receive, send)
            return
        await self._profiled(scope, receive, send, speedscope=wanted == b"speedscope")

    async def _profiled(self, scope: Scope, receive: Receive, send: Send, *, speedscope: bool) -> None:
        async def swallow(_: Message) -> None:  # the profile replaces the endpoint's own response
            return None

        profiler = Profiler(interval=INTERVAL_SECONDS, async_mode="enabled")
        with profiler:
            await self.app(scope, receive, swallow)
        if speedscope:
            body = profiler.output(SpeedscopeRenderer()).encode()
            media_type = b"application/json"
        else:
            body = profiler.output_html().encode()
            media_type = b"text/html; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", media_type),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
