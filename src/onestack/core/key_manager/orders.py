"""Orders: Barbican's server-side generation. A key order makes a random symmetric key; an
asymmetric order an RSA key pair (PKCS#8 private key, SubjectPublicKeyInfo public key, in
PEM) in an rsa container. Generation is done before the order is answered, so orders are
ACTIVE at once (clients that poll see ACTIVE on their first look)."""

from __future__ import annotations

import os
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.context import RequestContext
from onestack.core.key_manager import errors
from onestack.core.key_manager.containers import Containers
from onestack.core.key_manager.secrets import NewSecret
from onestack.db.models.key_manager import KmOrder, new_uuid


def _pem_pair(bits: int, passphrase: str | None) -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    crypt: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
        else serialization.NoEncryption())
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8, crypt)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


class Orders(Containers):
    async def create_order(self, ctx: RequestContext, otype: str, meta: dict[str, Any],
                           secret: NewSecret, passphrase: str | None = None) -> KmOrder:
        """``secret`` carries the validated name, algorithm, bit length, mode, expiration
        and content type of what the order makes; ``meta`` is kept as the order shows it
        (never the passphrase, which becomes a secret of the key pair's container)."""
        project = ctx.project_id or ""
        async with self.db.write() as s:
            await self.check_quota(s, project, "orders")
            await self.check_quota(s, project, "secrets", 1 if otype == "key" else 2)
            order = KmOrder(id=new_uuid(), project_id=project, creator_id=ctx.user_id or "",
                            name=secret.name, type=otype, meta=meta, status="ACTIVE")
            if otype == "key":
                secret.payload = os.urandom((secret.bit_length or 256) // 8)
                secret.secret_type = "symmetric"
                order.secret_id = (await self.add_secret(s, ctx, secret)).id
            else:
                order.container_id = await self._key_pair(s, ctx, secret, passphrase)
            s.add(order)
            await s.flush()
            return order

    async def _key_pair(self, s: AsyncSession, ctx: RequestContext, secret: NewSecret,
                        passphrase: str | None) -> str:
        await self.check_quota(s, ctx.project_id or "", "containers")
        private, public = _pem_pair(secret.bit_length or 2048, passphrase)
        refs = []
        for name, stype, payload in (("private_key", "private", private),
                                     ("public_key", "public", public),
                                     ("private_key_passphrase", "passphrase",
                                      passphrase.encode() if passphrase else None)):
            if payload is None:
                continue
            part = NewSecret(name=secret.name, secret_type=stype, algorithm=secret.algorithm,
                             bit_length=secret.bit_length, mode=secret.mode,
                             expiration=secret.expiration, payload=payload,
                             content_type="text/plain" if stype == "passphrase"
                             else "application/octet-stream")
            refs.append((name, (await self.add_secret(s, ctx, part)).id))
        return (await self.add_container(s, ctx, secret.name, "rsa", refs)).id

    async def order(self, order_id: str) -> KmOrder:
        async with self.db.read() as s:
            row = await s.get(KmOrder, order_id)
        if row is None:
            raise errors.not_found("Order")
        return row

    async def orders(self, ctx: RequestContext, offset: int, limit: int
                     ) -> tuple[list[KmOrder], int]:
        q = select(KmOrder).where(KmOrder.project_id == (ctx.project_id or ""))
        async with self.db.read() as s:
            total = await s.scalar(select(func.count()).select_from(q.subquery())) or 0
            q = q.order_by(KmOrder.created_at, KmOrder.id).offset(offset).limit(limit)
            return list((await s.execute(q)).scalars()), total

    async def delete_order(self, order_id: str) -> None:
        async with self.db.write() as s:
            row = await s.get(KmOrder, order_id)
            if row is None:
                raise errors.not_found("Order")
            await s.delete(row)
