"""The dashboard's other pages in real Chromium, as a new user would use them: a 100 MB
image upload with its progress, the object storage browser, clouds.yaml for the
`openstack` CLI, a router and a floating IP, security group presets; what a reader,
another project's member and an admin see. Screenshots go to tests/dashboard/out/."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.dashboard.conftest import DashCloud, shot

OPENSTACK = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "openstack"
MIB = 1 << 20


@pytest.fixture(scope="module")
def server(dash: DashCloud) -> dict[str, Any]:
    """An ACTIVE instance of demo's on demo-net (fake virt driver)."""
    token = dash.cloud.token("demo")
    api = httpx.Client(base_url=dash.cloud.base_url, headers={"X-Auth-Token": token},
                       timeout=30)
    flavor = api.get("/compute/v2.1/flavors").json()["flavors"][0]["id"]
    made = api.post("/compute/v2.1/servers", json={"server": {
        "name": "fip-target", "imageRef": dash.image_id, "flavorRef": flavor,
        "networks": [{"uuid": dash.network_id}]}}).json()["server"]
    deadline = time.monotonic() + 30
    while (status := api.get(f"/compute/v2.1/servers/{made['id']}").json()["server"][
            "status"]) != "ACTIVE":
        assert status != "ERROR" and time.monotonic() < deadline, status
        time.sleep(0.2)
    return {**made, "name": "fip-target"}


def test_upload_a_100_mb_image_and_see_its_progress_and_the_image_active(
        page_for: Any, tmp_path: Path) -> None:
    image = tmp_path / "big.raw"
    with image.open("wb") as fh:
        fh.write(os.urandom(MIB) * 100)
    page = page_for("demo")
    page.click("header nav >> text=Images")
    page.fill("#image-upload input[name=name]", "big-image")
    page.select_option("#image-upload select[name=disk_format]", "raw")
    page.set_input_files("#image-upload input[type=file]", str(image))
    page.click("#image-upload button[type=submit]")
    page.locator("#upload-note.done").wait_for(timeout=60_000)
    bar = page.locator("#upload-progress")
    assert bar.get_attribute("value") == "100"
    assert int(bar.get_attribute("data-events") or 0) > 1, "progress was reported as it went"
    row = page.locator("#image-rows tr:has-text('big-image')")
    row.locator("td.status", has_text="active").wait_for()  # by polling, no reload
    assert "100.0 MiB" in row.inner_text()
    assert page.js_errors == [], page.js_errors
    shot(page, "images")


def test_create_a_container_upload_and_download_an_object(page_for: Any,
                                                         tmp_path: Path) -> None:
    data = os.urandom(300_000)
    (tmp_path / "report.bin").write_bytes(data)
    page = page_for("demo")
    page.click("header nav >> text=Containers")
    page.fill("#container-create input[name=name]", "web-files")
    page.click("#container-create button[type=submit]")
    page.wait_for_url("**/containers/web-files")
    page.fill("#object-upload input[name=prefix]", "reports/")
    page.set_input_files("#object-upload input[type=file]", str(tmp_path / "report.bin"))
    page.click("#object-upload button[type=submit]")
    page.locator("tr.folder a", has_text="reports/").wait_for()
    page.click("tr.folder a")
    row = page.locator("tr[data-name='reports/report.bin']")
    with page.expect_download() as info:
        row.locator("a.download").click()
    saved = tmp_path / "downloaded.bin"
    info.value.save_as(saved)
    assert saved.read_bytes() == data
    row.locator("button:text-is('Temp URL')").click()
    url = page.locator("#temp-url p.secret").inner_text()
    assert httpx.get(url).content == data
    shot(page, "container")
    page.click("header nav >> text=Containers")
    assert page.locator("#containers tr:has-text('web-files')").count() == 1
    page.click("#s3-create button")
    assert page.locator("#s3-credentials code").count() == 1
    shot(page, "containers")


def test_download_clouds_yaml_and_use_it_with_the_openstack_cli(
        page_for: Any, dash: DashCloud, server: dict[str, Any], tmp_path: Path) -> None:
    page = page_for("demo")
    page.click("header nav >> text=API access")
    page.fill("#appcred-create input[name=name]", "laptop")
    shot(page, "access")
    with page.expect_download() as info:
        page.click("#appcred-create button[type=submit]")
    path = tmp_path / "clouds.yaml"
    info.value.save_as(path)
    (cloud, entry), = yaml.safe_load(path.read_text())["clouds"].items()
    assert entry["auth_type"] == "v3applicationcredential"
    done = subprocess.run([str(OPENSTACK), "--os-cloud", cloud, "server", "list", "-f",
                           "value", "-c", "Name"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "OS_CLIENT_CONFIG_FILE": str(path)})
    assert done.returncode == 0, done.stderr
    assert server["name"] in done.stdout.split()


def test_router_floating_ip_and_security_group_presets(page_for: Any, dash: DashCloud,
                                                      server: dict[str, Any]) -> None:
    page = page_for("demo")
    page.click("header nav >> text=Routers")
    page.fill("#router-create input[name=name]", "web-router")
    page.select_option("#router-create select[name=external_network]", label="dash-public")
    page.click("#router-create button[type=submit]")
    row = page.locator("#routers tr:has-text('web-router')")
    row.locator("select[name=subnet_id]").select_option(label="demo-net 10.77.0.0/24")
    row.locator("button:text-is('Add interface')").click()
    assert "10.77.0.1" in page.locator("#routers tr:has-text('web-router')").inner_text()
    shot(page, "routers")

    page.click("header nav >> text=Floating IPs")
    page.click("#fip-allocate button[type=submit]")
    fip = page.locator("#fips tbody tr").first
    assert "198.51.100." in fip.inner_text()
    fip.locator("select[name=server_id]").select_option(label=server["name"])
    fip.locator("button:text-is('Associate')").click()
    fip = page.locator("#fips tbody tr").first
    assert fip.locator("td.instance").inner_text() == server["name"]
    assert "10.77.0." in fip.inner_text()
    shot(page, "floating-ips")

    page.click("header nav >> text=Security groups")
    page.fill("#group-create input[name=name]", "web-sg")
    page.click("#group-create button[type=submit]")
    page.click("#presets button:text-is('SSH')")
    page.click("#presets button:text-is('ICMP')")
    rules = page.locator("#rules").inner_text()
    assert "tcp\t22\t0.0.0.0/0" in rules and "icmp" in rules
    shot(page, "security-group")
    page.click("header nav >> text=Networks")
    page.wait_for_load_state("load")
    assert page.locator("#topology").evaluate("img => img.naturalWidth") > 0
    shot(page, "networks-topology")


def test_reader_sees_no_create_or_delete_and_direct_posts_are_refused(
        page_for: Any, dash: DashCloud) -> None:
    page = page_for("reader")
    base = page.url
    for path, form in (("images", "#image-upload"), ("containers", "#container-create"),
                       ("routers", "#router-create"), ("security-groups", "#group-create"),
                       ("floating-ips", "#fip-allocate")):
        page.goto(base + path)
        assert page.locator(form).count() == 0, path
        assert page.locator("td.actions button").count() == 0, path
    page.goto(base + "containers/web-files")
    assert page.locator("#object-upload").count() == 0
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    r = page.context.request.post(base + "floating-ips", form={
        "csrf_token": csrf, "network_id": "x"})
    assert r.status == 403, r.text()
    r = page.context.request.post(base + "images/upload", data=b"x" * 10, headers={
        "X-CSRF-Token": csrf, "X-Image-Name": "reader-image"})
    assert r.status == 403 and "not authorized" in r.json()["message"]
    r = page.context.request.post(base + "containers", form={"csrf_token": csrf,
                                                             "name": "reader-c"})
    assert r.status == 403


def test_another_projects_member_sees_none_of_demos_resources(
        page_for: Any, dash: DashCloud) -> None:
    page = page_for("other")
    base = page.url
    for path in ("images", "containers", "routers", "floating-ips", "security-groups",
                 "access"):
        page.goto(base + path)
        text = page.content()
        for mine in ("big-image", "web-files", "web-router", "198.51.100.", "web-sg",
                     "laptop"):
            assert mine not in text, (path, mine)
    shot(page, "other-containers")


def test_admin_sees_hosts_and_all_instances(page_for: Any, dash: DashCloud,
                                            server: dict[str, Any]) -> None:
    page = page_for("admin")
    page.click("header nav >> text=Hosts")
    host = page.locator("section.host[data-name='compute-test']")
    assert "VCPU" in host.inner_text() and "MEMORY_MB" in host.inner_text()
    shot(page, "admin-hosts")
    page.click("header nav >> text=All instances")
    assert page.locator(f"#all-instances tr[data-id='{server['id']}']").count() == 1
    assert "demo" in page.locator(f"#all-instances tr[data-id='{server['id']}']").inner_text()
    shot(page, "admin-instances")
    page.click("header nav >> text=Services")
    shot(page, "admin-services")
    page.click("header nav >> text=Identity")
    assert page.locator("#projects tr:has-text('demo')").count() == 1
    shot(page, "identity")
