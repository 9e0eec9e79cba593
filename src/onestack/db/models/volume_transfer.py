"""Cinder's volume transfers: one row per open transfer of a volume to another project.
The auth key is shown once, at create; the row keeps its salted hash only. An accepted or
deleted transfer's row is removed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from onestack.db.models.base import Base, utcnow


class VolumeTransfer(Base):
    __tablename__ = "vol_transfer"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    volume_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("vol_volume.id", ondelete="CASCADE"), unique=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)  # the source project
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255))
    salt: Mapped[str] = mapped_column(String(32))
    crypt_hash: Mapped[str] = mapped_column(String(64))
    no_snapshots: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
