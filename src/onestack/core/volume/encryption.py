"""Encrypted volumes: Cinder's volume type encryption specs and each volume's key.

A type with an encryption spec (provider ``luks``, cipher ``aes-xts-plain64``, key size
256 or 512 bits, control location ``front-end``) makes encrypted volumes: each new volume
gets a fresh symmetric key stored as a secret in the key manager, owned by the volume's
project (as Cinder does through castellan), and keeps only the secret's id
(``encryption_key_id``). The LUKS passphrase is the key's bytes in hex, as os-brick and
Nova use it; it is read only when a backend formats or grows the volume and when a
hypervisor opens it, and never logged. A copy of an encrypted volume (a clone, a volume
from its snapshot) gets a key of its own holding the same bytes (Cinder clones the key);
deleting the volume deletes its key.
"""

from __future__ import annotations

import binascii
import contextlib
import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.context import RequestContext
from onestack.core.key_manager.secrets import NewSecret
from onestack.core.key_manager.service import KeyManager
from onestack.core.volume.base import Caller, Store, find_volume
from onestack.core.volume.types import VolumeTypes
from onestack.db.models.base import utcnow
from onestack.db.models.volume import Volume, VolumeType
from onestack.db.models.volume_encryption import VolumeTypeEncryption
from onestack.drivers.storage.base import LuksSpec
from onestack.errors import BadRequest, NotFound, OnestackError

log = logging.getLogger(__name__)
# What Cinder stores, it stores as given (tempest's own test stores a provider
# "SomeProvider" and a back-end location); this cloud refuses at once what it knows it will
# never open (the cryptsetup "plain" format, LUKS2), and a volume of a type whose spec it
# cannot serve is refused at create, naming the field (``check_usable``).
LUKS_PROVIDERS = ("luks", "LuksEncryptor", "nova.volume.encryptors.luks.LuksEncryptor",
                  "os_brick.encryptors.luks.LuksEncryptor")
UNSUPPORTED_PROVIDERS = ("plain", "luks2", "CryptsetupEncryptor",
                         "nova.volume.encryptors.cryptsetup.CryptsetupEncryptor",
                         "os_brick.encryptors.cryptsetup.CryptsetupEncryptor")
CIPHERS = ("aes-xts-plain64",)
KEY_SIZES = (256, 512)
CONTROL_LOCATIONS = ("front-end", "back-end")
DEFAULT_CIPHER = "aes-xts-plain64"
DEFAULT_KEY_SIZE = 256
FIELDS = ("provider", "cipher", "key_size", "control_location")
MAX_INT = 0x7FFFFFFF


class KeyGone(BadRequest):
    """A volume's key is not in the key manager any more: the volume cannot be opened."""


def _bad(message: str) -> BadRequest:
    return BadRequest(f"Invalid input received: {message}")


def check_spec(body: Any, create: bool) -> dict[str, Any]:
    """The encryption spec of a request (Cinder's ``_check_encryption_input``), each field
    checked and named when it is wrong."""
    if not isinstance(body, dict) or not isinstance(body.get("encryption"), dict):
        raise BadRequest("Malformed request body: an 'encryption' object is required.")
    spec: dict[str, Any] = body["encryption"]
    unknown = sorted(set(spec) - set(FIELDS))
    if unknown:
        raise _bad(f"unknown encryption field(s) {', '.join(unknown)}; known: "
                   f"{', '.join(FIELDS)}.")
    if create:
        for key in ("provider", "control_location"):
            if spec.get(key) is None:
                raise _bad(f"{key} must be defined")
    out: dict[str, Any] = {}
    for key in ("provider", "cipher"):
        if key in spec:
            value = spec[key]
            if value is not None and (not isinstance(value, str) or not value.strip()
                                      or len(value) > 255):
                raise _bad(f"{key} must be a string of 1 to 255 characters.")
            if value is None and key == "provider":
                raise _bad("provider must be defined")
            out[key] = value
    if out.get("provider") in UNSUPPORTED_PROVIDERS:
        raise _bad(f"provider {out['provider']!r} is not supported by this cloud; use "
                   "'luks'.")
    if "control_location" in spec:
        if spec["control_location"] not in CONTROL_LOCATIONS:
            raise _bad(f"control_location {spec['control_location']!r}: valid control "
                       f"locations are {', '.join(CONTROL_LOCATIONS)}.")
        out["control_location"] = spec["control_location"]
    if "key_size" in spec:
        size = spec["key_size"]
        if size is not None:
            try:
                size = int(size) if not isinstance(size, bool | float) else -1
            except (TypeError, ValueError):
                size = -1
            if not 0 <= size <= MAX_INT:
                raise _bad(f"key_size {spec['key_size']!r} must be an integer from 0 to "
                           f"{MAX_INT}.")
        out["key_size"] = size
    return out


def check_usable(row: VolumeTypeEncryption) -> None:
    """A volume of this type can be made here (400 naming the field it cannot)."""
    why = None
    if row.provider not in LUKS_PROVIDERS:
        why = f"provider {row.provider!r} is not supported; use 'luks'"
    elif row.control_location != "front-end":
        why = (f"control_location {row.control_location!r} is not supported; volumes are "
               "encrypted by the hypervisor ('front-end')")
    elif row.cipher not in (None, *CIPHERS):
        why = f"cipher {row.cipher!r} is not supported; use {', '.join(CIPHERS)}"
    elif row.key_size not in (None, *KEY_SIZES):
        why = (f"key_size {row.key_size} is not supported; use 256 or 512 (bits; XTS splits "
               "it in two AES keys)")
    if why:
        raise _bad(f"the encryption of volume type {row.type_id}: {why}.")


def created_view(row: VolumeTypeEncryption) -> dict[str, Any]:
    """What a create answers (tempest's schema allows these fields only)."""
    return {k: v for k, v in spec_view(row).items() if k in (
        "volume_type_id", "encryption_id", *FIELDS)}


def spec_view(row: VolumeTypeEncryption) -> dict[str, Any]:
    """The row as Cinder renders its volume type encryption (``GET .../encryption``)."""
    return {"volume_type_id": row.type_id, "encryption_id": row.encryption_id,
            "provider": row.provider, "cipher": row.cipher, "key_size": row.key_size,
            "control_location": row.control_location, "created_at": row.created_at,
            "updated_at": row.updated_at, "deleted": False, "deleted_at": None}


def luks_bits(row: VolumeTypeEncryption | None) -> int:
    return (row.key_size if row is not None and row.key_size else None) or DEFAULT_KEY_SIZE


class TypeEncryptions:
    """``/types/{type}/encryption``: admins only (the route's policy)."""

    def __init__(self, store: Store, types: VolumeTypes) -> None:
        self.store = store
        self.types = types

    @staticmethod
    async def of_type(s: AsyncSession, type_id: str | None) -> VolumeTypeEncryption | None:
        return await s.get(VolumeTypeEncryption, type_id) if type_id else None

    @staticmethod
    async def _refuse_in_use(s: AsyncSession, vt: VolumeType, verb: str) -> None:
        used = await s.scalar(select(func.count()).select_from(Volume).where(
            Volume.type_id == vt.id)) or 0
        if used:
            raise BadRequest(f"Invalid volume type: Cannot {verb} encryption specs. Volume "
                             f"type in use ({used} volumes of type {vt.name}).")

    async def _need(self, s: AsyncSession, vt: VolumeType) -> VolumeTypeEncryption:
        row = await self.of_type(s, vt.id)
        if row is None:
            raise NotFound(f"Volume type encryption for type {vt.id} does not exist.")
        return row

    async def get(self, caller: Caller, type_ident: str) -> dict[str, Any]:
        async with self.store.db.read() as s:
            vt = await self.types.find(s, caller, type_ident)
            row = await self.of_type(s, vt.id)
            return spec_view(row) if row is not None else {}

    async def create(self, caller: Caller, type_ident: str, body: Any) -> dict[str, Any]:
        spec = check_spec(body, create=True)
        async with self.store.write() as s:
            vt = await self.types.find(s, caller, type_ident)
            if await self.of_type(s, vt.id) is not None:
                raise BadRequest(f"Volume type encryption for type {vt.id} already exists.")
            await self._refuse_in_use(s, vt, "create")
            row = VolumeTypeEncryption(type_id=vt.id, encryption_id=str(uuid.uuid4()),
                                       provider=spec["provider"],
                                       cipher=spec.get("cipher"),
                                       key_size=spec.get("key_size"),
                                       control_location=spec["control_location"],
                                       created_at=utcnow())
            s.add(row)
            await s.flush()
            return created_view(row)

    async def update(self, caller: Caller, type_ident: str, body: Any) -> dict[str, Any]:
        """Cinder ignores the encryption id of the path (cinderclient sends 'provider')."""
        spec = check_spec(body, create=False)
        async with self.store.write() as s:
            vt = await self.types.find(s, caller, type_ident)
            row = await self._need(s, vt)
            await self._refuse_in_use(s, vt, "update")
            for key, value in spec.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
        return spec

    async def delete(self, caller: Caller, type_ident: str) -> None:
        async with self.store.write() as s:
            vt = await self.types.find(s, caller, type_ident)
            row = await self._need(s, vt)
            await self._refuse_in_use(s, vt, "delete")
            await s.delete(row)

    async def of_volume(self, caller: Caller, volume_id: str) -> dict[str, Any]:
        """``GET /volumes/{id}/encryption``: Cinder's ``volume_encryption_metadata_get``."""
        async with self.store.db.read() as s:
            vol = await find_volume(s, caller, volume_id)
            out: dict[str, Any] = {"encryption_key_id": vol.encryption_key_id}
            row = await self.of_type(s, vol.type_id)
        if row is not None:
            out.update({k: getattr(row, k) for k in FIELDS})
        return out


class _Encrypted(Protocol):
    volume_id: str
    encrypted: bool
    key: str


@dataclass
class VolumeKeys:
    """Each encrypted volume's key in the key manager (set by the runtime: ``manager``)."""

    manager: KeyManager | None = None

    def _km(self) -> KeyManager:
        if self.manager is None:
            raise BadRequest("Invalid input received: encrypted volumes need the key "
                             "manager, which this cloud does not run.")
        return self.manager

    async def create(self, project_id: str, user_id: str, bits: int) -> str:
        """A new symmetric key for a volume of ``project_id``; its secret's id."""
        return await self._store(project_id, user_id, os.urandom(bits // 8), bits)

    async def clone(self, project_id: str, user_id: str, key_id: str) -> str:
        """A key of its own for a copy of an encrypted volume, with the same bytes."""
        data = await self._bytes(key_id)
        return await self._store(project_id, user_id, data, len(data) * 8)

    async def for_new_volume(self, project_id: str, user_id: str,
                             spec: VolumeTypeEncryption | None, copy_of: Volume | None
                             ) -> str | None:
        """The key a new volume gets: none for an unencrypted type, a clone of its source's
        key for a copy of an encrypted volume, else a new one. A copy cannot change
        whether the data is encrypted (400)."""
        source_key = copy_of.encryption_key_id if copy_of is not None else None
        if copy_of is not None and bool(source_key) != (spec is not None):
            raise BadRequest("Invalid input received: a volume made from another volume or "
                             "a snapshot keeps its source's encryption: give a volume type "
                             f"that is {'encrypted' if source_key else 'not encrypted'}.")
        if spec is None:
            return None
        check_usable(spec)
        if source_key:
            return await self.clone(project_id, user_id, source_key)
        return await self.create(project_id, user_id, luks_bits(spec))

    async def _store(self, project_id: str, user_id: str, data: bytes, bits: int) -> str:
        ctx = RequestContext(project_id=project_id, user_id=user_id)
        row = await self._km().create_secret(ctx, NewSecret(
            secret_type="symmetric", algorithm="aes", bit_length=bits, mode="xts",
            payload=data, content_type="application/octet-stream"))
        return row.id

    async def _bytes(self, key_id: str) -> bytes:
        try:
            data, _type = await self._km().payload(key_id)
        except NotFound as exc:
            raise KeyGone(f"Invalid volume: the encryption key {key_id} is not in the key "
                          "manager any more; the volume cannot be opened.") from exc
        return data

    async def passphrase(self, key_id: str) -> str:
        """The LUKS passphrase of a volume: its key's bytes in hex (os-brick's and Nova's
        convention)."""
        return binascii.hexlify(await self._bytes(key_id)).decode()

    async def luks(self, key_id: str, spec: VolumeTypeEncryption | None) -> LuksSpec:
        return LuksSpec(await self.passphrase(key_id),
                        (spec.cipher if spec is not None else None) or DEFAULT_CIPHER,
                        luks_bits(spec))

    async def fill(self, db: Any, disks: Sequence[_Encrypted]) -> None:
        """Each encrypted disk's passphrase, for the hypervisor that opens it ("" when its
        key is gone: opening it then fails with that reason)."""
        wanted = [d for d in disks if d.encrypted]
        if not wanted:
            return
        async with db.read() as s:
            ids = dict((await s.execute(select(Volume.id, Volume.encryption_key_id).where(
                Volume.id.in_({d.volume_id for d in wanted})))).all())
        for disk in wanted:
            key_id = ids.get(disk.volume_id)
            try:
                disk.key = await self.passphrase(key_id) if key_id else ""
            except KeyGone:
                log.warning("volume %s: its encryption key %s is gone", disk.volume_id,
                            key_id)
                disk.key = ""

    async def delete(self, key_id: str) -> None:
        """Idempotent: a key already gone is fine."""
        if self.manager is None:
            return
        with contextlib.suppress(NotFound):
            await self.manager.delete_secret(key_id)

    async def forget(self, key_id: str | None) -> None:
        """Undo a key made for a volume that was not made after all (best effort)."""
        if key_id:
            with contextlib.suppress(OnestackError):
                await self.delete(key_id)
