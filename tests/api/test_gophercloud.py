"""gophercloud, the Go SDK under Terraform's OpenStack provider (Debian's
golang-github-gophercloud-gophercloud-dev, built offline with Debian's Go against
/usr/share/gocode): tests/gophercloud/main.go authenticates with the OS_* environment a
Terraform user sets, lists flavors, images and networks, makes an image, a network with a
subnet, a security group with a rule and a volume, boots a server, waits for ACTIVE, attaches
and detaches the volume, and deletes everything; this test builds it (cached by source hash
under tests/gophercloud/.bin/) and checks what it printed and that nothing was left."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.api.conftest import connect, unique
from tests.support.server import RunningCloud

SOURCE = Path(__file__).parents[1] / "gophercloud" / "main.go"
GOPATH = Path("/usr/share/gocode")
SDK = GOPATH / "src/github.com/gophercloud/gophercloud"


def gopher_binary() -> Path:
    """The program built once per source (and Go) version; a fresh build is about 3 s."""
    go = shutil.which("go")
    if go is None or not SDK.is_dir():
        if os.environ.get("CI"):
            pytest.fail("gophercloud is required in CI (scripts/setup-env.sh --test installs "
                        "golang-go golang-github-gophercloud-gophercloud-dev)")
        pytest.skip("Go or Debian's gophercloud is not installed")
    version = subprocess.run([go, "version"], capture_output=True, text=True,
                             check=True).stdout
    key = hashlib.sha256(SOURCE.read_bytes() + version.encode()).hexdigest()[:16]
    binary = SOURCE.parent / ".bin" / key / "gopher"
    if binary.exists():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    part = binary.with_name(f"gopher.{os.getpid()}.part")  # parallel workers: own names
    with tempfile.TemporaryDirectory(prefix="gopher-") as tmp:
        env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(GOPATH), "GOFLAGS": "",
               "GOCACHE": tmp, "GOPROXY": "off"}
        subprocess.run([go, "build", "-o", str(part), str(SOURCE)], env=env, check=True,
                       cwd=SOURCE.parent, timeout=300)
    part.replace(binary)
    return binary


def test_gophercloud_drives_the_cloud(cloud: RunningCloud) -> None:
    binary = gopher_binary()
    acct = cloud.accounts["demo"]
    prefix = unique("gopher")
    env = {"PATH": os.environ.get("PATH", ""), "OS_AUTH_URL": cloud.auth_url,
           "OS_USERNAME": acct.username, "OS_PASSWORD": acct.password,
           "OS_PROJECT_NAME": acct.project, "OS_DOMAIN_NAME": "Default",
           "OS_REGION_NAME": "RegionOne",
           "GOPHER_PREFIX": prefix}
    run = subprocess.run([str(binary)], env=env, capture_output=True, text=True, timeout=240)
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    lines = {line.split()[1]: line.split()[2:] for line in out.splitlines()
             if line.startswith("ok ")}
    assert list(lines) == ["authenticate", "flavors", "image", "network", "security",
                           "volume", "server", "attach", "detach", "deleted"], out
    assert int(lines["flavors"][0]) >= 2 and "smallest=m1.nano" in lines["flavors"], out
    assert lines["image"][1:] == ["status=active", "size=4096", "listed=true"], out
    assert lines["network"][2:] == ["cidr=10.93.0.0/24", "listed=1"], out
    assert lines["security"][-1] == "port=22" and lines["volume"][-1] == "size=1", out
    assert lines["server"][1:3] == ["status=ACTIVE", "listed=1"], out
    assert lines["server"][3].startswith("addr=10.93.0."), out
    assert lines["attach"][0] == lines["volume"][0]
    assert lines["attach"][1].startswith("device=/dev/vd"), out
    # nothing of the run is left in demo's project
    demo = connect(cloud, "demo")
    for listing in (demo.compute.servers(), demo.block_storage.volumes(),
                    demo.network.networks(), demo.network.security_groups(),
                    demo.image.images()):
        assert not [r for r in listing if (r.name or "").startswith(prefix)], prefix
