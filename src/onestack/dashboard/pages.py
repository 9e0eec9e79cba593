"""Project pages: overview, instances, volumes, networks. Each reads the public APIs with
the session's project-scoped token; a POST goes to the API and its refusal is shown."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from onestack.dashboard.client import ApiError
from onestack.dashboard.session import Session
from onestack.dashboard.web import PREFIX, Web, conditional, redirect

NOVA = "/compute/v2.1"
NEUTRON = "/networking/v2.0"
MICRO = {"OpenStack-API-Version": "compute 2.79", "X-OpenStack-Nova-API-Version": "2.79"}
# The API rules behind each button (asked of the live policy, see docs/dashboard.md).
BUTTONS = {
    "launch": "os_compute_api:servers:create",
    "server_action": "os_compute_api:servers:action",
    "server_delete": "os_compute_api:servers:delete",
    "attach": "os_compute_api:os-volumes-attachments:create",
    "detach": "os_compute_api:os-volumes-attachments:delete",
    "volume_create": "volume:create",
    "volume_delete": "volume:delete",
    "volume_extend": "volume:extend",
    "snapshot_create": "volume:create_snapshot",
    "snapshot_delete": "volume:delete_snapshot",
    "image_upload": "add_image",
    "image_delete": "delete_image",
    "router_create": "create_router",
    "router_delete": "delete_router",
    "router_interface": "add_router_interface",
    "group_create": "create_security_group",
    "group_delete": "delete_security_group",
    "rule_create": "create_security_group_rule",
    "rule_delete": "delete_security_group_rule",
    "fip_create": "create_floatingip",
    "fip_update": "update_floatingip",
    "fip_delete": "delete_floatingip",
    "appcred_create": "identity:create_application_credential",
    "ec2_create": "identity:ec2_create_credential",
    "lb_delete": "os_load-balancer_api:loadbalancer:delete",
    # admin views: shown to whoever the API would answer
    "admin": "os_compute_api:os-hypervisors:list",
    "identity_admin": "identity:list_projects",
}
ACTIONS: dict[str, Any] = {"start": {"os-start": None}, "stop": {"os-stop": None},
                           "reboot": {"reboot": {"type": "SOFT"}},
                           "migrate": {"migrate": None},
                           "confirm-resize": {"confirmResize": None},
                           "revert-resize": {"revertResize": None}}


class Page:
    def __init__(self, web: Web, request: Request, session: Session, project_id: str,
                 token: str) -> None:
        self.web, self.request, self.session = web, request, session
        self.project_id, self.token = project_id, token
        self.base = f"{PREFIX}/project/{project_id}"

    async def can(self) -> dict[str, bool]:
        # owner: what Glance's add_image asks of a new image (one's own project);
        # target.user.id: Keystone's rules on one's own credentials
        target = {"project_id": self.project_id, "owner": self.project_id,
                  "target.user.id": self.session.user_id}
        allowed = await self.web.oracle(self.token, list(BUTTONS.values()), target)
        return {button: allowed.get(rule, False) for button, rule in BUTTONS.items()}

    def get(self, path: str, **kw: Any) -> Any:
        return self.web.client.get(path, self.token, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> Any:
        return self.web.client.post(path, self.token, body, **kw)

    async def render(self, name: str, **context: Any) -> Response:
        return self.web.render(self.request, name, session=self.session,
                               project_id=self.project_id, base=self.base,
                               can=await self.can(), **context)


async def page(web: Web, request: Request) -> Page:
    session = web.session(request)
    project_id = request.path_params["project_id"]
    return Page(web, request, session, project_id, await web.project_token(session,
                                                                           project_id))


def _bar(name: str, used: Any, limit: Any) -> dict[str, Any]:
    used, limit = int(used or 0), int(limit if limit is not None else -1)
    pct = 0 if limit <= 0 else min(100, round(100 * used / limit))
    return {"name": name, "used": used, "limit": "∞" if limit < 0 else limit, "pct": pct}


async def overview(web: Web, request: Request) -> Response:
    p = await page(web, request)
    nova = (await p.get(f"{NOVA}/limits"))["limits"]["absolute"]
    cinder = (await p.get(f"/volume/v3/{p.project_id}/limits"))["limits"]["absolute"]
    neutron = (await p.get(f"{NEUTRON}/quotas/{p.project_id}/details"))["quota"]
    quotas = {
        "Compute": [_bar("Instances", nova.get("totalInstancesUsed"),
                         nova.get("maxTotalInstances")),
                    _bar("vCPUs", nova.get("totalCoresUsed"), nova.get("maxTotalCores")),
                    _bar("RAM (MiB)", nova.get("totalRAMUsed"), nova.get("maxTotalRAMSize"))],
        "Block storage": [_bar("Volumes", cinder.get("totalVolumesUsed"),
                               cinder.get("maxTotalVolumes")),
                          _bar("Gigabytes", cinder.get("totalGigabytesUsed"),
                               cinder.get("maxTotalVolumeGigabytes"))],
        "Network": [_bar(k.replace("_", " ").capitalize(), v.get("used"), v.get("limit"))
                    for k, v in sorted(neutron.items())
                    if k in ("network", "subnet", "port", "router", "floatingip",
                             "security_group")],
    }
    return await p.render("overview.html", quotas=quotas)


async def _servers(p: Page) -> list[dict[str, Any]]:
    """Ids and names only (the attach menu, attachment names): Nova's brief list."""
    return list((await p.get(f"{NOVA}/servers?limit=1000", headers=MICRO))["servers"])


PAGE_SIZE = 50


async def _server_page(p: Page, request: Request) -> dict[str, Any]:
    """One page of instances (Nova's marker paging, newest first): one API call."""
    marker = request.query_params.get("marker", "")
    query = f"limit={PAGE_SIZE + 1}" + (f"&marker={quote(marker)}" if marker else "")
    servers = list((await p.get(f"{NOVA}/servers/detail?{query}", headers=MICRO))[
        "servers"])
    more = len(servers) > PAGE_SIZE
    servers = servers[:PAGE_SIZE]
    return {"servers": servers, "marker": marker,
            "next_marker": servers[-1]["id"] if more else ""}


async def instances(web: Web, request: Request) -> Response:
    p = await page(web, request)
    return await p.render("instances.html", **await _server_page(p, request))


async def instance_rows(web: Web, request: Request) -> Response:
    p = await page(web, request)
    return conditional(request, await p.render("_instance_rows.html",
                                               **await _server_page(p, request)))


async def launch_form(web: Web, request: Request) -> Response:
    p = await page(web, request)
    images = (await p.get("/image/v2/images"))["images"]
    flavors = (await p.get(f"{NOVA}/flavors/detail"))["flavors"]
    networks = (await p.get(f"{NEUTRON}/networks"))["networks"]
    keypairs = [k["keypair"] for k in (await p.get(f"{NOVA}/os-keypairs"))["keypairs"]]
    groups = (await p.get(f"{NEUTRON}/security-groups?project_id={p.project_id}"))[
        "security_groups"]
    volumes = [v for v in (await p.get(f"/volume/v3/{p.project_id}/volumes/detail"))[
        "volumes"] if v.get("status") == "available"]
    return await p.render("launch.html", images=images, flavors=flavors, networks=networks,
                          keypairs=keypairs, groups=groups, volumes=volumes)


async def launch(web: Web, request: Request) -> Response:
    p = await page(web, request)
    form = await web.form(request, p.session)
    server: dict[str, Any] = {"name": str(form.get("name", "")),
                              "flavorRef": str(form.get("flavor", ""))}
    if form.get("source") == "volume":
        server["imageRef"] = ""
        server["block_device_mapping_v2"] = [{
            "boot_index": 0, "uuid": str(form.get("volume", "")), "source_type": "volume",
            "destination_type": "volume", "delete_on_termination": False}]
    else:
        server["imageRef"] = str(form.get("image", ""))
    network = str(form.get("network", ""))
    server["networks"] = [{"uuid": network}] if network else "none"
    if form.get("key_name"):
        server["key_name"] = str(form["key_name"])
    groups = [str(g) for g in form.getlist("security_groups") if g]
    if groups:
        server["security_groups"] = [{"name": g} for g in groups]
    user_data = str(form.get("user_data", ""))
    if user_data.strip():
        server["user_data"] = base64.b64encode(user_data.encode()).decode()
    await p.post(f"{NOVA}/servers", {"server": server}, headers=MICRO)
    return redirect(f"{p.base}/instances")


async def instance_action(web: Web, request: Request) -> Response:
    p = await page(web, request)
    form = await web.form(request, p.session)
    server_id, action = request.path_params["server_id"], request.path_params["action"]
    back = f"{p.base}/instances/{server_id}"
    if action == "delete":
        await web.client.delete(f"{NOVA}/servers/{server_id}", p.token)
        back = f"{p.base}/instances"
    elif action == "resize":
        await p.post(f"{NOVA}/servers/{server_id}/action",
                     {"resize": {"flavorRef": str(form.get("flavor", ""))}})
    elif action == "snapshot":
        await p.post(f"{NOVA}/servers/{server_id}/action",
                     {"createImage": {"name": str(form.get("name", ""))}}, headers=MICRO)
        back = f"{p.base}/images"
    elif action in ACTIONS:
        await p.post(f"{NOVA}/servers/{server_id}/action", ACTIONS[action])
        back = f"{p.base}/instances" if action in ("start", "stop", "reboot") else back
    else:
        raise ApiError(404, f"There is no instance action {action}.")
    return redirect(back)


async def instance_detail(web: Web, request: Request) -> Response:
    p = await page(web, request)
    server_id = request.path_params["server_id"]
    server = (await p.get(f"{NOVA}/servers/{server_id}", headers=MICRO))["server"]
    try:
        log = (await p.post(f"{NOVA}/servers/{server_id}/action",
                            {"os-getConsoleOutput": {"length": 50}}))["output"]
    except ApiError as exc:
        log = f"(no console log: {exc.message})"
    actions = (await p.get(f"{NOVA}/servers/{server_id}/os-instance-actions",
                           headers=MICRO))["instanceActions"]
    flavors = (await p.get(f"{NOVA}/flavors"))["flavors"]
    return await p.render("instance.html", server=server, console=log, actions=actions,
                          flavors=flavors)


# Volume states that change by themselves: the table polls only while one is shown, so
# it never resets a form a user is filling in on a quiet page.
BUSY = {"creating", "attaching", "detaching", "deleting", "extending", "reserved",
        "downloading", "uploading", "backing-up", "restoring-backup"}


async def _volumes_page(web: Web, request: Request, template: str) -> Response:
    p = await page(web, request)
    vols = (await p.get(f"/volume/v3/{p.project_id}/volumes/detail"))["volumes"]
    servers = await _servers(p)
    names = {s["id"]: s["name"] for s in servers}
    busy = any(v.get("status") in BUSY for v in vols)
    return await p.render(template, volumes=vols, servers=servers, names=names, busy=busy)


async def volumes(web: Web, request: Request) -> Response:
    return await _volumes_page(web, request, "volumes.html")


async def volume_rows(web: Web, request: Request) -> Response:
    return conditional(request, await _volumes_page(web, request, "_volume_rows.html"))


async def volume_create(web: Web, request: Request) -> Response:
    p = await page(web, request)
    form = await web.form(request, p.session)
    try:
        size = int(str(form.get("size", "1")))
    except ValueError as exc:
        raise ApiError(400, "The volume size must be a whole number of GiB.") from exc
    await p.post(f"/volume/v3/{p.project_id}/volumes",
                 {"volume": {"name": str(form.get("name", "")), "size": size}})
    return redirect(f"{p.base}/volumes")


async def volume_action(web: Web, request: Request) -> Response:
    p = await page(web, request)
    form = await web.form(request, p.session)
    volume_id, action = request.path_params["volume_id"], request.path_params["action"]
    server_id = str(form.get("server_id", ""))
    if action == "delete":
        await web.client.delete(f"/volume/v3/{p.project_id}/volumes/{volume_id}", p.token)
    elif action == "attach":
        await p.post(f"{NOVA}/servers/{server_id}/os-volume_attachments",
                     {"volumeAttachment": {"volumeId": volume_id}})
    elif action == "detach":
        await web.client.delete(f"{NOVA}/servers/{server_id}/os-volume_attachments/"
                                f"{volume_id}", p.token)
    else:
        raise ApiError(404, f"There is no volume action {action}.")
    return redirect(f"{p.base}/volumes")


async def networks(web: Web, request: Request) -> Response:
    p = await page(web, request)
    nets = (await p.get(f"{NEUTRON}/networks"))["networks"]
    subnets = {s["id"]: s for s in (await p.get(f"{NEUTRON}/subnets"))["subnets"]}
    return await p.render("networks.html", networks=nets, subnets=subnets)


P = "/project/{project_id}"
ROUTES = [
    (P + "/", overview, ("GET",)),
    (P + "/instances", instances, ("GET",)),
    (P + "/instances/rows", instance_rows, ("GET",)),
    (P + "/instances/launch", launch_form, ("GET",)),
    (P + "/instances/launch", launch, ("POST",)),
    (P + "/instances/{server_id}", instance_detail, ("GET",)),
    (P + "/instances/{server_id}/{action}", instance_action, ("POST",)),
    (P + "/volumes", volumes, ("GET",)),
    (P + "/volumes", volume_create, ("POST",)),
    (P + "/volumes/rows", volume_rows, ("GET",)),
    (P + "/volumes/{volume_id}/{action}", volume_action, ("POST",)),
    (P + "/networks", networks, ("GET",)),
]
