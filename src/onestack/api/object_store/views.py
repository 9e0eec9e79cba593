"""Swift's response shapes: listings in plain text, JSON and XML; account, container and
object headers."""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii as _q
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.object_store.common import TEXT
from onestack.core.object_store.base import (
    DEFAULT_POLICY,
    http_date,
    iso_listing,
    x_timestamp,
)
from onestack.core.object_store.containers import listed_headers
from onestack.core.object_store.objects import ObjectView
from onestack.db.models import SwiftAccount, SwiftContainer

JSON = "application/json; charset=utf-8"
XML = "application/xml; charset=utf-8"


def listing_format(req: ApiRequest) -> str:
    fmt = (req.query.get("format") or "").lower()
    if fmt in ("json", "xml", "plain", "txt", "text"):
        return "plain" if fmt in ("txt", "text") else fmt
    accept = (req.header("accept") or "").lower()
    if "application/json" in accept:
        return "json"
    if "application/xml" in accept or "text/xml" in accept:
        return "xml"
    return "plain"


def _title(key: str) -> str:
    return "-".join(part[:1].upper() + part[1:] for part in key.split("-"))


def meta_headers(kind: str, meta: dict[str, Any]) -> dict[str, str]:
    return {f"X-{kind}-Meta-{_title(k)}": str(v) for k, v in meta.items()}


def account_headers(acct: SwiftAccount, owner: bool = True) -> dict[str, str]:
    out = {
        "X-Account-Container-Count": str(acct.container_count),
        "X-Account-Object-Count": str(acct.object_count),
        "X-Account-Bytes-Used": str(acct.bytes_used),
        "X-Timestamp": x_timestamp(acct.created_at),
        "X-PUT-Timestamp": x_timestamp(acct.created_at),
        f"X-Account-Storage-Policy-{DEFAULT_POLICY}-Container-Count":
            str(acct.container_count),
        f"X-Account-Storage-Policy-{DEFAULT_POLICY}-Object-Count": str(acct.object_count),
        f"X-Account-Storage-Policy-{DEFAULT_POLICY}-Bytes-Used": str(acct.bytes_used),
    }
    meta = dict(acct.meta)
    if not owner:  # Swift's swift_owner_headers: keys only the owner sees
        meta.pop("temp-url-key", None)
        meta.pop("temp-url-key-2", None)
    out.update(meta_headers("Account", meta))
    if owner and "quota-count" in acct.sysmeta:
        out["X-Account-Quota-Count"] = str(acct.sysmeta["quota-count"])
    return out


SYSMETA_HEADERS = {"read": "X-Container-Read", "write": "X-Container-Write",
                   "versions-location": "X-Versions-Location",
                   "history-location": "X-History-Location"}


def container_headers(c: SwiftContainer, owner: bool = True) -> dict[str, str]:
    out = {
        "X-Container-Object-Count": str(c.object_count),
        "X-Container-Bytes-Used": str(c.bytes_used),
        "X-Timestamp": x_timestamp(c.created_at),
        "X-PUT-Timestamp": x_timestamp(c.put_timestamp),
        "Last-Modified": http_date(c.put_timestamp),
        "X-Storage-Policy": DEFAULT_POLICY,
        "Accept-Ranges": "bytes",
    }
    meta = dict(c.meta)
    if not owner:
        meta.pop("temp-url-key", None)
        meta.pop("temp-url-key-2", None)
    out.update(meta_headers("Container", meta))
    if owner:
        for key, header in SYSMETA_HEADERS.items():
            if c.sysmeta.get(key):
                out[header] = str(c.sysmeta[key])
    return out


def object_headers(view: ObjectView) -> dict[str, str]:
    row = view.row
    out = {
        "Content-Type": row.content_type,
        "ETag": view.etag,
        "Last-Modified": http_date(row.timestamp),
        "X-Timestamp": x_timestamp(row.timestamp),
        "Accept-Ranges": "bytes",
    }
    out.update(meta_headers("Object", row.meta))
    for key, value in row.headers.items():
        if key == "slo":
            out["X-Static-Large-Object"] = "True"
        elif key != "slo_etag":
            out[_title(key)] = str(value)
    if row.delete_at is not None:
        out["X-Delete-At"] = str(int(row.delete_at))
    return out


def _object_entry(item: Any) -> dict[str, Any]:
    if isinstance(item, str):
        return {"subdir": item}
    row = item  # a row of LISTED columns
    entry: dict[str, Any] = {"name": row.name, "hash": row.etag, "bytes": row.size,
                             "content_type": row.content_type,
                             "last_modified": iso_listing(row.timestamp)}
    stored = listed_headers(row.headers)
    slo_etag = stored.get("slo_etag")
    if slo_etag:
        entry["slo_etag"] = f'"{slo_etag}"'
    entry.update(symlink_entry(stored))
    return entry


def symlink_entry(stored: dict[str, Any]) -> dict[str, Any]:
    """A link's listing keys (Swift's symlink middleware): symlink_path, and a static
    link's symlink_etag and symlink_bytes."""
    target = stored.get("x-symlink-target")
    if not target:
        return {}
    out: dict[str, Any] = {"symlink_path": f"/v1/{stored.get('x-symlink-target-account')}/"
                                           f"{target}"}
    if stored.get("x-symlink-target-etag"):
        out["symlink_etag"] = stored["x-symlink-target-etag"]
        out["symlink_bytes"] = int(stored.get("x-symlink-target-bytes") or 0)
    return out


def _container_entry(item: Any) -> dict[str, Any]:
    if isinstance(item, str):
        return {"subdir": item}
    c: SwiftContainer = item
    return {"name": c.name, "count": c.object_count, "bytes": c.bytes_used,
            "last_modified": iso_listing(c.put_timestamp)}


def _xml(root: str, name: str, child: str, entries: list[dict[str, Any]]) -> str:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', f"<{root} name={quoteattr(name)}>"]
    for entry in entries:
        if "subdir" in entry:
            sub = entry["subdir"]
            parts.append(f"<subdir name={quoteattr(sub)}><name>{escape(sub)}</name></subdir>")
            continue
        fields = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in entry.items())
        parts.append(f"<{child}>{fields}</{child}>")
    parts.append(f"</{root}>")
    return "\n".join(parts)


def _object_json(items: list[Any]) -> str:
    """What ``json.dumps([_object_entry(i) for i in items])`` writes (Swift's separators,
    non-ASCII escaped), without a dict per object: strings through the standard library's
    own encoder function, numbers and dates as text."""
    parts = []
    for item in items:
        if isinstance(item, str):
            parts.append(f'{{"subdir": {_q(item)}}}')
            continue
        name, etag, size, ctype, ts, headers = item
        slo = ""
        if headers and headers != "{}":
            stored = listed_headers(headers)
            if etag_of := stored.get("slo_etag"):
                slo = ', "slo_etag": ' + _q(f'"{etag_of}"')
            slo += "".join(f", {_q(k)}: {json.dumps(v)}"
                           for k, v in symlink_entry(stored).items())
        parts.append(f'{{"name": {_q(name)}, "hash": {_q(etag)}, "bytes": {int(size)}, '
                     f'"content_type": {_q(ctype)}, "last_modified": "{iso_listing(ts)}"{slo}}}')
    return "[" + ", ".join(parts) + "]"


def listing(req: ApiRequest, kind: str, name: str, items: list[Any],
            headers: dict[str, str]) -> Response:
    fmt = listing_format(req)
    if fmt == "json" and kind == "container":
        return Response(_object_json(items), headers=headers, media_type=JSON)
    entries = [(_container_entry if kind == "account" else _object_entry)(i) for i in items]
    if fmt == "json":
        return Response(json.dumps(entries), headers=headers, media_type=JSON)
    if fmt == "xml":
        child = "container" if kind == "account" else "object"
        return Response(_xml(kind, name, child, entries), headers=headers, media_type=XML)
    if not entries:
        return Response(status_code=204, headers={**headers, "Content-Type": TEXT})
    names = [e.get("name", e.get("subdir", "")) for e in entries]
    return Response("\n".join(names) + "\n", headers=headers, media_type=TEXT)
