"""S3 multipart uploads on Swift's static large objects, as Swift's s3api lays them out.

An upload lives in the bucket's ``<bucket>+segments`` container: a marker object
``<key>/<upload id>`` (a small JSON body: the future object's type and metadata) and one
object per part, ``<key>/<upload id>/<part number, 5 digits>``. Completing writes the key as
an SLO manifest over the parts (so Swift reads it as one object) and records S3's ETag, the
md5 of the parts' binary md5s followed by ``-<count>``. Aborting deletes the marker and the
parts; deleting or replacing the object through S3 deletes its segments.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from onestack.core.object_store import large
from onestack.core.object_store.acl import Caller
from onestack.core.object_store.containers import ContainerSettings, listed_headers
from onestack.core.object_store.listing import ListParams
from onestack.core.object_store.objects import Objects, PutSpec
from onestack.core.object_store.s3.errors import (
    EntityTooSmall,
    InvalidArgument,
    InvalidPart,
    InvalidPartOrder,
    MalformedXML,
    NoSuchBucket,
    NoSuchUpload,
)
from onestack.db.models import SwiftObject
from onestack.errors import NotFound

SEGMENTS = "+segments"
MIN_PART = 5 * 1024 * 1024
MAX_PARTS = 10000
_ID = re.compile(r"[0-9a-f]{32}")
_MARKER = re.compile(r"(?P<key>.+)/(?P<id>[0-9a-f]{32})")


@dataclass
class Upload:
    key: str
    upload_id: str
    initiated: float
    content_type: str = "application/octet-stream"
    meta: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def segments_of(bucket: str) -> str:
    return bucket + SEGMENTS


def part_name(key: str, upload_id: str, number: int) -> str:
    return f"{key}/{upload_id}/{number:05d}"


def s3_etag(row: SwiftObject) -> str:
    """The object's ETag as S3 reports it (unquoted)."""
    headers = listed_headers(row.headers)
    if headers.get("s3_etag"):
        return str(headers["s3_etag"])
    if headers.get("slo"):
        return str(headers.get("slo_etag", row.etag))
    return row.etag


def multipart_etag(md5s: list[str]) -> str:
    joined = b"".join(bytes.fromhex(e) for e in md5s)
    return f"{hashlib.md5(joined, usedforsecurity=False).hexdigest()}-{len(md5s)}"


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


class Multipart:
    def __init__(self, objects: Objects) -> None:
        self.objects = objects
        self.containers = objects.containers

    # --- uploads -------------------------------------------------------------------------
    async def create(self, caller: Caller, account: str, bucket: str, key: str,
                     content_type: str | None, meta: dict[str, str | None],
                     headers: dict[str, str]) -> str:
        await self.objects.writable(caller, account, bucket)
        seg = segments_of(bucket)
        if await self.containers.get(account, seg) is None:
            await self.containers.put(caller, account, seg, {}, ContainerSettings())
        upload_id = uuid.uuid4().hex
        body = json.dumps({"content_type": content_type or "", "headers": headers,
                           "meta": {k: v for k, v in meta.items() if v is not None}}).encode()
        await self.objects.put(caller, account, seg, f"{key}/{upload_id}", _one(body),
                               PutSpec(content_length=len(body),
                                       content_type="application/x-s3-upload"))
        return upload_id

    async def upload(self, caller: Caller, account: str, bucket: str, key: str,
                     upload_id: str) -> Upload:
        """The upload in progress (NoSuchUpload when absent, completed or aborted)."""
        await self.objects.writable(caller, account, bucket)
        seg = await self.containers.get(account, segments_of(bucket))
        if not _ID.fullmatch(upload_id) or seg is None:
            raise NoSuchUpload()
        row = await self.objects.find(seg.id, f"{key}/{upload_id}")
        if row is None:
            raise NoSuchUpload()
        data: dict[str, Any] = json.loads(await self.objects.read_all(row.blob))
        return Upload(key, upload_id, row.timestamp, data.get("content_type") or
                      "application/octet-stream", dict(data.get("meta") or {}),
                      dict(data.get("headers") or {}))

    async def put_part(self, caller: Caller, account: str, bucket: str, key: str,
                       upload_id: str, number: int, body: AsyncIterator[bytes],
                       length: int | None, md5: str | None = None) -> SwiftObject:
        if not 1 <= number <= MAX_PARTS:
            raise InvalidArgument(f"Part number must be an integer between 1 and "
                                  f"{MAX_PARTS}, inclusive")
        await self.upload(caller, account, bucket, key, upload_id)
        return await self.objects.put(caller, account, segments_of(bucket),
                                      part_name(key, upload_id, number), body,
                                      PutSpec(content_length=length, etag=md5,
                                              content_type="application/octet-stream"))

    async def parts(self, caller: Caller, account: str, bucket: str, key: str,
                    upload_id: str, marker: int = 0, limit: int = 1000
                    ) -> tuple[Upload, list[Any]]:
        upload = await self.upload(caller, account, bucket, key, upload_id)
        prefix = f"{key}/{upload_id}/"
        params = ListParams(prefix=prefix, limit=limit,
                            marker=part_name(key, upload_id, marker) if marker else "")
        _, rows = await self.containers.list_objects(caller, account, segments_of(bucket),
                                                     params)
        return upload, [r for r in rows if not isinstance(r, str)]

    async def _all_parts(self, caller: Caller, account: str, bucket: str, key: str,
                         upload_id: str) -> list[Any]:
        out: list[Any] = []
        marker = 0
        while True:
            _, rows = await self.parts(caller, account, bucket, key, upload_id, marker)
            out.extend(rows)
            if len(rows) < 1000:
                return out
            marker = int(rows[-1].name.rsplit("/", 1)[1])

    async def abort(self, caller: Caller, account: str, bucket: str, key: str,
                    upload_id: str) -> None:
        for row in await self._all_parts(caller, account, bucket, key, upload_id):
            await self._delete(caller, account, segments_of(bucket), row.name)
        await self._delete(caller, account, segments_of(bucket), f"{key}/{upload_id}")

    async def _delete(self, caller: Caller, account: str, container: str, name: str) -> None:
        with contextlib.suppress(NotFound):
            await self.objects.delete(caller, account, container, name)

    async def complete(self, caller: Caller, account: str, bucket: str, key: str,
                       upload_id: str, wanted: list[tuple[int, str]]) -> tuple[SwiftObject, str]:
        """Write the object from the listed parts; (its row, its S3 ETag)."""
        upload = await self.upload(caller, account, bucket, key, upload_id)
        if not wanted:
            raise MalformedXML("You must specify at least one part.")
        numbers = [n for n, _ in wanted]
        if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
            raise InvalidPartOrder()
        seg = segments_of(bucket)
        uploaded = {int(r.name.rsplit("/", 1)[1]): r
                    for r in await self._all_parts(caller, account, bucket, key, upload_id)}
        chosen: list[Any] = []
        for number, etag in wanted:
            row = uploaded.get(number)
            if row is None or etag.strip().strip('"').lower() != row.etag:
                raise InvalidPart()
            chosen.append(row)
        for row in chosen[:-1]:
            if row.size < MIN_PART:
                raise EntityTooSmall()
        raw = json.dumps([{"path": f"/{seg}/{r.name}", "etag": r.etag, "size_bytes": r.size}
                          for r in chosen]).encode()
        lookup, _ = self.objects.lookups(caller, account)
        manifest = await large.validate_manifest(raw, lookup)
        etag = multipart_etag([r.etag for r in chosen])
        previous = await self.segment_names(bucket, await self.existing(account, bucket, key))
        spec = PutSpec(content_type=upload.content_type, meta=dict(upload.meta),
                       headers=upload.headers)
        row = await self.objects.put(caller, account, bucket, key, _one(manifest.body()), spec,
                                     slo=manifest, internal={"s3_etag": etag})
        await self._delete(caller, account, seg, f"{key}/{upload_id}")
        used = {r.name for r in chosen}
        for name in [r.name for r in uploaded.values() if r.name not in used]:
            await self._delete(caller, account, seg, name)
        await self.drop_segments(caller, account, bucket, previous, keep=used)
        return row, etag

    async def uploads(self, caller: Caller, account: str, bucket: str, prefix: str = "",
                      limit: int = 1000) -> list[Upload]:
        await self.objects.writable(caller, account, bucket)
        seg = segments_of(bucket)
        if await self.containers.get(account, seg) is None:
            return []
        out: list[Upload] = []
        marker = ""
        while len(out) < limit:
            _, rows = await self.containers.list_objects(
                caller, account, seg, ListParams(prefix=prefix, marker=marker))
            for r in rows:
                m = _MARKER.fullmatch(r.name) if not isinstance(r, str) else None
                if m is not None:
                    out.append(Upload(m["key"], m["id"], r.timestamp))
            if len(rows) < ListParams().limit:
                break
            marker = rows[-1].name
        return out[:limit]

    # --- replacing and deleting objects that were uploaded in parts ----------------------
    async def existing(self, account: str, bucket: str, key: str) -> SwiftObject | None:
        c = await self.containers.get(account, bucket)
        if c is None:
            raise NoSuchBucket()
        return await self.objects.find(c.id, key)

    async def segment_names(self, bucket: str, row: SwiftObject | None) -> list[str]:
        """The parts of an object written by CompleteMultipartUpload (read them before the
        object is replaced: its manifest goes with it)."""
        if row is None or not (row.headers.get("slo") and row.headers.get("s3_etag")):
            return []
        seg = segments_of(bucket)
        try:
            entries = json.loads(await self.objects.read_all(row.blob))
        except Exception:  # the manifest went with a concurrent replacement
            return []
        out = []
        for entry in entries:
            container, _, name = str(entry.get("name", "")).lstrip("/").partition("/")
            if container == seg:
                out.append(name)
        return out

    async def drop_segments(self, caller: Caller, account: str, bucket: str,
                            names: list[str], keep: set[str] | None = None) -> None:
        for name in names:
            if name not in (keep or set()):
                await self._delete(caller, account, segments_of(bucket), name)
