"""A backup's bytes in the object store, laid out as Cinder's chunked (Swift) backup driver
lays them out: in the project's account, in ``container``, objects named
``<prefix>-00001``, ``-00002``... holding the volume's bytes chunk by chunk, plus
``<prefix>_metadata`` (JSON: every chunk's offset, length, sha256 and the object holding it)
and ``<prefix>_sha256file`` (the chunk size and the sha256 of each chunk).

A full backup stores every chunk that is not all zeros (zero chunks are noted, not stored).
An incremental one compares each chunk's sha256 with its parent's and stores only the chunks
that changed; the others point at the parent's objects (a parent with children cannot be
deleted, so those objects stay). Restoring reads the chunk list in order, zeros where noted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from onestack.core.object_store.acl import Caller as ObjectCaller
from onestack.core.object_store.containers import ContainerSettings
from onestack.core.object_store.objects import PutSpec
from onestack.core.object_store.service import ObjectStore
from onestack.errors import NotFound, OnestackError

CHUNK = 4 * 1024 * 1024
VERSION = "1.0.0"
ZERO = bytes(CHUNK)
ZERO_SHA256 = hashlib.sha256(ZERO).hexdigest()
OPERATOR = ObjectCaller(reseller=True)


@dataclass
class Written:
    manifest: dict[str, Any]
    objects: int  # objects this backup stored (chunks, metadata, sha256 file)
    stored: int  # bytes of chunks this backup stored


def account_of(project_id: str) -> str:
    return f"AUTH_{project_id}"


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def rechunk(stream: AsyncIterator[bytes], size: int) -> AsyncIterator[bytes]:
    """The stream's bytes in pieces of ``size`` (the last one shorter)."""
    buf = bytearray()
    async for part in stream:
        if not buf and len(part) == size:
            yield part
            continue
        buf += part
        while len(buf) >= size:
            yield bytes(buf[:size])
            del buf[:size]
    if buf:
        yield bytes(buf)


class ChunkStore:
    def __init__(self, objects: ObjectStore) -> None:
        self.store = objects

    async def _put(self, account: str, container: str, name: str, data: bytes) -> None:
        await self.store.objects.put(OPERATOR, account, container, name, _one(data),
                                     PutSpec(content_length=len(data),
                                             content_type="application/octet-stream"))

    async def _get(self, account: str, container: str, name: str) -> AsyncIterator[bytes]:
        view = await self.store.objects.open(OPERATOR, account, container, name)
        async for part in self.store.objects.read(view):
            yield part

    async def write(self, project_id: str, container: str, prefix: str,
                    stream: AsyncIterator[bytes], parent: dict[str, Any] | None,
                    info: dict[str, Any]) -> Written:
        account = account_of(project_id)
        await self.store.containers.put(OPERATOR, account, container, {}, ContainerSettings())
        before = parent["chunks"] if parent else []
        chunks: list[dict[str, Any]] = []
        offset = stored = count = 0
        async for data in rechunk(stream, CHUNK):
            index = len(chunks)
            zero = data == ZERO if len(data) == CHUNK else data.count(0) == len(data)
            digest = ZERO_SHA256 if zero and len(data) == CHUNK else (
                await asyncio.to_thread(hashlib.sha256, data)).hexdigest()
            old = before[index] if index < len(before) else None
            entry = {"offset": offset, "length": len(data), "sha256": digest, "object": None}
            if old is not None and old["sha256"] == digest and old["length"] == len(data):
                entry["object"] = old["object"]
            elif not zero:
                name = f"{prefix}-{index + 1:05d}"
                await self._put(account, container, name, data)
                entry["object"] = name
                stored += len(data)
                count += 1
            chunks.append(entry)
            offset += len(data)
        manifest = {**info, "version": VERSION, "chunk_size": CHUNK, "length": offset,
                    "chunks": chunks}
        await self._put(account, container, f"{prefix}_sha256file", json.dumps(
            {"chunk_size": CHUNK, "sha256s": [c["sha256"] for c in chunks]}).encode())
        await self._put(account, container, f"{prefix}_metadata",
                        json.dumps(manifest).encode())
        return Written(manifest, count + 2, stored)

    async def manifest(self, project_id: str, container: str, prefix: str) -> dict[str, Any]:
        data = b"".join([p async for p in self._get(account_of(project_id), container,
                                                      f"{prefix}_metadata")])
        out: dict[str, Any] = json.loads(data)
        return out

    async def read(self, project_id: str, container: str, manifest: dict[str, Any]
                   ) -> AsyncIterator[bytes]:
        """The backed-up bytes in order, each chunk checked against its sha256; trailing
        zero chunks are left out (a new volume reads zeros there anyway)."""
        chunks = manifest["chunks"]
        while chunks and chunks[-1]["object"] is None:
            chunks = chunks[:-1]
        account = account_of(project_id)
        for c in chunks:
            if c["object"] is None:
                yield bytes(c["length"])
                continue
            data = b"".join([p async for p in self._get(account, container, c["object"])])
            if hashlib.sha256(data).hexdigest() != c["sha256"]:
                raise OnestackError(f"backup object {c['object']} does not match its "
                                    "sha256: the backup is damaged")
            yield data

    async def remove(self, project_id: str, container: str, prefix: str,
                     manifest: dict[str, Any] | None) -> None:
        """Delete the objects this backup stored (never its parent's); missing ones are
        fine (deleting is idempotent)."""
        account = account_of(project_id)
        names = [f"{prefix}_metadata", f"{prefix}_sha256file"]
        if manifest is not None:
            names += [c["object"] for c in manifest["chunks"]
                      if c["object"] and c["object"].startswith(prefix + "-")]
        for name in names:
            with contextlib.suppress(NotFound):
                await self.store.objects.delete(OPERATOR, account, container, name)
