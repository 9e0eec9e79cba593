"""Swift's tables: accounts, containers and objects (bytes live in the blob store).

Names sort by byte order, as in Swift: SQLite compares TEXT with memcmp, PostgreSQL needs
the "C" collation. Listings walk the (parent, name) unique indexes with a marker.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from onestack.db.models.base import Base


def _name(length: int) -> String:
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class SwiftAccount(Base):
    __tablename__ = "swift_account"
    name: Mapped[str] = mapped_column(_name(256), primary_key=True)  # AUTH_<project_id>
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)  # X-Account-Meta-*, lower keys
    sysmeta: Mapped[dict[str, Any]] = mapped_column(default=dict)  # quotas set by resellers
    container_count: Mapped[int] = mapped_column(Integer, default=0)
    object_count: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_used: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[float] = mapped_column(Float)


class SwiftContainer(Base):
    __tablename__ = "swift_container"
    __table_args__ = (UniqueConstraint("account", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(
        _name(256), ForeignKey("swift_account.name", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(_name(256))
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)  # X-Container-Meta-*
    # ACLs, versioning, container temp-url keys: {"read": ..., "write": ..., ...}
    sysmeta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    object_count: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_used: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[float] = mapped_column(Float)
    put_timestamp: Mapped[float] = mapped_column(Float)


class SwiftObject(Base):
    __tablename__ = "swift_object"
    __table_args__ = (UniqueConstraint("container_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    container_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("swift_container.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(_name(1024))
    blob: Mapped[str] = mapped_column(String(512))  # key in the blob store
    size: Mapped[int] = mapped_column(BigInteger)  # bytes stored (the manifest for an SLO)
    etag: Mapped[str] = mapped_column(String(64))  # md5 of the stored bytes
    content_type: Mapped[str] = mapped_column(String(1024))
    timestamp: Mapped[float] = mapped_column(Float)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)  # X-Object-Meta-*
    # Content-Disposition, Content-Encoding, X-Object-Manifest, SLO size and etag...
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    delete_at: Mapped[float | None] = mapped_column(Float, index=True)
