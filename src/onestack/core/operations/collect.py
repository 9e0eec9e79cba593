"""What ``/metrics`` reads at scrape time: resource counts by status, placement capacity and
usage, agent heartbeats, reconcile loops, the database pool, and per-guest counters."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.compute.ports import tap_name
from onestack.core.operations.metrics import Family
from onestack.db.engine import Database
from onestack.db.models.base import utcnow
from onestack.db.models.compute import ComputeNode, Instance, InstancePort
from onestack.db.models.load_balancer import LoadBalancer
from onestack.db.models.network import Network, Port, Router
from onestack.db.models.placement import Allocation, Inventory, ResourceProvider
from onestack.db.models.volume import Volume
from onestack.drivers.virt.base import VirtDriver
from onestack.drivers.virt.guest_stats import block_stats, nic_stats, process_stats


class LoopLike(Protocol):
    name: str
    passes: int
    errors: int
    last_duration: float
    last_end: float | None


@dataclass
class HostLoop:
    host: str
    loop: LoopLike


# (family, help, model column grouped by, filter) for the resource counts
_COUNTS: list[tuple[str, Any, Any, Any]] = [
    ("servers", Instance.vm_state, Instance, Instance.deleted.is_(False)),
    ("volumes", Volume.status, Volume, None),
    ("networks", Network.status, Network, None),
    ("ports", Port.status, Port, None),
    ("routers", Router.status, Router, None),
    ("load_balancers", LoadBalancer.provisioning_status, LoadBalancer, None),
]


async def resource_counts(s: AsyncSession) -> Family:
    fam = Family("onestack_resources", "gauge", "Resources by kind and status.")
    for kind, column, model, where in _COUNTS:
        stmt = select(column, func.count()).select_from(model).group_by(column)
        if where is not None:
            stmt = stmt.where(where)
        for status, n in (await s.execute(stmt)).all():
            fam.add(n, kind=kind, status=str(status))
    return fam


async def placement(s: AsyncSession) -> list[Family]:
    cap = Family("onestack_placement_capacity", "gauge",
                 "Schedulable capacity per resource provider and class: "
                 "(total - reserved) * allocation_ratio.")
    used = Family("onestack_placement_usage", "gauge",
                  "Allocated amount per resource provider and class.")
    rows = (await s.execute(select(ResourceProvider.name, Inventory.resource_class,
                                   Inventory.total, Inventory.reserved,
                                   Inventory.allocation_ratio)
                            .join(Inventory, Inventory.resource_provider_id ==
                                  ResourceProvider.id))).all()
    for name, rc, total, reserved, ratio in rows:
        cap.add((total - reserved) * ratio, provider=name, resource_class=rc)
    usage = (await s.execute(select(ResourceProvider.name, Allocation.resource_class,
                                    func.sum(Allocation.used))
                             .join(Allocation, Allocation.resource_provider_id ==
                                   ResourceProvider.id)
                             .group_by(ResourceProvider.name, Allocation.resource_class)
                             )).all()
    for name, rc, n in usage:
        used.add(int(n or 0), provider=name, resource_class=rc)
    return [cap, used]


async def heartbeats(s: AsyncSession, now: dt.datetime) -> Family:
    fam = Family("onestack_agent_heartbeat_age_seconds", "gauge",
                 "Seconds since each compute host's agent last reported.")
    for host, beat in (await s.execute(select(ComputeNode.host, ComputeNode.heartbeat))).all():
        fam.add(max(0.0, (now - beat).total_seconds()), host=host)
    return fam


def reconcile(loops: Iterable[HostLoop], now: float) -> list[Family]:
    passes = Family("onestack_reconcile_passes_total", "counter", "Reconcile passes run.")
    errors = Family("onestack_reconcile_errors_total", "counter", "Reconcile passes failed.")
    lag = Family("onestack_reconcile_lag_seconds", "gauge",
                 "Seconds since the loop's last pass ended.")
    took = Family("onestack_reconcile_pass_seconds", "gauge", "Duration of the last pass.")
    for item in loops:
        labels = {"host": item.host, "loop": item.loop.name}
        passes.add(item.loop.passes, **labels)
        errors.add(item.loop.errors, **labels)
        took.add(item.loop.last_duration, **labels)
        if item.loop.last_end is not None:
            lag.add(max(0.0, now - item.loop.last_end), **labels)
    return [passes, errors, lag, took]


def db_pool(db: Database) -> Family:
    fam = Family("onestack_db_pool_connections", "gauge",
                 "Database pool connections by state (this process).")
    pool: Any = db.engine.pool
    for state, getter in (("checked_out", "checkedout"), ("idle", "checkedin"),
                          ("overflow", "overflow")):
        fn = getattr(pool, getter, None)
        if fn is not None:
            fam.add(max(0, int(fn())), state=state)
    return fam


DISK_FIELDS = ("read_bytes", "write_bytes", "read_operations", "write_operations")


async def guests(s: AsyncSession, driver: VirtDriver, instances: Path) -> list[Family]:
    """Counters of the guests this process's driver runs (all-in-one: the local host)."""
    cpu = Family("onestack_guest_cpu_seconds_total", "counter",
                 "CPU time of the guest's QEMU process (vCPUs and device emulation).")
    mem = Family("onestack_guest_memory_rss_bytes", "gauge", "Resident memory of the guest.")
    nics = {field: Family(f"onestack_guest_network_{field}_total", "counter",
                          f"Guest NIC {field.replace('_', ' ')} as the host's tap counts them "
                          "(rx: sent by the guest).")
            for field in ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets")}
    disks = {field: Family(f"onestack_guest_disk_{field}_total", "counter",
                           f"Guest disk {field.replace('_', ' ')} (QMP query-blockstats).")
             for field in DISK_FIELDS}
    families = [cpu, mem, *nics.values(), *disks.values()]
    running = {g.uuid: g.pid for g in await driver.list_guests() if g.pid}
    if not running:
        return families
    blocks = dict(zip(running, await asyncio.gather(
        *(block_stats(instances / uuid / "qmp.sock") for uuid in running)), strict=True))
    rows = (await s.execute(select(Instance.uuid, Instance.project_id, Instance.name)
                            .where(Instance.uuid.in_(list(running))))).all()
    ports: dict[str, list[str]] = {}
    for uuid, port_id in (await s.execute(
            select(InstancePort.instance_uuid, InstancePort.port_id)
            .where(InstancePort.instance_uuid.in_(list(running))))).all():
        ports.setdefault(uuid, []).append(port_id)
    for uuid, project, name in rows:
        labels = {"project_id": project, "server_id": uuid, "server_name": name}
        stats = process_stats(running[uuid])
        if stats is not None:
            cpu.add(stats.cpu_seconds, **labels)
            mem.add(stats.rss_bytes, **labels)
        for port_id in ports.get(uuid, []):
            counters = nic_stats(tap_name(port_id))
            if counters is None:
                continue
            for field, fam in nics.items():
                fam.add(getattr(counters, field), port_id=port_id, **labels)
        for disk in blocks.get(uuid) or []:
            for field, fam in disks.items():
                fam.add(getattr(disk, field), device=disk.device, **labels)
    return families


async def scrape(db: Database, loops: Iterable[HostLoop], driver: VirtDriver | None,
                 instances: Path) -> list[Family]:
    async with db.read() as s:
        families = [await resource_counts(s), *await placement(s),
                    await heartbeats(s, utcnow())]
        if driver is not None:
            families += await guests(s, driver, instances)
    families += reconcile(loops, time.monotonic())
    families.append(db_pool(db))
    return families
