"""Cinder's QoS specs: named sets of key/value limits for a consumer (front-end: the
hypervisor, back-end: the storage), and which volume types they apply to (a type has at
most one)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from onestack.db.models.base import Base, utcnow


class QosSpec(Base):
    __tablename__ = "vol_qos_spec"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    consumer: Mapped[str] = mapped_column(String(16))
    specs: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class QosAssociation(Base):
    """One row per volume type with QoS specs (Cinder's volume_types.qos_specs_id)."""
    __tablename__ = "vol_qos_association"
    type_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("vol_type.id", ondelete="CASCADE"), primary_key=True)
    qos_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("vol_qos_spec.id", ondelete="CASCADE"), index=True)
