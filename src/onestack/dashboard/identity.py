"""Identity for admins and domain managers: projects (with their quotas), users, groups,
roles; create a project, create a user, grant a role. Shown in the navigation to whom the
live policy allows listing projects; every request is the API's to allow or refuse."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from onestack.dashboard.client import ApiError
from onestack.dashboard.pages import NEUTRON, NOVA, page
from onestack.dashboard.web import Web, redirect

KS = "/identity/v3"
COMPUTE_QUOTAS = ("instances", "cores", "ram", "key_pairs")
VOLUME_QUOTAS = ("volumes", "gigabytes", "snapshots")
NETWORK_QUOTAS = ("network", "subnet", "port", "router", "floatingip", "security_group")


async def identity(web: Web, request: Request) -> Response:
    p = await page(web, request)
    projects, users, groups, roles = await asyncio.gather(
        p.get(f"{KS}/projects"), p.get(f"{KS}/users"), p.get(f"{KS}/groups"),
        p.get(f"{KS}/roles"))
    return await p.render("identity.html", projects=projects["projects"],
                          users=users["users"], groups=groups["groups"],
                          roles=roles["roles"])


async def project_create(web: Web, request: Request) -> Response:
    p = await page(web, request)
    form = await web.form(request, p.session)
    await p.post(f"{KS}/projects", {"project": {
        "name": str(form.get("name", "")), "description": str(form.get("description", "")),
        "domain_id": str(form.get("domain_id", "") or "default")}})
    return redirect(f"{p.base}/identity")


async def user_create(web: Web, request: Request) -> Response:
    p = await page(web, request)
    form = await web.form(request, p.session)
    body: dict[str, Any] = {"name": str(form.get("name", "")),
                            "password": str(form.get("password", "")),
                            "domain_id": str(form.get("domain_id", "") or "default")}
    user = (await p.post(f"{KS}/users", {"user": body}))["user"]
    project, role = str(form.get("project_id", "")), str(form.get("role_id", ""))
    if project and role:
        await web.client.call("PUT", f"{KS}/projects/{project}/users/{user['id']}/roles/"
                              f"{role}", p.token)
    return redirect(f"{p.base}/identity")


async def quotas(web: Web, request: Request) -> Response:
    p = await page(web, request)
    target = request.path_params["target_id"]
    project = (await p.get(f"{KS}/projects/{target}"))["project"]
    compute, volume, network = await asyncio.gather(
        p.get(f"{NOVA}/os-quota-sets/{target}"),
        p.get(f"/volume/v3/{p.project_id}/os-quota-sets/{target}"),
        p.get(f"{NEUTRON}/quotas/{target}"))
    rows = ([("compute", k, compute["quota_set"].get(k)) for k in COMPUTE_QUOTAS]
            + [("volume", k, volume["quota_set"].get(k)) for k in VOLUME_QUOTAS]
            + [("network", k, network["quota"].get(k)) for k in NETWORK_QUOTAS])
    return await p.render("quotas.html", project=project, rows=rows)


async def quotas_update(web: Web, request: Request) -> Response:
    p = await page(web, request)
    form = await web.form(request, p.session)
    target = request.path_params["target_id"]
    found: dict[str, dict[str, int]] = {"compute": {}, "volume": {}, "network": {}}
    for key, value in form.multi_items():
        service, _, name = str(key).partition(".")
        if service in found and str(value).strip():
            try:
                found[service][name] = int(str(value))
            except ValueError as exc:
                raise ApiError(400, f"Quota {name} must be a whole number (-1: no "
                                    "limit).") from exc
    if found["compute"]:
        await web.client.call("PUT", f"{NOVA}/os-quota-sets/{target}", p.token,
                              json={"quota_set": found["compute"]})
    if found["volume"]:
        await web.client.call("PUT", f"/volume/v3/{p.project_id}/os-quota-sets/{target}",
                              p.token, json={"quota_set": found["volume"]})
    if found["network"]:
        await web.client.call("PUT", f"{NEUTRON}/quotas/{target}", p.token,
                              json={"quota": found["network"]})
    return redirect(f"{p.base}/identity/projects/{target}/quotas")


P = "/project/{project_id}/identity"
ROUTES = [
    (P, identity, ("GET",)),
    (P + "/projects", project_create, ("POST",)),
    (P + "/users", user_create, ("POST",)),
    (P + "/projects/{target_id}/quotas", quotas, ("GET",)),
    (P + "/projects/{target_id}/quotas", quotas_update, ("POST",)),
]
