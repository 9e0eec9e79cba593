"""GPU passthrough on the QEMU command line: one vfio-pci device per host PCI address."""

from __future__ import annotations

from pathlib import Path

import pytest

from onestack.drivers.virt.base import DiskSpec, GuestSpec, VirtError
from onestack.drivers.virt.qemu.cmdline import build_command, spec_from_json, spec_to_json

UUID = "0a4c7e0e-2f0b-4e43-9d59-3f2f1f1e6a11"
DIR = Path("/srv/instances/x")


def spec(pci: list[str]) -> GuestSpec:
    return GuestSpec(uuid=UUID, name="gpu-vm", vcpus=4, memory_mb=8192, instance_dir=DIR,
                     disks=[DiskSpec(DIR / "disk.qcow2")], pci_devices=pci)


def test_vfio_pci_device_per_address() -> None:
    cmd = build_command(spec(["0000:17:00.0", "0000:65:00.0"]), "kvm")
    devices = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-device"]
    assert devices[-2:] == ["vfio-pci,host=0000:17:00.0,id=hostdev0",
                            "vfio-pci,host=0000:65:00.0,id=hostdev1"]


def test_no_devices_no_vfio() -> None:
    assert not any("vfio-pci" in a for a in build_command(spec([]), "tcg"))


@pytest.mark.parametrize("bad", ["17:00.0", "0000:17:00.0,x-vga=on", "../0000:17:00.0"])
def test_bad_addresses_are_refused(bad: str) -> None:
    with pytest.raises(VirtError, match="not an address"):
        build_command(spec([bad]), "kvm")


def test_spec_json_keeps_pci_devices() -> None:
    s = spec(["0000:17:00.0"])
    assert spec_from_json(spec_to_json(s)) == s
    old = spec_to_json(spec([])).replace('"pci_devices": [],', "")
    assert spec_from_json(old).pci_devices == []  # a spec written before GPUs
