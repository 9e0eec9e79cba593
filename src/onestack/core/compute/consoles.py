"""Remote consoles: one-time, expiring tokens that open one guest's console.

A token is 32 random bytes (URL-safe text) given to the caller once; the database keeps only
its SHA-256, so every API process checks the same tokens and a database dump opens nothing.
A token is spent by the single UPDATE that marks it used (two proxies cannot both honour
it), expires after ``TTL`` seconds, and opens only the instance and protocol it was made for.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select, update

from onestack.core.compute import states
from onestack.core.compute.base import Caller
from onestack.core.compute.servers import Servers
from onestack.db.models.base import utcnow
from onestack.db.models.compute import Instance
from onestack.db.models.console import ConsoleToken
from onestack.errors import BadRequest, Conflict, NotFound, Unauthorized

TTL = 600  # seconds a console token may wait for its first (and only) use
# Nova's protocols and the one console type each serves here; the others Nova knows
# (spice, mks, rdp; xvpvnc) are unavailable, as on a Nova without those proxies.
TYPES = {"vnc": "novnc", "serial": "serial"}
UNAVAILABLE = ("spice", "mks", "rdp")
REFUSED = "The console token is unknown, already used or expired: ask for a new console URL."


@dataclass(frozen=True)
class ConsoleGrant:
    """What a redeemed (or shown) token opens."""

    instance_uuid: str
    project_id: str
    protocol: str
    console_type: str
    host: str | None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def check_type(protocol: str, console_type: str) -> None:
    """Nova's answers for a protocol and type the schema let through: unavailable ones and
    pairs that do not belong together are 400."""
    if protocol in UNAVAILABLE:
        raise BadRequest(f"Unavailable console type {console_type}.")
    if TYPES.get(protocol) != console_type:
        raise BadRequest(f"Invalid console type {console_type}")


class ConsoleTokens:
    def __init__(self, servers: Servers, ttl: float | None = None) -> None:
        self.servers = servers
        self.db = servers.db
        self.ttl = TTL if ttl is None else ttl

    async def issue(self, caller: Caller, uuid: str, protocol: str, console_type: str) -> str:
        """A new token for the caller's instance ``uuid`` (404 if not theirs, 400 for a type
        it has not, 409 unless it runs on a host); the only time the token is seen."""
        async with self.db.read() as s:
            inst = await self.servers.instance(s, caller, uuid)
        check_type(protocol, console_type)
        if inst.host is None or inst.vm_state != states.ACTIVE:
            raise Conflict(f"Instance {uuid} is not ready")
        token = secrets.token_urlsafe(32)
        now = utcnow()
        async with self.db.write() as s:
            # tokens past their time are of no use to anyone: gone at the next issue
            await s.execute(delete(ConsoleToken).where(
                ConsoleToken.expires_at < now - dt.timedelta(seconds=self.ttl)))
            s.add(ConsoleToken(token_hash=token_hash(token), instance_uuid=uuid,
                               project_id=inst.project_id, user_id=caller.user_id,
                               protocol=protocol, console_type=console_type, host=inst.host,
                               created_at=now,
                               expires_at=now + dt.timedelta(seconds=self.ttl)))
        return token

    async def redeem(self, token: str, protocol: str,
                     instance_uuid: str | None = None) -> ConsoleGrant:
        """Spend ``token`` on a ``protocol`` console (of ``instance_uuid`` when the client
        names one); Unauthorized when unknown, used, expired, or made for another console.
        The grant names the host the instance is on now."""
        now = utcnow()
        digest = token_hash(token)
        async with self.db.write() as s:
            spent = await s.execute(
                update(ConsoleToken)
                .where(ConsoleToken.token_hash == digest, ConsoleToken.used_at.is_(None),
                       ConsoleToken.expires_at > now)
                .values(used_at=now))
            if getattr(spent, "rowcount", 0) != 1:
                raise Unauthorized(REFUSED)
            row = await s.scalar(select(ConsoleToken).where(ConsoleToken.token_hash == digest))
            assert row is not None
            if row.protocol != protocol:
                raise Unauthorized(f"The console token is for a {row.protocol} console, not "
                                   f"a {protocol} one.")
            if instance_uuid is not None and row.instance_uuid != instance_uuid:
                raise Unauthorized("The console token is for another instance.")
            inst = await s.scalar(select(Instance).where(Instance.uuid == row.instance_uuid))
        if inst is None or inst.deleted or inst.host is None:
            raise Conflict(f"Instance {row.instance_uuid} is gone or on no host.")
        return ConsoleGrant(row.instance_uuid, row.project_id, row.protocol,
                            row.console_type, inst.host)

    async def show(self, token: str) -> ConsoleGrant:
        """What a live (unused, unexpired) token opens, without spending it (admins)."""
        async with self.db.read() as s:
            row = await s.scalar(select(ConsoleToken).where(
                ConsoleToken.token_hash == token_hash(token), ConsoleToken.used_at.is_(None),
                ConsoleToken.expires_at > utcnow()))
        if row is None:
            raise NotFound("Token not found")
        return ConsoleGrant(row.instance_uuid, row.project_id, row.protocol,
                            row.console_type, row.host)
