"""The same contract, run against the fake and the real blob store."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from onestack.drivers.blob import BlobStore, FilesystemBlobStore, MemoryBlobStore
from onestack.drivers.blob.base import BlobNotFound, BlobTooLarge


@pytest.fixture(params=["memory", "filesystem"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return MemoryBlobStore() if request.param == "memory" else FilesystemBlobStore(tmp_path)


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for p in parts:
        yield p


async def read(store: BlobStore, key: str, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join([c async for c in store.get(key, offset, length)])


async def test_put_get_hashes_and_ranges(store: BlobStore) -> None:
    data = b"x" * 3_000_000 + b"tail"
    info = await store.put("a/b", chunks(data[:1000], data[1000:]))
    assert info.size == len(data)
    assert info.md5 == hashlib.md5(data).hexdigest()
    assert info.sha512 == hashlib.sha512(data).hexdigest()
    assert await read(store, "a/b") == data
    assert await read(store, "a/b", len(data) - 4) == b"tail"
    assert await read(store, "a/b", 10, 5) == b"xxxxx"
    assert await store.size("a/b") == len(data)


async def test_too_large_stores_nothing(store: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(BlobTooLarge):
        await store.put("big", chunks(b"1234", b"5678"), max_size=6)
    assert not await store.exists("big")
    if isinstance(store, FilesystemBlobStore):
        assert list((tmp_path / ".tmp").iterdir()) == []


async def test_delete_is_idempotent_and_missing_raises(store: BlobStore) -> None:
    await store.put("k", chunks(b"v"))
    await store.delete("k")
    await store.delete("k")
    assert not await store.exists("k")
    with pytest.raises(BlobNotFound):
        await store.size("k")
    with pytest.raises(BlobNotFound):
        await read(store, "k")
    with pytest.raises(BlobNotFound):
        await read(store, "k", 0, 10)


async def test_failed_stream_leaves_old_blob(store: BlobStore) -> None:
    await store.put("k", chunks(b"old"))

    async def broken() -> AsyncIterator[bytes]:
        yield b"new-partial"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        await store.put("k", broken())
    assert await read(store, "k") == b"old"


async def test_blocks_in_odd_pieces_and_empty_body(store: BlobStore) -> None:
    data = bytes(range(256)) * 20_000 + b"end"  # about 5 MiB: several blocks of CHUNK
    pieces = [data[i:i + 65_537] for i in range(0, len(data), 65_537)]
    info = await store.put("odd", chunks(*pieces), sha512=False)
    assert (info.size, info.md5, info.sha512) == (len(data), hashlib.md5(data).hexdigest(), "")
    assert await read(store, "odd") == data
    empty = await store.put("empty", chunks())
    assert (empty.size, empty.sha512) == (0, hashlib.sha512(b"").hexdigest())
    assert await read(store, "empty") == b""


async def test_failure_after_whole_blocks_leaves_no_temporary(store: BlobStore,
                                                             tmp_path: Path) -> None:
    async def broken() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"z" * 1_000_000
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        await store.put("gone", broken())
    assert not await store.exists("gone")
    if isinstance(store, FilesystemBlobStore):
        assert list((tmp_path / ".tmp").iterdir()) == []


def test_unsafe_keys_are_refused(tmp_path: Path) -> None:
    fs = FilesystemBlobStore(tmp_path)
    for key in ("../etc/passwd", "/abs", "a/../../b", ""):
        with pytest.raises(ValueError):
            fs.path(key)


async def test_a_small_filesystem_read_takes_no_loop_turn(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    await store.put("s", chunks(b"small"))
    ran = asyncio.Event()

    async def other() -> None:
        ran.set()

    task = asyncio.create_task(other())
    assert await read(store, "s", 0, 5) == b"small"
    assert not ran.is_set()  # read without handing off to a thread (and back)
    await task
    with pytest.raises(BlobNotFound):
        await read(store, "missing", 0, 5)
