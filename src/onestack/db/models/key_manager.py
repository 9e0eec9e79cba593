"""Barbican's tables: secrets (payloads encrypted under their project's key), project keys
(wrapped by the operator's master key), containers, consumers, orders, ACL users and quotas.

A secret's payload is only ever stored as ``ciphertext`` (AES-256-GCM under the project
key, bound to the secret's id); the project key only as ``wrapped`` (AES-256-GCM under the
named master key, which lives outside the database).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from onestack.db.models.base import Base, new_id, utcnow

ID = String(36)
PROJECT = String(64)


def new_uuid() -> str:
    h = new_id()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class KmProjectKey(Base):
    __tablename__ = "km_project_key"
    project_id: Mapped[str] = mapped_column(PROJECT, primary_key=True)
    master_key_id: Mapped[str] = mapped_column(String(64), index=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime | None]


class _Owned:
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    creator_id: Mapped[str] = mapped_column(String(64), default="")
    name: Mapped[str | None] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class _Shared:
    """The resource's read ACL: project access, and when the ACL was set (None: never)."""

    project_access: Mapped[bool] = mapped_column(Boolean, default=True)
    acl_created_at: Mapped[dt.datetime | None]
    acl_updated_at: Mapped[dt.datetime | None]


class KmSecret(_Owned, _Shared, Base):
    __tablename__ = "km_secret"
    secret_type: Mapped[str] = mapped_column(String(16), default="opaque", index=True)
    algorithm: Mapped[str | None] = mapped_column(String(255), index=True)
    bit_length: Mapped[int | None] = mapped_column(Integer, index=True)
    mode: Mapped[str | None] = mapped_column(String(255), index=True)
    expiration: Mapped[dt.datetime | None] = mapped_column(index=True)
    content_type: Mapped[str | None] = mapped_column(String(64))
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    user_meta: Mapped[dict[str, Any]] = mapped_column(default=dict)


class KmContainer(_Owned, _Shared, Base):
    __tablename__ = "km_container"
    type: Mapped[str] = mapped_column(String(16), default="generic", index=True)
    # [{"name": ..., "secret_id": ...}] in the order given
    secret_refs: Mapped[list[Any]] = mapped_column(default=list)


class KmConsumer(Base):
    """A container's consumer (name, URL) or a secret's (service, resource type and id)."""

    __tablename__ = "km_consumer"
    __table_args__ = (Index("ix_km_consumer_parent", "kind", "parent_id"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_uuid)
    kind: Mapped[str] = mapped_column(String(16))  # container | secret
    parent_id: Mapped[str] = mapped_column(ID)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    name: Mapped[str] = mapped_column(String(255))  # a secret consumer's service
    url: Mapped[str] = mapped_column(String(255))  # a secret consumer's resource_type
    resource_id: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class KmOrder(_Owned, Base):
    __tablename__ = "km_order"
    type: Mapped[str] = mapped_column(String(16), index=True)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secret_id: Mapped[str | None] = mapped_column(ID)
    container_id: Mapped[str | None] = mapped_column(ID)
    error_status_code: Mapped[str | None] = mapped_column(String(16))
    error_reason: Mapped[str | None] = mapped_column(String(255))


class KmAclUser(Base):
    """A user given read access to a secret or container by its ACL."""

    __tablename__ = "km_acl_user"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # secret | container
    resource_id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class KmQuota(Base):
    __tablename__ = "km_quota"
    project_id: Mapped[str] = mapped_column(PROJECT, primary_key=True)
    resource: Mapped[str] = mapped_column(String(32), primary_key=True)
    limit: Mapped[int] = mapped_column(Integer)
