"""``onestack agent`` (a compute host of a multi-node cloud) and ``onestack manage
agent-credential`` (its credential on the controller)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import socket
import sys
import urllib.parse
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from onestack.config import Settings, load_settings
from onestack.errors import BadRequest, ConfigError, Forbidden, Unauthorized

T = TypeVar("T")

log = logging.getLogger("onestack.agent")
RETRY_MAX = 30.0  # seconds between tries to reach the controller, at most


def _settings(config: str | None, data_dir: Path | None) -> Settings:
    try:
        return load_settings(config, data_dir=data_dir)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _log_to_stderr() -> None:
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def read_secret(path: Path) -> str:
    try:
        secret = path.read_text().strip()
    except OSError as exc:
        raise click.ClickException(f"cannot read the credential file {path}: {exc}") from exc
    if not secret:
        raise click.ClickException(f"the credential file {path} is empty")
    return secret


def tunnel_address(configured: str, controller: str) -> str:
    """``[network] tunnel_ip``, else the address this host reaches the controller from."""
    if configured:
        try:
            return str(ipaddress.ip_address(configured))
        except ValueError as exc:
            raise click.ClickException(
                f"[network] tunnel_ip: {configured!r} is not an IP address") from exc
    url = urllib.parse.urlsplit(controller)
    try:
        family = socket.AF_INET6 if ":" in (url.hostname or "") else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((url.hostname or "127.0.0.1", url.port or 5000))
            return str(probe.getsockname()[0])
    except OSError as exc:
        raise click.ClickException(
            f"cannot tell this host's address toward {controller} ({exc}): set "
            "[network] tunnel_ip") from exc


async def run_agent(settings: Settings, controller: str, host: str, secret: str,
                    verify: bool | str) -> None:
    from onestack.agent.compute import ComputeAgent, make_driver
    from onestack.agent.guest_disks import CephClient
    from onestack.agent.http_link import HttpLink, HttpNetworkState
    from onestack.agent.network_setup import make_compute_host_network_agent
    from onestack.drivers.devices import make_discovery

    link = HttpLink(controller, secret, verify=verify)
    link.host_ip = tunnel_address(settings.network.tunnel_ip, controller)
    driver = make_driver(settings.compute.virt_driver, settings.instances_path)
    c = settings.compute
    agent = ComputeAgent(link, driver, settings.instances_path, c.reconcile_interval,
                         force_config_drive=c.force_config_drive,
                         image_cache_ttl=c.image_cache_ttl,
                         devices=make_discovery(c.device_discovery, driver.name), host=host,
                         address=link.host_ip or "127.0.0.1",
                         ceph=CephClient.from_config(c))
    network = make_compute_host_network_agent(settings, HttpNetworkState(link, host), host,
                                              link.host_ip)
    agent.network = network
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    delay = 1.0
    try:
        if network is not None:  # before the guests: they are plugged into it
            await network.start()
        while not stop.is_set():
            try:
                await agent.start()
                break
            except (Unauthorized, Forbidden) as exc:
                raise click.ClickException(
                    f"the controller refused host {host}: {exc}") from exc
            except Exception as exc:  # controller not reachable yet: try again
                log.warning("cannot register host %s with %s yet: %s; retrying in %.0fs",
                            host, controller, exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, RETRY_MAX)
        await stop.wait()
    finally:
        if network is not None:
            await network.stop()
        await agent.stop()
        await link.close()


@click.command()
@click.option("--controller", required=True, metavar="URL",
              help="The controller's base URL, e.g. https://controller:5000")
@click.option("--host", "host", required=True, help="This compute host's name.")
@click.option("--credential", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="File holding the host's credential.")
@click.option("--config", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TOML settings file ([compute] section).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Where instance disks and cached images live.")
@click.option("--ca", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CA bundle to verify the controller's TLS certificate with.")
@click.option("--insecure", is_flag=True, help="Do not verify the controller's certificate.")
def agent(controller: str, host: str, credential: Path, config: str | None,
          data_dir: Path | None, ca: str | None, insecure: bool) -> None:
    """Run this machine's compute agent for a controller (multi-node)."""
    settings = _settings(config, data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _log_to_stderr()
    secret = read_secret(credential)
    verify: bool | str = False if insecure else (ca or True)
    asyncio.run(run_agent(settings, controller, host, secret, verify))


@click.group("agent-credential")
def agent_credential() -> None:
    """Credentials of compute hosts' agents (onestack agent)."""


def _db_options(f: click.decorators.FC) -> click.decorators.FC:
    f = click.option("--config", type=click.Path(exists=True, dir_okay=False),
                     default=None)(f)
    return click.option("--data-dir", type=click.Path(path_type=Path), default=None)(f)


def write_secret(path: Path, secret: str) -> None:
    """Written readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    os.chmod(path, 0o600)


def _on_credentials(config: str | None, data_dir: Path | None,
                    call: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
    """``call(AgentCredentials)`` on the deployment's database."""
    from onestack.core.compute.agent_credentials import AgentCredentials
    from onestack.db.engine import Database

    settings = _settings(config, data_dir)

    async def run() -> T:
        db = Database(settings.database_url)
        try:
            return await call(AgentCredentials(db))
        finally:
            await db.close()

    return asyncio.run(run())


@agent_credential.command("create")
@_db_options
@click.option("--host", "host", required=True, help="The compute host's name.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the secret to this file (mode 0600) instead of printing it.")
def credential_create(config: str | None, data_dir: Path | None, host: str,
                      output: Path | None) -> None:
    """A new credential for HOST (its previous one stops working)."""
    try:
        secret = _on_credentials(config, data_dir, lambda creds: creds.create(host))
    except BadRequest as exc:
        raise click.ClickException(exc.message) from exc
    if output is None:
        click.echo(secret)
    else:
        write_secret(output, secret)
        click.echo(f"credential of host {host} written to {output}", err=True)


@agent_credential.command("revoke")
@_db_options
@click.option("--host", "host", required=True)
def credential_revoke(config: str | None, data_dir: Path | None, host: str) -> None:
    """HOST's agent can no longer call the controller."""
    if not _on_credentials(config, data_dir, lambda creds: creds.revoke(host)):
        raise click.ClickException(f"host {host} has no credential")
    click.echo(f"credential of host {host} revoked")
