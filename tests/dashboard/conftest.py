"""A real Onestack (fake virt driver) with what a new user's first hour needs: an image, a
network in the demo project, a reader in demo, and a member of another project."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import CloudThread, RunningCloud, password_token

CHROMIUM = "/usr/bin/chromium"
OUT = Path(__file__).parent / "out"
PASSWORD = "dashboard-test-Pw-1"


@dataclass
class Person:
    username: str
    password: str
    project_id: str


@dataclass
class DashCloud:
    cloud: RunningCloud
    people: dict[str, Person]
    image_id: str
    network_id: str

    @property
    def url(self) -> str:
        return f"{self.cloud.base_url}/dashboard"


def _api(cloud: RunningCloud, token: str, method: str, path: str, **kw: Any) -> Any:
    r = httpx.request(method, cloud.base_url + path, headers={
        "X-Auth-Token": token, **kw.pop("headers", {})}, timeout=30, **kw)
    assert r.status_code < 400, (method, path, r.status_code, r.text)
    return r.json() if r.content else {}


def _user_id(cloud: RunningCloud, admin: str, name: str) -> str:
    return str(_api(cloud, admin, "GET", f"/identity/v3/users?name={name}")["users"][0]["id"])


def _role_id(cloud: RunningCloud, admin: str, name: str) -> str:
    return str(_api(cloud, admin, "GET", f"/identity/v3/roles?name={name}")["roles"][0]["id"])


def make_person(cloud: RunningCloud, admin: str, name: str, project_id: str, role: str
            ) -> Person:
    user = _api(cloud, admin, "POST", "/identity/v3/users", json={"user": {
        "name": name, "password": PASSWORD, "domain_id": "default"}})["user"]
    role_id = _api(cloud, admin, "GET", f"/identity/v3/roles?name={role}")["roles"][0]["id"]
    _api(cloud, admin, "PUT",
         f"/identity/v3/projects/{project_id}/users/{user['id']}/roles/{role_id}")
    return Person(name, PASSWORD, project_id)


@pytest.fixture(scope="session")
def dash() -> Iterator[DashCloud]:
    thread = CloudThread()
    cloud = thread.start()
    admin = cloud.admin_token()
    demo_acct, admin_acct = cloud.accounts["demo"], cloud.accounts["admin"]
    demo_pid = _api(cloud, admin, "GET", "/identity/v3/projects?name=demo")["projects"][0]["id"]
    admin_pid = _api(cloud, admin, "GET",
                     f"/identity/v3/projects?name={admin_acct.project}")["projects"][0]["id"]
    other_pid = _api(cloud, admin, "POST", "/identity/v3/projects", json={"project": {
        "name": "other", "domain_id": "default"}})["project"]["id"]
    people = {
        "demo": Person(demo_acct.username, demo_acct.password, demo_pid),
        "admin": Person(admin_acct.username, admin_acct.password, admin_pid),
        "reader": make_person(cloud, admin, "dash-reader", demo_pid, "reader"),
        "other": make_person(cloud, admin, "dash-other", other_pid, "member"),
        "both": make_person(cloud, admin, "dash-both", other_pid, "member"),
    }
    _api(cloud, admin, "PUT", f"/identity/v3/projects/{demo_pid}/users/"
         f"{_user_id(cloud, admin, 'dash-both')}/roles/{_role_id(cloud, admin, 'reader')}")
    image = _api(cloud, admin, "POST", "/image/v2/images", json={
        "name": "tiny-image", "disk_format": "raw", "container_format": "bare",
        "visibility": "public"})
    _api(cloud, admin, "PUT", f"/image/v2/images/{image['id']}/file", content=b"\0" * 4096,
         headers={"Content-Type": "application/octet-stream"})
    public = _api(cloud, admin, "POST", "/networking/v2.0/networks", json={"network": {
        "name": "dash-public", "router:external": True, "shared": False}})["network"]
    _api(cloud, admin, "POST", "/networking/v2.0/subnets", json={"subnet": {
        "network_id": public["id"], "cidr": "198.51.100.0/24", "ip_version": 4}})
    demo = password_token(cloud.auth_url, demo_acct.username, demo_acct.password,
                          demo_acct.project)
    net = _api(cloud, demo, "POST", "/networking/v2.0/networks",
               json={"network": {"name": "demo-net"}})["network"]
    _api(cloud, demo, "POST", "/networking/v2.0/subnets", json={"subnet": {
        "network_id": net["id"], "cidr": "10.77.0.0/24", "ip_version": 4}})
    yield DashCloud(cloud, people, image["id"], net["id"])
    thread.stop()


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def login(http: httpx.Client, dash: DashCloud, who: str) -> str:
    """Log in through the form; returns the project page URL it lands on."""
    page = http.get(f"{dash.url}/login")
    match = CSRF.search(page.text)
    assert match, page.text
    person = dash.people[who]
    r = http.post(f"{dash.url}/login", data={
        "username": person.username, "password": person.password, "domain": "Default",
        "csrf_token": match.group(1)})
    assert r.status_code == 303, r.text
    return dash.cloud.base_url + r.headers["location"]


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, html
    return match.group(1)


def chromium_or_skip() -> str:
    """Debian's chromium for Playwright; a missing browser skips, except in CI."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("playwright is required in CI (pip install -e '.[test]')")
        pytest.skip("playwright is not installed")
    return CHROMIUM


# --- real Chromium, one browser for every browser test -------------------------------
@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    OUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True,
                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def page_for(browser: Any, dash: DashCloud) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_as(who: str) -> Any:
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.js_errors = errors
        person = dash.people[who]
        page.goto(f"{dash.url}/login")
        page.fill("input[name=username]", person.username)
        page.fill("input[name=password]", person.password)
        page.click("button[type=submit]")
        page.wait_for_url(f"**/dashboard/project/{person.project_id}/")
        return page

    yield open_as
    for context in contexts:
        context.close()


def shot(page: Any, name: str) -> None:
    """A full-page screenshot kept as a test artifact (tests/dashboard/out/, gitignored)."""
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
