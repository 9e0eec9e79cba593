"""Evacuate: a server of a dead host is rebuilt on another host (Nova's evacuate without
shared storage: the new host builds it from its image; a volume-backed server boots from
its volumes again).

The decision is made here and written in one transaction: the source host's compute
service must be down, the target (named, or the scheduler's pick, never the source, server
group policies respected) gets the claim, which replaces the source's allocation; the
instance moves to the target (host, node, zone, port bindings) with task ``rebuilding``
and ``evacuated_from`` in its task arguments. The target's agent builds it as any rebuild;
the source's agent, when it comes back, destroys the guest it still has (its instance is
on another host: see the orphan pass of ``agent/compute.py``).
"""

from __future__ import annotations

import logging
import uuid as uuidlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.compute import events, groups, migration_records, states
from onestack.core.compute.base import DEFAULT_AZ, Caller
from onestack.core.compute.build import Builder, resources
from onestack.core.compute.devices import Devices
from onestack.core.compute.servers import Servers
from onestack.db.models.base import utcnow
from onestack.db.models.compute import (
    BlockDeviceMapping,
    ComputeNode,
    Instance,
    ServerGroupMember,
)
from onestack.db.models.volume import Volume, VolumeAttachment
from onestack.errors import BadRequest, Conflict, NotFound
from onestack.scheduler.allocations import Claim
from onestack.scheduler.errors import NoValidHost
from onestack.scheduler.hosts import HostFilter, HostState

log = logging.getLogger(__name__)

TASK_ARG = "evacuated_from"


def check_source(source: str | None, node: ComputeNode | None, up: bool) -> str:
    """The host to evacuate from: the instance must be on a host whose compute service is
    down (Nova's ComputeServiceInUse otherwise)."""
    if source is None:
        raise Conflict("Cannot 'evacuate' instance: it is not on a host.")
    if node is not None and up:
        raise BadRequest(f"Compute service of {source} is still in use.")
    return source


def check_target(source: str, target: str | None, known: set[str]) -> None:
    """A named target must be another known compute host."""
    if target is None:
        return
    if target == source:
        raise BadRequest("The target host can't be the same one.")
    if target not in known:
        raise NotFound(f"Compute host {target} not found.")


def target_filter(source: str, target: str | None, host_of: dict[str, str]
                  ) -> HostFilter:
    """The scheduler filter of an evacuation: never the source; only the target if named."""

    def evacuate_filter(state: HostState) -> str | None:
        name = host_of.get(state.uuid, state.name)
        if name == source:
            return "the host being evacuated"
        if target is not None and name != target:
            return f"not the requested host {target}"
        return None

    return evacuate_filter


class Evacuations:
    def __init__(self, servers: Servers, builder: Builder, devices: Devices) -> None:
        self.servers = servers
        self.builder = builder
        self.devices = devices

    async def evacuate(self, caller: Caller, uuid: str, host: str | None = None
                       ) -> Instance:
        rec = await self.servers.get(caller, uuid)
        inst = rec.instance
        states.check("evacuate", inst, is_admin=caller.is_admin)
        hosts = self.builder.hosts
        nodes = await hosts.nodes()
        src_node = next((n for n in nodes if n.host == inst.host), None)
        if inst.host is not None:  # Nova's order: the target first, then the source
            check_target(inst.host, host, {n.host for n in nodes})
        source = check_source(inst.host, src_node,
                              src_node is not None and hosts.is_up(src_node))
        host_of = {n.uuid: n.host for n in nodes}
        async with self.builder.db.read() as s:
            group_uuid = await s.scalar(select(ServerGroupMember.group_uuid).where(
                ServerGroupMember.instance_uuid == uuid))
            group = await groups.placement_of(s, group_uuid) if group_uuid else None
        try:
            new_host, rp_uuid = await self.builder._claim(
                inst, group, {"EvacuateFilter": target_filter(source, host, host_of)},
                moving=True)
        except NoValidHost as exc:
            raise BadRequest(str(exc)) from exc
        try:
            moved = await self._move(caller, uuid, source, new_host, rp_uuid)
        except Exception:
            if src_node is not None:  # the claim goes back to where it was
                await self.builder.placement.allocations.claim([Claim(
                    uuid, {src_node.uuid: resources(inst.flavor, not inst.image_ref)},
                    inst.project_id, inst.user_id)])
            raise
        await self.devices.release(uuid)  # GPUs of the source host are not the target's
        self.builder.ports.changed()
        self.builder.links.wake(new_host)
        log.info("instance %s: evacuated from %s to %s", uuid, source, new_host)
        return moved

    async def _move(self, caller: Caller, uuid: str, source: str, host: str,
                    rp_uuid: str) -> Instance:
        node = await self.builder.hosts.by_provider(rp_uuid)
        async with self.servers.write() as s:
            inst = await self.servers.instance(s, caller, uuid, lock=True)
            rule = states.check("evacuate", inst, is_admin=caller.is_admin)
            if inst.host != source:
                raise Conflict(f"Instance {uuid} moved to {inst.host} meanwhile.")
            await migration_records.record(s, inst, caller, "evacuation", "accepted", source,
                                           host, node.hypervisor_hostname if node else host)
            inst.host = host
            inst.node = node.hypervisor_hostname if node else host
            if node is not None:
                inst.availability_zone = node.availability_zone
            inst.task_state = rule.task
            inst.task_args = {"prior_vm_state": inst.vm_state, TASK_ARG: source}
            inst.updated_at = utcnow()
            await events.start(s, inst, "evacuate", caller, host)
            await self.builder.ports.bind_in(s, uuid, host, inst.availability_zone or DEFAULT_AZ)
            await move_attachments(s, uuid, host, connection_maker(self.builder))
        return inst


Connection = Callable[[Volume, str], dict[str, Any]]


def connection_maker(builder: Builder) -> Connection | None:
    """How the volume service makes an attachment's connection info (None: no volumes)."""
    boot = builder.boot_volumes
    return boot.cinder.attachments.connection if boot is not None else None


async def move_attachments(s: AsyncSession, uuid: str, host: str,
                           connection: Connection | None) -> None:
    """The server's volumes are attached to it on ``host`` now, as Nova does when a server
    moves on shared storage: for each one a new attachment with the new host's connector
    and connection info made again for it, the old attachment deleted (its volume stays
    in-use; nothing is copied)."""
    bdms = {b.attachment_id: b for b in (await s.execute(select(BlockDeviceMapping).where(
        BlockDeviceMapping.instance_uuid == uuid,
        BlockDeviceMapping.attachment_id.is_not(None)))).scalars()}
    if not bdms:
        return
    rows = (await s.execute(select(VolumeAttachment).where(
        VolumeAttachment.id.in_(list(bdms)),
        VolumeAttachment.attach_status.notin_(("detached", "deleted"))))).scalars().all()
    now = utcnow()
    for old in rows:
        vol = await s.get(Volume, old.volume_id)
        info = connection(vol, old.attach_mode) if (connection and vol is not None) \
            else old.connection_info
        new = VolumeAttachment(
            id=str(uuidlib.uuid4()), volume_id=old.volume_id, project_id=old.project_id,
            instance_uuid=old.instance_uuid, attached_host=host, mountpoint=old.mountpoint,
            attach_status=old.attach_status, attach_mode=old.attach_mode,
            connector={**(old.connector or {}), "host": host}, connection_info=info,
            attached_at=now if old.attached_at else None, created_at=now, updated_at=now)
        s.add(new)
        bdms[old.id].attachment_id = new.id
        await s.delete(old)
