"""OS-TRUST: a trustor delegates some of its roles on a project to a trustee.

The rules are Keystone's (keystone/trust/core.py): a trust names its roles (the trustor must
hold them on the project), may let the trustee impersonate the trustor, may expire, may be
used for a number of tokens (``remaining_uses``) or be redelegated down a chain at most
``MAX_REDELEGATION_COUNT`` long (then never with ``remaining_uses``, never for longer, never
for more roles). A trust-scoped token carries the trust's roles (implied ones included) as
long as the original trustor still holds every one of them; deleting a trust deletes the
trusts redelegated from it, and the tokens of all of them stop validating.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from onestack.core.identity.base import Store, drop_trusts
from onestack.core.identity.cache import Coherence
from onestack.core.identity.resources import Resources
from onestack.core.identity.roles import Roles
from onestack.core.identity.users import Users
from onestack.db.engine import Database
from onestack.db.models.base import new_id, utcnow
from onestack.db.models.identity import Trust, TrustRole
from onestack.errors import BadRequest, Forbidden, NotFound

MAX_REDELEGATION_COUNT = 3  # Keystone's [trust] max_redelegation_count default


@dataclass
class TrustRef:
    """A trust and the ids of the roles it delegates (as stored, implied ones not added)."""

    trust: Trust
    role_ids: list[str]


class Trusts(Store):
    def __init__(self, db: Database, coherence: Coherence, users: Users, resources: Resources,
                 roles: Roles) -> None:
        super().__init__(db, coherence)
        self.users = users
        self.resources = resources
        self.roles = roles

    # --- reading -------------------------------------------------------------------------
    async def get(self, trust_id: str, usable: bool = True) -> TrustRef:
        """The trust, or 404 when it is gone, expired or (``usable``) has no use left."""
        async with self.read() as s:
            trust = await s.get(Trust, trust_id)
            if trust is None or (trust.expires_at is not None and trust.expires_at <= utcnow()) \
                    or (usable and trust.remaining_uses is not None
                        and trust.remaining_uses <= 0):
                raise NotFound(f"Could not find trust: {trust_id}.")
            role_ids = list((await s.execute(select(TrustRole.role_id).where(
                TrustRole.trust_id == trust_id).order_by(TrustRole.role_id))).scalars())
        return TrustRef(trust, role_ids)

    async def list_trusts(self, trustor_user_id: str | None = None,
                   trustee_user_id: str | None = None) -> list[Trust]:
        q = select(Trust).order_by(Trust.created_at, Trust.id)
        if trustor_user_id is not None:
            q = q.where(Trust.trustor_user_id == trustor_user_id)
        if trustee_user_id is not None:
            q = q.where(Trust.trustee_user_id == trustee_user_id)
        async with self.read() as s:
            return list((await s.execute(q)).scalars())

    async def chain(self, ref: TrustRef) -> list[TrustRef]:
        """The trust, then the trust it was redelegated from, up to the original one."""
        out = [ref]
        while out[-1].trust.redelegated_trust_id:
            if len(out) > MAX_REDELEGATION_COUNT + 1:
                raise Forbidden("The trust's redelegation chain is longer than allowed.")
            out.append(await self.get(out[-1].trust.redelegated_trust_id, usable=False))
        return out

    # --- creating ------------------------------------------------------------------------
    async def create(self, data: dict[str, Any], parent: TrustRef | None) -> TrustRef:
        """A new trust from a validated body whose trustor is the caller; ``parent`` is the
        trust of the caller's token (a redelegation)."""
        await self.users.get_user(data["trustee_user_id"])
        project_id = data.get("project_id") or None
        if project_id is not None:
            await self.resources.get_project(project_id)
        if project_id and not data.get("roles"):
            raise Forbidden("You are not authorized to perform the requested action: At "
                            "least one role should be specified.")
        role_ids = await self._role_ids(data.get("roles") or [])
        expires: dt.datetime | None = data.get("expires_at")
        if expires is not None and expires <= utcnow():
            raise BadRequest("Invalid input for field 'expires_at': the expiration time must "
                             "be later than now.")
        remaining = data.get("remaining_uses")
        wanted_count = data.get("redelegation_count")
        redelegatable = bool(data.get("allow_redelegation")) and wanted_count != 0
        if not redelegatable:
            count = 0
        else:
            if wanted_count is not None and wanted_count > MAX_REDELEGATION_COUNT:
                raise Forbidden(f"Requested redelegation depth of {wanted_count} is greater "
                                f"than allowed {MAX_REDELEGATION_COUNT}.")
            if remaining is not None:
                raise BadRequest("Invalid input for field 'remaining_uses': it must not be set "
                                 "if redelegation is allowed.")
            count = wanted_count if wanted_count is not None else MAX_REDELEGATION_COUNT
        origin = project_id, data["trustor_user_id"]
        if parent is not None:
            count, expires = await self._check_redelegation(parent, project_id, role_ids,
                                                            expires, remaining,
                                                            wanted_count if redelegatable
                                                            else None, redelegatable)
            root = (await self.chain(parent))[-1].trust
            origin = root.project_id, root.trustor_user_id
        if origin[0] is not None:
            held = await self.roles.effective_role_ids(origin[1], "project", origin[0])
            for rid in role_ids:
                if rid not in held:
                    raise NotFound(f"Could not find role: {rid}.")
        trust = Trust(id=new_id(), trustor_user_id=data["trustor_user_id"],
                      trustee_user_id=data["trustee_user_id"], project_id=project_id,
                      impersonation=bool(data["impersonation"]), expires_at=expires,
                      remaining_uses=remaining,
                      redelegated_trust_id=parent.trust.id if parent else None,
                      redelegation_count=count, extra=data.get("extra") or {})
        async with self.write() as s:
            s.add(trust)
            await s.flush()
            for rid in role_ids:
                s.add(TrustRole(trust_id=trust.id, role_id=rid))
        return TrustRef(trust, sorted(role_ids))

    async def _role_ids(self, refs: list[dict[str, Any]]) -> list[str]:
        out: list[str] = []
        for ref in refs:
            if ref.get("id"):
                rid = str(ref["id"])
                if not await self.roles.roles_by_id([rid]):
                    # the openstack CLI sends a name it could not look up as an id
                    rid = (await self.roles.find_role(rid)).id
            else:
                rid = (await self.roles.find_role(str(ref["name"]))).id
            if rid not in out:
                out.append(rid)
        return out

    async def _check_redelegation(self, parent: TrustRef, project_id: str | None,
                                  role_ids: list[str], expires: dt.datetime | None,
                                  remaining: int | None, wanted: int | None,
                                  redelegatable: bool) -> tuple[int, dt.datetime | None]:
        """Keystone's limits on a trust made from a trust-scoped token: (its redelegation
        count, its expiry)."""
        left = parent.trust.redelegation_count - 1
        if redelegatable and wanted and wanted != left:
            raise Forbidden('Modifying "redelegation_count" upon redelegation is forbidden. '
                            "Omitting this parameter is advised.")
        count = left if redelegatable else 0
        if project_id != parent.trust.project_id:
            raise Forbidden("A redelegated trust must be for the project of the trust it "
                            "comes from.")
        if remaining is not None:
            raise Forbidden(f'Field "remaining_uses" is set to {remaining} while it must not '
                            "be set in order to redelegate a trust.")
        for link in await self.chain(parent):
            t = link.trust
            if not 0 < t.redelegation_count <= MAX_REDELEGATION_COUNT:
                raise Forbidden(f"Remaining redelegation depth of {t.redelegation_count} out "
                                f"of allowed range of [0..{MAX_REDELEGATION_COUNT}].")
            if expires is None:
                expires = t.expires_at
            elif t.expires_at is not None and t.expires_at < expires:
                raise Forbidden("Requested expiration time is more than redelegated trust can "
                                "provide.")
            if not set(role_ids) <= set(link.role_ids):
                raise Forbidden("Some of requested roles are not in redelegated trust.")
        return count, expires

    # --- using and removing --------------------------------------------------------------
    async def consume(self, trust: Trust) -> None:
        """One use of a limited trust (atomic: two concurrent issues never share a use)."""
        if trust.remaining_uses is None:
            return
        async with self.db.write() as s:
            result = await s.execute(update(Trust).where(
                Trust.id == trust.id, Trust.remaining_uses > 0).values(
                remaining_uses=Trust.remaining_uses - 1))
            if getattr(result, "rowcount", 0) != 1:
                raise NotFound(f"Could not find trust: {trust.id}.")

    async def token_role_ids(self, ref: TrustRef) -> set[str]:
        """The roles a token of this trust carries: the delegated ones and the roles they
        imply, all still held by the original trustor (403 otherwise, as Keystone)."""
        chain = await self.chain(ref)
        for link in chain[1:]:
            trustee = await self.users.get_user(link.trust.trustee_user_id)
            if not trustee.enabled:
                raise Forbidden("One of the trust agents is disabled or deleted.")
        root = chain[-1].trust
        if root.project_id is None:
            return set()
        delegated = await self.roles.expand(set(ref.role_ids))
        held = await self.roles.effective_role_ids(root.trustor_user_id, "project",
                                                   root.project_id)
        if not delegated or not delegated <= held:
            raise Forbidden("Trustee has no delegated roles.")
        return delegated

    async def delete(self, trust_id: str) -> None:
        """The trust and, recursively, every trust redelegated from it."""
        async with self.write() as s:
            if await s.get(Trust, trust_id) is None:
                raise NotFound(f"Could not find trust: {trust_id}.")
            await drop_trusts(s, Trust.id == trust_id)
