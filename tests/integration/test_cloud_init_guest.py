"""A real cloud-init guest (Debian bookworm, ``onestack images build-cloud``) reads what
Onestack serves: a server is made through openstacksdk on the in-process cloud (key pair,
``#cloud-config`` user data, a port on a tenant network), its config drive is made by
Onestack's own metadata code and ISO writer, or its metadata service is reached over HTTP
with Nova's signed proxy headers; the image boots under QEMU (TCG) with the port's MAC on a
user-mode network laid out like the tenant subnet. cloud-init sets the host name, installs
the key for its default user, configures the NIC from ``network_data.json`` and writes the
file the user data names; the test reads that file over SSH.

Slow (a Debian boot under TCG on a loaded machine takes minutes, see docs/guest-images.md):
runs only with ``ONESTACK_SLOW_GUESTS=1``."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from onestack.api.metadata.routes import shared_secret, sign
from onestack.core.compute.metadata import MetadataService
from onestack.db.engine import Database
from onestack.drivers.virt.disks import DiskBuilder
from onestack.drivers.virt.qemu.cmdline import smbios_arg
from onestack.images.cloud import SSH_USER, build_cloud, missing_tools
from tests.api.conftest import connect
from tests.integration.tiny_guest import free_port, iso_tool
from tests.support.server import CloudThread, RunningCloud

pytestmark = [pytest.mark.integration]


def _skip_reason() -> str | None:
    if os.environ.get("ONESTACK_SLOW_GUESTS") != "1":
        return "slow (minutes under TCG): set ONESTACK_SLOW_GUESTS=1"
    if shutil.which("qemu-system-x86_64") is None or iso_tool() is None:
        return "needs qemu-system-x86 and genisoimage"
    if missing_tools():
        return f"the cloud image builder needs: apt-get install {' '.join(missing_tools())}"
    if os.geteuid() != 0:
        return "needs root (debootstrap)"
    return None


if (reason := _skip_reason()) is not None:
    pytest.skip(reason, allow_module_level=True)

MARKER = "cloud-init-wrote-this-4d2a"
USER_DATA = f"""#cloud-config
write_files:
  - path: /etc/onestack-test
    permissions: "0644"
    content: |
      {MARKER}
"""
BOOT_TIMEOUT = float(os.environ.get("ONESTACK_SLOW_GUEST_TIMEOUT", "900"))
# QEMU's guestfwd runs this per guest connection: one HTTP request, forwarded to the
# cloud's metadata API with the headers Nova's metadata proxy adds.
PROXY = """
import sys, httpx
line = sys.stdin.buffer.readline().decode()
while sys.stdin.buffer.readline().strip():
    pass
path = line.split()[1] if len(line.split()) > 1 else "/"
r = httpx.get(sys.argv[1] + path, headers={"X-Instance-ID": sys.argv[2],
              "X-Instance-ID-Signature": sys.argv[3], "X-Tenant-ID": sys.argv[4]})
head = f"HTTP/1.0 {r.status_code} X\\r\\nContent-Type: {r.headers.get('content-type')}\\r\\n"
head += f"Content-Length: {len(r.content)}\\r\\nConnection: close\\r\\n\\r\\n"
sys.stdout.buffer.write(head.encode() + r.content)
sys.stdout.buffer.flush()
"""


@pytest.fixture(scope="module")
def image() -> Path:
    return build_cloud()


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningCloud]:
    thread = CloudThread()
    try:
        yield thread.start()
    finally:
        thread.stop()


class CloudGuest:
    """The server's guest: QEMU with an overlay on the image, the port's MAC, SSH
    forwarded from a local port."""

    def __init__(self, tmp: Path, image: Path, key: Path) -> None:
        self.tmp, self.image, self.key = tmp, image, key
        self.console = tmp / "console.log"
        self.ssh_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, uuid: str, mac: str, netdev: str, drives: list[str]) -> None:
        disk = self.tmp / "disk.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                        str(self.image), str(disk), "2G"], check=True)
        smbios = {"manufacturer": "OpenStack Foundation", "product": "OpenStack Nova",
                  "serial": uuid, "uuid": uuid}  # as the compute agent gives its guests
        cmd = ["qemu-system-x86_64", "-accel", "tcg", "-machine", "pc", "-cpu", "max",
               "-smp", "2", "-m", "1024", "-nodefaults", "-no-user-config",
               "-display", "none", "-monitor", "none", "-boot", "strict=on",
               *smbios_arg(smbios),
               "-drive", f"file={disk},if=virtio,format=qcow2,cache=unsafe",
               *[a for d in drives for a in ("-drive", d)],
               "-netdev", f"{netdev},hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22",
               "-device", f"virtio-net-pci,netdev=n0,mac={mac},romfile=",
               "-serial", f"file:{self.console}"]
        with (self.tmp / "qemu.out").open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)

    def text(self) -> str:
        try:
            return self.console.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def ssh(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ssh", "-i", str(self.key), "-p", str(self.ssh_port), "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", f"{SSH_USER}@127.0.0.1",
             command], capture_output=True, text=True, timeout=60, check=False,
            stdin=subprocess.DEVNULL)

    def wait_ssh(self, command: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"QEMU exited ({self.proc.returncode}):\n"
                                     f"{self.text()[-4000:]}")
            proc = self.ssh(command)
            if proc.returncode == 0:
                return proc.stdout
            if time.monotonic() > deadline:
                raise AssertionError(f"no SSH after {timeout}s ({proc.stderr.strip()}):\n"
                                     f"{self.text()[-6000:]}")
            time.sleep(3)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def guest(tmp_path: Path, image: Path) -> Iterator[CloudGuest]:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                   check=True)
    vm = CloudGuest(tmp_path, image, key)
    try:
        yield vm
    finally:
        vm.close()


def make_server(cloud: RunningCloud, image: Path, key: Path, name: str, cidr: str,
                dhcp: bool, config_drive: bool) -> dict[str, Any]:
    """A server on a new tenant network; its id, port MAC and fixed IP."""
    conn = connect(cloud, "demo")
    net = conn.network.create_network(name=f"{name}-net")
    gateway = cidr.replace("0/24", "1")
    conn.network.create_subnet(network_id=net.id, cidr=cidr, ip_version=4,
                               gateway_ip=gateway, enable_dhcp=dhcp,
                               dns_nameservers=[cidr.replace("0/24", "3")])
    glance = conn.image.create_image(name=f"{name}-image", filename=str(image),
                                     disk_format="qcow2", container_format="bare",
                                     os_admin_user=SSH_USER)
    conn.compute.create_keypair(name=f"{name}-key",
                                public_key=key.with_suffix(".pub").read_text())
    server = conn.compute.create_server(
        name=name, image_id=glance.id, flavor_id="1", networks=[{"uuid": net.id}],
        key_name=f"{name}-key", config_drive=config_drive,
        user_data=base64.b64encode(USER_DATA.encode()).decode())
    server = conn.compute.wait_for_server(server, wait=120)
    port = next(iter(conn.network.ports(device_id=server.id)))
    return {"id": server.id, "mac": port.mac_address,
            "ip": port.fixed_ips[0]["ip_address"], "project": server.project_id,
            "conn": conn, "net": net.id, "image": glance.id, "key": f"{name}-key"}


def metadata_get(cloud: RunningCloud, server: dict[str, Any], path: str) -> httpx.Response:
    secret = shared_secret(cloud.settings)
    return httpx.get(f"{cloud.base_url}/metadata/{path}", headers={
        "X-Instance-ID": server["id"], "X-Instance-ID-Signature": sign(secret, server["id"]),
        "X-Tenant-ID": server["project"]})


def config_drive(cloud: RunningCloud, server: dict[str, Any], dest: Path) -> Path:
    """The ISO the compute agent would attach: Onestack's metadata documents (network data
    as the metadata API serves it), written by the virt driver's ISO writer."""
    network_data = metadata_get(cloud, server, "openstack/latest/network_data.json").json()

    async def run() -> None:
        db = Database(cloud.settings.database_url)
        try:
            async def net(_uuid: str) -> dict[str, Any]:
                return dict(network_data)

            files = await MetadataService(db, net).config_drive(server["id"])
            assert files is not None
            await DiskBuilder(dest.parent / "base").config_drive(files, dest)
        finally:
            await db.close()

    asyncio.run(run())
    return dest


def cleanup(server: dict[str, Any]) -> None:
    conn = server["conn"]
    conn.compute.delete_server(server["id"])
    conn.compute.wait_for_delete(conn.compute.get_server(server["id"]), wait=60)
    conn.compute.delete_keypair(server["key"])
    conn.image.delete_image(server["image"])
    for port in conn.network.ports(network_id=server["net"]):
        conn.network.delete_port(port.id)
    conn.network.delete_network(server["net"])


def check_guest(vm: CloudGuest, name: str) -> None:
    started = time.monotonic()
    assert vm.wait_ssh("cat /etc/onestack-test", BOOT_TIMEOUT).strip() == MARKER
    print(f"{name}: SSH and the user data's file after {time.monotonic() - started:.0f}s "
          "(after the first SSH attempt)", file=sys.stderr)
    assert vm.ssh("hostname").stdout.strip() == name
    result = vm.ssh("cloud-init status --wait --long; cat /run/cloud-init/result.json")
    assert "status: done" in result.stdout, result.stdout + vm.text()[-3000:]
    assert '"errors": []' in result.stdout, result.stdout
    # what cloud-init complained about (shown with -s): Onestack's data should give none
    warnings = vm.ssh("grep -E 'WARNING|ERROR|Traceback' /var/log/cloud-init.log || true")
    print(f"{name}: cloud-init warnings:\n{warnings.stdout}", file=sys.stderr)
    assert "Invalid cloud-config" not in warnings.stdout, warnings.stdout
    assert "Traceback" not in warnings.stdout, warnings.stdout


def test_config_drive_static_network(cloud: RunningCloud, image: Path, guest: CloudGuest
                                     ) -> None:
    server = make_server(cloud, image, guest.key, "ci-drive", "10.0.7.0/24", dhcp=False,
                         config_drive=True)
    try:
        drive = config_drive(cloud, server, guest.tmp / "disk.config")
        # slirp laid out like the subnet: gateway .1 (slirp's host), DNS .3, and the
        # guest's static address from network_data.json
        guest.start(server["id"], server["mac"],
                    f"user,id=n0,net=10.0.7.0/24,host=10.0.7.1,dns=10.0.7.3,"
                    f"dhcpstart={server['ip']}",
                    [f"file={drive},if=virtio,format=raw,readonly=on"])
        check_guest(guest, "ci-drive")
        addr = guest.ssh("ip -4 -o addr show dev eth0").stdout
        assert f"{server['ip']}/24" in addr  # static, from network_data.json
        ds = guest.ssh("cat /run/cloud-init/instance-data.json").stdout
        assert '"ConfigDrive"' in ds or "configdrive" in ds.lower()
    finally:
        guest.close()
        cleanup(server)


def test_metadata_service_dhcp_network(cloud: RunningCloud, image: Path, guest: CloudGuest
                                       ) -> None:
    server = make_server(cloud, image, guest.key, "ci-mds", "10.0.8.0/24", dhcp=True,
                         config_drive=False)
    try:
        script = guest.tmp / "proxy.py"
        script.write_text(PROXY)
        secret = shared_secret(cloud.settings)
        fwd = (f"cmd:{sys.executable} {script} {cloud.base_url}/metadata {server['id']} "
               f"{sign(secret, server['id'])} {server['project']}")
        # DHCP (network_data.json says ipv4_dhcp) from slirp on the metadata address's
        # network, 169.254.169.254 forwarded to the metadata API
        guest.start(server["id"], server["mac"],
                    "user,id=n0,net=169.254.169.0/24,host=169.254.169.2,"
                    f"dhcpstart=169.254.169.15,guestfwd=tcp:169.254.169.254:80-{fwd}", [])
        check_guest(guest, "ci-mds")
        ds = guest.ssh("cat /run/cloud-init/instance-data.json").stdout
        assert "openstack" in ds.lower()
    finally:
        guest.close()
        cleanup(server)
