"""Containers (generic, rsa, certificate) naming secrets of their project, and their
consumers (name and URL, as Octavia and Heat register them)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.context import RequestContext
from onestack.core.key_manager import errors
from onestack.core.key_manager.base import Acl, live
from onestack.core.key_manager.rules import CONTAINER_TYPES
from onestack.core.key_manager.secrets import Secrets
from onestack.db.models.base import utcnow
from onestack.db.models.key_manager import KmConsumer, KmContainer, KmSecret, new_uuid


@dataclass
class ContainerView:
    row: KmContainer
    acl: Acl
    consumers: list[KmConsumer]


def check_refs(ctype: str, refs: list[tuple[str, str]]) -> None:
    """Barbican's container validator: names unique, and the type's names only (rsa needs
    public_key and private_key, certificate needs certificate)."""
    names = [n for n, _ in refs]
    if len(set(names)) != len(names):
        raise errors.invalid("Container", "Duplicate reference names are not allowed",
                             "secret_refs")
    allowed = CONTAINER_TYPES[ctype]
    if allowed is None:
        return
    extra = sorted(set(names) - set(allowed))
    if extra:
        raise errors.invalid("Container", f"only 'secret_refs' names in {list(allowed)} are "
                             f"allowed for {ctype} containers, not {extra}", "secret_refs")
    needed = {"rsa": ("public_key", "private_key"), "certificate": ("certificate",)}[ctype]
    missing = [n for n in needed if n not in names]
    if missing:
        raise errors.invalid("Container", f"{ctype} containers need secret_refs named "
                             f"{missing}", "secret_refs")


class Containers(Secrets):
    async def _container(self, s: AsyncSession, container_id: str) -> KmContainer:
        row = await s.get(KmContainer, container_id)
        if row is None:
            raise errors.not_found("Container")
        return row

    async def container(self, container_id: str) -> ContainerView:
        async with self.db.read() as s:
            row = await self._container(s, container_id)
            return ContainerView(row, await self._acl(s, "container", row),
                                 await self._consumers(s, "container", row.id))

    async def _own_secrets(self, s: AsyncSession, project: str,
                           refs: list[tuple[str, str]]) -> None:
        for name, secret_id in refs:
            found = await s.scalar(live(select(KmSecret.id)).where(
                KmSecret.id == secret_id, KmSecret.project_id == project))
            if found is None:
                raise errors.NotFound(f"Secret provided for '{name}' doesn't exist.")

    async def create_container(self, ctx: RequestContext, name: str | None, ctype: str,
                               refs: list[tuple[str, str]]) -> KmContainer:
        check_refs(ctype, refs)
        project = ctx.project_id or ""
        async with self.db.write() as s:
            await self.check_quota(s, project, "containers")
            return await self.add_container(s, ctx, name, ctype, refs)

    async def add_container(self, s: AsyncSession, ctx: RequestContext, name: str | None,
                            ctype: str, refs: list[tuple[str, str]]) -> KmContainer:
        project = ctx.project_id or ""
        await self._own_secrets(s, project, refs)
        row = KmContainer(id=new_uuid(), project_id=project, creator_id=ctx.user_id or "",
                          name=name, type=ctype,
                          secret_refs=[{"name": n, "secret_id": i} for n, i in refs])
        s.add(row)
        await s.flush()
        return row

    async def containers(self, ctx: RequestContext, offset: int, limit: int,
                         name: str | None, ctype: str | None) -> tuple[list[KmContainer], int]:
        q = select(KmContainer).where(KmContainer.project_id == (ctx.project_id or ""))
        if name:
            q = q.where(KmContainer.name == name)
        if ctype:
            q = q.where(KmContainer.type == ctype)
        async with self.db.read() as s:
            total = await s.scalar(select(func.count()).select_from(q.subquery())) or 0
            q = q.order_by(KmContainer.created_at, KmContainer.id).offset(offset).limit(limit)
            return list((await s.execute(q)).scalars()), total

    async def delete_container(self, container_id: str) -> None:
        async with self.db.write() as s:
            row = await self._container(s, container_id)
            await self.drop_acl(s, "container", row.id)
            await s.execute(delete(KmConsumer).where(KmConsumer.kind == "container",
                                                     KmConsumer.parent_id == row.id))
            await s.delete(row)

    async def container_secret(self, ctx: RequestContext, container_id: str, name: str,
                               secret_id: str, remove: bool = False) -> None:
        """Add a secret to (or remove one from) a generic container."""
        async with self.db.write() as s:
            row = await self._container(s, container_id)
            if row.type != "generic":
                raise errors.BadRequest("Only 'generic' containers can be modified.")
            refs = [dict(r) for r in row.secret_refs]
            wanted = {"name": name, "secret_id": secret_id}
            if remove:
                if wanted not in refs:
                    raise errors.NotFound("Secret not found in the container.")
                refs.remove(wanted)
            else:
                await self._own_secrets(s, row.project_id, [(name, secret_id)])
                if wanted in refs:
                    raise errors.Conflict("The secret is already in the container under "
                                          "that name.")
                refs.append(wanted)
            row.secret_refs = refs
            row.updated_at = utcnow()
