"""GET /v2/images: filters, sorting and marker pagination, as Glance reads its query string."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, or_, select
from sqlalchemy.sql.elements import KeyedColumnElement

from onestack.core.image.access import MEMBER_STATUSES, VISIBILITIES, require_values
from onestack.db.models import Image, ImageProperty, ImageTag
from onestack.errors import BadRequest

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "virtual_size",
             "id", "created_at", "updated_at", "visibility", "owner", "min_disk", "min_ram",
             "protected", "os_hidden")
# Nullable columns sort as if NULL were this value, so keyset pagination stays exact.
NULL_AS: dict[str, Any] = {"name": "", "container_format": "", "disk_format": "",
                           "owner": "", "size": -1, "virtual_size": -1}
IN_KEYS = ("id", "name", "status", "container_format", "disk_format")
PLAIN_KEYS = ("owner", "checksum", "os_hash_value")
TIME_OPS = {"gt", "gte", "lt", "lte", "eq", "neq"}
PAGING = ("limit", "marker", "sort_key", "sort_dir", "sort")
STATUSES = ("queued", "saving", "active", "killed", "deleted", "pending_delete",
            "deactivated", "uploading", "importing")


@dataclass
class ListQuery:
    limit: int = DEFAULT_LIMIT
    marker: str | None = None
    sort: list[tuple[str, str]] = field(default_factory=list)
    visibility: str | None = None
    member_status: str | None = None
    os_hidden: bool = False
    conditions: list[ColumnElement[bool]] = field(default_factory=list)


def _bool(key: str, value: str) -> bool:
    low = value.lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise BadRequest(f"Invalid value for {key}: {value!r}; expected true or false.")


def _int(key: str, value: str) -> int:
    bound = 2**31 - 1 if key.startswith("min_") else 2**63 - 1
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"Invalid value for {key}: {value!r}; expected an integer.") from None
    if not -bound <= number <= bound:
        raise BadRequest(f"Invalid value for {key}: {value!r} is out of range.")
    return number


def _time(key: str, value: str) -> ColumnElement[bool]:
    op, _, text = value.partition(":") if value.split(":", 1)[0] in TIME_OPS else ("eq", "",
                                                                                     value)
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid value for {key}: {value!r}; expected an operator "
                         "(gt, gte, lt, lte, eq, neq) and an ISO 8601 time, e.g. "
                         "gte:2016-04-18T21:38:54Z.") from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    col = Image.created_at if key == "created_at" else Image.updated_at
    return {"gt": col > when, "gte": col >= when, "lt": col < when, "lte": col <= when,
            "eq": col == when, "neq": col != when}[op]


def _sort(params: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    keys = [v for k, v in params if k == "sort_key"]
    dirs = [v for k, v in params if k == "sort_dir"]
    combined = [v for k, v in params if k == "sort"]
    out: list[tuple[str, str]] = []
    if combined:
        if keys or dirs:
            raise BadRequest("The sort parameter cannot be combined with sort_key or "
                             "sort_dir.")
        for part in ",".join(combined).split(","):
            key, _, direction = part.strip().partition(":")
            out.append((key, direction or "desc"))
    else:
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise BadRequest("The number of sort_dir values must match sort_key's, or be "
                             "one.")
        for i, key in enumerate(keys):
            out.append((key, dirs[i] if len(dirs) > 1 else (dirs[0] if dirs else "desc")))
        if not keys and dirs:
            out.append(("created_at", dirs[0]))
    for key, direction in out:
        if key not in SORT_KEYS:
            raise BadRequest(f"Invalid sort key: {key}. It must be one of: "
                             f"{', '.join(SORT_KEYS)}.")
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort direction: {direction}. It must be asc or desc.")
    if not out:
        out.append(("created_at", "desc"))
    return out


def parse(params: Sequence[tuple[str, str]]) -> ListQuery:
    """Glance's query string (a multi-dict, as pairs) as a ListQuery; 400 on bad values."""
    q = ListQuery(sort=_sort(params))
    for key, value in params:
        if key in ("sort_key", "sort_dir", "sort"):
            continue
        if key == "limit":
            q.limit = _int(key, value)
            if q.limit < 0:
                raise BadRequest("limit param must be positive")
            q.limit = min(q.limit, MAX_LIMIT)
        elif key == "marker":
            q.marker = value
        elif key == "visibility":
            require_values({key: value}, {key: (*VISIBILITIES, "all")})
            q.visibility = value
        elif key == "member_status":
            require_values({key: value}, {key: (*MEMBER_STATUSES, "all")})
            q.member_status = value
        elif key == "os_hidden":
            q.os_hidden = _bool(key, value)
        elif key == "protected":
            q.conditions.append(Image.protected == _bool(key, value))
        elif key in ("size_min", "size_max"):
            size = _int(key, value)
            q.conditions.append(Image.size >= size if key == "size_min" else Image.size <= size)
        elif key in ("created_at", "updated_at"):
            q.conditions.append(_time(key, value))
        elif key == "tag":
            q.conditions.append(Image.id.in_(select(ImageTag.image_id).where(
                ImageTag.value == value)))
        elif key in IN_KEYS:
            col = getattr(Image, key)
            if value.startswith("in:"):
                q.conditions.append(col.in_([v for v in value[3:].split(",") if v]))
            else:
                q.conditions.append(col == value)
        elif key == "size":
            q.conditions.append(Image.size == _int(key, value))
        elif key in PLAIN_KEYS or key in ("min_disk", "min_ram"):
            col = getattr(Image, key)
            q.conditions.append(col == (_int(key, value) if key.startswith("min_") else value))
        else:
            q.conditions.append(Image.id.in_(select(ImageProperty.image_id).where(
                ImageProperty.name == key, ImageProperty.value == value)))
    q.conditions.append(Image.os_hidden == q.os_hidden)
    return q


def sort_expr(key: str) -> KeyedColumnElement[Any] | ColumnElement[Any]:
    col = getattr(Image, key)
    if key in NULL_AS:
        return func.coalesce(col, literal(NULL_AS[key]))
    return col


def order_by(sort: list[tuple[str, str]]) -> list[ColumnElement[Any]]:
    keys = [*sort, ("id", sort[-1][1])] if all(k != "id" for k, _ in sort) else sort
    return [sort_expr(k).asc() if d == "asc" else sort_expr(k).desc() for k, d in keys]


def after_marker(sort: list[tuple[str, str]], marker: Image) -> ColumnElement[bool]:
    """Rows that come after the marker row in this order (keyset pagination)."""
    keys = [*sort, ("id", sort[-1][1])] if all(k != "id" for k, _ in sort) else sort
    clauses: list[ColumnElement[bool]] = []
    for i, (key, direction) in enumerate(keys):
        equal = [sort_expr(k) == _value(marker, k) for k, _ in keys[:i]]
        expr, value = sort_expr(key), _value(marker, key)
        step = expr > value if direction == "asc" else expr < value
        clauses.append(and_(*equal, step))
    return or_(*clauses)


def _value(img: Image, key: str) -> Any:
    value = getattr(img, key)
    return NULL_AS.get(key) if value is None else value
