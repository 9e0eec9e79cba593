"""Sessions, CSRF and headers over HTTP (httpx) against the in-process cloud."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from tests.dashboard.conftest import DashCloud, Person, csrf_of, login, make_person
from tests.support.server import CloudThread, password_token


@pytest.fixture
def http() -> httpx.Client:
    return httpx.Client(follow_redirects=False, timeout=30)


def test_login_cookie_is_httponly_samesite_strict_and_carries_no_token(
        dash: DashCloud, http: httpx.Client) -> None:
    page = http.get(f"{dash.url}/login")
    person = dash.people["demo"]
    r = http.post(f"{dash.url}/login", data={
        "username": person.username, "password": person.password, "domain": "Default",
        "csrf_token": csrf_of(page.text)})
    assert r.status_code == 303
    assert r.headers["location"] == f"/dashboard/project/{person.project_id}/"
    cookie = next(c for c in r.headers.get_list("set-cookie")
                  if c.startswith("onestack_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
    sid = cookie.split(";")[0].split("=", 1)[1]
    # The cookie is a random id, not a Keystone token: the API refuses it.
    api = httpx.get(f"{dash.cloud.base_url}/compute/v2.1/servers",
                    headers={"X-Auth-Token": sid})
    assert api.status_code == 401
    assert person.password not in r.headers["location"]


def test_every_page_sends_a_csp_without_inline_scripts(dash: DashCloud,
                                                       http: httpx.Client) -> None:
    home = login(http, dash, "demo")
    for path in ("", "instances", "instances/launch", "volumes", "networks"):
        r = http.get(home + path)
        assert r.status_code == 200, (path, r.text)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "<script>" not in r.text and " on" + "click=" not in r.text
    assert http.get(f"{dash.url}/login").headers["content-security-policy"]


def test_wrong_password_shows_keystones_refusal(dash: DashCloud, http: httpx.Client) -> None:
    page = http.get(f"{dash.url}/login")
    r = http.post(f"{dash.url}/login", data={
        "username": "demo", "password": "not-the-password", "domain": "Default",
        "csrf_token": csrf_of(page.text)})
    assert r.status_code == 401
    assert "onestack_session=" not in r.headers.get("set-cookie", "")
    assert "not-the-password" not in r.text


def test_login_without_its_csrf_value_is_refused(dash: DashCloud, http: httpx.Client) -> None:
    person = dash.people["demo"]
    r = http.post(f"{dash.url}/login", data={
        "username": person.username, "password": person.password, "domain": "Default"})
    assert r.status_code == 403 and "CSRF" in r.text
    assert "onestack_session=" not in r.headers.get("set-cookie", "")


def test_post_without_csrf_token_is_refused_and_changes_nothing(
        dash: DashCloud, http: httpx.Client) -> None:
    home = login(http, dash, "demo")
    r = http.post(home + "volumes", data={"name": "csrf-probe", "size": "1"})
    assert r.status_code == 403 and "CSRF token is missing or wrong" in r.text
    r = http.post(home + "volumes", data={"name": "csrf-probe", "size": "1",
                                          "csrf_token": "forged"})
    assert r.status_code == 403
    assert "csrf-probe" not in http.get(home + "volumes").text


def test_logout_ends_the_session_and_revokes_its_tokens(
        dash: DashCloud, http: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    home = login(http, dash, "demo")
    page = http.get(home)
    caplog.set_level(logging.INFO, logger="onestack.dashboard")
    r = http.post(f"{dash.url}/logout", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/login"
    assert any("revoked 2 token(s)" in m for m in caplog.messages), caplog.messages
    again = http.get(home)
    assert again.status_code == 303 and again.headers["location"] == "/dashboard/login"


def test_logout_needs_the_csrf_token(dash: DashCloud, http: httpx.Client) -> None:
    home = login(http, dash, "demo")
    assert http.post(f"{dash.url}/logout").status_code == 403
    assert http.get(home).status_code == 200


def test_another_projects_url_is_refused(dash: DashCloud, http: httpx.Client) -> None:
    login(http, dash, "other")
    r = http.get(f"{dash.url}/project/{dash.people['demo'].project_id}/instances")
    assert r.status_code == 404 and "no role on a project" in r.text


def test_project_switch_rescopes_and_each_project_shows_its_own_rights(
        dash: DashCloud, http: httpx.Client) -> None:
    """dash-both is a member of `other` and a reader of `demo`: the menu lists both, and
    the buttons follow the role in the project the URL names (two tabs, two projects)."""
    home = login(http, dash, "both")
    demo, other = dash.people["demo"].project_id, dash.people["other"].project_id
    page = http.get(home)
    assert f"/dashboard/project/{demo}/" in page.text
    assert f"/dashboard/project/{other}/" in page.text
    as_member = http.get(f"{dash.url}/project/{other}/instances")
    as_reader = http.get(f"{dash.url}/project/{demo}/instances")
    assert as_member.status_code == as_reader.status_code == 200
    assert 'id="launch"' in as_member.text
    assert 'id="launch"' not in as_reader.text
    assert "Project: <span id=\"current-project\">demo</span>" in as_reader.text
    assert '<span id="region">RegionOne</span>' in as_reader.text


def test_buttons_follow_the_live_policy_not_a_copy(tmp_path: Path) -> None:
    """An operator's policy override hides the button because the API would refuse it."""
    policy = tmp_path / "policy.yaml"
    policy.write_text('"volume:create": "role:admin"\n')
    thread = CloudThread(policy_file=str(policy))
    cloud = thread.start()
    try:
        demo = cloud.accounts["demo"]
        pid = httpx.get(f"{cloud.base_url}/identity/v3/auth/projects", headers={
            "X-Auth-Token": cloud.token("demo")}).json()["projects"][0]["id"]
        lone = DashCloud(cloud, {"demo": Person(demo.username, demo.password, pid)}, "", "")
        with httpx.Client(follow_redirects=False, timeout=30) as http:
            home = login(http, lone, "demo")
            page = http.get(home + "volumes")
            assert 'id="volume-create"' not in page.text
            assert 'id="launch"' in http.get(home + "instances").text
            r = http.post(home + "volumes", data={"name": "v", "size": "1",
                                                  "csrf_token": csrf_of(page.text)})
            assert r.status_code == 403 and "volume:create" in r.text
    finally:
        thread.stop()


def test_a_revoked_token_ends_the_session(dash: DashCloud, http: httpx.Client) -> None:
    """When Keystone stops taking the session's token, the next page asks to log in."""
    admin = dash.cloud.admin_token()
    person = make_person(dash.cloud, admin, "dash-gone", dash.people["demo"].project_id,
                         "member")
    dash.people["gone"] = person
    home = login(http, dash, "gone")
    assert http.get(home).status_code == 200
    user_id = httpx.get(f"{dash.cloud.base_url}/identity/v3/users?name=dash-gone",
                        headers={"X-Auth-Token": admin}).json()["users"][0]["id"]
    r = httpx.patch(f"{dash.cloud.base_url}/identity/v3/users/{user_id}",
                    headers={"X-Auth-Token": admin}, json={"user": {"enabled": False}})
    assert r.status_code == 200, r.text
    r = http.get(home + "instances")
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/login"
    assert http.get(home).headers["location"] == "/dashboard/login"  # session forgotten


def test_no_password_or_session_id_in_any_log(dash: DashCloud, http: httpx.Client,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    home = login(http, dash, "demo")
    sid = http.cookies["onestack_session"]
    page = http.get(home + "instances")
    http.post(f"{dash.url}/logout", data={"csrf_token": csrf_of(page.text)})
    # httpcore's DEBUG lines are this test's own client on the wire (they show what it
    # sends); every other record comes from the server side.
    text = "\n".join(r.getMessage() for r in caplog.records
                     if not r.name.startswith("httpcore"))
    assert "dashboard logout of demo" in text  # the dashboard's own lines were captured
    assert dash.people["demo"].password not in text
    assert sid not in text


def test_root_sends_browsers_to_the_dashboard_and_keeps_json_for_clients(
        dash: DashCloud, http: httpx.Client) -> None:
    r = http.get(f"{dash.cloud.base_url}/", headers={"Accept": "text/html,*/*"})
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/"
    r = http.get(f"{dash.cloud.base_url}/", headers={"Accept": "application/json"})
    assert r.status_code == 200 and "services" in r.json()
    assert http.get(f"{dash.url}/").headers["location"] == "/dashboard/login"


def test_names_are_escaped_in_pages(dash: DashCloud, http: httpx.Client) -> None:
    """A resource name is data, never markup (the CSP is the second line)."""
    home = login(http, dash, "other")
    page = http.get(home + "volumes")
    evil = '<img src=x onerror="alert(1)">'
    r = http.post(home + "volumes", data={"name": evil, "size": "1",
                                          "csrf_token": csrf_of(page.text)})
    assert r.status_code == 303, r.text
    listing = http.get(home + "volumes").text
    assert evil not in listing
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in listing


def test_login_with_an_application_credential(dash: DashCloud, http: httpx.Client) -> None:
    person = dash.people["other"]
    token = password_token(dash.cloud.auth_url, person.username, person.password, "other")
    me = httpx.get(f"{dash.cloud.auth_url}/auth/tokens", headers={
        "X-Auth-Token": token, "X-Subject-Token": token}).json()["token"]["user"]["id"]
    made = httpx.post(f"{dash.cloud.auth_url}/users/{me}/application_credentials",
                      headers={"X-Auth-Token": token},
                      json={"application_credential": {"name": "dash-ac"}})
    assert made.status_code == 201, made.text
    cred = made.json()["application_credential"]
    page = http.get(f"{dash.url}/login")
    r = http.post(f"{dash.url}/login", data={
        "credential_id": cred["id"], "credential_secret": "wrong",
        "csrf_token": csrf_of(page.text)})
    assert r.status_code == 401 and "onestack_session=" not in r.headers.get("set-cookie", "")
    page = http.get(f"{dash.url}/login")
    r = http.post(f"{dash.url}/login", data={
        "credential_id": cred["id"], "credential_secret": cred["secret"],
        "csrf_token": csrf_of(page.text)})
    assert r.status_code == 303
    assert r.headers["location"] == f"/dashboard/project/{person.project_id}/"
    home = dash.cloud.base_url + r.headers["location"]
    assert 'id="volume-create"' in http.get(home + "volumes").text
    assert cred["secret"] not in http.get(home).text
