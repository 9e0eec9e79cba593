"""Database on a SQLite file: the writer's statements run without giving up the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from onestack.db.engine import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/t.db")
    async with database.write() as s:  # also opens the writer's connection
        await s.execute(text("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER)"))
        await s.execute(text("INSERT INTO t VALUES ('c', 0)"))
    yield database
    await database.close()


async def count(db: Database) -> int:
    async with db.read() as s:
        return int((await s.execute(text("SELECT n FROM t WHERE k = 'c'"))).scalar_one())


async def test_a_write_transaction_holds_the_loop_for_its_statements_only(db: Database) -> None:
    ran = asyncio.Event()

    async def other() -> None:
        ran.set()

    async with db.write() as s:
        task = asyncio.create_task(other())
        for i in range(5):
            await s.execute(text("INSERT INTO t VALUES (:k, :n)"), {"k": f"x{i}", "n": i})
            await s.execute(text("SELECT count(*) FROM t"))
        # No statement gave the loop a turn (with a worker thread each one would have).
        assert not ran.is_set()
    await task
    async with db.read() as r:
        assert (await r.execute(text("SELECT count(*) FROM t"))).scalar_one() == 6


async def test_concurrent_writers_are_serialised(db: Database) -> None:
    async def bump() -> None:
        async with db.write() as s:
            n = (await s.execute(text("SELECT n FROM t WHERE k = 'c'"))).scalar_one()
            await asyncio.sleep(0)  # another writer would interleave here without the lock
            await s.execute(text("UPDATE t SET n = :n WHERE k = 'c'"), {"n": n + 1})

    def bump_sync(s: Session) -> None:
        n = s.execute(text("SELECT n FROM t WHERE k = 'c'")).scalar_one()
        s.execute(text("UPDATE t SET n = :n WHERE k = 'c'"), {"n": n + 1})

    await asyncio.gather(*[bump() for _ in range(15)],
                         *[db.run_write(bump_sync) for _ in range(15)])
    assert await count(db) == 30


async def test_a_failed_write_rolls_back(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.write() as s:
            await s.execute(text("UPDATE t SET n = 99 WHERE k = 'c'"))
            raise RuntimeError("no")

    def fail(s: Session) -> None:
        s.execute(text("UPDATE t SET n = 98 WHERE k = 'c'"))
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        await db.run_write(fail)
    assert await count(db) == 0
    async with db.write() as s:  # the writer's connection is fine afterwards
        await s.execute(text("UPDATE t SET n = 1 WHERE k = 'c'"))
    assert await count(db) == 1
