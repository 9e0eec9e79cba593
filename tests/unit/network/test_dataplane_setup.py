"""[network] dataplane: off, auto (falls back to off with one log line) and linux."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from onestack.agent import network_setup
from onestack.agent.network import NetworkAgent
from onestack.agent.network_plan import PlanConfig
from onestack.config import Settings, load_settings
from onestack.context import RequestContext
from onestack.core.network.service import NetworkService
from onestack.db import migrate
from onestack.db.engine import Database
from onestack.drivers.network.base import NetError
from onestack.drivers.network.fake import FakeNetDriver
from onestack.drivers.network.linux import LinuxNetDriver


def _args(tmp_path: Path, mode: str) -> tuple[Settings, Database, NetworkService]:
    settings = load_settings(None, data_dir=tmp_path)
    settings.network.dataplane = mode
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    return settings, db, NetworkService(db)


def test_off_makes_no_agent(tmp_path: Path) -> None:
    settings, db, net = _args(tmp_path, "off")
    assert network_setup.make_network_agent(settings, db, net, lambda: "h") is None


def test_auto_without_privileges_is_off_with_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(network_setup, "why_not_linux",
                        lambda: "not running as root (no CAP_NET_ADMIN)")
    settings, db, net = _args(tmp_path, "auto")
    with caplog.at_level(logging.INFO, logger="onestack.agent.network_setup"):
        assert network_setup.make_network_agent(settings, db, net, lambda: "h") is None
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "no CAP_NET_ADMIN" in lines[0] and "floating IPs" in lines[0]


def test_linux_agent_is_woken_by_network_commits(tmp_path: Path) -> None:
    settings, db, net = _args(tmp_path, "linux")
    agent = network_setup.make_network_agent(settings, db, net, lambda: "h",
                                             driver=FakeNetDriver())
    assert agent is not None
    assert agent.cfg.host_cidr == "172.24.4.1/24" and agent.cfg.external_bridge == "onb-ex"
    assert net.listeners == [agent.wake]


async def test_one_data_plane_per_host(tmp_path: Path) -> None:
    lock = str(tmp_path / "dataplane.lock")
    first = LinuxNetDriver(tmp_path / "a", lock_path=lock)
    second = LinuxNetDriver(tmp_path / "b", lock_path=lock)
    assert await first.claim_host() is None
    assert await first.claim_host() is None  # held already
    holder = await second.claim_host()
    assert holder is not None and str(tmp_path / "a") in holder


async def test_agent_without_the_host_stays_off(tmp_path: Path) -> None:
    class Taken(FakeNetDriver):
        async def claim_host(self) -> str | None:
            return "Onestack pid 1"

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate.upgrade(url)
    db = Database(url)
    net = NetworkService(db)
    admin = RequestContext(is_admin=True, project_id="p", roles=["admin"])
    network = (await net.networks.create(admin, [{"name": "n"}]))[0]
    port = (await net.ports.create(admin, [{"network_id": network.id}], {}))[0]
    agent = NetworkAgent(db, Taken(), PlanConfig(host="h"))
    await agent.start()
    assert agent.disabled == "Onestack pid 1" and not agent.started
    plug = await agent.plug_port(port.id)  # no tap: the guest gets user-mode networking
    assert plug.tap == "" and plug.mtu == network.mtu
    with pytest.raises(NetError):
        await agent.plug_port("no-such-port")
    await agent.stop()
    await db.close()
