"""The dashboard in real Chromium (Debian's package, driven by Playwright), as its users
would use it. Screenshots go to tests/dashboard/out/."""

from __future__ import annotations

import uuid
from typing import Any

from tests.dashboard.conftest import DashCloud, shot


def wait_for_status(page: Any, row: Any, status: str) -> None:
    """The volume table polls while a volume is in a changing state: no reload."""
    row.locator("td.status", has_text=status).wait_for()
    assert row.locator("td.status").inner_text() == status


def test_new_user_launches_an_instance_and_sees_it_go_active(page_for: Any,
                                                            dash: DashCloud) -> None:
    page = page_for("demo")
    assert page.locator("h1").inner_text() == "Overview"
    assert page.locator("text=Instances").first.is_visible()
    shot(page, "overview")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["onestack_session"]["httpOnly"] is True
    assert cookies["onestack_session"]["sameSite"] == "Strict"

    name = f"web-{uuid.uuid4().hex[:6]}"
    page.click("header nav >> text=Instances")
    page.click("#launch")
    page.fill("input[name=name]", name)
    page.select_option("select[name=image]", dash.image_id)
    page.select_option("select[name=network]", dash.network_id)
    page.fill("textarea[name=user_data]", "#cloud-config\n")
    shot(page, "launch")
    page.click("form.card button[type=submit]")
    page.wait_for_url("**/instances")
    navigations: list[str] = []
    page.on("framenavigated", lambda f: navigations.append(f.url))
    row = page.locator(f"tr:has(a:text-is('{name}'))")
    row.locator("td.status", has_text="ACTIVE").wait_for()
    assert navigations == [], "the status changed by polling, not by reloading the page"
    # Polls that find nothing changed get an empty 304 (ETag), and the page stays as it is.
    page.locator("html[data-unchanged]").wait_for(state="attached")
    assert row.locator("td.status").inner_text() == "ACTIVE"
    assert page.js_errors == [], page.js_errors  # no CSP violations either
    shot(page, "instances")

    row.locator("a").click()
    page.wait_for_selector("pre.console")
    assert page.locator("dd.status").inner_text() == "ACTIVE"
    assert "10.77.0." in page.locator("dl").inner_text()
    assert "create" in page.locator("#actions").inner_text()
    shot(page, "instance")

    page.click("header nav >> text=Volumes")
    page.fill("#volume-create input[name=name]", "web-vol")
    page.click("#volume-create button[type=submit]")
    page.wait_for_url("**/volumes")
    vol = page.locator("tr:has-text('web-vol')")
    assert vol.count() == 1
    wait_for_status(page, vol, "available")
    vol.locator("select[name=server_id]").select_option(label=name)
    vol.locator("button:text-is('Attach')").click()
    page.wait_for_url("**/volumes")
    wait_for_status(page, vol, "in-use")
    assert name in vol.inner_text()
    shot(page, "volumes")
    vol.locator("button:text-is('Detach')").click()
    wait_for_status(page, vol, "available")
    page.click("header nav >> text=Networks")
    assert page.locator("tr:has-text('demo-net')").count() == 1
    shot(page, "networks")
    page.click("header nav >> text=Key pairs")
    assert page.locator("#keypair-create").count() == 1
    shot(page, "keypairs")


def test_reader_sees_no_mutating_buttons_and_a_direct_post_gets_the_apis_403(
        page_for: Any, dash: DashCloud) -> None:
    page = page_for("reader")
    base = page.url
    response = page.goto(base + "instances")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert page.locator("#launch").count() == 0
    assert page.locator("td.actions button").count() == 0
    page.goto(base + "volumes")
    assert page.locator("#volume-create").count() == 0
    assert page.locator("td.actions button").count() == 0
    shot(page, "reader-volumes")
    # A hand-made form with the session's valid CSRF token: the API itself refuses it.
    page.evaluate("""() => {
        const f = document.createElement('form');
        f.method = 'post'; f.action = location.pathname;
        for (const [k, v] of [['name', 'reader-vol'], ['size', '1'], ['csrf_token',
             document.querySelector('input[name=csrf_token]').value]]) {
            const i = document.createElement('input');
            i.name = k; i.value = v; f.appendChild(i);
        }
        document.body.appendChild(f); f.submit();
    }""")
    page.wait_for_selector("p.error")
    assert page.locator("h1").inner_text() == "Refused (403)"
    assert "not authorized" in page.locator("p.error").inner_text()
    shot(page, "reader-refused")


def test_another_projects_member_sees_none_of_demos_resources(
        page_for: Any, dash: DashCloud) -> None:
    page = page_for("other")
    base = page.url
    for path in ("instances", "volumes", "networks"):
        page.goto(base + path)
        text = page.content()
        assert "web-" not in text and "demo-net" not in text and dash.network_id not in text
    shot(page, "other-instances")
    response = page.goto(f"{dash.url}/project/{dash.people['demo'].project_id}/instances")
    assert response.status == 404


def test_post_without_csrf_token_is_refused(page_for: Any, dash: DashCloud) -> None:
    page = page_for("demo")
    r = page.context.request.post(page.url + "volumes", form={"name": "no-csrf", "size": "1"})
    assert r.status == 403 and "CSRF" in r.text()
