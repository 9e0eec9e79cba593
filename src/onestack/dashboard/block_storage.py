"""Volume extend and volume snapshots (create from a volume, list, delete). The module
sorts before pages.py, so its /volumes/{id}/extend and /snapshot routes match before
pages.py's /volumes/{id}/{action}."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from onestack.dashboard.client import ApiError
from onestack.dashboard.pages import page
from onestack.dashboard.web import Web, redirect


async def volume_extend(web: Web, request: Request) -> Response:
    p = await page(web, request)
    form = await web.form(request, p.session)
    try:
        size = int(str(form.get("new_size", "")))
    except ValueError as exc:
        raise ApiError(400, "The new size must be a whole number of GiB.") from exc
    await p.post(f"/volume/v3/{p.project_id}/volumes/{request.path_params['volume_id']}"
                 "/action", {"os-extend": {"new_size": size}})
    return redirect(f"{p.base}/volumes")


async def snapshots(web: Web, request: Request) -> Response:
    p = await page(web, request)
    found = (await p.get(f"/volume/v3/{p.project_id}/snapshots/detail"))["snapshots"]
    vols = (await p.get(f"/volume/v3/{p.project_id}/volumes"))["volumes"]
    return await p.render("snapshots.html", snapshots=found,
                          names={v["id"]: v.get("name") or v["id"] for v in vols})


async def snapshot_create(web: Web, request: Request) -> Response:
    p = await page(web, request)
    form = await web.form(request, p.session)
    await p.post(f"/volume/v3/{p.project_id}/snapshots", {"snapshot": {
        "volume_id": request.path_params["volume_id"], "name": str(form.get("name", "")),
        "force": True}})
    return redirect(f"{p.base}/snapshots")


async def snapshot_delete(web: Web, request: Request) -> Response:
    p = await page(web, request)
    await web.form(request, p.session)
    await web.client.delete(f"/volume/v3/{p.project_id}/snapshots/"
                            f"{request.path_params['snapshot_id']}", p.token)
    return redirect(f"{p.base}/snapshots")


P = "/project/{project_id}"
ROUTES = [
    (P + "/volumes/{volume_id}/extend", volume_extend, ("POST",)),
    (P + "/volumes/{volume_id}/snapshot", snapshot_create, ("POST",)),
    (P + "/snapshots", snapshots, ("GET",)),
    (P + "/snapshots/{snapshot_id}/delete", snapshot_delete, ("POST",)),
]
