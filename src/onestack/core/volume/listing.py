"""List queries shared by volumes and snapshots: filters, sort keys, marker/offset/limit.

Cinder's defaults: newest first (created_at desc, then id desc); ``sort=key:dir,...`` or
``sort_key``/``sort_dir``; a marker that is not in the list is a 404; ``limit`` is capped
at 1000.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, func
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.errors import BadRequest, NotFound

MAX_LIMIT = 1000
SORT_DIRS = ("asc", "desc")


@dataclass
class ListQuery:
    filters: dict[str, Any] = field(default_factory=dict)
    sort: list[tuple[str, str]] = field(default_factory=list)
    limit: int | None = None
    marker: str | None = None
    offset: int = 0
    all_projects: bool = False
    project_id: str | None = None


def parse_sort(sort: str | None, sort_key: str | None, sort_dir: str | None,
               allowed: dict[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    if sort:
        if sort_key or sort_dir:
            raise BadRequest("The 'sort_key' and 'sort_dir' parameters are deprecated and "
                             "cannot be used with the 'sort' parameter.")
        for part in sort.split(","):
            key, _, direction = part.strip().partition(":")
            pairs.append((key.strip(), (direction or "desc").strip().lower()))
    elif sort_key or sort_dir:
        keys = (sort_key or "created_at").split(",")
        dirs = (sort_dir or "desc").split(",")
        for index, key in enumerate(keys):
            pairs.append((key.strip(), dirs[min(index, len(dirs) - 1)].strip().lower()))
    for key, direction in pairs:
        if key not in allowed:
            raise BadRequest(f"Invalid input received: Invalid sort key {key!r}; sort keys "
                             f"are {', '.join(sorted(allowed))}.")
        if direction not in SORT_DIRS:
            raise BadRequest(f"Invalid input received: Unknown sort direction {direction!r}, "
                             "must be 'desc' or 'asc'.")
    return pairs


async def page_ids(s: AsyncSession, base: Select[Any], id_col: Any, columns: dict[str, Any],
                   q: ListQuery) -> list[str]:
    """The ids of one page, in order: SQL sorts and filters, the marker is found among the
    sorted ids."""
    order: list[ColumnElement[Any]] = []
    keys = list(q.sort) or [("created_at", "desc")]
    seen = set()
    for key, direction in keys:
        col = columns[key]
        if key in seen:
            continue
        seen.add(key)
        col = func.coalesce(col, "") if key in ("name", "display_name", "description") else col
        order.append(col.asc() if direction == "asc" else col.desc())
    if "id" not in seen:
        last = keys[-1][1]
        order.append(id_col.asc() if last == "asc" else id_col.desc())
    ids = [str(r) for r in (await s.execute(base.with_only_columns(id_col).order_by(*order)
                                            )).scalars()]
    start = 0
    if q.marker is not None:
        try:
            start = ids.index(q.marker) + 1
        except ValueError as exc:
            raise NotFound(f"Marker {q.marker} could not be found.") from exc
    start += q.offset
    end = None if q.limit is None else start + min(q.limit, MAX_LIMIT)
    return ids[start:end]
