"""The real `openstack image ...` CLI against the test cloud."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.api.conftest import Cli, unique
from tests.support.server import RunningCloud


@pytest.mark.sqlite_only
def test_cli_image_workflow(cloud: RunningCloud, cli: Cli, tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024 + 3)
    src, out = tmp_path / "in.raw", tmp_path / "out.raw"
    src.write_bytes(data)
    name = unique("cliimg")
    created = json.loads(cli.run("image", "create", "--file", str(src), "--disk-format", "raw",
                                 "--container-format", "bare", "--property", "os_distro=debian",
                                 "--tag", "t1", name, "-f", "json").stdout)
    assert created["status"] == "active"
    assert created["checksum"] == hashlib.md5(data).hexdigest()
    rows = json.loads(cli.run("image", "list", "-f", "json").stdout)
    assert name in {r["Name"] for r in rows}
    cli.run("image", "set", "--property", "hw_disk_bus=virtio", "--min-ram", "64", name)
    shown = json.loads(cli.run("image", "show", name, "-f", "json").stdout)
    assert shown["min_ram"] == 64
    assert shown["properties"]["hw_disk_bus"] == "virtio"
    cli.run("image", "save", "--file", str(out), name)
    assert hashlib.md5(out.read_bytes()).hexdigest() == created["checksum"]
    demo_project = cloud.accounts["demo"].project_id
    cli.run("image", "set", "--shared", name)
    cli.run("image", "add", "project", name, demo_project)
    members = json.loads(cli.run("image", "member", "list", name, "-f", "json").stdout)
    assert [m["Member ID"] for m in members] == [demo_project]
    proc = cli.run("image", "show", created["id"], cloud="onestack-demo", check=False)
    assert proc.returncode == 0, proc.stderr
    cli.run("image", "set", "--protected", name)
    proc = cli.run("image", "delete", name, check=False)
    assert proc.returncode != 0
    cli.run("image", "set", "--unprotected", name)
    cli.run("image", "delete", name)
    rows = json.loads(cli.run("image", "list", "-f", "json").stdout)
    assert name not in {r["Name"] for r in rows}
