"""Instance actions (os-instance-actions) and their events: started by the API, finished by
whoever did the work."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.compute.base import Caller, Store
from onestack.db.models.base import utcnow
from onestack.db.models.compute import Instance, InstanceAction, InstanceActionEvent
from onestack.errors import NotFound

# The event each action's work shows (Nova's compute manager method names).
EVENTS = {
    "create": "compute__do_build_and_run_instance", "delete": "compute_terminate_instance",
    "reboot": "compute_reboot_instance", "stop": "compute_stop_instance",
    "start": "compute_start_instance", "pause": "compute_pause_instance",
    "unpause": "compute_unpause_instance", "suspend": "compute_suspend_instance",
    "resume": "compute_resume_instance", "rebuild": "compute_rebuild_instance",
    "resize": "compute_resize_instance", "confirmResize": "compute_confirm_resize",
    "revertResize": "compute_revert_resize", "createImage": "compute_snapshot_instance",
    "shelve": "compute_shelve_instance", "shelveOffload": "compute_shelve_offload_instance",
    "unshelve": "compute_unshelve_instance", "rescue": "compute_rescue_instance",
    "unrescue": "compute_unrescue_instance", "createBackup": "compute_backup_instance",
}


@dataclass
class ActionRecord:
    action: InstanceAction
    events: list[InstanceActionEvent] = field(default_factory=list)


async def start(s: AsyncSession, inst: Instance, action: str, caller: Caller,
                host: str | None = None) -> None:
    row = InstanceAction(instance_uuid=inst.uuid, action=action,
                         request_id=caller.request_id or "req-internal",
                         project_id=caller.project_id, user_id=caller.user_id,
                         start_time=utcnow())
    s.add(row)
    await s.flush()
    event = EVENTS.get(action)
    if event is not None:
        s.add(InstanceActionEvent(action_id=row.id, event=event, host=host,
                                  start_time=utcnow()))


async def finish(s: AsyncSession, uuid: str, error: str | None = None) -> None:
    """Finish the instance's open events (the work they stood for is done)."""
    q = (select(InstanceActionEvent).join(InstanceAction,
                                          InstanceAction.id == InstanceActionEvent.action_id)
         .where(InstanceAction.instance_uuid == uuid, InstanceActionEvent.finish_time.is_(None)))
    now = utcnow()
    for event in (await s.execute(q)).scalars():
        event.finish_time = now
        event.result = "Error" if error else "Success"
        event.traceback = error
    if error:
        q2 = (select(InstanceAction).where(InstanceAction.instance_uuid == uuid)
              .order_by(InstanceAction.id.desc()).limit(1))
        last = await s.scalar(q2)
        if last is not None:
            last.message = "Error"
            last.updated_at = now


class InstanceActions(Store):
    async def listing(self, uuid: str) -> list[InstanceAction]:
        async with self.db.read() as s:
            q = (select(InstanceAction).where(InstanceAction.instance_uuid == uuid)
                 .order_by(InstanceAction.start_time.desc(), InstanceAction.id.desc()))
            return list((await s.execute(q)).scalars())

    async def get(self, uuid: str, request_id: str) -> ActionRecord:
        async with self.db.read() as s:
            action = await s.scalar(select(InstanceAction).where(
                InstanceAction.instance_uuid == uuid, InstanceAction.request_id == request_id)
                .order_by(InstanceAction.id.desc()).limit(1))
            if action is None:
                raise NotFound(f"Action for request_id {request_id} on instance {uuid} not "
                               "found")
            events = list((await s.execute(select(InstanceActionEvent).where(
                InstanceActionEvent.action_id == action.id).order_by(
                InstanceActionEvent.id))).scalars())
            return ActionRecord(action, events)
