"""The example resource. Reads go through the cache and the replicas; writes go to the primary."""

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Response, status
from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.api.deps import READ_YOUR_WRITES_COOKIE, Services, ServicesDep, WroteRecentlyDep
from app.logs import get_logger
from app.models import Item
from app.schemas import MAX_ID, ErrorOut, ItemCreate, ItemOut, ItemPage, ItemUpdate
from app.settings import Settings
from app.tasks import enqueue_count_tags

log = get_logger(__name__)
router = APIRouter(prefix="/api/items", tags=["items"])

_COLUMNS = (Item.id, Item.name, Item.price_cents, Item.tags, Item.created_at)
ItemRow = Row[int, str, int, list[str], datetime]
ItemId = Annotated[int, Path(ge=1, le=MAX_ID)]
NOT_FOUND = orjson.dumps({"detail": "item not found"})
# Declared in the OpenAPI document, so it says every status a route answers with.
_NO_ITEM: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "No such item"}}
_BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Body is not JSON (or not UTF-8)"},
    413: {"model": ErrorOut, "description": "Body larger than MAX_BODY_BYTES"},
}
TOMBSTONE = b""  # the cached value of a deleted item


def _cacheable(settings: Settings) -> str:
    # Browsers revalidate (max-age=0); CloudFront keeps its copy for s-maxage and may serve it stale
    # while it refetches or while the origin is failing.
    return (
        f"public, max-age=0, s-maxage={settings.cdn_max_age_seconds}, "
        "stale-while-revalidate=30, stale-if-error=300"
    )


def _cache_key(item_id: int) -> str:
    return f"item:v1:{item_id}"


def _as_dict(row: ItemRow) -> dict[str, Any]:
    created_at: datetime = row.created_at
    if created_at.tzinfo is None:  # SQLite keeps no zone; the server wrote UTC
        created_at = created_at.replace(tzinfo=UTC)
    return {
        "id": row.id,
        "name": row.name,
        "price": row.price_cents / 100,
        "tags": row.tags,
        "created_at": created_at,
    }


async def _fetch_one(connection: AsyncConnection, item_id: int) -> bytes | None:
    row = (await connection.execute(select(*_COLUMNS).where(Item.id == item_id))).one_or_none()
    return None if row is None else orjson.dumps(_as_dict(row))


def _json(payload: bytes, status_code: int, cache_control: str) -> Response:
    return Response(
        payload, status_code, media_type="application/json", headers={"Cache-Control": cache_control}
    )


def _written(payload: bytes, status_code: int, settings: Settings) -> Response:
    response = _json(payload, status_code, "no-store")
    response.set_cookie(
        READ_YOUR_WRITES_COOKIE,
        "1",
        max_age=max(1, round(settings.read_your_writes_seconds)),
        httponly=True,
        samesite="lax",
    )
    return response


async def _enqueue_tag_count(tags: list[str], services: Services) -> None:
    try:
        await enqueue_count_tags(tags, services.db.primary)
    except Exception as error:  # the item is stored; a lost counter update must not fail the request
        log.warning("could not enqueue tag count", error=repr(error))


# OpenAPI links: what a client (or a stateful fuzzer) can do next with the item it just created.
_CREATED_LINKS = {
    name: {"operationId": operation, "parameters": {"item_id": "$response.body#/id"}}
    for name, operation in (
        ("GetItem", "read_item"),
        ("UpdateItem", "update_item"),
        ("DeleteItem", "delete_item"),
    )
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ItemOut,
    responses={201: {"description": "Created", "links": _CREATED_LINKS}, **_BODY_ERRORS},
)
async def create_item(body: ItemCreate, services: ServicesDep) -> Response:
    async with services.db.transaction() as connection:
        statement = (
            insert(Item)
            .values(name=body.name, price_cents=int(body.price * 100), tags=body.tags)
            .returning(*_COLUMNS)
        )
        row = (await connection.execute(statement)).one()
    payload = orjson.dumps(_as_dict(row))
    await services.cache.put(_cache_key(row.id), payload)
    await _enqueue_tag_count(body.tags, services)
    response = _written(payload, status.HTTP_201_CREATED, services.settings)
    response.headers["Location"] = f"/api/items/{row.id}"
    return response


@router.get("/{item_id}", response_model=ItemOut, responses=_NO_ITEM)
async def read_item(item_id: ItemId, services: ServicesDep, wrote_recently: WroteRecentlyDep) -> Response:
    if wrote_recently:
        # The cache may hold what a lagging replica said a moment ago: read this client's write itself.
        payload = await services.db.read(lambda c: _fetch_one(c, item_id), use_primary=True)
    else:
        payload = await services.cache.get_or_load(
            _cache_key(item_id), lambda: services.db.read(lambda c: _fetch_one(c, item_id))
        )
    if payload is None or payload == TOMBSTONE:
        return _json(NOT_FOUND, status.HTTP_404_NOT_FOUND, "no-store")
    return _json(payload, status.HTTP_200_OK, _cacheable(services.settings))


@router.get("", response_model=ItemPage)
async def list_items(
    services: ServicesDep,
    wrote_recently: WroteRecentlyDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="`next_cursor` of the previous page.")
    ] = None,
) -> Response:
    async def page(connection: AsyncConnection) -> list[ItemRow]:
        # Keyset pagination: the primary key index finds the start; no OFFSET scan grows with depth.
        statement = select(*_COLUMNS).order_by(Item.id).limit(limit + 1)
        if cursor is not None:
            statement = statement.where(Item.id > cursor)
        return list((await connection.execute(statement)).all())

    rows = await services.db.read(page, use_primary=wrote_recently)
    has_more = len(rows) > limit
    rows = rows[:limit]
    body = {"items": [_as_dict(row) for row in rows], "next_cursor": rows[-1].id if has_more else None}
    return _json(orjson.dumps(body), status.HTTP_200_OK, _cacheable(services.settings))


@router.patch("/{item_id}", response_model=ItemOut, responses=_NO_ITEM | _BODY_ERRORS)
async def update_item(item_id: ItemId, body: ItemUpdate, services: ServicesDep) -> Response:
    changes = body.model_dump(exclude_none=True)
    if "price" in changes:
        changes["price_cents"] = int(changes.pop("price") * 100)
    async with services.db.transaction() as connection:
        if changes:
            updating = update(Item).where(Item.id == item_id).values(**changes).returning(*_COLUMNS)
            row = (await connection.execute(updating)).one_or_none()
        else:
            row = (await connection.execute(select(*_COLUMNS).where(Item.id == item_id))).one_or_none()
    if row is None:
        return _json(NOT_FOUND, status.HTTP_404_NOT_FOUND, "no-store")
    payload = orjson.dumps(_as_dict(row))
    await services.cache.put(_cache_key(item_id), payload)
    return _written(payload, status.HTTP_200_OK, services.settings)


@router.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_NO_ITEM)
async def delete_item(item_id: ItemId, services: ServicesDep) -> Response:
    async with services.db.transaction() as connection:
        deleted = (await connection.execute(delete(Item).where(Item.id == item_id))).rowcount
    # A tombstone rather than a dropped key: a miss now could re-read a lagging replica and cache the
    # deleted row again.
    await services.cache.put(_cache_key(item_id), TOMBSTONE)
    if not deleted:
        return _json(NOT_FOUND, status.HTTP_404_NOT_FOUND, "no-store")
    return _written(b"", status.HTTP_204_NO_CONTENT, services.settings)
