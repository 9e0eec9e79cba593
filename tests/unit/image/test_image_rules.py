"""Pure image rules: JSON-patch semantics, query parsing, format sniffing, ranges."""

from __future__ import annotations

import pytest

from onestack.api.image.data import RangeNotSatisfiable, parse_range
from onestack.core.image import listing, patch
from onestack.errors import BadRequest, Conflict, Forbidden


def _state() -> patch.ImageState:
    return patch.ImageState({"name": "a", "visibility": "private"}, {"k": "v"}, ["t"])


def test_patch_both_dialects() -> None:
    v21 = patch.parse_changes([{"op": "add", "path": "/name", "value": "b"}], False)
    v20 = patch.parse_changes([{"add": "/name", "value": "b"}], True)
    assert v21[0].path == v20[0].path == "name"
    state = _state()
    patch.apply(state, v21)
    assert state.base["name"] == "b"
    with pytest.raises(Conflict):
        patch.apply(_state(), v20)  # v2.0: add on an existing attribute conflicts


@pytest.mark.parametrize(("change", "error"), [
    ({"op": "replace", "path": "/status", "value": "active"}, Forbidden),
    ({"op": "add", "path": "/os_glance_x", "value": "1"}, Forbidden),
    ({"op": "remove", "path": "/name"}, Forbidden),
    ({"op": "remove", "path": "/missing"}, Conflict),
    ({"op": "replace", "path": "/missing", "value": "1"}, Conflict),
])
def test_patch_refusals(change: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        patch.apply(_state(), patch.parse_changes([change], False))


@pytest.mark.parametrize("body", [{}, [1], [{"op": "move", "path": "/a", "value": 1}],
                                  [{"op": "add", "path": "/a"}], [{"op": "add", "path": "a",
                                                                   "value": 1}],
                                  [{"op": "remove", "path": "/a/b"}],
                                  [{"op": "add", "path": "/" + "p" * 256, "value": "x"}]])
def test_patch_malformed(body: object) -> None:
    with pytest.raises(BadRequest):
        patch.parse_changes(body, False)


def test_patch_extras_and_tags() -> None:
    state = _state()
    patch.apply(state, patch.parse_changes([
        {"op": "add", "path": "/new", "value": "x"}, {"op": "remove", "path": "/k"},
        {"op": "replace", "path": "/tags", "value": ["b", "a", "b"]}], False))
    assert state.properties == {"new": "x"} and state.tags == ["b", "a"]


def test_listing_parse() -> None:
    q = listing.parse([("sort", "size:asc,name"), ("limit", "5000"), ("tag", "a"),
                       ("tag", "b"), ("created_at", "gte:2020-01-01T00:00:00Z")])
    assert q.sort == [("size", "asc"), ("name", "desc")]
    assert q.limit == listing.MAX_LIMIT
    assert len(q.conditions) == 4  # two tags, a time, and os_hidden=false
    q = listing.parse([("sort_key", "name"), ("sort_key", "size"), ("sort_dir", "asc")])
    assert q.sort == [("name", "asc"), ("size", "asc")]
    for bad in ([("sort", "x:asc")], [("sort", "name:up")], [("sort", "name"),
                                                              ("sort_key", "size")],
                [("limit", "-2")], [("protected", "maybe")], [("created_at", "gt:never")],
                [("member_status", "other")], [("size_min", str(2**64))],
                [("min_ram", str(2**40))]):
        with pytest.raises(BadRequest):
            listing.parse(bad)


def test_ranges() -> None:
    assert parse_range(None, 10) is None
    assert parse_range("bytes=2-4", 10) == (2, 4)
    assert parse_range("bytes=5-", 10) == (5, 9)
    assert parse_range("bytes=-3", 10) == (7, 9)
    assert parse_range("bytes=8-100", 10) == (8, 9)
    for bad in ("bytes=10-", "bytes=4-2", "bytes=0-1,3-4", "items=0-1", "bytes=-"):
        with pytest.raises(RangeNotSatisfiable):
            parse_range(bad, 10)
