"""Move an all-in-one SQLite database to PostgreSQL (``onestack manage db migrate --to``).

The steps, each refusing clearly before anything is written where it can:

1. ``check_source``: the source is a SQLite file that exists and no other process has open
   (a running Onestack keeps its pooled connections, so its file descriptors show in /proc).
2. ``check_target``: the target is PostgreSQL, reachable, and none of our tables has a row.
3. ``migrate_schemas``: both databases are upgraded to this release's Alembic heads (the
   source first, when it is behind) and must then be at the same heads.
4. ``copy_all``: every table of ``Base.metadata.sorted_tables`` (foreign-key order) is
   streamed in batches from one SQLite read snapshot, primary keys kept, in *one* transaction
   on the target: the row counts are compared and the sequences of integer autoincrement keys
   set past the largest id before it commits, so any failure leaves the target empty.

Values keep their meaning: JSON columns are copied as their stored text (SQL NULL and JSON
``null`` stay distinct), datetimes stay naive UTC (an aware one is converted, never shifted
by the server's time zone), booleans, big integers and floats go through SQLAlchemy's types.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.util.exc import CommandError
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Engine,
    Table,
    Text,
    bindparam,
    cast,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.elements import ColumnElement

from onestack.db import migrate
from onestack.db.engine import sync_url
from onestack.db.models import Base

Progress = Callable[[str], None]
# Tables the database engines or Alembic keep for themselves.
_INTERNAL = {"alembic_version", "sqlite_sequence"}


class TransferError(Exception):
    """A refusal or a failed copy; the message says what to do (one line)."""


@dataclass
class TableCopy:
    name: str
    rows: int


@dataclass
class TransferReport:
    tables: list[TableCopy] = field(default_factory=list)
    seconds: float = 0.0  # the copy (one transaction)
    total_seconds: float = 0.0  # with the checks and the schema migrations

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)


def display_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "<unparsable database URL>"


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = [ln.strip() for ln in str(orig).splitlines() if ln.strip()]
    return lines[0] if lines else type(orig).__name__


# -- checks ------------------------------------------------------------------------------------

def _parsed(url: str, role: str) -> URL:
    try:
        return make_url(url)
    except SQLAlchemyError as exc:
        raise TransferError(f"the {role} database URL is not valid: {exc}") from exc


def sqlite_path(url: str) -> Path:
    """The file of a SQLite URL; refuses any other database."""
    u = _parsed(url, "source")
    if not u.drivername.startswith("sqlite"):
        raise TransferError(
            f"the source database is {u.get_backend_name()} ({display_url(url)}), not SQLite: "
            "this command moves an all-in-one SQLite deployment; use the database's own "
            "dump and restore tools instead")
    if not u.database or u.database == ":memory:":
        raise TransferError("the source SQLite database has no file to move")
    return Path(u.database).resolve()


def processes_using(paths: Iterable[Path]) -> list[int]:
    """Ids of other processes with any of ``paths`` open (Linux /proc; others unseen)."""
    wanted = {str(p) for p in paths}
    found: list[int] = []
    try:
        pids = [int(d) for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return found
    for pid in pids:
        if pid == os.getpid():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            targets = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in fds}
        except OSError:  # gone, or another user's process
            continue
        if targets & wanted:
            found.append(pid)
    return found


def check_source(url: str) -> Path:
    path = sqlite_path(url)
    if not path.is_file():
        raise TransferError(f"there is no Onestack database at {path}: pass the deployment's "
                            "--config or --data-dir")
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    pids = processes_using(files)
    if pids:
        raise TransferError(
            f"Onestack appears to be running: process {', '.join(map(str, pids))} has "
            f"{path} open; stop Onestack (and anything else using the database) first")
    return path


def _connect_error(url: str, exc: BaseException) -> TransferError:
    return TransferError(f"cannot reach the target database {display_url(url)}: "
                         f"{_first_line(exc)}; check the URL, that the server runs and that the "
                         "database exists (createdb)")


def target_engine(url: str) -> Engine:
    u = _parsed(url, "target")
    if not u.drivername.startswith("postgres"):
        raise TransferError(f"the target must be a PostgreSQL URL "
                            f"(postgresql://user:password@host:port/database), not "
                            f"{display_url(url)}")
    return create_engine(sync_url(url), poolclass=NullPool)


@functools.cache
def migration_seed() -> dict[str, frozenset[tuple[Any, ...]]]:
    """The rows the migrations themselves write (a fresh database is not empty of them)."""
    with tempfile.TemporaryDirectory(prefix="onestack-seed-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'seed.db'}"
        migrate.upgrade(url)
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return {t.name: frozenset(tuple(r) for r in conn.execute(select(t)))
                        for t in Base.metadata.sorted_tables
                        if conn.execute(select(text("1")).select_from(t).limit(1)).first()}
        finally:
            engine.dispose()


def non_empty_tables(conn: Connection) -> list[str]:
    """Our tables on ``conn``'s database that hold rows other than the migrations' own."""
    present = set(inspect(conn).get_table_names())
    seed = migration_seed()
    busy = []
    for table in Base.metadata.sorted_tables:
        if table.name not in present or \
                not conn.execute(select(text("1")).select_from(table).limit(1)).first():
            continue
        if table.name in seed and \
                frozenset(tuple(r) for r in conn.execute(select(table))) == seed[table.name]:
            continue
        busy.append(table.name)
    return busy


def check_target(url: str) -> None:
    engine = target_engine(url)
    try:
        with engine.connect() as conn:
            busy = non_empty_tables(conn)
    except OperationalError as exc:
        raise _connect_error(url, exc) from exc
    finally:
        engine.dispose()
    if busy:
        shown = ", ".join(busy[:5]) + (f" and {len(busy) - 5} more" if len(busy) > 5 else "")
        raise TransferError(f"the target database {display_url(url)} is not empty ({shown} "
                            "have rows): move into a new, empty database")


def migrate_schemas(source_url: str, target_url: str) -> set[str]:
    """Upgrade both to this release's heads; returns them. Refuses a schema it cannot reach."""
    try:
        migrate.upgrade(source_url)
    except (CommandError, SQLAlchemyError) as exc:
        raise TransferError(f"cannot bring the source database to this release's schema: "
                            f"{_first_line(exc)} (was it written by a newer Onestack?)") from exc
    try:
        migrate.upgrade(target_url)
    except OperationalError as exc:
        raise _connect_error(target_url, exc) from exc
    except (CommandError, SQLAlchemyError) as exc:
        raise TransferError(f"cannot create the schema in the target database: "
                            f"{_first_line(exc)}") from exc
    source = migrate.current_heads(source_url)
    target = migrate.current_heads(target_url)
    if source != target:
        raise TransferError(f"the schemas differ after upgrading (source at {sorted(source)}, "
                            f"target at {sorted(target)}): use a new, empty target database")
    return source


# -- copy --------------------------------------------------------------------------------------

def _source_engine(url: str) -> Engine:
    """SQLite with real transactions, so every table is read from one snapshot."""
    engine = create_engine(sync_url(url), poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let us issue BEGIN ourselves

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine


def _is_json(column: Column[Any]) -> bool:
    return isinstance(column.type, JSON)


def _read_expr(column: Column[Any]) -> ColumnElement[Any]:
    # JSON as its stored text: no round trip through Python, SQL NULL kept apart from 'null'.
    return type_coerce(column, Text).label(column.name) if _is_json(column) else column


def _write_expr(column: Column[Any], key: str) -> ColumnElement[Any]:
    if _is_json(column):
        return cast(bindparam(key, type_=Text), column.type)
    return bindparam(key, type_=column.type)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _deferred_columns(table: Table, copied: set[str]) -> list[Column[Any]]:
    """Foreign keys to rows that may not be there yet (the same table, or a cycle): they are
    written as NULL first and filled in once every table is copied."""
    out = []
    for column in table.columns:
        if any(fk.column.table is table or fk.column.table.name not in copied
               for fk in column.foreign_keys):
            if not column.nullable:
                raise TransferError(f"cannot order the copy of {table.name}: {column.name} "
                                    "refers to rows not yet copied and may not be NULL")
            out.append(column)
    return out


def _copy_table(src: Connection, dst: Connection, table: Table, deferred: Sequence[Column[Any]],
                batch: int) -> int:
    columns = list(table.columns)
    keys = [f"p{i}" for i in range(len(columns))]
    stmt = insert(table).values({c.name: _write_expr(c, k) for c, k in zip(columns, keys,
                                                                         strict=True)})
    skip = {i for i, c in enumerate(columns) if c in deferred}
    query = select(*[_read_expr(c) for c in columns]).order_by(*table.primary_key.columns)
    result = src.execution_options(stream_results=True, yield_per=batch).execute(query)
    copied = 0
    for rows in result.partitions(batch):
        params = [{k: None if i in skip else _plain(v)
                   for i, (k, v) in enumerate(zip(keys, row, strict=True))} for row in rows]
        dst.execute(stmt, params)
        copied += len(params)
    return copied


def _fill_deferred(src: Connection, dst: Connection, table: Table,
                   deferred: Sequence[Column[Any]], batch: int) -> None:
    pk = list(table.primary_key.columns)
    query = select(*pk, *deferred).where(or_(*[c.is_not(None) for c in deferred]))
    stmt = update(table).where(*[c == bindparam(f"k{i}", type_=c.type)
                                 for i, c in enumerate(pk)]) \
        .values({c.name: bindparam(f"d{i}", type_=c.type) for i, c in enumerate(deferred)})
    result = src.execution_options(stream_results=True, yield_per=batch).execute(query)
    for rows in result.partitions(batch):
        params = []
        for row in rows:
            p = {f"k{i}": row[i] for i in range(len(pk))}
            p.update({f"d{i}": row[len(pk) + i] for i in range(len(deferred))})
            params.append(p)
        dst.execute(stmt, params)


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _sqlite_sequences(src: Connection) -> dict[str, int]:
    """Ids SQLite's AUTOINCREMENT tables have handed out (never reused, even when deleted)."""
    if "sqlite_sequence" not in inspect(src).get_table_names():
        return {}
    rows = src.exec_driver_sql("SELECT name, seq FROM sqlite_sequence").all()
    return {str(name): int(seq) for name, seq in rows}


def reset_sequences(dst: Connection, handed_out: dict[str, int]) -> int:
    """Set each integer autoincrement key's sequence so its next value is max(id) + 1."""
    quote = dst.dialect.identifier_preparer
    done = 0
    for table in Base.metadata.sorted_tables:
        column = table.autoincrement_column
        if column is None:
            continue
        top = dst.execute(select(func.max(column))).scalar_one() or 0
        nxt = max(int(top), handed_out.get(table.name, 0)) + 1
        seq = dst.execute(select(func.pg_get_serial_sequence(
            quote.format_table(table), column.name))).scalar_one()
        if seq is None:
            raise TransferError(f"the target has no sequence for {table.name}.{column.name}")
        dst.execute(select(func.setval(seq, nxt, False)))
        done += 1
    return done


def _unknown_tables(src: Connection) -> list[str]:
    known = set(Base.metadata.tables) | _INTERNAL
    return sorted(t for t in inspect(src).get_table_names() if t not in known)


def copy_all(source_url: str, target_url: str, *, batch: int = 1000,
             progress: Progress = lambda _m: None) -> TransferReport:
    """Copy every table in one target transaction (see the module's docstring)."""
    started = time.monotonic()
    report = TransferReport()
    src_engine, dst_engine = _source_engine(source_url), target_engine(target_url)
    current = "(preparing)"
    try:
        with src_engine.begin() as src, dst_engine.begin() as dst:
            unknown = _unknown_tables(src)
            if unknown:
                raise TransferError(f"the source has tables this Onestack does not know "
                                    f"({', '.join(unknown)}): run the matching release")
            busy = non_empty_tables(dst)
            if busy:
                raise TransferError(f"the target database became non-empty ({busy[0]})")
            copied: set[str] = set()
            later: list[tuple[Table, list[Column[Any]]]] = []
            for table in reversed(Base.metadata.sorted_tables):
                if table.name in migration_seed():
                    dst.execute(delete(table))  # the source has its own version of these
            for table in Base.metadata.sorted_tables:
                current = table.name
                deferred = _deferred_columns(table, copied)
                rows = _copy_table(src, dst, table, deferred, batch)
                copied.add(table.name)
                if deferred:
                    later.append((table, deferred))
                report.tables.append(TableCopy(table.name, rows))
                if rows:
                    progress(f"{table.name}: {rows} rows")
            for table, deferred in later:
                current = table.name
                _fill_deferred(src, dst, table, deferred, batch)
            current = "(row counts)"
            for table in Base.metadata.sorted_tables:
                have, want = _count(dst, table), _count(src, table)
                if have != want:
                    raise TransferError(f"row counts differ for {table.name}: {want} in "
                                        f"SQLite, {have} copied; nothing was committed")
            current = "(sequences)"
            reset_sequences(dst, _sqlite_sequences(src))
    except DBAPIError as exc:
        raise TransferError(f"copying {current} failed, nothing was committed to the target: "
                            f"{_first_line(exc)}") from exc
    finally:
        src_engine.dispose()
        dst_engine.dispose()
    report.seconds = time.monotonic() - started
    return report


def move(source_url: str, target_url: str, *, batch: int = 1000,
         progress: Progress = lambda _m: None) -> TransferReport:
    """All the steps: check both ends, migrate both schemas, copy."""
    started = time.monotonic()
    check_source(source_url)
    check_target(target_url)
    progress("schemas: upgrading the source and creating the target's")
    migrate_schemas(source_url, target_url)
    report = copy_all(source_url, target_url, batch=batch, progress=progress)
    report.total_seconds = time.monotonic() - started
    return report
