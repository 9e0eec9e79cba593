"""The one ``onestack`` command."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import logging.handlers
import os
import subprocess
import sys
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from onestack import __version__
from onestack.cli import agent as agent_cli
from onestack.cli import backup as backup_cli
from onestack.config import Settings, load_settings
from onestack.errors import ConfigError

console = Console(stderr=True)


def _settings(config: str | None, **overrides: object) -> Settings:
    try:
        return load_settings(config, **overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _logging(settings: Settings, to_file: bool, verbose: bool) -> None:
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for h in list(root.handlers):
        root.removeHandler(h)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    if to_file:
        logdir = settings.data_dir / "logs"
        logdir.mkdir(parents=True, exist_ok=True)
        fh = logging.handlers.RotatingFileHandler(logdir / "onestack.log",
                                                  maxBytes=50 * 1024 * 1024, backupCount=3)
        fh.setFormatter(fmt)
        root.addHandler(fh)
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    stream.setLevel(logging.INFO if (verbose or not to_file) else logging.WARNING)
    root.addHandler(stream)
    logging.getLogger("uvicorn.access").disabled = True


def _prepare_data_dir(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)


def _migrate(settings: Settings) -> None:
    from onestack.db import migrate

    logging.getLogger("alembic").setLevel(logging.WARNING)
    migrate.upgrade(settings.database_url)


def _quiet_server_class() -> type:
    import contextlib
    import signal

    import uvicorn

    class QuietServer(uvicorn.Server):
        """Stops cleanly on SIGINT/SIGTERM and exits 0 (uvicorn re-raises the signal)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self._stop, sig)
            try:
                yield
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

        def _stop(self, sig: int) -> None:
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True

    return QuietServer


async def _serve(settings: Settings,
                 before: Callable[[Any], Coroutine[Any, Any, None]] | None = None) -> None:
    import uvicorn

    from onestack.api.admission import Admission
    from onestack.api.app import Runtime, build_app

    # asyncio's default pool has min(32, cores + 4) threads: 6 on two cores, shared by
    # every file read and write, SQLite read and subprocess wait; under load, requests
    # queued there behind each other. Threads that wait cost little.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=64, thread_name_prefix="onestack-io"))
    runtime = Runtime(settings)
    app = Admission(build_app(settings, runtime))
    if before is not None:
        await before(runtime)
    tls = settings.server
    if bool(tls.tls_cert) != bool(tls.tls_key):
        raise click.ClickException("[server] tls_cert and tls_key go together")
    config = uvicorn.Config(app, host=settings.server.host, port=settings.server.port,
                            loop="none", http="httptools", lifespan="on", log_config=None,
                            access_log=False, timeout_graceful_shutdown=10,
                            timeout_keep_alive=int(settings.server.keep_alive_timeout),
                            ssl_certfile=tls.tls_cert or None, ssl_keyfile=tls.tls_key or None)
    server = _quiet_server_class()(config)
    # What start-up made (modules, mappers, the runtime) lives as long as the process: out
    # of the collector's sight, so that the full collections a large response (a page of
    # 1,000 servers) sets off scan only what requests made (server CPU per such page -30 %).
    gc.collect()
    gc.freeze()
    await server.serve()
    if not server.started:
        raise click.ClickException(
            f"could not serve on {settings.server.host}:{settings.server.port} "
            "(is the port in use? choose another with --port)")


def _run(coro: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


@click.group()
@click.version_option(__version__, prog_name="onestack")
def main() -> None:
    """Onestack: an OpenStack-compatible cloud on one machine, or many."""


@main.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Where everything lives (default ~/.local/share/onestack).")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port for every API (default 5000).")
@click.option("--config", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Optional TOML settings file.")
@click.option("--admin-password", envvar="ONESTACK_ADMIN_PASSWORD", default=None,
              help="Admin password on first start (default: generated).")
@click.option("-v", "--verbose", is_flag=True, help="Log every request to the terminal.")
def up(data_dir: Path | None, host: str | None, port: int | None, config: str | None,
       admin_password: str | None, verbose: bool) -> None:
    """Start a complete cloud on this machine, in the foreground (Ctrl-C stops it)."""
    from onestack.agent.preflight import missing_parts
    from onestack.api import registry
    from onestack.cli.clouds import clouds_path, write_clouds
    from onestack.core.identity.bootstrap import bootstrap

    settings = _settings(config, data_dir=data_dir, host=host, port=port)
    _prepare_data_dir(settings)
    _logging(settings, to_file=True, verbose=verbose)
    with console.status("Migrating the database...") as status:
        _migrate(settings)
        status.update("Bootstrapping identity...")

    async def prepare(runtime: Any) -> None:
        accounts = await bootstrap(
            runtime.identity, runtime.catalog_entries(),
            progress=lambda m: console.print(f"[dim]  {m}[/dim]"), admin_password=admin_password)
        await registry.bootstrap(runtime, lambda m: console.print(f"[dim]  {m}[/dim]"))
        if settings.image.seed_tiny_images:
            await _seed_images(runtime, accounts["admin"].project_id)
        auth_url = f"{settings.server.base_url()}/identity/v3"
        path = clouds_path()
        write_clouds(path, auth_url, accounts)
        console.print(f"[green]Onestack {__version__} is up[/green] at "
                      f"{settings.server.base_url()}  (data in {settings.data_dir})")
        console.print(f"  clouds.yaml: {path} (clouds [bold]onestack[/bold] = admin, "
                      "[bold]onestack-demo[/bold] = demo)")
        console.print("  try:  openstack --os-cloud onestack token issue")
        console.print(f"  admin password: {accounts['admin'].password}")
        console.print(f"  logs: {settings.data_dir / 'logs' / 'onestack.log'}")
        console.print("  Ctrl-C stops it; running it again keeps everything.")
        for line in missing_parts(settings, runtime.compute_agent.driver):
            console.print(f"[yellow]  {line}[/yellow]")

    _run(_serve(settings, prepare))


async def _seed_images(runtime: Any, owner: str) -> None:
    """The public tiny images; a failure is reported, not fatal (the cloud still serves)."""
    from onestack.images import TinyImageError
    from onestack.images.seed import seed_tiny_images

    try:
        await seed_tiny_images(runtime.image, runtime.db, owner or None,
                               lambda m: console.print(f"[dim]  {m}[/dim]"))
    except (TinyImageError, OSError, subprocess.CalledProcessError) as exc:
        console.print(f"[yellow]  could not make the tiny images: {exc}; upload an image "
                      "with `openstack image create` to boot servers[/yellow]")


@main.command()
@click.option("--config", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TOML settings file (database, server, identity).")
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
def serve(config: str | None, host: str | None, port: int | None) -> None:
    """Serve the APIs (stateless; run several behind a load balancer)."""
    from onestack.db import migrate

    settings = _settings(config, host=host, port=port)
    _logging(settings, to_file=False, verbose=True)
    if migrate.current(settings.database_url) is None:
        raise click.ClickException("the database is empty: run `onestack manage db upgrade` "
                                   "and `onestack manage bootstrap` first")
    _run(_serve(settings))


@main.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option("--config", type=click.Path(exists=True, dir_okay=False), default=None)
def down(data_dir: Path | None, config: str | None) -> None:
    """After the cloud is stopped: stop its guests (they show SHUTOFF at the next start) and
    remove its network data plane (namespaces, bridges, taps, nft tables, dnsmasq).
    Data, disks and images stay."""
    from onestack.agent.compute import make_driver
    from onestack.agent.network_setup import make_network_agent
    from onestack.core.network.service import NetworkService
    from onestack.db.engine import Database

    settings = _settings(config, data_dir=data_dir)

    async def run() -> None:
        driver = make_driver(settings.compute.virt_driver, settings.instances_path)
        for guest in await driver.list_guests():
            with contextlib.suppress(Exception):
                await driver.power_off(guest.uuid, timeout=10.0)
                click.echo(f"stopped guest {guest.uuid}")
        db = Database(settings.database_url)
        try:
            agent = make_network_agent(settings, db, NetworkService(db), lambda: "")
            if agent is not None and await agent.teardown():
                click.echo("network data plane removed")
        finally:
            await db.close()

    _run(run())


@main.group()
def manage() -> None:
    """Operator tasks: database, bootstrap, keys."""


@manage.group()
def db() -> None:
    """Database schema."""


F = TypeVar("F", bound=Callable[..., Any])


def _common(f: F) -> F:
    f = click.option("--config", type=click.Path(exists=True, dir_okay=False), default=None)(f)
    return click.option("--data-dir", type=click.Path(path_type=Path), default=None)(f)


@db.command("upgrade")
@_common
def db_upgrade(config: str | None, data_dir: Path | None) -> None:
    """Apply every migration."""
    settings = _settings(config, data_dir=data_dir)
    _prepare_data_dir(settings)
    _migrate(settings)
    click.echo("database is at the latest schema")


@db.command("migrate")
@_common
@click.option("--to", "target", required=True, metavar="URL",
              help="The new, empty PostgreSQL database: postgresql://user:pass@host:port/db")
@click.option("--write-config", is_flag=True,
              help="Point the --config file at the new database (old one kept as .bak).")
def db_migrate(config: str | None, data_dir: Path | None, target: str,
               write_config: bool) -> None:
    """Move an all-in-one SQLite database to PostgreSQL (stop Onestack first)."""
    from onestack.config_edit import database_snippet, set_database_url
    from onestack.db.transfer import TransferError, display_url, move

    if write_config and not config:
        raise click.ClickException("--write-config needs the deployment's --config FILE")
    settings = _settings(config, data_dir=data_dir)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        report = move(settings.database_url, target,
                      progress=lambda m: console.print(f"[dim]  {m}[/dim]"))
    except TransferError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"moved {len(report.tables)} tables, {report.rows} rows in "
               f"{report.total_seconds:.1f} s (copy {report.seconds:.1f} s) to "
               f"{display_url(target)}")
    click.echo(f"files stay in {settings.data_dir} (images, objects, volumes, instances, Fernet "
               "and credential keys): keep data_dir pointing there")
    if write_config and config:
        try:
            backup = set_database_url(Path(config), target, settings.data_dir)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"updated {config} to use the new database (previous file: {backup})")
    else:
        click.echo("to use it, put this in the config file you start Onestack with "
                   "(--config):\n\n" + database_snippet(target, settings.data_dir))
    click.echo(f"the SQLite file {settings.database_url.removeprefix('sqlite:///')} is left "
               "as it was; remove it once the new database serves you well")


@manage.command("bootstrap")
@_common
@click.option("--admin-password", envvar="ONESTACK_ADMIN_PASSWORD", default=None)
def manage_bootstrap(config: str | None, data_dir: Path | None,
                     admin_password: str | None) -> None:
    """Create the default domain, roles, admin and demo accounts and the catalog."""
    from onestack.api import registry
    from onestack.api.app import Runtime
    from onestack.core.identity.bootstrap import bootstrap

    settings = _settings(config, data_dir=data_dir)
    _prepare_data_dir(settings)

    async def run() -> None:
        runtime = Runtime(settings)
        try:
            accounts = await bootstrap(runtime.identity, runtime.catalog_entries(),
                                       progress=click.echo, admin_password=admin_password)
            await registry.bootstrap(runtime, click.echo)
        finally:
            await runtime.db.close()
        click.echo(f"admin password: {accounts['admin'].password}")

    asyncio.run(run())


@manage.group("token-keys")
def token_keys() -> None:
    """Fernet token keys."""


@token_keys.command("rotate")
@_common
def token_keys_rotate(config: str | None, data_dir: Path | None) -> None:
    """Promote the staged key, stage a new one, prune the oldest."""
    from onestack.core.identity.keys import KeyRepository

    settings = _settings(config, data_dir=data_dir)
    repo = KeyRepository(settings.fernet_key_dir, settings.identity.max_active_keys)
    repo.setup()
    primary = repo.rotate()
    click.echo(f"rotated: key {primary} is now primary in {settings.fernet_key_dir}")


@manage.group("key-manager")
def key_manager() -> None:
    """The key manager's master key (secrets at rest)."""


@key_manager.command("rotate-master-key")
@_common
def key_manager_rotate(config: str | None, data_dir: Path | None) -> None:
    """Make a new master key and re-wrap every project key under it (payloads untouched)."""
    from onestack.core.key_manager.crypto import KeyringError
    from onestack.core.key_manager.service import rotate_master_key
    from onestack.db.engine import Database
    from onestack.drivers.master_key import FileMasterKeyStore, MasterKeyError

    settings = _settings(config, data_dir=data_dir)

    async def run() -> None:
        db = Database(settings.database_url)
        try:
            done = await rotate_master_key(db, FileMasterKeyStore(settings.master_key_file))
        except (KeyringError, MasterKeyError) as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            await db.close()
        click.echo(f"master key {done.new_key} is primary in {settings.master_key_file}; "
                   f"{done.rewrapped} project keys re-wrapped; removed "
                   f"{', '.join(done.removed) or 'no old key'}")

    asyncio.run(run())


@main.group()
def images() -> None:
    """Guest images: the tiny bootable test image."""


@images.command("build-tiny")
@_common
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also copy the image here.")
@click.option("--force", is_flag=True, help="Build even when a cached image matches.")
def images_build_tiny(config: str | None, data_dir: Path | None, output: Path | None,
                      force: bool) -> None:
    """Build (or reuse from the cache) the tiny qcow2 test image; print its path."""
    import shutil

    from onestack.images import TinyImageError, build_tiny, default_cache_dir

    settings = _settings(config, data_dir=data_dir)
    _prepare_data_dir(settings)
    with console.status("Building the tiny image...") as status:

        def progress(message: str) -> None:
            console.print(f"[dim]  {message}[/dim]")
            status.update(message)

        try:
            path = build_tiny(default_cache_dir(settings.data_dir), force=force,
                              progress=progress)
        except TinyImageError as exc:
            raise click.ClickException(str(exc)) from exc
    if output is not None:
        shutil.copyfile(path, output)
        path = output
    click.echo(str(path))


@images.command("build-cloud")
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also copy the image here.")
@click.option("--force", is_flag=True, help="Build even when a cached image matches.")
def images_build_cloud(output: Path | None, force: bool) -> None:
    """Build (or reuse from the cache) a Debian image with real cloud-init; print its path."""
    import shutil

    from onestack.images.cloud import CloudImageError, build_cloud

    with console.status("Building the cloud-init image...") as status:

        def progress(message: str) -> None:
            console.print(f"[dim]  {message}[/dim]")
            status.update(message)

        try:
            path = build_cloud(force=force, progress=progress)
        except CloudImageError as exc:
            raise click.ClickException(str(exc)) from exc
    if output is not None:
        shutil.copyfile(path, output)
        path = output
    click.echo(str(path))


main.add_command(agent_cli.agent)
manage.add_command(agent_cli.agent_credential)
manage.add_command(backup_cli.backup)
manage.add_command(backup_cli.restore)

if __name__ == "__main__":
    main()
