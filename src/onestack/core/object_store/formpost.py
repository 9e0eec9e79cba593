"""FormPost: browsers upload files straight into a container with an HTML form signed by
the account's or container's temp-URL key (Swift's formpost middleware).

The form's fields (redirect, max_file_size, max_file_count, expires, signature, and
optionally x_delete_at / x_delete_after) come before its files. The signature is an HMAC
(sha1, sha256 or sha512; hex or ``<digest>:<base64>``) of
``<path>\\n<redirect>\\n<max_file_size>\\n<max_file_count>\\n<expires>``. Each file becomes
the object ``<path's object prefix><filename>``, streamed through as any upload is.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import Message

from onestack.core.object_store.acl import Caller, TempUrlScope
from onestack.core.object_store.objects import Objects, PutSpec
from onestack.core.object_store.tempurl import DIGESTS, TempUrls, _signature
from onestack.errors import BadRequest, OnestackError, Unauthorized

MAX_VALUE_LENGTH = 4096
MAX_HEADER_BYTES = 16384


class FormInvalid(BadRequest):
    """A 400 whose message Swift prefixes with ``FormPost: ``."""


class FormUnauthorized(Unauthorized):
    pass


@dataclass
class FormResult:
    status: int
    reason: str
    message: str
    redirect: str | None


class MultipartReader:
    """A streaming multipart/form-data reader: parts one at a time, each body streamed."""

    def __init__(self, body: AsyncIterator[bytes], boundary: str) -> None:
        self._it = body.__aiter__()
        self._buf = bytearray()
        self._delim = b"\r\n--" + boundary.encode("latin-1")
        self._done = False
        self._eof = False

    async def _more(self) -> bool:
        if self._eof:
            return False
        try:
            self._buf.extend(await self._it.__anext__())
            return True
        except StopAsyncIteration:
            self._eof = True
            return False

    async def start(self) -> None:
        self._buf.extend(b"\r\n")  # the first delimiter has no CRLF before it
        while (at := self._buf.find(self._delim)) < 0:
            if len(self._buf) > MAX_HEADER_BYTES or not await self._more():
                raise FormInvalid("invalid starting boundary")
        del self._buf[:at + len(self._delim)]
        await self._after_delimiter()

    async def _after_delimiter(self) -> None:
        while len(self._buf) < 2:
            if not await self._more():
                self._done = True
                return
        if self._buf[:2] == b"--":
            self._done = True
        elif self._buf[:2] == b"\r\n":
            del self._buf[:2]
        else:
            raise FormInvalid("invalid boundary")

    async def next_headers(self) -> Message | None:
        """The next part's headers; None after the last part."""
        if self._done:
            return None
        while (at := self._buf.find(b"\r\n\r\n")) < 0:
            if len(self._buf) > MAX_HEADER_BYTES or not await self._more():
                raise FormInvalid("malformed part headers")
        raw = bytes(self._buf[:at]).decode("utf-8", "replace")
        del self._buf[:at + 4]
        msg = Message()
        for line in raw.split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                msg[name.strip()] = value.strip()
        return msg

    async def body(self) -> AsyncIterator[bytes]:
        """The current part's bytes (read it through before asking for the next part)."""
        keep = len(self._delim)
        while True:
            at = self._buf.find(self._delim)
            if at >= 0:
                if at:
                    yield bytes(self._buf[:at])
                del self._buf[:at + len(self._delim)]
                await self._after_delimiter()
                return
            if len(self._buf) > keep:
                out = bytes(self._buf[:-keep])
                del self._buf[:-keep]
                yield out
            if not await self._more():
                raise FormInvalid("the form ended inside a part")


def _disposition(msg: Message) -> tuple[str, dict[str, str]]:
    value = msg.get("content-disposition", "")
    kind, _, rest = value.partition(";")
    attrs: dict[str, str] = {}
    for item in rest.split(";"):
        key, sep, val = item.strip().partition("=")
        if sep:
            attrs[key.strip().lower()] = val.strip().strip('"')
    return kind.strip().lower(), attrs


async def _capped(body: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    size = 0
    async for chunk in body:
        size += len(chunk)
        if size > limit:
            raise FormInvalid("max_file_size exceeded")
        yield chunk


def _int(attrs: dict[str, str], key: str, what: str) -> int:
    try:
        return int(attrs.get(key) or 0)
    except ValueError as exc:
        raise FormInvalid(f"{what} not an integer") from exc


def _signed(attrs: dict[str, str], keys: list[str], paths: list[str]) -> bool:
    parsed = _signature(attrs.get("signature") or "")
    if parsed is None:
        return False
    digest, wanted = parsed
    for path in paths:
        body = "\n".join([path, attrs.get("redirect") or "", attrs.get("max_file_size") or "0",
                          attrs.get("max_file_count") or "0", attrs.get("expires") or "0"])
        for key in keys:
            mac = hmac.new(key.encode(), body.encode(), DIGESTS[digest]).digest()
            if hmac.compare_digest(mac, wanted):
                return True
    return False


class FormPost:
    def __init__(self, objects: Objects, tempurls: TempUrls) -> None:
        self.objects = objects
        self.tempurls = tempurls

    async def post(self, account: str, container: str, prefix: str, boundary: str,
                   body: AsyncIterator[bytes], paths: list[str]) -> FormResult:
        """Store the form's files. ``paths``: the request path as the form may have been
        signed for it (with and without the service prefix)."""
        reader = MultipartReader(body, boundary)
        await reader.start()
        keys = await self.tempurls.keys(account, container)
        attrs: dict[str, str] = {}
        status, reason, message = 0, "", ""
        count = 0
        while (headers := await reader.next_headers()) is not None:
            kind, disp = _disposition(headers)
            if kind == "form-data" and disp.get("filename") is not None:
                count += 1
                if count > _int(attrs, "max_file_count", "max_file_count"):
                    status, reason, message = 400, "Bad Request", "max file count exceeded"
                    break
                status, reason = await self._file(account, container, prefix, attrs, disp,
                                                  headers, reader, keys, paths)
                if status >= 300:
                    break
                continue
            value = b""
            async for chunk in reader.body():
                if len(value) < MAX_VALUE_LENGTH:
                    value += chunk[:MAX_VALUE_LENGTH - len(value)]
            if "name" in disp:
                attrs[disp["name"].lower()] = value.decode("utf-8", "replace").rstrip("\r\n-")
        if not status:
            status, reason, message = 400, "Bad Request", "no files to process"
        return FormResult(status, reason, message, attrs.get("redirect") or None)

    async def _file(self, account: str, container: str, prefix: str, attrs: dict[str, str],
                    disp: dict[str, str], headers: Message, reader: MultipartReader,
                    keys: list[str], paths: list[str]) -> tuple[int, str]:
        if not keys:
            raise FormUnauthorized("invalid signature")
        max_size = _int(attrs, "max_file_size", "max_file_size")
        delete_at: float | None = None
        if attrs.get("x_delete_at"):
            delete_at = float(_int(attrs, "x_delete_at", "x_delete_at"))
        if attrs.get("x_delete_after"):
            delete_at = float(int(time.time()) + _int(attrs, "x_delete_after",
                                                      "x_delete_after"))
        if _int(attrs, "expires", "expired") < time.time():
            raise FormUnauthorized("form expired")
        if not _signed(attrs, keys, paths):
            raise FormUnauthorized("invalid signature")
        name = prefix + (disp.get("filename") or "filename")
        spec = PutSpec(content_type=attrs.get("content-type") or headers.get("content-type")
                       or "application/octet-stream", delete_at=delete_at)
        try:
            await self.objects.put(Caller(tempurl=TempUrlScope(account, container)),
                                   account, container, name,
                                   _capped(reader.body(), max_size), spec)
        except FormInvalid:
            raise
        except OnestackError as exc:
            return exc.status, exc.title
        return 201, "Created"
