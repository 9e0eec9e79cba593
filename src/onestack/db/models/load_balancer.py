"""Octavia's tables: load balancers, every object below one (listeners, pools, members,
health monitors, L7 policies and rules) and per-project quotas.

The objects below a load balancer share one table: each row names its kind, its load
balancer and its parent (a member's pool, a rule's policy, a monitor's pool, a policy's
listener); the attributes that differ by kind live in ``attrs``. Everything a client filters
on or the agent selects by has a column of its own.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from onestack.db.models.base import Base, new_id, utcnow

ID = String(36)
PROJECT = String(64)


def _uuid() -> str:
    h = new_id()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class LoadBalancer(Base):
    __tablename__ = "lb_loadbalancer"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=_uuid)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True, default="")
    name: Mapped[str] = mapped_column(String(255), default="", index=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    provisioning_status: Mapped[str] = mapped_column(String(16), index=True)
    operating_status: Mapped[str] = mapped_column(String(16), index=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    provider: Mapped[str] = mapped_column(String(64), default="haproxy")
    vip_address: Mapped[str] = mapped_column(String(64), index=True)
    vip_port_id: Mapped[str] = mapped_column(ID, index=True)
    vip_network_id: Mapped[str] = mapped_column(ID, index=True)
    vip_subnet_id: Mapped[str] = mapped_column(ID, index=True)
    security_group_id: Mapped[str | None] = mapped_column(ID)
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime | None] = mapped_column(index=True)


class LbObject(Base):
    """A listener, pool, member, health monitor, L7 policy or L7 rule."""

    __tablename__ = "lb_object"
    __table_args__ = (Index("ix_lb_object_kind_lb", "kind", "loadbalancer_id"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=_uuid)
    kind: Mapped[str] = mapped_column(String(16))
    loadbalancer_id: Mapped[str] = mapped_column(
        ID, ForeignKey("lb_loadbalancer.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[str | None] = mapped_column(ID, index=True)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True, default="")
    name: Mapped[str] = mapped_column(String(255), default="", index=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    provisioning_status: Mapped[str] = mapped_column(String(16), index=True)
    operating_status: Mapped[str] = mapped_column(String(16), index=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime | None] = mapped_column(index=True)


class LbQuota(Base):
    __tablename__ = "lb_quota"
    project_id: Mapped[str] = mapped_column(PROJECT, primary_key=True)
    resource: Mapped[str] = mapped_column(String(32), primary_key=True)
    limit: Mapped[int] = mapped_column(Integer)
