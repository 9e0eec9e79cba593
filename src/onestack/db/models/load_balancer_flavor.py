"""Octavia's flavors, flavor profiles, availability zones and availability zone profiles.

A profile holds a provider's settings (``flavor_data``/``availability_zone_data``, JSON
text as the client sent it); a flavor or availability zone is the name users pick, bound to
one profile. Load balancers name theirs in ``attrs`` (``flavor_id``,
``availability_zone``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from onestack.db.models.base import Base, utcnow

ID = String(36)
DATA = String(4096)


class LbFlavorProfile(Base):
    __tablename__ = "lb_flavor_profile"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    provider_name: Mapped[str] = mapped_column(String(255), index=True)
    flavor_data: Mapped[str] = mapped_column(DATA)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LbFlavor(Base):
    __tablename__ = "lb_flavor"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    flavor_profile_id: Mapped[str] = mapped_column(
        ID, ForeignKey("lb_flavor_profile.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LbAzProfile(Base):
    __tablename__ = "lb_az_profile"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    provider_name: Mapped[str] = mapped_column(String(255), index=True)
    availability_zone_data: Mapped[str] = mapped_column(DATA)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LbAvailabilityZone(Base):
    __tablename__ = "lb_availability_zone"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    description: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    availability_zone_profile_id: Mapped[str] = mapped_column(
        ID, ForeignKey("lb_az_profile.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
