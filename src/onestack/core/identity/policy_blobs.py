"""Keystone's deprecated policy store (/v3/policies): opaque blobs with a MIME type, kept
and served to whoever reads them; Onestack enforces its own rules, never these."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from onestack.core.identity.base import Store, get_or_404
from onestack.db.models.base import new_id
from onestack.db.models.identity_admin import PolicyBlob


class PolicyBlobs(Store):
    async def create(self, data: dict[str, Any]) -> PolicyBlob:
        async with self.write() as s:
            blob = PolicyBlob(id=new_id(), type=data["type"], blob=data["blob"],
                              extra=data.get("extra", {}))
            s.add(blob)
        return blob

    async def get(self, policy_id: str) -> PolicyBlob:
        async with self.read() as s:
            return await get_or_404(s, PolicyBlob, policy_id, "policy")

    async def list(self, type_: str | None = None) -> list[PolicyBlob]:
        q = select(PolicyBlob).order_by(PolicyBlob.id)
        if type_ is not None:
            q = q.where(PolicyBlob.type == type_)
        async with self.read() as s:
            return list((await s.execute(q)).scalars())

    async def update(self, policy_id: str, data: dict[str, Any]) -> PolicyBlob:
        async with self.write() as s:
            blob = await get_or_404(s, PolicyBlob, policy_id, "policy")
            for key in ("type", "blob"):
                if key in data:
                    setattr(blob, key, data[key])
            if data.get("extra"):
                blob.extra = {**blob.extra, **data["extra"]}
        return blob

    async def delete(self, policy_id: str) -> None:
        async with self.write() as s:
            await s.delete(await get_or_404(s, PolicyBlob, policy_id, "policy"))
