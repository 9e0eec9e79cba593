"""The internal agent API: ``/internal/agent/v1/hosts/{host}/...``, what ``onestack agent``
on another machine calls through ``HttpLink`` (``agent/http_link.py``).

No Keystone token: the agent presents its host's credential (``onestack manage
agent-credential create --host NAME``) as ``Authorization: Bearer <secret>``. A missing or
unknown credential gets 401; a credential used for another host's path, or for an instance
not on its host, gets 403. Every handler is one call of the ``LocalLink`` the all-in-one
agent uses, so both modes run the same control-side code. Not in the catalog.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.responses import JSONResponse, Response, StreamingResponse

from onestack.agent import protocol
from onestack.agent.link import VOLUME_OUTCOMES, LocalLink, device_from
from onestack.api.common.request import ApiRequest
from onestack.api.common.routing import Route, ServiceApi
from onestack.api.internal import network, schemas
from onestack.core.compute import states
from onestack.core.compute.boot_volumes import BuildFailed
from onestack.core.identity.bootstrap import ServiceEntry
from onestack.drivers.virt.base import HostInfo, VirtError
from onestack.errors import BadRequest, Conflict, Forbidden, OnestackError, Unauthorized

LOG = logging.getLogger(__name__)
RULES: list[Any] = []
PREFIX = "/internal/agent/v1"  # what agents call
BASE = "/agent/v1"  # the same, below the service prefix
ERROR_KIND = "X-Onestack-Agent-Error"  # "build": the agent's work failed (VirtError there)
MAX_WAIT = 60.0  # seconds a work long poll is held at most
POLL_SLICE = 1.0  # seconds between checks that the long-polling caller is still there

Handler = Callable[[ApiRequest, LocalLink, str], Awaitable[Response]]


def render(exc: OnestackError, _req: ApiRequest | None) -> tuple[dict[str, Any],
                                                                  dict[str, str]]:
    return {"error": {"code": exc.status, "message": exc.message}}, dict(exc.headers)


async def _host(req: ApiRequest) -> str:
    """The host the credential belongs to, which must be the host of the path."""
    auth = req.http.headers.get("authorization", "")
    scheme, _, secret = auth.partition(" ")
    host = None
    if scheme.lower() == "bearer" and secret.strip():
        host = await req.runtime.compute.agent_credentials.host_for(secret.strip())
    if host is None:
        raise Unauthorized("The internal agent API needs a valid host credential "
                           "(Authorization: Bearer ...).", headers={"WWW-Authenticate": "Bearer"})
    if host != req.params.get("host"):
        raise Forbidden(f"The credential of host {host} cannot act for host "
                        f"{req.params.get('host')}.")
    return host


async def _owned(req: ApiRequest, host: str, uuids: list[str]) -> None:
    """Each instance is on the host, or being live-migrated to it."""
    rows = await req.runtime.agent_link.known(host, uuids)
    incoming: set[str] | None = None
    for uuid in uuids:
        row = rows.get(uuid)
        if row is None:
            raise Forbidden(f"Instance {uuid} is not on host {host}.")
        if row.host == host:
            continue
        if incoming is None:
            incoming = {i.uuid for i in await req.runtime.compute.migrations.incoming(host)}
        if uuid not in incoming:
            raise Forbidden(f"Instance {uuid} is not on host {host}.")


def agent(handler: Handler, instance: bool = False) -> Callable[[ApiRequest],
                                                                Awaitable[Response]]:
    """Authenticate the host (and the instance of the path), then run the handler; a
    failure of the work itself (VirtError, BuildFailed) is a 409 marked for the agent."""
    async def run(req: ApiRequest) -> Response:
        host = await _host(req)
        protocol.check(protocol.of(req.http.headers.get(protocol.HEADER)))
        if instance:
            await _owned(req, host, [req.params["uuid"]])
        try:
            return await handler(req, req.runtime.agent_link, host)
        except (VirtError, BuildFailed) as exc:
            raise Conflict(str(exc) or type(exc).__name__,
                           headers={ERROR_KIND: "build"}) from exc
    return run


def _ok(body: Any = None) -> Response:
    return JSONResponse(body if body is not None else {})


async def _body(req: ApiRequest, schema: dict[str, Any]) -> dict[str, Any]:
    body = await req.json(schema, required=False)
    return body if isinstance(body, dict) else {}


# --- handlers ------------------------------------------------------------------------------
async def register(req: ApiRequest, link: LocalLink, host: str) -> Response:
    body = await _body(req, schemas.register)
    try:
        info = HostInfo(**body["info"])
        devices = [device_from(d) for d in body.get("devices") or []]
    except (KeyError, TypeError) as exc:
        raise BadRequest(f"Malformed host registration: {exc}.") from exc
    if info.hostname != host:
        raise Forbidden(f"Host {host} cannot register host {info.hostname}.")
    host_ip = str(body.get("host_ip") or "127.0.0.1")
    try:
        ipaddress.ip_address(host_ip)
    except ValueError as exc:
        raise BadRequest(f"host_ip {host_ip!r} is not an IP address.") from exc
    await link.register(info, devices, host_ip)
    return _ok()


_RELEASES: dict[str, tuple[int, str]] = {}  # host -> what its agent last said it runs


async def heartbeat(req: ApiRequest, link: LocalLink, host: str) -> Response:
    sent = await req.json(required=False)  # none from an agent from before the version
    b = await req.json(schemas.heartbeat) if sent is not None else {}
    said = (protocol.of(req.http.headers.get(protocol.HEADER)),
            str(b.get("version") or "before the version field"))
    if _RELEASES.get(host) != said:
        _RELEASES[host] = said
        (LOG.warning if said[0] < protocol.PROTOCOL else LOG.info)(
            "agent of host %s: Onestack %s, agent protocol %d (this controller: %d)",
            host, said[1], said[0], protocol.PROTOCOL)
    await link.heartbeat(host)
    return _ok()


async def schedule_pending(req: ApiRequest, link: LocalLink, host: str) -> Response:
    body = await _body(req, schemas.schedule_pending)
    await link.schedule_pending(host, float(body.get("older_than") or 5))
    return _ok()


async def work(req: ApiRequest, link: LocalLink, host: str) -> Response:
    """Long poll: answers when new work for the host is written (by any API process) or
    after ``wait`` seconds (at most 60)."""
    try:
        wait = min(max(float(req.query.get("wait") or 25), 0.0), MAX_WAIT)
    except ValueError as exc:
        raise BadRequest("wait must be a number of seconds.") from exc
    deadline = time.monotonic() + wait
    while True:  # in slices, to let go of a caller that went away (a killed agent)
        left = deadline - time.monotonic()
        if await link.wait_for_work(host, max(min(POLL_SLICE, left), 0.0)):
            return _ok({"wake": True, "asks": link.take_asks(host)})
        if left <= POLL_SLICE or await req.http.is_disconnected():
            return _ok({"wake": False})


async def instances(req: ApiRequest, link: LocalLink, host: str) -> Response:
    return _ok({"instances": [protocol.wire(i) for i in await link.instances(host)]})


async def known(req: ApiRequest, link: LocalLink, host: str) -> Response:
    rows = await link.known(host, (await _body(req, schemas.uuids))["uuids"])
    return _ok({"instances": {u: protocol.wire(r) for u, r in rows.items()}})


async def observe(req: ApiRequest, link: LocalLink, host: str) -> Response:
    body = await _body(req, schemas.observe)
    changed = await link.observe(host, req.params["uuid"], int(body["power_state"]))
    return _ok({"vm_state": changed})


async def complete(req: ApiRequest, link: LocalLink, host: str) -> Response:
    b = await _body(req, schemas.complete)
    if b["task"] not in states.DONE:
        raise BadRequest(f"{b['task']} is not a task an agent finishes.")
    power = b.get("power_state")
    done = await link.complete(host, req.params["uuid"], str(b["task"]),
                               None if power is None else int(power), b.get("updates"))
    return _ok({"done": done})


async def fail(req: ApiRequest, link: LocalLink, host: str) -> Response:
    b = await _body(req, schemas.fail)
    await link.fail(host, req.params["uuid"], str(b["task"]), str(b.get("message") or ""))
    return _ok()


async def answer(req: ApiRequest, link: LocalLink, host: str) -> Response:
    b = await _body(req, schemas.answer)
    await link.answer(host, req.params["uuid"], str(b["id"]), b.get("output"), b.get("error"))
    return _ok()


async def live_migration(req: ApiRequest, link: LocalLink, host: str) -> Response:
    b = await _body(req, schemas.live_step)
    await link.live_migration_step(host, req.params["uuid"], str(b["step"]), b.get("dest"))
    return _ok()


async def volume_disks(req: ApiRequest, link: LocalLink, host: str) -> Response:
    uuids = (await _body(req, schemas.uuids))["uuids"]
    await _owned(req, host, uuids)
    disks = await link.volume_disks(host, uuids)
    agent_protocol = protocol.of(req.http.headers.get(protocol.HEADER))
    return _ok({"disks": {u: [protocol.wire(d) for d in ds
                              if protocol.understands(agent_protocol, d)]
                          for u, ds in disks.items()}})


async def volume_done(req: ApiRequest, link: LocalLink, host: str) -> Response:
    b = await _body(req, schemas.volume_done)
    if b["outcome"] not in VOLUME_OUTCOMES:
        raise BadRequest(f"outcome must be one of {', '.join(VOLUME_OUTCOMES)}.")
    uuid, bdm_id = req.params["uuid"], str(b["disk"]["bdm_id"])
    # The controller's own record of the volume, not the agent's copy of it.
    disk = next((d for d in (await link.volume_disks(host, [uuid])).get(uuid, [])
                 if d.bdm_id == bdm_id), None)
    if disk is None:
        raise Forbidden(f"Volume mapping {bdm_id} is not on instance {uuid}.")
    await link.volume_done(host, uuid, disk, str(b["outcome"]))
    return _ok()


async def prepare_boot_volumes(req: ApiRequest, link: LocalLink, host: str) -> Response:
    await link.prepare_boot_volumes(host, req.params["uuid"])
    return _ok()


async def abort_boot_volumes(req: ApiRequest, link: LocalLink, host: str) -> Response:
    made = (await _body(req, schemas.abort)).get("made") or []
    await link.abort_boot_volumes(host, req.params["uuid"], [str(m) for m in made])
    return _ok()


async def assign_devices(req: ApiRequest, link: LocalLink, host: str) -> Response:
    b = await _body(req, schemas.devices)
    got = await link.assign_devices(host, req.params["uuid"], int(b["count"]),
                                    [str(c) for c in b.get("candidates") or []])
    return _ok({"addresses": got})


async def release_devices(req: ApiRequest, link: LocalLink, host: str) -> Response:
    await link.release_devices(host, req.params["uuid"])
    return _ok()


async def nics(req: ApiRequest, link: LocalLink, host: str) -> Response:
    return _ok({"nics": await link.nics(host, req.params["uuid"])})


async def image_format(req: ApiRequest, link: LocalLink, host: str) -> Response:
    return _ok({"disk_format": await link.image_format(host, req.params["uuid"])})


async def image_data(req: ApiRequest, link: LocalLink, host: str) -> Response:
    return await _stream(link.image_data(host, req.params["uuid"]))


async def migration_disk(req: ApiRequest, link: LocalLink, host: str) -> Response:
    return await _stream(link.migration_disk(host, req.params["uuid"]))


async def upload_migration_disk(req: ApiRequest, link: LocalLink, host: str) -> Response:
    await link.upload_migration_disk(host, req.params["uuid"], req.http.stream())
    return _ok()


async def _stream(chunks: AsyncIterator[bytes]) -> Response:
    first = await anext(chunks, b"")  # errors (no data) before the answer starts

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk
    return StreamingResponse(body(), media_type="application/octet-stream")


async def upload_snapshot(req: ApiRequest, link: LocalLink, host: str) -> Response:
    await link.upload_snapshot(host, req.params["uuid"], req.http.stream())
    return _ok()


async def config_drive(req: ApiRequest, link: LocalLink, host: str) -> Response:
    files = await link.config_drive(host, req.params["uuid"])
    if files is None:
        return _ok({"files": None})
    return _ok({"files": {k: base64.b64encode(v).decode() for k, v in files.items()}})


H = "/hosts/{host}"
I = H + "/instances/{uuid}"  # noqa: E741
ROUTES = [
    Route("POST", f"{BASE}{H}/register", agent(register), auth=False),
    Route("POST", f"{BASE}{H}/heartbeat", agent(heartbeat), auth=False),
    Route("POST", f"{BASE}{H}/schedule-pending", agent(schedule_pending), auth=False),
    Route("GET", f"{BASE}{H}/work", agent(work), auth=False),
    Route("GET", f"{BASE}{H}/instances", agent(instances), auth=False),
    Route("POST", f"{BASE}{H}/known", agent(known), auth=False),
    Route("POST", f"{BASE}{H}/volume-disks", agent(volume_disks), auth=False),
    Route("POST", f"{BASE}{I}/observe", agent(observe, True), auth=False),
    Route("POST", f"{BASE}{I}/complete", agent(complete, True), auth=False),
    Route("POST", f"{BASE}{I}/fail", agent(fail, True), auth=False),
    Route("POST", f"{BASE}{I}/volume-done", agent(volume_done, True), auth=False),
    Route("POST", f"{BASE}{I}/live-migration", agent(live_migration, True), auth=False),
    Route("POST", f"{BASE}{I}/answer", agent(answer, True), auth=False),
    Route("POST", f"{BASE}{I}/boot-volumes/prepare", agent(prepare_boot_volumes, True),
          auth=False),
    Route("POST", f"{BASE}{I}/boot-volumes/abort", agent(abort_boot_volumes, True),
          auth=False),
    Route("POST", f"{BASE}{I}/devices", agent(assign_devices, True), auth=False),
    Route("DELETE", f"{BASE}{I}/devices", agent(release_devices, True), auth=False),
    Route("GET", f"{BASE}{I}/nics", agent(nics, True), auth=False),
    Route("GET", f"{BASE}{I}/image-format", agent(image_format, True), auth=False),
    Route("GET", f"{BASE}{I}/image", agent(image_data, True), auth=False),
    Route("PUT", f"{BASE}{I}/snapshot", agent(upload_snapshot, True), auth=False),
    Route("GET", f"{BASE}{I}/config-drive", agent(config_drive, True), auth=False),
    Route("GET", f"{BASE}{I}/migration-disk", agent(migration_disk, True), auth=False),
    Route("PUT", f"{BASE}{I}/migration-disk", agent(upload_migration_disk, True),
          auth=False),
    Route("GET", f"{BASE}{H}/network", agent(network.network), auth=False),
    Route("POST", f"{BASE}{H}/ports/status", agent(network.set_port_status), auth=False),
]

SERVICE = ServiceApi(name="internal", prefix="/internal", routes=ROUTES, render_fault=render)


def catalog_entries(base_url: str) -> list[ServiceEntry]:
    del base_url
    return []  # internal: agents are configured with the controller's URL


__all__ = ["ERROR_KIND", "PREFIX", "RULES", "SERVICE", "catalog_entries"]
