"""Secrets: metadata, payloads sealed under the project key, user metadata, consumers and
listing with Barbican's filters. Expired secrets are gone for every caller."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.context import RequestContext
from onestack.core.key_manager import crypto, errors
from onestack.core.key_manager.base import Acl, Store, live
from onestack.db.models.base import utcnow
from onestack.db.models.key_manager import KmAclUser, KmConsumer, KmSecret, new_uuid


@dataclass
class NewSecret:
    """A validated create request (the API layer checked every field)."""

    name: str | None = None
    secret_type: str = "opaque"
    algorithm: str | None = None
    bit_length: int | None = None
    mode: str | None = None
    expiration: dt.datetime | None = None
    payload: bytes | None = None
    content_type: str | None = None


@dataclass
class SecretQuery:
    name: str | None = None
    alg: str | None = None
    mode: str | None = None
    bits: int = 0
    secret_type: str | None = None
    acl_only: bool = False
    # (column, operator, value): created_at gt 2026-..., operators eq gt gte lt lte
    dates: list[tuple[str, str, dt.datetime]] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (column, descending)
    offset: int = 0
    limit: int = 10


@dataclass
class SecretView:
    row: KmSecret
    acl: Acl
    consumers: list[KmConsumer]


_OPS = {"eq": "__eq__", "gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__"}


class Secrets(Store):
    async def _row(self, s: AsyncSession, secret_id: str) -> KmSecret:
        row = await s.get(KmSecret, secret_id)
        if row is None or (row.expiration is not None and row.expiration <= utcnow()):
            raise errors.not_found("Secret")
        return row

    async def secret(self, secret_id: str) -> SecretView:
        async with self.db.read() as s:
            row = await self._row(s, secret_id)
            return SecretView(row, await self._acl(s, "secret", row),
                              await self._consumers(s, "secret", row.id))

    async def _acl(self, s: AsyncSession, kind: str, row: Any) -> Acl:
        return Acl(row.project_access, await self.acl_users(s, kind, row.id),
                   row.acl_created_at, row.acl_updated_at)

    @staticmethod
    async def _consumers(s: AsyncSession, kind: str, parent: str) -> list[KmConsumer]:
        q = select(KmConsumer).where(KmConsumer.kind == kind, KmConsumer.parent_id == parent
                                     ).order_by(KmConsumer.created_at, KmConsumer.id)
        return list((await s.execute(q)).scalars())

    async def create_secret(self, ctx: RequestContext, new: NewSecret) -> KmSecret:
        project = ctx.project_id or ""

        async def work(s: AsyncSession) -> KmSecret:
            await self.check_quota(s, project, "secrets")
            return await self.add_secret(s, ctx, new)

        async with self.db.write() as s:
            return await work(s)

    async def add_secret(self, s: AsyncSession, ctx: RequestContext,
                         new: NewSecret) -> KmSecret:
        """A new secret row in ``s``'s transaction (orders make theirs this way too)."""
        project = ctx.project_id or ""
        row = KmSecret(project_id=project, creator_id=ctx.user_id or "", name=new.name,
                       secret_type=new.secret_type, algorithm=new.algorithm,
                       bit_length=new.bit_length, mode=new.mode, expiration=new.expiration,
                       user_meta={}, id=new_uuid())
        if new.payload is not None:
            await self._seal(s, row, new.payload, new.content_type)
        s.add(row)
        await s.flush()
        return row

    async def _seal(self, s: AsyncSession, row: KmSecret, payload: bytes,
                    content_type: str | None) -> None:
        kek = await self.project_key(s, row.project_id)
        row.ciphertext = crypto.seal_payload(kek, row.id, payload)
        row.content_type = content_type

    async def put_payload(self, secret_id: str, payload: bytes, content_type: str) -> None:
        async with self.db.write() as s:
            row = await self._row(s, secret_id)
            if row.ciphertext is not None:
                raise errors.has_payload()
            await self._seal(s, row, payload, content_type)
            row.updated_at = utcnow()

    async def payload(self, secret_id: str) -> tuple[bytes, str]:
        """(payload, stored content type); 404 when the secret has none."""
        async with self.db.read() as s:
            row = await self._row(s, secret_id)
            if row.ciphertext is None:
                raise errors.not_found("Secret payload")
            kek = await self.project_key(s, row.project_id)
        return crypto.open_payload(kek, row.id, row.ciphertext), row.content_type or ""

    async def secrets(self, ctx: RequestContext, query: SecretQuery
                      ) -> tuple[list[KmSecret], int]:
        q = live(select(KmSecret))
        if query.acl_only:
            q = q.where(KmSecret.id.in_(select(KmAclUser.resource_id).where(
                KmAclUser.kind == "secret", KmAclUser.user_id == (ctx.user_id or ""))))
        else:
            q = q.where(KmSecret.project_id == (ctx.project_id or ""))
        for column, value in (("name", query.name), ("algorithm", query.alg),
                              ("mode", query.mode), ("secret_type", query.secret_type)):
            if value:
                q = q.where(getattr(KmSecret, column) == value)
        if query.bits:
            q = q.where(KmSecret.bit_length == query.bits)
        for column, op, when in query.dates:
            q = q.where(getattr(getattr(KmSecret, column), _OPS[op])(when))
        async with self.db.read() as s:
            total = await s.scalar(select(func.count()).select_from(q.subquery())) or 0
            order = [getattr(KmSecret, c).desc() if d else getattr(KmSecret, c).asc()
                     for c, d in query.sort] or [KmSecret.created_at.asc()]
            q = q.order_by(*order, KmSecret.id).offset(query.offset).limit(query.limit)
            return list((await s.execute(q)).scalars()), total

    async def delete_secret(self, secret_id: str) -> None:
        async with self.db.write() as s:
            row = await self._row(s, secret_id)
            await self.drop_acl(s, "secret", row.id)
            await s.execute(delete(KmConsumer).where(KmConsumer.kind == "secret",
                                                     KmConsumer.parent_id == row.id))
            await s.delete(row)

    # --- user metadata ---------------------------------------------------------------------
    async def set_metadata(self, secret_id: str, meta: dict[str, str]) -> None:
        async with self.db.write() as s:
            row = await self._row(s, secret_id)
            row.user_meta = dict(meta)

    async def meta_item(self, secret_id: str, key: str, value: str | None, *,
                        create: bool = False, remove: bool = False) -> None:
        """Add (409 if present), update (404 if absent) or remove one metadata key."""
        async with self.db.write() as s:
            row = await self._row(s, secret_id)
            meta = dict(row.user_meta or {})
            if create and key in meta:
                raise errors.meta_exists(key)
            if not create and key not in meta:
                raise errors.not_found("Secret metadata key")
            if remove:
                del meta[key]
            else:
                meta[key] = value or ""
            row.user_meta = meta

    # --- secret consumers (API 1.1) --------------------------------------------------------
    async def add_consumer(self, ctx: RequestContext, kind: str, parent_id: str, name: str,
                           url: str, resource_id: str = "") -> None:
        async with self.db.write() as s:
            if kind == "secret":
                await self._row(s, parent_id)
            same = (await s.execute(select(KmConsumer).where(
                KmConsumer.kind == kind, KmConsumer.parent_id == parent_id,
                KmConsumer.name == name, KmConsumer.url == url,
                KmConsumer.resource_id == resource_id))).scalars().first()
            if same is not None:
                same.updated_at = utcnow()
                return
            project = ctx.project_id or ""
            await self.check_quota(s, project, "consumers")
            s.add(KmConsumer(kind=kind, parent_id=parent_id, project_id=project, name=name,
                             url=url, resource_id=resource_id))

    async def remove_consumer(self, kind: str, parent_id: str, name: str, url: str,
                              resource_id: str = "") -> None:
        async with self.db.write() as s:
            result = await s.execute(delete(KmConsumer).where(
                KmConsumer.kind == kind, KmConsumer.parent_id == parent_id,
                KmConsumer.name == name, KmConsumer.url == url,
                KmConsumer.resource_id == resource_id))
            if not getattr(result, "rowcount", 0):
                raise errors.not_found("Consumer")

    async def consumers(self, kind: str, parent_id: str) -> list[KmConsumer]:
        async with self.db.read() as s:
            return await self._consumers(s, kind, parent_id)
