"""Database engine and sessions: SQLite (WAL) by default, PostgreSQL at scale.

Reads use ``db.read()``; anything that writes uses ``db.write()``, which commits on success and
rolls back on any error. On SQLite, writers are serialised in-process so concurrent requests
never see "database is locked".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")


def async_url(url: str) -> str:
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+pysqlite"):
        return str(u.set(drivername="sqlite+aiosqlite"))
    if u.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        return u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def sync_url(url: str) -> str:
    u = make_url(url)
    if u.drivername.startswith("sqlite"):
        return str(u.set(drivername="sqlite"))
    if u.drivername.startswith("postgres"):
        return u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class Database:
    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = url
        aurl = async_url(url)
        self.is_sqlite = aurl.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            # Connections are cheap, but opening one costs a thread and the PRAGMAs: keep
            # enough for every request in flight instead of opening and closing under load.
            kwargs.update(pool_size=max(pool_size, 20), max_overflow=20)
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine = create_async_engine(aurl, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        # This database's own session class: listeners (core/events/capture.py) see its
        # sessions only, not those of another Database in the same process.
        self.session_class: type[Session] = type("DatabaseSession", (Session,), {})
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False,
                                           sync_session_class=self.session_class)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        # Hot paths on SQLite (run_read, run_write): the plain driver in one worker-thread
        # hand-off (aiosqlite hands every cursor step to its thread and back).
        self._sync_engine: Engine | None = None
        self._sync_sessions: sessionmaker[Session] | None = None
        database = make_url(aurl).database
        if self.is_sqlite and database and database != ":memory:":
            sync = self._sync_engine = create_engine(
                sync_url(url), pool_size=max(pool_size, 20), max_overflow=20,
                connect_args={"check_same_thread": False})
            event.listen(sync, "connect", _sqlite_pragmas)
            self._sync_sessions = sessionmaker(sync, class_=self.session_class,
                                               expire_on_commit=False)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        if self._write_lock is not None:
            async with self._write_lock, self.sessions() as session, session.begin():
                yield session
        else:
            async with self.sessions() as session, session.begin():
                yield session

    async def run_read(self, fn: Callable[[Session], T]) -> T:
        """``fn(session)`` with a synchronous session that only reads: on SQLite in one
        worker thread, elsewhere through the async session's ``run_sync``. For hot paths
        whose query is one statement; objects it returns are detached."""
        if self._sync_sessions is not None:
            return await asyncio.to_thread(self._read_in_thread, fn)
        async with self.sessions() as session:
            return await session.run_sync(fn)

    async def run_write(self, fn: Callable[[Session], T]) -> T:
        """``fn(session)`` in one transaction with a synchronous session, committed when it
        returns and rolled back when it raises: on SQLite one worker-thread hand-off under
        the in-process writer lock, elsewhere through the async session's ``run_sync``."""
        if self._sync_sessions is not None:
            assert self._write_lock is not None
            async with self._write_lock:
                return await asyncio.to_thread(self._write_in_thread, fn)
        async with self.sessions() as session, session.begin():
            return await session.run_sync(fn)

    def _write_in_thread(self, fn: Callable[[Session], T]) -> T:
        assert self._sync_sessions is not None
        with self._sync_sessions() as session, session.begin():
            return fn(session)

    def _read_in_thread(self, fn: Callable[[Session], T]) -> T:
        assert self._sync_sessions is not None
        with self._sync_sessions() as session:
            return fn(session)

    async def close(self) -> None:
        await self.engine.dispose()
        if self._sync_engine is not None:
            await asyncio.to_thread(self._sync_engine.dispose)
