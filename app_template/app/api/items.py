"""The example resource: its JSON shape and routes. app.records does the caching and routing."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status

from app.api.deps import Services, services_of, wrote_recently
from app.logs import get_logger
from app.models import Item
from app.records import Records, found, not_found, utc, written
from app.schemas import MAX_ID, ErrorOut, ItemCreate, ItemOut, ItemPage, ItemUpdate
from app.tasks import enqueue_count_tags

log = get_logger(__name__)
router = APIRouter(prefix="/api/items", tags=["items"])


def _as_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "price": row.price_cents / 100,
        "tags": row.tags,
        "created_at": utc(row.created_at),
    }


items = Records(
    Item,
    columns=(Item.id, Item.name, Item.price_cents, Item.tags, Item.created_at),
    to_json=_as_json,
)
ItemId = Annotated[int, Path(ge=1, le=MAX_ID)]

# Declared in the OpenAPI document, so it says every status a route answers with.
_NO_ITEM: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "No such item"}}
_BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Body is not JSON (or not UTF-8)"},
    413: {"model": ErrorOut, "description": "Body larger than MAX_BODY_BYTES"},
}
# OpenAPI links: what a client (or a stateful fuzzer) can do next with the item it just created.
_CREATED_LINKS = {
    name: {"operationId": operation, "parameters": {"item_id": "$response.body#/id"}}
    for name, operation in (
        ("GetItem", "read_item"),
        ("UpdateItem", "update_item"),
        ("DeleteItem", "delete_item"),
    )
}


async def _enqueue_tag_count(tags: list[str], services: Services) -> None:
    try:
        await enqueue_count_tags(tags, services.db, services.publisher)
    except Exception as error:  # the item is stored; a lost counter update must not fail the request
        log.warning("could not enqueue tag count", error=repr(error))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ItemOut,
    responses={201: {"description": "Created", "links": _CREATED_LINKS}, **_BODY_ERRORS},
)
async def create_item(body: ItemCreate, request: Request) -> Response:
    services = services_of(request)
    values = {"name": body.name, "price_cents": int(body.price * 100), "tags": body.tags}
    item_id, payload = await items.create(services, values)
    await _enqueue_tag_count(body.tags, services)
    response = written(payload, status.HTTP_201_CREATED, services.settings)
    response.headers["Location"] = f"/api/items/{item_id}"
    return response


@router.get("/{item_id}", response_model=ItemOut, responses=_NO_ITEM)
async def read_item(item_id: ItemId, request: Request) -> Response:
    services = services_of(request)
    payload = await items.get(services, item_id, wrote_recently=wrote_recently(request))
    return not_found("item") if payload is None else found(payload, services.settings)


@router.get("", response_model=ItemPage)
async def list_items(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="`next_cursor` of the previous page.")
    ] = None,
) -> Response:
    services = services_of(request)
    page = await items.page(services, limit=limit, cursor=cursor, wrote_recently=wrote_recently(request))
    return found(page, services.settings)


@router.patch("/{item_id}", response_model=ItemOut, responses=_NO_ITEM | _BODY_ERRORS)
async def update_item(item_id: ItemId, body: ItemUpdate, request: Request) -> Response:
    services = services_of(request)
    changes = body.model_dump(exclude_none=True)
    if "price" in changes:
        changes["price_cents"] = int(changes.pop("price") * 100)
    payload = await items.update(services, item_id, changes)
    return not_found("item") if payload is None else written(payload, status.HTTP_200_OK, services.settings)


@router.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_NO_ITEM)
async def delete_item(item_id: ItemId, request: Request) -> Response:
    services = services_of(request)
    if not await items.delete(services, item_id):
        return not_found("item")
    return written(b"", status.HTTP_204_NO_CONTENT, services.settings)
