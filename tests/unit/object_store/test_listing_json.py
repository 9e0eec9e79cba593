"""The container listing's JSON is written without a dict per object: it must be exactly
what json.dumps of the entries (Swift's own encoding) gives."""

from __future__ import annotations

import json
from collections import namedtuple

from onestack.api.object_store import views
from onestack.core.object_store.base import iso_listing

Row = namedtuple("Row", "name etag size content_type timestamp headers")  # LISTED's columns
ROWS = [Row(*r) for r in [
    ("plain", "d41d8cd98f00b204e9800998ecf8427e", 0, "application/octet-stream",
     1765123456.0343, None),
    ('quo"te\\back/slash\n\ttab', "abc", 12345678901, 'text/plain; charset="utf-8"',
     1765123456.9999996, "{}"),
    ("ünïcødé-日本-\U0001f600", "e" * 32, 7, "image/ünï", 0.5, '{"slo_etag": "f00"}'),
    ("manifest", '"quoted"', 3, "x", 1765123456.25, {"slo_etag": "b4r", "other": 1}),
    ("headers-without-slo", "e", 1, "x", 1765123457.0, '{"x-object-manifest": "c/p"}'),
    ("ctl\x01\x1f", "e", 1, "x", 1.000001, None),
]]


def _reference(items: list[object]) -> str:
    return json.dumps([views._object_entry(i) for i in items])


def test_object_listing_json_is_the_standard_encoding() -> None:
    items: list[object] = [*ROWS[:3], "sub/dir/", "ünï/", *ROWS[3:]]
    assert views._object_json(items) == _reference(items)
    assert views._object_json([]) == "[]"
    decoded = json.loads(views._object_json(items))
    assert decoded[2]["name"] == "ünïcødé-日本-\U0001f600"
    assert decoded[3] == {"subdir": "sub/dir/"}
    assert decoded[5]["slo_etag"] == '"b4r"'
    assert decoded[0]["last_modified"] == iso_listing(ROWS[0][4])
