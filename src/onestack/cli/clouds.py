"""Write Onestack's entries into clouds.yaml, keeping every other cloud in the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from onestack.cloudconfig import password_entry
from onestack.core.identity.bootstrap import REGION, Account


def clouds_path() -> Path:
    env = os.environ.get("OS_CLIENT_CONFIG_FILE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".config" / "openstack" / "clouds.yaml"


def cloud_entry(auth_url: str, acct: Account) -> dict[str, Any]:
    return password_entry(auth_url, acct.username, acct.project, REGION, acct.password)


def write_clouds(path: Path, auth_url: str, accounts: dict[str, Account]) -> None:
    data: dict[str, Any] = {}
    if path.exists():
        loaded = yaml.safe_load(path.read_text()) or {}
        if isinstance(loaded, dict):
            data = loaded
    clouds = data.setdefault("clouds", {})
    if not isinstance(clouds, dict):
        clouds = data["clouds"] = {}
    clouds["onestack"] = cloud_entry(auth_url, accounts["admin"])
    clouds["onestack-demo"] = cloud_entry(auth_url, accounts["demo"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(data, fh, default_flow_style=False, sort_keys=False)
    os.replace(tmp, path)
