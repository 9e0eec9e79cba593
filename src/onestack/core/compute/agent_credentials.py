"""Per-host credentials of the compute agents on the internal agent API.

``create`` makes a random secret for a host (replacing any it had) and keeps only its
SHA-256; ``host_for`` answers which host a presented secret belongs to. The secret is 32
random bytes (256 bits), so a plain hash is as strong as a slow one would be, and checking
it costs one indexed read.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import delete, select

from onestack.core.compute.base import Store
from onestack.db.models.base import utcnow
from onestack.db.models.compute import AgentCredential
from onestack.errors import BadRequest

HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
PREFIX = "osagent-"  # makes a leaked secret easy to recognise (and grep for)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


class AgentCredentials(Store):
    async def create(self, host: str) -> str:
        """A new secret for ``host`` (its previous one stops working)."""
        if not HOST_NAME.fullmatch(host):
            raise BadRequest("A host name is 1 to 255 letters, digits, dots, dashes and "
                             "underscores, starting with a letter or digit.")
        secret = new_secret()
        async with self.write() as s:
            await s.execute(delete(AgentCredential).where(AgentCredential.host == host))
            s.add(AgentCredential(host=host, secret_hash=hash_secret(secret),
                                  created_at=utcnow()))
        return secret

    async def revoke(self, host: str) -> bool:
        async with self.write() as s:
            result = await s.execute(delete(AgentCredential).where(
                AgentCredential.host == host))
            return bool(getattr(result, "rowcount", 0))

    async def host_for(self, secret: str) -> str | None:
        """The host the secret belongs to; None for an unknown one."""
        if not secret.startswith(PREFIX) or len(secret) > 200:
            return None
        async with self.db.read() as s:
            host: str | None = await s.scalar(select(AgentCredential.host).where(
                AgentCredential.secret_hash == hash_secret(secret)))
        return host
