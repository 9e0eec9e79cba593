"""Key pairs: list, import a public key, generate one (the private key is downloaded once
and never kept), delete. Key pairs belong to the user, not to the project."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from onestack.dashboard.client import ApiError
from onestack.dashboard.pages import MICRO, NOVA, page
from onestack.dashboard.web import Web, redirect

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


async def keypairs(web: Web, request: Request) -> Response:
    p = await page(web, request)
    found = [k["keypair"] for k in (await p.get(f"{NOVA}/os-keypairs",
                                                headers=MICRO))["keypairs"]]
    return await p.render("keypairs.html", keypairs=found)


async def keypair_create(web: Web, request: Request) -> Response:
    p = await page(web, request)
    form = await web.form(request, p.session)
    name = str(form.get("name", ""))
    public_key = str(form.get("public_key", "")).strip()
    body: dict[str, str] = {"name": name}
    if public_key:
        body["public_key"] = public_key
    made = (await p.post(f"{NOVA}/os-keypairs", {"keypair": body}, headers=MICRO))["keypair"]
    private = made.get("private_key")
    if not private:
        return redirect(f"{p.base}/keypairs")
    filename = (SAFE_NAME.sub("_", name) or "key") + ".pem"
    return Response(private, media_type="application/x-pem-file", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


async def keypair_delete(web: Web, request: Request) -> Response:
    p = await page(web, request)
    await web.form(request, p.session)
    name = request.path_params["name"]
    if not name:
        raise ApiError(404, "Name the key pair to delete.")
    await web.client.delete(f"{NOVA}/os-keypairs/{name}", p.token, headers=MICRO)
    return redirect(f"{p.base}/keypairs")


P = "/project/{project_id}"
ROUTES = [
    (P + "/keypairs", keypairs, ("GET",)),
    (P + "/keypairs", keypair_create, ("POST",)),
    (P + "/keypairs/{name}/delete", keypair_delete, ("POST",)),
]
