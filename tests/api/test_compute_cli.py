"""The real `openstack server/flavor/keypair ...` CLI against the test cloud."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import Cli, connect, unique
from tests.support.server import RunningCloud


@pytest.mark.sqlite_only
def test_cli_server_workflow(cloud: RunningCloud, cli: Cli) -> None:
    conn = connect(cloud)
    image = conn.image.create_image(name=unique("cliimg"), data=b"\0" * 1024,
                                    disk_format="raw", container_format="bare")
    flavors = json.loads(cli.run("flavor", "list", "-f", "json").stdout)
    assert "m1.nano" in {f["Name"] for f in flavors}
    key = unique("clikey")
    cli.run("keypair", "create", key)
    keys = json.loads(cli.run("keypair", "list", "-f", "json").stdout)
    assert key in {k["Name"] for k in keys}
    name = unique("clivm")
    created = json.loads(cli.run(
        "--os-compute-api-version", "2.79", "server", "create", "--flavor", "m1.nano",
        "--image", image.id, "--key-name", key, "--nic", "none", "--wait", name,
        "-f", "json").stdout)
    assert created["status"] == "ACTIVE"
    rows = json.loads(cli.run("server", "list", "-f", "json").stdout)
    assert name in {r["Name"] for r in rows}
    cli.run("server", "stop", name)
    cli.run("server", "start", name)
    cli.run("server", "delete", "--wait", name)
    rows = json.loads(cli.run("server", "list", "-f", "json").stdout)
    assert name not in {r["Name"] for r in rows}
    cli.run("keypair", "delete", key)
