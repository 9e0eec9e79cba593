"""Ceph RGW (radosgw, beast frontend) on the throwaway cluster of tests/support/ceph.py, with
an S3 user of its own and one bucket: the S3 service the `s3` blob store is tested against.

``start()`` is about 10 s on top of the cluster; ``stop()`` kills radosgw by PID. The
cluster itself is the shared one (``ceph.shared_cluster()``), stopped at process exit.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid

import httpx

from tests.support import ceph

TOOLS = ("radosgw", "radosgw-admin")
START_TIMEOUT = 60.0


def missing_tools() -> list[str]:
    return [t for t in (*ceph.TOOLS, *TOOLS) if shutil.which(t) is None]


def skip_reason() -> str | None:
    """Why RGW cannot run here (None: it can)."""
    missing = missing_tools()
    if missing:
        return f"Ceph RGW needs {', '.join(missing)} (apt-get install radosgw ceph-mon ceph-osd)"
    if os.geteuid() != 0:
        return "the throwaway Ceph cluster runs as root"
    return None


class Rgw:
    def __init__(self, cluster: ceph.CephCluster) -> None:
        self.cluster = cluster
        self.port = ceph.free_port()
        self.endpoint = f"http://{cluster.ip}:{self.port}"
        self.access_key = uuid.uuid4().hex[:20].upper()
        self.secret_key = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        self.bucket = "onestack-" + uuid.uuid4().hex[:8]
        self.region = "default"
        self.name = "client.rgw." + uuid.uuid4().hex[:6]
        self.proc: subprocess.Popen[bytes] | None = None

    def admin(self, *args: str) -> str:
        return self.cluster._run("radosgw-admin", "--conf", str(self.cluster.conf), *args,
                                 timeout=60)

    def start(self) -> Rgw:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        d = self.cluster.dir
        keyring = d / f"ceph.{self.name}.keyring"
        keyring.write_text(self.cluster.ceph("auth", "get-or-create", self.name, "mon",
                                             "allow rw", "osd", "allow rwx"))
        os.chmod(keyring, 0o600)
        data = d / f"rgw-{self.port}"
        data.mkdir()
        log = (d / "log" / f"radosgw-{self.port}.out").open("wb")
        self.proc = subprocess.Popen(
            ["radosgw", "--conf", str(self.cluster.conf), "-n", self.name, "-f",
             "--keyring", str(keyring), "--rgw-data", str(data),
             "--rgw-frontends", f"beast endpoint={self.cluster.ip}:{self.port}",
             "--rgw-dns-name", "", "--rgw-enable-usage-log=false"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=ceph._die_with_parent)
        log.close()
        self._wait_up()
        json.loads(self.admin("user", "create", "--uid", "onestack", "--display-name",
                              "onestack", "--access-key", self.access_key, "--secret",
                              self.secret_key))

    def _wait_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"radosgw exited; logs in {self.cluster.dir / 'log'}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.endpoint, timeout=2).status_code < 500:
                    return
            time.sleep(0.3)
        raise RuntimeError("radosgw did not answer")

    def settings(self) -> dict[str, str]:
        """The [object_store] options of a cloud whose objects live here."""
        return {"blob_store": "s3", "s3_endpoint": self.endpoint, "s3_bucket": self.bucket,
                "s3_access_key": self.access_key, "s3_secret_key": self.secret_key,
                "s3_region": self.region}

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


_SHARED: list[Rgw] = []


def shared_rgw() -> Rgw:
    """One RGW on the shared cluster for the whole test process, stopped at exit."""
    if not _SHARED:
        rgw = Rgw(ceph.shared_cluster()).start()
        atexit.register(rgw.stop)
        _SHARED.append(rgw)
    return _SHARED[0]
