"""Console tokens: the one-time, expiring grants to open a guest's console.

Only a hash of each token is stored (what a leaked database gives is useless), so any API
process can check a token a user brings; a token is spent by the one UPDATE that marks it
used, so two processes cannot both honour it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from onestack.db.models.base import Base, utcnow


class ConsoleToken(Base):
    __tablename__ = "console_token"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256, hex
    instance_uuid: Mapped[str] = mapped_column(String(36), index=True)
    project_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    protocol: Mapped[str] = mapped_column(String(16))  # vnc, serial
    console_type: Mapped[str] = mapped_column(String(16))  # novnc, serial
    host: Mapped[str | None] = mapped_column(String(255))  # the guest's host when issued
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]

    __table_args__ = (Index("ix_console_token_expires_at", "expires_at"),)
