"""Listing every Neutron collection the same way: filters on every attribute (a repeated
key matches any of its values), tag filters, sorting and marker pagination, all in SQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.network import errors
from onestack.core.network.base import tag_clause

TAG_KEYS = ("tags", "tags-any", "not-tags", "not-tags-any")


def to_bool(value: str) -> bool:
    low = value.strip().lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise errors.InvalidInput(f"'{value}' cannot be converted to boolean")


def to_int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise errors.InvalidInput(f"'{value}' is not an integer") from None


def to_str(value: str) -> str:
    return value


def to_optional(conv: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(value: str) -> Any:
        return None if value in ("", "None", "null") else conv(value)

    return convert


@dataclass(frozen=True)
class Attr:
    column: Any
    conv: Callable[[str], Any] = to_str
    sortable: bool = True


Special = Callable[[list[str]], Any]


@dataclass
class ListQuery:
    filters: dict[str, list[str]] = field(default_factory=dict)
    sort: list[tuple[str, str]] = field(default_factory=list)
    limit: int | None = None
    marker: str | None = None
    page_reverse: bool = False
    tags: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Page:
    items: list[Any]
    has_more: bool


def standard_attrs(model: Any) -> dict[str, Attr]:
    return {
        "id": Attr(model.id), "name": Attr(model.name),
        "description": Attr(model.description), "project_id": Attr(model.project_id),
        "tenant_id": Attr(model.project_id),
        "revision_number": Attr(model.revision_number, to_int),
        "created_at": Attr(model.created_at, sortable=True),
        "updated_at": Attr(model.updated_at, sortable=True),
    }


def _where(model: Any, q: ListQuery, attrs: dict[str, Attr],
           special: dict[str, Special]) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    for key, values in q.filters.items():
        if key in special:
            out.append(special[key](values))
            continue
        attr = attrs.get(key)
        if attr is None or key in ("created_at", "updated_at"):
            continue  # Neutron ignores filters on attributes it does not know
        converted = [attr.conv(v) for v in values]
        nulls = [v for v in converted if v is None]
        plain = [v for v in converted if v is not None]
        clauses: list[ColumnElement[bool]] = []
        if plain:
            clauses.append(attr.column.in_(plain))
        if nulls:
            clauses.append(attr.column.is_(None))
        out.append(or_(*clauses) if clauses else false())
    for key, tags in q.tags.items():
        out.append(tag_clause(model, key, tags))
    return out


def _order(q: ListQuery, attrs: dict[str, Attr]) -> list[tuple[Any, bool]]:
    """[(column, ascending)], always ending with id so the order is total."""
    order: list[tuple[Any, bool]] = []
    for key, direction in q.sort:
        attr = attrs.get(key)
        if attr is None or not attr.sortable:
            raise errors.HTTPBadRequest(f"{key} is an invalid attribute for sort_key")
        if direction not in ("asc", "desc"):
            raise errors.HTTPBadRequest(
                f"{direction} is an invalid value for sort_dir, valid values are 'asc' and "
                "'desc'")
        order.append((attr.column, direction == "asc"))
    id_col = attrs["id"].column
    if not any(col is id_col for col, _ in order):
        order.append((id_col, True))
    if q.page_reverse:
        order = [(col, not asc) for col, asc in order]
    return order


def _after(order: list[tuple[Any, bool]], marker: Any) -> ColumnElement[bool]:
    """Keyset condition: rows strictly after `marker` in `order`."""
    alternatives: list[ColumnElement[bool]] = []
    for i, (col, asc) in enumerate(order):
        value = getattr(marker, col.key)
        equal = [c == getattr(marker, c.key) for c, _ in order[:i]]
        step = col > value if asc else col < value
        alternatives.append(and_(*equal, step))
    return or_(*alternatives)


async def run(s: AsyncSession, model: Any, visible: ColumnElement[bool], q: ListQuery,
              attrs: dict[str, Attr], special: dict[str, Special] | None = None,
              missing: Callable[[str], Exception] | None = None,
              extra: Callable[[Select[Any]], Select[Any]] | None = None) -> Page:
    stmt: Select[Any] = select(model).where(visible, *_where(model, q, attrs, special or {}))
    if extra is not None:
        stmt = extra(stmt)
    order = _order(q, attrs)
    if q.marker:
        marker = (await s.execute(select(model).where(model.id == q.marker, visible))
                  ).scalars().first()
        if marker is None:
            raise (missing or errors.HTTPBadRequest)(q.marker)
        stmt = stmt.where(_after(order, marker))
    stmt = stmt.order_by(*[col.asc() if asc else col.desc() for col, asc in order])
    if q.limit:
        stmt = stmt.limit(q.limit + 1)
    items = list((await s.execute(stmt)).scalars().unique())
    has_more = bool(q.limit) and len(items) > (q.limit or 0)
    if q.limit:
        items = items[:q.limit]
    if q.page_reverse:
        items.reverse()
    return Page(items, has_more)
