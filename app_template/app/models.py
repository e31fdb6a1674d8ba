"""Tables. Alembic migrations in app/migrations create them; this module is their Python shape."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, Integer, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"

    # The primary key is the keyset pagination column: indexed, unique and increasing.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Cents in an integer: exact, and the same on SQLite and PostgreSQL.
    price_cents: Mapped[int] = mapped_column(BigInteger)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TagCount(Base):
    """Kept up to date by the worker, off the request path (see app.tasks)."""

    __tablename__ = "tag_counts"

    tag: Mapped[str] = mapped_column(String(100), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
