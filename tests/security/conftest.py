"""Personas for the security suite: who tries what, against a real in-process cloud.

One cloud (SQLite) serves the whole suite. Policy is decided before any query, and the
project scoping of the cores is the same SQLAlchemy on both databases, which the API suite
(tests/api) already runs on SQLite and PostgreSQL; the persona checks are thousands of
requests, and a second backend would double the suite's time for no new path.

Personas (``personas`` fixture, session-wide):

- ``admin``: the bootstrap admin (admin role, admin project).
- ``owner``: ``member`` of project ``sec-a``; owns the resources of ``owned``.
- ``reader``: only ``reader`` on ``sec-a``.
- ``roleless``: a user with no role anywhere; only an unscoped token.
- ``other``: ``member`` of project ``sec-b``; owns the resources of ``foreign``.

Each persona talks raw HTTP with its token (``persona.call("GET", "/compute/v2.1/servers")``)
or through openstacksdk (``persona.connect()``). ``owned`` and ``foreign`` hold the IDs of a
full set of resources in each project (see ``Resources``); ``public`` holds the shared ones
(a public image, an external network with a subnet).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import openstack
import pytest

from tests.support.server import CloudThread, RunningCloud, password_token


@dataclass
class Persona:
    name: str
    cloud: RunningCloud
    username: str
    password: str
    user_id: str
    project: str | None  # the project its token is scoped to; None: unscoped
    project_id: str | None
    token: str = ""
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        out = {"X-Auth-Token": self.token}
        out.update(extra or {})
        return out

    def call(self, method: str, path: str, json: Any = None, *,
             headers: dict[str, str] | None = None, content: bytes | None = None,
             params: dict[str, str] | None = None) -> httpx.Response:
        """One request to ``path`` below the cloud's base URL (``/compute/v2.1/...``)."""
        return self.client.request(method, self.cloud.base_url + path, json=json,
                                   content=content, params=params,
                                   headers=self.headers(headers))

    def ok(self, method: str, path: str, json: Any = None, **kw: Any) -> Any:
        """A request that must succeed; its JSON body (None when empty)."""
        r = self.call(method, path, json, **kw)
        assert r.status_code < 300, f"{self.name}: {method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content and "json" in r.headers.get("content-type", "") else None

    def connect(self) -> openstack.connection.Connection:
        assert self.project is not None, f"{self.name} holds no project-scoped token"
        return openstack.connect(auth={
            "auth_url": self.cloud.auth_url, "username": self.username,
            "password": self.password, "project_name": self.project,
            "user_domain_name": "Default", "project_domain_name": "Default"},
            region_name="RegionOne", identity_api_version="3")

    def clouds_env(self, base: dict[str, str]) -> dict[str, str]:
        """Environment for the `openstack` CLI acting as this persona."""
        assert self.project is not None
        env = {k: v for k, v in base.items() if not k.startswith("OS_")}
        env.update(OS_AUTH_URL=self.cloud.auth_url, OS_USERNAME=self.username,
                   OS_PASSWORD=self.password, OS_PROJECT_NAME=self.project,
                   OS_USER_DOMAIN_NAME="Default", OS_PROJECT_DOMAIN_NAME="Default",
                   OS_IDENTITY_API_VERSION="3", OS_REGION_NAME="RegionOne",
                   OS_CLIENT_CONFIG_FILE="/nonexistent/clouds.yaml")
        return env


@dataclass
class Personas:
    admin: Persona
    owner: Persona
    reader: Persona
    roleless: Persona
    other: Persona

    def all(self) -> list[Persona]:
        return [self.admin, self.owner, self.reader, self.roleless, self.other]


@dataclass
class Resources:
    """IDs of one project's resources (names for key pairs)."""
    project_id: str
    image: str = ""
    network: str = ""
    subnet: str = ""
    port: str = ""  # a spare port, attached to nothing
    server_port: str = ""  # the server's port
    router: str = ""
    security_group: str = ""
    security_group_rule: str = ""
    floating_ip: str = ""
    keypair: str = ""
    server: str = ""
    server_group: str = ""
    volume: str = ""  # available
    attached_volume: str = ""  # attached to ``server``
    snapshot: str = ""
    attachment: str = ""  # the Cinder attachment of attached_volume
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class Shared:
    image: str  # public, owned by admin
    external_network: str
    external_subnet: str


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def persona_cloud() -> Iterator[RunningCloud]:
    thread = CloudThread()
    yield thread.start()
    thread.stop()


def _user(admin: Persona, name: str, project_id: str | None, role: str | None
          ) -> tuple[str, str]:
    password = uuid.uuid4().hex
    user = admin.ok("POST", "/identity/v3/users", {"user": {
        "name": name, "password": password, "domain_id": "default"}})["user"]
    if project_id is not None and role is not None:
        role_id = admin.ok("GET", "/identity/v3/roles", params={"name": role})["roles"][0]["id"]
        admin.ok("PUT", f"/identity/v3/projects/{project_id}/users/{user['id']}/roles/"
                        f"{role_id}")
    return str(user["id"]), password


@pytest.fixture(scope="session")
def personas(persona_cloud: RunningCloud) -> Personas:
    c = persona_cloud
    acct = c.accounts["admin"]
    admin = Persona("admin", c, acct.username, acct.password, acct.user_id, acct.project,
                    acct.project_id, c.token("admin"))
    projects = {}
    for name in ("sec-a", "sec-b"):
        projects[name] = admin.ok("POST", "/identity/v3/projects", {"project": {
            "name": name, "domain_id": "default"}})["project"]["id"]
    made: dict[str, Persona] = {}
    for who, project, role in (("owner", "sec-a", "member"), ("reader", "sec-a", "reader"),
                               ("roleless", None, None), ("other", "sec-b", "member")):
        username = unique(f"sec-{who}")
        pid = projects[project] if project else None
        user_id, password = _user(admin, username, pid, role)
        token = password_token(c.auth_url, username, password, project)
        made[who] = Persona(who, c, username, password, user_id, project, pid, token)
    return Personas(admin=admin, **made)


def _wait(p: Persona, path: str, key: str, status: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = p.ok("GET", path)[key]
        if body["status"].lower() == status.lower():
            return dict(body)
        if body["status"].lower() == "error" or time.monotonic() > deadline:
            raise AssertionError(f"{path} is {body['status']}, not {status}")
        time.sleep(0.05)


def _image(p: Persona, visibility: str = "private") -> str:
    img = p.ok("POST", "/image/v2/images", {"name": unique("img"), "disk_format": "raw",
                                            "container_format": "bare",
                                            "visibility": visibility})
    p.ok("PUT", f"/image/v2/images/{img['id']}/file", content=b"\0" * 1024,
         headers={"Content-Type": "application/octet-stream"})
    return str(img["id"])


@pytest.fixture(scope="session")
def public(personas: Personas) -> Shared:
    admin = personas.admin
    net = admin.ok("POST", "/networking/v2.0/networks", {"network": {
        "name": unique("sec-public"), "router:external": True}})["network"]["id"]
    sub = admin.ok("POST", "/networking/v2.0/subnets", {"subnet": {
        "network_id": net, "ip_version": 4, "cidr": "203.0.113.0/24",
        "name": unique("sec-public")}})["subnet"]["id"]
    return Shared(image=_image(admin, "public"), external_network=net, external_subnet=sub)


def build_resources(p: Persona, shared: Shared, cidr: str) -> Resources:
    """A full set of resources in ``p``'s project, made through the APIs as ``p``."""
    assert p.project_id is not None
    r = Resources(project_id=p.project_id)
    n = "/networking/v2.0"
    r.image = _image(p)
    r.network = p.ok("POST", f"{n}/networks", {"network": {"name": unique("net")}}
                     )["network"]["id"]
    r.subnet = p.ok("POST", f"{n}/subnets", {"subnet": {
        "network_id": r.network, "ip_version": 4, "cidr": cidr,
        "name": unique("sub")}})["subnet"]["id"]
    r.port = p.ok("POST", f"{n}/ports", {"port": {"network_id": r.network,
                                                 "name": unique("port")}})["port"]["id"]
    r.server_port = p.ok("POST", f"{n}/ports", {"port": {
        "network_id": r.network, "name": unique("vm-port")}})["port"]["id"]
    r.router = p.ok("POST", f"{n}/routers", {"router": {
        "name": unique("router"),
        "external_gateway_info": {"network_id": shared.external_network}}})["router"]["id"]
    p.ok("PUT", f"{n}/routers/{r.router}/add_router_interface", {"subnet_id": r.subnet})
    r.security_group = p.ok("POST", f"{n}/security-groups", {"security_group": {
        "name": unique("sg")}})["security_group"]["id"]
    r.security_group_rule = p.ok("POST", f"{n}/security-group-rules", {
        "security_group_rule": {"security_group_id": r.security_group, "direction": "ingress",
                                "protocol": "tcp", "port_range_min": 22,
                                "port_range_max": 22}})["security_group_rule"]["id"]
    r.floating_ip = p.ok("POST", f"{n}/floatingips", {"floatingip": {
        "floating_network_id": shared.external_network}})["floatingip"]["id"]
    c = "/compute/v2.1"
    r.keypair = unique("kp")
    p.ok("POST", f"{c}/os-keypairs", {"keypair": {"name": r.keypair}})
    r.server_group = p.ok("POST", f"{c}/os-server-groups", {"server_group": {
        "name": unique("sg"), "policies": ["anti-affinity"]}})["server_group"]["id"]
    r.server = p.ok("POST", f"{c}/servers", {"server": {
        "name": unique("vm"), "imageRef": r.image, "flavorRef": "42",
        "key_name": r.keypair, "networks": [{"port": r.server_port}]}})["server"]["id"]
    v = f"/volume/v3/{p.project_id}"
    r.volume = p.ok("POST", f"{v}/volumes", {"volume": {"size": 1, "name": unique("vol")}}
                    )["volume"]["id"]
    r.attached_volume = p.ok("POST", f"{v}/volumes", {"volume": {
        "size": 1, "name": unique("vol")}})["volume"]["id"]
    _wait(p, f"{v}/volumes/{r.volume}", "volume", "available")
    _wait(p, f"{v}/volumes/{r.attached_volume}", "volume", "available")
    r.snapshot = p.ok("POST", f"{v}/snapshots", {"snapshot": {
        "volume_id": r.volume, "name": unique("snap")}})["snapshot"]["id"]
    _wait(p, f"{v}/snapshots/{r.snapshot}", "snapshot", "available")
    _wait(p, f"{c}/servers/{r.server}", "server", "ACTIVE")
    p.ok("POST", f"{c}/servers/{r.server}/os-volume_attachments", {
        "volumeAttachment": {"volumeId": r.attached_volume}})
    _wait(p, f"{v}/volumes/{r.attached_volume}", "volume", "in-use")
    atts = p.ok("GET", f"{v}/attachments", headers={
        "OpenStack-API-Version": "volume 3.27"})["attachments"]
    r.attachment = next(a["id"] for a in atts if a["volume_id"] == r.attached_volume)
    return r


@pytest.fixture(scope="session")
def owned(personas: Personas, public: Shared) -> Resources:
    """Project sec-a's resources, made by its member ``owner``."""
    return build_resources(personas.owner, public, "10.81.0.0/24")


@pytest.fixture(scope="session")
def foreign(personas: Personas, public: Shared) -> Resources:
    """Project sec-b's resources, made by its member ``other``."""
    return build_resources(personas.other, public, "10.82.0.0/24")
