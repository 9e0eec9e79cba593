"""``onestack manage backup`` and ``onestack manage restore`` (backup_store.py does the work)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from onestack.cli import backup_store
from onestack.cli.backup_store import BackupError
from onestack.config import Settings, load_settings
from onestack.errors import ConfigError

_CONFIG = click.option("--config", type=click.Path(exists=True, dir_okay=False,
                                                   path_type=Path), default=None,
                       help="The deployment's TOML settings file.")
_DATA_DIR = click.option("--data-dir", type=click.Path(path_type=Path), default=None)


def _settings(config: Path | None, data_dir: Path | None) -> Settings:
    try:
        return load_settings(config, data_dir=data_dir)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _say(message: str) -> None:
    click.echo(f"  {message}")


@click.command("backup")
@_CONFIG
@_DATA_DIR
@click.option("--to", "to", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="A new (or empty) directory for the backup.")
@click.option("--with-data", is_flag=True,
              help="Also copy the filesystem image and object stores and the file volumes.")
def backup(config: Path | None, data_dir: Path | None, to: Path, with_data: bool) -> None:
    """Back up a running cloud: the database (online), its keys and the config."""
    settings = _settings(config, data_dir)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        manifest = backup_store.backup(settings, to, config, with_data, _say)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"backup of {settings.data_dir} ({manifest['database']['kind']}, "
               f"{len(manifest['files'])} files) in {to}")
    left = manifest["not_included"]
    if left:
        click.echo(f"not included: {', '.join(left)} (add --with-data, or back them up "
                   "with the filesystem: docs/operations.md)")


@click.command("restore")
@_CONFIG
@_DATA_DIR
@click.option("--from", "src", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A directory `onestack manage backup` wrote.")
@click.option("--force", is_flag=True, help="Write into a data directory that is not empty.")
def restore(config: Path | None, data_dir: Path | None, src: Path, force: bool) -> None:
    """Restore a backup into a new data directory (and an empty PostgreSQL database when
    the config names one); the cloud must not be running on it."""

    settings = _settings(config, data_dir)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        manifest = backup_store.restore(settings, src, force, _say)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"restored the backup of {manifest['created_at']} (Onestack "
               f"{manifest['onestack_version']}) into {settings.data_dir}")
    if manifest.get("config"):
        click.echo(f"the backed-up config is {settings.data_dir / 'restored-config.toml'}: "
                   "check its data_dir and [database] url before starting with it")
