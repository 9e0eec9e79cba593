"""Idempotent bootstrap: default domain, roles, admin and demo, region and catalog.

Running it again changes nothing that exists (passwords included) and only brings the
catalog's URLs up to date with where the services are served now.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from onestack.core.identity.service import Identity
from onestack.errors import NotFound

REGION = "RegionOne"
# each implies the next (Keystone's bootstrap since 2024.2: manager between admin and member)
ROLE_CHAIN = ("admin", "manager", "member", "reader")
EXTRA_ROLES = ("ResellerAdmin", "service")


@dataclass
class Account:
    username: str
    password: str
    project: str
    user_id: str = ""
    project_id: str = ""


@dataclass
class ServiceEntry:
    type: str
    name: str
    url: str  # may hold $(project_id)s


def _load_secrets(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
        return {str(k): str(v) for k, v in data.items()}
    except (OSError, ValueError):
        return {}


def _save_secrets(path: Path, data: dict[str, str]) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)


async def bootstrap(ident: Identity, services: list[ServiceEntry],
                    progress: Callable[[str], None] = lambda _m: None,
                    admin_password: str | None = None) -> dict[str, Account]:
    data_dir = ident.settings.data_dir
    ident.token_keys.setup()
    ident.credential_keys.setup()
    secrets_file = data_dir / "bootstrap-secrets.json"
    stored = _load_secrets(secrets_file)

    progress("identity: default domain and roles")
    try:
        await ident.resources.get_domain("default")
    except NotFound:
        await ident.resources.create_domain({"id": "default", "name": "Default",
                                             "description": "The default domain"})
    role_ids: dict[str, str] = {}
    for name in (*ROLE_CHAIN, *EXTRA_ROLES):
        try:
            role_ids[name] = (await ident.roles.find_role(name)).id
        except NotFound:
            role_ids[name] = (await ident.roles.create_role({"name": name})).id
    for prior, implied in itertools.pairwise(ROLE_CHAIN):
        await ident.roles.create_implied(role_ids[prior], role_ids[implied])

    accounts: dict[str, Account] = {}
    for username, project, role in (("admin", "admin", "admin"), ("demo", "demo", "member")):
        progress(f"identity: {username} user and {project} project")
        password = stored.get(username) or (admin_password if username == "admin" else None) \
            or secrets.token_urlsafe(16)
        found = await ident.resources.list_projects({"name": project, "domain_id": "default"})
        proj = found[0] if found else await ident.resources.create_project(
            {"name": project, "description": f"Bootstrap project {project}"}, "default")
        try:
            user = await ident.users.find_user(username, "default")
        except NotFound:
            user = await ident.users.create_user(
                {"name": username, "password": password, "default_project_id": proj.id},
                "default")
        await ident.roles.grant(role_ids[role], "user", user.id, "project", proj.id)
        if username == "admin":
            await ident.roles.grant(role_ids["admin"], "user", user.id, "system", "system")
            await ident.roles.grant(role_ids["admin"], "user", user.id, "domain", "default")
        stored[username] = password
        accounts[username] = Account(username, password, project, user.id, proj.id)
    _save_secrets(secrets_file, stored)

    progress("identity: region and catalog")
    try:
        await ident.catalog.get_region(REGION)
    except NotFound:
        await ident.catalog.create_region({"id": REGION, "description": ""})
    for entry in services:
        await ensure_service(ident, entry)
    return accounts


async def ensure_service(ident: Identity, entry: ServiceEntry) -> None:
    found = await ident.catalog.list_services({"type": entry.type, "name": entry.name})
    svc = found[0] if found else await ident.catalog.create_service(
        {"type": entry.type, "name": entry.name})
    existing = {ep.interface: ep for ep in await ident.catalog.list_endpoints(
        {"service_id": svc.id})}
    for interface in ("public", "internal", "admin"):
        ep = existing.get(interface)
        if ep is None:
            await ident.catalog.create_endpoint({"service_id": svc.id, "interface": interface,
                                                 "region_id": REGION, "url": entry.url})
        elif ep.url != entry.url:
            await ident.catalog.update_endpoint(ep.id, {"url": entry.url})
