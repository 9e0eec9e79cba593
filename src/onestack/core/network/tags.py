"""Tags on any network resource: replace all, add one, remove one, remove all."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.network import errors
from onestack.core.network.base import Store, bump, set_tags
from onestack.db.models.network import NetTag


class Tags(Store):
    """The caller has checked that the resource exists and may be changed."""

    async def _change(self, model: Any, resource_id: str, tags: list[str] | None,
                      add: str | None = None, remove: str | None = None) -> list[str]:
        async def work(s: AsyncSession) -> list[str]:
            obj = await s.get(model, resource_id, with_for_update=True)
            current = list((await s.execute(select(NetTag.tag).where(
                NetTag.resource_id == resource_id))).scalars())
            if tags is not None:
                wanted = sorted(set(tags))
            elif add is not None:
                wanted = sorted({*current, add})
            else:
                if remove not in current:
                    raise errors.TagNotFound(str(remove))
                wanted = [t for t in current if t != remove]
            if wanted != sorted(current):
                if add is not None:
                    s.add(NetTag(resource_id=resource_id, tag=add))
                elif remove is not None:
                    await s.execute(delete(NetTag).where(NetTag.resource_id == resource_id,
                                                         NetTag.tag == remove))
                else:
                    await set_tags(s, resource_id, wanted)
                if obj is not None:
                    bump(obj)
            return wanted

        return await self.txn(work)

    async def replace(self, model: Any, resource_id: str, tags: list[str]) -> list[str]:
        return await self._change(model, resource_id, tags)

    async def add(self, model: Any, resource_id: str, tag: str) -> list[str]:
        return await self._change(model, resource_id, None, add=tag)

    async def remove(self, model: Any, resource_id: str, tag: str) -> list[str]:
        return await self._change(model, resource_id, None, remove=tag)
