"""Cinder's tables: volumes (with metadata), snapshots (with metadata), attachments, volume
types (extra specs, access) and quotas.

A volume row is the declared state: ``status`` says what the API shows and, in a transient
state (creating, deleting, extending, uploading, ...), which backend work is owed; the worker
writes the outcome back. ``host`` is the volume service (host@backend#pool) that holds it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from onestack.db.models.base import Base, utcnow

ID = String(36)
PROJECT = String(64)


class VolumeType(Base):
    __tablename__ = "vol_type"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(String(255))
    is_public: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class VolumeTypeSpec(Base):
    __tablename__ = "vol_type_spec"
    type_id: Mapped[str] = mapped_column(
        ID, ForeignKey("vol_type.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class VolumeTypeAccess(Base):
    __tablename__ = "vol_type_access"
    type_id: Mapped[str] = mapped_column(
        ID, ForeignKey("vol_type.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(PROJECT, primary_key=True, index=True)


class Volume(Base):
    __tablename__ = "vol_volume"
    __table_args__ = (
        Index("ix_vol_volume_project_created", "project_id", "created_at"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), index=True)
    # The status before a transient one (uploading from in-use returns to in-use...).
    previous_status: Mapped[str | None] = mapped_column(String(32))
    attach_status: Mapped[str] = mapped_column(String(32), default="detached")
    availability_zone: Mapped[str] = mapped_column(String(255), index=True)
    host: Mapped[str | None] = mapped_column(String(255), index=True)
    type_id: Mapped[str | None] = mapped_column(ID, index=True)
    snapshot_id: Mapped[str | None] = mapped_column(ID)
    source_volid: Mapped[str | None] = mapped_column(ID)
    bootable: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    readonly: Mapped[bool | None] = mapped_column(Boolean, default=None)
    multiattach: Mapped[bool] = mapped_column(Boolean, default=False)
    # Glance properties of the image it was made from (volume_image_metadata).
    image_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # its key's id in the key manager, for a volume of an encrypted type (LUKS)
    encryption_key_id: Mapped[str | None] = mapped_column(String(36), default=None)
    # What the owed work needs (image id, new size, ...).
    task_args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    launched_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class VolumeMetadata(Base):
    __tablename__ = "vol_volume_metadata"
    __table_args__ = (Index("ix_vol_volume_metadata_key_value", "key", "value"),)
    volume_id: Mapped[str] = mapped_column(
        ID, ForeignKey("vol_volume.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class Snapshot(Base):
    __tablename__ = "vol_snapshot"
    __table_args__ = (
        Index("ix_vol_snapshot_project_created", "project_id", "created_at"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    volume_id: Mapped[str] = mapped_column(ID, ForeignKey("vol_volume.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(255), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), index=True)
    progress: Mapped[str] = mapped_column(String(16), default="0%")
    type_id: Mapped[str | None] = mapped_column(ID)
    host: Mapped[str | None] = mapped_column(String(255), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class SnapshotMetadata(Base):
    __tablename__ = "vol_snapshot_metadata"
    snapshot_id: Mapped[str] = mapped_column(
        ID, ForeignKey("vol_snapshot.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class VolumeAttachment(Base):
    __tablename__ = "vol_attachment"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    volume_id: Mapped[str] = mapped_column(
        ID, ForeignKey("vol_volume.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    instance_uuid: Mapped[str | None] = mapped_column(ID, index=True)
    attached_host: Mapped[str | None] = mapped_column(String(255))
    mountpoint: Mapped[str | None] = mapped_column(String(255))
    # reserved, attaching, attached, detaching, detached, error_attaching, ...
    attach_status: Mapped[str] = mapped_column(String(32))
    attach_mode: Mapped[str] = mapped_column(String(8), default="rw")
    connector: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    connection_info: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    attached_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    detached_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class VolumeQuota(Base):
    """A project's hard limit for one resource (volumes, gigabytes, snapshots,
    volumes_<type>, ..., per_volume_gigabytes); absent rows take the defaults."""

    __tablename__ = "vol_quota"
    project_id: Mapped[str] = mapped_column(PROJECT, primary_key=True)
    resource: Mapped[str] = mapped_column(String(300), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(BigInteger)


class VolumeService(Base):
    """A volume (or scheduler) service's state: heartbeat and admin's enabled flag."""

    __tablename__ = "vol_service"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    host: Mapped[str] = mapped_column(String(255))
    binary: Mapped[str] = mapped_column(String(64))
    zone: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
