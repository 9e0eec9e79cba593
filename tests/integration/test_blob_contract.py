"""The blob store contract (drivers/blob/base.py), kept by the filesystem store and by the s3
store on a throwaway Ceph RGW (tests/support/rgw.py): whole and ranged reads, multipart
writes past the part size, size limits that store nothing, idempotent deletes, the sweep's
listing of blobs and unfinished writes, and a backend that fails as BlobUnavailable."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from onestack.drivers.blob import BlobStore, FilesystemBlobStore, S3BlobStore
from onestack.drivers.blob.base import BlobNotFound, BlobTooLarge, BlobUnavailable
from onestack.drivers.blob.s3 import MIN_PART
from tests.support import rgw as rgw_support
from tests.support.ceph import free_port

pytestmark = pytest.mark.integration
PART = MIN_PART  # the smallest part S3 allows: multipart with little data


def rgw_or_skip() -> rgw_support.Rgw:
    why = rgw_support.skip_reason()
    if why:
        if os.environ.get("CI") and os.geteuid() == 0:
            pytest.fail(f"{why}: required in CI (scripts/setup-env.sh --test)")
        pytest.skip(why)
    return rgw_support.shared_rgw()


@pytest.fixture(scope="session")
def rgw() -> Iterator[rgw_support.Rgw]:
    yield rgw_or_skip()


def s3_store(rgw: rgw_support.Rgw, **kw: Any) -> S3BlobStore:
    conf: dict[str, Any] = {
        "endpoint": rgw.endpoint, "bucket": rgw.bucket, "access_key": rgw.access_key,
        "secret_key": rgw.secret_key, "region": rgw.region, "part_size": PART, **kw}
    return S3BlobStore(**conf)


@pytest.fixture(params=["filesystem", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    if request.param == "filesystem":
        yield FilesystemBlobStore(tmp_path / "blobs")
        return
    s = s3_store(request.getfixturevalue("rgw"))
    await s.create_bucket()
    yield s
    await s.close()


async def body(data: bytes, piece: int = 256 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i:i + piece]


async def read(store: BlobStore, key: str, offset: int = 0, length: int | None = None
               ) -> bytes:
    return b"".join([c async for c in store.get(key, offset, length)])


def key() -> str:
    return f"acct/0123456789abcdef/{uuid.uuid4().hex}"


async def test_put_get_ranges_delete(store: BlobStore) -> None:
    data = os.urandom(100_000)
    k = key()
    info = await store.put(k, body(data))
    assert (info.size, info.md5, info.sha512) == (len(data), hashlib.md5(data).hexdigest(),
                                                  hashlib.sha512(data).hexdigest())
    assert await store.exists(k) and await store.size(k) == len(data)
    assert await read(store, k) == data
    assert await read(store, k, 10, 20) == data[10:30]
    assert await read(store, k, 99_990) == data[99_990:]
    assert await read(store, k, 99_990, 100) == data[99_990:]
    assert await read(store, k, 0, 0) == b""
    await store.delete(k)
    await store.delete(k)  # idempotent
    assert not await store.exists(k)
    with pytest.raises(BlobNotFound):
        await store.size(k)
    with pytest.raises(BlobNotFound):
        await read(store, k)


async def test_empty_blob(store: BlobStore) -> None:
    k = key()
    info = await store.put(k, body(b""), sha512=False)
    assert (info.size, info.md5, info.sha512) == (0, hashlib.md5(b"").hexdigest(), "")
    assert await read(store, k) == b"" and await store.size(k) == 0
    await store.delete(k)


async def test_large_blob_in_parts(store: BlobStore) -> None:
    """Past the part size (the s3 store: a multipart upload of 5 MiB parts, the last short)."""
    data = os.urandom(2 * PART + 12345)
    k = key()
    info = await store.put(k, body(data, 1024 * 1024 + 7))
    assert info.md5 == hashlib.md5(data).hexdigest() and info.size == len(data)
    assert await store.size(k) == len(data)
    assert await read(store, k, PART - 5, 10) == data[PART - 5:PART + 5]  # across a part
    assert hashlib.md5(await read(store, k)).hexdigest() == info.md5
    scan = await store.scan()
    assert scan is not None and k in scan.blobs and not any(
        k in u.ref for u in scan.unfinished)
    await store.delete(k)


async def test_too_large_stores_nothing(store: BlobStore) -> None:
    k = key()
    with pytest.raises(BlobTooLarge):
        await store.put(k, body(os.urandom(PART + 10)), max_size=PART + 9)
    assert not await store.exists(k)
    scan = await store.scan()
    assert scan is not None and k not in scan.blobs
    assert not any(k in u.ref for u in scan.unfinished)  # the multipart upload was aborted


async def test_failed_body_stores_nothing(store: BlobStore) -> None:
    k = key()

    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(PART + 1)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.put(k, broken())
    assert not await store.exists(k)
    scan = await store.scan()
    assert scan is not None and not any(k in u.ref for u in scan.unfinished)


async def test_unsafe_keys_refused(store: BlobStore) -> None:
    with pytest.raises(ValueError):
        await store.put("../etc/passwd", body(b"x"))


async def test_unfinished_write_listed_and_discarded(rgw: rgw_support.Rgw) -> None:
    """What a kill -9 mid-upload leaves in S3: a multipart upload never completed."""
    from onestack.drivers.blob.s3 import _Upload

    s = s3_store(rgw)
    await s.create_bucket()
    k = key()
    upload = await _Upload.begin(s, k)
    await upload.add(os.urandom(PART))
    await upload._wait()
    scan = await s.scan()
    mine = [u for u in scan.unfinished if u.ref.endswith(k)]
    assert len(mine) == 1 and k not in scan.blobs
    await s.discard(mine[0])
    assert not [u for u in (await s.scan()).unfinished if u.ref.endswith(k)]
    await s.close()


@pytest.mark.parametrize("what", ["unreachable", "wrong key", "no bucket"])
async def test_backend_failures_name_the_cause(rgw: rgw_support.Rgw, what: str) -> None:
    kw: dict[str, Any] = {
        "unreachable": {"endpoint": f"http://127.0.0.1:{free_port()}", "timeout": 3.0},
        "wrong key": {"secret_key": "not-the-secret"},
        "no bucket": {"bucket": "onestack-missing-" + uuid.uuid4().hex[:6]},
    }[what]
    s = s3_store(rgw, **kw)
    cause = {"unreachable": "cannot be reached", "wrong key": "refused the credentials",
             "no bucket": "does not exist"}[what]
    for op in (lambda: s.put(key(), body(b"abc")), lambda: read(s, key()),
               lambda: s.exists(key()), lambda: s.scan()):
        with pytest.raises(BlobUnavailable) as err:
            await op()
        assert err.value.status == 503 and cause in err.value.message
        assert rgw.secret_key not in err.value.message
    await s.close()
