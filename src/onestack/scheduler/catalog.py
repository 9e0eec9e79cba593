"""Resource classes and traits: the standard ones (constants) and custom ones (rows)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.db.models.placement import (
    Allocation,
    CustomResourceClass,
    CustomTrait,
    Inventory,
    ProviderTrait,
)
from onestack.errors import BadRequest, Conflict, NotFound
from onestack.scheduler.base import Store
from onestack.scheduler.errors import DuplicateName
from onestack.scheduler.names import (
    STANDARD_CLASS_SET,
    STANDARD_RESOURCE_CLASSES,
    STANDARD_TRAIT_SET,
    STANDARD_TRAITS,
    check_custom,
)


class Catalog(Store):
    # --- resource classes ----------------------------------------------------------------
    async def resource_classes(self) -> list[str]:
        async with self.read() as s:
            custom = (await s.execute(select(CustomResourceClass.name)
                                      .order_by(CustomResourceClass.name))).scalars()
            return [*STANDARD_RESOURCE_CLASSES, *custom]

    async def class_exists(self, name: str) -> bool:
        if name in STANDARD_CLASS_SET:
            return True
        async with self.read() as s:
            return await s.get(CustomResourceClass, name) is not None

    async def get_class(self, name: str) -> str:
        if not await self.class_exists(name):
            raise NotFound(f"No such resource class {name}.")
        return name

    async def create_class(self, name: str, *, exist_ok: bool = False) -> bool:
        """True when created; an existing one is a 409 unless exist_ok (PUT at 1.7+)."""
        check_custom(name, "resource class")
        async with self.write(f"Conflicting resource class already exists: {name}") as s:
            if await s.get(CustomResourceClass, name) is not None:
                if exist_ok:
                    return False
                raise DuplicateName(f"Conflicting resource class already exists: {name}")
            s.add(CustomResourceClass(name=name))
        return True

    async def rename_class(self, name: str, new: str) -> str:
        """PUT /resource_classes/{name} before 1.7: rename a custom class not in use."""
        if name in STANDARD_CLASS_SET:
            raise BadRequest(f"Cannot update standard resource class {name}")
        check_custom(new, "resource class")
        async with self.write() as s:
            row = await s.get(CustomResourceClass, name)
            if row is None:
                raise NotFound(f"No such resource class {name}.")
            if new != name and await s.get(CustomResourceClass, new) is not None:
                raise DuplicateName(f"Resource class already exists: {new}")
            await self._check_unused(s, name)
            await s.delete(row)
            s.add(CustomResourceClass(name=new))
        return new

    async def delete_class(self, name: str) -> None:
        if name in STANDARD_CLASS_SET:
            raise BadRequest(f"Cannot delete standard resource class {name}")
        async with self.write() as s:
            row = await s.get(CustomResourceClass, name)
            if row is None:
                raise NotFound(f"No such resource class {name}.")
            await self._check_unused(s, name)
            await s.delete(row)

    @staticmethod
    async def _check_unused(s: AsyncSession, name: str) -> None:
        for model in (Inventory, Allocation):
            q = select(model.id).where(model.resource_class == name).limit(1)
            if (await s.execute(q)).first():
                raise Conflict(f"Unable to delete resource class {name}. Class is in use in "
                               "inventory.")

    # --- traits --------------------------------------------------------------------------
    async def traits(self, names: list[str] | None = None, prefix: str | None = None,
                     associated: bool | None = None) -> list[str]:
        async with self.read() as s:
            custom = list((await s.execute(select(CustomTrait.name))).scalars())
            out = sorted({*STANDARD_TRAITS, *custom})
            if names is not None:
                wanted = set(names)
                out = [t for t in out if t in wanted]
            if prefix is not None:
                out = [t for t in out if t.startswith(prefix)]
            if associated is not None:
                used = set((await s.execute(select(ProviderTrait.trait).distinct())).scalars())
                out = [t for t in out if (t in used) == associated]
            return out

    async def trait_exists(self, name: str) -> bool:
        if name in STANDARD_TRAIT_SET:
            return True
        async with self.read() as s:
            return await s.get(CustomTrait, name) is not None

    async def put_trait(self, name: str) -> bool:
        """True when created, False when it existed already."""
        check_custom(name, "trait")
        async with self.write() as s:
            if await s.get(CustomTrait, name) is not None:
                return False
            s.add(CustomTrait(name=name))
        return True

    async def delete_trait(self, name: str) -> None:
        if name in STANDARD_TRAIT_SET:
            raise BadRequest(f"Cannot delete standard trait {name}.")
        async with self.write() as s:
            row = await s.get(CustomTrait, name)
            if row is None:
                raise NotFound(f"No such trait(s): {name}")
            q = select(ProviderTrait.trait).where(ProviderTrait.trait == name).limit(1)
            if (await s.execute(q)).first():
                raise Conflict(f"The trait {name} is in use by a resource provider.")
            await s.execute(delete(CustomTrait).where(CustomTrait.name == name))
