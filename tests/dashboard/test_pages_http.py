"""The new pages over plain HTTP (httpx, a real login): streamed uploads with the CSRF
header, object download, clouds.yaml with the `openstack` CLI, ETag polling."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.dashboard.conftest import DashCloud, csrf_of, login


@pytest.fixture
def http() -> httpx.Client:
    return httpx.Client(follow_redirects=False, timeout=60)


def test_image_upload_needs_the_csrf_header_and_streams_into_glance(
        dash: DashCloud, http: httpx.Client) -> None:
    home = login(http, dash, "demo")
    csrf = csrf_of(http.get(home + "images").text)
    data = os.urandom(3 << 20)
    r = http.post(home + "images/upload", content=data, headers={
        "X-Image-Name": "http-upload", "X-Disk-Format": "raw",
        "Content-Type": "application/octet-stream"})
    assert r.status_code == 403 and "CSRF" in r.json()["message"]
    r = http.post(home + "images/upload", content=iter([data[:1 << 20], data[1 << 20:]]),
                  headers={"X-CSRF-Token": csrf, "X-Image-Name": "http-upload",
                           "X-Disk-Format": "raw",
                           "Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    token = dash.cloud.token("demo")
    image = httpx.get(f"{dash.cloud.base_url}/image/v2/images/{r.json()['id']}",
                      headers={"X-Auth-Token": token}).json()
    assert image["status"] == "active" and image["size"] == len(data)
    got = httpx.get(f"{dash.cloud.base_url}/image/v2/images/{image['id']}/file",
                    headers={"X-Auth-Token": token})
    assert got.content == data
    # A bad format is Glance's own 400, and no half-made image is left behind.
    r = http.post(home + "images/upload", content=b"x", headers={
        "X-CSRF-Token": csrf, "X-Image-Name": "bad-format", "X-Disk-Format": "nope"})
    assert r.status_code == 400 and "nope" in r.json()["message"]
    names = [i["name"] for i in httpx.get(f"{dash.cloud.base_url}/image/v2/images",
                                          headers={"X-Auth-Token": token}).json()["images"]]
    assert "bad-format" not in names


def test_object_upload_download_folders_and_temp_url(dash: DashCloud,
                                                    http: httpx.Client) -> None:
    home = login(http, dash, "demo")
    csrf = csrf_of(http.get(home + "containers").text)
    r = http.post(home + "containers", data={"name": "http-c", "csrf_token": csrf})
    assert r.status_code == 303
    data = os.urandom(2 << 20)
    r = http.post(home + "containers/http-c/upload", content=data, headers={
        "X-CSRF-Token": csrf, "X-Object-Prefix": "docs%2F", "X-Upload-Filename": "a%20b.bin"})
    assert r.status_code == 201, r.text
    top = http.get(home + "containers/http-c").text
    assert "docs/" in top and "a b.bin" not in top
    inner = http.get(home + "containers/http-c?prefix=docs/").text
    assert "a b.bin" in inner, inner[inner.find("<tbody"):]
    got = http.get(home + "containers/http-c/download", params={"name": "docs/a b.bin"})
    assert got.status_code == 200 and got.content == data
    assert "attachment" in got.headers["content-disposition"]
    page = http.post(home + "containers/http-c/temp-url", data={
        "name": "docs/a b.bin", "minutes": "5", "csrf_token": csrf})
    assert page.status_code == 200, page.text
    url = page.text.split('<p class="secret">')[1].split("</p>")[0].replace("&amp;", "&")
    assert httpx.get(url).content == data  # no token: the signature alone
    assert httpx.get(url.replace("temp_url_sig=", "temp_url_sig=0")).status_code == 401


def test_clouds_yaml_from_an_application_credential_works_with_the_openstack_cli(
        dash: DashCloud, http: httpx.Client, tmp_path: Path) -> None:
    home = login(http, dash, "demo")
    csrf = csrf_of(http.get(home + "access").text)
    r = http.post(home + "access/application-credentials", data={
        "name": "http-cli", "format": "clouds.yaml", "csrf_token": csrf})
    assert r.status_code == 200, r.text
    clouds = yaml.safe_load(r.text)["clouds"]
    (name, entry), = clouds.items()
    assert entry["auth"]["auth_url"] == f"{dash.cloud.base_url}/identity/v3"
    path = tmp_path / "clouds.yaml"
    path.write_text(r.text)
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(path)}
    cli = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "openstack"
    done = subprocess.run([str(cli), "--os-cloud", name, "network", "list", "-f", "value",
                           "-c", "Name"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "demo-net" in done.stdout


PAGES = ("", "instances", "instances/launch", "volumes", "images", "networks", "routers",
         "security-groups", "floating-ips", "load-balancers", "containers", "keypairs",
         "access", "snapshots", "networks/topology.svg")
ADMIN_PAGES = ("admin/hosts", "admin/instances", "admin/migrations", "admin/services",
               "identity")


def test_every_page_renders_for_member_and_admin_and_admin_pages_refuse_members(
        dash: DashCloud, http: httpx.Client) -> None:
    home = login(http, dash, "demo")
    for path in PAGES:
        r = http.get(home + path)
        assert r.status_code == 200, (path, r.text[-2000:])
        assert "unsafe-inline" not in r.headers["content-security-policy"]
    assert "admin/hosts" not in http.get(home).text
    for path in ADMIN_PAGES:
        assert http.get(home + path).status_code == 403, path
    admin = httpx.Client(follow_redirects=False, timeout=60)
    home = login(admin, dash, "admin")
    assert "admin/hosts" in admin.get(home).text
    for path in PAGES + ADMIN_PAGES:
        r = admin.get(home + path)
        assert r.status_code == 200, (path, r.text[-2000:])
    hosts = admin.get(home + "admin/hosts").text
    assert "compute-test" in hosts and "VCPU" in hosts


def test_live_rows_answer_304_when_nothing_changed(dash: DashCloud,
                                                  http: httpx.Client) -> None:
    home = login(http, dash, "demo")
    first = http.get(home + "instances/rows", headers={"HX-Request": "true"})
    etag = first.headers["etag"]
    again = http.get(home + "instances/rows", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other = http.get(home + "instances/rows", headers={"If-None-Match": '"stale"'})
    assert other.status_code == 200 and other.headers["etag"] == etag


def _wait_volume(dash: DashCloud, token: str, name: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        vols = httpx.get(f"{dash.cloud.base_url}/volume/v3/{dash.people['demo'].project_id}"
                         "/volumes/detail", headers={"X-Auth-Token": token}).json()["volumes"]
        found = [v for v in vols if v["name"] == name]
        if found and found[0]["status"] == status:
            return dict(found[0])
        assert time.monotonic() < deadline, found
        time.sleep(0.2)


def test_volume_extend_snapshot_and_the_topology_picture(dash: DashCloud,
                                                        http: httpx.Client) -> None:
    home = login(http, dash, "demo")
    csrf = csrf_of(http.get(home + "volumes").text)
    token = dash.cloud.token("demo")
    assert http.post(home + "volumes", data={"name": "x-vol", "size": "1",
                                             "csrf_token": csrf}).status_code == 303
    vol = _wait_volume(dash, token, "x-vol", "available")
    r = http.post(home + f"volumes/{vol['id']}/extend", data={"new_size": "2",
                                                              "csrf_token": csrf})
    assert r.status_code == 303, r.text
    assert _wait_volume(dash, token, "x-vol", "available")["size"] == 2
    r = http.post(home + f"volumes/{vol['id']}/extend", data={"new_size": "1",
                                                              "csrf_token": csrf})
    assert r.status_code == 400  # Cinder's own refusal to shrink, shown in the page
    r = http.post(home + f"volumes/{vol['id']}/snapshot", data={"name": "x-vol-snap",
                                                                "csrf_token": csrf})
    assert r.status_code == 303, r.text
    assert "x-vol-snap" in http.get(home + "snapshots").text
    svg = http.get(home + "networks/topology.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg")
    assert "demo-net" in svg.text and "<script" not in svg.text
    assert 'id="topology"' in http.get(home + "networks").text


def test_admin_creates_a_project_and_sets_its_quotas(dash: DashCloud) -> None:
    admin = httpx.Client(follow_redirects=False, timeout=60)
    home = login(admin, dash, "admin")
    csrf = csrf_of(admin.get(home + "identity").text)
    r = admin.post(home + "identity/projects", data={"name": "dash-made", "csrf_token": csrf})
    assert r.status_code == 303, r.text
    token = dash.cloud.admin_token()
    pid = httpx.get(f"{dash.cloud.base_url}/identity/v3/projects?name=dash-made",
                    headers={"X-Auth-Token": token}).json()["projects"][0]["id"]
    page = admin.get(home + f"identity/projects/{pid}/quotas")
    assert page.status_code == 200 and 'name="compute.instances"' in page.text
    r = admin.post(home + f"identity/projects/{pid}/quotas", data={
        "compute.instances": "7", "volume.volumes": "3", "network.router": "2",
        "csrf_token": csrf})
    assert r.status_code == 303, r.text
    quota = httpx.get(f"{dash.cloud.base_url}/compute/v2.1/os-quota-sets/{pid}",
                      headers={"X-Auth-Token": token}).json()["quota_set"]
    assert quota["instances"] == 7
    r = admin.post(home + f"identity/projects/{pid}/quotas", data={
        "compute.instances": "many", "csrf_token": csrf})
    assert r.status_code == 400 and "whole number" in r.text


def _server_status(dash: DashCloud, token: str, server_id: str, want: str) -> None:
    deadline = time.monotonic() + 30
    while (status := httpx.get(f"{dash.cloud.base_url}/compute/v2.1/servers/{server_id}",
                               headers={"X-Auth-Token": token}).json()["server"]["status"]
           ) != want:
        assert status != "ERROR" and time.monotonic() < deadline, status
        time.sleep(0.2)


def test_launch_from_a_volume_then_resize_confirm_and_snapshot(dash: DashCloud,
                                                               http: httpx.Client) -> None:
    home = login(http, dash, "demo")
    token = dash.cloud.token("demo")
    api = httpx.Client(base_url=dash.cloud.base_url, headers={"X-Auth-Token": token},
                       timeout=30)
    vol = api.post(f"/volume/v3/{dash.people['demo'].project_id}/volumes", json={"volume": {
        "name": "boot-vol", "size": 1, "imageRef": dash.image_id}}).json()["volume"]
    _wait_volume(dash, token, "boot-vol", "available")
    form = http.get(home + "instances/launch").text
    assert "boot-vol" in form
    flavors = sorted(api.get("/compute/v2.1/flavors/detail").json()["flavors"],
                     key=lambda f: (f["ram"], f["vcpus"]))
    r = http.post(home + "instances/launch", data={
        "name": "from-vol", "source": "volume", "volume": vol["id"],
        "flavor": flavors[0]["id"], "network": dash.network_id, "csrf_token": csrf_of(form)})
    assert r.status_code == 303, r.text
    server = next(s for s in api.get("/compute/v2.1/servers").json()["servers"]
                  if s["name"] == "from-vol")
    _server_status(dash, token, server["id"], "ACTIVE")
    detail = api.get(f"/compute/v2.1/servers/{server['id']}").json()["server"]
    assert detail["image"] == "" and [v["id"] for v in detail[
        "os-extended-volumes:volumes_attached"]] == [vol["id"]]
    page = http.get(home + f"instances/{server['id']}").text
    assert 'id="resize"' in page and 'id="migrate"' not in page  # migrate: admins only
    csrf = csrf_of(page)
    r = http.post(home + f"instances/{server['id']}/resize", data={
        "flavor": flavors[1]["id"], "csrf_token": csrf})
    assert r.status_code == 303, r.text
    _server_status(dash, token, server["id"], "VERIFY_RESIZE")
    assert "Confirm resize" in http.get(home + f"instances/{server['id']}").text
    r = http.post(home + f"instances/{server['id']}/confirm-resize", data={"csrf_token": csrf})
    assert r.status_code == 303, r.text
    _server_status(dash, token, server["id"], "ACTIVE")
    r = http.post(home + f"instances/{server['id']}/snapshot", data={
        "name": "from-vol-snap", "csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"].endswith("/images"), r.text
    assert "from-vol-snap" in http.get(home + "images").text
    r = http.post(home + f"instances/{server['id']}/migrate", data={"csrf_token": csrf})
    assert r.status_code == 403  # Nova's own refusal for a member


def test_an_upload_over_the_quota_gets_swifts_refusal_and_leaves_no_object(
        dash: DashCloud, http: httpx.Client) -> None:
    home = login(http, dash, "demo")
    csrf = csrf_of(http.get(home + "containers").text)
    assert http.post(home + "containers", data={"name": "small-c",
                                                "csrf_token": csrf}).status_code == 303
    account = f"{dash.cloud.base_url}/object-storage/v1/AUTH_{dash.people['demo'].project_id}"
    token = dash.cloud.token("demo")
    r = httpx.post(f"{account}/small-c", headers={"X-Auth-Token": token,
                                                  "X-Container-Meta-Quota-Bytes": "1000000"})
    assert r.status_code == 204, r.text
    r = http.post(home + "containers/small-c/upload", content=os.urandom(2 << 20), headers={
        "X-CSRF-Token": csrf, "X-Upload-Filename": "big.bin"})
    assert r.status_code == 413, r.text
    assert r.json()["message"]
    listing = httpx.get(f"{account}/small-c?format=json", headers={"X-Auth-Token": token})
    assert listing.json() == []


def test_instances_are_paged_with_nova_markers(dash: DashCloud, http: httpx.Client,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from onestack.dashboard import pages

    api = httpx.Client(base_url=dash.cloud.base_url, timeout=30,
                       headers={"X-Auth-Token": dash.cloud.token("demo")})
    flavor = api.get("/compute/v2.1/flavors").json()["flavors"][0]["id"]
    for name in ("page-a", "page-b"):
        assert api.post("/compute/v2.1/servers", json={"server": {
            "name": name, "imageRef": dash.image_id, "flavorRef": flavor,
            "networks": "none"}}, headers={"X-OpenStack-Nova-API-Version": "2.37"}
        ).status_code == 202
    monkeypatch.setattr(pages, "PAGE_SIZE", 1)
    home = login(http, dash, "demo")
    first_page = http.get(home + "instances").text
    first = first_page.split('<tr data-id="')[1].split('"')[0]
    link = first_page.split('id="next-page" href="')[1].split('"')[0]
    second_page = http.get(dash.cloud.base_url + link).text
    second = second_page.split('<tr data-id="')[1].split('"')[0]
    assert first != second and second_page.count('<tr data-id="') == 1
    rows = http.get(dash.cloud.base_url + link.replace("/instances?", "/instances/rows?"))
    assert f'<tr data-id="{second}"' in rows.text and f'<tr data-id="{first}"' not in rows.text
    r = http.get(home + "instances?marker=not-a-server")
    assert r.status_code == 400  # Nova's own refusal of the marker, in the page
