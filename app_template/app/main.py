"""The ASGI app: `app.main:app`, served by gunicorn with uvicorn workers (gunicorn.conf.py)."""

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse

from app.api import health, items, tags
from app.api.deps import Services
from app.cache import Cache, MemoryStore, RedisStore, Store
from app.db import Database
from app.errors import validation_error
from app.logs import configure_logging
from app.middleware import BodyLimitMiddleware, RequestContextMiddleware
from app.migrate import migrate
from app.profiling import ProfilingMiddleware
from app.settings import Settings, get_settings
from app.static import router as static_router
from app.static import static_url
from app.tasks import task_publisher


def _store(settings: Settings) -> Store:
    if settings.redis_url:
        return RedisStore(settings.redis_url)
    return MemoryStore(settings.local_cache_max_items)


def _tune_garbage_collection() -> None:
    """Measured under load (`python3 bench/app/profile.py --case page --gc`, without this: 37% of a
    worker's CPU in collections, each full one about 160 ms, stalling every request in the worker).

    - What exists once the app has started (modules, the app, the pools) lives as long as the process;
      frozen, no collection scans it again.
    - A young collection ran every 700 new container objects, i.e. every few requests while a page's
      rows are alive across awaits, promoting rows that die with their response into older
      generations. At 20,000, the net growth of requests in flight does not reach it: no collection
      ran at all in 8 s of load, while garbage in reference cycles is still collected.
    """
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.should_migrate_on_start:
            await migrate(settings)
        services = Services(
            settings, Database(settings), Cache(settings, _store(settings)), publisher=task_publisher()
        )
        app.state.services = services
        invalidations = asyncio.create_task(services.cache.listen_for_invalidations())
        _tune_garbage_collection()
        try:
            yield
        finally:
            invalidations.cancel()
            if services.publisher is not None:
                await asyncio.to_thread(services.publisher.close)
            await services.cache.store.close()
            await services.db.dispose()

    # Operation ids are the route functions' names (`read_item`), which the OpenAPI links refer to and
    # generated clients turn into method names.
    app = FastAPI(
        title="scalestack app template",
        lifespan=lifespan,
        generate_unique_id_function=lambda route: route.name,
    )
    # Set by the gunicorn worker on SIGTERM (app.server); /readyz then answers 503.
    app.state.shutting_down = False
    app.add_exception_handler(RequestValidationError, validation_error)
    app.include_router(health.router)
    app.include_router(items.router)
    app.include_router(tags.router)
    app.include_router(static_router)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    if settings.profiling_token is not None:
        app.add_middleware(ProfilingMiddleware, token=settings.profiling_token.get_secret_value())
    app.add_middleware(RequestContextMiddleware, access_log_enabled=settings.access_log)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        stylesheet = static_url("app.css")
        page = (
            f'<!doctype html><title>scalestack app</title><link rel="stylesheet" href="{stylesheet}">'
            '<h1>scalestack app template</h1><p>API docs at <a href="/docs">/docs</a>; '
            "items at <code>/api/items</code>.</p>"
        )
        return HTMLResponse(page, headers={"Cache-Control": "public, max-age=0, s-maxage=60"})

    return app


def _app() -> FastAPI:
    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings)


app = _app()
