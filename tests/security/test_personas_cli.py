"""The headline cases through the clients people use: a reader-only user cannot create a
server, a volume or an image with the `openstack` CLI or openstacksdk, and a role-less
user's unscoped token reaches no project."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import openstack
import pytest

from tests.security.conftest import Personas, Resources, Shared, unique

OPENSTACK = os.path.join(os.path.dirname(sys.executable), "openstack")


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPENSTACK, *args], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("what", ["server", "volume", "image"])
def test_reader_cannot_create_with_the_cli(personas: Personas, owned: Resources,
                                           public: Shared, what: str) -> None:
    env = personas.reader.clouds_env(dict(os.environ))
    name = unique(f"by-reader-{what}")
    args = {
        "server": ["server", "create", "--flavor", "42", "--image", public.image,
                   "--network", owned.network, name],
        "volume": ["volume", "create", "--size", "1", name],
        "image": ["image", "create", "--disk-format", "raw", "--container-format", "bare",
                  name],
    }[what]
    proc = _cli(env, *args)
    assert proc.returncode != 0, proc.stdout
    assert "403" in proc.stderr or "not authorized" in proc.stderr.lower(), proc.stderr
    listing = {"server": ["server", "list"], "volume": ["volume", "list"],
               "image": ["image", "list"]}[what]
    shown = _cli(personas.owner.clouds_env(dict(os.environ)), *listing, "-f", "value",
                 "-c", "Name")
    assert shown.returncode == 0, shown.stderr
    assert name not in shown.stdout


def test_reader_reads_and_cannot_delete_with_the_sdk(personas: Personas,
                                                     owned: Resources) -> None:
    conn = personas.reader.connect()
    assert owned.server in {s.id for s in conn.compute.servers()}
    assert owned.volume in {v.id for v in conn.block_storage.volumes()}
    with pytest.raises(openstack.exceptions.ForbiddenException):
        conn.compute.delete_server(owned.server)
    with pytest.raises(openstack.exceptions.ForbiddenException):
        conn.block_storage.delete_volume(owned.volume)
    with pytest.raises(openstack.exceptions.ForbiddenException):
        conn.network.delete_port(owned.port)
    assert personas.owner.connect().compute.get_server(owned.server).status == "ACTIVE"


def test_roleless_unscoped_token_reaches_no_project(personas: Personas) -> None:
    """Before: an unscoped token created servers and volumes in a project "" shared by every
    such user. Now: 403, saying a project-scoped token is needed."""
    who = personas.roleless
    for path, body in (("/compute/v2.1/servers", {"server": {
            "name": "x", "flavorRef": "42", "imageRef": "x", "networks": "none"}}),
            ("/volume/v3/volumes", {"volume": {"size": 1}}),
            ("/image/v2/images", {"name": "x"}),
            ("/networking/v2.0/networks", {"network": {"name": "x"}})):
        r = who.call("POST", path, body)
        assert r.status_code == 403, r.text
        assert "project-scoped token" in r.text and "unscoped" in r.text, r.text
    r = who.call("GET", "/compute/v2.1/servers")
    assert r.status_code == 403 and "forbidden" in r.json(), r.text


def test_domain_scoped_member_reaches_no_project(personas: Personas) -> None:
    """A member of the domain (not of a project) holds a domain-scoped token: the project
    services refuse it as they refuse an unscoped one."""
    admin, i = personas.admin, "/identity/v3"
    password = unique("pw")
    user = admin.ok("POST", f"{i}/users", {"user": {
        "name": unique("domain-member"), "password": password, "domain_id": "default"}})
    member = admin.ok("GET", f"{i}/roles", params={"name": "member"})["roles"][0]["id"]
    admin.ok("PUT", f"{i}/domains/default/users/{user['user']['id']}/roles/{member}")
    r = httpx.post(f"{admin.cloud.auth_url}/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "id": user["user"]["id"], "password": password}}},
        "scope": {"domain": {"id": "default"}}}})
    assert r.status_code == 201, r.text
    token = {"X-Auth-Token": r.headers["X-Subject-Token"]}
    base = admin.cloud.base_url
    for path, body in (("/compute/v2.1/servers", {"server": {
            "name": "x", "flavorRef": "42", "imageRef": "x", "networks": "none"}}),
            ("/volume/v3/volumes", {"volume": {"size": 1}}),
            ("/image/v2/images", {"name": "x"}),
            ("/networking/v2.0/networks", {"network": {"name": "x"}})):
        r = httpx.post(base + path, json=body, headers=token)
        assert r.status_code == 403, r.text
        assert "domain-scoped" in r.text, r.text
