"""A table served the way this app serves data: the pattern every resource follows, in one place.

- Reads by id are cache-aside (app.cache: two tiers, one loader per key) and come from the replicas.
- A client that wrote in the last READ_YOUR_WRITES_SECONDS reads from the primary, past the cache, so
  it sees its own write even while the replicas lag (the `ryw` cookie that `written` sets).
- Writes go to the primary (one statement each, in autocommit) and then write through to the cache;
  a delete leaves a tombstone, because a dropped key would let the next miss re-read a lagging replica
  and cache the deleted row again.
- Pages are keyset pagination on the integer primary key: the index finds the start, whatever the depth.
  Pages that requests ask for at the same moment are read in one statement (app.batching).

Values are cached and served as JSON bytes, so a cached read costs no serialization. A resource is a
`Records(Model, columns, to_json)`; routes call its methods and answer with `found`, `written`, etc.
`to_json` receives a row as a named tuple of `columns` (`row.name`, `row._asdict()`): a plain tuple's
fields are read several times faster than a SQLAlchemy Row's, whose attribute access was most of the
time a page of 20 spent turning rows into JSON (the page profile, bench/app/profile.py).
"""

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import orjson
from fastapi import Response, status
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Row,
    Select,
    Table,
    bindparam,
    delete,
    exc,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.dml import ReturningInsert
from sqlalchemy.types import ARRAY

from app.api.deps import READ_YOUR_WRITES_COOKIE, Services
from app.db import is_unavailable
from app.models import Base
from app.settings import Settings

TOMBSTONE = b""  # the cached value of a deleted record
# The cursor of a first page: lower than any id (a BIGINT), so "after it" is every record.
BEFORE_FIRST_ID = -(2**63)


def utc(moment: datetime) -> datetime:
    """SQLite keeps no time zone; the server wrote UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Records:
    """Reads, writes and pages of one table, with the cache and the replicas used as described above."""

    model: type[Base]  # a table with an integer primary key `id`
    columns: Sequence[QueryableAttribute[Any]]  # what a read returns and `to_json` turns into JSON
    to_json: Callable[[Any], Mapping[str, Any]]  # given a named tuple of `columns`
    # Bump when the cached shape changes: old processes keep their keys, new ones start afresh.
    version: int = 1

    @property
    def table(self) -> Table:
        table = self.model.__table__
        assert isinstance(table, Table)
        return table

    @property
    def _id(self) -> ColumnElement[int]:
        id_column: ColumnElement[int] = self.table.c.id
        return id_column

    def cache_key(self, record_id: int) -> str:
        return f"{self.table.name}:v{self.version}:{record_id}"

    @cached_property
    def _fields(self) -> Callable[..., tuple[Any, ...]]:
        """The named tuple `to_json` receives: one field per column, named as the column."""
        return namedtuple(f"{self.table.name}_row", [column.key for column in self.columns])

    def dumps(self, row: Row[Any]) -> bytes:
        return orjson.dumps(self.to_json(self._fields(*row)))

    # Statements built once, with bound parameters: SQLAlchemy then finds their compiled form by a cache
    # key it memoizes on the statement, instead of building and hashing a new statement per request
    # (a tenth of a cached miss's time in the profile).
    @cached_property
    def _by_id(self) -> Select[Any]:
        return select(*self.columns).where(self._id == bindparam("record_id"))

    @cached_property
    def _insert(self) -> ReturningInsert[Any]:
        # The values come as parameters of each execution, so the compiled form is built once. Many
        # rows become one multi-row INSERT whose RETURNING rows SQLAlchemy puts back in the order of the
        # rows given ("insertmanyvalues").
        return insert(self.table).returning(*self.columns, sort_by_parameter_order=True)

    async def _insert_each(
        self, connection: AsyncConnection, rows: list[dict[str, Any]]
    ) -> list[Row[Any] | Exception]:
        """Each row inserted, in one statement when they name the same columns. If that statement fails
        because of what is in it (not because the server is unavailable), the rows go one by one, so a
        bad row fails only its own request."""
        if len({tuple(row) for row in rows}) == 1:
            try:
                return list((await connection.execute(self._insert, rows)).all())
            except exc.DBAPIError as error:
                if len(rows) == 1 or is_unavailable(error):
                    raise
        outcomes: list[Row[Any] | Exception] = []
        for row in rows:
            try:
                outcomes.append((await connection.execute(self._insert, [row])).one())
            except exc.DBAPIError as error:
                if is_unavailable(error):
                    raise
                outcomes.append(error)
        return outcomes

    @cached_property
    def _page(self) -> Select[Any]:
        return (
            select(*self.columns)
            .where(self._id > bindparam("cursor"))
            .order_by(self._id)
            .limit(bindparam("limit"))
        )

    @cached_property
    def _pages_at_once(self) -> Select[Any]:
        """Many pages in one statement (PostgreSQL): each (cursor, limit) pair of the parameter arrays
        joined LATERAL to its page, which the primary key's index finds as it finds one page."""
        requests = (
            func.unnest(
                bindparam("cursors", type_=ARRAY(BigInteger)), bindparam("limits", type_=ARRAY(Integer))
            )
            .table_valued("cursor", "size", with_ordinality="request")
            .render_derived(name="requests")
        )
        page = (
            select(*self.columns)
            .where(self._id > requests.c.cursor)
            .order_by(self._id)
            .limit(requests.c.size)
            .lateral("page")
        )
        return (
            select(requests.c.request, *page.c)
            .select_from(requests)
            .join(page, true())
            .order_by(requests.c.request, page.c.id)
        )

    async def _pages(
        self, connection: AsyncConnection, requests: list[tuple[int, int]]
    ) -> list[list[tuple[Any, ...]]]:
        """The rows of each (cursor, limit) page, in the order asked, as `_fields` tuples."""
        fields = self._fields
        if connection.dialect.name != "postgresql":  # the embedded default: no LATERAL, no arrays
            return [
                [fields(*row) for row in await connection.execute(self._page, {"cursor": c, "limit": n})]
                for c, n in requests
            ]
        cursors, limits = zip(*requests, strict=True)
        pages: list[list[tuple[Any, ...]]] = [[] for _ in requests]
        result = await connection.execute(self._pages_at_once, {"cursors": cursors, "limits": limits})
        for request, *row in result:  # the request's ordinal (from 1), then the page's columns
            pages[request - 1].append(fields(*row))
        return pages

    async def _fetch(self, connection: AsyncConnection, record_id: int) -> bytes | None:
        row = (await connection.execute(self._by_id, {"record_id": record_id})).one_or_none()
        return None if row is None else self.dumps(row)

    async def get(self, services: Services, record_id: int, *, wrote_recently: bool) -> bytes | None:
        """The record's JSON, or None if there is none."""
        if wrote_recently:
            # The cache may hold what a lagging replica said a moment ago: read this client's write itself.
            payload = await services.db.read(lambda c: self._fetch(c, record_id), use_primary=True)
        else:
            payload = await services.cache.get_or_load(
                self.cache_key(record_id), lambda: services.db.read(lambda c: self._fetch(c, record_id))
            )
        return None if payload is None or payload == TOMBSTONE else payload

    async def page(
        self, services: Services, *, limit: int, cursor: int | None, wrote_recently: bool
    ) -> bytes:
        """`{"items": [...], "next_cursor": <id> or null}` for the `limit` records after `cursor`."""

        start = BEFORE_FIRST_ID if cursor is None else cursor
        found = await services.db.read_one(self._pages, (start, limit + 1), use_primary=wrote_recently)
        has_more = len(found) > limit
        found = found[:limit]
        next_cursor = found[-1].id if has_more else None  # type: ignore[attr-defined]
        return orjson.dumps({"items": [self.to_json(row) for row in found], "next_cursor": next_cursor})

    async def create(self, services: Services, values: Mapping[str, Any]) -> tuple[int, bytes]:
        """Inserts a record (in one statement with the creates that arrive with it); its id and JSON,
        already in the cache."""
        row = await services.db.write_one(self._insert_each, dict(values))
        payload = self.dumps(row)
        await services.cache.put(self.cache_key(row.id), payload, announce=False)
        return row.id, payload

    async def update(self, services: Services, record_id: int, values: Mapping[str, Any]) -> bytes | None:
        """Changes the record (nothing if `values` is empty); its new JSON, or None if there is none."""
        async with services.db.statement() as connection:
            if values:
                statement = (
                    update(self.table).where(self._id == record_id).values(**values).returning(*self.columns)
                )
                row = (await connection.execute(statement)).one_or_none()
            else:
                query = select(*self.columns).where(self._id == record_id)
                row = (await connection.execute(query)).one_or_none()
        if row is None:
            return None
        payload = self.dumps(row)
        await services.cache.put(self.cache_key(record_id), payload)
        return payload

    async def delete(self, services: Services, record_id: int) -> bool:
        """Deletes the record; whether there was one. Leaves a tombstone in the cache either way."""
        async with services.db.statement() as connection:
            deleted = (await connection.execute(delete(self.table).where(self._id == record_id))).rowcount
        await services.cache.put(self.cache_key(record_id), TOMBSTONE)
        return bool(deleted)


# Responses. Browsers revalidate (max-age=0); CloudFront keeps its copy for s-maxage and may serve it
# stale while it refetches or while the origin is failing. Writes and misses are never cached.


def cacheable(settings: Settings) -> str:
    return (
        f"public, max-age=0, s-maxage={settings.cdn_max_age_seconds}, "
        "stale-while-revalidate=30, stale-if-error=300"
    )


def json_response(payload: bytes, status_code: int, cache_control: str) -> Response:
    return Response(
        payload, status_code, media_type="application/json", headers={"Cache-Control": cache_control}
    )


def found(payload: bytes, settings: Settings) -> Response:
    return json_response(payload, status.HTTP_200_OK, cacheable(settings))


def not_found(what: str) -> Response:
    return json_response(orjson.dumps({"detail": f"{what} not found"}), status.HTTP_404_NOT_FOUND, "no-store")


def written(payload: bytes, status_code: int, settings: Settings) -> Response:
    """A write's response: never cached, and it sends this client's next reads to the primary."""
    response = json_response(payload, status_code, "no-store")
    response.set_cookie(
        READ_YOUR_WRITES_COOKIE,
        "1",
        max_age=max(1, round(settings.read_your_writes_seconds)),
        httponly=True,
        samesite="lax",
    )
    return response
