"""Placement's tables: resource providers, inventories, consumers, allocations, traits,
aggregates, custom resource classes.

Resource classes and traits are stored by name (standard ones are constants in code; only
CUSTOM_* ones have rows), which keeps the candidate queries free of lookups.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from onestack.db.models.base import Base, utcnow

UUID = String(36)
NAME = String(255)


class ResourceProvider(Base):
    __tablename__ = "resource_provider"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(UUID, unique=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    parent_provider_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("resource_provider.id"), index=True)
    root_provider_id: Mapped[int | None] = mapped_column(Integer, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Inventory(Base):
    __tablename__ = "rp_inventory"
    __table_args__ = (UniqueConstraint("resource_provider_id", "resource_class"),
                      Index("ix_rp_inventory_class", "resource_class", "resource_provider_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_provider_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("resource_provider.id", ondelete="CASCADE"))
    resource_class: Mapped[str] = mapped_column(NAME)
    total: Mapped[int] = mapped_column(Integer)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    min_unit: Mapped[int] = mapped_column(Integer, default=1)
    max_unit: Mapped[int] = mapped_column(Integer)
    step_size: Mapped[int] = mapped_column(Integer, default=1)
    allocation_ratio: Mapped[float] = mapped_column(Float, default=1.0)


class Consumer(Base):
    __tablename__ = "rp_consumer"
    uuid: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Allocation(Base):
    __tablename__ = "rp_allocation"
    __table_args__ = (Index("ix_rp_allocation_provider_class", "resource_provider_id",
                            "resource_class"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_provider_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("resource_provider.id"))
    consumer_id: Mapped[str] = mapped_column(UUID, index=True)
    resource_class: Mapped[str] = mapped_column(NAME)
    used: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CustomResourceClass(Base):
    __tablename__ = "rp_resource_class"
    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CustomTrait(Base):
    __tablename__ = "rp_custom_trait"
    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ProviderTrait(Base):
    __tablename__ = "rp_trait"
    __table_args__ = (Index("ix_rp_trait_name", "trait", "resource_provider_id"),)
    resource_provider_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("resource_provider.id", ondelete="CASCADE"), primary_key=True)
    trait: Mapped[str] = mapped_column(NAME, primary_key=True)


class ProviderAggregate(Base):
    __tablename__ = "rp_aggregate"
    __table_args__ = (Index("ix_rp_aggregate_uuid", "aggregate_uuid", "resource_provider_id"),)
    resource_provider_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("resource_provider.id", ondelete="CASCADE"), primary_key=True)
    aggregate_uuid: Mapped[str] = mapped_column(UUID, primary_key=True)


class PlacementRevision(Base):
    """One row: bumped by every write to providers, inventories, traits or aggregates, so
    each API process knows when its cached copy of them is stale (allocations do not bump
    it: usage is read fresh on every decision)."""

    __tablename__ = "rp_revision"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)
