"""A link's listing entry (symlink_path; a static link's symlink_etag and symlink_bytes) is
the same in the fast JSON writer as in json.dumps of the entries."""

from __future__ import annotations

import json
from collections import namedtuple

from onestack.api.object_store import views

Row = namedtuple("Row", "name etag size content_type timestamp headers")
LINKS = [
    Row("link", "d41d8cd98f00b204e9800998ecf8427e", 0, "application/symlink", 1765123456.5,
        '{"x-symlink-target": "c/o ü", "x-symlink-target-account": "AUTH_p"}'),
    Row("static", "d41d8cd98f00b204e9800998ecf8427e", 0, "application/symlink", 1.25,
        {"x-symlink-target": "c/o", "x-symlink-target-account": "AUTH_q",
         "x-symlink-target-etag": "abc", "x-symlink-target-bytes": "42"}),
]


def test_link_entries() -> None:
    assert views._object_json(LINKS) == json.dumps([views._object_entry(r) for r in LINKS])
    first, second = json.loads(views._object_json(LINKS))
    assert first["symlink_path"] == "/v1/AUTH_p/c/o ü" and "symlink_etag" not in first
    assert (second["symlink_etag"], second["symlink_bytes"]) == ("abc", 42)
