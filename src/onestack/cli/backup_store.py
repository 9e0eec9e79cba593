"""What ``onestack manage backup`` writes and ``restore`` reads: one directory (mode 0700,
every file 0600) with ``manifest.json`` and the parts it names.

- ``database/onestack.sqlite3``: SQLite's online backup API (a consistent copy while the
  cloud runs), or ``database/onestack.dump``: ``pg_dump --format=custom`` for PostgreSQL.
- ``parts/<name>``: the keys and secrets of ``data_dir`` (Fernet token keys, credential keys,
  the key manager's master key, the metadata secret, the bootstrap accounts' passwords),
  and with ``--with-data`` the filesystem image and object stores and the file volumes.
- ``config/onestack.toml``: the ``--config`` file, when one was given.

Every file's SHA-256 is in the manifest; restore checks them all before it writes anything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from onestack import __version__
from onestack.config import Settings
from onestack.db import migrate

FORMAT = 1
MANIFEST = "manifest.json"


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Part:
    name: str
    target: Callable[[Settings], Path]
    data: bool = False  # bulk data: only with --with-data
    applies: Callable[[Settings], bool] = lambda _s: True


PARTS = [
    Part("fernet-keys", lambda s: s.fernet_key_dir),
    Part("credential-keys", lambda s: s.credential_key_dir),
    Part("master.key", lambda s: s.master_key_file),
    Part("metadata_secret", lambda s: s.data_dir / "metadata_secret"),
    Part("bootstrap-secrets.json", lambda s: s.data_dir / "bootstrap-secrets.json"),
    Part("images", lambda s: s.data_dir / "images", True, lambda s: s.image.store == "file"),
    Part("objects", lambda s: s.data_dir / "objects", True,
         lambda s: s.object_store.blob_store == "file"),
    Part("volumes", lambda s: s.volumes_path, True,
         lambda s: "file" in (s.volume.backends or [s.volume.driver])),
]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _private_copy(src: Path, dst: Path) -> None:
    """``src`` (a file or a tree) to ``dst``: directories 0700, files 0600."""
    if src.is_dir():
        dst.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(dst, 0o700)
        for child in sorted(src.iterdir()):
            if child.is_symlink():
                continue
            _private_copy(child, dst / child.name)
        return
    dst.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o600)


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): _sha256(p) for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != MANIFEST}


def is_postgresql(url: str) -> bool:
    return make_url(url).drivername.startswith("postgres")


def pg_tool(name: str) -> str:
    """The newest PostgreSQL client tool ``name`` installed (it must be at least as new as
    the server)."""
    for bindir in sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                         key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
                         reverse=True):
        if (bindir / name).exists():
            return str(bindir / name)
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (apt-get install postgresql-client)")
    return found


def pg_args(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and the environment that carries it (a password on
    a command line shows in ps)."""
    u = make_url(url)
    env = dict(os.environ)
    if u.password is not None:
        env["PGPASSWORD"] = str(u.password)
    plain = u.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(cmd: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BackupError(f"{Path(cmd[0]).name} failed: {proc.stderr.strip()[-2000:]}")


def _sqlite_file(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("the SQLite database has no file")
    return Path(database).resolve()


# --- backup ----------------------------------------------------------------------------------
def backup(settings: Settings, to: Path, config: Path | None, with_data: bool,
           progress: Callable[[str], None]) -> dict[str, Any]:
    if to.exists() and any(to.iterdir()):
        raise BackupError(f"{to} is not empty: back up into a new directory")
    to.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(to, 0o700)
    old_umask = os.umask(0o077)
    try:
        return _backup(settings, to, config, with_data, progress)
    finally:
        os.umask(old_umask)


def _backup(settings: Settings, to: Path, config: Path | None, with_data: bool,
            progress: Callable[[str], None]) -> dict[str, Any]:
    url = settings.database_url
    heads = sorted(migrate.current_heads(url))
    if not heads:
        raise BackupError("the database has no Onestack schema: nothing to back up")
    (to / "database").mkdir(mode=0o700)
    database: dict[str, Any] = {"alembic_heads": heads}
    if is_postgresql(url):
        dump = to / "database" / "onestack.dump"
        conninfo, env = pg_args(url)
        progress("dumping PostgreSQL (pg_dump)")
        _run([pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
              f"--file={dump}", f"--dbname={conninfo}"], env)
        database.update(kind="postgresql", path="database/onestack.dump")
    else:
        progress("copying SQLite (online backup)")
        dst = to / "database" / "onestack.sqlite3"
        source = sqlite3.connect(f"file:{_sqlite_file(url)}?mode=ro", uri=True)
        target = sqlite3.connect(dst)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        database.update(kind="sqlite", path="database/onestack.sqlite3")
    parts: list[str] = []
    skipped: list[str] = []
    for part in PARTS:
        src = part.target(settings)
        if part.data and not (with_data and part.applies(settings)):
            if part.applies(settings) and src.exists():
                skipped.append(part.name)
            continue
        if not src.exists():
            continue
        progress(f"copying {part.name}")
        _private_copy(src, to / "parts" / part.name)
        parts.append(part.name)
    if config is not None:
        _private_copy(config, to / "config" / "onestack.toml")
    manifest = {
        "format": FORMAT, "onestack_version": __version__,
        "created_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source_data_dir": str(settings.data_dir), "database": database, "parts": parts,
        "not_included": skipped, "config": "config/onestack.toml" if config else None,
        "with_data": with_data, "files": _files(to)}
    path = to / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    os.chmod(path, 0o600)
    return manifest


# --- restore ---------------------------------------------------------------------------------
def read_manifest(src: Path) -> dict[str, Any]:
    """The manifest, after checking its format, its version and every file's checksum."""
    try:
        manifest: dict[str, Any] = json.loads((src / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{src} is not an Onestack backup (no readable {MANIFEST}: "
                          f"{exc})") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')!r} is not one this "
                          f"Onestack ({__version__}) reads (format {FORMAT})")
    known = migrate_revisions()
    unknown = sorted(set(manifest["database"]["alembic_heads"]) - known)
    if unknown:
        raise BackupError(
            f"the backup's schema ({', '.join(unknown)}) is newer than this Onestack "
            f"({__version__}); it was made by {manifest.get('onestack_version')}: restore "
            "it with that version or a newer one")
    for rel, digest in manifest["files"].items():
        path = src / rel
        if not path.is_file() or _sha256(path) != digest:
            raise BackupError(f"{path} is missing or does not match the manifest's checksum: "
                              "the backup is damaged")
    return manifest


def migrate_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    return {rev.revision for rev in script.walk_revisions()}


def restore(settings: Settings, src: Path, force: bool,
            progress: Callable[[str], None]) -> dict[str, Any]:
    manifest = read_manifest(src)
    data_dir = settings.data_dir
    if data_dir.exists() and any(data_dir.iterdir()) and not force:
        raise BackupError(f"{data_dir} is not empty: restore into a new data directory, or "
                          "pass --force to write over what is there")
    url = settings.database_url
    kind = manifest["database"]["kind"]
    if kind == "postgresql" and not is_postgresql(url):
        raise BackupError("the backup holds a PostgreSQL database: give a --config whose "
                          "[database] url names an empty PostgreSQL database")
    if kind == "sqlite" and is_postgresql(url):
        raise BackupError("the backup holds a SQLite database: restore it without a "
                          "PostgreSQL [database] url, then move it with `onestack manage db "
                          "migrate --to`")
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(data_dir, 0o700)
    dump = src / manifest["database"]["path"]
    if kind == "postgresql":
        if migrate.current_heads(url):
            raise BackupError("the target PostgreSQL database already holds an Onestack "
                              "schema: restore into an empty database")
        conninfo, env = pg_args(url)
        progress("restoring PostgreSQL (pg_restore)")
        _run([pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
              f"--dbname={conninfo}", str(dump)], env)
    else:
        target = _sqlite_file(url)
        for extra in ("-wal", "-shm"):
            Path(f"{target}{extra}").unlink(missing_ok=True)
        progress(f"restoring SQLite into {target}")
        _private_copy(dump, target)
    for name in manifest["parts"]:
        part = next((p for p in PARTS if p.name == name), None)
        if part is None:
            raise BackupError(f"the backup holds a part this Onestack does not know: {name}")
        dst = part.target(settings)
        progress(f"restoring {name} into {dst}")
        if dst.is_dir():
            shutil.rmtree(dst)
        _private_copy(src / "parts" / name, dst)
    if manifest.get("config"):
        _private_copy(src / manifest["config"], data_dir / "restored-config.toml")
    progress("upgrading the schema to this version")
    migrate.upgrade(url)
    return manifest
