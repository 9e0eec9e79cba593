"""Metadata definition namespaces, resource types and their associations (Glance metadefs).

A namespace is a named catalog of property definitions, objects and tags that tools
(Horizon, the CLI) offer when someone sets metadata on an image, volume, flavor, aggregate
or server; a resource type association says which kind of resource it applies to (and
with which property-name prefix).

Who sees what, as in Glance: admins see every namespace; others see public namespaces
and their own project's. A namespace one cannot see is 404, as if it did not exist; one
seen but owned by another project is 403 to change. Whatever is inside a protected
namespace cannot be deleted (403) until ``protected`` is switched off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.image.access import Caller
from onestack.db.engine import Database
from onestack.db.models.base import utcnow
from onestack.db.models.image_metadef import (
    MetadefNamespace,
    MetadefObject,
    MetadefProperty,
    MetadefResourceType,
    MetadefResourceTypeAssoc,
    MetadefTag,
)
from onestack.errors import BadRequest, Conflict, Forbidden, NotFound

VISIBILITIES = ("public", "private")
SORT_DIRS = ("asc", "desc")
NAMESPACE_SORT_KEYS = ("created_at", "updated_at", "namespace", "display_name", "visibility")
MAX_LIMIT = 1000


@dataclass
class NamespaceRecord:
    """A namespace with what the API renders beside it (lists carry associations only)."""

    ns: MetadefNamespace
    associations: list[MetadefResourceTypeAssoc] = field(default_factory=list)
    objects: list[MetadefObject] = field(default_factory=list)
    properties: list[MetadefProperty] = field(default_factory=list)
    tags: list[MetadefTag] = field(default_factory=list)


@dataclass(frozen=True)
class Page:
    limit: int | None = None
    marker: str | None = None
    sort_key: str = "created_at"
    sort_dir: str = "desc"


def check_page(page: Page, sort_keys: tuple[str, ...]) -> None:
    if page.sort_key not in sort_keys:
        raise BadRequest(f"Invalid sort_key value: {page.sort_key}. It must be one of: "
                         f"{', '.join(sort_keys)}.")
    if page.sort_dir not in SORT_DIRS:
        raise BadRequest(f"Invalid sort_dir value: {page.sort_dir}. It must be asc or desc.")
    if page.limit is not None and page.limit < 0:
        raise BadRequest("Invalid limit value: limit param must be positive.")


def ns_not_found(name: str) -> NotFound:
    return NotFound(f"Metadata definition namespace={name} was not found.")


def visible_clause(caller: Caller) -> ColumnElement[bool]:
    if caller.is_admin:
        return true()
    if caller.project_id is None:
        return MetadefNamespace.visibility == "public"
    return or_(MetadefNamespace.visibility == "public",
               MetadefNamespace.owner == caller.project_id)


async def visible_namespace(s: AsyncSession, caller: Caller, name: str, *,
                            lock: bool = False) -> MetadefNamespace:
    q = select(MetadefNamespace).where(MetadefNamespace.namespace == name,
                                       visible_clause(caller))
    if lock:
        q = q.with_for_update()
    ns = (await s.execute(q)).scalar()
    if ns is None:
        raise ns_not_found(name)
    return ns


async def owned_namespace(s: AsyncSession, caller: Caller, name: str) -> MetadefNamespace:
    """The namespace if the caller may change it and what is in it: 404 when invisible,
    403 when it is another project's."""
    ns = await visible_namespace(s, caller, name, lock=True)
    if not (caller.is_admin or (ns.owner is not None and ns.owner == caller.project_id)):
        raise Forbidden(f"You are not permitted to modify namespace {name}: only its owner "
                        "may do that.")
    return ns


def check_unprotected(ns: MetadefNamespace, what: str) -> None:
    if ns.protected:
        raise Forbidden(f"Metadata definition {what} is protected in namespace "
                        f"{ns.namespace} and cannot be deleted.")


def _check_owner(caller: Caller, owner: str | None) -> None:
    if not caller.is_admin and owner != caller.project_id:
        raise Forbidden("You are not permitted to create or move a namespace into another "
                        "project: only an administrator may set its owner.")


async def _associations(s: AsyncSession, ids: list[int]
                        ) -> dict[int, list[MetadefResourceTypeAssoc]]:
    out: dict[int, list[MetadefResourceTypeAssoc]] = {i: [] for i in ids}
    if ids:
        q = select(MetadefResourceTypeAssoc).where(
            MetadefResourceTypeAssoc.namespace_id.in_(ids)).order_by(
            MetadefResourceTypeAssoc.created_at, MetadefResourceTypeAssoc.resource_type)
        for row in (await s.execute(q)).scalars():
            out[row.namespace_id].append(row)
    return out


async def _rows(s: AsyncSession, q: Select[Any]) -> list[Any]:
    return list((await s.execute(q)).scalars())


async def ensure_resource_type(s: AsyncSession, name: str) -> None:
    """Glance creates an unknown resource type (unprotected) when a namespace is first
    associated with it."""
    if await s.get(MetadefResourceType, name) is None:
        s.add(MetadefResourceType(name=name, protected=False))
        await s.flush()


class Namespaces:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def page(self, caller: Caller, page: Page, visibility: str | None,
                   resource_types: list[str]) -> tuple[list[NamespaceRecord], bool]:
        check_page(page, NAMESPACE_SORT_KEYS)
        if visibility is not None and visibility not in VISIBILITIES:
            raise BadRequest(f"Invalid visibility value: {visibility}. It must be one of: "
                             f"{', '.join(VISIBILITIES)}.")
        async with self.db.read() as s:
            q = select(MetadefNamespace).where(visible_clause(caller))
            if visibility is not None:
                q = q.where(MetadefNamespace.visibility == visibility)
            if resource_types:
                q = q.where(MetadefNamespace.id.in_(
                    select(MetadefResourceTypeAssoc.namespace_id).where(
                        MetadefResourceTypeAssoc.resource_type.in_(resource_types))))
            key = getattr(MetadefNamespace, page.sort_key)
            tie = MetadefNamespace.id
            if page.marker is not None:
                mark = await visible_namespace(s, caller, page.marker)
                value = getattr(mark, page.sort_key)
                if page.sort_dir == "desc":
                    q = q.where(or_(key < value, (key == value) & (tie < mark.id)))
                else:
                    q = q.where(or_(key > value, (key == value) & (tie > mark.id)))
            if page.sort_dir == "desc":
                q = q.order_by(key.desc(), tie.desc())
            else:
                q = q.order_by(key.asc(), tie.asc())
            limit = min(page.limit if page.limit is not None else MAX_LIMIT, MAX_LIMIT)
            rows = await _rows(s, q.limit(limit))
            assoc = await _associations(s, [n.id for n in rows])
            recs = [NamespaceRecord(n, assoc[n.id]) for n in rows]
            return recs, bool(rows) and len(rows) == limit

    async def get(self, caller: Caller, name: str) -> NamespaceRecord:
        async with self.db.read() as s:
            ns = await visible_namespace(s, caller, name)
            return await self._detail(s, ns)

    @staticmethod
    async def _detail(s: AsyncSession, ns: MetadefNamespace) -> NamespaceRecord:
        def rows_of(model: Any) -> Select[Any]:
            return select(model).where(model.namespace_id == ns.id).order_by(model.name)

        return NamespaceRecord(
            ns, (await _associations(s, [ns.id]))[ns.id],
            await _rows(s, rows_of(MetadefObject)), await _rows(s, rows_of(MetadefProperty)),
            await _rows(s, rows_of(MetadefTag)))

    async def create(self, caller: Caller, body: dict[str, Any]) -> NamespaceRecord:
        """A namespace with whatever it brings along (associations, objects, properties,
        tags), all in one transaction."""
        name = body["namespace"]
        owner = body.get("owner") or caller.project_id
        _check_owner(caller, owner)
        try:
            async with self.db.write() as s:
                await self._check_free(s, name)
                ns = MetadefNamespace(
                    namespace=name, display_name=body.get("display_name"),
                    description=body.get("description"),
                    visibility=body.get("visibility") or "private",
                    protected=bool(body.get("protected", False)), owner=owner)
                s.add(ns)
                await s.flush()
                for assoc in body.get("resource_type_associations") or []:
                    await add_association(s, ns, assoc)
                for obj in body.get("objects") or []:
                    s.add(MetadefObject(namespace_id=ns.id, name=obj["name"],
                                        description=obj.get("description"),
                                        required=obj.get("required") or [],
                                        properties=obj.get("properties") or {}))
                for prop_name, schema in (body.get("properties") or {}).items():
                    s.add(MetadefProperty(namespace_id=ns.id, name=prop_name,
                                          json_schema={k: v for k, v in schema.items()
                                                       if k != "name"}))
                for tag in body.get("tags") or []:
                    s.add(MetadefTag(namespace_id=ns.id, name=tag["name"]))
                await s.flush()
                return await self._detail(s, ns)
        except IntegrityError as exc:
            raise Conflict(f"Namespace {name} could not be created: it, or an object, "
                           "property or tag given twice in it, already exists.") from exc

    @staticmethod
    async def _check_free(s: AsyncSession, name: str) -> None:
        if (await s.execute(select(MetadefNamespace.id).where(
                MetadefNamespace.namespace == name))).first() is not None:
            raise Conflict(f"A metadata definition namespace with name={name} already "
                           "exists.")

    async def update(self, caller: Caller, name: str, body: dict[str, Any]) -> NamespaceRecord:
        """PUT replaces the namespace's own attributes, as Glance does: what the body
        leaves out goes back to its default (private, unprotected, no description)."""
        try:
            async with self.db.write() as s:
                ns = await owned_namespace(s, caller, name)
                new_name = body["namespace"]
                if new_name != ns.namespace:
                    await self._check_free(s, new_name)
                owner = body.get("owner") or caller.project_id
                if owner != ns.owner:
                    _check_owner(caller, owner)
                ns.namespace = new_name
                ns.display_name = body.get("display_name")
                ns.description = body.get("description")
                ns.visibility = body.get("visibility") or "private"
                ns.protected = bool(body.get("protected", False))
                ns.owner = owner
                ns.updated_at = utcnow()
                await s.flush()
                return NamespaceRecord(ns, (await _associations(s, [ns.id]))[ns.id])
        except IntegrityError as exc:
            raise Conflict(f"A metadata definition namespace with name={body['namespace']} "
                           "already exists.") from exc

    async def delete(self, caller: Caller, name: str) -> None:
        async with self.db.write() as s:
            ns = await owned_namespace(s, caller, name)
            if ns.protected:
                raise Forbidden(f"Metadata definition namespace {name} is protected and "
                                "cannot be deleted.")
            for model in (MetadefResourceTypeAssoc, MetadefObject, MetadefProperty,
                          MetadefTag):
                await s.execute(delete(model).where(model.namespace_id == ns.id))
            await s.delete(ns)

    # --- resource types ------------------------------------------------------------------
    async def resource_types(self) -> list[MetadefResourceType]:
        async with self.db.read() as s:
            return await _rows(s, select(MetadefResourceType).order_by(
                MetadefResourceType.created_at, MetadefResourceType.name))

    async def associations(self, caller: Caller, name: str) -> list[MetadefResourceTypeAssoc]:
        async with self.db.read() as s:
            ns = await visible_namespace(s, caller, name)
            return (await _associations(s, [ns.id]))[ns.id]

    async def associate(self, caller: Caller, name: str,
                        body: dict[str, Any]) -> MetadefResourceTypeAssoc:
        try:
            async with self.db.write() as s:
                ns = await owned_namespace(s, caller, name)
                return await add_association(s, ns, body)
        except IntegrityError as exc:
            raise _assoc_exists(body["name"], name) from exc

    async def dissociate(self, caller: Caller, name: str, resource_type: str) -> None:
        async with self.db.write() as s:
            ns = await owned_namespace(s, caller, name)
            row = await s.get(MetadefResourceTypeAssoc, (ns.id, resource_type))
            if row is None:
                raise NotFound(f"The metadata definition resource-type association of "
                               f"resource-type={resource_type} to namespace={name}, was "
                               "not found.")
            check_unprotected(ns, f"resource-type-association {resource_type}")
            await s.delete(row)


def _assoc_exists(resource_type: str, namespace: str) -> Conflict:
    return Conflict(f"The metadata definition resource-type association of "
                    f"resource-type={resource_type} to namespace={namespace}, already "
                    "exists.")


async def add_association(s: AsyncSession, ns: MetadefNamespace,
                          body: dict[str, Any]) -> MetadefResourceTypeAssoc:
    rt = body["name"]
    if await s.get(MetadefResourceTypeAssoc, (ns.id, rt)) is not None:
        raise _assoc_exists(rt, ns.namespace)
    await ensure_resource_type(s, rt)
    row = MetadefResourceTypeAssoc(namespace_id=ns.id, resource_type=rt,
                                   prefix=body.get("prefix"),
                                   properties_target=body.get("properties_target"))
    s.add(row)
    await s.flush()
    return row
