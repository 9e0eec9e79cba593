"""Blobs as objects in one bucket of an S3 service (Ceph RGW, MinIO, AWS), over httpx with
the Signature Version 4 signer beside this module (no boto3 at run time).

- A blob that fits in one part is one PUT (S3 makes it visible whole or not at all); a
  longer one is a multipart upload of parts of ``part_size`` (16 MiB) or a little more (one
  part filling in memory, one in flight), completed at the end, aborted on any failure. A
  crash leaves at worst an unfinished multipart upload, which ``scan`` reports and
  ``discard`` aborts.
- ``get`` is a GET with a Range header, streamed.
- Every failure of the service (unreachable, 403, missing bucket, 5xx) is BlobUnavailable
  with a message naming the cause; the endpoint and keys are logged, never shown.
"""

from __future__ import annotations

import asyncio
import base64
import calendar
import hashlib
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from onestack.drivers.blob import sigv4
from onestack.drivers.blob.base import (
    CHUNK,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobTooLarge,
    BlobUnavailable,
    Scan,
    Unfinished,
)
from onestack.drivers.blob.filesystem import _SAFE

log = logging.getLogger("onestack.blob.s3")
PART_SIZE = 16 * 1024 * 1024
MIN_PART = 5 * 1024 * 1024
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def _tag(el: ET.Element, name: str) -> str:
    found = el.find(_NS + name)
    if found is None:
        found = el.find(name)
    return (found.text or "") if found is not None else ""


def _all(el: ET.Element, name: str) -> list[ET.Element]:
    return el.findall(_NS + name) or el.findall(name)


def _when(text: str) -> float:
    """S3's ISO 8601 times (2026-12-07T11:30:00.000Z) as Unix time."""
    return float(calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")))


def _code(body: bytes) -> str:
    try:
        return _tag(ET.fromstring(body), "Code")
    except ET.ParseError:
        return ""


class S3BlobStore(BlobStore):
    def __init__(self, endpoint: str, bucket: str, access_key: str, secret_key: str,
                 region: str = "us-east-1", part_size: int = PART_SIZE,
                 timeout: float = 30.0) -> None:
        if part_size < MIN_PART:
            raise ValueError(f"part_size must be at least {MIN_PART} bytes")
        url = urlsplit(endpoint)
        self.endpoint = endpoint.rstrip("/")
        self.host = url.netloc
        self.base = url.path.rstrip("/")
        self.bucket = bucket
        self.region = region
        self.part_size = part_size
        self._keys = (access_key, secret_key)
        self._timeout = timeout
        self._clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}

    # --- HTTP ----------------------------------------------------------------------------
    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            for old in [lp for lp in self._clients if lp.is_closed()]:
                del self._clients[old]
            client = self._clients[loop] = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 5.0)))
        return client

    def _path(self, key: str | None) -> str:
        path = f"{self.base}/{quote(self.bucket, safe='')}"
        if key is not None:
            if not _SAFE.fullmatch(key) or ".." in key.split("/"):
                raise ValueError(f"unsafe blob key {key!r}")
            path += "/" + quote(key, safe="/")
        return path

    def _request(self, method: str, key: str | None, params: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None, content: Any = None,
                 payload: str = sigv4.UNSIGNED) -> httpx.Request:
        path = self._path(key)
        params = params or {}
        signed = sigv4.sign(method, self.host, path, params, headers or {},
                            access_key=self._keys[0], secret_key=self._keys[1],
                            region=self.region, payload=payload)
        query = sigv4.canonical_query(params)
        url = f"{self.endpoint[:len(self.endpoint) - len(self.base)]}{path}"
        return self._client().build_request(method, url + (f"?{query}" if query else ""),
                                            headers=signed, content=content)

    def _unavailable(self, what: str, exc: Exception | None = None,
                     resp: httpx.Response | None = None, body: bytes = b"") -> BlobUnavailable:
        if resp is None:
            cause = "the S3 service cannot be reached"
        else:
            code = _code(body)
            if code == "NoSuchBucket":
                cause = f"its bucket {self.bucket!r} does not exist"
            elif resp.status_code == 403:
                cause = f"the S3 service refused the credentials ({code or 403})"
            else:
                cause = f"the S3 service answered {resp.status_code} {code}".rstrip()
        log.warning("s3 blob store %s (bucket %s): %s %s: %s", self.endpoint, self.bucket,
                    what, cause, exc or "")
        return BlobUnavailable(f"Object storage backend unavailable: {cause}.")

    async def _send(self, method: str, key: str | None, *, ok: tuple[int, ...] = (200,),
                    **kw: Any) -> httpx.Response:
        """Send, read the body; a status outside ``ok`` (and not 404 on a key) raises."""
        try:
            resp = await self._client().send(self._request(method, key, **kw))
            body = await resp.aread()
        except httpx.HTTPError as exc:
            raise self._unavailable(method, exc) from exc
        if resp.status_code in ok:
            return resp
        if resp.status_code == 404 and key is not None and _code(body) != "NoSuchBucket":
            if method == "HEAD":  # no body to tell a missing key from a missing bucket
                await self._send("HEAD", None)
            raise BlobNotFound(key)
        if method == "HEAD" and resp.status_code == 404:
            body = b"<Error><Code>NoSuchBucket</Code></Error>"
        raise self._unavailable(method, resp=resp, body=body)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    # --- the contract --------------------------------------------------------------------
    async def put(self, key: str, data: AsyncIterator[bytes],
                  max_size: int | None = None, sha512: bool = True) -> BlobInfo:
        self._path(key)
        md5 = hashlib.md5(usedforsecurity=False)
        sha = hashlib.sha512() if sha512 else None
        size = 0
        buf: list[bytes] = []
        buffered = 0
        upload: _Upload | None = None
        try:
            async for chunk in data:
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise BlobTooLarge(f"more than {max_size} bytes")
                md5.update(chunk)
                if sha is not None:
                    sha.update(chunk)
                buf.append(chunk)
                buffered += len(chunk)
                if buffered >= self.part_size:
                    if upload is None:
                        upload = await _Upload.begin(self, key)
                    # parts need not be equal: one a little over part_size saves a copy
                    block, buf, buffered = b"".join(buf), [], 0
                    await upload.add(block)
            last = b"".join(buf)
            if upload is None:
                await self._send("PUT", key, content=last, headers={
                    "content-length": str(len(last)),
                    "content-md5": base64.b64encode(md5.digest()).decode()})
            else:
                if last:
                    await upload.add(last)
                await upload.complete()
        except BaseException:
            if upload is not None:
                await asyncio.shield(upload.abort())
            raise
        return BlobInfo(size, md5.hexdigest(), sha.hexdigest() if sha else "")

    async def get(self, key: str, offset: int = 0, length: int | None = None
                  ) -> AsyncIterator[bytes]:
        if length == 0:
            return
        end = "" if length is None else str(offset + length - 1)
        headers = {"range": f"bytes={offset}-{end}"} if offset or length is not None else {}
        try:
            resp = await self._client().send(self._request("GET", key, headers=headers),
                                             stream=True)
        except httpx.HTTPError as exc:
            raise self._unavailable("GET", exc) from exc
        try:
            if resp.status_code == 416:  # a range past the end: nothing to read
                return
            if resp.status_code not in (200, 206):
                body = await resp.aread()
                if resp.status_code == 404 and _code(body) != "NoSuchBucket":
                    raise BlobNotFound(key)
                raise self._unavailable("GET", resp=resp, body=body)
            try:
                async for chunk in resp.aiter_bytes(CHUNK):
                    yield chunk
            except httpx.HTTPError as exc:
                raise self._unavailable("GET", exc) from exc
        finally:
            await resp.aclose()

    async def size(self, key: str) -> int:
        resp = await self._send("HEAD", key)
        return int(resp.headers.get("content-length", "0"))

    async def delete(self, key: str) -> None:
        await self._send("DELETE", key, ok=(200, 204, 404))

    async def exists(self, key: str) -> bool:
        try:
            await self._send("HEAD", key)
        except BlobNotFound:
            return False
        return True

    # --- the sweep -----------------------------------------------------------------------
    async def _pages(self, params: dict[str, str], item: str, marker_keys: tuple[str, ...]
                     ) -> AsyncIterator[ET.Element]:
        params = dict(params)
        while True:
            root = ET.fromstring((await self._send("GET", None, params=params)).content)
            for el in _all(root, item):
                yield el
            if _tag(root, "IsTruncated") != "true":
                return
            for name in marker_keys:
                params[_param(name)] = _tag(root, name)

    async def scan(self) -> Scan:
        found = Scan({}, [])
        async for el in self._pages({"list-type": "2"}, "Contents",
                                    ("NextContinuationToken",)):
            found.blobs[_tag(el, "Key")] = _when(_tag(el, "LastModified"))
        async for el in self._pages({"uploads": ""}, "Upload",
                                    ("NextKeyMarker", "NextUploadIdMarker")):
            found.unfinished.append(Unfinished(f"{_tag(el, 'UploadId')} {_tag(el, 'Key')}",
                                               _when(_tag(el, "Initiated"))))
        return found

    async def discard(self, item: Unfinished) -> None:
        upload_id, _, key = item.ref.partition(" ")
        await self._send("DELETE", key, params={"uploadId": upload_id}, ok=(200, 204, 404))

    async def create_bucket(self) -> None:
        """Create the bucket (tests; operators create it with their own tools)."""
        await self._send("PUT", None, ok=(200, 409))


def _param(marker: str) -> str:
    return {"NextContinuationToken": "continuation-token", "NextKeyMarker": "key-marker",
            "NextUploadIdMarker": "upload-id-marker"}[marker]


class _Upload:
    """One multipart upload: parts sent one at a time, the next filling meanwhile."""

    def __init__(self, store: S3BlobStore, key: str, upload_id: str) -> None:
        self.store = store
        self.key = key
        self.upload_id = upload_id
        self.etags: list[str] = []
        self.pending: asyncio.Task[None] | None = None

    @classmethod
    async def begin(cls, store: S3BlobStore, key: str) -> _Upload:
        resp = await store._send("POST", key, params={"uploads": ""})
        return cls(store, key, _tag(ET.fromstring(resp.content), "UploadId"))

    async def _part(self, number: int, block: bytes) -> None:
        digest = base64.b64encode(hashlib.md5(block, usedforsecurity=False).digest()).decode()
        resp = await self.store._send(
            "PUT", self.key, params={"partNumber": str(number), "uploadId": self.upload_id},
            content=block, headers={"content-length": str(len(block)), "content-md5": digest})
        self.etags[number - 1] = resp.headers.get("etag", "")

    async def _wait(self) -> None:
        if self.pending is not None:
            task, self.pending = self.pending, None
            await task

    async def add(self, block: bytes) -> None:
        await self._wait()
        self.etags.append("")
        self.pending = asyncio.ensure_future(self._part(len(self.etags), block))

    async def complete(self) -> None:
        await self._wait()
        body = "<CompleteMultipartUpload>" + "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
            for n, e in enumerate(self.etags, 1)) + "</CompleteMultipartUpload>"
        resp = await self.store._send("POST", self.key, params={"uploadId": self.upload_id},
                                      content=body.encode())
        if b"<Error>" in resp.content:  # S3 may report a failed completion inside a 200
            raise self.store._unavailable("complete", resp=resp, body=resp.content)

    async def abort(self) -> None:
        if self.pending is not None:
            self.pending.cancel()
            await asyncio.gather(self.pending, return_exceptions=True)
        try:
            await self.store._send("DELETE", self.key, params={"uploadId": self.upload_id},
                                   ok=(200, 204, 404))
        except Exception:  # the sweep aborts it later
            log.warning("could not abort multipart upload %s of %s", self.upload_id, self.key)
