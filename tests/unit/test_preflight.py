"""First start on a host that lacks parts: one line per missing part (what, what it turns
off, the install command), the APIs still served, and no compute agent without QEMU."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from onestack.agent import preflight
from onestack.api.app import Runtime
from onestack.config import load_settings
from onestack.drivers.virt.qemu.driver import QemuDriver


def test_qemu_missing_names_it_and_the_install_command(tmp_path: Path) -> None:
    driver = QemuDriver(tmp_path, qemu="qemu-system-none-here")
    why = driver.unavailable()
    assert why is not None
    assert "qemu-system-none-here" in why
    assert "apt-get install qemu-system-x86 qemu-utils" in why


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None
                    or shutil.which("qemu-img") is None, reason="QEMU is not installed")
def test_qemu_installed_is_available(tmp_path: Path) -> None:
    assert QemuDriver(tmp_path).unavailable() is None


def test_without_qemu_the_api_runs_without_a_compute_agent(tmp_path: Path) -> None:
    settings = load_settings(None, data_dir=tmp_path)
    settings.network.dataplane = "off"
    driver = QemuDriver(tmp_path / "instances", qemu="qemu-system-none-here")
    runtime = Runtime(settings, virt_driver=driver)
    assert runtime.compute_agent.start not in runtime.startup
    assert runtime.compute_agent.stop not in runtime.shutdown
    lines = preflight.missing_parts(settings, driver)
    assert len(lines) == 1 and lines[0].startswith("QEMU is not installed")


def test_without_root_the_network_line_says_to_run_as_root(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(None, data_dir=tmp_path)
    monkeypatch.setattr(preflight, "why_not_linux",
                        lambda: "not running as root (no CAP_NET_ADMIN)")
    monkeypatch.setattr(preflight, "has_net_admin", lambda: False)
    [line] = preflight.missing_parts(settings, None)
    assert line.startswith("network data plane off (not running as root")
    assert "start Onestack as root" in line
    assert "floating IPs" in line  # what it turns off


def test_missing_network_tools_name_their_packages(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(None, data_dir=tmp_path)
    monkeypatch.setattr(preflight, "why_not_linux", lambda: "nft, dnsmasq not installed")
    monkeypatch.setattr(preflight, "has_net_admin", lambda: True)
    monkeypatch.setattr(preflight, "missing_tools", lambda: ["nft", "dnsmasq"])
    [line] = preflight.missing_parts(settings, None)
    assert "apt-get install dnsmasq-base nftables" in line


def test_missing_haproxy_leaves_load_balancers_api_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(None, data_dir=tmp_path)
    monkeypatch.setattr(preflight, "why_not_linux", lambda: None)
    monkeypatch.setattr(preflight.shutil, "which",
                        lambda tool: None if tool == "haproxy" else f"/usr/bin/{tool}")
    [line] = preflight.missing_parts(settings, None)
    assert "apt-get install haproxy" in line
    settings.load_balancer.driver = "fake"
    assert preflight.missing_parts(settings, None) == []
