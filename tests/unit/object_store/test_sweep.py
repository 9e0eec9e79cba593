"""The orphan sweep after a crash: unfinished uploads, blobs without rows and rows without
blobs, on the real filesystem blob store."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

from onestack.config import load_settings
from onestack.core.object_store.acl import Caller
from onestack.core.object_store.containers import ContainerSettings
from onestack.core.object_store.listing import ListParams
from onestack.core.object_store.objects import PutSpec
from onestack.core.object_store.service import ObjectStore
from onestack.db import migrate
from onestack.db.engine import Database
from onestack.drivers.blob import FilesystemBlobStore

OWNER = Caller(user_id="u", project_id="p", roles=["member"])
ACCOUNT = "AUTH_p"


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _age(path: Path, seconds: float = 7200) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


async def _store(tmp_path: Path) -> ObjectStore:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate.upgrade(url)
    blobs = FilesystemBlobStore(tmp_path / "objects")
    os_ = ObjectStore(load_settings(None, data_dir=tmp_path), Database(url), blobs=blobs)
    await os_.containers.put(OWNER, ACCOUNT, "c", {}, ContainerSettings())
    return os_


async def test_sweep_after_a_crash(tmp_path: Path) -> None:
    os_ = await _store(tmp_path)
    blobs = os_.blobs
    assert isinstance(blobs, FilesystemBlobStore)
    kept = await os_.objects.put(OWNER, ACCOUNT, "c", "kept", _body(b"kept"),
                                 PutSpec(content_length=4))
    gone = await os_.objects.put(OWNER, ACCOUNT, "c", "gone", _body(b"gone!"),
                                 PutSpec(content_length=5))
    # kill -9 in the middle of an upload: a partial temporary file, no blob, no row.
    partial = blobs.root / ".tmp" / "12345-deadbeef"
    partial.write_bytes(b"half an upl")
    _age(partial)
    # kill -9 between the rename and the commit: a whole blob that no row names.
    orphan = f"{ACCOUNT}/0123456789abcdef/{'a' * 32}"
    await blobs.put(orphan, _body(b"never committed"))
    _age(blobs.root / orphan)
    # An upload in progress right now (fresh files) must be left alone.
    fresh_tmp = blobs.root / ".tmp" / "999-inflight"
    fresh_tmp.write_bytes(b"still writing")
    fresh = f"{ACCOUNT}/0123456789abcdef/{'b' * 32}"
    await blobs.put(fresh, _body(b"about to commit"))
    # A row whose data went missing (restored from an older copy, removed by hand).
    (blobs.root / gone.blob).unlink()

    # Partial uploads are never visible, before or after the sweep.
    _, items = await os_.containers.list_objects(OWNER, ACCOUNT, "c", ListParams())
    assert sorted(i.name for i in items) == ["gone", "kept"]

    report = await os_.sweeper.sweep()
    assert (report.temporary, report.orphans, report.lost) == (1, 1, 1)
    assert not report.held_back
    assert not partial.exists() and not (blobs.root / orphan).exists()
    assert fresh_tmp.exists() and (blobs.root / fresh).exists()
    _, items = await os_.containers.list_objects(OWNER, ACCOUNT, "c", ListParams())
    assert [i.name for i in items] == ["kept"]
    view = await os_.objects.open(OWNER, ACCOUNT, "c", "kept")
    assert b"".join([c async for c in os_.objects.read(view)]) == b"kept"
    assert view.row.blob == kept.blob
    c = await os_.containers.get(ACCOUNT, "c")
    acct = await os_.containers.account(ACCOUNT)
    assert c is not None and (c.object_count, c.bytes_used) == (1, 4)
    assert (acct.object_count, acct.bytes_used) == (1, 4)
    # A second pass finds nothing more.
    assert not await os_.sweeper.sweep()
    await os_.db.close()


async def test_sweep_keeps_rows_when_the_store_looks_unmounted(tmp_path: Path) -> None:
    os_ = await _store(tmp_path)
    rows = [await os_.objects.put(OWNER, ACCOUNT, "c", f"o{i}", _body(b"x"),
                                  PutSpec(content_length=1)) for i in range(12)]
    assert isinstance(os_.blobs, FilesystemBlobStore)
    for row in rows:
        (os_.blobs.root / row.blob).unlink()
    report = await os_.sweeper.sweep()
    assert report.held_back and report.lost == 0
    _, items = await os_.containers.list_objects(OWNER, ACCOUNT, "c", ListParams())
    assert len(items) == 12
    await os_.db.close()
