"""Database engine and sessions: SQLite (WAL) by default, PostgreSQL at scale.

Reads use ``db.read()``; anything that writes uses ``db.write()``, which commits on success and
rolls back on any error. On SQLite, writers are serialised in-process so concurrent requests
never see "database is locked".

On a SQLite file every statement runs on the event loop's thread (``InlineConnection``),
not in aiosqlite's worker threads. There each statement was a hand-off to a thread and back,
an event-loop turn; under load (hundreds of requests in progress, each turn long) a write
transaction, which holds the one writer lock across its statements, held it for seconds and
writers queued for a minute, and reads of a few statements took as many long turns. A
statement on a local SQLite file takes microseconds (WAL: readers never wait for the writer;
``synchronous=NORMAL``: a commit does not fsync), far less than a turn. Writers have their
own connections, so that a reader never holds the connection a writer needs.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
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


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run at once on the caller's thread.

    Connecting and closing still go through aiosqlite's thread; every statement, fetch,
    commit and rollback runs inline, without an event-loop turn. Only for the one writer
    connection, used under the writer lock (so never by two tasks at once)."""

    async def _execute(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


def _inline_creator(path: str) -> Callable[[], Any]:
    async def connect() -> aiosqlite.Connection:
        conn = InlineConnection(partial(sqlite3.connect, path, check_same_thread=False), 64)
        conn._thread.daemon = True  # as SQLAlchemy's aiosqlite dialect does
        return await conn

    return connect


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
        database = make_url(aurl).database
        on_file = self.is_sqlite and bool(database) and database != ":memory:"
        self._inline = on_file
        if on_file:
            kwargs["async_creator"] = _inline_creator(str(database))
        self.engine = create_async_engine(aurl, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        # This database's own session class: listeners (core/events/capture.py) see its
        # sessions only, not those of another Database in the same process.
        self.session_class: type[Session] = type("DatabaseSession", (Session,), {})
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False,
                                           sync_session_class=self.session_class)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._write_engine: AsyncEngine | None = None
        self.write_sessions = self.sessions
        # Hot paths on SQLite (run_read, run_write): the plain driver, without even the
        # async session's greenlet.
        self._sync_engine: Engine | None = None
        self._sync_sessions: sessionmaker[Session] | None = None
        if on_file:
            sync = self._sync_engine = create_engine(
                sync_url(url), pool_size=max(pool_size, 20), max_overflow=20,
                connect_args={"check_same_thread": False})
            event.listen(sync, "connect", _sqlite_pragmas)
            self._sync_sessions = sessionmaker(sync, class_=self.session_class,
                                               expire_on_commit=False)
            # The writers' own connections: one in a transaction at a time (under the lock),
            # a few more finishing their session's close after it.
            writer = self._write_engine = create_async_engine(
                aurl, echo=echo, async_creator=_inline_creator(str(database)), pool_size=2,
                max_overflow=6)
            event.listen(writer.sync_engine, "connect", _sqlite_pragmas)
            self.write_sessions = async_sessionmaker(
                writer, expire_on_commit=False, sync_session_class=self.session_class)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        session = self.sessions()
        try:
            yield session
        finally:
            await self._close(session)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        if self._write_lock is None:
            async with self.sessions() as session, session.begin():
                yield session
            return
        # The lock covers the transaction, its commit or rollback included, not the
        # session's close.
        session = self.write_sessions()
        try:
            async with self._write_lock, session.begin():
                yield session
        finally:
            await self._close(session)

    async def _close(self, session: AsyncSession) -> None:
        """Close a session. ``async with session`` closes it in a task of its own (so that a
        cancellation cannot stop a close that waits on the network): an event-loop turn or
        two each time. On inline connections nothing in a close waits, so it runs here."""
        if self._inline:
            await session.close()
        else:
            await session.__aexit__(None, None, None)

    async def run_read(self, fn: Callable[[Session], T]) -> T:
        """``fn(session)`` with a synchronous session that only reads: on SQLite at once on
        this thread, elsewhere through the async session's ``run_sync``. For hot paths
        whose query is one statement; objects it returns are detached."""
        if self._sync_sessions is not None:
            return self._read_now(fn)
        async with self.sessions() as session:
            return await session.run_sync(fn)

    async def run_write(self, fn: Callable[[Session], T]) -> T:
        """``fn(session)`` in one transaction with a synchronous session, committed when it
        returns and rolled back when it raises: on SQLite at once on this thread under the
        in-process writer lock (as ``write()``'s statements: a hand-off to a worker thread
        would hold the lock through a wait in the shared thread pool's queue and an
        event-loop turn), elsewhere through the async session's ``run_sync``."""
        if self._sync_sessions is not None:
            assert self._write_lock is not None
            async with self._write_lock:
                return self._write_now(fn)
        async with self.sessions() as session, session.begin():
            return await session.run_sync(fn)

    def _write_now(self, fn: Callable[[Session], T]) -> T:
        assert self._sync_sessions is not None
        with self._sync_sessions() as session, session.begin():
            return fn(session)

    def _read_now(self, fn: Callable[[Session], T]) -> T:
        assert self._sync_sessions is not None
        with self._sync_sessions() as session:
            return fn(session)

    def sync_engines(self) -> list[Engine]:
        """Every engine this database runs statements on (for event listeners: the
        transaction-time metrics): the main one, and on a SQLite file the writers' and the
        hot paths' engines."""
        engines = [self.engine.sync_engine]
        if self._write_engine is not None:
            engines.append(self._write_engine.sync_engine)
        if self._sync_engine is not None:
            engines.append(self._sync_engine)
        return engines

    async def close(self) -> None:
        await self.engine.dispose()
        if self._write_engine is not None:
            await self._write_engine.dispose()
        if self._sync_engine is not None:
            await asyncio.to_thread(self._sync_engine.dispose)
