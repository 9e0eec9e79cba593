"""The audit trail: one row per write request (who, what, result), never a body or token."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from onestack.db.models.base import Base


class AuditRecord(Base):
    __tablename__ = "audit_record"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime]
    request_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(64))
    user_name: Mapped[str | None] = mapped_column(String(255))
    project_id: Mapped[str | None] = mapped_column(String(64))
    domain_id: Mapped[str | None] = mapped_column(String(64))
    service: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(8))
    route: Mapped[str] = mapped_column(String(255))
    resource_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_audit_record_created_at", "created_at"),
        Index("ix_audit_record_user_id", "user_id", "created_at"),
        Index("ix_audit_record_project_id", "project_id", "created_at"),
    )
