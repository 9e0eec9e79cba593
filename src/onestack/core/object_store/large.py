"""Large objects: DLO (X-Object-Manifest: container/prefix) and SLO (a JSON manifest of
segments, ``?multipart-manifest=put``). Both read as the concatenation of their segments;
their ETag is the quoted md5 of the segments' ETags, as in Swift."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from onestack.core.object_store.base import CONSTRAINTS, iso_listing
from onestack.db.models import SwiftObject
from onestack.errors import BadRequest, Conflict

# (container, object) -> the live object, or None; raises 401/403 when the caller may not read
Lookup = Callable[[str, str], Awaitable[SwiftObject | None]]
PrefixLookup = Callable[[str, str], Awaitable[list[SwiftObject]]]
BlobReader = Callable[[str], Awaitable[bytes]]


@dataclass
class Segment:
    blob: str
    offset: int
    length: int


@dataclass
class Resolved:
    kind: str  # "plain", "dlo" or "slo"
    size: int
    etag: str  # as the ETag header says it: quoted for large objects
    segments: list[Segment]


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def split_path(value: str, what: str) -> tuple[str, str]:
    """'/container/object' or 'container/object' -> (container, object)."""
    path = unquote(value).lstrip("/")
    container, _, name = path.partition("/")
    if not container or not name:
        raise BadRequest(f"{what} must be of the form <container name>/<object name>")
    return container, name


def dlo_target(value: str) -> tuple[str, str]:
    """X-Object-Manifest: 'container/prefix' (the prefix may be empty)."""
    path = unquote(value).lstrip("/")
    container, slash, prefix = path.partition("/")
    if not container or not slash or "?" in value or "&" in value:
        raise BadRequest("X-Object-Manifest must be in the format container/prefix")
    return container, prefix


async def resolve(row: SwiftObject, lookup: Lookup, by_prefix: PrefixLookup,
                  read_blob: BlobReader, depth: int = 0) -> Resolved:
    manifest = row.headers.get("x-object-manifest")
    if manifest:
        container, prefix = dlo_target(manifest)
        rows = await by_prefix(container, prefix)
        segments: list[Segment] = []
        etags = ""
        for seg in rows:
            if seg.headers.get("x-object-manifest"):
                continue  # swift skips nested DLOs in a listing
            inner = await resolve(seg, lookup, by_prefix, read_blob, depth + 1) \
                if seg.headers.get("slo") else None
            segments.extend(inner.segments if inner else [Segment(seg.blob, 0, seg.size)])
            etags += seg.headers.get("slo_etag") or seg.etag
        return Resolved("dlo", sum(s.length for s in segments), f'"{md5_hex(etags)}"',
                        segments)
    if row.headers.get("slo"):
        if depth > 10:
            raise Conflict("Max recursion depth exceeded on a static large object.")
        entries = json.loads(await read_blob(row.blob))
        segments = []
        for entry in entries:
            container, name = split_path(entry["name"], "segment")
            part = await lookup(container, name)
            if part is None:
                raise Conflict(f"Static large object segment {entry['name']} was not found.")
            wanted = entry.get("hash")
            have = part.headers.get("slo_etag") or part.etag
            if wanted and wanted != have:
                raise Conflict(f"Static large object segment {entry['name']} has changed.")
            if part.headers.get("slo"):
                inner = await resolve(part, lookup, by_prefix, read_blob, depth + 1)
                segments.extend(inner.segments)
            else:
                first, last = entry.get("range_start", 0), entry.get("range_end")
                length = (last + 1 if last is not None else part.size) - first
                segments.append(Segment(part.blob, first, length))
        return Resolved("slo", sum(s.length for s in segments),
                        f'"{row.headers.get("slo_etag", "")}"', segments)
    return Resolved("plain", row.size, row.etag, [Segment(row.blob, 0, row.size)])


def _parse_range(value: Any, size: int) -> tuple[int, int] | None:
    """An SLO segment range 'a-b' / 'a-' / '-n' -> (first, last) within size."""
    if not isinstance(value, str) or value.count("-") != 1:
        return None
    a, b = value.split("-")
    try:
        if not a:
            n = int(b)
            return (max(0, size - n), size - 1) if n > 0 else None
        first = int(a)
        last = int(b) if b else size - 1
    except ValueError:
        return None
    if first > last or first >= size:
        return None
    return first, min(last, size - 1)


@dataclass
class SloManifest:
    entries: list[dict[str, Any]]  # what is stored: name, bytes, hash, content_type...
    size: int
    etag: str  # md5 of the concatenated segment ETags (unquoted)

    def body(self) -> bytes:
        return json.dumps(self.entries).encode()


async def validate_manifest(raw: bytes, lookup: Lookup) -> SloManifest:
    """Check a multipart-manifest=put body; BadRequest listing every problem."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("Manifest must be valid JSON.") from exc
    if not isinstance(data, list) or not data:
        raise BadRequest("Manifest must be a non-empty JSON list of segments.")
    if len(data) > CONSTRAINTS.max_manifest_segments:
        raise BadRequest(f"Too many segments; max {CONSTRAINTS.max_manifest_segments}")
    errors: list[str] = []
    entries: list[dict[str, Any]] = []
    etags = ""
    for index, seg in enumerate(data):
        if not isinstance(seg, dict) or not isinstance(seg.get("path"), str):
            errors.append(f"Index {index}, Invalid segment: a dict with a path is required")
            continue
        extra = set(seg) - {"path", "etag", "size_bytes", "range"}
        if extra:
            errors.append(f"Index {index}, Invalid key(s): {', '.join(sorted(extra))}")
            continue
        path = seg["path"]
        try:
            container, name = split_path(path, "Segment path")
        except BadRequest:
            errors.append(f"{path}, Invalid path: must be /container/object")
            continue
        etag, size = seg.get("etag"), seg.get("size_bytes")
        if etag is not None and not isinstance(etag, str):
            errors.append(f"{path}, Etag must be a string or null")
            continue
        if size is not None and (not isinstance(size, int) or isinstance(size, bool)
                                 or size < 0):
            errors.append(f"{path}, Size must be a non-negative integer or null")
            continue
        target = await lookup(container, name)
        if target is None:
            errors.append(f"{path}, 404 Not Found")
            continue
        have_etag = target.headers.get("slo_etag") or target.etag
        if etag and etag.strip('"').lower() != have_etag:
            errors.append(f"{path}, Etag Mismatch")
        if size is not None and size != target.size:
            errors.append(f"{path}, Size Mismatch")
        entry: dict[str, Any] = {"name": f"/{container}/{name}", "bytes": target.size,
                                 "hash": have_etag, "content_type": target.content_type,
                                 "last_modified": iso_listing(target.timestamp)}
        length = target.size
        if "range" in seg:
            parsed = _parse_range(seg["range"], target.size)
            if parsed is None:
                errors.append(f"{path}, Unsatisfiable Range")
                continue
            entry["range_start"], entry["range_end"] = parsed
            entry["range"] = f"{parsed[0]}-{parsed[1]}"
            length = parsed[1] - parsed[0] + 1
            etags += md5_hex(f"{have_etag}:{parsed[0]}-{parsed[1]};")
        else:
            etags += have_etag
        if length < CONSTRAINTS.min_segment_size and index < len(data) - 1:
            errors.append(f"{path}, Too small; each segment must be at least "
                          f"{CONSTRAINTS.min_segment_size} byte.")
        entry["length"] = length
        entries.append(entry)
    if errors:
        raise BadRequest("Errors:\n" + "\n".join(errors))
    total = sum(e.pop("length") for e in entries)
    return SloManifest(entries, total, md5_hex(etags))


def raw_manifest(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """?multipart-manifest=get&format=raw: the manifest as it was PUT."""
    out = []
    for e in entries:
        item: dict[str, Any] = {"path": e["name"], "etag": e["hash"], "size_bytes": e["bytes"]}
        if "range" in e:
            item["range"] = e["range"]
        out.append(item)
    return out
