"""The one publish hook: resource changes as the database session commits them.

``attach(db, bus)`` listens on the database's own session class (every ``db.read()``,
``db.write()``, ``run_write()`` session of that ``Database``, nothing else): after each
flush it notes the tracked rows that were inserted, changed or deleted, with their status
before and after; after the commit it publishes them; a rollback forgets them. Service code
calls nothing: a state change is an event because it was committed.

A bulk ``UPDATE ... WHERE`` of a tracked table that sets a status column (the volume
worker's compare-and-set, the network agent's port status sync) and a bulk ``DELETE`` (a
load balancer's tree) are seen too: before it runs, the rows its WHERE matches are read
(id, project, name, status) in the same transaction; an update's new status is the
statement's literal value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.orm.base import NEVER_SET, NO_VALUE

from onestack.core.compute import states as compute_states
from onestack.core.events.bus import Event, EventBus, request_id_var
from onestack.db.engine import Database
from onestack.db.models.compute import Instance
from onestack.db.models.image import Image
from onestack.db.models.key_manager import KmContainer, KmSecret
from onestack.db.models.load_balancer import LbObject, LoadBalancer
from onestack.db.models.network import (
    FloatingIP,
    Network,
    Port,
    Router,
    SecurityGroup,
    Subnet,
)
from onestack.db.models.volume import Snapshot, Volume
from onestack.db.models.volume_backup import Backup

_PENDING = "onestack_events"


@dataclass(frozen=True)
class Tracked:
    type: Callable[[Any], str]  # of the object (or a row with the same attribute names)
    id: str
    project: str
    status: tuple[str, ...]  # the columns the status is made of
    shown: Callable[..., str | None] = lambda v: v  # those columns' values -> the status


def _fixed(name: str) -> Callable[[Any], str]:
    return lambda _obj: name


def _lb_status(provisioning: str | None, operating: str | None) -> str | None:
    return provisioning if operating is None else f"{provisioning}/{operating}"


def _server_status(vm_state: str | None, task_state: str | None) -> str | None:
    return None if vm_state is None else compute_states.status(vm_state, task_state)


TRACKED: dict[type, Tracked] = {
    Instance: Tracked(_fixed("server"), "uuid", "project_id", ("vm_state", "task_state"),
                      _server_status),
    Volume: Tracked(_fixed("volume"), "id", "project_id", ("status",)),
    Snapshot: Tracked(_fixed("snapshot"), "id", "project_id", ("status",)),
    Backup: Tracked(_fixed("backup"), "id", "project_id", ("status",)),
    Image: Tracked(_fixed("image"), "id", "owner", ("status",)),
    Network: Tracked(_fixed("network"), "id", "project_id", ("status",)),
    Subnet: Tracked(_fixed("subnet"), "id", "project_id", ()),
    Port: Tracked(_fixed("port"), "id", "project_id", ("status",)),
    Router: Tracked(_fixed("router"), "id", "project_id", ("status",)),
    FloatingIP: Tracked(_fixed("floatingip"), "id", "project_id", ("status",)),
    SecurityGroup: Tracked(_fixed("security_group"), "id", "project_id", ()),
    LoadBalancer: Tracked(_fixed("loadbalancer"), "id", "project_id",
                          ("provisioning_status", "operating_status"), _lb_status),
    LbObject: Tracked(lambda obj: str(getattr(obj, "kind", "lb_object")), "id", "project_id",
                      ("provisioning_status", "operating_status"), _lb_status),
    KmSecret: Tracked(_fixed("secret"), "id", "project_id", ("status",)),
    KmContainer: Tracked(_fixed("secret_container"), "id", "project_id", ("status",)),
}
TYPES = frozenset({"server", "volume", "snapshot", "backup", "image", "network", "subnet",
                   "port", "router", "floatingip", "security_group", "loadbalancer",
                   "listener", "pool", "member", "healthmonitor", "l7policy", "l7rule",
                   "secret", "secret_container"})


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _statuses(obj: Any, spec: Tracked) -> tuple[str | None, str | None]:
    """(old, new) status of a changed row: the values before this transaction's changes are
    in the instance state's ``committed_state`` (only what was set is there)."""
    if not spec.status:
        return None, None
    before = inspect(obj).committed_state
    old, new = [], []
    for column in spec.status:
        value = getattr(obj, column)
        prior = before.get(column, value)
        old.append(value if prior is NO_VALUE or prior is NEVER_SET else prior)
        new.append(value)
    return spec.shown(*old), spec.shown(*new)


def _event(obj: Any, spec: Tracked, action: str, old: str | None, new: str | None) -> Event:
    project = getattr(obj, spec.project)
    name = getattr(obj, "name", None)
    return Event(type=spec.type(obj), resource_id=str(getattr(obj, spec.id)),
                 project_id=project or None, action=action, old_status=old,
                 new_status=new, name=name if isinstance(name, str) else None,
                 timestamp="", request_id=request_id_var.get())


def changes(session: Session) -> list[Event]:
    """The tracked rows this flush inserts, changes or deletes (called after the flush,
    when ``new``/``dirty``/``deleted`` and the attributes' history are still pre-flush and
    column defaults are filled in)."""
    out: list[Event] = []
    for obj in session.new:
        spec = TRACKED.get(type(obj))
        if spec is not None:
            new = spec.shown(*(getattr(obj, c) for c in spec.status)) if spec.status else None
            out.append(_event(obj, spec, "create", None, new))
    for obj in session.dirty:
        spec = TRACKED.get(type(obj))
        if spec is None or not inspect(obj).committed_state:  # nothing set (a collection)
            continue
        old, new = _statuses(obj, spec)
        action = "update"
        if isinstance(obj, Instance) and obj.deleted and \
                inspect(obj).committed_state.get("deleted") is False:
            action, new = "delete", "DELETED"
        out.append(_event(obj, spec, action, old, new))
    for obj in session.deleted:
        spec = TRACKED.get(type(obj))
        if spec is not None:
            old, _new = _statuses(obj, spec)
            out.append(_event(obj, spec, "delete", old, None))
    return out


def bulk_changes(state: ORMExecuteState) -> list[Event]:
    """The rows a bulk DELETE of a tracked table is about to remove, or a bulk UPDATE is
    about to change when it sets a status column (read before it runs, in its
    transaction)."""
    mapper = state.bind_mapper
    spec = TRACKED.get(mapper.class_) if mapper is not None else None
    if spec is None or mapper is None:
        return []
    stmt: Any = state.statement
    params: dict[str, Any] = {}
    if state.is_update:
        try:
            params = stmt.compile().params
        except Exception:  # a construct the default dialect cannot render: not ours
            return []
        if not any(column in params for column in spec.status):
            return []
    cls = mapper.class_
    names = [spec.id, spec.project, *spec.status]
    names += [n for n in ("name", "kind") if n in mapper.columns and n not in names]
    query = select(*(getattr(cls, n).label(n) for n in names))
    if stmt.whereclause is not None:
        query = query.where(stmt.whereclause)
    out = []
    for row in state.session.execute(query):
        old = spec.shown(*(getattr(row, c) for c in spec.status)) if spec.status else None
        if state.is_delete:
            out.append(_event(row, spec, "delete", old, None))
        else:
            new = [params.get(c, getattr(row, c)) for c in spec.status]
            out.append(_event(row, spec, "update", old, spec.shown(*new)))
    return out


def attach(db: Database, bus: EventBus) -> Callable[[], None]:
    """Listen on ``db``'s sessions; the returned function stops listening."""

    def after_flush(session: Session, _ctx: Any) -> None:
        found = changes(session)
        if found:
            session.info.setdefault(_PENDING, []).extend(found)

    def do_orm_execute(state: ORMExecuteState) -> None:
        if state.is_update or state.is_delete:
            found = bulk_changes(state)
            if found:
                state.session.info.setdefault(_PENDING, []).extend(found)

    def after_commit(session: Session) -> None:
        found = session.info.pop(_PENDING, None)
        if found:
            stamp = _now()
            bus.publish(_merge(found, stamp))

    def after_rollback(session: Session) -> None:
        session.info.pop(_PENDING, None)

    hooks: list[tuple[str, Callable[..., None]]] = [
        ("after_flush", after_flush), ("do_orm_execute", do_orm_execute),
        ("after_commit", after_commit),
        ("after_rollback", after_rollback)]
    for name, fn in hooks:
        event.listen(db.session_class, name, fn)

    def detach() -> None:
        for name, fn in hooks:
            event.remove(db.session_class, name, fn)

    return detach


def _merge(found: list[Event], stamp: str) -> list[Event]:
    """One event per resource and transaction: its first old status, its last new one."""
    merged: dict[tuple[str, str], Event] = {}
    for ev in found:
        key = (ev.type, ev.resource_id)
        first = merged.get(key)
        if first is None:
            merged[key] = ev
            continue
        if first.action == "create" and ev.action == "delete":
            del merged[key]  # made and gone in one transaction: nothing happened
            continue
        action = "update"
        if "create" in (first.action, ev.action) or "delete" in (first.action, ev.action):
            action = first.action if first.action != "update" else ev.action
        merged[key] = Event(ev.type, ev.resource_id, ev.project_id, action,
                            first.old_status, ev.new_status, ev.name, "", ev.request_id)
    return [Event(e.type, e.resource_id, e.project_id, e.action, e.old_status, e.new_status,
                  e.name, stamp, e.request_id) for e in merged.values()]
