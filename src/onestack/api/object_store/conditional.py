"""HTTP conditionals and byte ranges for object reads, as Swift's swob applies them."""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator, Callable

from onestack.api.common.request import ApiRequest
from onestack.core.object_store.base import (
    NotModified,
    RangeNotSatisfiable,
    parse_http_date,
)
from onestack.errors import PreconditionFailed

MAX_RANGES = 50


def _etags(value: str) -> list[str]:
    return [v.strip().strip('"') for v in value.split(",") if v.strip()]


def check(req: ApiRequest, etag: str, timestamp: float, headers: dict[str, str]) -> None:
    """Raise NotModified (304) or PreconditionFailed (412) as the request's conditions say."""
    bare = etag.strip('"')
    modified = math.ceil(timestamp)
    if_match = req.header("if-match")
    if if_match is not None:
        tags = _etags(if_match)
        if "*" not in tags and bare not in tags:
            raise PreconditionFailed("A precondition for this request was not met.",
                                     headers={"ETag": etag})
    if_none = req.header("if-none-match")
    if if_none is not None:
        tags = _etags(if_none)
        if "*" in tags or bare in tags:
            raise NotModified(headers=not_modified_headers(headers))
    if if_match is None:
        since = req.header("if-unmodified-since")
        when = parse_http_date(since) if since else None
        if when is not None and modified > when:
            raise PreconditionFailed("A precondition for this request was not met.",
                                     headers={"ETag": etag})
    if if_none is None:
        since = req.header("if-modified-since")
        when = parse_http_date(since) if since else None
        if when is not None and modified <= when:
            raise NotModified(headers=not_modified_headers(headers))


def not_modified_headers(headers: dict[str, str]) -> dict[str, str]:
    keep = ("ETag", "Last-Modified", "Content-Type", "X-Timestamp", "Accept-Ranges")
    return {k: v for k, v in headers.items() if k in keep}


def parse_range(value: str | None, size: int) -> list[tuple[int, int]] | None:
    """[(first, last)] satisfiable ranges; None to ignore the header (absent or malformed).

    RangeNotSatisfiable (416) when it is well formed but nothing in it can be served.
    """
    if not value:
        return None
    unit, _, spec = value.strip().partition("=")
    if unit.strip().lower() != "bytes" or not spec.strip():
        return None
    ranges: list[tuple[int, int]] = []
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) > MAX_RANGES:
        return None
    for part in parts:
        first_s, dash, last_s = part.partition("-")
        if not dash:
            return None
        first_s, last_s = first_s.strip(), last_s.strip()
        if not first_s and not last_s:
            return None
        if (first_s and not first_s.isdigit()) or (last_s and not last_s.isdigit()):
            return None
        if not first_s:
            suffix = int(last_s)
            if suffix == 0:
                continue
            ranges.append((max(0, size - suffix), size - 1))
            continue
        first = int(first_s)
        if last_s and int(last_s) < first:
            return None
        if first >= size:
            continue
        last = int(last_s) if last_s else size - 1
        ranges.append((first, min(last, size - 1)))
    ranges = [r for r in ranges if r[0] <= r[1]]
    if not ranges:
        raise RangeNotSatisfiable("The Range requested is not available.",
                                  headers={"Content-Range": f"bytes */{size}"})
    return ranges


def multipart(ranges: list[tuple[int, int]], size: int, content_type: str,
              read: Callable[[int, int], AsyncIterator[bytes]]) -> tuple[
                  AsyncIterator[bytes], int, str]:
    """(body, length, content type) of a multipart/byteranges answer."""
    boundary = os.urandom(16).hex()
    heads = [(f"--{boundary}\r\nContent-Type: {content_type}\r\n"
              f"Content-Range: bytes {a}-{b}/{size}\r\n\r\n").encode() for a, b in ranges]
    tail = f"\r\n--{boundary}--".encode()
    length = sum(len(h) for h in heads) + sum(b - a + 1 for a, b in ranges) \
        + 2 * (len(ranges) - 1) + len(tail)

    async def body() -> AsyncIterator[bytes]:
        for index, ((a, b), head) in enumerate(zip(ranges, heads, strict=True)):
            yield (b"\r\n" if index else b"") + head
            async for chunk in read(a, b - a + 1):
                yield chunk
        yield tail

    return body(), length, f"multipart/byteranges;boundary={boundary}"
