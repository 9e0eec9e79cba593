"""The disk image inspector on real files made by qemu-img: what it accepts, what it refuses
(backing files, external data files, vmdk extents, mismatched or broken content), and the
qemu-img cross-check beside it."""

from __future__ import annotations

import shutil
import struct
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from onestack.drivers.diskimage import qemu_img
from onestack.drivers.diskimage.inspector import (
    FormatMismatch,
    ImageRefused,
    UnsafeImage,
    inspect_file,
)
from onestack.drivers.virt.base import VirtError
from onestack.drivers.virt.disks import DiskBuilder

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None,
                                reason="qemu-img is not installed")
MiB = 1024 * 1024


def make(tmp: Path, name: str, fmt: str, *opts: str, size: str = "1M") -> Path:
    path = tmp / name
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, *opts, str(path), size],
                   check=True)
    return path


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "host-secret"
    path.write_bytes(b"HOST-SECRET" * 100)
    return path


def data_file_image(tmp: Path, secret: Path) -> Path:
    """The CVE-2024-32498 image: a qcow2 whose header names a host file as its data."""
    keep = secret.read_bytes()
    path = make(tmp, "attack.qcow2", "qcow2", "-o", f"data_file={secret},data_file_raw=on")
    secret.write_bytes(keep)  # qemu-img create truncated it
    return path


@pytest.mark.parametrize(("fmt", "opts", "declared", "found"), [
    ("qcow2", (), "qcow2", "qcow2"),
    ("qcow2", ("-o", "compat=0.10"), "qcow2", "qcow2"),
    ("vmdk", (), "vmdk", "vmdk"),
    ("vmdk", ("-o", "subformat=streamOptimized"), "vmdk", "vmdk"),
    ("vpc", (), "vhd", "vhd"),
    ("vpc", ("-o", "subformat=fixed"), "vhd", "vhd"),
    ("vhdx", (), "vhdx", "vhdx"),
    ("vdi", (), "vdi", "vdi"),
    ("parallels", (), "ploop", "ploop"),
    ("raw", (), "raw", "raw"),
])
def test_accepts_plain_images(tmp_path: Path, fmt: str, opts: tuple[str, ...],
                              declared: str, found: str) -> None:
    path = make(tmp_path, "disk", fmt, *opts, size="4M")
    got = inspect_file(path, declared)
    assert got.format == found
    assert got.size == path.stat().st_size
    if fmt not in ("vpc",):  # vhd rounds the size to its CHS geometry
        assert got.virtual_size == 4 * MiB


def test_raw_is_anything_but_a_structured_format(tmp_path: Path) -> None:
    path = tmp_path / "garbage"
    path.write_bytes(bytes(range(256)) * 64)
    assert inspect_file(path, "raw").virtual_size == 256 * 64
    assert inspect_file(path, "ami").format == "raw"
    iso = bytearray(0x9000)
    iso[0x8001:0x8006] = b"CD001"
    path.write_bytes(bytes(iso))
    assert inspect_file(path, "iso").format == "iso"
    assert inspect_file(path, "raw").format == "iso"  # ISO 9660 is raw bytes to qemu


def test_refuses_a_qcow2_with_an_external_data_file(tmp_path: Path, secret: Path) -> None:
    path = data_file_image(tmp_path, secret)
    for declared in ("qcow2", "raw", "vmdk"):
        with pytest.raises(UnsafeImage, match="external data file"):
            inspect_file(path, declared)


def test_refuses_a_data_file_named_without_the_feature_bit(tmp_path: Path,
                                                           secret: Path) -> None:
    path = data_file_image(tmp_path, secret)
    data = bytearray(path.read_bytes())
    data[72:80] = bytes(8)  # clear the incompatible features; the name extension stays
    data[88:96] = bytes(8)
    path.write_bytes(bytes(data))
    with pytest.raises(UnsafeImage, match="external data file"):
        inspect_file(path, "qcow2")


def test_refuses_backing_files(tmp_path: Path) -> None:
    base = make(tmp_path, "base.qcow2", "qcow2")
    child = make(tmp_path, "child.qcow2", "qcow2", "-F", "qcow2", "-b", str(base))
    with pytest.raises(UnsafeImage, match="backing file"):
        inspect_file(child, "qcow2")
    vbase = make(tmp_path, "base.vmdk", "vmdk")
    vchild = make(tmp_path, "child.vmdk", "vmdk", "-F", "vmdk", "-b", str(vbase))
    with pytest.raises(UnsafeImage, match="parent"):
        inspect_file(vchild, "vmdk")


@pytest.mark.parametrize("subformat", ["monolithicFlat", "twoGbMaxExtentSparse",
                                       "twoGbMaxExtentFlat"])
def test_refuses_vmdk_descriptors_with_extents(tmp_path: Path, subformat: str) -> None:
    path = make(tmp_path, "desc.vmdk", "vmdk", "-o", f"subformat={subformat}")
    with pytest.raises(UnsafeImage, match="other files"):
        inspect_file(path, "vmdk")


def test_refuses_a_sparse_vmdk_that_points_at_host_files(tmp_path: Path,
                                                         secret: Path) -> None:
    """A sparse header with capacity 0 makes qemu read its descriptor as a descriptor
    file; a descriptor naming a FLAT extent elsewhere, or two extents, is refused too."""
    path = make(tmp_path, "s.vmdk", "vmdk")
    good = path.read_bytes()
    zero_capacity = bytearray(good)
    zero_capacity[12:20] = bytes(8)
    path.write_bytes(bytes(zero_capacity))
    with pytest.raises(UnsafeImage, match="no capacity"):
        inspect_file(path, "vmdk")
    for extent in (f'RW 2048 FLAT "{secret}" 0', 'RW 2048 SPARSE "s.vmdk"\n'
                   'RW 2048 SPARSE "other.vmdk"', 'RW 2048 FLAT "s.vmdk" 0'):
        desc = ('# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\n'
                f'createType="monolithicSparse"\n{extent}\n').encode()
        data = bytearray(good)
        data[512:512 + 1024] = desc.ljust(1024, b"\0")
        path.write_bytes(bytes(data))
        with pytest.raises(UnsafeImage, match="one SPARSE extent"):
            inspect_file(path, "vmdk")


def test_declared_format_must_be_the_content(tmp_path: Path) -> None:
    qcow = make(tmp_path, "q.qcow2", "qcow2")
    with pytest.raises(FormatMismatch, match="declare disk_format qcow2"):
        inspect_file(qcow, "raw")  # a qcow2 uploaded as raw
    with pytest.raises(FormatMismatch, match="it is a qcow2 image"):
        inspect_file(qcow, "vmdk")
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"not a disk image at all" * 100)
    with pytest.raises(FormatMismatch, match="not a qcow2 image"):
        inspect_file(garbage, "qcow2")  # garbage declared as qcow2
    assert inspect_file(garbage, "qcow2", match=False).format == "raw"


def test_broken_headers_are_refused(tmp_path: Path) -> None:
    qcow = make(tmp_path, "q.qcow2", "qcow2")
    data = qcow.read_bytes()
    cut = tmp_path / "cut"
    cut.write_bytes(data[:40])  # a truncated header
    with pytest.raises(UnsafeImage, match="truncated"):
        inspect_file(cut, "qcow2")
    bad = bytearray(data)
    bad[4:8] = struct.pack(">I", 1)  # qcow version 1
    cut.write_bytes(bytes(bad))
    with pytest.raises(UnsafeImage, match="version 1"):
        inspect_file(cut, "qcow2")
    bad = bytearray(data)
    bad[72:80] = struct.pack(">Q", 1 << 20)  # an incompatible feature no one knows
    cut.write_bytes(bytes(bad))
    with pytest.raises(UnsafeImage, match="incompatible features"):
        inspect_file(cut, "qcow2")
    bad = bytearray(data)
    (ext,) = struct.unpack(">I", data[100:104])  # the header length: extensions follow
    bad[ext:ext + 8] = struct.pack(">II", 0x1234, 0xFFFFFF)  # one past the first cluster
    cut.write_bytes(bytes(bad))
    with pytest.raises(UnsafeImage, match="past the header cluster"):
        inspect_file(cut, "qcow2")
    qed = make(tmp_path, "q.qed", "qed")
    with pytest.raises(UnsafeImage, match="qed"):
        inspect_file(qed, "raw")


def test_refuses_differencing_vhdx(tmp_path: Path) -> None:
    path = make(tmp_path, "d.vhdx", "vhdx")
    data = bytearray(path.read_bytes())
    params = bytes.fromhex("3767a1ca36fa434db3b633f0aa44e76b")  # file parameters, LE guid
    meta = data.index(b"metadata")
    entry = data.index(params, meta)
    offset = meta + struct.unpack("<I", data[entry + 16:entry + 20])[0]
    data[offset + 4:offset + 8] = struct.pack("<I", 2)  # HasParent
    path.write_bytes(bytes(data))
    with pytest.raises(UnsafeImage, match="parent"):
        inspect_file(path, "vhdx")


async def test_qemu_img_cross_check_sees_the_same(tmp_path: Path, secret: Path) -> None:
    plain = make(tmp_path, "plain.qcow2", "qcow2")
    await qemu_img.cross_check("qemu-img", plain, "qcow2")
    with pytest.raises(UnsafeImage, match="external data file"):
        await qemu_img.cross_check("qemu-img", data_file_image(tmp_path, secret), "qcow2")
    flat = make(tmp_path, "flat.vmdk", "vmdk", "-o", "subformat=monolithicFlat")
    with pytest.raises(UnsafeImage, match="one extent"):
        await qemu_img.cross_check("qemu-img", flat, "vmdk")
    base = make(tmp_path, "base.qcow2", "qcow2")
    child = make(tmp_path, "child.qcow2", "qcow2", "-F", "qcow2", "-b", str(base))
    with pytest.raises(UnsafeImage, match="backing file"):
        await qemu_img.cross_check("qemu-img", child, "qcow2")
    with pytest.raises(ImageRefused):
        await qemu_img.verify("qemu-img", child, "qcow2")


def test_source_cuts_the_backing_chain(tmp_path: Path, secret: Path) -> None:
    """What qemu-img reads through ``source``: never the backing file's bytes."""
    child = make(tmp_path, "child.qcow2", "qcow2", "-F", "raw", "-b", str(secret))
    out = tmp_path / "out.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", qemu_img.source(child, "qcow2"),
                    str(out)], check=True)
    assert b"HOST-SECRET" not in out.read_bytes()


async def test_boot_path_refuses_before_converting(tmp_path: Path, secret: Path) -> None:
    """The compute host's base image cache: an image naming a host file, or lying about
    its format, never becomes a base (and no host bytes reach a guest disk)."""
    attack = data_file_image(tmp_path, secret)
    backed = make(tmp_path, "backed.qcow2", "qcow2", "-F", "raw", "-b", str(secret))
    plain = make(tmp_path, "plain.qcow2", "qcow2")
    builder = DiskBuilder(tmp_path / "instances")

    def fetch(src: Path) -> Callable[[Path], Awaitable[None]]:
        async def write(dest: Path) -> None:
            dest.write_bytes(src.read_bytes())
        return write

    for image_id, src, fmt, why in (("a", attack, "qcow2", "external data file"),
                                    ("b", backed, "qcow2", "backing file"),
                                    ("c", attack, "raw", "external data file"),
                                    ("d", plain, "raw", "does not match")):
        with pytest.raises(VirtError, match=why):
            await builder.base_image(image_id, fmt, fetch(src))
        assert not builder.base_path(image_id).exists()
    base = await builder.base_image("ok", "qcow2", fetch(plain))
    assert base.is_file()
    root = tmp_path / "root.qcow2"
    await builder.root_disk(base, root, 1)  # our own chain: an overlay on our base
    assert (await builder.virtual_size(root)) == 1024 * MiB
    await builder.grow(root, 2)
    flat = tmp_path / "flat.qcow2"
    await builder.flatten(root, flat)  # follows our chain, and only ours
    assert (await builder.virtual_size(flat)) == 2048 * MiB
    assert inspect_file(flat, "qcow2").virtual_size == 2048 * MiB


@pytest.mark.parametrize(("fmt", "opts", "declared"), [
    ("qcow2", (), "qcow2"), ("vmdk", ("-o", "subformat=streamOptimized"), "vmdk"),
    ("vmdk", (), "vmdk"), ("vpc", ("-o", "subformat=fixed"), "vhd"), ("vhdx", (), "vhdx"),
    ("vdi", (), "vdi"), ("parallels", (), "ploop"), ("raw", (), "raw")])
async def test_both_checks_accept_plain_images(tmp_path: Path, fmt: str,
                                               opts: tuple[str, ...], declared: str) -> None:
    path = make(tmp_path, "disk", fmt, *opts)
    assert (await qemu_img.verify("qemu-img", path, declared)).format == declared
