"""A real QEMU guest on a compute host that runs ``onestack agent`` (a subprocess of the real
CLI) against a controller without a local agent: the agent streams the image from the
controller, makes the config drive from what the controller sends, boots the guest, uploads
a snapshot through the controller and deletes it all again."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

from onestack.images.seed import TINY
from tests.api.conftest import connect, unique
from tests.api.test_agent_http import Agent, create_credential, until
from tests.integration.test_compute_qemu import _pids, destroy_guests, seed, settle
from tests.support.server import CloudThread

pytestmark = [pytest.mark.integration]  # skipped where test_compute_qemu is

AGENT_CONFIG = """\
[compute]
virt_driver = "qemu"
reconcile_interval = 1.0
device_discovery = "off"
"""


def test_a_qemu_guest_on_a_remote_agent() -> None:
    thread = CloudThread()
    thread.settings.compute.local_agent = False
    cloud = thread.start()
    # short: QMP sockets live in the instance dirs (108 bytes for a unix socket path)
    tmp = tempfile.TemporaryDirectory(prefix="osq-")
    workdir = Path(tmp.name)
    instances = workdir / "data" / "instances"
    agent: Agent | None = None
    try:
        seed(cloud)
        cred = workdir / "credential"
        create_credential(cloud, "qemu-host", cred)
        agent = Agent(cloud, "qemu-host", cred, workdir)
        (workdir / "agent.toml").write_text(AGENT_CONFIG)
        agent.start()
        conn = connect(cloud)
        until(lambda: any(s.host == "qemu-host" and s.state == "up"
                          for s in conn.compute.services()), 30, "the agent's service")
        image = conn.image.find_image(TINY)
        assert image is not None
        server = conn.compute.create_server(name="Remote-VM", image_id=image.id,
                                            flavor_id="1", networks="none")
        settle(conn, server.id, "ACTIVE")
        assert conn.compute.get_server(server.id).compute_host == "qemu-host"
        console = instances / server.id / "console.log"
        deadline = time.monotonic() + 90
        while "login banner: hostname=remote-vm" not in (
                text := console.read_text(errors="replace") if console.exists() else ""):
            assert time.monotonic() < deadline, text[-2000:]
            time.sleep(1)
        assert "metadata from config drive" in text
        assert len(_pids(server.id)) == 1

        snap_id = conn.compute.create_server_image(server.id, name=unique("snap"), wait=True,
                                                   timeout=120)
        snap = conn.image.wait_for_status(conn.image.get_image(snap_id), "active")
        assert snap.size

        conn.compute.delete_server(server.id)
        conn.compute.wait_for_delete(server, interval=0.5, wait=60)
        assert not _pids(server.id)
        assert not (instances / server.id).exists()
    finally:
        if agent is not None:
            agent.stop()
            if agent.log.exists():
                print(agent.log.read_text()[-3000:])
        destroy_guests(instances)
        thread.stop()
        tmp.cleanup()
