"""What the integration tests with real tiny guests share (tests/integration/
test_network_guests.py, test_lb_guests.py): the checks before such a test runs (root, QEMU,
no other data plane; the test re-run in its own network namespace), the tiny image, a
temporary dir with an SSH key, a guest (QEMU, TCG) on a tap, the metadata a guest reads, and
a network node (SQLite database, Linux network driver, network agent) torn down afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from onestack.agent.network import NetworkAgent
from onestack.agent.network_plan import PlanConfig
from onestack.config import default_data_dir
from onestack.context import RequestContext
from onestack.core.network.service import NetworkService
from onestack.db import migrate
from onestack.db.engine import Database
from onestack.db.models.network import Port
from onestack.drivers.network.linux import LinuxNetDriver
from onestack.images import build_tiny, default_cache_dir
from tests.integration.test_network_dataplane import (
    _cleanup,
    _conflict,
    _skip_reason,
    run_isolated,
)

HOST = "itest-host"
ADMIN = RequestContext(is_admin=True, project_id="admin-p", roles=["admin"])
DEMO = RequestContext(project_id="demo-p", roles=["member"])
OTHER = RequestContext(project_id="other-p", roles=["member"])


def skip_reason(*tools: str) -> str | None:
    """Why a guest test cannot run here (QEMU, ssh and ``tools`` on PATH, root, a usable
    network data plane), or None."""
    missing = [t for t in ("qemu-system-x86_64", "ssh", *tools) if shutil.which(t) is None]
    if missing:
        return f"needs {' and '.join(missing)}"
    return _skip_reason()


@dataclass
class Workdir:
    """The tiny image, a temporary dir and an SSH key in it; the guests started there."""

    image: Path
    tmp: Path
    key: Path
    vms: list[Vm] = field(default_factory=list)

    @property
    def pubkey(self) -> str:
        return self.key.with_suffix(".pub").read_text()

    def close(self) -> None:
        for vm in self.vms:
            vm.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def prepare(request: pytest.FixtureRequest, prefix: str, *tools: str) -> Workdir | None:
    """Skip the test when it cannot run here; None when it ran in its own network namespace
    (the fixture yields None and the test returns); else a Workdir (the caller closes it)."""
    reason = skip_reason(*tools)
    if reason:
        pytest.skip(reason)
    if run_isolated(request.node.nodeid):
        return None
    if (conflict := _conflict()) is not None:
        pytest.skip(conflict)
    cache = Path(os.environ.get("ONESTACK_TINY_CACHE") or default_cache_dir(default_data_dir()))
    image = build_tiny(cache)
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    key = tmp / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return Workdir(image, tmp, key)


class GuestMetadata:
    """What the lead's compute metadata service answers, for the instances a test made; a
    port's instance is the one the test made the port for (its device_id, written by admin).
    ``user_data`` is every guest's."""

    def __init__(self, key: str, db: Database, user_data: str) -> None:
        self.key, self.db, self.user_data = key, db, user_data

    async def instance_of_port(self, port_id: str, project_id: str) -> str | None:
        async with self.db.read() as s:
            port = await s.get(Port, port_id)
        return port.device_id if port is not None and port.project_id == project_id else None

    async def answer(self, instance: str, path: str) -> tuple[int, str, bytes]:
        if path.rstrip("/") == "/openstack/latest/meta_data.json":
            doc = {"uuid": instance, "name": instance, "hostname": instance,
                   "public_keys": {"k": self.key}, "launch_index": 0}
            return 200, "application/json", json.dumps(doc).encode()
        if path.rstrip("/") == "/openstack/latest/user_data":
            return 200, "text/plain", self.user_data.encode()
        return 404, "text/plain", b"Not Found\n"


@dataclass
class NetworkNode:
    db: Database
    driver: LinuxNetDriver
    net: NetworkService
    agent: NetworkAgent


@contextlib.asynccontextmanager
async def network_node(work: Workdir, user_data: str) -> AsyncIterator[NetworkNode]:
    """A SQLite database, the Linux network driver and a network agent (not started) that
    serves GuestMetadata; afterwards every namespace, link and table it made is removed."""
    url = f"sqlite:///{work.tmp / 'db.sqlite'}"
    await asyncio.to_thread(migrate.upgrade, url)
    db = Database(url)
    driver = LinuxNetDriver(work.tmp / "state", lock_path=str(work.tmp / "dataplane.lock"))
    net = NetworkService(db)
    agent = NetworkAgent(db, driver, PlanConfig(host=HOST), interval=2.0,
                         metadata=GuestMetadata(work.pubkey, db, user_data))
    net.subscribe(agent.wake)
    try:
        yield NetworkNode(db, driver, net, agent)
    finally:
        for vm in work.vms:
            vm.close()
        await _cleanup(None, driver)
        await agent.stop()
        await db.close()


def config_drive(tmp: Path, name: str, key: str, user_data: str) -> Path:
    """An ISO 9660 config drive (label config-2) with the guest's metadata and user data."""
    tree = tmp / f"{name}-cd"
    latest = tree / "openstack" / "latest"
    latest.mkdir(parents=True)
    (latest / "meta_data.json").write_text(json.dumps({
        "uuid": name, "name": name, "hostname": name, "public_keys": {"k": key}}))
    (latest / "user_data").write_text(user_data)
    iso = tmp / f"{name}.iso"
    subprocess.run(["genisoimage", "-quiet", "-o", str(iso), "-V", "config-2", "-r", "-J",
                    str(tree)], check=True)
    return iso


class Vm:
    """A tiny guest (QEMU, TCG, 128 MiB) on ``tap``, its console in a file; with ``drive``
    a config drive too."""

    def __init__(self, work: Path, image: Path, name: str, tap: str, mac: str, mtu: int,
                 drive: Path | None = None) -> None:
        self.console = work / f"{name}.console"
        disk = work / f"{name}.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                        str(image), str(disk)], check=True)
        cmd = ["qemu-system-x86_64", "-accel", "tcg", "-machine", "pc", "-cpu", "max",
               "-smp", "1", "-m", "128", "-nodefaults", "-no-user-config", "-display", "none",
               "-monitor", "none", "-drive", f"file={disk},if=virtio,format=qcow2,cache=unsafe"]
        if drive is not None:
            cmd += ["-drive", f"file={drive},if=virtio,format=raw,readonly=on"]
        cmd += ["-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no",
                "-device", f"virtio-net-pci,netdev=n0,mac={mac},romfile=,host_mtu={mtu}",
                "-serial", f"file:{self.console}"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def text(self) -> str:
        try:
            return self.console.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


async def wait_for(check: Callable[[], Any], timeout: float) -> bool:
    """Whether ``check()`` (run in a thread, once a second) turned true within ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await asyncio.to_thread(check):
            return True
        await asyncio.sleep(1)
    return False


def ssh(key: Path, ip: str, command: str, timeout: int = 5) -> str | None:
    """``ssh root@ip command``'s output, or None when it failed."""
    proc = subprocess.run(
        ["ssh", "-i", str(key), "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
         "-o", f"ConnectTimeout={timeout}", "-o", "LogLevel=ERROR", f"root@{ip}", command],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None
