"""What a metadata definition namespace holds: objects, property definitions and tags.

Each is named uniquely inside its namespace (409 for a second one of the same name); the
namespace's visibility decides who sees them and its owner who changes them
(``metadefs.visible_namespace`` / ``owned_namespace``); in a protected namespace they
cannot be deleted.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.image.access import Caller
from onestack.core.image.metadefs import (
    MAX_LIMIT,
    Page,
    check_page,
    check_unprotected,
    owned_namespace,
    visible_namespace,
)
from onestack.db.engine import Database
from onestack.db.models.base import utcnow
from onestack.db.models.image_metadef import (
    MetadefNamespace,
    MetadefObject,
    MetadefProperty,
    MetadefTag,
)
from onestack.errors import Conflict, NotFound

Item = TypeVar("Item", MetadefObject, MetadefProperty, MetadefTag)
KINDS: dict[type[Any], str] = {MetadefObject: "object", MetadefProperty: "property",
                               MetadefTag: "tag"}
ITEM_SORT_KEYS = ("created_at", "updated_at", "name")


def _not_found(model: type[Any], ns: str, name: str) -> NotFound:
    return NotFound(f"Metadata definition {KINDS[model]} not found for namespace={ns} and "
                    f"{KINDS[model]} name={name}.")


def _exists(model: type[Any], ns: str, name: str) -> Conflict:
    return Conflict(f"A metadata definition {KINDS[model]} with name={name} already exists "
                    f"in namespace={ns}.")


async def _find(s: AsyncSession, model: type[Item], ns: MetadefNamespace,
                name: str) -> Item | None:
    q = select(model).where(model.namespace_id == ns.id, model.name == name)
    return (await s.execute(q)).scalar()


async def _get(s: AsyncSession, model: type[Item], ns: MetadefNamespace, name: str) -> Item:
    row = await _find(s, model, ns, name)
    if row is None:
        raise _not_found(model, ns.namespace, name)
    return row


async def _check_free(s: AsyncSession, model: type[Any], ns: MetadefNamespace,
                      name: str) -> None:
    if await _find(s, model, ns, name) is not None:
        raise _exists(model, ns.namespace, name)


class NamespaceItems:
    """Objects, properties and tags of namespaces, one set of rules for all three."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def list_items(self, caller: Caller, namespace: str, model: type[Item],
                   page: Page | None = None) -> list[Item]:
        page = page or Page(sort_key="name", sort_dir="asc")
        check_page(page, ITEM_SORT_KEYS)
        async with self.db.read() as s:
            ns = await visible_namespace(s, caller, namespace)
            q = select(model).where(model.namespace_id == ns.id)
            key = getattr(model, page.sort_key)
            if page.marker is not None:
                mark = await _get(s, model, ns, page.marker)
                value = getattr(mark, page.sort_key)
                q = q.where((key < value) | ((key == value) & (model.id < mark.id))
                            if page.sort_dir == "desc" else
                            (key > value) | ((key == value) & (model.id > mark.id)))
            order = (key.desc(), model.id.desc()) if page.sort_dir == "desc" else \
                (key.asc(), model.id.asc())
            limit = min(page.limit if page.limit is not None else MAX_LIMIT, MAX_LIMIT)
            return list((await s.execute(q.order_by(*order).limit(limit))).scalars())

    async def get(self, caller: Caller, namespace: str, model: type[Item], name: str) -> Item:
        async with self.db.read() as s:
            ns = await visible_namespace(s, caller, namespace)
            return await _get(s, model, ns, name)

    async def create(self, caller: Caller, namespace: str, model: type[Item], name: str,
                     fields: dict[str, Any]) -> Item:
        try:
            async with self.db.write() as s:
                ns = await owned_namespace(s, caller, namespace)
                await _check_free(s, model, ns, name)
                row = model(namespace_id=ns.id, name=name, **fields)
                s.add(row)
                await s.flush()
                return row
        except IntegrityError as exc:
            raise _exists(model, namespace, name) from exc

    async def update(self, caller: Caller, namespace: str, model: type[Item], name: str,
                     new_name: str, fields: dict[str, Any]) -> Item:
        """PUT: the item gets the new name and exactly the given fields."""
        try:
            async with self.db.write() as s:
                ns = await owned_namespace(s, caller, namespace)
                row = await _get(s, model, ns, name)
                if new_name != name:
                    await _check_free(s, model, ns, new_name)
                row.name = new_name
                for key, value in fields.items():
                    setattr(row, key, value)
                row.updated_at = utcnow()
                await s.flush()
                return row
        except IntegrityError as exc:
            raise _exists(model, namespace, new_name) from exc

    async def delete(self, caller: Caller, namespace: str, model: type[Item],
                     name: str) -> None:
        async with self.db.write() as s:
            ns = await owned_namespace(s, caller, namespace)
            row = await _get(s, model, ns, name)
            check_unprotected(ns, f"{KINDS[model]} {name}")
            await s.delete(row)

    async def delete_all(self, caller: Caller, namespace: str, model: type[Item]) -> None:
        async with self.db.write() as s:
            ns = await owned_namespace(s, caller, namespace)
            check_unprotected(ns, f"{KINDS[model]}s")
            await s.execute(delete(model).where(model.namespace_id == ns.id))

    async def create_tags(self, caller: Caller, namespace: str, names: list[str],
                          append: bool) -> list[MetadefTag]:
        """Bulk create: the given tags replace the namespace's tags, or with ``append``
        join them; a name given twice, or already there when appending, is 409."""
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise Conflict(f"Duplicate tag name {name} in the request.")
            seen.add(name)
        try:
            async with self.db.write() as s:
                ns = await owned_namespace(s, caller, namespace)
                if append:
                    for name in names:
                        await _check_free(s, MetadefTag, ns, name)
                else:
                    await s.execute(delete(MetadefTag).where(MetadefTag.namespace_id == ns.id))
                rows = [MetadefTag(namespace_id=ns.id, name=name) for name in names]
                s.add_all(rows)
                await s.flush()
                return rows
        except IntegrityError as exc:
            raise Conflict(f"A tag of {', '.join(names)} already exists in namespace="
                           f"{namespace}.") from exc
