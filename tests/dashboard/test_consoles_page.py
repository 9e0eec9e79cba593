"""The console page over HTTP (fake hypervisor): its token endpoint wants the CSRF token,
answers the one-time token in the body (never in a URL) with the websocket to open, and
refuses a reader as the API does; the page has no inline script and no token."""

from __future__ import annotations

import time

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from tests.dashboard.conftest import DashCloud, csrf_of, login


def test_console_page_and_its_tokens(dash: DashCloud) -> None:
    http = httpx.Client(follow_redirects=False, timeout=30)
    home = login(http, dash, "demo")
    r = http.post(home + "instances/launch", data={
        "csrf_token": csrf_of(http.get(home + "instances/launch").text), "name": "con-page",
        "image": dash.image_id, "flavor": "1", "network": dash.network_id})
    assert r.status_code == 303, r.text
    api = f"{dash.cloud.base_url}/compute/v2.1/servers"
    auth = {"X-Auth-Token": dash.cloud.token("demo")}
    server_id = http.get(f"{api}?name=con-page", headers=auth).json()["servers"][0]["id"]
    deadline = time.monotonic() + 20
    while http.get(f"{api}/{server_id}", headers=auth).json()["server"]["status"] != "ACTIVE":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    page = http.get(f"{home}instances/{server_id}")
    assert f"instances/{server_id}/console" in page.text  # the Console link
    console = http.get(f"{home}instances/{server_id}/console")
    assert console.status_code == 200
    assert "console.js" in console.text and "<script>" not in console.text
    assert "token=" not in console.text
    assert "script-src 'self'" in console.headers["content-security-policy"]
    url = f"{home}instances/{server_id}/console/token"
    assert http.post(url, data={"protocol": "serial"}).status_code == 403  # no CSRF token
    csrf = csrf_of(console.text)
    r = http.post(url, data={"protocol": "serial"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["socket"] == f"/console/serial?instance={server_id}"
    assert http.post(url, data={"protocol": "spice"},
                     headers={"X-CSRF-Token": csrf}).status_code == 400
    # the token opens the socket it names (the fake hypervisor has no console: 4409)
    ws_base = dash.cloud.base_url.replace("http", "ws", 1)
    with ws_connect(ws_base + body["socket"]) as ws:
        ws.send(body["token"])
        try:
            ws.recv(timeout=10)
        except ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 4409
    log = http.get(f"{home}instances/{server_id}/console/log")
    assert log.status_code == 200 and "hostname=con-page" in log.text
    assert http.get(f"{home}instances/{server_id}/console/log",
                    headers={"If-None-Match": log.headers["etag"]}).status_code == 304
    # a reader of the project sees the page, and the API refuses it a token
    reader = httpx.Client(follow_redirects=False, timeout=30)
    login(reader, dash, "reader")
    page = reader.get(f"{home}instances/{server_id}/console")
    assert page.status_code == 200
    r = reader.post(url, data={"protocol": "vnc"}, headers={"X-CSRF-Token": csrf_of(page.text)})
    assert r.status_code == 403 and "os-remote-consoles" in r.text
