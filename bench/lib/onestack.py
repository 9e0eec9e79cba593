"""Onestack as a user starts it: `onestack up` in the foreground, from the repo's venv."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from lib.keystone_api import Deployment, Identity, password_auth
from lib.procs import BenchError, Services, free_port

REPO = Path(__file__).resolve().parent.parent.parent
PYTHON = REPO / ".venv" / "bin" / "python"
COMMAND = REPO / ".venv" / "bin" / "onestack"


def read_yaml(path: Path) -> Any:
    """Parse YAML with PyYAML, from this Python or else from the repo's venv."""
    try:
        import yaml
    except ImportError:
        code = "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"
        return json.loads(subprocess.check_output([str(PYTHON), "-c", code, str(path)]))
    with path.open() as f:
        return yaml.safe_load(f)


def _commit() -> str:
    try:
        out = subprocess.check_output(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], stderr=subprocess.DEVNULL
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.decode().strip()


def _domain(auth: dict[str, Any], kind: str) -> dict[str, str]:
    if value := auth.get(f"{kind}_domain_id"):
        return {"id": value}
    return {"name": auth.get(f"{kind}_domain_name") or "Default"}


def start(services: Services, workdir: Path, config: str, timeout: float = 600) -> Deployment:
    """Start `onestack up` with `config` (TOML) in a fresh data dir; return when ready."""
    if not COMMAND.exists():
        raise BenchError(f"{COMMAND} is missing: run {REPO}/.venv/bin/pip install -e {REPO}")
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    conf = workdir / "onestack.toml"
    conf.write_text(config)
    clouds_yaml = data / "clouds.yaml"
    port = free_port()
    argv = [
        str(COMMAND), "up",
        "--data-dir", str(data),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--config", str(conf),
    ]  # fmt: skip
    env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(clouds_yaml))
    print(f"onestack: starting on port {port} (log {services.log('onestack')})")
    services.start("onestack", argv, env, cwd=workdir)
    startup_s = services.wait_http_ok("127.0.0.1", port, "/identity/v3", timeout)
    deadline = time.monotonic() + 60
    while not clouds_yaml.exists():
        if time.monotonic() > deadline:
            raise BenchError(f"onestack answers but wrote no {clouds_yaml}")
        time.sleep(0.1)
    print(f"onestack: ready in {startup_s:.1f} s")

    auth = read_yaml(clouds_yaml)["clouds"]["onestack"]["auth"]
    admin_auth = password_auth(
        auth.get("username", "admin"),
        auth["password"],
        _domain(auth, "user"),
        auth.get("project_name", "admin"),
        _domain(auth, "project"),
    )
    return Deployment(
        name="onestack",
        identity=Identity("127.0.0.1", port, "/identity"),
        admin_auth=admin_auth,
        startup_s=startup_s,
        details={"version": f"onestack {_commit()}", "server": "onestack up", "database": "SQLite"},
    )
