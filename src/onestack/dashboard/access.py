"""API access: application credentials (the secret is shown once, inside the clouds.yaml
or openrc download that creating one returns) and clouds.yaml/openrc for the user's
password, made by the same code as ``onestack up``'s (onestack.cloudconfig). The auth URL
is the identity endpoint of the live service catalog, not a setting of the dashboard."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from onestack import cloudconfig
from onestack.dashboard.client import ApiError
from onestack.dashboard.pages import Page, page
from onestack.dashboard.web import Web, redirect

SAFE = re.compile(r"[^A-Za-z0-9._-]")
FORMATS = {"clouds.yaml": "application/yaml", "openrc": "text/x-shellscript"}


async def endpoints(p: Page, request: Request) -> tuple[str, str]:
    """(auth URL, region) from the catalog's public identity endpoint."""
    catalog = (await p.get("/identity/v3/auth/catalog"))["catalog"]
    for service in catalog:
        if service.get("type") != "identity":
            continue
        for ep in service.get("endpoints", []):
            if ep.get("interface") == "public":
                url = str(ep["url"]).rstrip("/")
                url = url if url.endswith("/v3") else url + "/v3"
                return url, str(ep.get("region_id") or ep.get("region") or "RegionOne")
    region = p.session.regions[0] if p.session.regions else "RegionOne"
    return f"{str(request.base_url).rstrip('/')}/identity/v3", region


def cloud_name(p: Page) -> str:
    return "onestack-" + SAFE.sub("_", p.session.projects.get(p.project_id, p.project_id))


def download(entry: dict[str, Any], name: str, fmt: str) -> Response:
    if fmt not in FORMATS:
        raise ApiError(400, f"Pick a download format: {', '.join(FORMATS)}.")
    text = (cloudconfig.clouds_yaml({name: entry}) if fmt == "clouds.yaml"
            else cloudconfig.openrc(entry))
    filename = "clouds.yaml" if fmt == "clouds.yaml" else f"{name}-openrc.sh"
    return Response(text, media_type=FORMATS[fmt], headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


def _creds_path(p: Page) -> str:
    return f"/identity/v3/users/{p.session.user_id}/application_credentials"


async def access(web: Web, request: Request) -> Response:
    p = await page(web, request)
    creds = (await p.get(_creds_path(p)))["application_credentials"]
    auth_url, region = await endpoints(p, request)
    return await p.render("access.html", creds=[c for c in creds
                                                if c.get("project_id") == p.project_id],
                          auth_url=auth_url, region=region, cloud=cloud_name(p),
                          formats=list(FORMATS))


async def password_file(web: Web, request: Request) -> Response:
    """clouds.yaml/openrc for this user and project; the password is asked by the client."""
    p = await page(web, request)
    auth_url, region = await endpoints(p, request)
    entry = cloudconfig.password_entry(auth_url, p.session.user_name,
                                       p.session.projects[p.project_id], region,
                                       domain=p.session.domain)
    return download(entry, cloud_name(p), request.path_params["fmt"])


async def appcred_create(web: Web, request: Request) -> Response:
    """Create an application credential for this project and hand its secret over once,
    as the file the user asked for."""
    p = await page(web, request)
    form = await web.form(request, p.session)
    fmt = str(form.get("format", "clouds.yaml"))
    if fmt not in FORMATS:
        raise ApiError(400, f"Pick a download format: {', '.join(FORMATS)}.")
    body: dict[str, Any] = {"name": str(form.get("name", "")).strip(),
                            "description": str(form.get("description", ""))}
    if form.get("expires_at"):
        body["expires_at"] = str(form["expires_at"])
    made = (await p.post(_creds_path(p), {"application_credential": body}))[
        "application_credential"]
    auth_url, region = await endpoints(p, request)
    entry = cloudconfig.application_credential_entry(auth_url, made["id"], made["secret"],
                                                     region)
    return download(entry, cloud_name(p), fmt)


async def appcred_delete(web: Web, request: Request) -> Response:
    p = await page(web, request)
    await web.form(request, p.session)
    await web.client.delete(f"{_creds_path(p)}/{request.path_params['cred_id']}", p.token)
    return redirect(f"{p.base}/access")


P = "/project/{project_id}/access"
ROUTES = [
    (P, access, ("GET",)),
    (P + "/download/{fmt}", password_file, ("GET",)),
    (P + "/application-credentials", appcred_create, ("POST",)),
    (P + "/application-credentials/{cred_id}/delete", appcred_delete, ("POST",)),
]
