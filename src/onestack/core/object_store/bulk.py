"""Bulk middleware: delete many objects/containers in one request, and extract archives
(tar, tar.gz, tar.bz2) into containers and objects.

An archive is spooled to a temporary file (never held in memory), its headers are checked
(``archive.py``: bytes, member count, sparse members, new containers), and its members are
streamed into the object store one by one, through the same write path as a PUT.
"""

from __future__ import annotations

import asyncio
import json
import tarfile
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, unquote

from onestack.core.object_store import archive
from onestack.core.object_store.acl import Caller
from onestack.core.object_store.archive import ArchiveLimits
from onestack.core.object_store.base import CONSTRAINTS
from onestack.core.object_store.containers import Containers, ContainerSettings
from onestack.core.object_store.objects import Objects, PutSpec
from onestack.drivers.blob.base import CHUNK
from onestack.errors import BadRequest, NotFound, OnestackError, PayloadTooLarge

MODES = ("tar", "tar.gz", "tar.bz2")  # compression is detected from the bytes


@dataclass
class BulkResult:
    kind: str  # "delete" or "extract"
    count: int = 0
    not_found: int = 0
    errors: list[list[str]] = field(default_factory=list)
    fatal: str = ""  # when the whole request failed (e.g. not a tar file)

    def body(self) -> dict[str, Any]:
        status = ("201 Created" if self.kind == "extract" else "200 OK")
        if self.fatal:
            status = self.fatal
        elif self.errors:
            status = "400 Bad Request"
        out: dict[str, Any] = {}
        if self.kind == "delete":
            out["Number Deleted"] = self.count
            out["Number Not Found"] = self.not_found
        else:
            out["Number Files Created"] = self.count
        out["Response Body"] = ""
        out["Response Status"] = status
        out["Errors"] = self.errors
        return out


def _status(exc: OnestackError) -> str:
    return f"{exc.status} {exc.title}"


class Bulk:
    def __init__(self, containers: Containers, objects: Objects, spool_dir: Path) -> None:
        self.containers = containers
        self.objects = objects
        self.spool_dir = spool_dir

    async def delete(self, caller: Caller, account: str, lines: list[str]) -> BulkResult:
        result = BulkResult("delete")
        paths = [unquote(line.strip()) for line in lines if line.strip()]
        if len(paths) > CONSTRAINTS.max_bulk_deletes:
            raise PayloadTooLarge(f"Maximum Bulk Deletes: {CONSTRAINTS.max_bulk_deletes} "
                                  "per request")
        for path in paths:
            container, _, name = path.lstrip("/").partition("/")
            try:
                if not container:
                    raise BadRequest("Invalid path")
                if name:
                    await self.objects.delete(caller, account, container, name)
                else:
                    await self.containers.delete(caller, account, container,
                                                 reap=self.objects.reap_container)
                result.count += 1
            except NotFound:
                result.not_found += 1
            except OnestackError as exc:
                result.errors.append([quote(path), _status(exc)])
        return result

    async def _spool(self, body: AsyncIterator[bytes]) -> IO[bytes]:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        spool_dir = self.spool_dir
        fh: IO[bytes] = await asyncio.to_thread(
            lambda: tempfile.TemporaryFile("w+b", dir=spool_dir))  # noqa: SIM115
        size = 0
        try:
            async for chunk in body:
                size += len(chunk)
                if size > CONSTRAINTS.max_file_size:
                    raise PayloadTooLarge("The archive is too large.")
                await asyncio.to_thread(fh.write, chunk)
            await asyncio.to_thread(fh.seek, 0)
        except BaseException:
            fh.close()
            raise
        return fh

    async def extract(self, caller: Caller, account: str, container: str | None,
                      body: AsyncIterator[bytes], fmt: str) -> BulkResult:
        """Extract an archive: spooled to disk, its headers surveyed (sizes, count, sparse
        members, new containers) before a byte is written, then its members stored."""
        if fmt not in MODES:
            raise BadRequest(f"Unsupported archive format {fmt!r}; use tar, tar.gz or tar.bz2")
        result = BulkResult("extract")
        limits = ArchiveLimits(max_bytes=CONSTRAINTS.max_extracted_bytes,
                               max_members=CONSTRAINTS.max_objects_per_extraction,
                               max_containers=CONSTRAINTS.max_containers_per_extraction)
        fh = await self._spool(body)
        try:
            plan = await asyncio.to_thread(_survey, fh, container, limits)
            new = plan.containers - await self.containers.existing(account, plan.containers)
            archive.check_new_containers(len(new), limits)
            tar = await asyncio.to_thread(archive.open_tar, fh, limits)
            with tar:
                await self._extract_members(caller, account, container, tar, result)
        finally:
            fh.close()
        return result

    async def _extract_members(self, caller: Caller, account: str, base: str | None,
                               tar: tarfile.TarFile, result: BulkResult) -> None:
        known: set[str] = set()
        items = archive.members(tar)
        while True:
            try:
                member = await asyncio.to_thread(next, items, None)
            except BadRequest as exc:
                result.fatal = "400 Bad Request"
                result.errors.append(["", exc.message])
                return
            if member is None:
                return
            if not member.isfile():
                continue
            path = archive.member_path(member)
            if base:
                container, name = base, path
            else:
                container, _, name = path.partition("/")
            if not container or not name:
                result.errors.append([quote(path), "400 Bad Request"])
                continue
            try:
                if container not in known:
                    if await self.containers.get(account, container) is None:
                        await self.containers.put(caller, account, container, {},
                                                  ContainerSettings())
                    known.add(container)
                data = await asyncio.to_thread(tar.extractfile, member)
                if data is None:
                    continue
                await self.objects.put(caller, account, container, name, _chunks(data),
                                       PutSpec(content_length=member.size))
                result.count += 1
            except OnestackError as exc:
                result.errors.append([quote(f"/{container}/{name}"), _status(exc)])
                if len(result.errors) >= CONSTRAINTS.max_failed_extractions:
                    return


def _survey(fh: IO[bytes], base: str | None, limits: ArchiveLimits) -> archive.Survey:
    with archive.open_tar(fh, limits) as tar:
        return archive.survey(tar, base, limits)


async def _chunks(fh: IO[bytes]) -> AsyncIterator[bytes]:
    while True:
        chunk = await asyncio.to_thread(fh.read, CHUNK)
        if not chunk:
            return
        yield chunk


async def delete_slo(objects: Objects, caller: Caller, account: str, container: str,
                     name: str) -> BulkResult | None:
    """?multipart-manifest=delete: the segments, then the manifest. None: not an SLO
    (the caller deletes it as any object)."""
    c = await objects.writable(caller, account, container)
    row = await objects.find(c.id, name)
    if row is None:
        raise NotFound("The resource could not be found.")
    if not row.headers.get("slo"):
        return None
    result = BulkResult("delete")
    for entry in json.loads(await objects.read_all(row.blob)):
        seg_container, _, seg_name = str(entry["name"]).lstrip("/").partition("/")
        try:
            await objects.delete(caller, account, seg_container, seg_name)
            result.count += 1
        except NotFound:
            result.not_found += 1
        except OnestackError as exc:
            result.errors.append([quote(entry["name"]), _status(exc)])
    await objects.delete(caller, account, container, name)
    result.count += 1
    return result
