"""The tiny image, built from Debian packages, booted under QEMU (TCG): it takes its host
name, SSH key and user data from a config drive or the metadata service, says so on the
serial console, and answers tempest's validation commands over SSH."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from onestack.config import default_data_dir
from onestack.images import build_tiny, default_cache_dir
from onestack.images.builder import MAX_IMAGE_BYTES, manifest
from onestack.images.disk import missing_tools
from tests.integration.tiny_guest import Guest, iso_tool

pytestmark = [pytest.mark.integration]


def _skip_reason() -> str | None:
    if shutil.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"
    if missing_tools():
        return f"the image builder needs: apt-get install {' '.join(missing_tools())}"
    if iso_tool() is None:
        return "no genisoimage or xorriso for the config drive"
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        return "no ssh client (apt-get install openssh-client)"
    if os.geteuid() != 0:
        return "needs root (apt-get download into the image cache)"
    return None


if (reason := _skip_reason()) is not None:
    pytest.skip(reason, allow_module_level=True)

MARKER = "user-data-ran-7f3c"
USER_DATA = f"#!/bin/sh\necho {MARKER} from $(hostname)\n"


@pytest.fixture(scope="module")
def tiny_image() -> Path:
    cache = Path(os.environ.get("ONESTACK_TINY_CACHE") or default_cache_dir(default_data_dir()))
    return build_tiny(cache)


@pytest.fixture(scope="module", params=["config-drive", "config-drive-vfat", "metadata-service"])
def guest(request: pytest.FixtureRequest, tiny_image: Path) -> Iterator[Guest]:
    # Mixed case on purpose: the guest lower-cases, as tempest expects.
    meta = {"uuid": "0a4c7e0e-2f0b-4e43-9d59-3f2f1f1e6a11", "name": "TinyTest",
            "hostname": "TinyTest.novalocal", "launch_index": 0, "availability_zone": "nova",
            "meta": {"hostname": "not-this-one"}, "devices": []}
    vm = Guest(tiny_image, meta, USER_DATA, source=request.param)
    try:
        vm.start()
        yield vm
    finally:
        vm.close()


def test_image_is_small_and_described(tiny_image: Path) -> None:
    assert tiny_image.stat().st_size < MAX_IMAGE_BYTES
    info = manifest(tiny_image)
    assert "console=ttyS0" in str(info["cmdline"])
    modules = info["modules"]
    assert isinstance(modules, list)
    assert {"virtio_net", "virtio_blk", "isofs", "vfat"} <= set(modules)


def test_boot_banner_and_user_data(guest: Guest) -> None:
    text = guest.wait_for_console("onestack-tiny login banner: hostname=tinytest",
                                  f"{MARKER} from tinytest", timeout=90)
    banner = next(line for line in text.splitlines() if "login banner" in line)
    assert "eth0=" in banner
    assert "169.254.169.15/24" in banner or "10.0.2.15/24" in banner


def test_ssh_answers_tempest_validation(guest: Guest) -> None:
    guest.wait_for_console("onestack-tiny login banner", timeout=90)
    assert guest.ssh("hostname").strip() == "tinytest"
    assert guest.ssh("grep -c ^processor /proc/cpuinfo").strip() == "2"
    assert guest.ssh("grep -c processor /proc/cpuinfo").strip() == "2"
    keys = guest.ssh("cat /root/.ssh/authorized_keys")
    assert keys.startswith("ssh-ed25519 ")
    # tempest's RemoteClient.list_disks: the rows whose TYPE column says "disk"
    out = guest.ssh("set -eu -o pipefail; PATH=$PATH:/sbin:/usr/sbin; lsblk -lb --nodeps")
    lines = out.splitlines()
    pos = lines[0].find("TYPE")
    disks = [line.split()[0] for line in lines[1:] if line[pos:pos + 4] == "disk"]
    assert "vda" in disks, out
    vda = next(line for line in lines if line.startswith("vda "))
    assert int(vda.split()[3]) % (1024 * 1024) == 0, out  # bytes
