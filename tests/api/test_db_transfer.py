"""SQLite -> PostgreSQL transfer: awkward values survive, refusals are clear, failures leave
the target empty (the end-to-end move of a whole cloud is in test_db_migrate.py)."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Text, cast, create_engine, insert, select
from sqlalchemy.pool import NullPool

from onestack.cli.main import main
from onestack.config import load_settings
from onestack.db import migrate, transfer
from onestack.db.models import Base
from tests.support.postgres import PostgresServer

T = Base.metadata.tables
STAMP = dt.datetime(2026, 12, 4, 23, 59, 58, 123456)
BIG = 2**62 + 12345
TEXT = "ünïcødé ✓ 🚀🐍 中文 \t tab 'quote' \"dq\" \\ back"


def _pg(pg_server: PostgresServer) -> str:
    return pg_server.create_database(f"xfer_{uuid.uuid4().hex[:8]}")


def _sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'onestack.db'}"
    migrate.upgrade(url)
    return url


def _awkward(url: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(insert(T["domain"]), [{
            "id": "default", "name": "Default", "description": TEXT, "enabled": True,
            "extra": {"emoji": "🚀", "nested": [1, None, {"k": BIG}], "f": 0.1},
            "created_at": STAMP}])
        # The child sorts before its parent: the self-reference is filled in afterwards.
        conn.execute(insert(T["project"]), [
            {"id": "aaa-child", "name": "child " + TEXT[:40], "domain_id": "default",
             "description": "", "enabled": False, "parent_id": "zzz-parent",
             "extra": {}, "created_at": STAMP},
            {"id": "zzz-parent", "name": "parent", "domain_id": "default", "description": TEXT,
             "enabled": True, "parent_id": None, "extra": None,
             "created_at": dt.datetime(1970, 1, 1, 0, 0, 0, 1)}])
        conn.execute(insert(T["image"]), [{
            "id": str(uuid.uuid4()), "name": TEXT[:200], "status": "active",
            "visibility": "public", "owner": None, "protected": True, "os_hidden": False,
            "disk_format": "raw", "container_format": "bare", "min_disk": 0, "min_ram": 0,
            "size": BIG, "virtual_size": 2**63 - 1, "checksum": None, "os_hash_algo": None,
            "os_hash_value": None, "location": None, "created_at": STAMP,
            "updated_at": STAMP}])
        conn.execute(insert(T["revocation_event"]), [
            {"id": 7, "user_id": "u", "audit_id": None, "issued_before": STAMP,
             "revoked_at": STAMP},
            {"id": 1000, "user_id": None, "audit_id": "a" * 32, "issued_before": STAMP,
             "revoked_at": STAMP}])
    engine.dispose()


def _rows(url: str, name: str) -> list[dict[str, Any]]:
    table = T[name]
    engine = create_engine(migrate.sync_url(url), poolclass=NullPool)
    cols = [cast(c, Text).label(f"{c.name}_raw") for c in table.columns
            if c.type.__class__.__name__ == "JSON"]
    with engine.connect() as conn:
        rows = conn.execute(select(table, *cols).order_by(*table.primary_key.columns)).all()
    engine.dispose()
    return [dict(r._mapping) for r in rows]


def test_awkward_values_survive(tmp_path: Path, pg_server: PostgresServer) -> None:
    src, dst = _sqlite(tmp_path), _pg(pg_server)
    _awkward(src)
    report = transfer.move(src, dst, batch=1)  # one-row batches: the streaming path
    assert migrate.current(dst) == migrate.current(src) is not None  # `serve` checks this
    counts = {t.name: t.rows for t in report.tables}
    assert counts["project"] == 2 and counts["revocation_event"] == 2
    assert len(report.tables) == len(Base.metadata.sorted_tables)
    for name in ("domain", "project", "image", "revocation_event"):
        assert _rows(dst, name) == _rows(src, name), name
    img = _rows(dst, "image")[0]
    assert img["size"] == BIG and img["virtual_size"] == 2**63 - 1 and img["protected"] is True
    assert img["created_at"] == STAMP and img["created_at"].tzinfo is None
    dom = _rows(dst, "domain")[0]
    assert dom["extra"]["nested"][2]["k"] == BIG and dom["description"] == TEXT
    child, parent = _rows(dst, "project")
    assert child["parent_id"] == "zzz-parent"
    assert parent["extra_raw"] == "null"  # JSON null, as stored
    # Sequences continue after the largest id, so new rows do not collide.
    engine = create_engine(migrate.sync_url(dst), poolclass=NullPool)
    with engine.begin() as conn:
        new = conn.execute(insert(T["revocation_event"]).values(
            issued_before=STAMP, revoked_at=STAMP).returning(T["revocation_event"].c.id))
        assert new.scalar_one() == 1001
    engine.dispose()


def test_aware_datetimes_become_naive_utc() -> None:
    aware = dt.datetime(2026, 1, 1, 12, 0, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert transfer._plain(aware) == dt.datetime(2026, 1, 1, 10, 0, 0, 5)
    assert transfer._plain(STAMP) is STAMP


def test_a_failed_copy_leaves_the_target_empty(tmp_path: Path,
                                               pg_server: PostgresServer) -> None:
    src, dst = _sqlite(tmp_path), _pg(pg_server)
    _awkward(src)
    # SQLite does not enforce VARCHAR lengths; PostgreSQL does. The last table fails.
    with sqlite3.connect(src.removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE revocation_event SET audit_id = ? WHERE id = 7", ("x" * 40,))
    with pytest.raises(transfer.TransferError, match=r"revocation_event.*nothing was committed"):
        transfer.move(src, dst)
    engine = create_engine(migrate.sync_url(dst), poolclass=NullPool)
    with engine.connect() as conn:
        assert transfer.non_empty_tables(conn) == []
    engine.dispose()
    # Once fixed, the same target takes the copy.
    with sqlite3.connect(src.removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE revocation_event SET audit_id = 'short' WHERE id = 7")
    assert transfer.move(src, dst).rows > 0


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, ["manage", "db", "migrate", *args])


def _refused(r: Any, *texts: str) -> None:
    assert r.exit_code == 1, r.output
    assert len(r.output.strip().splitlines()) == 1, r.output  # one line says what to do
    for t in texts:
        assert t in r.output, r.output


def test_refusals(tmp_path: Path, pg_server: PostgresServer) -> None:
    data = tmp_path / "data"
    data.mkdir()
    src = _sqlite(data)
    _awkward(src)
    full = _pg(pg_server)
    transfer.move(src, full)
    r = _cli("--data-dir", str(data), "--to", full)
    _refused(r, "is not empty", "new, empty database")
    r = _cli("--data-dir", str(data), "--to", "postgresql://onestack@127.0.0.1:1/nothere")
    _refused(r, "cannot reach the target database")
    r = _cli("--data-dir", str(data), "--to", f"sqlite:///{tmp_path / 'x.db'}")
    _refused(r, "must be a PostgreSQL URL")
    cfg = tmp_path / "pg.toml"
    cfg.write_text(f'[database]\nurl = "{full}"\n')
    r = _cli("--config", str(cfg), "--to", _pg(pg_server))
    _refused(r, "not SQLite")
    r = _cli("--data-dir", str(tmp_path / "nothing"), "--to", _pg(pg_server))
    _refused(r, "no Onestack database")
    r = _cli("--data-dir", str(data), "--to", _pg(pg_server), "--write-config")
    _refused(r, "--write-config needs")
    # Another process holding the database open (as a running Onestack does).
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time\n"
        f"c = sqlite3.connect({str(data / 'onestack.db')!r}); c.execute('select 1')\n"
        "print('ready', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        r = _cli("--data-dir", str(data), "--to", _pg(pg_server))
        _refused(r, "Onestack appears to be running")
        assert str(holder.pid) in r.output and "stop Onestack" in r.output
    finally:
        holder.kill()
        holder.wait()


def test_cli_writes_the_config(tmp_path: Path, pg_server: PostgresServer) -> None:
    data = tmp_path / "data"
    data.mkdir()
    src = _sqlite(data)
    _awkward(src)
    cfg = tmp_path / "onestack.toml"
    cfg.write_text(f'# my cloud\ndata_dir = "{data}"\n\n[server]\nport = 5001\n\n'
                   '[database]\npool_size = 5  # keep\n')
    # The form the docs show (no driver name): the psycopg driver is used for it.
    dst = _pg(pg_server).replace("postgresql+psycopg://", "postgresql://")
    started = time.monotonic()
    r = _cli("--config", str(cfg), "--to", dst, "--write-config")
    assert r.exit_code == 0, r.output
    assert time.monotonic() - started < 60
    # 7 rows of _awkward's and the 6 metadef resource types the image migration seeds
    assert f"moved {len(Base.metadata.sorted_tables)} tables, 13 rows" in r.output
    assert "files stay in" in r.output and "Fernet" in r.output
    settings = load_settings(cfg)
    assert settings.database.url == dst and settings.database.pool_size == 5
    assert settings.server.port == 5001 and settings.data_dir == data.resolve()
    assert "# my cloud" in cfg.read_text() and "# keep" in cfg.read_text()
    assert (tmp_path / "onestack.toml.bak").exists()
    # Without --write-config, the output says what to set.
    cfg2 = tmp_path / "plain.toml"
    cfg2.write_text(f'data_dir = "{data}"\n')
    r = _cli("--config", str(cfg2), "--to", (dst2 := _pg(pg_server)))
    assert r.exit_code == 0, r.output
    assert f'[database]\nurl = "{dst2}"' in r.output and cfg2.read_text().count("url") == 0


def test_a_source_behind_is_upgraded_first(tmp_path: Path, pg_server: PostgresServer) -> None:
    src, dst = f"sqlite:///{tmp_path / 'onestack.db'}", _pg(pg_server)
    migrate.upgrade(src, "0001")  # identity's tables only, as an older release left them
    assert migrate.current_heads(src) == {"0001"}
    engine = create_engine(src, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(insert(T["domain"]), [{"id": "default", "name": "Default",
                                            "description": "", "enabled": True, "extra": {},
                                            "created_at": STAMP}])
    engine.dispose()
    report = transfer.move(src, dst)
    assert migrate.current_heads(src) == migrate.current_heads(dst) != {"0001"}
    assert {t.name: t.rows for t in report.tables}["domain"] == 1
    assert report.total_seconds >= report.seconds > 0
