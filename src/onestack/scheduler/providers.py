"""Resource providers (nested in trees), their traits and aggregates."""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.db.models.placement import (
    Allocation,
    CustomTrait,
    Inventory,
    ProviderAggregate,
    ProviderTrait,
    ResourceProvider,
)
from onestack.errors import BadRequest
from onestack.scheduler.base import (
    Provider,
    Store,
    bump,
    check_generation,
    fits,
    provider_query,
    to_provider,
    usage_by_class,
)
from onestack.scheduler.errors import (
    CannotDeleteParent,
    ConcurrentUpdate,
    DuplicateName,
    ProviderInUse,
    ProviderNotFound,
)
from onestack.scheduler.names import STANDARD_TRAIT_SET

RP = ResourceProvider
UNSET = object()


@dataclass
class MemberOf:
    """One member_of term: in any of `aggregates` (or, negated, in none of them)."""

    aggregates: list[str]
    negated: bool = False


@dataclass
class ProviderFilter:
    name: str | None = None
    uuid: str | None = None
    member_of: list[MemberOf] = field(default_factory=list)
    resources: dict[str, int] = field(default_factory=dict)
    in_tree: str | None = None
    required: list[list[str]] = field(default_factory=list)  # all of: any of each inner list
    forbidden: list[str] = field(default_factory=list)


class Providers(Store):
    STATIC = True

    async def create(self, name: str, uuid: str | None = None,
                     parent_uuid: str | None = None) -> Provider:
        rp_uuid = uuid or str(uuidlib.uuid4())
        async with self.write(f"Conflicting resource provider name: {name} already exists.") as s:
            if (await s.execute(select(RP.id).where(RP.name == name))).first():
                raise DuplicateName(f"Conflicting resource provider name: {name} already "
                                    "exists.")
            if (await s.execute(select(RP.id).where(RP.uuid == rp_uuid))).first():
                raise DuplicateName(f"Conflicting resource provider uuid: {rp_uuid} already "
                                    "exists.")
            parent = None
            if parent_uuid is not None:
                parent = await self._parent(s, parent_uuid)
            row = RP(uuid=rp_uuid, name=name, generation=0,
                     parent_provider_id=parent.id if parent else None)
            s.add(row)
            await s.flush()
            row.root_provider_id = parent.root_id if parent and parent.root_id else row.id
            await s.flush()
            return await self.provider(s, rp_uuid)

    async def _parent(self, s: AsyncSession, parent_uuid: str) -> Provider:
        try:
            return await self.provider(s, parent_uuid)
        except ProviderNotFound as exc:
            raise BadRequest(f"parent provider UUID {parent_uuid} does not exist.") from exc

    async def get(self, uuid: str) -> Provider:
        async with self.read() as s:
            return await self.provider(s, uuid)

    async def update(self, uuid: str, name: str, parent_uuid: object = UNSET,
                     allow_reparent: bool = False) -> Provider:
        async with self.write(f"Conflicting resource provider name: {name} already exists.") as s:
            rp = await self.provider(s, uuid, lock=True)
            clash = await s.execute(select(RP.id).where(RP.name == name, RP.uuid != uuid))
            if clash.first():
                raise DuplicateName(f"Conflicting resource provider name: {name} already "
                                    "exists.")
            values: dict[str, object] = {"name": name}
            if parent_uuid is not UNSET and parent_uuid != rp.parent_uuid:
                await self._reparent(s, rp, parent_uuid, allow_reparent, values)
            await s.execute(update(RP).where(RP.id == rp.id).values(**values))
            await bump(s, rp.id)
            return await self.provider(s, uuid)

    async def _reparent(self, s: AsyncSession, rp: Provider, parent_uuid: object,
                        allow: bool, values: dict[str, object]) -> None:
        if rp.parent_uuid is not None and not allow:
            raise BadRequest("The resource provider's parent cannot be changed once set.")
        if parent_uuid is None:
            if not allow:
                raise BadRequest("un-parenting a provider is not allowed.")
            values.update(parent_provider_id=None, root_provider_id=rp.id)
            await self._set_root(s, rp.id, rp.id)
            return
        parent = await self._parent(s, str(parent_uuid))
        if parent.id == rp.id or (parent.root_id == rp.root_id and await self._is_descendant(
                s, parent.id, rp.id)):
            raise BadRequest("creating a loop in the provider tree is not allowed.")
        values.update(parent_provider_id=parent.id, root_provider_id=parent.root_id)
        await self._set_root(s, rp.id, parent.root_id or parent.id)

    async def _is_descendant(self, s: AsyncSession, node: int, ancestor: int) -> bool:
        current: int | None = node
        while current is not None:
            if current == ancestor:
                return True
            current = (await s.execute(select(RP.parent_provider_id)
                                       .where(RP.id == current))).scalar()
        return False

    async def _set_root(self, s: AsyncSession, top: int, root: int) -> None:
        """Every provider under `top` (and top) now belongs to the tree rooted at `root`."""
        todo = [top]
        while todo:
            await s.execute(update(RP).where(RP.id.in_(todo)).values(root_provider_id=root))
            todo = list((await s.execute(select(RP.id).where(
                RP.parent_provider_id.in_(todo)))).scalars())

    async def delete(self, uuid: str) -> None:
        async with self.write() as s:
            rp = await self.provider(s, uuid, lock=True)
            if (await s.execute(select(RP.id).where(RP.parent_provider_id == rp.id))).first():
                raise CannotDeleteParent(f"Unable to delete parent resource provider {uuid}: "
                                         "it has child resource providers.")
            used = await s.execute(select(Allocation.id)
                                   .where(Allocation.resource_provider_id == rp.id).limit(1))
            if used.first():
                raise ProviderInUse(f"Unable to delete resource provider {uuid}: Resource "
                                    "provider has allocations.")
            for model in (Inventory, ProviderTrait, ProviderAggregate):
                await s.execute(delete(model).where(model.resource_provider_id == rp.id))
            await s.execute(delete(RP).where(RP.id == rp.id))

    async def find(self, f: ProviderFilter) -> list[Provider]:
        q = provider_query().order_by(RP.id)
        if f.name is not None:
            q = q.where(RP.name == f.name)
        if f.uuid is not None:
            q = q.where(RP.uuid == f.uuid)
        for term in f.member_of:
            sub = select(ProviderAggregate.resource_provider_id).where(
                ProviderAggregate.aggregate_uuid.in_(term.aggregates))
            q = q.where(RP.id.not_in(sub) if term.negated else RP.id.in_(sub))
        for any_of in f.required:
            q = q.where(RP.id.in_(select(ProviderTrait.resource_provider_id)
                                  .where(ProviderTrait.trait.in_(any_of))))
        if f.forbidden:
            q = q.where(RP.id.not_in(select(ProviderTrait.resource_provider_id)
                                     .where(ProviderTrait.trait.in_(f.forbidden))))
        async with self.read() as s:
            if f.in_tree is not None:
                tree = (await s.execute(select(RP.root_provider_id)
                                        .where(RP.uuid == f.in_tree))).first()
                if tree is None:
                    return []
                q = q.where(RP.root_provider_id == tree[0])
            if f.resources:
                ids = await self._with_capacity(s, f.resources)
                q = q.where(RP.id.in_(ids))
            return [to_provider(r) for r in await s.execute(q)]

    async def _with_capacity(self, s: AsyncSession, resources: dict[str, int]) -> list[int]:
        q = select(Inventory).where(Inventory.resource_class.in_(list(resources)))
        invs = list((await s.execute(q)).scalars())
        used = await usage_by_class(s, {i.resource_provider_id for i in invs})
        ok: dict[int, int] = {}
        for inv in invs:
            key = (inv.resource_provider_id, inv.resource_class)
            if fits(inv, used.get(key, 0), resources[inv.resource_class]) is None:
                ok[inv.resource_provider_id] = ok.get(inv.resource_provider_id, 0) + 1
        return [rp for rp, n in ok.items() if n == len(resources)]

    # --- traits --------------------------------------------------------------------------
    async def traits(self, uuid: str) -> tuple[Provider, list[str]]:
        async with self.read() as s:
            rp = await self.provider(s, uuid)
            q = select(ProviderTrait.trait).where(ProviderTrait.resource_provider_id == rp.id)
            return rp, sorted((await s.execute(q)).scalars())

    async def set_traits(self, uuid: str, traits: Sequence[str], generation: int
                         ) -> tuple[Provider, list[str]]:
        async with self.write() as s:
            rp = await self.provider(s, uuid, lock=True)
            check_generation(rp, generation)
            await check_traits_exist(s, traits)
            await s.execute(delete(ProviderTrait).where(ProviderTrait.resource_provider_id
                                                        == rp.id))
            s.add_all(ProviderTrait(resource_provider_id=rp.id, trait=t) for t in set(traits))
            rp.generation = await bump(s, rp.id, generation)
            return rp, sorted(set(traits))

    async def delete_traits(self, uuid: str) -> None:
        async with self.write() as s:
            rp = await self.provider(s, uuid, lock=True)
            await s.execute(delete(ProviderTrait).where(ProviderTrait.resource_provider_id
                                                        == rp.id))
            await bump(s, rp.id)

    # --- aggregates ----------------------------------------------------------------------
    async def aggregates(self, uuid: str) -> tuple[Provider, list[str]]:
        async with self.read() as s:
            rp = await self.provider(s, uuid)
            q = select(ProviderAggregate.aggregate_uuid).where(
                ProviderAggregate.resource_provider_id == rp.id)
            return rp, sorted((await s.execute(q)).scalars())

    async def set_aggregates(self, uuid: str, aggregates: Sequence[str],
                             generation: int | None) -> tuple[Provider, list[str]]:
        async with self.write() as s:
            rp = await self.provider(s, uuid, lock=True)
            if generation is not None:
                check_generation(rp, generation)
            await s.execute(delete(ProviderAggregate).where(
                ProviderAggregate.resource_provider_id == rp.id))
            s.add_all(ProviderAggregate(resource_provider_id=rp.id, aggregate_uuid=a)
                      for a in set(aggregates))
            rp.generation = await bump(s, rp.id, rp.generation)
            return rp, sorted(set(aggregates))


async def check_traits_exist(s: AsyncSession, traits: Sequence[str]) -> None:
    custom = [t for t in traits if t not in STANDARD_TRAIT_SET]
    if not custom:
        return
    known = set((await s.execute(select(CustomTrait.name)
                                 .where(CustomTrait.name.in_(custom)))).scalars())
    missing = sorted(set(custom) - known)
    if missing:
        raise BadRequest(f"No such trait(s): {', '.join(missing)}.")


async def provider_exists(s: AsyncSession, rp_id: int) -> bool:
    return bool((await s.execute(select(exists().where(RP.id == rp_id)))).scalar())


__all__ = ["UNSET", "ConcurrentUpdate", "MemberOf", "ProviderFilter", "Providers"]
