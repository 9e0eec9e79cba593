"""Alembic migrations, run from code (``onestack manage db upgrade`` and ``onestack up``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from onestack.db.engine import sync_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Every service keeps its own branch of revisions (branch label = service name)."""
    command.upgrade(alembic_config(url), revision)


def current_heads(url: str) -> set[str]:
    """The revisions the database is at: one head per service branch (empty: no schema)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()


def current(url: str) -> str | None:
    """The heads, comma-separated, or None for a database without our schema. (Alembic's
    get_current_revision() refuses a database with several branches, as ours has.)"""
    heads = current_heads(url)
    return ",".join(sorted(heads)) if heads else None
