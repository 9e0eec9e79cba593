"""Admin views: hosts with capacity and usage from placement, all instances, migrations,
services. Each asks the API with the admin's own token; whoever the API refuses sees its
refusal (the navigation shows these only to whom the live policy allows)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from onestack.dashboard.client import ApiError
from onestack.dashboard.pages import MICRO, NEUTRON, NOVA, Page, page
from onestack.dashboard.web import Web

PLACEMENT = "/placement"
CLASSES = ("VCPU", "MEMORY_MB", "DISK_GB")


async def _provider(p: Page, rp: dict[str, Any]) -> dict[str, Any]:
    inventories, usages = await asyncio.gather(
        p.get(f"{PLACEMENT}/resource_providers/{rp['uuid']}/inventories"),
        p.get(f"{PLACEMENT}/resource_providers/{rp['uuid']}/usages"))
    rows = []
    for rc in CLASSES:
        inv = inventories["inventories"].get(rc)
        if inv is None:
            continue
        total = int((inv["total"] - inv.get("reserved", 0)) * inv.get("allocation_ratio", 1))
        used = int(usages["usages"].get(rc, 0))
        rows.append({"name": rc, "used": used, "total": total,
                     "pct": min(100, round(100 * used / total)) if total > 0 else 0})
    return {"name": rp["name"], "uuid": rp["uuid"], "resources": rows}


async def hosts(web: Web, request: Request) -> Response:
    p = await page(web, request)
    providers = (await p.get(f"{PLACEMENT}/resource_providers"))["resource_providers"]
    found = await asyncio.gather(*[_provider(p, rp) for rp in providers])
    hypervisors = (await p.get(f"{NOVA}/os-hypervisors/detail"))["hypervisors"]
    return await p.render("admin_hosts.html", hosts=[h for h in found if h["resources"]],
                          hypervisors=hypervisors)


async def all_instances(web: Web, request: Request) -> Response:
    p = await page(web, request)
    servers = (await p.get(f"{NOVA}/servers/detail?all_tenants=1&limit=1000",
                           headers=MICRO))["servers"]
    projects = {pr["id"]: pr["name"] for pr in await _projects(p)}
    return await p.render("admin_instances.html", servers=servers, projects=projects)


async def _projects(p: Page) -> list[dict[str, Any]]:
    try:
        return list((await p.get("/identity/v3/projects"))["projects"])
    except ApiError:
        return []


async def migrations(web: Web, request: Request) -> Response:
    p = await page(web, request)
    found = (await p.get(f"{NOVA}/os-migrations", headers=MICRO))["migrations"]
    return await p.render("admin_migrations.html", migrations=found)


async def services(web: Web, request: Request) -> Response:
    p = await page(web, request)
    compute = (await p.get(f"{NOVA}/os-services"))["services"]
    response = await web.client.call("GET", f"{NEUTRON}/agents", p.token, ok=(404,))
    agents = response.json().get("agents", []) if response.status_code == 200 else []
    return await p.render("admin_services.html", services=compute, agents=agents)


P = "/project/{project_id}/admin"
ROUTES = [
    (P + "/hosts", hosts, ("GET",)),
    (P + "/instances", all_instances, ("GET",)),
    (P + "/migrations", migrations, ("GET",)),
    (P + "/services", services, ("GET",)),
]
