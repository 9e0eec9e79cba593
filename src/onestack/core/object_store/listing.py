"""Swift listings over a (parent, name) index: prefix, delimiter, marker, end_marker, limit,
reverse, path. Names compare by code point, which is UTF-8 byte order (SQLite's BINARY
collation, PostgreSQL's "C")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import Session

from onestack.core.object_store.base import CONSTRAINTS
from onestack.errors import BadRequest, PreconditionFailed

Bound = tuple[str, bool] | None  # (value, inclusive)


@dataclass
class ListParams:
    prefix: str = ""
    delimiter: str = ""
    marker: str = ""
    end_marker: str = ""
    limit: int = CONSTRAINTS.container_listing_limit
    reverse: bool = False
    path: str | None = None

    @classmethod
    def from_query(cls, query: Any) -> ListParams:
        """From a query mapping (400/412 on bad values, as Swift)."""
        p = cls()
        for key in ("prefix", "delimiter", "marker", "end_marker"):
            value = query.get(key)
            if value is not None:
                if "\x00" in value:
                    raise PreconditionFailed(f"Invalid UTF8 or contains NULL in {key}")
                setattr(p, key, value)
        if len(p.delimiter) > 1:
            raise PreconditionFailed("Bad delimiter")
        raw = query.get("limit")
        if raw is not None and raw != "":
            try:
                limit = int(raw)
            except ValueError as exc:
                raise PreconditionFailed(f"Value of limit must be an integer: {raw!r}") from exc
            if limit > CONSTRAINTS.container_listing_limit:
                raise PreconditionFailed(
                    f"Maximum limit is {CONSTRAINTS.container_listing_limit}")
            if limit < 0:
                raise BadRequest("Value of limit must be a positive integer")
            p.limit = limit
        p.reverse = str(query.get("reverse", "")).lower() in ("1", "true", "yes", "on", "t", "y")
        path = query.get("path")
        if path is not None:
            p.path = path
        return p


def bump(value: str) -> str | None:
    """The smallest string above every string that starts with ``value``."""
    if not value:
        return None
    last = ord(value[-1])
    if last >= 0x10FFFF:
        return None
    nxt = last + 1
    if 0xD800 <= nxt <= 0xDFFF:
        nxt = 0xE000
    return value[:-1] + chr(nxt)


def _tighter_low(a: Bound, b: Bound) -> Bound:
    if a is None or b is None:
        return a or b
    if a[0] != b[0]:
        return a if a[0] > b[0] else b
    return (a[0], a[1] and b[1])


def _tighter_high(a: Bound, b: Bound) -> Bound:
    if a is None or b is None:
        return a or b
    if a[0] != b[0]:
        return a if a[0] < b[0] else b
    return (a[0], a[1] and b[1])


def listing(session: Session, base: Select[Any], name_col: Any, params: ListParams,
            extra: Sequence[ColumnElement[bool]] = (), scalars: bool = True) -> list[Any]:
    """Rows of ``base`` (one entity with a name; with ``scalars=False``, rows of columns,
    ``name`` first), or subdir strings where the delimiter rolls names up, in Swift's order
    and limits. Synchronous: run it in ``Database.run_read`` (one hand-off for the whole
    listing: without a delimiter it is one statement)."""
    prefix, delimiter = params.prefix, params.delimiter
    only_direct = False
    if params.path is not None:
        prefix = params.path.rstrip("/") + "/" if params.path.strip("/") else ""
        delimiter, only_direct = "/", True
    limit = params.limit
    low: Bound = None
    high: Bound = None
    if prefix:
        low = (prefix, True)
        up = bump(prefix)
        high = (up, False) if up else None
    if params.reverse:
        if params.marker:
            high = _tighter_high(high, (params.marker, False))
        if params.end_marker:
            low = _tighter_low(low, (params.end_marker, False))
    else:
        if params.marker:
            low = _tighter_low(low, (params.marker, False))
        if params.end_marker:
            high = _tighter_high(high, (params.end_marker, False))
    out: list[Any] = []
    while len(out) < limit:
        q = base
        for cond in extra:
            q = q.where(cond)
        if low is not None:
            q = q.where(name_col >= low[0] if low[1] else name_col > low[0])
        if high is not None:
            q = q.where(name_col <= high[0] if high[1] else name_col < high[0])
        want = limit - len(out)
        q = q.order_by(name_col.desc() if params.reverse else name_col).limit(want)
        if scalars:
            rows = list(session.execute(q).scalars())
        else:  # rows of columns: Core, without the ORM's loading (a third of the time)
            rows = list(session.connection().execute(q).all())
        if not rows:
            break
        rolled = False
        for row in rows:
            name: str = row.name if scalars else row[0]
            if not name.startswith(prefix):
                return out
            cut = name.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                subdir = name[:cut + len(delimiter)]
                if not only_direct and subdir != params.marker:
                    out.append(subdir)
                if params.reverse:
                    high = (subdir, False)
                else:
                    nxt = bump(subdir)
                    if nxt is None:
                        return out
                    low = (nxt, True)
                rolled = True
                break
            out.append(row)
            if params.reverse:
                high = (name, False)
            else:
                low = (name, False)
            if len(out) >= limit:
                break
        if not rolled and len(rows) < want:
            break
    return out


