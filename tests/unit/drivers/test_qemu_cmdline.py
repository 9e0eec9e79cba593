"""The QEMU driver's pure parts: the command line built from a spec, the spec's JSON form,
host facts parsed from /proc, power states, the console tail."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from onestack.drivers.virt import DRIVERS
from onestack.drivers.virt.base import DiskSpec, GuestSpec, NicSpec, PowerState, VirtError
from onestack.drivers.virt.qemu import QemuDriver
from onestack.drivers.virt.qemu.cmdline import (
    GuestFiles,
    build_command,
    migrated_disks,
    opt,
    root_disk,
    spec_from_json,
    spec_to_json,
)
from onestack.drivers.virt.qemu.console import read_console
from onestack.drivers.virt.qemu.control import power_state
from onestack.drivers.virt.qemu.driver import absolute
from onestack.drivers.virt.qemu.host import (
    PROBE_SECTOR,
    parse_cpuinfo,
    parse_meminfo,
    parse_version,
)

UUID = "0a4c7e0e-2f0b-4e43-9d59-3f2f1f1e6a11"


def spec(tmp: Path = Path("/srv/instances/x"), **changes: Any) -> GuestSpec:
    base = GuestSpec(
        uuid=UUID, name="vm-1", vcpus=2, memory_mb=256, instance_dir=tmp,
        disks=[DiskSpec(tmp / "disk.qcow2", serial="root-1"),
               DiskSpec(tmp / "config.iso", "raw", "config", readonly=True)],
        nics=[NicSpec("fa:16:3e:00:00:01", tap="tap0a4c7e0e-2f", mtu=1450)],
        smbios={"manufacturer": "Onestack", "serial": UUID, "product": "Onestack Compute"})
    return dataclasses.replace(base, **changes)


def args_after(cmd: list[str], flag: str) -> list[str]:
    return [cmd[i + 1] for i, a in enumerate(cmd) if a == flag]


def test_registered() -> None:
    assert DRIVERS["qemu"] is QemuDriver


def test_command_line_tcg() -> None:
    s = spec()
    cmd = build_command(s, "tcg")
    assert cmd[0] == "qemu-system-x86_64"
    assert args_after(cmd, "-name") == [f"guest={UUID},debug-threads=on"]
    assert args_after(cmd, "-uuid") == [UUID]
    assert args_after(cmd, "-accel") == ["tcg"]
    assert args_after(cmd, "-cpu") == ["max"]
    assert args_after(cmd, "-smp") == ["2"]
    assert args_after(cmd, "-m") == ["256"]
    for flag in ("-nodefaults", "-no-user-config"):
        assert flag in cmd
    # sandboxed: no fork/exec, no privilege changes; so no -daemonize (it forks)
    assert args_after(cmd, "-sandbox") == [
        "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"]
    assert "-daemonize" not in cmd
    assert args_after(cmd, "-display") == ["none"]
    assert args_after(cmd, "-pidfile") == ["/srv/instances/x/qemu.pid"]
    assert args_after(cmd, "-D") == ["/srv/instances/x/qemu.log"]
    assert args_after(cmd, "-smbios") == [
        f"type=1,manufacturer=Onestack,product=Onestack Compute,serial={UUID}"]
    chardevs = args_after(cmd, "-chardev")
    assert "socket,id=qmp,path=/srv/instances/x/qmp.sock,server=on,wait=off" in chardevs
    assert "socket,id=serial0,path=/srv/instances/x/console.sock,reconnect=1" in chardevs
    assert ("socket,id=qmp-status,path=/srv/instances/x/qmp-status.sock,server=on,wait=off"
            in chardevs)
    assert args_after(cmd, "-mon") == ["chardev=qmp,mode=control",
                                       "chardev=qmp-status,mode=control"]
    assert args_after(cmd, "-serial") == ["chardev:serial0"]
    assert args_after(cmd, "-drive") == [
        "file=/srv/instances/x/disk.qcow2,if=none,id=disk0,format=qcow2,auto-read-only=off,discard=unmap",
        "file=/srv/instances/x/config.iso,if=none,id=disk1,format=raw,readonly=on"]
    devices = args_after(cmd, "-device")
    assert "virtio-blk-pci,drive=disk0,id=disk0-dev,serial=root-1,bootindex=1" in devices
    assert "virtio-blk-pci,drive=disk1,id=disk1-dev" in devices
    assert args_after(cmd, "-netdev") == [
        "tap,id=net0,ifname=tap0a4c7e0e-2f,script=no,downscript=no"]
    assert ("virtio-net-pci,netdev=net0,id=net0-dev,mac=fa:16:3e:00:00:01,romfile=,"
            "host_mtu=1450") in devices
    assert "-incoming" not in cmd


def test_command_line_kvm_user_net_and_incoming() -> None:
    s = spec(nics=[NicSpec("52:54:00:00:00:02", ssh_forward_port=2222),
                   NicSpec("52:54:00:00:00:03")])
    cmd = build_command(s, "kvm", qemu="/usr/bin/qemu", incoming_fd=7)
    assert cmd[0] == "/usr/bin/qemu"
    assert args_after(cmd, "-cpu") == ["host"]
    assert args_after(cmd, "-accel") == ["kvm"]
    assert args_after(cmd, "-netdev") == ["user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22",
                                          "user,id=net1"]
    assert args_after(cmd, "-incoming") == ["fd:7"]  # no exec: helper (sandbox)


def test_tap_gets_vhost_under_kvm() -> None:
    cmd = build_command(spec(), "kvm")
    assert args_after(cmd, "-netdev") == [
        "tap,id=net0,ifname=tap0a4c7e0e-2f,script=no,downscript=no,vhost=on"]


def test_ide_and_scsi_disks() -> None:
    d = Path("/d")
    s = spec(disks=[DiskSpec(d / "cfg", "raw", "config", bus="ide", readonly=True),
                    DiskSpec(d / "root", bus="scsi", serial="s1"),
                    DiskSpec(d / "vol", "raw", "volume", bus="ide")])
    cmd = build_command(s, "tcg")
    devices = args_after(cmd, "-device")
    assert "virtio-scsi-pci,id=scsi0" in devices
    assert "ide-cd,drive=disk0,id=disk0-dev" in devices
    assert "scsi-hd,drive=disk1,id=disk1-dev,bus=scsi0.0,serial=s1,bootindex=1" in devices
    assert "ide-hd,drive=disk2,id=disk2-dev" in devices
    assert root_disk(s) == s.disks[1]


def test_commas_in_paths_are_escaped() -> None:
    s = spec(tmp=Path("/a,b"), nics=[])
    cmd = build_command(s, "tcg")
    assert args_after(cmd, "-drive")[0].startswith("file=/a,,b/disk.qcow2,if=none")
    assert opt("x,y,,z") == "x,,y,,,,z"


@pytest.mark.parametrize("change, message", [
    ({"disks": [DiskSpec(Path("/d"), format="vmdk")]}, "format"),
    ({"disks": [DiskSpec(Path("/d"), bus="sata")]}, "bus"),
    ({"smbios": {"colour": "blue"}}, "SMBIOS"),
    ({"vcpus": 0}, "positive"),
    ({"instance_dir": Path("/" + "x" * 120)}, "too long"),
])
def test_bad_specs_are_refused(change: dict[str, object], message: str) -> None:
    base = spec()
    for key, value in change.items():
        setattr(base, key, value)
    with pytest.raises(VirtError, match=message):
        build_command(base, "tcg")


def test_unknown_accelerator() -> None:
    with pytest.raises(VirtError, match="accelerator"):
        build_command(spec(), "hvf")


def test_spec_json_round_trip() -> None:
    s = spec()
    again = spec_from_json(spec_to_json(s))
    assert again == s
    assert isinstance(again.disks[0].path, Path)
    with pytest.raises(VirtError, match="unreadable"):
        spec_from_json('{"uuid": 1}')


def test_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = absolute(spec(tmp=Path("rel")))
    assert s.instance_dir == tmp_path / "rel"
    assert s.disks[0].path == tmp_path / "rel" / "disk.qcow2"


def test_guest_files() -> None:
    files = GuestFiles(Path("/i"))
    assert files.state == Path("/i/suspend.state")
    assert Path("/i/guest.json") in files.owned()


def test_power_states() -> None:
    assert power_state("running") is PowerState.RUNNING
    assert power_state("paused") is PowerState.PAUSED
    assert power_state("inmigrate") is PowerState.PAUSED
    assert power_state("shutdown") is PowerState.SHUTDOWN
    assert power_state("guest-panicked") is PowerState.CRASHED
    assert power_state("something-new") is PowerState.NOSTATE


def test_host_parsing() -> None:
    assert parse_version("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7)") == 7002022
    assert parse_version("QEMU emulator version 8.1") == 8001000
    with pytest.raises(VirtError):
        parse_version("nothing")
    assert parse_meminfo("MemTotal:       24683520 kB\nMemFree: 1 kB\n") == 24105
    cpuinfo = "".join(
        f"processor\t: {i}\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon\n"
        f"physical id\t: {i // 4}\nsiblings\t: 4\ncpu cores\t: 2\nflags\t\t: sse2 vmx\n\n"
        for i in range(8))
    info = parse_cpuinfo(cpuinfo)
    assert info["vendor"] == "GenuineIntel"
    assert info["model"] == "Xeon"
    assert info["topology"] == {"sockets": 2, "cores": 2, "threads": 2}
    assert info["features"] == ["sse2", "vmx"]


def test_probe_sector_is_a_boot_sector() -> None:
    assert len(PROBE_SECTOR) == 512
    assert PROBE_SECTOR.endswith(b"\x55\xaa")


def test_console_tail(tmp_path: Path) -> None:
    files = GuestFiles(tmp_path)
    log = files.console
    assert read_console(files, None) == ""
    log.write_bytes(b"one\r\ntwo\r\nthree\r\n")
    assert read_console(files, None) == "one\ntwo\nthree\n"
    assert read_console(files, 2) == "two\nthree\n"
    assert read_console(files, 0) == ""
    log.write_bytes(b"x" * (2 * 1024 * 1024) + b"\nlast line")
    assert read_console(files, None) == "last line\n"


def test_live_migration_target_waits_paused() -> None:
    """A live migration's target: -incoming defer and -S; only writable local disks are
    copied (not the config drive, not volumes)."""
    spec = GuestSpec(uuid="u1", name="vm", vcpus=1, memory_mb=64,
                     instance_dir=Path("/srv/instances/u1"),
                     disks=[DiskSpec(Path("/srv/instances/u1/disk.qcow2")),
                            DiskSpec(Path("/srv/instances/u1/disk.eph0"), kind="ephemeral"),
                            DiskSpec(Path("/srv/instances/u1/config.iso"), "raw", "config",
                                     readonly=True),
                            DiskSpec(Path("/srv/volumes/v.qcow2"), kind="volume",
                                     serial="v1")])
    cmd = build_command(spec, "tcg", live_incoming=True)
    assert cmd[-3:] == ["-incoming", "defer", "-S"]
    assert "-incoming" not in build_command(spec, "tcg")
    assert migrated_disks(spec) == ["disk0", "disk1"]
