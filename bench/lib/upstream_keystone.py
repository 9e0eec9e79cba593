"""Upstream Keystone as it runs in production: uwsgi with DevStack's settings, Fernet
tokens, the cache in memcached, SQLite in a scratch directory."""

from __future__ import annotations

import grp
import os
import pwd
import time
from pathlib import Path

from lib import upstream
from lib.keystone_api import Deployment, Identity, password_auth
from lib.procs import Services, free_port, run_logged

VERSION = "30.0.0"
REQUIREMENTS = [f"keystone=={VERSION}", "uwsgi", "pymemcache", "python-memcached"]
WSGI_MODULE = "keystone.wsgi.api:application"
VENV_PYTHON = upstream.VENV / "bin" / "python"

CONFIG = """\
[DEFAULT]
debug = false

[database]
connection = sqlite:///{workdir}/keystone.db

[token]
provider = fernet

[fernet_tokens]
key_repository = {workdir}/fernet-keys

[credential]
key_repository = {workdir}/credential-keys

[identity]
password_hash_algorithm = bcrypt
password_hash_rounds = {rounds}

[cache]
enabled = true
backend = dogpile.cache.pymemcache
memcache_servers = 127.0.0.1:{memcached_port}
"""


def start(services: Services, workdir: Path, rounds: int, admin_password: str) -> Deployment:
    """Install if needed, set up a fresh Keystone in `workdir`, start it; return when ready."""
    workdir.mkdir(parents=True, exist_ok=True)
    setup_log = services.log("upstream-setup")
    venv = upstream.ensure_venv(REQUIREMENTS, setup_log)
    memcached = upstream.ensure_memcached(setup_log)
    memcached_port, port = free_port(), free_port()
    conf = workdir / "keystone.conf"
    conf.write_text(CONFIG.format(workdir=workdir, rounds=rounds, memcached_port=memcached_port))
    env = upstream.venv_env(venv, OS_KEYSTONE_CONFIG_FILES=str(conf))
    # The warnings keystone-manage prints about eventlet are noise here.
    env["PYTHONWARNINGS"] = "ignore"

    # keystone-manage uses the cache too (bootstrap does), so memcached comes first.
    upstream.start_memcached(services, memcached, memcached_port, "upstream-memcached")
    print(f"upstream: keystone {VERSION} one-off setup (db_sync, keys, bootstrap)")
    setup_started = time.monotonic()
    manage = [str(venv / "bin" / "keystone-manage"), "--config-file", str(conf)]
    owner = [
        "--keystone-user", pwd.getpwuid(os.getuid()).pw_name,
        "--keystone-group", grp.getgrgid(os.getgid()).gr_name,
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}/v3"
    run_logged([*manage, "db_sync"], setup_log, env)
    run_logged([*manage, "fernet_setup", *owner], setup_log, env)
    run_logged([*manage, "credential_setup", *owner], setup_log, env)
    run_logged(
        [
            *manage, "bootstrap",
            "--bootstrap-password", admin_password,
            "--bootstrap-username", "admin",
            "--bootstrap-project-name", "admin",
            "--bootstrap-role-name", "admin",
            "--bootstrap-region-id", "RegionOne",
            "--bootstrap-admin-url", url,
            "--bootstrap-internal-url", url,
            "--bootstrap-public-url", url,
        ],
        setup_log,
        env,
    )  # fmt: skip
    setup_s = time.monotonic() - setup_started

    uwsgi = [
        str(venv / "bin" / "uwsgi"),
        "--http-socket", f"127.0.0.1:{port}",
        "--module", WSGI_MODULE,
        "--virtualenv", str(venv),
        "--need-app",
        *upstream.UWSGI_DEVSTACK,
    ]  # fmt: skip
    services.start("upstream-keystone", uwsgi, env, cwd=workdir)
    startup_s = services.wait_http_ok("127.0.0.1", port, "/v3", timeout=120)
    print(f"upstream: ready on port {port} in {startup_s:.1f} s (setup {setup_s:.1f} s)")
    default = {"id": "default"}
    return Deployment(
        name="upstream",
        identity=Identity("127.0.0.1", port, ""),
        admin_auth=password_auth("admin", admin_password, default, "admin", default),
        startup_s=startup_s,
        details={
            "version": f"keystone {VERSION}",
            "server": "uwsgi " + " ".join(upstream.UWSGI_DEVSTACK),
            "cache": "memcached (dogpile.cache.pymemcache)",
            "database": "SQLite",
            "setup_s": round(setup_s, 1),
        },
    )
