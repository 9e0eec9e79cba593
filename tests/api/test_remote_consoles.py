"""Remote consoles (Nova's remote-consoles, os-getVNCConsole/os-getSerialConsole, and
os-console-auth-tokens) with openstacksdk, the `openstack console url show` CLI and raw
HTTP; and the console proxy's websockets on the same port: a token opens one console once,
not after its time, not for another instance or protocol. On the fake hypervisor a guest's
console socket is a small echo server the test puts where QEMU's would be."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import openstack
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from onestack.core.compute import consoles as core_consoles
from onestack.drivers.virt.qemu.cmdline import GuestFiles
from tests.api.conftest import Cli, connect, unique
from tests.support.server import RunningCloud, password_token

pytestmark = pytest.mark.usefixtures("cloud")


@pytest.fixture(scope="module")
def image_id(cloud: RunningCloud) -> str:
    img = connect(cloud).image.create_image(
        name=unique("console-img"), data=b"\0" * 4096, disk_format="raw",
        container_format="bare", visibility="public")
    return str(img.id)


def _active(conn: openstack.connection.Connection, image_id: str) -> Any:
    s = conn.compute.create_server(name=unique("con"), image_id=image_id, flavor_id="42",
                                   networks="none")
    return conn.compute.wait_for_server(s, status="ACTIVE", interval=0.05, wait=20)


@pytest.fixture(scope="module")
def servers(cloud: RunningCloud, image_id: str) -> Iterator[tuple[Any, Any]]:
    """Two ACTIVE servers of the demo project."""
    demo = connect(cloud, "demo")
    made = (_active(demo, image_id), _active(demo, image_id))
    yield made
    for s in made:
        with contextlib.suppress(Exception):
            demo.compute.delete_server(s.id, force=True)


def nova(cloud: RunningCloud, path: str, body: Any = None, who: str = "demo",
         version: str = "2.79", token: str | None = None) -> httpx.Response:
    headers = {"X-Auth-Token": token or cloud.token(who),
               "OpenStack-API-Version": f"compute {version}"}
    method = "GET" if body is None else "POST"
    return httpx.request(method, f"{cloud.base_url}/compute/v2.1{path}", headers=headers,
                         json=body, timeout=30)


def remote(cloud: RunningCloud, server_id: str, protocol: str, kind: str, **kw: Any
           ) -> httpx.Response:
    return nova(cloud, f"/servers/{server_id}/remote-consoles",
                {"remote_console": {"protocol": protocol, "type": kind}}, **kw)


def token_of(url: str) -> str:
    query = parse_qs(urlsplit(url).query)
    if "path" in query:  # noVNC's page: the websocket path carries the token
        query = parse_qs(urlsplit(unquote(query["path"][0])).query)
    return query["token"][0]


def ws_url(cloud: RunningCloud, protocol: str, **query: str) -> str:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return f"{cloud.base_url.replace('http', 'ws', 1)}/console/{protocol}" + (f"?{q}" if q else "")


def refused(url: str, first: str | None = None) -> tuple[int, str]:
    """The close code and reason of a websocket the proxy refuses."""
    with ws_connect(url, open_timeout=10) as ws:
        if first is not None:
            ws.send(first)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
    rcvd = info.value.rcvd
    assert rcvd is not None
    return rcvd.code, rcvd.reason


@contextlib.contextmanager
def echo_console(instances: Path, server_id: str, protocol: str) -> Iterator[list[bytes]]:
    """A unix socket where the guest's console would be: it greets, then echoes."""
    files = GuestFiles(instances / server_id)
    files.instance_dir.mkdir(parents=True, exist_ok=True)
    path = files.serial_socket if protocol == "serial" else files.vnc_socket
    got: list[bytes] = []
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(1)

    def run() -> None:
        with contextlib.suppress(OSError):
            conn, _ = srv.accept()
            with conn:
                conn.sendall(b"login: ")
                while data := conn.recv(4096):
                    got.append(data)
                    conn.sendall(b"echo:" + data)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield got
    finally:
        srv.close()
        path.unlink(missing_ok=True)
        thread.join(5)


def test_sdk_and_websocket_once(cloud: RunningCloud, servers: tuple[Any, Any],
                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    demo = connect(cloud, "demo")
    a, b = servers
    console = demo.compute.create_console(a, console_type="serial", console_protocol="serial")
    assert console is not None
    assert console["type"] == "serial" and console["protocol"] == "serial"
    ws_base = cloud.base_url.replace("http", "ws", 1)
    assert console["url"].startswith(f"{ws_base}/console/serial?token=")
    token = token_of(console["url"])
    assert len(token) >= 40
    instances = cloud.settings.instances_path
    with echo_console(instances, a.id, "serial") as got, ws_connect(console["url"]) as ws:
        assert ws.recv(timeout=10) == b"login: "
        ws.send(b"hostname\r")
        assert ws.recv(timeout=10) == b"echo:hostname\r"
    assert got == [b"hostname\r"]
    # spent: the same URL again is refused, and says why without the token
    code, reason = refused(console["url"])
    assert code == 4401 and "already used" in reason and token not in reason
    # a VNC token by its first message (the dashboard's way), for the instance it names
    vnc = demo.compute.create_console(a, console_type="novnc", console_protocol="vnc")
    assert vnc is not None and "/console/novnc/vnc_lite.html?path=" in vnc["url"]
    with echo_console(instances, a.id, "vnc"), \
            ws_connect(ws_url(cloud, "vnc", instance=a.id), subprotocols=["binary"]) as ws:
        assert ws.subprotocol == "binary"
        ws.send(token_of(vnc["url"]))
        assert ws.recv(timeout=10) == b"login: "
    # the older action through the SDK where Nova still serves it (to 2.5): the same kind of
    # URL; at the SDK's default microversion Nova (and so Onestack) answers 404
    acct = cloud.accounts["demo"]
    old = openstack.connect(
        auth={"auth_url": cloud.auth_url, "username": acct.username,
              "password": acct.password, "project_name": acct.project,
              "user_domain_name": "Default", "project_domain_name": "Default"},
        region_name="RegionOne", identity_api_version="3", compute_api_version="2.5")
    legacy = old.compute.get_server_console_url(b, "novnc")
    assert legacy is not None and legacy["type"] == "novnc" and "token%3D" in legacy["url"]
    with pytest.raises(openstack.exceptions.NotFoundException):
        demo.compute.get_server_console_url(b, "novnc")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for t in (token, token_of(vnc["url"]), token_of(legacy["url"])):
        assert t not in logged


def test_token_refusals(cloud: RunningCloud, servers: tuple[Any, Any],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = servers
    url = remote(cloud, a.id, "serial", "serial").json()["remote_console"]["url"]
    # for another instance: refused, and not spent by that (the right one still opens)
    assert refused(ws_url(cloud, "serial", instance=b.id), token_of(url))[0] == 4401
    code, reason = refused(ws_url(cloud, "vnc"), token_of(url))  # another protocol
    assert code == 4401 and "serial console" in reason
    code, reason = refused(url)  # accepted; the fake hypervisor has no console socket
    assert code == 4409 and "cannot be opened" in reason
    assert refused(url)[0] == 4401  # and that spent it
    assert refused(ws_url(cloud, "serial"), "not-a-token")[0] == 4401
    # expired: made already past its time
    monkeypatch.setattr(core_consoles, "TTL", -1)
    old = remote(cloud, a.id, "vnc", "novnc").json()["remote_console"]["url"]
    code, reason = refused(ws_url(cloud, "vnc"), token_of(old))
    assert code == 4401 and "expired" in reason
    with pytest.raises(Exception, match="403"), ws_connect(ws_url(cloud, "nothing")):
        pass


def test_api_errors(cloud: RunningCloud, servers: tuple[Any, Any], image_id: str) -> None:
    a, _ = servers
    r = remote(cloud, a.id, "vnc", "serial")
    assert r.status_code == 400 and r.json()["badRequest"]["message"] == \
        "Invalid console type serial"
    assert remote(cloud, a.id, "serial", "novnc").status_code == 400
    r = remote(cloud, a.id, "spice", "spice-html5")
    assert r.status_code == 400 and "Unavailable console type" in r.json()["badRequest"][
        "message"]
    assert remote(cloud, a.id, "mks", "webmks", version="2.6").status_code == 400  # schema
    r = nova(cloud, f"/servers/{a.id}/remote-consoles", {"remote_console": {"type": "novnc"}})
    assert r.status_code == 400 and "protocol" in r.json()["badRequest"]["message"]
    assert remote(cloud, a.id, "vnc", "novnc", version="2.5").status_code == 404
    # the older actions: to 2.5 only
    r = nova(cloud, f"/servers/{a.id}/action", {"os-getSerialConsole": {"type": "serial"}},
             version="2.5")
    assert r.status_code == 200 and set(r.json()["console"]) == {"type", "url"}
    assert r.json()["console"]["url"].startswith("ws://")
    assert nova(cloud, f"/servers/{a.id}/action", {"os-getVNCConsole": {"type": "novnc"}},
                version="2.6").status_code == 404
    assert nova(cloud, f"/servers/{a.id}/action", {"os-getVNCConsole": {"type": "spice"}},
                version="2.1").status_code == 400
    # another project's server: not found; admin: allowed
    r = remote(cloud, a.id, "vnc", "novnc", who="admin")
    assert r.status_code == 200
    other = connect(cloud)  # admin's own project
    theirs = _active(other, image_id)
    try:
        r = remote(cloud, theirs.id, "vnc", "novnc")
        assert r.status_code == 404 and "could not be found" in r.json()["itemNotFound"][
            "message"]
        other.compute.stop_server(theirs)
        other.compute.wait_for_server(theirs, status="SHUTOFF", interval=0.05, wait=20)
        r = remote(cloud, theirs.id, "vnc", "novnc", who="admin")
        assert r.status_code == 409 and "is not ready" in r.json()["conflictingRequest"][
            "message"]
    finally:
        other.compute.delete_server(theirs, force=True)


def test_reader_refused_and_auth_tokens(cloud: RunningCloud, servers: tuple[Any, Any]
                                        ) -> None:
    a, _ = servers
    admin = connect(cloud)
    name = unique("reader")
    user = admin.identity.create_user(name=name, password="reader-pass", domain_id="default")
    project = admin.identity.find_project("demo")
    role = admin.identity.find_role("reader")
    admin.identity.assign_project_role_to_user(project, user, role)
    try:
        reader = password_token(cloud.auth_url, name, "reader-pass", "demo")
        assert nova(cloud, f"/servers/{a.id}", token=reader).status_code == 200
        r = remote(cloud, a.id, "vnc", "novnc", token=reader)
        assert r.status_code == 403 and "os-remote-consoles" in r.json()["forbidden"]["message"]
        r = nova(cloud, f"/servers/{a.id}/action", {"os-getVNCConsole": {"type": "novnc"}},
                 version="2.1", token=reader)
        assert r.status_code == 403
    finally:
        admin.identity.delete_user(user)
    url = remote(cloud, a.id, "serial", "serial").json()["remote_console"]["url"]
    token = token_of(url)
    r = nova(cloud, f"/os-console-auth-tokens/{token}", who="admin", version="2.31")
    assert r.status_code == 200
    assert r.json() == {"console": {"instance_uuid": a.id, "host": "compute-test",
                                    "port": 0, "internal_access_path": None}}
    assert nova(cloud, f"/os-console-auth-tokens/{token}").status_code == 403  # member
    assert nova(cloud, f"/os-console-auth-tokens/{token}", who="admin",
                version="2.30").status_code == 400
    assert refused(url)[0] == 4409  # spent (the fake hypervisor has no socket)
    r = nova(cloud, f"/os-console-auth-tokens/{token}", who="admin", version="2.31")
    assert r.status_code == 404 and r.json()["itemNotFound"]["message"] == "Token not found"


def test_cli_console_url_show(cloud: RunningCloud, servers: tuple[Any, Any],
                              request: pytest.FixtureRequest) -> None:
    if request.node.callspec.params.get("cloud") != "sqlite":
        pytest.skip("the CLI's part is the same on every database (CI time)")
    a, _ = servers
    cli = Cli(cloud)
    out = json.loads(cli.run("console", "url", "show", "--novnc", a.id, "-f", "json",
                             cloud="onestack-demo").stdout)
    assert out["type"] == "novnc" and out["protocol"] == "vnc"
    assert out["url"].startswith(f"{cloud.base_url}/console/novnc/vnc_lite.html?path=")
    page = httpx.get(out["url"])  # noVNC's page, served by the same port
    assert page.status_code == 200 and "console-lite.js" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    out = json.loads(cli.run("console", "url", "show", "--serial", a.id, "-f", "json",
                             cloud="onestack-demo").stdout)
    assert out["type"] == "serial" and out["url"].startswith("ws://")

