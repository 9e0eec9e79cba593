"""Cinder's backups table: one row per volume backup; its bytes live in the object store
(``container``, objects named from ``object_prefix``), not in the database."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from onestack.db.models.base import Base, utcnow


class Backup(Base):
    __tablename__ = "vol_backup"
    __table_args__ = (
        Index("ix_vol_backup_project_created", "project_id", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    volume_id: Mapped[str] = mapped_column(String(36), index=True)
    snapshot_id: Mapped[str | None] = mapped_column(String(36))
    parent_id: Mapped[str | None] = mapped_column(String(36), index=True)
    name: Mapped[str | None] = mapped_column(String(255), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), index=True)
    is_incremental: Mapped[bool] = mapped_column(Boolean, default=False)
    container: Mapped[str] = mapped_column(String(255))
    object_prefix: Mapped[str | None] = mapped_column(String(255))
    object_count: Mapped[int] = mapped_column(Integer, default=0)
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    fail_reason: Mapped[str | None] = mapped_column(Text)
    restore_volume_id: Mapped[str | None] = mapped_column(String(36))
    meta: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # the project whose object store account holds the bytes when it is not project_id
    # (a backup imported into another project: Cinder's import_record)
    objects_project_id: Mapped[str | None] = mapped_column(String(64), default=None)
    data_timestamp: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
