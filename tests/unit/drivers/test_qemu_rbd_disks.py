"""RBD volumes in QEMU guests without a host: no rbd disk or key on the command line, the
guest starts paused (or waits for its saved state) until they are plugged, the blockdev-add
arguments QEMU's rbd driver takes, the key read from the host's own keyring, the compute
agent's disk from Cinder's rbd connection data, and the spec's JSON round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from onestack.agent.guest_disks import CephClient, volume_disk
from onestack.core.compute.volumes import VolumeDisk
from onestack.drivers.virt.base import DiskSpec, GuestSpec, RbdSource, VirtError
from onestack.drivers.virt.qemu.cmdline import build_command, spec_from_json, spec_to_json
from onestack.drivers.virt.qemu.rbd_disks import blockdev, qemu_img_source, read_key

KEY = "AQBnWXRlAAAAABAAlkn1tLSsUHG1eHZ6v2v7aw=="


def _spec(tmp: Path, *disks: DiskSpec) -> GuestSpec:
    return GuestSpec("6f1d5a52-1b4c-4a3e-8f39-2d7b7d0e0c11", "g", 1, 128, tmp, list(disks))


def _rbd_disk(tmp: Path, serial: str = "vol-1234") -> DiskSpec:
    source = RbdSource("volumes/volume-1234", ["10.0.0.1", "10.0.0.2"], ["6789"], "nova-a",
                       str(tmp / "keyring"))
    return DiskSpec(Path("volumes/volume-1234"), "raw", "volume", serial=serial, rbd=source)


def test_rbd_disks_are_not_on_the_command_line_and_the_guest_starts_paused(
        tmp_path: Path) -> None:
    local = DiskSpec(tmp_path / "disk.config", "raw", "config", readonly=True)
    cmd = build_command(_spec(tmp_path, _rbd_disk(tmp_path), local), "tcg")
    joined = " ".join(cmd)
    for word in ("volumes/", "volume-1234", "nova-a", "keyring"):
        assert word not in joined
    assert "-S" in cmd and "disk.config" in joined
    restore = build_command(_spec(tmp_path, _rbd_disk(tmp_path)), "tcg", incoming_fd=7)
    assert restore[restore.index("-incoming") + 1] == "defer"  # migrate-incoming fd:7 later
    plain = build_command(_spec(tmp_path, local), "tcg")
    assert "-S" not in plain


def test_blockdev_names_the_secret_never_the_key(tmp_path: Path) -> None:
    args = blockdev(_rbd_disk(tmp_path), "vol-1234")
    rbd = args["file"]
    assert args["driver"] == "raw" and args["node-name"] == "vol-1234"
    assert (rbd["driver"], rbd["pool"], rbd["image"], rbd["user"]) == \
        ("rbd", "volumes", "volume-1234", "nova-a")
    assert rbd["key-secret"] == "vol-1234-key"
    # a monitor without a port gets Ceph's v1 default
    assert rbd["server"] == [{"host": "10.0.0.1", "port": "6789"},
                             {"host": "10.0.0.2", "port": "6789"}]
    assert KEY not in str(args)
    bad = DiskSpec(Path("x"), "raw", "volume", serial="s", rbd=RbdSource("no-pool"))
    with pytest.raises(VirtError, match="pool/image"):
        blockdev(bad, "vol-s")


def test_read_key_from_the_hosts_own_keyring(tmp_path: Path) -> None:
    disk = _rbd_disk(tmp_path)
    assert disk.rbd is not None
    with pytest.raises(VirtError, match="cannot read the cephx keyring"):
        read_key(disk.rbd)
    (tmp_path / "keyring").write_text("[client.other]\n\tkey = AAAA\n")
    with pytest.raises(VirtError, match=r"no key for client\.nova-a"):
        read_key(disk.rbd)
    (tmp_path / "keyring").write_text(
        f"[client.nova-a]\n\tkey = {KEY}\n\tcaps mon = \"profile rbd\"\n")
    assert read_key(disk.rbd) == KEY


def test_agent_disk_from_rbd_connection_data_uses_the_hosts_own_user() -> None:
    data = {"name": "volumes/volume-1", "hosts": ["192.0.2.5"], "ports": ["6789"],
            "auth_username": "cinder"}
    v = VolumeDisk("bdm", "0f7c3d2e-0d4b-4f0e-9d55-2a1b0c9e8f7a", "/dev/vdb", "attaching",
                   "", "raw", False, None, data)
    own = volume_disk(v, CephClient("compute-a", "/etc/onestack/compute-a.keyring"))
    assert own.rbd is not None
    assert (own.rbd.user, own.rbd.keyring, own.rbd.name) == \
        ("compute-a", "/etc/onestack/compute-a.keyring", "volumes/volume-1")
    assert own.serial == v.volume_id[:20] and own.device == "vdb" and own.format == "raw"
    default = volume_disk(v, CephClient())
    assert default.rbd is not None
    assert (default.rbd.user, default.rbd.keyring) == \
        ("cinder", "/etc/ceph/ceph.client.cinder.keyring")
    file = volume_disk(VolumeDisk("b", "v", "/dev/vdc", "attaching", "/srv/v", "qcow2",
                                  False), CephClient())
    assert file.rbd is None and file.path == Path("/srv/v")


def test_spec_json_keeps_the_rbd_source_and_no_key(tmp_path: Path) -> None:
    spec = _spec(tmp_path, _rbd_disk(tmp_path))
    text = spec_to_json(spec)
    assert KEY not in text
    again = spec_from_json(text)
    assert again.disks[0].rbd == spec.disks[0].rbd


def test_qemu_img_reads_an_rbd_root_by_its_rbd_filename_without_the_key(
        tmp_path: Path) -> None:
    """A snapshot of a server whose root disk is in a pool (images_type = rbd) reads it with
    qemu-img over librbd: user, keyring path and monitors as options, escaped, no key."""
    (tmp_path / "keyring").write_text(f"[client.nova-a]\n\tkey = {KEY}\n")
    fmt, name = qemu_img_source(_rbd_disk(tmp_path))
    assert fmt == "raw"
    assert name == ("rbd:volumes/volume-1234:id=nova-a:keyring="
                    + str(tmp_path / "keyring").replace(":", "\\:")
                    + ":mon_host=10.0.0.1\\:6789\\;10.0.0.2\\:6789")
    assert KEY not in name
    local = DiskSpec(tmp_path / "disk", "qcow2", "root")
    assert qemu_img_source(local) == ("qcow2", str(tmp_path / "disk"))
