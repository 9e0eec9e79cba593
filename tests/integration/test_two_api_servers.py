"""Two ``onestack serve`` processes on one PostgreSQL database behind haproxy (round robin,
health checks, retries of idempotent requests), one ``onestack agent`` (fake virt driver)
reaching the controller through haproxy, and openstacksdk clients in a few threads creating
networks, volumes and servers while one API process is killed with SIGKILL.

Checked: no GET is lost (haproxy retries it on the other process); once the killed process
is started again (as systemd would: a volume job it had in hand is settled by its start),
nothing stays in a transitional state; work written through either process reaches the
agent within a second (its reconcile interval is 30 s here, so only the cross-process wake
can bring it); a token revoked through one process is refused by the other at once. All
processes, the database cluster and haproxy are stopped and removed at the end.

66 s to three minutes on the 2-core machine (a PostgreSQL cluster, its schema, two API
processes and an agent); CI runs it in the integration stage; docs/operations.md ("Several
API servers") has its measured run."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openstack
import pytest

from tests.api.test_agent_http import until
from tests.support.postgres import PostgresServer, available, free_port

pytestmark = [pytest.mark.integration]

ONESTACK = str(Path(sys.executable).parent / "onestack")
WAKE_LIMIT = 1.0  # seconds from a write on either process to the agent acting on it
TRANSITIONAL = {"BUILD", "DELETING", "creating", "deleting", "attaching", "detaching"}
TICK = 0.02  # seconds between polls of a server's status while measuring the wake

SERVE_CONFIG = """\
data_dir = "{data}"

[database]
url = "{url}"

[server]
public_url = "{public}"

[identity]
cache_sync_interval = 30  # the revision read is the backstop: only the signal is measured

[compute]
local_agent = false
virt_driver = "fake"
service_down_after = 60  # the agent is paused while the wake is measured

[network]
dataplane = "off"

[load_balancer]
driver = "fake"
"""

AGENT_CONFIG = """\
[compute]
virt_driver = "fake"
reconcile_interval = 30
device_discovery = "off"

[network]
dataplane = "off"
"""

# What docs/operations.md ("Several API servers") shows: round robin, a health check every
# half second, and a request whose server died before answering (connection refused or
# reset, an empty response, a 502/503) sent again to the other one; a POST or PATCH only when
# it never reached a server (the connection retries of ``retries``), never after it was sent.
HAPROXY_CONFIG = """\
global
    maxconn 2000
defaults
    mode http
    timeout connect 1s
    timeout client 120s
    timeout server 120s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout 502 503 504
frontend api
    bind 127.0.0.1:{front}
    http-request disable-l7-retry if METH_POST || {{ method PATCH }}
    default_backend onestack
backend onestack
    balance roundrobin
    option httpchk GET /
    default-server check inter 500 fall 2 rise 2
{servers}
"""


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (the PostgreSQL cluster runs as its own user)"
    if not available():
        return "PostgreSQL is not installed"
    if shutil.which("haproxy") is None:
        return "haproxy is not installed"
    return None


class Proc:
    """A subprocess in its own session, its output in a log file."""

    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name, self.log, self.argv = name, log, argv
        self.start()

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Deployment:
    front: str
    ports: list[int]
    admin_password: str
    secret: str = ""  # host h1's agent credential
    procs: dict[str, Proc] = field(default_factory=dict)

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def connect(self, base: str | None = None) -> openstack.connection.Connection:
        auth = {"auth_url": f"{base or self.front}/identity/v3", "username": "admin",
                "password": self.admin_password, "project_name": "admin",
                "user_domain_name": "Default", "project_domain_name": "Default"}
        return openstack.connect(auth=auth, region_name="RegionOne", identity_api_version="3")


def healthy(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(url + "/", timeout=2).status_code == 200
    return False


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("two-api")
    pg = PostgresServer()
    procs: dict[str, Proc] = {}
    try:
        url = pg.start()
        front_port, ports = free_port(), [free_port(), free_port()]
        front = f"http://127.0.0.1:{front_port}"
        config = work / "onestack.toml"
        data = work / "data"  # shared by both: token keys, credential keys, volumes
        config.write_text(SERVE_CONFIG.format(url=url, public=front, data=data))
        common = ["--config", str(config)]
        subprocess.run([ONESTACK, "manage", "db", "upgrade", *common], check=True,
                       capture_output=True, timeout=120)
        out = subprocess.run([ONESTACK, "manage", "bootstrap", *common,
                              "--admin-password", "two-api-secret"],
                             check=True, capture_output=True, timeout=120, text=True)
        assert "admin password" in out.stdout
        for i, port in enumerate(ports):
            name = f"api{i}"
            procs[name] = Proc(name, [ONESTACK, "serve", "--config", str(config),
                                      "--host", "127.0.0.1", "--port", str(port)],
                               work / f"{name}.log")
            until(lambda p=port: healthy(f"http://127.0.0.1:{p}"), 60, f"{name} up")
        servers = "\n".join(f"    server api{i} 127.0.0.1:{p}" for i, p in enumerate(ports))
        hacfg = work / "haproxy.cfg"
        hacfg.write_text(HAPROXY_CONFIG.format(front=front_port, servers=servers))
        subprocess.run(["haproxy", "-c", "-f", str(hacfg)], check=True, capture_output=True)
        procs["haproxy"] = Proc("haproxy", ["haproxy", "-db", "-f", str(hacfg)],
                                work / "haproxy.log")
        until(lambda: healthy(front), 20, "haproxy up")
        cred = work / "credential"
        subprocess.run([ONESTACK, "manage", "agent-credential", "create", "--host", "h1",
                        "--output", str(cred), *common], check=True, capture_output=True,
                       timeout=60)
        (work / "agent.toml").write_text(AGENT_CONFIG)
        procs["agent"] = Proc("agent", [
            ONESTACK, "agent", "--controller", front, "--host", "h1", "--credential",
            str(cred), "--config", str(work / "agent.toml"), "--data-dir",
            str(work / "agent-data")], work / "agent.log")
        dep = Deployment(front, ports, "two-api-secret", procs=procs)
        dep.secret = cred.read_text().strip()
        conn = dep.connect()
        until(lambda: any(s.host == "h1" and s.state == "up"
                          for s in conn.compute.services()), 30, "the agent's host up")
        yield dep
    finally:
        for proc in reversed(list(procs.values())):
            proc.stop()
        for proc in procs.values():
            if proc.log.exists() and proc.proc.returncode not in (0, -15, -9):
                sys.stderr.write(f"--- {proc.name} (rc {proc.proc.returncode}) ---\n"
                                 + proc.log.read_text()[-3000:])
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


def poll_wake(dep: Deployment, poll_on: int, write_on: int, image: str) -> float:
    """A long poll for host h1's work held on API process ``poll_on`` (as its agent's poll
    would be; the agent itself is paused), a server created on ``write_on``: seconds from
    the create's answer (its work written) to the poll's wake (negative: woken before the
    answer reached the client)."""
    poll = f"{dep.url(poll_on)}/internal/agent/v1/hosts/h1/work"
    auth = {"Authorization": f"Bearer {dep.secret}"}
    conn = dep.connect(dep.url(write_on))
    list(conn.compute.flavors())  # authenticated: the token is not part of what is measured
    httpx.get(poll, params={"wait": 0}, headers=auth, timeout=10)  # an earlier wake, if any
    woke: list[float] = []
    waiter = threading.Thread(target=lambda: (
        httpx.get(poll, params={"wait": 20}, headers=auth, timeout=30).json()["wake"]
        and woke.append(time.monotonic())))
    waiter.start()
    time.sleep(0.5)  # the poll is held
    asked = time.monotonic()
    conn.compute.create_server(name=f"wake-{write_on}", image_id=image, flavor_id="42",
                               networks="none")
    answered = time.monotonic()
    waiter.join(timeout=30)
    assert woke and woke[0] > asked, "the poll was not woken by the create"
    return woke[0] - answered


def revoked_elsewhere(dep: Deployment) -> float:
    """A token validated (and so cached) by process 0, revoked through process 1: seconds
    until process 0 refuses it (its own revision check runs only every 30 s here)."""
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": dep.admin_password}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    token, reader = (httpx.post(f"{dep.url(1)}/identity/v3/auth/tokens", json=body,
                                timeout=10).headers["X-Subject-Token"] for _ in range(2))
    both = {"X-Auth-Token": token, "X-Subject-Token": token}

    def check(i: int) -> int:
        return httpx.get(f"{dep.url(i)}/identity/v3/auth/tokens", timeout=10,
                         headers={"X-Auth-Token": reader, "X-Subject-Token": token}
                         ).status_code

    assert check(0) == 200 and check(0) == 200
    assert httpx.delete(f"{dep.url(1)}/identity/v3/auth/tokens", headers=both,
                        timeout=10).status_code == 204
    start = time.monotonic()
    until(lambda: check(0) == 404, 5, "the revoked token refused by the other process",
          tick=TICK)
    return time.monotonic() - start


def until_active(conn: openstack.connection.Connection, image: str) -> float:
    """Seconds from a create's answer to ACTIVE (the agent's build, through haproxy)."""
    server = conn.compute.create_server(name="active", image_id=image, flavor_id="42",
                                        networks="none")
    start = time.monotonic()
    until(lambda: conn.compute.get_server(server.id).status == "ACTIVE", 20,
          "the server ACTIVE", tick=TICK)
    return time.monotonic() - start


@dataclass
class Tally:
    gets: int = 0
    get_errors: list[str] = field(default_factory=list)
    writes: int = 0
    write_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def steps(conn: openstack.connection.Connection, name: str, image: str
          ) -> list[tuple[bool, Callable[[], Any]]]:
    """One round of a client's work: (idempotent, call)."""
    return [
        (False, lambda: conn.network.create_network(name=name)),
        (True, lambda: list(conn.network.networks())),
        (False, lambda: conn.block_storage.create_volume(name=name, size=1)),
        (True, lambda: list(conn.block_storage.volumes())),
        (False, lambda: conn.compute.create_server(name=name, image_id=image, flavor_id="42",
                                                   networks="none")),
        (True, lambda: list(conn.compute.servers())),
    ]


def worker(dep: Deployment, image: str, tally: Tally, stop: threading.Event, n: int) -> None:
    conn = dep.connect()
    i = 0
    while not stop.is_set():
        i += 1
        for idempotent, call in steps(conn, f"load-{n}-{i}", image):
            try:
                call()
                ok, error = True, ""
            except Exception as exc:  # counted: a GET must never fail
                ok, error = False, f"{type(exc).__name__}: {exc}"
            with tally.lock:
                if idempotent:
                    tally.gets += 1
                    if not ok:
                        tally.get_errors.append(error)
                else:
                    tally.writes += 1
                    if not ok:
                        tally.write_errors.append(error)


def unsettled(conn: openstack.connection.Connection) -> list[str]:
    found = [f"server {s.name} {s.status}/{s.task_state}" for s in conn.compute.servers()
             if s.status in TRANSITIONAL or s.task_state]
    found += [f"volume {v.name} {v.status}" for v in conn.block_storage.volumes()
              if v.status in TRANSITIONAL]
    return found


def test_two_api_servers_behind_haproxy(deployment: Deployment) -> None:
    dep = deployment
    conn = dep.connect()
    project = conn.current_project_id
    conn.set_compute_quotas(project, instances=-1, cores=-1, ram=-1)
    conn.set_volume_quotas(project, volumes=-1, gigabytes=-1)
    conn.set_network_quotas(project, network=-1)
    image = conn.image.create_image(name="two-api", data=b"\0" * 1024, disk_format="raw",
                                    container_format="bare").id

    # Work written on one process reaches a long poll held by the other at once.
    agent = dep.procs["agent"].proc
    os.killpg(agent.pid, signal.SIGSTOP)  # the measuring poll is the only one
    try:
        wakes = [poll_wake(dep, poll_on, 1 - poll_on, image) for poll_on in (0, 1, 0, 1)]
    finally:
        os.killpg(agent.pid, signal.SIGCONT)
    print("\ncreate's answer -> wake of the other process's poll (s):",
          [round(w, 3) for w in wakes])
    assert max(wakes) < WAKE_LIMIT, wakes
    # A token revoked through one process is refused by the other at once.
    revoked = revoked_elsewhere(dep)
    print(f"token revoked on one process -> refused by the other: {revoked:.3f}s")
    assert revoked < WAKE_LIMIT

    # End to end: the agent (30 s between its own passes) builds at once, whichever
    # process took the create.
    active = [until_active(dep.connect(dep.url(i)), image) for i in (0, 1, 0, 1)]
    print("create's answer -> ACTIVE (s):", [round(a, 3) for a in active])
    assert max(active) < 10 * WAKE_LIMIT, active

    # Load through haproxy from three threads; one API process killed mid-way.
    tally, stop = Tally(), threading.Event()
    threads = [threading.Thread(target=worker, args=(dep, image, tally, stop, n))
               for n in range(3)]
    for t in threads:
        t.start()
    time.sleep(4)
    dep.procs["api0"].kill()
    killed_at = time.monotonic()
    time.sleep(6)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    print(f"load: {tally.gets} GETs, {len(tally.get_errors)} lost; {tally.writes} writes, "
          f"{len(tally.write_errors)} failed: {tally.write_errors[:3]}")
    assert tally.gets >= 9 and tally.writes >= 9  # three rounds a thread at least
    assert tally.get_errors == []

    # The killed process is started again (as systemd's Restart= would): what it had in
    # hand when it died (a volume it was creating) is settled by its start. After that and
    # the agent's next pass nothing is left half-way, and new work arrives at once.
    dep.procs["api0"].start()
    until(lambda: healthy(dep.url(0)), 60, "api0 up again")
    survivor = dep.connect()
    until(lambda: not unsettled(survivor), 45, f"nothing transitional: {unsettled(survivor)}",
          tick=0.5)
    print(f"settled {time.monotonic() - killed_at:.1f}s after the kill")
    took = until_active(dep.connect(), image)
    print(f"create -> ACTIVE after the kill: {took:.3f}s")
    assert took < 10 * WAKE_LIMIT
