"""The builder's pieces that need neither apt nor QEMU: apt output parsing, the cache key,
ELF and module-dependency reading, the cpio writer, symlinks inside the unpacked tree."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from onestack.images import builder, cpio, debs, disk, elf, kmod, rootfs

POOL = "http://deb.debian.org/debian/pool/main"
PRINT_URIS = (
    f"'{POOL}/b/busybox/busybox-static_1%3a1.35.0-4+b3_amd64.deb' "
    "busybox-static_1%3a1.35.0-4+b3_amd64.deb 928188 SHA256:aa11\n"
    f"'{POOL}/d/dropbear/dropbear-bin_2022.83-1+deb12u1_amd64.deb' "
    "dropbear-bin_2022.83-1+deb12u1_amd64.deb 155520 SHA256:bb22\n"
)

DEPENDS = """\
linux-image-amd64
  Depends: linux-image-6.1.0-9-amd64
dropbear-bin
  Depends: libc6
 |Depends: libfoo1
  Depends: libbar1
  Depends: <virtual-thing>
    provider-a
libc6
  Depends: libgcc-s1
libgcc-s1
  PreDepends: libc6
"""


def test_parse_print_uris() -> None:
    got = debs.parse_print_uris(["busybox-static", "dropbear-bin"], PRINT_URIS)
    assert [d.package for d in got] == ["busybox-static", "dropbear-bin"]
    assert got[0].version == "1:1.35.0-4+b3"
    assert got[0].size == 928188 and got[1].sha256 == "bb22"
    with pytest.raises(debs.AptError, match="dropbear-bin"):
        debs.parse_print_uris(["busybox-static", "dropbear-bin"], PRINT_URIS.splitlines()[0])


def test_parse_depends_and_closure() -> None:
    tree = debs.parse_depends(DEPENDS)
    assert tree["dropbear-bin"] == ["libc6", "libfoo1"]  # first of "libfoo1 | libbar1"
    assert tree["linux-image-amd64"] == ["linux-image-6.1.0-9-amd64"]
    assert builder.closure(tree, ["dropbear-bin"]) == ["dropbear-bin", "libc6", "libfoo1",
                                                      "libgcc-s1"]


def _deb(name: str, sha: str = "00") -> debs.Deb:
    return debs.Deb(name, f"{name}_1.0_amd64.deb", 10, sha)


def test_cache_key_follows_every_input() -> None:
    recipe = builder.Recipe()
    packages = [_deb("busybox-static"), _deb("dropbear-bin")]
    guest = {"rcS": b"echo hi\n"}
    key = builder.cache_key(recipe, packages, guest)
    assert key == builder.cache_key(recipe, list(reversed(packages)), dict(guest))
    assert key != builder.cache_key(recipe, [_deb("busybox-static", "01"), packages[1]], guest)
    assert key != builder.cache_key(recipe, packages, {"rcS": b"echo bye\n"})
    assert key != builder.cache_key(replace(recipe, cmdline="console=ttyS0 quiet"), packages,
                                    guest)
    assert key != builder.cache_key(replace(recipe, optional_modules=()), packages, guest)


def test_default_recipe_boots_on_the_serial_console(monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = builder.Recipe()
    assert any(arg.startswith("console=ttyS0") for arg in recipe.cmdline.split())
    cfg = disk.syslinux_cfg("vmlinuz", "initrd.gz", recipe.cmdline)
    assert "LINUX /vmlinuz" in cfg and "INITRD /initrd.gz" in cfg
    assert f"APPEND {recipe.cmdline}" in cfg
    monkeypatch.delenv("ONESTACK_TINY_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/c")
    assert builder.default_cache_dir() == Path("/c/onestack/tiny")
    monkeypatch.setenv("ONESTACK_TINY_CACHE", "/t")
    assert builder.default_cache_dir() == Path("/t")


def _fake_module(path: Path, **info: str) -> None:
    """A minimal ELF64 file whose only section besides the names is .modinfo."""
    modinfo = b"".join(f"{k}={v}".encode() + b"\0" for k, v in info.items())
    names = b"\0.modinfo\0.shstrtab\0"
    body_off = 64
    names_off = body_off + len(modinfo)
    sh_off = names_off + len(names)
    sections = [
        struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        struct.pack("<IIQQQQIIQQ", 1, 1, 0, 0, body_off, len(modinfo), 0, 0, 1, 0),
        struct.pack("<IIQQQQIIQQ", 10, 3, 0, 0, names_off, len(names), 0, 0, 1, 0),
    ]
    header = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + b"\0" * 9, 1, 62, 1,
                         0, 0, sh_off, 0, 64, 0, 0, 64, len(sections), 2)
    path.write_bytes(header + modinfo + names + b"".join(sections))


def test_module_resolution_orders_dependencies_first(tmp_path: Path) -> None:
    d = tmp_path / "kernel" / "drivers"
    d.mkdir(parents=True)
    _fake_module(d / "virtio.ko", name="virtio", depends="")
    _fake_module(d / "virtio_ring.ko", name="virtio_ring", depends="virtio")
    _fake_module(d / "virtio_net.ko", name="virtio_net", depends="virtio_ring,net-failover")
    _fake_module(d / "net_failover.ko", name="net_failover", depends="failover")
    _fake_module(d / "failover.ko", name="failover", depends="")
    _fake_module(d / "isofs.ko", name="isofs", depends="", softdep="pre: crc-fake post: x")
    _fake_module(d / "crc-fake.ko", name="crc_fake", depends="")
    index = kmod.index_modules(tmp_path)
    assert "net_failover" in index and "crc_fake" in index
    order = [m.name for m in kmod.resolve(index, ["virtio_net", "isofs"], ["absent"])]
    for before, after in [("virtio", "virtio_ring"), ("virtio_ring", "virtio_net"),
                          ("failover", "net_failover"), ("net_failover", "virtio_net"),
                          ("crc_fake", "isofs")]:
        assert order.index(before) < order.index(after)
    assert len(order) == len(set(order)) == 7
    with pytest.raises(kmod.ModuleError, match="absent"):
        kmod.resolve(index, ["absent"], [])
    assert elf.Elf.open(d / "isofs.ko").modinfo()["softdep"] == ["pre: crc-fake post: x"]


def test_elf_reads_a_host_program() -> None:
    ls = Path(shutil.which("ls") or "/bin/ls").resolve()
    try:
        prog = elf.Elf.open(ls)
    except elf.ElfError:
        pytest.skip("ls is not a 64-bit ELF program here")
    assert "libc.so.6" in prog.needed()
    assert (prog.interpreter() or "").startswith("/lib")
    with pytest.raises(elf.ElfError):
        elf.Elf(b"#!/bin/sh\n")


def _read_newc(data: bytes) -> dict[str, tuple[int, bytes]]:
    out, pos = {}, 0
    while True:
        assert data[pos:pos + 6] == b"070701"
        fields = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name = data[pos + 110:pos + 110 + namesize - 1].decode()
        pos = (pos + 110 + namesize + 3) & ~3
        body = data[pos:pos + size]
        pos = (pos + size + 3) & ~3
        if name == "TRAILER!!!":
            return out
        out[name] = (mode, body)


def test_cpio_newc_archive(tmp_path: Path) -> None:
    a = cpio.Archive()
    a.file("etc/init.d/rcS", b"#!/bin/sh\n", 0o755)
    a.symlink("bin/sh", "busybox")
    a.chardev("dev/console", 5, 1)
    a.dir("tmp", 0o1777)
    entries = _read_newc(a.newc())
    assert list(entries) == sorted(entries)
    assert entries["etc/init.d/rcS"] == (0o100755, b"#!/bin/sh\n")
    assert entries["etc/init.d"][0] == 0o040755
    assert entries["bin/sh"] == (0o120777, b"busybox")
    assert entries["dev/console"][0] == 0o020600
    assert entries["tmp"][0] == 0o041777
    assert a.gzip() == a.gzip()  # reproducible
    if shutil.which("cpio"):
        listing = subprocess.run(["cpio", "-t", "--quiet"], input=a.newc(),
                                 capture_output=True, check=True).stdout.decode().split()
        assert "etc/init.d/rcS" in listing and "dev/console" in listing


def test_resolve_in_follows_links_inside_the_tree(tmp_path: Path) -> None:
    lib = tmp_path / "lib" / "x86_64-linux-gnu"
    lib.mkdir(parents=True)
    (lib / "libz.so.1.2.13").write_bytes(b"z")
    os.symlink("libz.so.1.2.13", lib / "libz.so.1")
    (tmp_path / "lib64").mkdir()
    os.symlink("/lib/x86_64-linux-gnu/libz.so.1", tmp_path / "lib64" / "abs")
    assert rootfs.resolve_in(tmp_path, "lib64/abs") == lib / "libz.so.1.2.13"
    assert rootfs.find_library(tmp_path, "libz.so.1") == ("lib/x86_64-linux-gnu/libz.so.1",
                                                          lib / "libz.so.1.2.13")
    with pytest.raises(rootfs.RootfsError):
        rootfs.find_library(tmp_path, "libnope.so.1")
