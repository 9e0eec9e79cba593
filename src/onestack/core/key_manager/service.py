"""The key manager core as one object: secrets, containers, orders (through its bases),
ACLs, quotas, and the master key rotation that re-wraps every project key."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.config import Settings
from onestack.core.key_manager import crypto, errors
from onestack.core.key_manager.base import Acl
from onestack.core.key_manager.orders import Orders
from onestack.core.key_manager.rules import QUOTA_RESOURCES
from onestack.db.engine import Database
from onestack.db.models.base import utcnow
from onestack.db.models.key_manager import (
    KmAclUser,
    KmContainer,
    KmProjectKey,
    KmQuota,
    KmSecret,
)
from onestack.drivers.master_key import FileMasterKeyStore, MasterKeys, MasterKeyStore


async def _shared(s: AsyncSession, kind: str, ident: str) -> KmSecret | KmContainer:
    row = await (s.get(KmSecret, ident) if kind == "secret" else s.get(KmContainer, ident))
    if row is None:
        raise errors.not_found(kind.capitalize())
    return row


class KeyManager(Orders):
    # --- ACLs ------------------------------------------------------------------------------
    async def acl(self, kind: str, resource_id: str) -> Acl:
        view = await (self.secret(resource_id) if kind == "secret"
                      else self.container(resource_id))
        return view.acl

    async def set_acl(self, kind: str, resource_id: str, users: list[str] | None,
                      project_access: bool | None, replace: bool) -> None:
        """PUT (``replace``: users and project access as given, defaults for what is left
        out) or PATCH (only what is given changes)."""
        async with self.db.write() as s:
            row = await _shared(s, kind, resource_id)
            if replace or users is not None:
                await self.drop_acl(s, kind, resource_id)
                for user in sorted(set(users or [])):
                    s.add(KmAclUser(kind=kind, resource_id=resource_id, user_id=user))
            if replace or project_access is not None:
                row.project_access = True if project_access is None else project_access
            now = utcnow()
            row.acl_created_at = row.acl_created_at or now
            row.acl_updated_at = now

    async def delete_acl(self, kind: str, resource_id: str) -> None:
        async with self.db.write() as s:
            row = await _shared(s, kind, resource_id)
            await self.drop_acl(s, kind, resource_id)
            row.project_access, row.acl_created_at, row.acl_updated_at = True, None, None

    # --- quotas ----------------------------------------------------------------------------
    async def quotas(self, project_id: str) -> dict[str, int]:
        async with self.db.read() as s:
            return await self.limits(s, project_id)

    async def project_quotas(self) -> dict[str, dict[str, int]]:
        """Every project with a quota of its own set: its quotas (None where unset)."""
        async with self.db.read() as s:
            rows = list((await s.execute(select(KmQuota).order_by(KmQuota.project_id)))
                        .scalars())
        out: dict[str, dict[str, int]] = {}
        for r in rows:
            out.setdefault(r.project_id, {})[r.resource] = r.limit
        return out

    async def set_project_quotas(self, project_id: str, values: dict[str, int]) -> None:
        async with self.db.write() as s:
            await s.execute(delete(KmQuota).where(KmQuota.project_id == project_id))
            for resource in QUOTA_RESOURCES:
                if resource in values:
                    s.add(KmQuota(project_id=project_id, resource=resource,
                                  limit=values[resource]))

    async def delete_project_quotas(self, project_id: str) -> None:
        async with self.db.write() as s:
            result = await s.execute(delete(KmQuota).where(KmQuota.project_id == project_id))
            if not getattr(result, "rowcount", 0):
                raise errors.NotFound("Not Found. Sorry but your project quotas are in "
                                      "another castle.")


@dataclass
class Rotation:
    new_key: str
    rewrapped: int
    removed: list[str]


async def rotate_master_key(db: Database, store: MasterKeyStore) -> Rotation:
    """Make a new primary master key and re-wrap every project key under it; payloads are
    not touched. Safe to interrupt at any step: the key file holds the old and the new
    key until no project key is wrapped by the old one, and only then drops it."""
    keyring = crypto.Keyring(store)
    old = keyring.keys(reload=True)
    name = crypto.new_master_name()
    store.save(MasterKeys(old.primary, {**old.keys, name: crypto.new_key()}))
    keys = keyring.keys(reload=True)
    store.save(MasterKeys(name, keys.keys))  # new project keys: under the new one
    keys = keyring.keys(reload=True)
    count = 0
    async with db.write() as s:
        rows = (await s.execute(select(KmProjectKey).where(
            KmProjectKey.master_key_id != name))).scalars()
        for row in rows:
            kek = keyring.unwrap(row.project_id, row.master_key_id, row.wrapped)
            row.wrapped = crypto.wrap_with(name, keys.primary_key, row.project_id, kek)
            row.master_key_id, row.updated_at = name, utcnow()
            count += 1
    async with db.read() as s:
        used = set((await s.execute(select(KmProjectKey.master_key_id).distinct())).scalars())
    removed = sorted(k for k in keys.keys if k != name and k not in used)
    store.save(MasterKeys(name, {k: v for k, v in keys.keys.items() if k not in removed}))
    return Rotation(name, count, removed)


def build(settings: Settings, db: Database, store: MasterKeyStore | None = None
          ) -> KeyManager:
    """The key manager of a deployment: master keys in the configured file (or ``store``)."""
    keyring = crypto.Keyring(store or FileMasterKeyStore(settings.master_key_file),
                             create=False)
    return KeyManager(db, keyring, settings.key_manager.max_secret_bytes)
