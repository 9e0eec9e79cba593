"""Application credentials and stored credentials (EC2 keys for the S3 API)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.identity import cache
from onestack.core.identity.base import Store, get_or_404
from onestack.core.identity.keys import KeyRepository
from onestack.core.identity.passwords import Hasher
from onestack.db.engine import Database
from onestack.db.models import (
    AppCredRole,
    ApplicationCredential,
    Credential,
    Project,
    RevocationEvent,
    User,
)
from onestack.db.models.base import new_id, utcnow
from onestack.db.models.identity_admin import AccessRule
from onestack.errors import BadRequest, Conflict, Forbidden, NotFound


def new_secret() -> str:
    return base64.urlsafe_b64encode(os.urandom(64)).decode().rstrip("=")


def ec2_credential_id(access: str) -> str:
    return hashlib.sha256(access.encode()).hexdigest()


def access_rule_ref(rule: AccessRule) -> dict[str, str]:
    return {"id": rule.id, "service": rule.service, "method": rule.method, "path": rule.path}


class Credentials(Store):
    def __init__(self, db: Database, coherence: cache.Coherence, hasher: Hasher,
                 keys: KeyRepository) -> None:
        super().__init__(db, coherence)
        self.hasher = hasher
        self.keys = keys

    # --- application credentials ---------------------------------------------------------
    async def create_app_cred(self, user_id: str, project_id: str, data: dict[str, Any],
                              role_ids: list[str]) -> tuple[ApplicationCredential, str]:
        secret = data.get("secret") or new_secret()
        expires = data.get("expires_at")
        if expires is not None and expires <= utcnow():
            raise BadRequest("The expiration time of an application credential must be in "
                             "the future.")
        hashed = await self.hasher.hash(secret)
        async with self.write() as s:
            if (await s.execute(select(ApplicationCredential.id).where(
                    ApplicationCredential.user_id == user_id,
                    ApplicationCredential.name == data["name"]))).first():
                raise Conflict("Conflict occurred attempting to store application_credential "
                               f"- Duplicate entry found with name {data['name']}.")
            cred = ApplicationCredential(
                id=new_id(), name=data["name"], description=data.get("description"),
                secret_hash=hashed, user_id=user_id, project_id=project_id,
                expires_at=expires, unrestricted=bool(data.get("unrestricted", False)),
                access_rules=await self._resolve_rules(s, user_id,
                                                       data.get("access_rules") or []),
            )
            s.add(cred)
            await s.flush()
            for rid in role_ids:
                s.add(AppCredRole(application_credential_id=cred.id, role_id=rid))
        return cred, secret

    # --- access rules (a credential keeps a copy of its rules: tokens check them) -----
    @staticmethod
    async def _resolve_rules(s: AsyncSession, user_id: str, wanted: list[dict[str, Any]]
                             ) -> list[dict[str, str]]:
        """The rules a new credential asks for, as the user's stored rules: one named by id
        must be the user's; (service, method, path) reuses the same rule or makes it."""
        out: list[dict[str, str]] = []
        for i, spec in enumerate(wanted):
            missing = [k for k in ("service", "method", "path") if k not in spec]
            if missing and "id" not in spec:
                raise BadRequest(f"Invalid input for field 'application_credential.access_rules"
                                 f".{i}.{missing[0]}': an access rule names its id, or its "
                                 "service, method and path.")
            if spec.get("id"):
                rule = await s.get(AccessRule, spec["id"])
                if rule is None or rule.user_id != user_id:
                    raise NotFound(f"Could not find access rule: {spec['id']}.")
            else:
                rule = (await s.execute(select(AccessRule).where(
                    AccessRule.user_id == user_id, AccessRule.service == spec["service"],
                    AccessRule.method == spec["method"],
                    AccessRule.path == spec["path"]))).scalar()
                if rule is None:
                    rule = AccessRule(id=new_id(), user_id=user_id, service=spec["service"],
                                      method=spec["method"], path=spec["path"])
                    s.add(rule)
                    await s.flush()
            entry = access_rule_ref(rule)
            if entry not in out:
                out.append(entry)
        return out

    async def list_access_rules(self, user_id: str, filters: dict[str, str]
                                ) -> list[AccessRule]:
        q = select(AccessRule).where(AccessRule.user_id == user_id)
        for key in ("service", "method", "path"):
            if key in filters:
                q = q.where(getattr(AccessRule, key) == filters[key])
        async with self.read() as s:
            return list((await s.execute(q.order_by(AccessRule.id))).scalars())

    async def get_access_rule(self, user_id: str, rule_id: str) -> AccessRule:
        async with self.read() as s:
            rule = await s.get(AccessRule, rule_id)
        if rule is None or rule.user_id != user_id:
            raise NotFound(f"Could not find access rule: {rule_id}.")
        return rule

    async def delete_access_rule(self, user_id: str, rule_id: str) -> None:
        async with self.write() as s:
            rule = await s.get(AccessRule, rule_id)
            if rule is None or rule.user_id != user_id:
                raise NotFound(f"Could not find access rule: {rule_id}.")
            for cred in (await s.execute(select(ApplicationCredential).where(
                    ApplicationCredential.user_id == user_id))).scalars():
                if any(r.get("id") == rule_id for r in cred.access_rules):
                    raise Forbidden(f"Access rule {rule_id} is in use by application "
                                    f"credential {cred.id}: delete the credential first.")
            await s.delete(rule)

    async def get_app_cred(self, cred_id: str, user_id: str | None = None
                           ) -> ApplicationCredential:
        async with self.read() as s:
            cred = await get_or_404(s, ApplicationCredential, cred_id, "application credential")
        if user_id is not None and cred.user_id != user_id:
            raise NotFound(f"Could not find application credential: {cred_id}.")
        return cred

    async def find_app_cred(self, user_id: str, name: str) -> ApplicationCredential:
        async with self.read() as s:
            cred = (await s.execute(select(ApplicationCredential).where(
                ApplicationCredential.user_id == user_id,
                ApplicationCredential.name == name))).scalar()
        if cred is None:
            raise NotFound(f"Could not find application credential: {name}.")
        return cred

    async def list_app_creds(self, user_id: str, name: str | None = None
                             ) -> list[ApplicationCredential]:
        q = select(ApplicationCredential).where(ApplicationCredential.user_id == user_id)
        if name is not None:
            q = q.where(ApplicationCredential.name == name)
        async with self.read() as s:
            return list((await s.execute(q.order_by(ApplicationCredential.name))).scalars())

    async def app_cred_roles(self, cred_ids: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {cid: [] for cid in cred_ids}
        async with self.read() as s:
            for cid, rid in await s.execute(select(
                    AppCredRole.application_credential_id, AppCredRole.role_id).where(
                    AppCredRole.application_credential_id.in_(cred_ids))):
                out[cid].append(rid)
        return out

    async def delete_app_cred(self, user_id: str, cred_id: str) -> None:
        async with self.write() as s:
            cred = await get_or_404(s, ApplicationCredential, cred_id, "application credential")
            if cred.user_id != user_id:
                raise NotFound(f"Could not find application credential: {cred_id}.")
            await s.delete(cred)
            s.add(RevocationEvent(application_credential_id=cred_id, issued_before=utcnow()))

    async def check_app_cred_secret(self, cred: ApplicationCredential, secret: str) -> bool:
        return await self.hasher.check(secret, cred.secret_hash)

    # --- stored credentials --------------------------------------------------------------
    def _encrypt(self, blob: str) -> str:
        return self.keys.fernet().encrypt(blob.encode()).decode()

    def decrypt(self, cred: Credential) -> str:
        return self.keys.fernet().decrypt(cred.encrypted_blob.encode()).decode()

    async def create_credential(self, data: dict[str, Any]) -> Credential:
        blob = data["blob"]
        cred_id = data.get("id")
        if data["type"] == "ec2":
            try:
                parsed = json.loads(blob)
                access = parsed["access"]
                if not isinstance(access, str) or not access:
                    raise ValueError
            except (ValueError, KeyError, TypeError) as exc:
                raise BadRequest("An ec2 credential's blob must be a JSON object with an "
                                 "'access' key (and a 'secret').") from exc
            if not data.get("project_id"):
                raise BadRequest("An ec2 credential needs a project_id.")
            cred_id = ec2_credential_id(access)
        async with self.write() as s:
            await get_or_404(s, User, data["user_id"], "user")
            if data.get("project_id"):
                await get_or_404(s, Project, data["project_id"], "project")
            cred_id = cred_id or new_id()
            if await s.get(Credential, cred_id) is not None:
                raise Conflict(f"Duplicate ID, {cred_id}.")
            cred = Credential(id=cred_id, user_id=data["user_id"],
                              project_id=data.get("project_id"), type=data["type"],
                              encrypted_blob=self._encrypt(blob), extra=data.get("extra", {}))
            s.add(cred)
        return cred

    async def get_credential(self, cred_id: str) -> Credential:
        async with self.read() as s:
            return await get_or_404(s, Credential, cred_id, "credential")

    async def list_credentials(self, filters: dict[str, Any]) -> list[Credential]:
        q = select(Credential).order_by(Credential.id)
        for key in ("user_id", "type", "project_id"):
            if key in filters:
                q = q.where(getattr(Credential, key) == filters[key])
        async with self.read() as s:
            return list((await s.execute(q)).scalars())

    async def update_credential(self, cred_id: str, data: dict[str, Any]) -> Credential:
        async with self.write() as s:
            cred = await get_or_404(s, Credential, cred_id, "credential")
            if data.get("user_id", cred.user_id) != cred.user_id:
                await get_or_404(s, User, data["user_id"], "user")
            if data.get("project_id"):
                await get_or_404(s, Project, data["project_id"], "project")
            if (data.get("type", cred.type) == "ec2"
                    and not data.get("project_id", cred.project_id)):
                raise BadRequest("An ec2 credential needs a project_id.")
            if "blob" in data:
                cred.encrypted_blob = self._encrypt(data["blob"])
            for key in ("type", "project_id", "user_id"):
                if key in data:
                    setattr(cred, key, data[key])
        return cred

    async def delete_credential(self, cred_id: str) -> None:
        async with self.write() as s:
            await s.delete(await get_or_404(s, Credential, cred_id, "credential"))

    @staticmethod
    def expired(expires_at: dt.datetime | None) -> bool:
        return expires_at is not None and expires_at <= utcnow()
