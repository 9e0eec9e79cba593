"""Cinder's user messages (``/messages``, 3.3): why a volume or snapshot went to error, in
words a project user may read (a cluster that does not answer, a pool that does not exist,
a backend that is not there).

There is no table of its own: a message is the ``error`` a backend job wrote on the volume
or snapshot it left in an error status; its id is derived from the resource and the time
it failed, so it is stable. Deleting a message clears that ``error``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update

from onestack.core.volume.base import Caller, Store
from onestack.db.models.volume import Snapshot, Volume
from onestack.errors import NotFound

NAMESPACE = uuid.UUID("5d0b8f86-3f0e-4d8e-9f0a-6a8f2a1c0b7e")
EPOCH = dt.datetime(1970, 1, 1)
KEEP = dt.timedelta(days=30)  # Cinder's message_ttl
# status -> (Cinder's event id, the action a user reads)
EVENTS = {
    "error": ("VOLUME_VOLUME_001_003", "create volume"),
    "error_deleting": ("VOLUME_VOLUME_001_004", "delete volume"),
    "error_extending": ("VOLUME_VOLUME_001_007", "extend volume"),
}
SNAPSHOT_EVENTS = {
    "error": ("VOLUME_SNAPSHOT_001_006", "create snapshot"),
    "error_deleting": ("VOLUME_SNAPSHOT_001_007", "delete snapshot"),
}


@dataclass
class Message:
    id: str
    resource_type: str  # VOLUME | SNAPSHOT
    resource_uuid: str
    event_id: str
    user_message: str
    created_at: dt.datetime
    project_id: str

    @property
    def guaranteed_until(self) -> dt.datetime:
        return self.created_at + KEEP

    @property
    def request_id(self) -> str:
        return f"req-{uuid.uuid5(NAMESPACE, 'request:' + self.id)}"


def _message(kind: str, rid: str, project: str, status: str, error: str,
             at: dt.datetime | None) -> Message | None:
    at = at or EPOCH
    event = (EVENTS if kind == "VOLUME" else SNAPSHOT_EVENTS).get(status)
    if event is None:
        return None
    mid = str(uuid.uuid5(NAMESPACE, f"{kind}:{rid}:{at.isoformat()}"))
    return Message(mid, kind, rid, event[0], f"{event[1]}: {error}", at, project)


class Messages:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def list(self, caller: Caller) -> list[Message]:
        async with self.store.db.read() as s:
            vq = select(Volume.id, Volume.project_id, Volume.status, Volume.error,
                        Volume.updated_at).where(Volume.error.is_not(None))
            sq = select(Snapshot.id, Snapshot.project_id, Snapshot.status, Snapshot.error,
                        Snapshot.updated_at).where(Snapshot.error.is_not(None))
            if not caller.is_admin:
                vq = vq.where(Volume.project_id == caller.project_id)
                sq = sq.where(Snapshot.project_id == caller.project_id)
            rows = [("VOLUME", *r) for r in (await s.execute(vq)).all()] + \
                [("SNAPSHOT", *r) for r in (await s.execute(sq)).all()]
        out = [m for kind, rid, project, status, error, at in rows
               if (m := _message(kind, rid, project, status, str(error), at)) is not None]
        return sorted(out, key=lambda m: (m.created_at, m.id), reverse=True)

    async def get(self, caller: Caller, message_id: str) -> Message:
        for m in await self.list(caller):
            if m.id == message_id:
                return m
        raise NotFound(f"Message {message_id} could not be found.")

    async def delete(self, caller: Caller, message_id: str) -> None:
        m = await self.get(caller, message_id)
        model = Volume if m.resource_type == "VOLUME" else Snapshot
        async with self.store.write() as s:
            await s.execute(update(model).where(model.id == m.resource_uuid).values(
                error=None))
