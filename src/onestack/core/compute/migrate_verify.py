"""A cold migration waits for the user, as Nova's does: the server arrives on its target in
VERIFY_RESIZE (vm_state ``resized``, the migration ``finished``), then

- ``confirmResize``: the migration is ``confirmed``, the server ACTIVE (SHUTOFF when it was
  stopped) where it is, the staged copy of its root disk removed;
- ``revertResize``: the server goes back to the migration's source host (the claim, the port
  bindings and volume attachments with it; the migration ``reverting``, the server
  REVERT_RESIZE), whose agent starts it from the staged disk, the disk as it left the
  source (as Nova's revert gives back the source's disk), or from its root volume, and
  stops it again when it was stopped; the migration is then ``reverted``. The target's
  agent removes its copy (an instance of another host).

The staged disk (``Migrations.disk_path``) is kept while the server waits; a delete removes
it. A migration the target failed (rolled back to the source: its record ``error``) ends
as before, ACTIVE or SHUTOFF on the source.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.compute import events, migration_records, states
from onestack.core.compute.base import Caller
from onestack.core.compute.migrate import SOURCE, TARGET, Migrations
from onestack.db.models.base import utcnow
from onestack.db.models.compute import Instance, Migration
from onestack.errors import Conflict

log = logging.getLogger(__name__)
KIND = "migration"
FINISHED, REVERTING = "finished", "reverting"


async def _open(s: AsyncSession, uuid: str) -> Migration | None:
    """The instance's newest cold migration not yet ended."""
    return await s.scalar(select(Migration).where(
        Migration.instance_uuid == uuid, Migration.migration_type == KIND,
        Migration.status.not_in(migration_records.ENDED)
    ).order_by(Migration.id.desc()).limit(1))


def _resting(prior: str | None) -> tuple[str, int]:
    """The state a server ends in that was ``prior`` before the migration."""
    if prior == states.STOPPED:
        return states.STOPPED, states.SHUTDOWN
    return states.ACTIVE, states.RUNNING


async def arrived(s: AsyncSession, inst: Instance) -> tuple[str, int]:
    """A host finished a cold migration's ``resize_finish`` (in the transaction that ends the
    task): the (vm_state, power_state) the server takes, its migration record updated.
    The target of a migration: VERIFY_RESIZE (power as it was). The source after a revert:
    as before the migration, ``reverted``. After a rollback (record ended): as before."""
    prior = (inst.task_args or {}).get("prior_vm_state")
    row = await _open(s, inst.uuid)
    vm_state, power = _resting(prior)
    if row is None:
        return vm_state, power
    row.updated_at = utcnow()
    if row.status == REVERTING:
        row.status = "reverted"
        return vm_state, power
    row.status = FINISHED
    return states.RESIZED, power


class MigrationVerify:
    def __init__(self, migrations: Migrations) -> None:
        self.migrations = migrations
        self.servers = migrations.servers
        self.builder = migrations.builder

    async def waiting(self, uuid: str) -> bool:
        """Whether the server waits in VERIFY_RESIZE after a cold migration (not a resize)."""
        async with self.builder.db.read() as s:
            inst = await s.get(Instance, uuid)
            if inst is None or inst.deleted or inst.vm_state != states.RESIZED:
                return False
            row = await _open(s, uuid)
        return row is not None and row.status == FINISHED

    async def settled(self, uuid: str) -> None:
        """After a host's ``resize_finish`` or a delete: the staged disk goes unless the
        server waits for its confirm or revert."""
        if not await self.waiting(uuid):
            self.migrations.finished(uuid)

    async def confirm(self, caller: Caller, uuid: str) -> Instance:
        async with self.servers.write() as s:
            inst = await self.servers.instance(s, caller, uuid, lock=True)
            states.check("confirmResize", inst, is_admin=caller.is_admin)
            row = await _open(s, uuid)
            if row is None or row.status != FINISHED:
                raise Conflict(f"Instance {uuid} has no cold migration to confirm.")
            row.status, row.updated_at = "confirmed", utcnow()
            prior = states.STOPPED if inst.power_state == states.SHUTDOWN else None
            inst.vm_state, inst.power_state = _resting(prior)
            inst.updated_at = utcnow()
            await events.start(s, inst, "confirmResize", caller, inst.host)
            await events.finish(s, uuid)
        self.migrations.finished(uuid)
        return inst

    async def revert(self, caller: Caller, uuid: str) -> Instance:
        rec = await self.servers.get(caller, uuid)
        states.check("revertResize", rec.instance, is_admin=caller.is_admin)
        async with self.builder.db.read() as s:
            row = await _open(s, uuid)
        if row is None or row.status != FINISHED or not row.source_compute:
            raise Conflict(f"Instance {uuid} has no cold migration to revert.")
        source, here = row.source_compute, str(rec.instance.host)
        hosts = self.builder.hosts
        node = next((n for n in await hosts.nodes() if n.host == source), None)
        if node is None or not hosts.is_up(node):
            raise Conflict(f"Compute service of {source} is down: the migration of "
                           f"instance {uuid} cannot be reverted.")
        await self.migrations._claim_back(rec.instance, source)
        try:
            async with self.servers.write() as s:
                inst = await self.servers.instance(s, caller, uuid, lock=True)
                states.check("revertResize", inst, is_admin=caller.is_admin)
                open_row = await _open(s, uuid)
                if inst.host != here or open_row is None or open_row.id != row.id:
                    raise Conflict(f"Instance {uuid} changed meanwhile.")
                prior = states.STOPPED if inst.power_state == states.SHUTDOWN else \
                    states.ACTIVE
                await self.migrations._place(s, inst, source)
                inst.task_state = states.RESIZE_FINISH  # the source's agent starts it
                inst.task_args = {"prior_vm_state": prior, SOURCE: here, TARGET: source}
                open_row.status, open_row.updated_at = REVERTING, utcnow()
                await events.start(s, inst, "revertResize", caller, source)
        except Exception:
            await self.migrations._claim_back(rec.instance, here)
            raise
        log.info("instance %s: cold migration reverted, from %s back to %s", uuid, here,
                 source)
        self.builder.ports.changed()
        self.builder.links.wake(source)
        self.builder.links.wake(here)
        return inst
