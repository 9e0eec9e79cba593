"""Compute hosts: registration (service, hypervisor node, resource provider with VCPU,
MEMORY_MB and DISK_GB inventories, and PGPU with GPU traits where the host has GPUs to pass
through), heartbeats, enable/disable, and what os-services and
os-hypervisors show."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select

from onestack.config import ComputeConfig
from onestack.core.compute.base import Store
from onestack.core.compute.devices import GPU_CLASS, GPU_TRAIT_PREFIX, gpu_inventory
from onestack.db.engine import Database
from onestack.db.models.base import utcnow
from onestack.db.models.compute import ComputeNode
from onestack.drivers.devices.base import PciDevice
from onestack.drivers.virt.base import HostInfo
from onestack.errors import NotFound
from onestack.scheduler.errors import InventoryInUse, ProviderNotFound
from onestack.scheduler.service import Placement

log = logging.getLogger(__name__)
SERVICE_DOWN_AFTER = 60.0  # default of [compute] service_down_after
CONTROL_HOST = "onestack"  # where the scheduler and conductor "run" (one process)


class NodeState(Protocol):
    """What up/down and host_status read of a host: a ComputeNode, or a row of these."""

    forced_down: bool
    disabled: bool
    heartbeat: dt.datetime


def is_up(node: NodeState, down_after: float = SERVICE_DOWN_AFTER,
          now: dt.datetime | None = None) -> bool:
    age = ((now or utcnow()) - node.heartbeat).total_seconds()
    return not node.forced_down and age < down_after


def host_status(node: NodeState | None, down_after: float = SERVICE_DOWN_AFTER,
                now: dt.datetime | None = None) -> str:
    """A server's ``host_status`` (Nova, 2.16): DOWN when its compute service is forced
    down, MAINTENANCE when disabled, UP while it heartbeats, UNKNOWN when it stopped;
    empty when the server has no host."""
    if node is None:
        return ""
    if node.forced_down:
        return "DOWN"
    if node.disabled:
        return "MAINTENANCE"
    return "UP" if is_up(node, down_after, now) else "UNKNOWN"


@dataclass
class ServiceView:
    id: int
    uuid: str
    binary: str
    host: str
    zone: str
    status: str  # enabled | disabled
    state: str  # up | down
    updated_at: dt.datetime | None
    disabled_reason: str | None
    forced_down: bool


class Hosts(Store):
    def __init__(self, db: Database, placement: Placement, config: ComputeConfig) -> None:
        super().__init__(db)
        self.placement = placement
        self.config = config

    async def register(self, info: HostInfo, host_ip: str = "127.0.0.1",
                       devices: Sequence[PciDevice] = ()) -> ComputeNode:
        """Create or refresh the host's records and its provider's inventories and GPU traits
        (idempotent); ``devices``: what the host's device discovery found."""
        async with self.write() as s:
            node = await s.scalar(select(ComputeNode).where(ComputeNode.host == info.hostname))
            if node is None:
                node = ComputeNode(uuid=str(uuid.uuid4()), service_uuid=str(uuid.uuid4()),
                                   host=info.hostname, created_at=utcnow())
                s.add(node)
            node.hypervisor_hostname = info.hostname
            node.hypervisor_type = info.hypervisor_type
            node.hypervisor_version = info.hypervisor_version
            node.vcpus, node.memory_mb, node.local_gb = info.vcpus, info.memory_mb, info.disk_gb
            node.cpu_info = dict(info.cpu_info)
            node.host_ip = host_ip
            node.heartbeat = node.updated_at = utcnow()
        await self._provider(node, devices)
        return node

    async def _provider(self, node: ComputeNode, devices: Sequence[PciDevice] = ()) -> None:
        try:
            rp = await self.placement.providers.get(node.uuid)
        except ProviderNotFound:
            rp = await self.placement.providers.create(node.hypervisor_hostname, node.uuid)
        c = self.config
        invs = {
            "VCPU": {"total": node.vcpus, "allocation_ratio": c.cpu_allocation_ratio},
            "MEMORY_MB": {"total": node.memory_mb, "reserved": min(512, node.memory_mb // 8),
                          "allocation_ratio": c.ram_allocation_ratio},
            "DISK_GB": {"total": node.local_gb, "allocation_ratio": c.disk_allocation_ratio},
        }
        full = {rc: {"reserved": 0, "min_unit": 1, "max_unit": v["total"], "step_size": 1,
                     **v} for rc, v in invs.items()}
        gpu_inv, gpu_traits = gpu_inventory(devices)
        full.update(gpu_inv)
        rp, current = await self.placement.inventories.get_all(node.uuid)
        if current != full:
            try:
                await self.placement.inventories.replace_all(node.uuid, rp.generation, full)
            except InventoryInUse:  # GPUs gone while instances hold them: keep the count
                if GPU_CLASS not in current or GPU_CLASS in full:
                    raise
                log.warning("host %s: %s inventory in use; kept as it was", node.host,
                            GPU_CLASS)
                full[GPU_CLASS] = current[GPU_CLASS]
                rp = await self.placement.providers.get(node.uuid)
                await self.placement.inventories.replace_all(node.uuid, rp.generation, full)
        await self._gpu_traits(node.uuid, gpu_traits)

    async def _gpu_traits(self, rp_uuid: str, wanted: set[str]) -> None:
        """The provider's CUSTOM_GPU_ traits become ``wanted``; other traits stay."""
        rp, current = await self.placement.providers.traits(rp_uuid)
        target = {t for t in current if not t.startswith(GPU_TRAIT_PREFIX)} | wanted
        if target == set(current):
            return
        for trait in sorted(wanted - set(current)):
            await self.placement.catalog.put_trait(trait)
        await self.placement.providers.set_traits(rp_uuid, sorted(target), rp.generation)

    async def heartbeat(self, host: str) -> None:
        async with self.write() as s:
            node = await s.scalar(select(ComputeNode).where(ComputeNode.host == host))
            if node is not None:
                node.heartbeat = utcnow()

    async def nodes(self) -> list[ComputeNode]:
        async with self.db.read() as s:
            return list((await s.execute(select(ComputeNode).order_by(ComputeNode.id)))
                        .scalars())

    async def node(self, ident: str) -> ComputeNode:
        for node in await self.nodes():
            if ident in (str(node.id), node.uuid):
                return node
        raise NotFound(f"Hypervisor with ID {ident} could not be found.")

    async def by_provider(self, rp_uuid: str) -> ComputeNode | None:
        async with self.db.read() as s:
            return await s.scalar(select(ComputeNode).where(ComputeNode.uuid == rp_uuid))

    def is_up(self, node: ComputeNode) -> bool:
        return is_up(node, self.config.service_down_after)

    async def services(self) -> list[ServiceView]:
        out = [ServiceView(1, "00000000-0000-0000-0000-000000000001", "nova-scheduler",
                           CONTROL_HOST, "internal", "enabled", "up", utcnow(), None, False),
               ServiceView(2, "00000000-0000-0000-0000-000000000002", "nova-conductor",
                           CONTROL_HOST, "internal", "enabled", "up", utcnow(), None, False)]
        for node in await self.nodes():
            out.append(ServiceView(
                100 + node.id, node.service_uuid, "nova-compute", node.host,
                node.availability_zone, "disabled" if node.disabled else "enabled",
                "up" if self.is_up(node) else "down", node.heartbeat, node.disabled_reason,
                node.forced_down))
        return out

    async def set_service(self, service: str, *, disabled: bool | None = None,
                          reason: str | None = None, forced_down: bool | None = None
                          ) -> ServiceView:
        """Enable/disable or force down a compute service, by uuid or host name."""
        async with self.write() as s:
            node = await s.scalar(select(ComputeNode).where(
                (ComputeNode.service_uuid == service) | (ComputeNode.host == service)))
            if node is None:
                raise NotFound(f"Service {service} could not be found.")
            if disabled is not None:
                node.disabled = disabled
                node.disabled_reason = reason if disabled else None
            if forced_down is not None:
                node.forced_down = forced_down
            node.updated_at = utcnow()
            uuid_ = node.service_uuid
        return next(v for v in await self.services() if v.uuid == uuid_)

    async def enabled_hosts(self) -> dict[str, str]:
        """Provider uuid -> host name, for hosts that may take new instances."""
        cutoff = utcnow() - dt.timedelta(seconds=self.config.service_down_after)
        # heartbeats compared in SQL (SQLite's text form sorts as the times do): a decision
        # reads two strings a host, one worker-thread hand-off on SQLite
        q = select(ComputeNode.uuid, ComputeNode.host).where(
            ComputeNode.disabled.is_(False), ComputeNode.forced_down.is_(False),
            ComputeNode.heartbeat > cutoff)
        return await self.db.run_read(lambda s: {u: host for u, host in s.execute(q)})
