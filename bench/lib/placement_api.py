"""The Placement API on both sides: upstream openstack-placement 16.0.0 under uwsgi on
PostgreSQL, Onestack's /placement, and seeding either with N compute-node-like providers.

Shared by bench/placement.py (load on allocation candidates and claims) and bench/compute.py
(allocation candidates beside Onestack's scheduling decision over the same number of hosts).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib import onestack, upstream
from lib.keystone_api import issue_token
from lib.procs import BenchError, Services, free_port, run_logged
from lib.rawhttp import Connection, build_request

REPO = Path(__file__).resolve().parent.parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from tests.support.postgres import PostgresServer, available  # noqa: E402

VERSION = "16.0.0"
REQUIREMENTS = [f"openstack-placement=={VERSION}", "uwsgi", "psycopg2-binary"]
QUERY = "/allocation_candidates?resources=VCPU:1,MEMORY_MB:512,DISK_GB:10"
INVENTORY = {"VCPU": 32, "MEMORY_MB": 131072, "DISK_GB": 2000}

CONFIG = """\
[DEFAULT]
debug = false

[api]
auth_strategy = noauth2

[placement_database]
connection = {url}
"""

__all__ = [
    "PostgresServer",
    "Target",
    "Workload",
    "available",
    "postgres",
    "seed",
    "start_onestack",
    "start_upstream",
]


@dataclass
class Target:
    name: str
    port: int
    prefix: str  # "/placement" on Onestack, "" upstream
    headers: dict[str, str]
    details: dict[str, Any]
    startup_s: float

    def call(
        self, conn: Connection, method: str, path: str, body: Any = None, version: str = "1.36"
    ) -> Any:
        headers = {
            **self.headers,
            "Accept": "application/json",
            "OpenStack-API-Version": f"placement {version}",
        }
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        raw = build_request(method, self.prefix + path, f"127.0.0.1:{self.port}", headers, data)
        response = conn.request(raw)
        if response.status >= 300:
            raise BenchError(f"{method} {path} answered {response.status}: {response.body[:300]!r}")
        return response.json()


def postgres() -> PostgresServer:
    """A throwaway PostgreSQL server, started (the caller stops it)."""
    if not available():
        raise BenchError("PostgreSQL is not installed (apt-get install postgresql)")
    pg = PostgresServer()
    pg.start()
    return pg


def start_onestack(services: Services, workdir: Path, db_url: str | None) -> Target:
    config = f'[database]\nurl = "{db_url}"\n' if db_url else ""
    deployment = onestack.start(services, workdir, config)
    token, _ = issue_token(deployment.identity, deployment.admin_auth)
    details = dict(deployment.details, database="PostgreSQL" if db_url else "SQLite")
    return Target(
        "onestack",
        deployment.identity.port,
        "/placement",
        {"X-Auth-Token": token},
        details,
        deployment.startup_s,
    )


def start_upstream(services: Services, workdir: Path, db_url: str) -> Target:
    workdir.mkdir(parents=True, exist_ok=True)
    log = services.log("upstream-setup")
    venv = upstream.ensure_venv(REQUIREMENTS, log)
    conf_dir = workdir / "etc"
    conf_dir.mkdir()
    url = db_url.replace("postgresql+psycopg://", "postgresql+psycopg2://")
    (conf_dir / "placement.conf").write_text(CONFIG.format(url=url))
    env = upstream.venv_env(venv, OS_PLACEMENT_CONFIG_DIR=str(conf_dir))
    env["PYTHONWARNINGS"] = "ignore"
    setup_started = time.monotonic()
    run_logged(
        [str(venv / "bin" / "placement-manage"), "--config-dir", str(conf_dir), "db", "sync"],
        log,
        env,
    )
    setup_s = time.monotonic() - setup_started
    port = free_port()
    uwsgi = [
        str(venv / "bin" / "uwsgi"),
        "--http-socket", f"127.0.0.1:{port}",
        "--module", "placement.wsgi.api:application",
        "--virtualenv", str(venv),
        "--need-app",
        *upstream.UWSGI_DEVSTACK,
    ]  # fmt: skip
    services.start("upstream-placement", uwsgi, env, cwd=workdir)
    startup_s = services.wait_http_ok("127.0.0.1", port, "/", timeout=120)
    print(f"upstream: placement {VERSION} ready on port {port} in {startup_s:.1f} s")
    details = {
        "version": f"openstack-placement {VERSION}",
        "server": "uwsgi " + " ".join(upstream.UWSGI_DEVSTACK),
        "database": "PostgreSQL",
        "auth": "noauth2",
        "setup_s": round(setup_s, 1),
    }
    return Target("upstream", port, "", {"X-Auth-Token": "admin"}, details, startup_s)


@dataclass
class Workload:
    providers: list[str]
    consumers: list[str]
    listed: int


def seed(target: Target, n: int, concurrency: int) -> Workload:
    """N providers with INVENTORY each; one consumer id per worker; how many candidates."""
    conn = Connection("127.0.0.1", target.port)
    uuids = []
    try:
        for i in range(n):
            rp = target.call(
                conn, "POST", "/resource_providers", {"name": f"bench-cn-{i:05d}"}, version="1.20"
            )
            invs = {rc: {"total": total, "max_unit": total} for rc, total in INVENTORY.items()}
            target.call(
                conn,
                "PUT",
                f"/resource_providers/{rp['uuid']}/inventories",
                {"inventories": invs, "resource_provider_generation": 0},
            )
            uuids.append(rp["uuid"])
        listed = len(target.call(conn, "GET", QUERY)["allocation_requests"])
    finally:
        conn.close()
    return Workload(uuids, [str(uuid.uuid4()) for _ in range(concurrency)], listed)
