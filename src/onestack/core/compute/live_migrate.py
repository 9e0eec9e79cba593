"""Live migration: a running (or paused) server moves to another host without stopping
(Nova's ``os-migrateLive``, admins), its disks copied while it runs (block migration: disks
are local to their host here).

Steps, each written by one host and read by the other through the controller (the step is
``task_args["live_step"]``; the task ``migrating`` all along):

1. ``prepare``: the API claims the target (as a cold migration: named host or the
   scheduler's pick, never the source, group policies kept) and marks the instance's ports
   ``binding:profile.migrating_to`` the target, so the target's network agent plugs their
   taps and rules beside the source's. The target's agent makes the guest's disks from the
   same image, starts QEMU waiting for the migration stream (paused, an NBD server exporting
   its writable disks) and reports its addresses.
2. ``copy``: the source's agent mirrors its disks into the target's (only what the overlay
   holds: the target has the same base image), then migrates memory and device state over
   TCP; its guest stops only for the last round. It reports done: the instance moves to
   the target (host, node, zone, port bindings).
3. ``finish``: the target's agent stops the NBD server and lets the guest run (a paused
   server stays paused), and the task ends: ACTIVE (or PAUSED) on the target.

A failure before the move (either host) gives the claim back to the source, where the
guest never stopped running; the target's half-made guest goes on its next pass. A failure
after the move puts the server in ERROR on the target (hard reboot or rebuild recover it).
The migration stream and the NBD disk copy run between the hosts' registered addresses
(the target listens on its own, not on every address), both TLS under a pre-shared key the
target makes for this migration alone: it reaches the source only in the ``prepared``
step's answer, through this API (the agents' authenticated channel), and is dropped from
the task when it ends.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update

from onestack.core.compute import events, migration_records, states
from onestack.core.compute.base import DEFAULT_AZ, Caller
from onestack.core.compute.evacuate import connection_maker, move_attachments
from onestack.core.compute.migrate import SOURCE, TARGET, Migrations
from onestack.core.compute.migration_records import MigrationRecords
from onestack.db.models.base import utcnow
from onestack.db.models.compute import ComputeNode, Instance, InstancePort
from onestack.db.models.network import Port
from onestack.errors import BadRequest, Conflict

log = logging.getLogger(__name__)
STEP = "live_step"
DEST = "live_dest"
PREPARE, COPY, FINISH = "prepare", "copy", "finish"
MIGRATING_TO = "migrating_to"


class LiveMigrations(Migrations):
    """The controller's side: the API call, then each host's report of its step."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.records = MigrationRecords(self.builder.db)

    async def live_migrate(self, caller: Caller, uuid: str, host: str | None,
                           block_migration: bool | None = None) -> Instance:
        if block_migration is False:
            raise BadRequest(f"Instance {uuid}: its disks are local to its host, not on "
                             "shared storage: live-migrate with block_migration true or "
                             "\"auto\".")
        row = await self.start(caller, uuid, host, "live_migrate", {STEP: PREPARE})
        # The target prepares first.
        self.builder.links.wake(str(row.task_args[TARGET]))
        return row

    async def started(self, s: Any, inst: Instance, target: str) -> None:
        if inst.task_state == states.MIGRATING:
            await _mark_ports(s, inst.uuid, target)

    async def incoming(self, host: str) -> list[Instance]:
        """Instances being live-migrated to ``host`` (still on their source)."""
        async with self.builder.db.read() as s:
            rows = (await s.execute(select(Instance).where(
                Instance.task_state == states.MIGRATING,
                Instance.deleted.is_(False)))).scalars().all()
        return [i for i in rows if i.host != host and i.task_args.get(TARGET) == host]

    async def is_incoming(self, host: str, uuid: str) -> bool:
        return any(i.uuid == uuid for i in await self.incoming(host))

    async def _at(self, s: Any, uuid: str, step: str) -> Instance:
        inst: Instance | None = await s.get(Instance, uuid, with_for_update=True)
        if inst is None or inst.task_state != states.MIGRATING or \
                inst.task_args.get(STEP) != step:
            raise Conflict(f"Instance {uuid} is not at live migration step {step!r}.")
        return inst

    async def prepared(self, host: str, uuid: str, dest: dict[str, Any]) -> None:
        """The target waits for the stream at ``dest``: the source copies next."""
        async with self.servers.write() as s:
            inst = await self._at(s, uuid, PREPARE)
            if inst.task_args.get(TARGET) != host:
                raise Conflict(f"Instance {uuid} is not being live-migrated to {host}.")
            inst.task_args = {**inst.task_args, STEP: COPY, DEST: dest}
            inst.updated_at = utcnow()
            await migration_records.update(s, uuid, "live-migration", "running")
            source = str(inst.host)
        self.builder.links.wake(source)

    async def migrated(self, host: str, uuid: str) -> None:
        """The source copied everything: the instance is the target's now."""
        async with self.servers.write() as s:
            inst = await self._at(s, uuid, COPY)
            if inst.host != host:
                raise Conflict(f"Instance {uuid} is not on host {host}.")
            target = str(inst.task_args[TARGET])
            node = await s.scalar(select(ComputeNode).where(ComputeNode.host == target))
            inst.host = target
            inst.node = node.hypervisor_hostname if node else target
            if node is not None:
                inst.availability_zone = node.availability_zone
            # the target's addresses and key are spent: not kept past the copy
            inst.task_args = {**{k: v for k, v in inst.task_args.items() if k != DEST},
                              STEP: FINISH}
            inst.updated_at = utcnow()
            await self.builder.ports.bind_in(s, uuid, target,
                                             inst.availability_zone or DEFAULT_AZ)
            await _mark_ports(s, uuid, None)
            # (rbd) volumes: attached to it on the target now
            await move_attachments(s, uuid, target, connection_maker(self.builder))
        self.builder.ports.changed()
        self.builder.links.wake(target)
        log.info("instance %s: live-migrated from %s to %s", uuid, host, target)

    async def abort_live(self, caller: Caller, uuid: str, migration_id: int) -> None:
        """``DELETE /servers/{id}/migrations/{id}``: while the target still prepares, the
        migration is cancelled (the server stays where it runs); once the source copies,
        it runs to its end."""
        await self.servers.get(caller, uuid)
        await self.records.live(uuid, migration_id)
        async with self.builder.db.read() as s:
            inst = await s.get(Instance, uuid)
        args = dict(inst.task_args) if inst is not None else {}
        if inst is None or inst.task_state != states.MIGRATING or args.get(STEP) != PREPARE:
            raise BadRequest(f"Migration {migration_id} of server {uuid} is copying the "
                             "server's disks and memory: it cannot be aborted now.")
        await self.fail(str(args.get(SOURCE)), uuid, "Migration cancelled by the admin.",
                        "cancelled")

    async def fail(self, host: str, uuid: str, message: str,
                   status: str = "error") -> None:
        """Either host failed its step: before the move the server stays on its source,
        running, with its claim back; after it, the server is in ERROR on the target."""
        async with self.builder.db.read() as s:
            inst = await s.get(Instance, uuid)
        if inst is None or inst.task_state != states.MIGRATING:
            return
        args = dict(inst.task_args)
        moved = args.get(STEP) == FINISH
        if not moved and host not in (args.get(SOURCE), args.get(TARGET)):
            return
        if not moved:
            await self._claim_back(inst, str(inst.host))
        log.warning("instance %s: live migration failed on %s: %s", uuid, host, message)
        async with self.servers.write() as s:
            row = await s.get(Instance, uuid, with_for_update=True)
            if row is None or row.task_state != states.MIGRATING:
                return
            if moved:
                row.vm_state = states.ERROR
                row.fault = {"code": 500, "message": message[:255], "details": message,
                             "created": utcnow().isoformat()}
            else:
                await _mark_ports(s, uuid, None)
            await migration_records.update(s, uuid, "live-migration", status)
            row.task_state = None
            row.task_args = {}
            row.updated_at = utcnow()
            await events.finish(s, uuid, message)
        self.builder.ports.changed()
        for name in (args.get(SOURCE), args.get(TARGET)):
            if name:
                self.builder.links.wake(str(name))


async def _mark_ports(s: Any, uuid: str, target: str | None) -> None:
    """Set (or clear) ``binding:profile.migrating_to`` on the instance's ports."""
    ids = list((await s.execute(select(InstancePort.port_id).where(
        InstancePort.instance_uuid == uuid))).scalars())
    for port in (await s.execute(select(Port).where(Port.id.in_(ids)))).scalars():
        profile = {k: v for k, v in (port.binding_profile or {}).items() if k != MIGRATING_TO}
        if target:
            profile[MIGRATING_TO] = target
        await s.execute(update(Port).where(Port.id == port.id).values(
            binding_profile=profile, updated_at=utcnow(),
            revision_number=Port.revision_number + 1))
