"""Cold migration: a server moves to another host with its root disk (Nova's ``migrate``
action, admins; ``host`` from microversion 2.56).

1. The API picks the target (named, or the scheduler's pick; never the source, server group
   policies respected) and claims it there; the instance stays on its source with task
   ``resize_migrating`` and the target in its task arguments.
2. The source's agent stops the guest, uploads its root disk (flattened: no backing file)
   to the controller's staging area (``<data_dir>/migrations/<uuid>.qcow2``) and reports
   done: the instance moves to the target (host, node, zone, port bindings) with task
   ``resize_finish``; the source's agent destroys its copy on its next pass (an instance
   of another host).
3. The target's agent downloads the disk, starts the guest (stopped again when it was), and
   reports done: the server is ACTIVE (or SHUTOFF) on the target, the staged disk removed.

Volumes on shared storage (rbd: every host opens them itself) move without a copy: with
the move each gets a new attachment for the target (its connector, connection info made
again), the old one is deleted (see ``evacuate.move_attachments``). A server booted from
such a volume has no root disk to upload: the target boots it from its volume.

The move is confirmed at once (no VERIFY_RESIZE step). Not migrated yet: servers with
volumes on the controller's disk (file backend) or passed-through devices (409), and the
flavor's ephemeral and swap disks (made blank on the target). A failure on the source
gives the claim back to the source and leaves the server there. When the target fails,
the server goes back to its source (host, claim, ports, volume attachments), whose agent
starts it again from the staged disk or its root volume (``rollback``); the migration is
``error``. Only if that fails too is the server in ERROR.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from onestack.core.compute import events, groups, migration_records, states
from onestack.core.compute.base import DEFAULT_AZ, Caller
from onestack.core.compute.build import Builder, resources
from onestack.core.compute.devices import Devices
from onestack.core.compute.evacuate import (
    check_target,
    connection_maker,
    move_attachments,
    target_filter,
)
from onestack.core.compute.servers import Servers
from onestack.db.models.base import utcnow
from onestack.db.models.compute import (
    BlockDeviceMapping,
    Instance,
    InstancePciDevice,
    ServerGroupMember,
)
from onestack.db.models.volume import VolumeAttachment
from onestack.errors import BadRequest, Conflict, NotFound
from onestack.scheduler.allocations import Claim
from onestack.scheduler.errors import NoValidHost

log = logging.getLogger(__name__)
TARGET = "migrate_to"
SOURCE = "migrate_from"
ROLLED_BACK = "migration_rolled_back"  # task argument: the target failed, back on the source
CHUNK = 1024 * 1024


def volumes_move(action: str, image_backed: bool, volumes: int,
                 connections: list[dict[str, Any] | None]) -> bool:
    """Whether the server's volumes let it move (``action``: migrate or live_migrate):
    none at all, or each one on storage every host opens itself (rbd): nothing of them is
    copied, a server booted from one included."""
    del action  # both moves take the same volumes
    if volumes == 0 and image_backed:
        return True
    return volumes > 0 and len(connections) == volumes and all(
        (c or {}).get("driver_volume_type") == "rbd" for c in connections)


class Migrations:
    def __init__(self, servers: Servers, builder: Builder, devices: Devices,
                 staging: Path) -> None:
        self.servers = servers
        self.builder = builder
        self.devices = devices
        self.staging = staging

    def disk_path(self, uuid: str) -> Path:
        return self.staging / f"{uuid}.qcow2"

    # --- 1. the API ------------------------------------------------------------------------
    async def migrate(self, caller: Caller, uuid: str, host: str | None = None) -> Instance:
        return await self.start(caller, uuid, host, "migrate", {})

    async def start(self, caller: Caller, uuid: str, host: str | None, action: str,
                    args: dict[str, Any]) -> Instance:
        """Claim a target for the instance (named, or the scheduler's pick; never the
        source; group policies kept) and set the action's task, with the source and the
        target (and ``args``) in its task arguments; the source's agent is woken."""
        rec = await self.servers.get(caller, uuid)
        inst = rec.instance
        states.check(action, inst, is_admin=caller.is_admin)
        await self._movable(inst, action)
        hosts = self.builder.hosts
        nodes = await hosts.nodes()
        source = inst.host
        if source is None:
            raise Conflict(f"Cannot '{action}' instance {uuid}: it is not on a host.")
        src_node = next((n for n in nodes if n.host == source), None)
        check_target(source, host, {n.host for n in nodes})
        if src_node is None or not hosts.is_up(src_node):
            raise Conflict(f"Compute service of {source} is down: evacuate the server "
                           "instead.")
        host_of = {n.uuid: n.host for n in nodes}
        async with self.builder.db.read() as s:
            group_uuid = await s.scalar(select(ServerGroupMember.group_uuid).where(
                ServerGroupMember.instance_uuid == uuid))
            group = await groups.placement_of(s, group_uuid) if group_uuid else None
        try:
            target, _rp = await self.builder._claim(
                inst, group, {"MigrateFilter": target_filter(source, host, host_of)},
                moving=True)
        except NoValidHost as exc:
            raise BadRequest(str(exc)) from exc
        try:
            async with self.servers.write() as s:
                row = await self.servers.instance(s, caller, uuid, lock=True)
                rule = states.check(action, row, is_admin=caller.is_admin)
                if row.host != source:
                    raise Conflict(f"Instance {uuid} moved to {row.host} meanwhile.")
                row.task_state = rule.task
                row.task_args = {"prior_vm_state": row.vm_state, SOURCE: source,
                                 TARGET: target, **args}
                live = action == "live_migrate"
                await migration_records.record(
                    s, row, caller, "live-migration" if live else "migration",
                    "preparing" if live else "migrating", source, target)
                row.updated_at = utcnow()
                await self.started(s, row, target)
                await events.start(s, row, action.replace("live_migrate", "live-migration"),
                                   caller, source)
        except Exception:
            await self._claim_back(inst, source)
            raise
        self.builder.links.wake(source)
        log.info("instance %s: %s from %s to %s", uuid, action, source, target)
        return row

    async def started(self, s: Any, inst: Instance, target: str) -> None:
        """In the transaction that sets the task: more for a subclass to write."""

    async def _movable(self, inst: Instance, action: str = "migrate") -> None:
        async with self.builder.db.read() as s:
            volumes = await s.scalar(select(func.count()).select_from(BlockDeviceMapping)
                                     .where(BlockDeviceMapping.instance_uuid == inst.uuid))
            kinds = list((await s.execute(select(VolumeAttachment.connection_info).join(
                BlockDeviceMapping, BlockDeviceMapping.attachment_id == VolumeAttachment.id
            ).where(BlockDeviceMapping.instance_uuid == inst.uuid))).scalars())
            pci = await s.scalar(select(func.count()).select_from(InstancePciDevice)
                                 .where(InstancePciDevice.instance_uuid == inst.uuid))
        if not volumes_move(action, bool(inst.image_ref), int(volumes or 0), kinds):
            raise Conflict(f"Cannot '{action}' instance {inst.uuid}: its volumes are not "
                           "on shared storage (rbd); detach them first.")
        if pci:
            raise Conflict(f"Cannot '{action}' instance {inst.uuid}: servers with "
                           "passed-through devices cannot be migrated.")

    async def _claim_back(self, inst: Instance, source: str) -> None:
        node = next((n for n in await self.builder.hosts.nodes() if n.host == source), None)
        if node is not None:
            await self.builder.placement.allocations.claim([Claim(
                inst.uuid, {node.uuid: resources(inst.flavor, not inst.image_ref)},
                inst.project_id, inst.user_id)])

    # --- 2. the source's disk, then the move ----------------------------------------------
    async def _task(self, uuid: str, host: str, task: str) -> Instance:
        async with self.builder.db.read() as s:
            inst = await s.get(Instance, uuid)
        if inst is None or inst.host != host or inst.task_state != task:
            raise Conflict(f"Instance {uuid} is not being migrated by host {host}.")
        return inst

    async def store_disk(self, host: str, uuid: str, chunks: AsyncIterator[bytes]) -> None:
        """The source host's upload of the root disk (replaces an earlier try's)."""
        await self._task(uuid, host, states.RESIZE_MIGRATING)
        self.staging.mkdir(parents=True, exist_ok=True)
        part = self.disk_path(uuid).with_suffix(".part")
        with part.open("wb") as fh:
            async for chunk in chunks:
                fh.write(chunk)
        os.replace(part, self.disk_path(uuid))

    async def arrive(self, uuid: str) -> bool:
        """The source is done: the instance moves to its target, whose agent finishes."""
        async with self.servers.write() as s:
            inst = await s.get(Instance, uuid, with_for_update=True)
            if inst is None or inst.task_state != states.RESIZE_MIGRATING:
                return False
            if inst.image_ref and not self.disk_path(uuid).exists():
                raise Conflict(f"Instance {uuid}: no root disk was uploaded.")
            target = str(inst.task_args[TARGET])
            await self._place(s, inst, target)
            inst.task_state = states.RESIZE_FINISH
            await migration_records.update(s, uuid, "migration", "post-migrating")
        self.builder.ports.changed()
        self.builder.links.wake(target)
        return True

    async def _place(self, s: Any, inst: Instance, host: str) -> None:
        """The instance is ``host``'s: host, node, zone, port bindings, volumes."""
        node = next((n for n in await self.builder.hosts.nodes() if n.host == host), None)
        inst.host = host
        inst.node = node.hypervisor_hostname if node else host
        if node is not None:
            inst.availability_zone = node.availability_zone
        inst.updated_at = utcnow()
        await self.builder.ports.bind_in(s, inst.uuid, host,
                                         inst.availability_zone or DEFAULT_AZ)
        await move_attachments(s, inst.uuid, host, connection_maker(self.builder))

    async def rollback(self, host: str, uuid: str, message: str) -> bool:
        """The target failed to start the server: it goes back to its source, whose agent
        starts it again (from the staged disk, or its root volume); the claim is the
        source's again and the migration ``error``. False (nothing done) when this is not
        a target's first failure or the source is down: the server then goes to ERROR."""
        async with self.builder.db.read() as s:
            inst = await s.get(Instance, uuid)
        if inst is None or inst.task_state != states.RESIZE_FINISH or inst.host != host:
            return False
        args = dict(inst.task_args)
        source = args.get(SOURCE)
        if not source or args.get(ROLLED_BACK) or source == host:
            return False
        node = next((n for n in await self.builder.hosts.nodes() if n.host == source), None)
        if node is None or not self.builder.hosts.is_up(node):
            return False
        async with self.servers.write() as s:
            row = await s.get(Instance, uuid, with_for_update=True)
            if row is None or row.task_state != states.RESIZE_FINISH or row.host != host:
                return False
            await self._place(s, row, str(source))
            row.task_args = {**row.task_args, ROLLED_BACK: True, TARGET: source}
            await migration_records.update(s, uuid, "migration", "error")
            await events.finish(s, uuid, message)
        await self._claim_back(inst, str(source))
        log.warning("instance %s: cold migration failed on %s (%s); back on %s", uuid, host,
                    message, source)
        self.builder.ports.changed()
        self.builder.links.wake(str(source))
        self.builder.links.wake(host)
        return True

    async def abort(self, uuid: str) -> None:
        """The source failed: the claim goes back there; the server stays."""
        async with self.builder.db.read() as s:
            inst = await s.get(Instance, uuid)
        if inst is not None:
            await self._claim_back(inst, str(inst.host))
        self.disk_path(uuid).unlink(missing_ok=True)

    # --- 3. the target ---------------------------------------------------------------------
    async def read_disk(self, host: str, uuid: str) -> AsyncIterator[bytes]:
        await self._task(uuid, host, states.RESIZE_FINISH)
        path = self.disk_path(uuid)
        if not path.exists():
            raise NotFound(f"Instance {uuid}: the migrated disk is gone.")
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk

    def finished(self, uuid: str) -> None:
        self.disk_path(uuid).unlink(missing_ok=True)
