"""The key manager through the real ``openstack secret ...`` and ``openstack acl ...``
commands (python-barbicanclient): store, list, get with the payload, container, order, an
ACL that lets another project's user read, delete. Seven commands, on SQLite only: each
costs seconds, and the wire is the same on PostgreSQL (test_key_manager*.py run there)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api.conftest import Cli, unique
from tests.api.test_key_manager import User, fault, people
from tests.support.server import RunningCloud

__all__ = ["people"]


def _json(cli: Cli, *args: str) -> Any:
    out = cli.run(*args, "-f", "json").stdout
    return json.loads(out) if out.strip() else None


def test_openstack_secret_cli(cloud: RunningCloud, cli: Cli, people: dict[str, User]
                              ) -> None:
    if not cloud.settings.database_url.startswith("sqlite"):
        pytest.skip("the CLI's wire is the same on PostgreSQL; seconds per command")
    name = unique("cli-secret")
    made = _json(cli, "secret", "store", "--name", name, "--payload", "s3cr3t-cli",
                 "--payload-content-type", "text/plain", "--secret-type", "passphrase")
    href = made["Secret href"]
    owner = {"X-Auth-Token": cloud.admin_token()}  # the CLI's cloud: admin
    assert httpx.get(href, headers=owner).json()["secret_type"] == "passphrase"
    listed = _json(cli, "secret", "list", "--name", name)
    assert [s["Secret href"] for s in listed] == [href]
    got = _json(cli, "secret", "get", href, "--payload")
    assert got["Payload"] == "s3cr3t-cli"
    box = _json(cli, "secret", "container", "create", "--name", unique("box"), "--type",
                "generic", "--secret", f"password={href}")
    secrets = httpx.get(box["Container href"], headers=owner).json()["secret_refs"]
    assert secrets == [{"name": "password", "secret_ref": href}]
    order = _json(cli, "secret", "order", "create", "--name", unique("key"), "--algorithm",
                  "aes", "--bit-length", "256", "--mode", "cbc", "--payload-content-type",
                  "application/octet-stream", "key")
    shown = httpx.get(order["Order href"], headers=owner).json()
    assert shown["status"] == "ACTIVE"
    key = httpx.get(f"{shown['secret_ref']}/payload", headers=owner).content
    assert len(key) == 32
    other = people["b"]
    fault(httpx.get(f"{href}/payload", headers=other.h()), 403)
    cli.run("acl", "user", "add", "--user", other.user_id, href)
    assert httpx.get(f"{href}/payload", headers=other.h()).text == "s3cr3t-cli"
    assert httpx.get(f"{href}/acl", headers=owner).json()["read"]["users"] == [other.user_id]
    for ref in (box["Container href"], shown["secret_ref"]):
        assert httpx.delete(ref, headers=owner).status_code == 204
    cli.run("secret", "delete", href)
    fault(httpx.get(href, headers=owner), 404)
