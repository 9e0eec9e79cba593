"""A throwaway Ceph cluster from Debian's packages: one monitor and one BlueStore OSD on a
sparse file, on loopback, in a temp dir, with cephx on (ready in about 15 s).

Everything lives under one temp dir: ``ceph.conf``, the admin keyring, the mon store, the
OSD's block file, sockets and logs. ``stop()`` kills both daemons by PID and removes the
dir. The cluster has a pool ``volumes`` (initialised for RBD) and a cephx user
``client.onestack`` with the capabilities docs/ceph.md tells operators to grant
(``mon 'profile rbd' osd 'profile rbd pool=volumes'``).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

TOOLS = ("ceph-mon", "ceph-osd", "ceph", "rbd", "ceph-authtool", "monmaptool")
POOL = "volumes"
USER = "onestack"
START_TIMEOUT = 90.0


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """In the daemon before exec: SIGKILL when the test process dies (a killed pytest
    leaves no ceph daemon running; stop() still removes the dir on a normal exit)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


CONF = """[global]
fsid = {fsid}
mon_host = [v2:{ip}:{v2},v1:{ip}:{v1}]
public_network = {ip}/32
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
keyring = {d}/$cluster.$name.keyring
run_dir = {d}/run
admin_socket = {d}/run/$cluster-$name.asok
log_file = {d}/log/$cluster-$name.log
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
osd_crush_chooseleaf_type = 0
mon_warn_on_pool_no_redundancy = false
mon_data_avail_warn = 1
mon_data_avail_crit = 0
osd_pool_default_pg_num = 8
ms_bind_port_min = {ms_min}
ms_bind_port_max = {ms_max}
[mon]
mon_data = {d}/mon/$cluster-$id
[osd]
osd_data = {d}/osd0
bluestore_block_create = true
bluestore_block_size = 4294967296
bluestore_cache_autotune = false
bluestore_cache_size = 134217728
osd_memory_target = 536870912
"""


class CephCluster:
    def __init__(self, ip: str = "127.0.0.1") -> None:
        self.ip = ip
        self.dir = Path(tempfile.mkdtemp(prefix="onestack-ceph-"))
        self.conf = self.dir / "ceph.conf"
        self.admin_keyring = self.dir / "ceph.client.admin.keyring"
        self.keyring = self.dir / f"ceph.client.{USER}.keyring"
        self.pool = POOL
        self.user = USER
        self.mon_port = free_port()
        self.procs: list[subprocess.Popen[bytes]] = []

    # --- helpers -------------------------------------------------------------------------
    def _run(self, *args: str, timeout: float = 30.0) -> str:
        proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def ceph(self, *args: str, timeout: float = 30.0) -> str:
        return self._run("ceph", "--conf", str(self.conf), "--connect-timeout", "20",
                         *args, timeout=timeout)

    def rbd(self, *args: str) -> str:
        return self._run("rbd", "--conf", str(self.conf), *args)

    def _daemon(self, *args: str) -> None:
        log = (self.dir / "log" / f"{args[0]}.out").open("wb")
        self.procs.append(subprocess.Popen(list(args), stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, start_new_session=True,
                                           preexec_fn=_die_with_parent))
        log.close()

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> CephCluster:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        d = self.dir
        for sub in ("mon", "osd0", "run", "log"):
            (d / sub).mkdir()
        fsid = str(uuid.uuid4())
        v1 = free_port()
        ms = free_port()
        self.conf.write_text(CONF.format(fsid=fsid, ip=self.ip, v2=self.mon_port, v1=v1, d=d,
                                         ms_min=ms, ms_max=ms + 40))
        monkey = str(d / "mon.keyring")
        self._run("ceph-authtool", "--create-keyring", monkey, "--gen-key", "-n", "mon.",
                  "--cap", "mon", "allow *")
        self._run("ceph-authtool", "--create-keyring", str(self.admin_keyring), "--gen-key",
                  "-n", "client.admin", "--cap", "mon", "allow *", "--cap", "osd", "allow *",
                  "--cap", "mgr", "allow *")
        self._run("ceph-authtool", monkey, "--import-keyring", str(self.admin_keyring))
        self._run("monmaptool", "--create", "--addv", "a",
                  f"[v2:{self.ip}:{self.mon_port},v1:{self.ip}:{v1}]", "--fsid", fsid,
                  str(d / "monmap"))
        conf = ("--conf", str(self.conf))
        self._run("ceph-mon", *conf, "--mkfs", "-i", "a", "--monmap", str(d / "monmap"),
                  "--keyring", monkey)
        self._daemon("ceph-mon", *conf, "-i", "a", "-f")
        osd_uuid = str(uuid.uuid4())
        osd_id = self.ceph("osd", "new", osd_uuid).strip()
        osd_keyring = str(d / "osd0" / "keyring")
        key = self.ceph("auth", "get-or-create", f"osd.{osd_id}", "mon", "allow profile osd",
                        "mgr", "allow profile osd", "osd", "allow *")
        Path(osd_keyring).write_text(key)
        self._run("ceph-osd", *conf, "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid,
                  "--keyring", osd_keyring, timeout=60)
        self._daemon("ceph-osd", *conf, "-i", osd_id, "-f", "--keyring", osd_keyring)
        self.ceph("osd", "pool", "create", POOL, "8")
        self.rbd("pool", "init", POOL)
        self.keyring.write_text(self.ceph(
            "auth", "get-or-create", f"client.{USER}", "mon", "profile rbd",
            "osd", f"profile rbd pool={POOL}"))
        os.chmod(self.keyring, 0o600)
        self._wait_osd_up()

    def _wait_osd_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"a ceph daemon exited ({proc.args}); logs in "
                                       f"{self.dir / 'log'}")
            stat = json.loads(self.ceph("osd", "stat", "--format", "json"))
            if stat.get("num_up_osds") == 1:
                # a write that lands proves the PGs are active
                self.rbd("create", "--size", "1", f"{POOL}/ready-probe")
                self.rbd("rm", "--no-progress", f"{POOL}/ready-probe")
                return
            time.sleep(0.5)
        raise RuntimeError("the ceph OSD did not come up")

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self.procs.clear()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> CephCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_SHARED: list[CephCluster] = []


def shared_cluster() -> CephCluster:
    """One cluster for every test module of this process (session fixtures of several
    modules share it: one start of ~13 s), stopped when the process exits."""
    if not _SHARED:
        cluster = CephCluster().start()
        atexit.register(cluster.stop)
        _SHARED.append(cluster)
    return _SHARED[0]


def add_user(cluster: CephCluster, name: str) -> Path:
    """A cephx user of its own (a compute host's) with the rbd profile on the pool; its
    keyring (0600) in the cluster's dir."""
    path = cluster.dir / f"ceph.client.{name}.keyring"
    path.touch(mode=0o600)
    path.write_text(cluster.ceph("auth", "get-or-create", f"client.{name}", "mon",
                                 "profile rbd", "osd", f"profile rbd pool={POOL}"))
    return path
