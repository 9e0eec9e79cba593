"""Users, groups and passwords, with Keystone's security-compliance rules."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.config import IdentityConfig
from onestack.core.identity import cache
from onestack.core.identity.base import Store, drop_trusts, get_or_404
from onestack.core.identity.passwords import Hasher
from onestack.db.engine import Database
from onestack.db.models import (
    Assignment,
    Domain,
    Group,
    GroupMembership,
    Password,
    RevocationEvent,
    User,
)
from onestack.db.models.base import utcnow
from onestack.db.models.identity import Trust
from onestack.errors import BadRequest, Conflict, NotFound, Unauthorized

BAD_CREDENTIALS = "The request you have made requires authentication."
IGNORE_LOCKOUT = "ignore_lockout_failure_attempts"
IGNORE_EXPIRY = "ignore_password_expiry"
IGNORE_CHANGE = "ignore_change_password_upon_first_use"
USER_OPTIONS = (IGNORE_LOCKOUT, IGNORE_EXPIRY, IGNORE_CHANGE, "lock_password",
                "multi_factor_auth_enabled", "multi_factor_auth_rules",
                "ignore_user_inactivity")


class Users(Store):
    def __init__(self, db: Database, coherence: cache.Coherence, cfg: IdentityConfig,
                 hasher: Hasher) -> None:
        super().__init__(db, coherence)
        self.cfg = cfg
        self.hasher = hasher

    # --- passwords -----------------------------------------------------------------------
    def _check_regex(self, password: str) -> None:
        if self.cfg.password_regex and not re.match(self.cfg.password_regex, password):
            detail = self.cfg.password_regex_description or "it does not meet the requirements"
            raise BadRequest(f"The password does not meet the requirements: {detail}")

    def _expiry(self, user: User, now: dt.datetime) -> dt.datetime | None:
        if self.cfg.password_expires_days and not user.options.get(IGNORE_EXPIRY):
            return now + dt.timedelta(days=self.cfg.password_expires_days)
        return None

    async def _history(self, s: AsyncSession, user_id: str) -> list[Password]:
        rows = await s.execute(
            select(Password).where(Password.user_id == user_id).order_by(Password.id.desc())
        )
        return list(rows.scalars())

    async def _set_password(self, s: AsyncSession, user: User, password: str,
                            self_service: bool) -> None:
        self._check_regex(password)
        history = await self._history(s, user.id)
        count = self.cfg.unique_last_password_count
        if count > 0 and self_service:  # an admin's reset skips the history, as Keystone's
            for old in history[:count]:
                if await self.hasher.check(password, old.password_hash):
                    raise BadRequest(
                        "The new password cannot be identical to a previous password. The "
                        f"total number which includes the new password must be unique is "
                        f"{count}.")
        now = utcnow()
        for old in history:
            if old.expires_at is None or old.expires_at > now:
                old.expires_at = now
        s.add(Password(user_id=user.id, password_hash=await self.hasher.hash(password),
                       created_at=now, expires_at=self._expiry(user, now),
                       self_service=self_service))

    async def current_password(self, user_id: str) -> Password | None:
        async with self.read() as s:
            return (await s.execute(
                select(Password).where(Password.user_id == user_id)
                .order_by(Password.id.desc()).limit(1))).scalar()

    async def passwords_expiry(self, user_ids: list[str]) -> dict[str, dt.datetime | None]:
        out: dict[str, dt.datetime | None] = dict.fromkeys(user_ids)
        if not user_ids:
            return out
        async with self.read() as s:
            rows = await s.execute(
                select(Password.user_id, Password.expires_at, Password.id)
                .where(Password.user_id.in_(user_ids)).order_by(Password.id))
            for uid, expires, _ in rows:
                out[uid] = expires
        return out

    # --- users ---------------------------------------------------------------------------
    async def create_user(self, data: dict[str, Any], default_domain: str) -> User:
        domain_id = data.get("domain_id") or default_domain
        async with self.write() as s:
            if await s.get(Domain, domain_id) is None:
                raise NotFound(f"Could not find domain: {domain_id}.")
            if (await s.execute(select(User.id).where(
                    User.domain_id == domain_id, User.name == data["name"]))).first():
                raise Conflict(f"Conflict occurred attempting to store user - Duplicate entry "
                               f"found with name {data['name']} at domain ID {domain_id}.")
            user = User(
                id=data.get("id") or None, name=data["name"], domain_id=domain_id,
                enabled=data.get("enabled", True),
                default_project_id=data.get("default_project_id"),
                description=data.get("description"), extra=data.get("extra", {}),
                options=data.get("options", {}),
            )
            s.add(user)
            await s.flush()
            if data.get("password") is not None:
                await self._set_password(s, user, data["password"], self_service=False)
        return user

    async def get_user(self, user_id: str) -> User:
        async with self.read() as s:
            return await get_or_404(s, User, user_id, "user")

    async def find_user(self, name: str, domain_id: str) -> User:
        async with self.read() as s:
            user = (await s.execute(select(User).where(
                User.name == name, User.domain_id == domain_id))).scalar()
        if user is None:
            raise NotFound(f"Could not find user: {name}.")
        return user

    async def list_users(self, filters: dict[str, Any]) -> list[User]:
        q = select(User).order_by(User.name)
        for key in ("name", "domain_id", "enabled"):
            if key in filters:
                q = q.where(getattr(User, key) == filters[key])
        if "ids" in filters:
            q = q.where(User.id.in_(filters["ids"]))
        if "group_id" in filters:
            q = q.where(User.id.in_(select(GroupMembership.user_id).where(
                GroupMembership.group_id == filters["group_id"])))
        async with self.read() as s:
            return list((await s.execute(q)).scalars())

    async def update_user(self, user_id: str, data: dict[str, Any]) -> User:
        async with self.write() as s:
            user = await get_or_404(s, User, user_id, "user")
            if "domain_id" in data and data["domain_id"] != user.domain_id:
                raise BadRequest("Update of `domain_id` is not allowed.")
            if "name" in data and data["name"] != user.name and (await s.execute(
                    select(User.id).where(User.domain_id == user.domain_id,
                                          User.name == data["name"]))).first():
                raise Conflict("Conflict occurred attempting to store user - Duplicate entry "
                               f"found with name {data['name']} at domain ID {user.domain_id}.")
            revoke = False
            for key in ("name", "enabled", "default_project_id", "description"):
                if key in data:
                    if key == "enabled" and user.enabled and not data[key]:
                        revoke = True
                    setattr(user, key, data[key])
            if "extra" in data:
                user.extra = {**user.extra, **data["extra"]}
            if "options" in data:
                opts = dict(user.options)
                for k, v in data["options"].items():
                    if v is None:
                        opts.pop(k, None)
                    else:
                        opts[k] = v
                user.options = opts
            if data.get("password") is not None:
                await self._set_password(s, user, data["password"], self_service=False)
                user.failed_auth_count = 0
                revoke = True
            if data.get("enabled") is True:
                user.failed_auth_count = 0
            if revoke:
                s.add(RevocationEvent(user_id=user_id, issued_before=utcnow()))
        return user

    async def delete_user(self, user_id: str) -> None:
        async with self.write() as s:
            user = await get_or_404(s, User, user_id, "user")
            await s.execute(delete(Assignment).where(Assignment.actor_id == user_id))
            await drop_trusts(s, or_(Trust.trustor_user_id == user_id,
                                     Trust.trustee_user_id == user_id))
            await s.delete(user)
            s.add(RevocationEvent(user_id=user_id, issued_before=utcnow()))

    async def change_password(self, user_id: str, original: str, new: str) -> None:
        """Self-service change: checks the old password, minimum age and history. An unknown
        user gets the wrong password's answer, after as long (Keystone: 401 either way)."""
        try:
            user = await self.get_user(user_id)
        except NotFound:
            await self.hasher.check_decoy(original)
            raise Unauthorized(BAD_CREDENTIALS) from None
        await self.check_password(user, original)
        async with self.write() as s:
            user = await get_or_404(s, User, user_id, "user")
            current = (await self._history(s, user_id))[:1]
            age = self.cfg.minimum_password_age
            if age and current and current[0].self_service:
                allowed = current[0].created_at + dt.timedelta(days=age)
                if utcnow() < allowed:
                    raise BadRequest(
                        "You cannot change your password at this time due to the minimum "
                        f"password age. Once you change your password, it must be used for "
                        f"{age} day(s) before it can be changed. Please try again in "
                        f"{(allowed - utcnow()).days} day(s) or contact your administrator "
                        "to reset your password.")
            await self._set_password(s, user, new, self_service=True)
            s.add(RevocationEvent(user_id=user_id, issued_before=utcnow()))

    # --- authentication ------------------------------------------------------------------
    def _locked(self, user: User) -> bool:
        attempts = self.cfg.lockout_failure_attempts
        if not attempts or user.options.get(IGNORE_LOCKOUT):
            return False
        if user.failed_auth_count < attempts or user.failed_auth_at is None:
            return False
        until = user.failed_auth_at + dt.timedelta(seconds=self.cfg.lockout_duration)
        return utcnow() < until

    async def check_password(self, user: User, password: str) -> None:
        """Raise Unauthorized unless the password is the user's current, unexpired one."""
        if self._locked(user):
            raise Unauthorized(f"The account is locked for user: {user.id}.")
        current = await self.current_password(user.id)
        ok = (await self.hasher.check(password, current.password_hash) if current is not None
              else await self.hasher.check_decoy(password))
        if not ok:
            await self._record_failure(user)
            raise Unauthorized(BAD_CREDENTIALS)
        assert current is not None
        if current.expires_at is not None and current.expires_at <= utcnow() and \
                not user.options.get(IGNORE_EXPIRY):
            raise Unauthorized(f"The password is expired and needs to be changed for user: "
                               f"{user.id}.")
        if user.failed_auth_count:
            async with self.db.write() as s:
                await s.execute(update(User).where(User.id == user.id)
                                .values(failed_auth_count=0, failed_auth_at=None))
            user.failed_auth_count = 0

    async def _record_failure(self, user: User) -> None:
        if not self.cfg.lockout_failure_attempts:
            return
        attempts = self.cfg.lockout_failure_attempts
        now = utcnow()
        expired = (user.failed_auth_at is not None and
                   user.failed_auth_at + dt.timedelta(seconds=self.cfg.lockout_duration) < now
                   and user.failed_auth_count >= attempts)
        count = 1 if expired else user.failed_auth_count + 1
        async with self.db.write() as s:
            await s.execute(update(User).where(User.id == user.id)
                            .values(failed_auth_count=count, failed_auth_at=now))
        user.failed_auth_count, user.failed_auth_at = count, now

    # --- groups --------------------------------------------------------------------------
    async def create_group(self, data: dict[str, Any], default_domain: str) -> Group:
        domain_id = data.get("domain_id") or default_domain
        async with self.write() as s:
            if await s.get(Domain, domain_id) is None:
                raise NotFound(f"Could not find domain: {domain_id}.")
            if (await s.execute(select(Group.id).where(
                    Group.domain_id == domain_id, Group.name == data["name"]))).first():
                raise Conflict(f"Conflict occurred attempting to store group - Duplicate entry "
                               f"found with name {data['name']}.")
            group = Group(name=data["name"], domain_id=domain_id,
                          description=data.get("description", ""), extra=data.get("extra", {}))
            s.add(group)
        return group

    async def get_group(self, group_id: str) -> Group:
        async with self.read() as s:
            return await get_or_404(s, Group, group_id, "group")

    async def list_groups(self, filters: dict[str, Any]) -> list[Group]:
        q = select(Group).order_by(Group.name)
        for key in ("name", "domain_id"):
            if key in filters:
                q = q.where(getattr(Group, key) == filters[key])
        if "user_id" in filters:
            q = q.where(Group.id.in_(select(GroupMembership.group_id).where(
                GroupMembership.user_id == filters["user_id"])))
        async with self.read() as s:
            return list((await s.execute(q)).scalars())

    async def update_group(self, group_id: str, data: dict[str, Any]) -> Group:
        async with self.write(f"Duplicate entry found with name {data.get('name')}.") as s:
            group = await get_or_404(s, Group, group_id, "group")
            if "domain_id" in data and data["domain_id"] != group.domain_id:
                raise BadRequest("Update of `domain_id` is not allowed.")
            for key in ("name", "description"):
                if key in data:
                    setattr(group, key, data[key])
            if "extra" in data:
                group.extra = {**group.extra, **data["extra"]}
        return group

    async def delete_group(self, group_id: str) -> None:
        async with self.write() as s:
            group = await get_or_404(s, Group, group_id, "group")
            await s.execute(delete(Assignment).where(Assignment.actor_id == group_id))
            await s.delete(group)

    async def add_member(self, group_id: str, user_id: str) -> None:
        async with self.write() as s:
            await get_or_404(s, Group, group_id, "group")
            await get_or_404(s, User, user_id, "user")
            if await s.get(GroupMembership, (user_id, group_id)) is None:
                s.add(GroupMembership(user_id=user_id, group_id=group_id))

    async def remove_member(self, group_id: str, user_id: str) -> None:
        async with self.write() as s:
            await get_or_404(s, Group, group_id, "group")
            await get_or_404(s, User, user_id, "user")
            row = await s.get(GroupMembership, (user_id, group_id))
            if row is None:
                raise NotFound(f"User {user_id} is not a member of group {group_id}.")
            await s.delete(row)

    async def is_member(self, group_id: str, user_id: str) -> None:
        async with self.read() as s:
            await get_or_404(s, Group, group_id, "group")
            await get_or_404(s, User, user_id, "user")
            if await s.get(GroupMembership, (user_id, group_id)) is None:
                raise NotFound(f"User {user_id} is not a member of group {group_id}.")

    async def group_ids_for_user(self, user_id: str) -> list[str]:
        async with self.read() as s:
            return list((await s.execute(select(GroupMembership.group_id).where(
                GroupMembership.user_id == user_id))).scalars())
