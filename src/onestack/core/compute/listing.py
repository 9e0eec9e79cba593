"""Server listing: Nova's filters, sort keys and marker/limit pagination."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import aliased

from onestack.core.compute import states
from onestack.core.compute.base import Caller
from onestack.db.models.compute import Instance, InstanceTag
from onestack.errors import BadRequest

SORT_KEYS = {
    "access_ip_v4": "access_ip_v4", "access_ip_v6": "access_ip_v6",
    "availability_zone": "availability_zone", "config_drive": "config_drive",
    "created_at": "created_at", "display_description": "description",
    "display_name": "name", "host": "host", "hostname": "hostname", "image_ref": "image_ref",
    "instance_type_id": "flavor_id", "key_name": "key_name", "launch_index": "launch_index",
    "launched_at": "launched_at", "locked": "locked", "node": "node",
    "power_state": "power_state", "progress": "progress", "project_id": "project_id",
    "task_state": "task_state", "terminated_at": "terminated_at", "updated_at": "updated_at",
    "user_id": "user_id", "uuid": "uuid", "vm_state": "vm_state",
}
# Sort keys whose column is never NULL: a page after a marker can be found in SQL on them.
NOT_NULL_KEYS = {"config_drive", "created_at", "display_name", "hostname", "image_ref",
                 "instance_type_id", "launch_index", "locked", "power_state", "progress",
                 "project_id", "updated_at", "user_id", "uuid", "vm_state"}


@dataclass
class ServerQuery:
    name: str | None = None  # a regular expression
    status: str | None = None
    image: str | None = None
    flavor: str | None = None
    ip: str | None = None  # regular expressions on the server's addresses
    ip6: str | None = None
    changes_since: dt.datetime | None = None
    changes_before: dt.datetime | None = None
    tags: list[str] = field(default_factory=list)
    tags_any: list[str] = field(default_factory=list)
    not_tags: list[str] = field(default_factory=list)
    not_tags_any: list[str] = field(default_factory=list)
    all_tenants: bool = False
    project_id: str | None = None
    user_id: str | None = None
    host: str | None = None
    node: str | None = None
    reservation_id: str | None = None
    key_name: str | None = None
    availability_zone: str | None = None
    locked: bool | None = None
    deleted: bool | None = None
    sort: list[tuple[str, str]] = field(default_factory=list)
    limit: int | None = None
    marker: str | None = None


def _tag_clauses(q: ServerQuery) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []

    def having(tag: str) -> ColumnElement[bool]:
        return Instance.uuid.in_(select(InstanceTag.instance_uuid).where(InstanceTag.tag == tag))

    if q.tags:
        out.append(and_(*(having(t) for t in q.tags)))
    if q.tags_any:
        out.append(or_(*(having(t) for t in q.tags_any)))
    if q.not_tags:
        out.append(~and_(*(having(t) for t in q.not_tags)))
    if q.not_tags_any:
        out.append(~or_(*(having(t) for t in q.not_tags_any)))
    return out


# Columns no server view shows: not read for a page of servers (an access raises).
UNLISTED = (Instance.task_args, Instance.new_flavor, Instance.key_data, Instance.admin_pass)
# A listing reads every other column as plain rows (attributes named as on Instance), which
# costs a fraction of loading ORM objects for a page of 1,000 servers.
LISTED = tuple(getattr(Instance, a.key).label(a.key) for a in Instance.__mapper__.column_attrs
               if a.key not in {c.key for c in UNLISTED})


def statement(caller: Caller, q: ServerQuery) -> Select[Any]:
    stmt = select(*LISTED)
    if caller.is_admin and q.all_tenants:
        if q.project_id:
            stmt = stmt.where(Instance.project_id == q.project_id)
    else:  # without all_tenants Nova lists the caller's project, whatever tenant_id says
        stmt = stmt.where(Instance.project_id == caller.project_id)
    if q.deleted is not None and caller.is_admin:
        stmt = stmt.where(Instance.deleted.is_(q.deleted))
    elif q.changes_since is None and q.changes_before is None:
        stmt = stmt.where(Instance.deleted.is_(False))
    if q.status is not None:
        pairs = states.vm_states_for_status(q.status)
        if pairs is None:
            return stmt.where(Instance.uuid.is_(None))
        stmt = stmt.where(or_(*(Instance.vm_state == vm for vm, _t in pairs)))
    if q.changes_since is not None:
        stmt = stmt.where(Instance.updated_at >= q.changes_since)
    if q.changes_before is not None:
        stmt = stmt.where(Instance.updated_at <= q.changes_before)
    for column, value in ((Instance.image_ref, q.image), (Instance.flavor_id, q.flavor),
                          (Instance.user_id, q.user_id), (Instance.host, q.host),
                          (Instance.node, q.node), (Instance.key_name, q.key_name),
                          (Instance.reservation_id, q.reservation_id),
                          (Instance.availability_zone, q.availability_zone)):
        if value is not None:
            stmt = stmt.where(column == value.rstrip("/").rsplit("/", 1)[-1]
                              if column in (Instance.image_ref, Instance.flavor_id) else
                              column == value)
    if q.locked is not None:
        stmt = stmt.where(Instance.locked.is_(q.locked))
    stmt = stmt.where(*_tag_clauses(q))
    keys = [*(q.sort or [("created_at", "desc")]), ("uuid", "desc")]
    stmt = stmt.order_by(*(getattr(Instance, SORT_KEYS[k]).asc() if d == "asc" else
                           getattr(Instance, SORT_KEYS[k]).desc() for k, d in keys))
    return _page(stmt, q, keys)


def _page(stmt: Select[Any], q: ServerQuery, keys: list[tuple[str, str]]) -> Select[Any]:
    """Limit the rows read to the page (and one more, to tell whether more follow) when no
    filter is left for Python; the page starts at the marker row, found in SQL, when every
    sort column is NOT NULL. Otherwise the caller reads every match and pages in Python."""
    if q.limit is None or any(v is not None for v in (q.name, q.status, q.ip, q.ip6)):
        return stmt
    if q.marker is None:
        return stmt.limit(q.limit + 1)
    if not all(k in NOT_NULL_KEYS for k, _d in keys):
        return stmt
    marker = aliased(Instance)
    after: list[ColumnElement[bool]] = []  # rows at or after the marker in this order
    equal: list[ColumnElement[bool]] = []
    for key, direction in keys:
        column = getattr(Instance, SORT_KEYS[key])
        value = select(getattr(marker, SORT_KEYS[key])).where(
            marker.uuid == q.marker).scalar_subquery()
        after.append(and_(*equal, column > value if direction == "asc" else column < value))
        equal.append(column == value)
    return stmt.where(or_(*after, and_(*equal))).limit(q.limit + 2)


def compile_regex(pattern: str, what: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise BadRequest(f"Invalid {what} filter {pattern!r}: {exc}.") from exc


def keep(inst: Instance, q: ServerQuery, name_re: re.Pattern[str] | None,
         addresses: list[str]) -> bool:
    """Filters applied in Python: regular expressions (as Nova, on every backend)."""
    if name_re is not None and not name_re.search(inst.name):
        return False
    if q.status is not None and states.status(inst.vm_state, inst.task_state) != \
            q.status.upper():
        return False
    if q.ip is not None:
        ip_re = compile_regex(q.ip, "ip")
        if not any(ip_re.search(a) for a in addresses if ":" not in a):
            return False
    if q.ip6 is not None:
        ip6_re = compile_regex(q.ip6, "ip6")
        if not any(ip6_re.search(a) for a in addresses if ":" in a):
            return False
    return True


def count_of(stmt: Select[Any]) -> Select[Any]:
    return select(func.count()).select_from(stmt.subquery())
