"""The host side of the declared/observed contract: what an agent reads (the instances on
its host and the work they are owed) and what it writes back (the outcome of each task, and
what it sees of guests between tasks).

Every write is a compare-and-set on the task it finishes, so a late or repeated outcome
never overwrites newer intent (a delete asked while a reboot ran, say).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from onestack.core.compute import events, migrate_verify, migration_records, states
from onestack.core.compute.base import Store
from onestack.core.compute.servers import mark_deleted
from onestack.db.models.base import utcnow
from onestack.db.models.compute import Instance
from onestack.scheduler.allocations import Claim
from onestack.scheduler.service import Placement

log = logging.getLogger(__name__)


class HostWork(Store):
    def __init__(self, db: Any, placement: Placement) -> None:
        super().__init__(db)
        self.placement = placement

    async def instances(self, host: str) -> list[Instance]:
        """Every live instance assigned to the host."""
        async with self.db.read() as s:
            q = select(Instance).where(Instance.host == host, Instance.deleted.is_(False))
            return list((await s.execute(q)).scalars())

    async def get(self, uuid: str) -> Instance | None:
        async with self.db.read() as s:
            return await s.get(Instance, uuid)

    async def known(self, uuids: list[str]) -> dict[str, Instance]:
        async with self.db.read() as s:
            q = select(Instance).where(Instance.uuid.in_(uuids))
            return {i.uuid: i for i in (await s.execute(q)).scalars()}

    async def complete(self, uuid: str, task: str, power_state: int | None = None,
                       updates: dict[str, Any] | None = None) -> bool:
        """The task is done: the state table's outcome (plus ``updates``) is written."""
        vm_state, power = states.DONE[task]
        async with self.write() as s:
            inst = await s.get(Instance, uuid)
            if inst is None or inst.task_state != task:
                return False
            if task == states.DELETING:
                await mark_deleted(s, inst)
            else:
                prior = inst.task_args.get("prior_vm_state")
                if task == states.REBUILDING and prior == states.STOPPED:
                    vm_state, power = states.STOPPED, states.SHUTDOWN
                if task == states.RESIZE_FINISH:  # VERIFY_RESIZE, or back after a revert
                    vm_state, power = await migrate_verify.arrived(s, inst)
                if task == states.RESIZE_PREP and prior == states.STOPPED:
                    power = states.SHUTDOWN
                if vm_state is not None:
                    inst.vm_state = vm_state
                ps = power_state if power_state is not None else power
                if ps is not None:
                    inst.power_state = ps
                inst.task_state = None
                inst.task_args = {}
                inst.fault = None if vm_state == states.ACTIVE else inst.fault
                if task == states.SPAWNING:
                    inst.launched_at = utcnow()
                    inst.progress = 100
                for key, value in (updates or {}).items():
                    setattr(inst, key, value)
                await events.finish(s, uuid)
                await migration_records.task_done(s, uuid, task, ok=True)
            inst.updated_at = utcnow()
        if task == states.DELETING:
            await self.placement.allocations.claim([Claim(uuid, {})])
        return True

    async def fail(self, uuid: str, task: str, message: str) -> None:
        """The work failed: a build ends in ERROR with a fault; other tasks are dropped."""
        log.warning("instance %s: %s failed: %s", uuid, task, message)
        async with self.write() as s:
            inst = await s.get(Instance, uuid)
            if inst is None or inst.task_state != task:
                return
            if task in (states.SPAWNING, states.REBUILDING, states.RESIZE_FINISH):
                inst.vm_state = states.ERROR
                inst.fault = {"code": 500, "message": message[:255], "details": message,
                              "created": utcnow().isoformat()}
            inst.task_state = None
            inst.task_args = {}
            inst.updated_at = utcnow()
            await events.finish(s, uuid, message)
            await migration_records.task_done(s, uuid, task, ok=False)

    async def observe(self, uuid: str, power_state: int) -> str | None:
        """Between tasks: a guest found stopped while it should run goes to SHUTOFF (as
        Nova's power-state sync); the power state is recorded. The new vm_state, if any."""
        async with self.write() as s:
            inst = await s.get(Instance, uuid)
            if inst is None or inst.deleted or inst.task_state is not None:
                return None
            changed = None
            if inst.vm_state == states.ACTIVE and power_state in (
                    states.SHUTDOWN, states.CRASHED, states.NOSTATE):
                inst.vm_state = changed = states.STOPPED
                inst.power_state = states.SHUTDOWN
            elif inst.power_state != power_state and inst.vm_state != states.ERROR:
                inst.power_state = power_state
            else:
                return None
            inst.updated_at = utcnow()
            return changed
