"""The cloud-init image builder's pieces that need no debootstrap: the partition table, the
mirror apt uses, the cache key, and what ``configure`` leaves in a guest tree."""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

import pytest

from onestack.images import cloud, debs


def test_mbr_has_code_two_partitions_and_the_signature() -> None:
    table = cloud.mbr([(2048, 4096, 0x0E, True), (6144, 8192, 0x83, False)], b"\xfa" * 440)
    assert len(table) == 512 and table[:440] == b"\xfa" * 440
    assert table[510:] == b"\x55\xaa"
    boot, kind1, start1, count1 = (table[446], table[450], *struct.unpack_from("<II", table, 454))
    assert (boot, kind1, start1, count1) == (0x80, 0x0E, 2048, 4096)
    assert table[462] == 0 and table[466] == 0x83
    assert struct.unpack_from("<II", table, 470) == (6144, 8192)
    assert table[478:510] == bytes(32)  # entries 3 and 4 empty
    with pytest.raises(cloud.CloudImageError):
        cloud.mbr([], b"x" * 441)


def test_apt_mirror_from_deb822_and_one_line_sources(tmp_path: Path) -> None:
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n")
    assert cloud.apt_mirror(tmp_path) == "http://mirror.example/debian"
    (tmp_path / "sources.list").write_text(
        "deb [arch=amd64] http://other.example/debian bookworm main\n")
    assert cloud.apt_mirror(tmp_path) == "http://other.example/debian"
    assert cloud.apt_mirror(tmp_path / "none") == cloud.DEFAULT_MIRROR


def test_cache_key_follows_packages_recipe_and_mirror() -> None:
    pkgs = [debs.Deb("cloud-init", "cloud-init_22.4.2-1_all.deb", 1, "aa")]
    key = cloud.cache_key(cloud.CloudRecipe(), pkgs, cloud.DEFAULT_MIRROR)
    assert key == cloud.cache_key(cloud.CloudRecipe(), list(pkgs), cloud.DEFAULT_MIRROR)
    newer = [debs.Deb("cloud-init", "cloud-init_22.4.2-2_all.deb", 1, "bb")]
    assert key != cloud.cache_key(cloud.CloudRecipe(), newer, cloud.DEFAULT_MIRROR)
    assert key != cloud.cache_key(replace(cloud.CloudRecipe(), root_slack_mib=1), pkgs,
                                  cloud.DEFAULT_MIRROR)
    assert key != cloud.cache_key(cloud.CloudRecipe(), pkgs, "http://x/debian")


def test_configure_drops_host_identity_and_sets_the_datasources(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc/ssh").mkdir(parents=True)
    (root / "etc/ssh/ssh_host_ed25519_key").write_text("secret")
    (root / "etc/machine-id").write_text("0123\n")
    (root / "usr/share/doc/pkg").mkdir(parents=True)
    (root / "usr/share/doc/pkg/README").write_text("x")
    cloud.configure(root)
    assert not list((root / "etc/ssh").glob("ssh_host_*"))
    assert (root / "etc/machine-id").read_text() == ""
    assert not any((root / "usr/share/doc").iterdir())
    cfg = (root / "etc/cloud/cloud.cfg.d/90_onestack.cfg").read_text()
    assert "datasource_list: [ ConfigDrive, OpenStack, None ]" in cfg
    assert f"LABEL={cloud.ROOT_LABEL} /" in (root / "etc/fstab").read_text()
