"""Every route of every service, tried by the personas who must not use it.

The routes come from the route tables themselves (``registry.services()``), so a new route
is tried as soon as it exists: a path parameter persona_routes.PARAMS has no value for fails
``test_every_route_has_a_case``, and a route whose policy lets a reader write, a role-less
user in, or another project's member at project sec-a's resources fails the persona tests.

- ``reader`` (only ``reader`` on sec-a): every write is refused with 403; every read of
  sec-a's resources succeeds; admin-only routes are refused.
- ``roleless`` (no role anywhere, an unscoped token): everything is refused (401/403),
  except the few routes any token may use (``ANY_TOKEN``).
- ``other`` (``member`` of sec-b), with sec-a's IDs in the path: refused (403/404); lists
  succeed and show nothing of sec-a's. Creating in its own project is not an attack; the
  cross-project references in such bodies are test_cross_project.py's.

Every refusal must be the service's own fault body, never a 5xx.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx
import pytest

from onestack.api import registry
from tests.security.conftest import Persona, Personas, Resources, Shared, unique
from tests.security.persona_routes import (
    NOT_HERE,
    READER_REFUSED_READS,
    READER_WRITES,
    SERVICES,
    TOKEN_FREE,
    USER_OWNED,
    World,
    enumerated,
    fault_message,
    fill,
    kind,
    send,
)


@pytest.fixture(scope="module")
def world(personas: Personas, owned: Resources, foreign: Resources, public: Shared) -> World:
    admin, owner = personas.admin, personas.owner
    w = World(personas, owned, foreign, public)
    ids = w.ids
    # items below sec-a's resources, so reads of them find something
    c, v, n = "/compute/v2.1", f"/volume/v3/{owned.project_id}", "/networking/v2.0"
    admin.ok("POST", f"{c}/flavors/42/os-extra_specs", {"extra_specs": {
        "hw:cpu_policy": "shared"}})
    owner.ok("PUT", f"{c}/servers/{owned.server}/tags/t1", headers={
        "OpenStack-API-Version": "compute 2.26"})
    owner.ok("PUT", f"{c}/servers/{owned.server}/metadata/m1", {"meta": {"m1": "v"}})
    owner.ok("PUT", f"{v}/volumes/{owned.volume}/metadata/m1", {"meta": {"m1": "v"}})
    owner.ok("PUT", f"{v}/snapshots/{owned.snapshot}/metadata/m1", {"meta": {"m1": "v"}})
    owner.ok("PUT", f"/image/v2/images/{owned.image}/tags/t1")
    for plural, ident in (("networks", owned.network), ("subnets", owned.subnet),
                          ("ports", owned.port), ("routers", owned.router),
                          ("security-groups", owned.security_group),
                          ("floatingips", owned.floating_ip)):
        owner.ok("PUT", f"{n}/{plural}/{ident}/tags/t1")
    pool = owner.ok("POST", f"{n}/subnetpools", {"subnetpool": {
        "name": unique("pool"), "prefixes": ["10.90.0.0/16"]}})["subnetpool"]["id"]
    owner.ok("PUT", f"{n}/subnetpools/{pool}/tags/t1")
    ids["subnetpool"] = pool
    actions = owner.ok("GET", f"{c}/servers/{owned.server}/os-instance-actions")
    ids["request_id"] = actions["instanceActions"][0]["request_id"]
    ids["network_label"] = owner.ok("GET", f"{n}/networks/{owned.network}")["network"]["name"]
    # an image member: sec-b on a second sec-a image (shared, not yet accepted)
    shared_img = owner.ok("POST", "/image/v2/images", {
        "name": unique("shared"), "visibility": "shared", "disk_format": "raw",
        "container_format": "bare"})["id"]
    owner.ok("POST", f"/image/v2/images/{shared_img}/members", {"member": foreign.project_id})
    ids["shared_image"] = shared_img
    # identity: a project tag, a group, an EC2 and an application credential of the owner
    i = "/identity/v3"
    admin.ok("PUT", f"{i}/projects/{owned.project_id}/tags/t1")
    ids["group_id"] = admin.ok("POST", f"{i}/groups", {"group": {"name": unique("grp")}}
                               )["group"]["id"]
    roles = {r["name"]: r["id"] for r in admin.ok("GET", f"{i}/roles")["roles"]}
    ids["member_role"], ids["admin_role"] = roles["member"], roles["admin"]
    ec2 = owner.ok("POST", f"{i}/users/{owner.user_id}/credentials/OS-EC2",
                   {"tenant_id": owned.project_id})["credential"]
    ids["access"] = ec2["access"]
    ids["credential_id"] = next(
        x["id"] for x in owner.ok("GET", f"{i}/credentials")["credentials"]
        if ec2["access"] in x["blob"])
    ids["app_cred"] = owner.ok("POST", f"{i}/users/{owner.user_id}/application_credentials",
                               {"application_credential": {"name": unique("ac")}}
                               )["application_credential"]["id"]
    ids["service_id"] = admin.ok("GET", f"{i}/services")["services"][0]["id"]
    ids["endpoint_id"] = admin.ok("GET", f"{i}/endpoints")["endpoints"][0]["id"]
    ids["subject_token"] = _spare_token(owner)
    # block storage: a user message (a volume whose type names no backend goes to error)
    nowhere = admin.ok("POST", "/volume/v3/types", {"volume_type": {
        "name": unique("nowhere"), "extra_specs": {"volume_backend_name": "nowhere"}}}
    )["volume_type"]["id"]
    bad = owner.ok("POST", f"{v}/volumes", {"volume": {"size": 1, "volume_type": nowhere}}
                   )["volume"]["id"]
    for _ in range(100):
        msgs = owner.ok("GET", f"{v}/messages", headers={
            "OpenStack-API-Version": "volume 3.3"})["messages"]
        if any(m["resource_uuid"] == bad for m in msgs):
            ids["message"] = next(m["id"] for m in msgs if m["resource_uuid"] == bad)
            break
        time.sleep(0.1)
    # block storage: the default type; placement: the compute host's provider
    ids["type_id"] = owner.ok("GET", f"{v}/types/default")["volume_type"]["id"]
    # a backup of sec-a's volume (ready before the personas try it)
    ids["backup"] = owner.ok("POST", f"{v}/backups", {"backup": {"volume_id": owned.volume}}
                             )["backup"]["id"]
    for _ in range(600):
        if owner.ok("GET", f"{v}/backups/{ids['backup']}")["backup"]["status"] == "available":
            break
        time.sleep(0.1)
    admin.ok("POST", f"/volume/v3/types/{ids['type_id']}/extra_specs", {"extra_specs": {
        "sec_key": "x"}})
    ids["provider"] = admin.ok("GET", "/placement/resource_providers", headers={
        "OpenStack-API-Version": "placement 1.0"})["resource_providers"][0]["uuid"]
    return w


def _spare_token(p: Persona) -> str:
    from tests.support.server import password_token

    return password_token(p.cloud.auth_url, p.username, p.password, p.project)


@dataclass
class Outcome:
    problems: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.problems.append(what)

    def assert_none(self, who: str) -> None:
        assert not self.problems, (f"{len(self.problems)} routes let {who} through or "
                                   "answered wrongly:\n" + "\n".join(self.problems))


def _refused(service: str, r: httpx.Response, allowed: set[int]) -> bool:
    if r.status_code not in allowed:
        return False
    message = fault_message(service, r)
    return bool(message)


# --- the tests ----------------------------------------------------------------------------
def test_token_free_routes_are_known() -> None:
    found = {(s.name, r.method, r.path) for s in registry.services() if s.name not in NOT_HERE
             for r in s.routes if not r.auth}
    unexpected = found - set(TOKEN_FREE)
    assert not unexpected, f"routes served without a token and not in TOKEN_FREE: {unexpected}"


def test_every_service_is_covered() -> None:
    names = {s.name for s in registry.services()}
    assert names == set(SERVICES) | set(NOT_HERE), names


def test_every_route_has_a_case(world: World) -> None:
    for service in SERVICES:
        for route in enumerated(service):
            fill(service, route, world, world.p.reader)  # KeyError names what is missing
            kind(service, route)


@pytest.mark.parametrize("service", SERVICES)
def test_roleless_user_can_do_nothing(world: World, service: str) -> None:
    """An unscoped token of a user with no role: 401/403 everywhere but ANY_TOKEN."""
    who, out = world.p.roleless, Outcome()
    for route in enumerated(service):
        r, _ = send(service, route, world, who)
        what = f"{route.method} {route.path}: {r.status_code} {r.text[:200]}"
        if kind(service, route) == "any-token":
            out.check(r.status_code < 300, what)
            leaked = [x for x in world.private_ids() if x in r.text]
            out.check(not leaked, f"{what}: shows sec-a's {leaked}")
        else:
            out.check(_refused(service, r, {401, 403}), what)
    out.assert_none("a role-less user")


@pytest.mark.parametrize("service", SERVICES)
def test_reader_reads_and_cannot_write(world: World, service: str) -> None:
    who, out = world.p.reader, Outcome()
    for route in enumerated(service):
        r, _ = send(service, route, world, who)
        what = f"{route.method} {route.path}: {r.status_code} {r.text[:200]}"
        k = kind(service, route)
        key = (service, route.method, route.path)
        if (service, route.path) in USER_OWNED:
            out.check(_refused(service, r, {404}), what)
        elif k == "admin" or (k == "project-write" and key not in READER_WRITES) \
                or key in READER_REFUSED_READS:
            out.check(_refused(service, r, {403}), what)
        elif k in ("any-token", "open-read", "project-read"):
            out.check(r.status_code < 300, what)
    out.assert_none("a reader")


@pytest.mark.parametrize("service", SERVICES)
def test_other_project_cannot_reach_a(world: World, service: str) -> None:
    who, out = world.p.other, Outcome()
    private = world.private_ids()
    for route in enumerated(service):
        r, names_a = send(service, route, world, who)
        what = f"{route.method} {route.path}: {r.status_code} {r.text[:200]}"
        k = kind(service, route)
        if k == "admin" or (names_a and k != "open-read"):
            out.check(_refused(service, r, {403, 404}), what)
        elif route.method == "GET":
            out.check(r.status_code < 300, what)
            leaked = [x for x in private if x in r.text]
            out.check(not leaked, f"{what}: shows sec-a's {leaked}")
        # creating in its own project: test_cross_project.py checks the references
    out.assert_none("another project's member")


def test_sec_a_is_unchanged(world: World) -> None:
    """After every attempt above, sec-a's resources are as they were."""
    owner, a = world.p.owner, world.a
    server = owner.ok("GET", f"/compute/v2.1/servers/{a.server}")["server"]
    assert server["status"] == "ACTIVE" and server["name"] != "taken"
    v = f"/volume/v3/{a.project_id}"
    vol = owner.ok("GET", f"{v}/volumes/{a.volume}")["volume"]
    assert vol["size"] == 1 and vol["name"] != "taken" and vol["status"] == "available"
    assert owner.ok("GET", f"{v}/volumes/{a.attached_volume}")["volume"]["status"] == "in-use"
    snap = owner.ok("GET", f"{v}/snapshots/{a.snapshot}")["snapshot"]
    assert snap["status"] == "available" and snap["name"] != "taken"
    assert owner.ok("GET", f"/image/v2/images/{a.image}")["status"] == "active"
    for kind_, ident in (("networks", a.network), ("subnets", a.subnet), ("ports", a.port),
                         ("routers", a.router), ("security-groups", a.security_group),
                         ("floatingips", a.floating_ip)):
        got = owner.ok("GET", f"/networking/v2.0/{kind_}/{ident}")
        assert next(iter(got.values())).get("name") != "x", kind_


def test_system_reader_cannot_make_credentials_for_others(world: World) -> None:
    """A system-scoped reader reads users' EC2 and application credentials (Keystone), but
    makes or deletes none: a key made for another user would sign S3 requests as them."""
    admin, owner, i = world.p.admin, world.p.owner, "/identity/v3"
    reader = world.p.reader
    role = admin.ok("GET", f"{i}/roles", params={"name": "reader"})["roles"][0]["id"]
    admin.ok("PUT", f"{i}/system/users/{reader.user_id}/roles/{role}")
    r = httpx.post(f"{reader.cloud.auth_url}/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "id": reader.user_id, "password": reader.password}}},
        "scope": {"system": {"all": True}}}})
    assert r.status_code == 201, r.text
    token = {"X-Auth-Token": r.headers["X-Subject-Token"]}
    base = f"{reader.cloud.auth_url}/users/{owner.user_id}"
    assert httpx.get(f"{base}/credentials/OS-EC2", headers=token).status_code == 200
    for method, url, body in (
            ("POST", f"{base}/credentials/OS-EC2", {"tenant_id": world.a.project_id}),
            ("DELETE", f"{base}/credentials/OS-EC2/{world.ids['access']}", None),
            ("DELETE", f"{base}/application_credentials/{world.ids['app_cred']}", None)):
        r = httpx.request(method, url, json=body, headers=token)
        assert r.status_code == 403, f"{method} {url}: {r.status_code} {r.text}"
        assert "not authorized" in fault_message("identity", r)
    assert owner.ok("GET", f"{base.removeprefix(owner.cloud.base_url)}/credentials/OS-EC2/"
                           f"{world.ids['access']}")


def test_roles_imply_down_the_chain(world: World) -> None:
    """admin implies member implies reader (the bootstrap's implied roles): a member reads
    with the reader rules, an admin's token holds all three; a reader holds only reader."""
    def roles(p: Persona) -> set[str]:
        r = p.call("GET", "/identity/v3/auth/tokens", headers={"X-Subject-Token": p.token})
        assert r.status_code == 200, r.text
        return {x["name"] for x in r.json()["token"]["roles"]}

    assert {"admin", "member", "reader"} <= roles(world.p.admin)
    assert {"member", "reader"} <= roles(world.p.owner) and "admin" not in roles(world.p.owner)
    assert roles(world.p.reader) == {"reader"}
