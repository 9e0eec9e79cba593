"""Who signed an S3 request: the EC2 credential (Keystone's OS-EC2 / ``ec2`` credentials)
whose access key the signature names, checked with its secret, and the user, project and
roles behind it. The result is cached until any identity write (the identity revision)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from onestack.core.identity.credentials import ec2_credential_id
from onestack.core.object_store.acl import Caller
from onestack.core.object_store.base import RESELLER_PREFIX
from onestack.core.object_store.s3 import sigv4
from onestack.core.object_store.s3.errors import InvalidAccessKeyId
from onestack.core.object_store.s3.sigv4 import Signature, SignedRequest
from onestack.errors import NotFound

if TYPE_CHECKING:
    from onestack.core.identity.service import Identity

@dataclass(frozen=True)
class Principal:
    """The owner of an EC2 key, as the object store sees a request signed with it."""

    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: tuple[str, ...]
    secret: str

    @property
    def account(self) -> str:
        return RESELLER_PREFIX + self.project_id

    def caller(self) -> Caller:
        return Caller(user_id=self.user_id, user_name=self.user_name,
                      project_id=self.project_id, project_name=self.project_name,
                      roles=list(self.roles),
                      reseller=any(r.lower() == "reselleradmin" for r in self.roles))


class S3Auth:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self._cache: dict[str, tuple[int, Principal | None]] = {}

    async def principal(self, access: str) -> Principal:
        """The key's owner; InvalidAccessKeyId when the key, its user or project is gone
        or disabled, or the user holds no role on the project any more."""
        generation = await self.identity.coherence.refresh()
        hit = self._cache.get(access)
        if hit is not None and hit[0] == generation:
            found = hit[1]
        else:
            found = await self._load(access)
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[access] = (generation, found)
        if found is None:
            raise InvalidAccessKeyId()
        return found

    async def _load(self, access: str) -> Principal | None:
        ident = self.identity
        try:
            cred = await ident.credentials.get_credential(ec2_credential_id(access))
            if cred.type != "ec2" or not cred.project_id:
                return None
            try:
                blob = json.loads(ident.credentials.decrypt(cred))
            except Exception:  # an undecryptable or malformed blob: no usable key
                return None
            secret = blob.get("secret")
            if blob.get("access") != access or not isinstance(secret, str):
                return None
            user = await ident.users.get_user(cred.user_id)
            project = await ident.resources.get_project(cred.project_id)
            user_domain = await ident.resources.get_domain(user.domain_id)
            project_domain = await ident.resources.get_domain(project.domain_id)
        except (NotFound, ValueError):
            return None
        if not (user.enabled and project.enabled and user_domain.enabled
                and project_domain.enabled):
            return None
        role_ids = await ident.roles.effective_role_ids(user.id, "project", project.id)
        if not role_ids:
            return None
        roles = await ident.roles.roles_by_id(role_ids)
        return Principal(user.id, user.name, project.id, project.name,
                         tuple(sorted(r.name for r in roles.values())), secret)

    async def authenticate(self, req: SignedRequest) -> tuple[Principal, Signature] | None:
        """(principal, signature) of a signed request; None for an anonymous one."""
        sig = sigv4.parse(req)
        if sig is None:
            return None
        principal = await self.principal(sig.access)
        sigv4.verify(req, sig, principal.secret)
        return principal, sig
