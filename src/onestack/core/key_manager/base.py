"""What the key manager core shares: transactions, project keys (created on first need,
wrapped by the master key), ACL users, quotas and the visibility of expired secrets."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.key_manager import crypto, errors
from onestack.core.key_manager.rules import DEFAULT_QUOTA, QUOTA_RESOURCES
from onestack.db.engine import Database
from onestack.db.locks import quota_lock
from onestack.db.models.base import utcnow
from onestack.db.models.key_manager import (
    KmAclUser,
    KmConsumer,
    KmContainer,
    KmOrder,
    KmProjectKey,
    KmQuota,
    KmSecret,
)

COUNTED: dict[str, Any] = {"secrets": KmSecret, "orders": KmOrder,
                           "containers": KmContainer, "consumers": KmConsumer}


@dataclass
class Acl:
    """A secret's or container's read ACL as the API shows it."""

    project_access: bool = True
    users: list[str] = field(default_factory=list)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


@dataclass
class Store:
    db: Database
    keyring: crypto.Keyring
    max_secret_bytes: int = 20000

    # --- project keys ----------------------------------------------------------------------
    async def project_key(self, s: AsyncSession, project_id: str) -> bytes:
        """The project's key in clear (in memory only), created on first need."""
        row = await s.get(KmProjectKey, project_id)
        if row is None:
            kek = crypto.new_key()
            master, wrapped = self.keyring.wrap(project_id, kek)
            try:
                async with s.begin_nested():
                    s.add(KmProjectKey(project_id=project_id, master_key_id=master,
                                       wrapped=wrapped))
                return kek
            except IntegrityError:  # another process made it first: use theirs
                row = await s.get(KmProjectKey, project_id)
                if row is None:
                    raise
        return self.keyring.unwrap(project_id, row.master_key_id, row.wrapped)

    # --- ACLs ------------------------------------------------------------------------------
    @staticmethod
    async def acl_users(s: AsyncSession, kind: str, resource_id: str) -> list[str]:
        q = select(KmAclUser.user_id).where(KmAclUser.kind == kind,
                                            KmAclUser.resource_id == resource_id)
        return sorted((await s.execute(q)).scalars())

    @staticmethod
    async def drop_acl(s: AsyncSession, kind: str, resource_id: str) -> None:
        await s.execute(delete(KmAclUser).where(KmAclUser.kind == kind,
                                                KmAclUser.resource_id == resource_id))

    # --- quotas ----------------------------------------------------------------------------
    @staticmethod
    async def limits(s: AsyncSession, project_id: str) -> dict[str, int]:
        rows = (await s.execute(select(KmQuota).where(KmQuota.project_id == project_id))
                ).scalars()
        out = dict.fromkeys(QUOTA_RESOURCES, DEFAULT_QUOTA)
        out.update({r.resource: r.limit for r in rows})
        return out

    async def check_quota(self, s: AsyncSession, project_id: str, resource: str,
                          adding: int = 1) -> None:
        limit = (await self.limits(s, project_id))[resource]
        if limit < 0:
            return
        await quota_lock(s, "key_manager", project_id)
        model = COUNTED[resource]
        used = await s.scalar(select(func.count()).select_from(model).where(
            model.project_id == project_id))
        if (used or 0) + adding > limit:
            raise errors.quota_reached(resource, limit)


def live(q: Any) -> Any:
    """Only secrets that have not expired (Barbican hides expired ones everywhere)."""
    now = utcnow()
    return q.where((KmSecret.expiration.is_(None)) | (KmSecret.expiration > now))
