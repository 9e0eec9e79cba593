"""Nova on real QEMU guests (TCG here): the tiny image, uploaded as `onestack up` does, booted
through openstacksdk; every action reaches the state the API reference gives and the QEMU
process agrees; a snapshot boots; guests outlive a restart of the cloud; a guest killed with
SIGKILL shows SHUTOFF within a reconcile period; deleting everything leaves no process, file
or allocation behind."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import openstack
import pytest

from onestack.drivers.virt.base import GuestNotFound, PowerState
from onestack.drivers.virt.qemu import QemuDriver
from onestack.images.disk import missing_tools
from onestack.images.seed import TINY, seed_tiny_images
from tests.api.conftest import connect, unique
from tests.integration.tiny_guest import iso_tool
from tests.support.server import CloudThread, RunningCloud

pytestmark = [pytest.mark.integration]

if shutil.which("qemu-system-x86_64") is None or missing_tools() or iso_tool() is None:
    pytest.skip("needs qemu-system-x86, the image builder's tools and genisoimage",
                allow_module_level=True)
if os.geteuid() != 0:
    pytest.skip("needs root (apt-get download into the image cache)", allow_module_level=True)

INTERVAL = 1.0
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHnO2x8sVbQ0lC1D0KJk7xg3S1s2q8Z2ZHk0E4pV0q1M t@t"


def settle(conn: openstack.connection.Connection, server_id: str, status: str,
           timeout: float = 90) -> Any:
    """Wait for ``status`` with no task in flight."""
    deadline = time.monotonic() + timeout
    while True:
        s = conn.compute.get_server(server_id)
        if s.status == status and s.task_state is None:
            return s
        if s.status == "ERROR" or time.monotonic() > deadline:
            raise AssertionError(f"server {server_id} is {s.status}/{s.task_state} "
                                 f"(fault {s.fault}), not {status}")
        time.sleep(0.2)


def start_cloud(data: CloudThread | None = None) -> tuple[CloudThread, RunningCloud]:
    thread = CloudThread()
    if data is not None:  # the same data dir and port: a restart
        thread.tmp.cleanup()
        thread.tmp, thread.settings, thread.port = data.tmp, data.settings, data.port
    thread.settings.compute.reconcile_interval = INTERVAL
    thread.virt_driver = QemuDriver(instances_dir=thread.settings.instances_path)
    return thread, thread.start()


def stop_keeping_guests(thread: CloudThread) -> None:
    assert thread._server is not None and thread._thread is not None
    thread._server.should_exit = True
    thread._thread.join(timeout=30)


def seed(cloud: RunningCloud) -> None:
    asyncio.run(_seed(cloud, cloud.accounts["admin"].project_id))


async def _seed(cloud: RunningCloud, owner: str) -> dict[str, str]:
    # A second Runtime-less path: the image core of the running cloud, from this thread's
    # own loop, shares only the database and the blob directory (both safe to share).
    from onestack.core.image.service import ImageService
    from onestack.db.engine import Database

    db = Database(cloud.settings.database_url)
    try:
        return await seed_tiny_images(ImageService(cloud.settings, db), db, owner)
    finally:
        await db.close()


def destroy_guests(instances: Path) -> None:
    """Whatever a failed test left running: no QEMU outlives the test."""
    driver = QemuDriver(instances_dir=instances)

    async def run() -> None:
        for guest in await driver.list_guests():
            await driver.destroy(guest.uuid)

    asyncio.run(run())
    for pid in [p for p in _all_pids() if str(instances) in _cmdline(p)]:
        os.kill(pid, signal.SIGKILL)


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def qemu_state(instances: Path, uuid: str) -> str | None:
    driver = QemuDriver(instances_dir=instances)
    try:
        info = asyncio.run(driver.get_info(uuid))
    except GuestNotFound:
        return None
    return PowerState(info.power_state).name


def test_the_whole_life_of_a_qemu_server() -> None:
    thread, cloud = start_cloud()
    instances = cloud.settings.instances_path
    try:
        seed(cloud)
        conn = connect(cloud, "demo")
        image = conn.image.find_image(TINY)
        assert image is not None and image.os_admin_user == "root"
        conn.compute.create_keypair(name="k", public_key=KEY)
        server = conn.compute.create_server(name="Tiny-VM1", image_id=image.id,
                                            flavor_id="1", networks="none", key_name="k")
        sid = server.id
        settle(conn, sid, "ACTIVE")
        assert qemu_state(instances, sid) == "RUNNING"
        deadline = time.monotonic() + 60
        while "login banner: hostname=tiny-vm1" not in (
                log := conn.compute.get_server_console_output(sid)["output"]):
            assert time.monotonic() < deadline, log[-2000:]
            time.sleep(1)
        assert "metadata from config drive" in log

        steps = [
            ("stop", conn.compute.stop_server, "SHUTOFF", "SHUTDOWN"),
            ("start", conn.compute.start_server, "ACTIVE", "RUNNING"),
            ("reboot", lambda s: conn.compute.reboot_server(s, "SOFT"), "ACTIVE", "RUNNING"),
            ("hard reboot", lambda s: conn.compute.reboot_server(s, "HARD"), "ACTIVE",
             "RUNNING"),
            ("pause", conn.compute.pause_server, "PAUSED", "PAUSED"),
            ("unpause", conn.compute.unpause_server, "ACTIVE", "RUNNING"),
            ("suspend", conn.compute.suspend_server, "SUSPENDED", "SUSPENDED"),
            ("resume", conn.compute.resume_server, "ACTIVE", "RUNNING"),
            ("rebuild", lambda s: conn.compute.rebuild_server(s, image=image.id),
             "ACTIVE", "RUNNING"),
            ("resize", lambda s: conn.compute.resize_server(s, "2"), "VERIFY_RESIZE",
             "RUNNING"),
            ("confirm", conn.compute.confirm_server_resize, "ACTIVE", "RUNNING"),
        ]
        for what, action, status, qemu in steps:
            action(sid)
            settle(conn, sid, status)
            state = qemu_state(instances, sid)
            assert state == qemu, f"{what}: QEMU is {state}, not {qemu}"
            # stopped and suspended guests have no process (suspended: state in a file)
            assert bool(_pids(sid)) == (qemu in ("RUNNING", "PAUSED")), what
        assert conn.compute.get_server(sid).flavor["original_name"] == "m1.small"
        # a snapshot is an image that boots
        snap_id = conn.compute.create_server_image(sid, name=unique("snap"), wait=True)
        snap = conn.image.wait_for_status(conn.image.get_image(snap_id), "active")
        second = conn.compute.create_server(name="from-snap", image_id=snap.id,
                                            flavor_id="2", networks="none")
        settle(conn, second.id, "ACTIVE")
        deadline = time.monotonic() + 60
        while "login banner: hostname=from-snap" not in (
                conn.compute.get_server_console_output(second.id)["output"]):
            assert time.monotonic() < deadline
            time.sleep(1)

        conn.compute.lock_server(sid)
        assert conn.compute.get_server(sid).is_locked
        with pytest.raises(openstack.exceptions.ConflictException, match="locked"):
            conn.compute.stop_server(sid)

        # the cloud restarts; the guests run on, are adopted and still obey
        pids = {u: _pids(u) for u in (sid, second.id)}
        assert all(len(p) == 1 for p in pids.values()), pids
        stop_keeping_guests(thread)
        assert qemu_state(instances, sid) == "RUNNING"
        thread, cloud = start_cloud(thread)
        conn = connect(cloud, "demo")
        assert settle(conn, sid, "ACTIVE").is_locked
        conn.compute.unlock_server(sid)
        conn.compute.pause_server(sid)
        settle(conn, sid, "PAUSED")
        assert qemu_state(instances, sid) == "PAUSED"

        # a guest that dies is seen within a reconcile period
        assert _pids(second.id) == pids[second.id]  # the same process, adopted
        os.kill(pids[second.id][0], signal.SIGKILL)
        killed = time.monotonic()
        assert settle(conn, second.id, "SHUTOFF", timeout=INTERVAL * 2 + 5).power_state == 4
        assert time.monotonic() - killed <= INTERVAL * 2 + 5

        for s in (sid, second.id):
            conn.compute.delete_server(s)
        deadline = time.monotonic() + 60
        while any(conn.compute.find_server(s, ignore_missing=True) for s in (sid, second.id)):
            assert time.monotonic() < deadline, "servers not deleted in 60 s"
            time.sleep(0.3)
        conn.image.delete_image(snap.id)
        admin = connect(cloud)
        deadline = time.monotonic() + 10
        while instances.exists() and any(instances.iterdir()):
            assert time.monotonic() < deadline, list(instances.rglob("*"))
            time.sleep(0.2)
        for rp in admin.placement.resource_providers():
            usages = admin.placement.get(f"/resource_providers/{rp.id}/usages").json()
            assert all(v == 0 for v in usages["usages"].values()), usages
        assert not [p for u in (sid, second.id) for p in _pids(u)]
    finally:
        destroy_guests(instances)
        thread.stop()


def _pids(uuid: str) -> list[int]:
    from onestack.drivers.virt.qemu import process

    return process.find_guest_pids(uuid)


def _qemu_blocks(instances: Path, uuid: str) -> list[str]:
    from onestack.drivers.virt.qemu.cmdline import GuestFiles
    from onestack.drivers.virt.qemu.qmp import qmp_command

    found = asyncio.run(qmp_command(GuestFiles(instances / uuid).qmp, "query-block"))
    return [str(b.get("qdev") or b.get("device")) for b in found]


def test_a_volume_hotplugs_into_a_running_guest_and_back_out() -> None:
    thread, cloud = start_cloud()
    instances = cloud.settings.instances_path
    try:
        seed(cloud)
        conn = connect(cloud, "demo")
        image = conn.image.find_image(TINY)
        server = conn.compute.create_server(name="vol-vm", image_id=image.id, flavor_id="1",
                                            networks="none")
        settle(conn, server.id, "ACTIVE")
        deadline = time.monotonic() + 60
        while "login banner" not in conn.compute.get_server_console_output(server.id)["output"]:
            assert time.monotonic() < deadline
            time.sleep(1)
        vol = conn.block_storage.create_volume(size=1, name="data")
        conn.block_storage.wait_for_status(vol, "available", wait=30)
        conn.compute.create_volume_attachment(server, volume_id=vol.id)
        conn.block_storage.wait_for_status(vol, "in-use", wait=30)
        blocks = _qemu_blocks(instances, server.id)
        assert any("/vol-" in v for v in blocks), blocks
        # the guest's kernel saw a new 1 GiB virtio disk
        deadline = time.monotonic() + 30
        while "2097152 512-byte logical blocks" not in (
                conn.compute.get_server_console_output(server.id)["output"]):
            assert time.monotonic() < deadline, "the guest did not see the volume"
            time.sleep(1)
        # grown while attached (3.42+): the guest sees the new size
        grown = conn.block_storage.post(f"/volumes/{vol.id}/action",
                                        json={"os-extend": {"new_size": 2}},
                                        microversion="3.42")
        assert grown.status_code == 202, grown.text
        deadline = time.monotonic() + 30
        while (now := conn.block_storage.get_volume(vol.id)).size != 2 or \
                now.status != "in-use":
            assert time.monotonic() < deadline and "error" not in now.status, now.status
            time.sleep(0.5)
        deadline = time.monotonic() + 30
        while "4194304 512-byte logical blocks" not in (
                conn.compute.get_server_console_output(server.id)["output"]):
            assert time.monotonic() < deadline, "the guest did not see the new size"
            time.sleep(1)
        conn.compute.delete_volume_attachment(server, vol.id)
        conn.block_storage.wait_for_status(vol, "available", wait=90)
        assert not any("/vol-" in v for v in _qemu_blocks(instances, server.id))
        conn.compute.delete_server(server)
        deadline = time.monotonic() + 60
        while conn.compute.find_server(server.id, ignore_missing=True):
            assert time.monotonic() < deadline
            time.sleep(0.3)
        conn.block_storage.delete_volume(vol.id)
    finally:
        destroy_guests(instances)
        thread.stop()
