"""The console page on a real guest in real Chromium: a tiny image booted by QEMU (TCG)
through the API, its serial console typed into (``hostname``, the guest's answer read in the
page), its graphical console rendered by noVNC (the canvas not blank; screenshot kept), and
console tokens a page asks for refused when reused or used for another instance. Skips
itself without root, QEMU, the image builder's tools or Chromium."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from onestack.drivers.virt.qemu import QemuDriver
from onestack.images.disk import missing_tools
from onestack.images.seed import TINY
from tests.api.conftest import connect
from tests.dashboard.conftest import OUT, shot
from tests.integration.tiny_guest import iso_tool
from tests.support.server import CloudThread, RunningCloud

pytestmark = [pytest.mark.integration]

NAME = "console-guest"


def _skip_reason() -> str | None:
    if shutil.which("qemu-system-x86_64") is None or missing_tools() or iso_tool() is None:
        return "needs qemu-system-x86, the image builder's tools and genisoimage"
    if os.geteuid() != 0:
        return "needs root (apt-get download into the image cache)"
    return None


@pytest.fixture(scope="module")
def guest_cloud() -> Iterator[tuple[RunningCloud, str]]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from tests.integration.test_compute_qemu import destroy_guests, seed, settle

    # Playwright's sync API runs an event loop in this thread: asyncio.run elsewhere
    def off_loop(fn: Any, *args: Any) -> Any:
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(fn, *args).result()

    thread = CloudThread()
    thread.settings.compute.reconcile_interval = 1.0
    thread.virt_driver = QemuDriver(instances_dir=thread.settings.instances_path)
    cloud = thread.start()
    try:
        off_loop(seed, cloud)
        admin = connect(cloud)
        image = admin.image.find_image(TINY, ignore_missing=False)
        server = admin.compute.create_server(name=NAME, image_id=image.id, flavor_id="1",
                                             networks="none", config_drive=True)
        settle(admin, server.id, "ACTIVE")
        deadline = time.monotonic() + 120
        while "login banner" not in (admin.compute.get_server_console_output(
                server.id).get("output") or ""):
            assert time.monotonic() < deadline, "the guest did not finish booting"
            time.sleep(0.5)
        yield cloud, server.id
        admin.compute.delete_server(server.id, force=True)
    finally:
        thread.stop()
        off_loop(destroy_guests, thread.settings.instances_path)


def _login(browser: Any, cloud: RunningCloud) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.js_errors = errors
    acct = cloud.accounts["admin"]
    page.goto(f"{cloud.base_url}/dashboard/login")
    page.fill("input[name=username]", acct.username)
    page.fill("input[name=password]", acct.password)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/project/*/")
    return page


def wait_js(page: Any, expression: str, timeout: float = 30) -> None:
    """Poll ``expression`` in the page until true (page.wait_for_function evaluates strings,
    which the dashboard's CSP forbids; page.evaluate is not subject to it)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(f"() => Boolean({expression})"):
        assert time.monotonic() < deadline, f"not true within {timeout}s: {expression}"
        page.wait_for_timeout(200)


def lit_pixels(page: Any, canvas: str, timeout: float = 20) -> int:
    """How many of the canvas's pixels are not (nearly) black, once some are."""
    deadline = time.monotonic() + timeout
    while True:
        lit = int(page.evaluate("""(sel) => {
            const c = document.querySelector(sel);
            if (!c || !c.width) return 0;
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 60) n++;
            return n; }""", canvas))
        if lit or time.monotonic() > deadline:
            return lit
        page.wait_for_timeout(500)


# In the page: a token as the console page gets one, then a websocket's close code when the
# token is sent for ``instance`` (the first use, when it opens, is closed by us).
PROBE = """async ([instance, reuse]) => {
  const root = document.getElementById("consoles");
  const ask = () => fetch(root.dataset.tokenUrl, {method: "POST", headers: {
      "Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": root.dataset.csrf},
      body: "protocol=serial"}).then(r => r.json());
  const attempt = (token, target) => new Promise((resolve) => {
    const ws = new WebSocket(`ws://${location.host}/console/serial?instance=${target}`);
    ws.onopen = () => ws.send(token);
    ws.onmessage = () => { ws.close(); resolve("opened"); };
    ws.onclose = (e) => resolve(e.code + " " + e.reason);
  });
  const {token} = await ask();
  if (reuse) { await attempt(token, instance); }
  return attempt(token, reuse ? instance : crypto.randomUUID());
}"""


def test_serial_and_graphical_consoles(browser: Any,
                                       guest_cloud: tuple[RunningCloud, str]) -> None:
    cloud, server_id = guest_cloud
    page = _login(browser, cloud)
    project = page.url.rstrip("/").rsplit("/", 1)[-1]
    page.goto(f"{cloud.base_url}/dashboard/project/{project}/instances/{server_id}")
    page.click("a.console-link")
    page.wait_for_url(f"**/instances/{server_id}/console")
    assert "token" not in page.url
    # the serial console connects by itself; a newline brings up the shell's prompt
    wait_js(page, "document.getElementById('consoles').dataset.serialState === 'connected'")
    page.click("#serial-terminal")
    page.keyboard.type("hostname\n")
    wait_js(page, "document.querySelector('#serial-terminal .xterm-rows').innerText"
                  f".split('\\n').some(l => l.trim() === '{NAME}')")
    rows = page.inner_text("#serial-terminal .xterm-rows")
    assert "hostname" in rows and NAME in rows.split("hostname", 1)[1]
    # the console log tail goes on while the terminal is open (the logger logs both)
    wait_js(page, f"document.getElementById('console-log').innerText.includes('{NAME}')")

    # the graphical console: noVNC draws the guest's VGA text screen
    page.click("button.console-connect[data-protocol=vnc]")
    wait_js(page, "document.getElementById('consoles').dataset.vncState === 'connected'")
    assert lit_pixels(page, "#vnc-screen canvas") > 100, "the graphical console is blank"
    shot(page, "console")
    assert (OUT / "console.png").stat().st_size > 10_000

    # tokens the page gets: one for another instance, a reused one: both refused
    foreign = page.evaluate(PROBE, [server_id, False])
    assert foreign.startswith("4401") and "another instance" in foreign
    reused = page.evaluate(PROBE, [server_id, True])
    assert reused.startswith("4401") and "already used" in reused
    # the URL Nova's API gives (openstack console url show) opens noVNC's page of ours
    r = httpx.post(f"{cloud.base_url}/compute/v2.1/servers/{server_id}/remote-consoles",
                   headers={"X-Auth-Token": cloud.admin_token(),
                            "OpenStack-API-Version": "compute 2.79"},
                   json={"remote_console": {"protocol": "vnc", "type": "novnc"}})
    page.goto(r.json()["remote_console"]["url"])
    wait_js(page, "document.getElementById('console-status').textContent === 'Connected.'")
    assert lit_pixels(page, "#console-screen canvas") > 100
    assert "token" not in page.url  # spent, and out of the address bar and history
    shot(page, "console-novnc-url")

    # refused websockets and xterm.js's <style> elements (refused by the CSP, which stays
    # strict; console.css carries those styles) are the only errors
    assert not [e for e in page.js_errors if "WebSocket" not in e
                and "Applying inline style violates" not in e], page.js_errors
    page.context.close()
