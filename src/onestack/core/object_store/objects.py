"""Objects: streamed writes through the blob store, reads across segments, metadata,
copies, deletes with versioning, and expiry.

A write streams the body into a new blob (temporary name, fsync, rename), checks its ETag,
then commits the row and the container/account counters in one transaction; the replaced
blob is removed after the commit. A crash leaves at worst an orphan blob, never a partial
object. Rows never share a blob: versioning moves rows, copies copy bytes.
"""

from __future__ import annotations

import json
import mimetypes
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from onestack.core.object_store import acl, large, rows
from onestack.core.object_store.acl import Caller
from onestack.core.object_store.base import (
    CONSTRAINTS,
    UnprocessableEntity,
    check_metadata,
    check_name,
    now,
)
from onestack.core.object_store.containers import Containers, live
from onestack.db.engine import Database
from onestack.db.locks import quota_lock_sync
from onestack.db.models import SwiftAccount, SwiftContainer, SwiftObject
from onestack.drivers.blob import BlobStore
from onestack.drivers.blob.base import BlobTooLarge
from onestack.errors import BadRequest, NotFound, PayloadTooLarge, PreconditionFailed

# Headers kept with an object besides X-Object-Meta-* (Swift's allowed_headers).
ALLOWED_HEADERS = ("content-disposition", "content-encoding", "x-object-manifest",
                   "cache-control", "content-language", "expires", "x-robots-tag")
# (the symlink middleware's link: target, its account, and a static link's ETag and size)
INTERNAL = ("slo", "slo_etag", "s3_etag", "x-symlink-target", "x-symlink-target-account",
            "x-symlink-target-etag", "x-symlink-target-bytes")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class PutSpec:
    """What a PUT, COPY or POST asks for, parsed from its headers by the API layer."""

    content_length: int | None = None
    content_type: str | None = None
    detect_type: bool = False
    etag: str | None = None
    meta: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delete_at: float | None = None
    if_none_match: str | None = None
    fresh_metadata: bool = False


@dataclass
class ObjectView:
    account: str
    container: SwiftContainer
    row: SwiftObject
    resolved: large.Resolved

    @property
    def size(self) -> int:
        return self.resolved.size

    @property
    def etag(self) -> str:
        return self.resolved.etag


# Built once: constructing a statement costs more than running it on the hot paths.
_OPEN = select(SwiftContainer, SwiftObject).outerjoin(
    SwiftObject, and_(SwiftObject.container_id == SwiftContainer.id,
                      SwiftObject.name == bindparam("name"))).where(
    SwiftContainer.account == bindparam("account"),
    SwiftContainer.name == bindparam("container"))


class Objects:
    def __init__(self, db: Database, blobs: BlobStore, containers: Containers) -> None:
        self.db = db
        self.blobs = blobs
        self.containers = containers

    # --- lookups -------------------------------------------------------------------------
    async def find(self, container_id: int, name: str) -> SwiftObject | None:
        row = await self.db.run_read(lambda s: rows.find(s, container_id, name))
        return None if row is None or rows.expired(row) else row

    def lookups(self, caller: Caller, account: str) -> tuple[large.Lookup, large.PrefixLookup]:
        cache: dict[str, SwiftContainer | None] = {}

        async def container(name: str) -> SwiftContainer | None:
            if name not in cache:
                row = await self.containers.get(account, name)
                if row is not None and not acl.may_read_object(
                        caller, account, name, row.sysmeta.get("read")):
                    raise caller.deny()
                cache[name] = row
            return cache[name]

        async def lookup(cname: str, name: str) -> SwiftObject | None:
            c = await container(cname)
            return await self.find(c.id, name) if c is not None else None

        async def by_prefix(cname: str, prefix: str) -> list[SwiftObject]:
            c = await container(cname)
            if c is None:
                return []
            q = select(SwiftObject).where(SwiftObject.container_id == c.id, live())
            if prefix:
                q = q.where(SwiftObject.name >= prefix)
            q = q.order_by(SwiftObject.name).limit(CONSTRAINTS.max_dlo_segments)
            async with self.db.read() as s:
                rows = list((await s.execute(q)).scalars())
            return [r for r in rows if r.name.startswith(prefix)]

        return lookup, by_prefix

    async def read_all(self, blob: str) -> bytes:
        parts = [chunk async for chunk in self.blobs.get(blob)]
        return b"".join(parts)

    async def open(self, caller: Caller, account: str, cname: str, name: str, *,
                   manifest: bool = False) -> ObjectView:
        """Authorize a read and resolve the object (404 when absent or expired).

        ``manifest``: the manifest object itself, not the large object it describes.
        """
        params = {"account": account, "container": cname, "name": name}
        # the container and the object in one query
        found = await self.db.run_read(lambda s: s.execute(_OPEN, params).first())
        if found is None:
            raise self.containers.missing(account, caller)
        c, row = found[0], found[1]
        if not acl.may_read_object(caller, account, cname, c.sysmeta.get("read")):
            raise caller.deny()
        if row is None or (row.delete_at is not None and row.delete_at <= now()):
            raise NotFound("The resource could not be found.")
        if manifest:
            resolved = large.Resolved("plain", row.size if not row.headers.get("slo") else
                                      await self.blobs.size(row.blob), row.etag,
                                      [large.Segment(row.blob, 0, await self.blobs.size(
                                          row.blob))])
        else:
            lookup, by_prefix = self.lookups(caller, account)
            resolved = await large.resolve(row, lookup, by_prefix, self.read_all)
        return ObjectView(account, c, row, resolved)

    async def read(self, view: ObjectView, start: int = 0,
                   length: int | None = None) -> AsyncIterator[bytes]:
        end = view.size if length is None else min(view.size, start + length)
        pos = 0
        for seg in view.resolved.segments:
            seg_start, pos = pos, pos + seg.length
            if pos <= start:
                continue
            if seg_start >= end:
                break
            lo = max(start, seg_start) - seg_start
            hi = min(end, pos) - seg_start
            async for chunk in self.blobs.get(seg.blob, seg.offset + lo, hi - lo):
                yield chunk

    async def stream(self, view: ObjectView, start: int = 0,
                     length: int | None = None) -> AsyncIterator[bytes]:
        """``read`` with its first chunk already fetched: a blob store whose backend fails
        (BlobUnavailable) does so before the response starts, as a 503, not mid-body."""
        body = self.read(view, start, length)
        try:
            first = await anext(body)
        except StopAsyncIteration:
            first = b""

        async def rest() -> AsyncIterator[bytes]:
            try:
                if first:
                    yield first
                async for chunk in body:
                    yield chunk
            finally:
                close = getattr(body, "aclose", None)  # a client gone mid-body
                if close is not None:
                    await close()
        return rest()

    # --- writes --------------------------------------------------------------------------
    async def writable(self, caller: Caller, account: str, cname: str) -> SwiftContainer:
        return (await self._writable(caller, account, cname))[0]

    async def _writable(self, caller: Caller, account: str, cname: str
                        ) -> tuple[SwiftContainer, SwiftAccount]:
        c, acct = await self.containers.with_account(account, cname)
        if c is None:
            raise self.containers.missing(account, caller)
        if not acl.may_write_object(caller, account, cname, c.sysmeta.get("write")):
            raise caller.deny()
        return c, acct

    @staticmethod
    def _room(acct: SwiftAccount, c: SwiftContainer, length: int | None,
              new_objects: int = 1) -> int | None:
        """Bytes the quotas still allow (None: unlimited); 413 when already over."""
        room: int | None = None
        over = PayloadTooLarge("Upload exceeds quota.")
        for meta, used, count in ((c.meta, c.bytes_used, c.object_count),
                                  (acct.meta, acct.bytes_used, acct.object_count)):
            quota = meta.get("quota-bytes")
            if quota is not None and str(quota).isdigit():
                left = int(quota) - used
                room = left if room is None else min(room, left)
            qcount = meta.get("quota-count") if meta is c.meta else acct.sysmeta.get(
                "quota-count")
            if (qcount is not None and str(qcount).isdigit()
                    and count + new_objects > int(qcount)):
                raise over
        if room is not None and (room < 0 or (length is not None and length > room)):
            raise over
        return room

    @staticmethod
    def _has_quota(acct: SwiftAccount, c: SwiftContainer) -> bool:
        return any(k in c.meta for k in ("quota-bytes", "quota-count")) or (
            "quota-bytes" in acct.meta or "quota-count" in acct.sysmeta)

    def _put_row(self, s: Session, c: SwiftContainer, acct: SwiftAccount, name: str,
                 fields: dict[str, Any], dropped: list[str]) -> SwiftObject:
        """The row written in one transaction; under a quota, checked again there against
        the counts as they are now, under the account's quota lock (concurrent uploads that
        each saw room cannot together overshoot)."""
        if self._has_quota(acct, c):
            quota_lock_sync(s, "object_store", c.account)
            fresh_c = s.get(SwiftContainer, c.id, populate_existing=True)
            fresh_acct = s.get(SwiftAccount, c.account, populate_existing=True) or acct
            if fresh_c is None:
                raise NotFound("The resource could not be found.")
            existing = rows.find(s, c.id, name)
            replaced = 0 if existing is None or rows.archive_target(s, fresh_c) else (
                existing.size)
            self._room(fresh_acct, fresh_c, fields["size"] - replaced,
                       0 if existing is not None else 1)
        return rows.put(s, c, name, fields, dropped)

    def _blob_key(self, account: str, cname: str) -> str:
        digest = large.md5_hex(cname)[:16]
        return f"{_UNSAFE.sub('_', account)[:200]}/{digest}/{uuid.uuid4().hex}"

    async def put(self, caller: Caller, account: str, cname: str, name: str,
                  body: AsyncIterator[bytes], spec: PutSpec, *,
                  slo: large.SloManifest | None = None,
                  internal: dict[str, str] | None = None) -> SwiftObject:
        """Store a new object (or replace one). ``internal``: headers kept with it that no
        client sets directly (INTERNAL names, e.g. the S3 multipart ETag)."""
        check_name(name, "object")
        if not name:
            raise BadRequest("Object name is required.")
        c, acct = await self._writable(caller, account, cname)
        if spec.content_length is not None and spec.content_length > CONSTRAINTS.max_file_size:
            raise PayloadTooLarge("Your request is too large.")
        manifest = spec.headers.get("x-object-manifest")
        if manifest:
            large.dlo_target(manifest)
        check_metadata({k: v for k, v in spec.meta.items() if v is not None}, "object")
        if spec.if_none_match is not None and spec.if_none_match.strip() != "*":
            raise BadRequest("If-None-Match only supports *")
        if spec.if_none_match and await self.find(c.id, name) is not None:
            raise PreconditionFailed("A precondition for this request was not met.")
        room = self._room(acct, c, spec.content_length)
        # a body without a length (chunked, aws-chunked) stops at the largest object too
        limit = CONSTRAINTS.max_file_size if room is None else min(room,
                                                                  CONSTRAINTS.max_file_size)
        key = self._blob_key(account, cname)
        try:
            info = await self.blobs.put(key, body, max_size=limit, sha512=False)
        except BlobTooLarge as exc:
            if room is not None and room <= CONSTRAINTS.max_file_size:
                raise PayloadTooLarge("Upload exceeds quota.") from exc
            raise PayloadTooLarge("Your request is too large.") from exc
        try:
            if spec.content_length is not None and info.size != spec.content_length:
                raise BadRequest("The body was shorter than its Content-Length.")
            headers = {k: v for k, v in spec.headers.items() if k in ALLOWED_HEADERS}
            headers.update({k: v for k, v in (internal or {}).items() if k in INTERNAL})
            size, etag = info.size, info.md5
            want = spec.etag.strip('"').lower() if spec.etag else None
            if slo is not None:
                headers.update(slo="True", slo_etag=slo.etag)
                size = slo.size
                if want and want not in (slo.etag, info.md5):
                    raise UnprocessableEntity("Unable to process the contained instructions")
            elif want and want != info.md5:
                raise UnprocessableEntity("Unable to process the contained instructions")
            fields = {
                "blob": key, "size": size, "etag": etag,
                "content_type": self._content_type(name, spec),
                "timestamp": now(), "headers": headers, "delete_at": spec.delete_at,
                "meta": {k: v for k, v in spec.meta.items() if v is not None},
            }
            dropped: list[str] = []
            row = await self.db.run_write(
                lambda s: self._put_row(s, c, acct, name, fields, dropped))
        except BaseException:
            await self.blobs.delete(key)
            raise
        for blob in dropped:
            await self.blobs.delete(blob)
        return row

    @staticmethod
    def _content_type(name: str, spec: PutSpec) -> str:
        if spec.content_type and not spec.detect_type:
            return spec.content_type
        guessed, _ = mimetypes.guess_type(name, strict=False)
        return guessed or "application/octet-stream"

    async def post(self, caller: Caller, account: str, cname: str, name: str,
                   spec: PutSpec) -> SwiftObject:
        """Replace the object's metadata (Swift's fast-POST)."""
        c = await self.writable(caller, account, cname)
        meta = {k: v for k, v in spec.meta.items() if v is not None}
        check_metadata(meta, "object")
        manifest = spec.headers.get("x-object-manifest")
        if manifest:
            large.dlo_target(manifest)
        async with self.db.write() as s:
            row = await s.run_sync(rows.find, c.id, name)
            if row is None or rows.expired(row):
                raise NotFound("The resource could not be found.")
            row.meta = meta
            headers = {k: v for k, v in row.headers.items() if k in INTERNAL}
            headers.update({k: v for k, v in spec.headers.items() if k in ALLOWED_HEADERS})
            row.headers = headers
            if spec.content_type:
                row.content_type = spec.content_type
            row.delete_at = spec.delete_at
            row.timestamp = now()
        return row

    async def delete(self, caller: Caller, account: str, cname: str, name: str) -> None:
        c = await self.writable(caller, account, cname)
        dropped: list[str] = []
        live_row = await self.db.run_write(lambda s: rows.delete(s, c, name, dropped))
        for blob in dropped:
            await self.blobs.delete(blob)
        if not live_row:
            raise NotFound("The resource could not be found.")

    async def reap(self, limit: int = 500) -> int:
        """Remove expired objects (the object expirer); returns how many."""
        dropped: list[str] = []
        async with self.db.write() as s:
            # Several API processes may reap at once: each takes rows the others do not hold.
            due = list((await s.execute(select(SwiftObject).where(
                SwiftObject.delete_at <= now()).limit(limit).with_for_update(
                    skip_locked=True))).scalars())
            for row in due:
                c = await s.get(SwiftContainer, row.container_id)
                if c is not None:
                    await s.run_sync(rows.drop, c, row, dropped)
        for blob in dropped:
            await self.blobs.delete(blob)
        return len(due)

    async def reap_container(self, account: str, cname: str) -> None:
        """Expired objects go before their container is checked for emptiness."""
        c = await self.containers.get(account, cname)
        if c is None:
            return
        dropped: list[str] = []
        async with self.db.write() as s:
            due = list((await s.execute(select(SwiftObject).where(
                SwiftObject.container_id == c.id, SwiftObject.delete_at <= now()))).scalars())
            for row in due:
                await s.run_sync(rows.drop, c, row, dropped)
        for blob in dropped:
            await self.blobs.delete(blob)

    async def copy(self, caller: Caller, src: tuple[str, str, str], dst: tuple[str, str, str],
                   spec: PutSpec, *, manifest: bool = False) -> tuple[SwiftObject, ObjectView]:
        """Copy src to dst (COPY or X-Copy-From): the bytes, the source's metadata
        (unless X-Fresh-Metadata) under the request's. A large object is copied as its
        content; ``manifest`` copies the manifest itself."""
        view = await self.open(caller, *src, manifest=manifest)
        source = view.row
        meta: dict[str, str | None] = {} if spec.fresh_metadata else dict(source.meta)
        meta.update(spec.meta)
        headers = {k: v for k, v in source.headers.items() if k in ALLOWED_HEADERS}
        if not manifest:
            headers.pop("x-object-manifest", None)
        headers.update(spec.headers)
        merged = PutSpec(content_length=view.size,
                         content_type=spec.content_type or source.content_type,
                         detect_type=spec.detect_type, meta=meta, headers=headers,
                         delete_at=spec.delete_at, if_none_match=spec.if_none_match)
        slo = None
        if manifest and source.headers.get("slo"):
            entries = json.loads(await self.read_all(source.blob))
            slo = large.SloManifest(entries, source.size, source.headers.get("slo_etag", ""))
        row = await self.put(caller, *dst, self.read(view), merged, slo=slo)
        return row, view
