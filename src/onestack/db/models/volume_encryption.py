"""Cinder's volume type encryption table: how the volumes of a type are encrypted (LUKS,
cipher, key size, where). Each encrypted volume's own key lives in the key manager; the
volume row holds only its id (``vol_volume.encryption_key_id``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from onestack.db.models.base import Base, utcnow


class VolumeTypeEncryption(Base):
    __tablename__ = "vol_type_encryption"
    type_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("vol_type.id", ondelete="CASCADE"), primary_key=True)
    encryption_id: Mapped[str] = mapped_column(String(36), unique=True)
    provider: Mapped[str] = mapped_column(String(255))
    cipher: Mapped[str | None] = mapped_column(String(255))
    key_size: Mapped[int | None] = mapped_column(Integer)
    control_location: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
