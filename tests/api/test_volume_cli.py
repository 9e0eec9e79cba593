"""The real `openstack volume ...` CLI against the test cloud."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.api.conftest import Cli, unique


def _show(cli: Cli, kind: list[str], name: str, cloud: str = "onestack") -> dict[str, Any]:
    out: dict[str, Any] = json.loads(cli.run(*kind, "show", name, "-f", "json",
                                             cloud=cloud).stdout)
    return out


def _wait(cli: Cli, kind: list[str], name: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        shown = _show(cli, kind, name)
        if shown["status"] == status:
            return shown
        assert time.monotonic() < deadline, shown
        time.sleep(0.2)


@pytest.mark.sqlite_only
def test_cli_volume_workflow(cli: Cli) -> None:
    name, snap, clone = unique("clivol"), unique("clisnap"), unique("cliclone")
    created = json.loads(cli.run("volume", "create", "--size", "1", "--property", "a=b",
                                 "--description", "d", name, "-f", "json").stdout)
    assert created["size"] == 1
    vol = _wait(cli, ["volume"], name, "available")
    assert vol["properties"] == {"a": "b"} and vol["type"] == "__DEFAULT__"
    rows = json.loads(cli.run("volume", "list", "-f", "json").stdout)
    assert name in {r["Name"] for r in rows}
    cli.run("volume", "set", "--size", "2", "--property", "c=d", "--bootable", name)
    vol = _wait(cli, ["volume"], name, "available")
    assert vol["size"] == 2 and vol["bootable"] in (True, "true")
    cli.run("volume", "snapshot", "create", "--volume", name, snap)
    _wait(cli, ["volume", "snapshot"], snap, "available")
    cli.run("volume", "create", "--snapshot", snap, clone)
    assert _wait(cli, ["volume"], clone, "available")["size"] == 2
    proc = cli.run("volume", "delete", name, check=False)
    assert proc.returncode != 0  # it has a snapshot
    cli.run("volume", "delete", clone)
    cli.run("volume", "snapshot", "delete", snap)
    cli.run("volume", "delete", "--purge", name)
    deadline = time.monotonic() + 60
    while name in {r["Name"] for r in json.loads(cli.run("volume", "list", "-f", "json").stdout)}:
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_cli_types_quotas_and_services(cli: Cli) -> None:
    vtype = unique("clitype")
    cli.run("volume", "type", "create", "--property", "x=y", vtype)
    shown = json.loads(cli.run("volume", "type", "show", vtype, "-f", "json").stdout)
    assert shown["properties"] == {"x": "y"}
    cli.run("volume", "type", "delete", vtype)
    services = json.loads(cli.run("volume", "service", "list", "-f", "json").stdout)
    assert {s["Binary"] for s in services} == {"cinder-scheduler", "cinder-volume"}
    quota = json.loads(cli.run("quota", "show", "--volume", "-f", "json").stdout)
    assert isinstance(quota, list | dict)
    proc = cli.run("volume", "service", "list", cloud="onestack-demo", check=False)
    assert proc.returncode != 0
