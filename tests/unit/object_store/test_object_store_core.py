"""The object store's rules without HTTP: ACLs, listings, ranges, temp URLs, and a write
path on SQLite with the in-memory blob store."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from onestack.api.object_store.conditional import parse_range
from onestack.config import load_settings
from onestack.core.object_store import objects as objects_module
from onestack.core.object_store.acl import (
    Caller,
    TempUrlScope,
    group_allowed,
    may_list,
    may_read_object,
    may_write_object,
    parse_acl,
    referrer_allowed,
)
from onestack.core.object_store.base import RangeNotSatisfiable, meta_updates
from onestack.core.object_store.containers import ContainerSettings
from onestack.core.object_store.listing import ListParams, bump
from onestack.core.object_store.objects import PutSpec
from onestack.core.object_store.service import ObjectStore
from onestack.core.object_store.tempurl import TempUrlQuery, _signature
from onestack.db import migrate
from onestack.db.engine import Database
from onestack.drivers.blob import MemoryBlobStore
from onestack.errors import BadRequest, Forbidden, PayloadTooLarge, PreconditionFailed


def test_acl_parsing_and_matching() -> None:
    acl = parse_acl(".r:*, .rlistings, p1:u1, p2:*, reader")
    assert acl.referrers == ("*",) and acl.listings
    assert acl.groups == ("p1:u1", "p2:*", "reader")
    with pytest.raises(BadRequest):
        parse_acl(".bogus:x")
    with pytest.raises(BadRequest):
        parse_acl(".r:")
    assert referrer_allowed(None, ("*",))
    assert not referrer_allowed("http://evil.example", ("*", "-evil.example"))
    assert referrer_allowed("http://a.example.com/x", (".example.com",))
    who = Caller(user_id="u1", user_name="bob", project_id="p9", project_name="proj",
                 roles=["member"])
    assert group_allowed(who, ("p9:*",)) and group_allowed(who, ("proj:bob",))
    assert group_allowed(who, ("*:u1",)) and group_allowed(who, ("member",))
    assert not group_allowed(who, ("p1:u1",))
    assert who.owns("AUTH_p9") and not who.owns("AUTH_p1")
    assert Caller(reseller=True, user_id="r").owns("AUTH_anything")


def test_meta_updates_and_list_params() -> None:
    headers = {"X-Container-Meta-Color": "red", "X-Remove-Container-Meta-Size": "x",
               "X-Container-Meta-Empty": "  "}
    assert meta_updates(headers, "container") == {"color": "red", "size": None,
                                                  "empty": None}
    p = ListParams.from_query({"limit": "5", "reverse": "true", "prefix": "a"})
    assert (p.limit, p.reverse, p.prefix) == (5, True, "a")
    with pytest.raises(PreconditionFailed):
        ListParams.from_query({"limit": "10001"})
    assert bump("a/") == "a0" and bump("") is None and bump("\U0010ffff") is None


def test_ranges() -> None:
    assert parse_range(None, 10) is None
    assert parse_range("bytes=0-4", 10) == [(0, 4)]
    assert parse_range("bytes=-3", 10) == [(7, 9)]
    assert parse_range("bytes=8-", 10) == [(8, 9)]
    assert parse_range("bytes=0-1,4-5", 10) == [(0, 1), (4, 5)]
    assert parse_range("bytes=5-2", 10) is None
    assert parse_range("items=0-1", 10) is None
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=20-", 10)


def test_tempurl_signatures() -> None:
    assert _signature("0" * 40) == ("sha1", bytes(20))
    assert _signature("sha512:" + "A" * 86) is not None
    assert _signature("bogus") is None
    q = TempUrlQuery.parse({"temp_url_sig": "x", "temp_url_expires": "2030-01-01T00:00:00Z"})
    assert q is not None and q.expires == 1893456000
    assert TempUrlQuery.parse({"temp_url_sig": "x"}) is None


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_write_path_counters_quotas_versions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate.upgrade(url)
    db = Database(url)
    os_ = ObjectStore(load_settings(None, data_dir=tmp_path), db, blobs=MemoryBlobStore())
    owner = Caller(user_id="u", project_id="p", roles=["member"])
    other = Caller(user_id="v", project_id="q", roles=["member"])
    try:
        assert await os_.containers.put(owner, "AUTH_p", "c", {"quota-count": "2"},
                                        ContainerSettings())
        await os_.containers.put(owner, "AUTH_p", "v", {}, ContainerSettings())
        await os_.containers.post(owner, "AUTH_p", "c", {},
                                  ContainerSettings({"versions-location": "v"}))
        with pytest.raises(Forbidden):
            await os_.containers.put(other, "AUTH_p", "x", {}, ContainerSettings())
        await os_.objects.put(owner, "AUTH_p", "c", "o", _body(b"one"), PutSpec(3))
        await os_.objects.put(owner, "AUTH_p", "c", "o", _body(b"two!"), PutSpec(4))
        c = await os_.containers.require("AUTH_p", "c")
        assert (c.object_count, c.bytes_used) == (1, 4)
        acct = await os_.containers.account("AUTH_p")
        assert (acct.container_count, acct.object_count, acct.bytes_used) == (2, 2, 7)
        view = await os_.objects.open(owner, "AUTH_p", "c", "o")
        assert b"".join([x async for x in os_.objects.read(view)]) == b"two!"
        assert view.etag == hashlib.md5(b"two!", usedforsecurity=False).hexdigest()
        await os_.objects.put(owner, "AUTH_p", "c", "p", _body(b""), PutSpec(0))
        with pytest.raises(PayloadTooLarge):
            await os_.objects.put(owner, "AUTH_p", "c", "q", _body(b""), PutSpec(0))
        await os_.objects.delete(owner, "AUTH_p", "c", "o")
        view = await os_.objects.open(owner, "AUTH_p", "c", "o")
        assert b"".join([x async for x in os_.objects.read(view)]) == b"one"
        await os_.objects.post(owner, "AUTH_p", "c", "p",
                               PutSpec(delete_at=time.time() - 1))
        assert await os_.objects.reap() == 1
        key = "k"
        await os_.containers.update_account(owner, "AUTH_p", {"temp-url-key": key}, {})
        expires = int(time.time()) + 60
        path = "/v1/AUTH_p/c/o"
        sig = hmac.new(key.encode(), f"GET\n{expires}\n{path}".encode(),
                       hashlib.sha256).hexdigest()
        query = TempUrlQuery(sig, expires)
        assert await os_.tempurls.allows(query, "GET", "AUTH_p", "c", "o", [path])
        assert await os_.tempurls.allows(query, "HEAD", "AUTH_p", "c", "o", [path])
        assert not await os_.tempurls.allows(query, "PUT", "AUTH_p", "c", "o", [path])
    finally:
        await os_.stop()
        await db.close()


def test_owners_readers_and_temp_url_scopes() -> None:
    member = Caller(user_id="u", project_id="p", roles=["member", "reader"])
    reader = Caller(user_id="r", project_id="p", roles=["reader"])
    other_role = Caller(user_id="o", project_id="p", roles=["load-balancer_observer"])
    for who, owns, reads in ((member, True, True), (reader, False, True),
                             (other_role, False, False)):
        assert (who.owns("AUTH_p"), who.reads("AUTH_p")) == (owns, reads)
        assert not who.reads("AUTH_q")
    assert may_read_object(reader, "AUTH_p", "c", None)
    assert not may_write_object(reader, "AUTH_p", "c", None)
    account_url = Caller(tempurl=TempUrlScope("AUTH_p"))
    container_url = Caller(tempurl=TempUrlScope("AUTH_p", "c"))
    assert may_read_object(account_url, "AUTH_p", "segments", None)
    assert not may_read_object(account_url, "AUTH_q", "c", None)
    assert may_write_object(container_url, "AUTH_p", "c", None)
    assert not may_read_object(container_url, "AUTH_p", "segments", None)
    assert not may_list(account_url, "AUTH_p", None)


async def test_a_body_without_a_length_stops_at_the_largest_object(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(objects_module, "CONSTRAINTS",
                        dataclasses.replace(objects_module.CONSTRAINTS, max_file_size=10))
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate.upgrade(url)
    db = Database(url)
    os_ = ObjectStore(load_settings(None, data_dir=tmp_path), db, blobs=MemoryBlobStore())
    owner = Caller(user_id="u", project_id="p", roles=["member"])
    try:
        await os_.containers.put(owner, "AUTH_p", "c", {}, ContainerSettings())
        await os_.objects.put(owner, "AUTH_p", "c", "fits", _body(b"x" * 10), PutSpec())
        with pytest.raises(PayloadTooLarge, match="too large"):
            await os_.objects.put(owner, "AUTH_p", "c", "big", _body(b"x" * 11), PutSpec())
        assert (await os_.containers.require("AUTH_p", "c")).object_count == 1
    finally:
        await os_.stop()
        await db.close()
