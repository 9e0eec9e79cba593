"""Key pairs, per user: generated (RSA with the cryptography package) or imported; ssh and
x509 types, with Nova's fingerprints (MD5 of the ssh key, SHA-1 of the certificate)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from onestack.core.compute.base import Store
from onestack.db.locks import quota_lock
from onestack.db.models.base import utcnow
from onestack.db.models.compute import KeyPair
from onestack.errors import BadRequest, Conflict, Forbidden, NotFound

TYPES = ("ssh", "x509")


@dataclass
class Generated:
    keypair: KeyPair
    private_key: str | None = None


def _colon_hex(digest: bytes) -> str:
    return ":".join(f"{b:02x}" for b in digest)


def ssh_fingerprint(public_key: str) -> str:
    """Nova's fingerprint of an OpenSSH public key; 400 when it is not one."""
    try:
        serialization.load_ssh_public_key(public_key.strip().encode())
        body = base64.b64decode(public_key.strip().split()[1])
    except (ValueError, IndexError, UnicodeEncodeError) as exc:
        raise BadRequest("Keypair data is invalid: failed to generate fingerprint") from exc
    return _colon_hex(hashlib.md5(body, usedforsecurity=False).digest())


def x509_fingerprint(pem: str) -> str:
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except (ValueError, UnicodeEncodeError) as exc:
        raise BadRequest("Keypair data is invalid: failed to generate fingerprint") from exc
    return _colon_hex(cert.fingerprint(hashes.SHA1()))


def _generate(kind: str, user_id: str) -> tuple[str, str, str]:
    """(private key PEM, public key, fingerprint)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    if kind == "ssh":
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode()
        public += " Generated-by-Onestack"
        return private, public, ssh_fingerprint(public)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user_id or "onestack")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return private, pem, x509_fingerprint(pem)


class KeyPairs(Store):
    async def count(self, user_id: str) -> int:
        async with self.db.read() as s:
            n = await s.scalar(select(func.count()).select_from(KeyPair).where(
                KeyPair.user_id == user_id))
            return int(n or 0)

    async def create(self, user_id: str, name: str, kind: str, public_key: str | None,
                     limit: int) -> Generated:
        private = None
        if public_key is None:
            private, public_key, fingerprint = await asyncio.to_thread(_generate, kind, user_id)
        elif kind == "x509":
            fingerprint = x509_fingerprint(public_key)
        else:
            fingerprint = ssh_fingerprint(public_key)
        row = KeyPair(user_id=user_id, name=name, type=kind, public_key=public_key,
                      fingerprint=fingerprint, created_at=utcnow())
        conflict = f"Key pair '{name}' already exists."
        async with self.write(conflict) as s:
            await quota_lock(s, "key_pairs", user_id)  # key pair quotas count per user
            existing = await s.scalar(select(KeyPair.id).where(KeyPair.user_id == user_id,
                                                               KeyPair.name == name))
            if existing is not None:
                raise Conflict(conflict)
            used = await s.scalar(select(func.count()).select_from(KeyPair).where(
                KeyPair.user_id == user_id))
            if limit >= 0 and int(used or 0) + 1 > limit:
                raise Forbidden("Quota exceeded, too many key pairs.")
            s.add(row)
        return Generated(row, private)

    async def listing(self, user_id: str, limit: int | None = None,
                      marker: str | None = None) -> list[KeyPair]:
        q = select(KeyPair).where(KeyPair.user_id == user_id).order_by(KeyPair.name)
        async with self.db.read() as s:
            if marker is not None:
                if await s.scalar(select(KeyPair.id).where(KeyPair.user_id == user_id,
                                                           KeyPair.name == marker)) is None:
                    raise BadRequest(f"Marker {marker} could not be found.")
                q = q.where(KeyPair.name > marker)
            if limit is not None:
                q = q.limit(limit)
            return list((await s.execute(q)).scalars())

    async def get(self, user_id: str, name: str) -> KeyPair:
        async with self.db.read() as s:
            row = await s.scalar(select(KeyPair).where(KeyPair.user_id == user_id,
                                                       KeyPair.name == name))
            if row is None:
                raise NotFound(f"Keypair {name} not found for user {user_id}")
            return row

    async def delete(self, user_id: str, name: str) -> None:
        async with self.write() as s:
            row = await s.scalar(select(KeyPair).where(KeyPair.user_id == user_id,
                                                       KeyPair.name == name))
            if row is None:
                raise NotFound(f"Keypair {name} not found for user {user_id}")
            await s.delete(row)
