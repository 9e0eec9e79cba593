"""The compute agent's link to a controller over HTTP: ``onestack agent`` on another machine.

Each call is one request to the controller's internal agent API (``/internal/agent/v1``,
``api/internal/routes.py``) with the host's credential as a bearer token. A failure of the
work itself comes back as a 409 marked ``X-Onestack-Agent-Error: build`` and is raised here
as the ``VirtError`` the local core would have raised; a 409 otherwise is a ``Conflict``.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from onestack import __version__
from onestack.agent import protocol
from onestack.agent.link import AgentLink, InstanceWork, KnownInstance, to_json
from onestack.agent.network_state import Snapshot, snapshot_from_json
from onestack.core.compute.volumes import VolumeDisk
from onestack.drivers.devices.base import PciDevice
from onestack.drivers.virt.base import HostInfo, VirtError
from onestack.errors import Conflict, Forbidden, NotFound, OnestackError, Unauthorized

PREFIX = "/internal/agent/v1"
ERROR_KIND = "x-onestack-agent-error"
ERRORS: dict[int, type[OnestackError]] = {401: Unauthorized, 403: Forbidden, 404: NotFound,
                                          409: Conflict}


class LinkError(OnestackError):
    """The controller answered with an unexpected error."""


def raise_for(response: httpx.Response, body: bytes) -> None:
    if response.status_code < 400:
        return
    try:
        message = str(httpx.Response(200, content=body).json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = body[:200].decode(errors="replace") or response.reason_phrase
    if response.headers.get(ERROR_KIND) == "build":
        raise VirtError(message)
    raise ERRORS.get(response.status_code, LinkError)(
        f"controller: {response.status_code} {message}")


class HttpLink(AgentLink):
    def __init__(self, controller: str, secret: str, *, verify: bool | str = True,
                 timeout: float = 60.0, transport: httpx.AsyncBaseTransport | None = None
                 ) -> None:
        self.client = httpx.AsyncClient(
            base_url=controller.rstrip("/") + PREFIX, verify=verify, transport=transport,
            timeout=httpx.Timeout(timeout, connect=10.0),
            headers={"Authorization": f"Bearer {secret}",
                     protocol.HEADER: str(protocol.PROTOCOL)})
        self.host_ip = ""  # this host's tunnel address, sent when it registers
        self._asks: list[dict[str, Any]] = []  # questions that came with the last wake

    polls_for_work = True

    async def wait_for_work(self, host: str, timeout: float) -> bool:
        body = await self._call("GET", f"/hosts/{host}/work?wait={timeout:g}")
        self._asks += [a for a in body.get("asks") or [] if isinstance(a, dict)]
        return bool(body.get("wake"))

    def take_asks(self, host: str) -> list[dict[str, Any]]:
        asks, self._asks = self._asks, []
        return asks

    async def answer(self, host: str, uuid: str, ask_id: str, output: str | None,
                     error: str | None) -> None:
        await self._call("POST", self._i(host, uuid, "answer"),
                         {"id": ask_id, "output": output, "error": error})

    async def close(self) -> None:
        await self.client.aclose()

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.client.request(method, path, json=body)
        raise_for(response, response.content)
        return response.json() if response.content else {}

    @staticmethod
    def _i(host: str, uuid: str, what: str) -> str:
        return f"/hosts/{host}/instances/{uuid}/{what}"

    async def register(self, info: HostInfo, devices: Sequence[PciDevice] = (),
                       host_ip: str = "") -> None:
        body: dict[str, Any] = {"info": to_json(info), "devices": [to_json(d) for d in devices]}
        if host_ip or self.host_ip:
            body["host_ip"] = host_ip or self.host_ip
        await self._call("POST", f"/hosts/{info.hostname}/register", body)

    async def heartbeat(self, host: str) -> None:
        await self._call("POST", f"/hosts/{host}/heartbeat", {"version": __version__})

    async def schedule_pending(self, host: str, older_than: float) -> None:
        await self._call("POST", f"/hosts/{host}/schedule-pending",
                         {"older_than": older_than})

    async def instances(self, host: str) -> list[InstanceWork]:
        body = await self._call("GET", f"/hosts/{host}/instances")
        return [InstanceWork(**i) for i in body["instances"]]

    async def known(self, host: str, uuids: list[str]) -> dict[str, KnownInstance]:
        body = await self._call("POST", f"/hosts/{host}/known", {"uuids": uuids})
        return {u: KnownInstance(**r) for u, r in body["instances"].items()}

    async def observe(self, host: str, uuid: str, power_state: int) -> str | None:
        body = await self._call("POST", self._i(host, uuid, "observe"),
                                {"power_state": power_state})
        changed = body.get("vm_state")
        return None if changed is None else str(changed)

    async def complete(self, host: str, uuid: str, task: str, power_state: int | None,
                       updates: dict[str, Any] | None) -> bool:
        body = await self._call("POST", self._i(host, uuid, "complete"), {
            "task": task, "power_state": power_state, "updates": updates})
        return bool(body.get("done"))

    async def fail(self, host: str, uuid: str, task: str, message: str) -> None:
        await self._call("POST", self._i(host, uuid, "fail"),
                         {"task": task, "message": message})

    async def live_migration_step(self, host: str, uuid: str, step: str,
                                  dest: dict[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"step": step}
        if dest is not None:
            body["dest"] = dest
        await self._call("POST", self._i(host, uuid, "live-migration"), body)

    async def volume_disks(self, host: str, uuids: list[str]
                           ) -> dict[str, list[VolumeDisk]]:
        if not uuids:
            return {}
        body = await self._call("POST", f"/hosts/{host}/volume-disks", {"uuids": uuids})
        return {u: [VolumeDisk(**d) for d in ds] for u, ds in body["disks"].items()}

    async def volume_done(self, host: str, uuid: str, disk: VolumeDisk, outcome: str
                          ) -> None:
        # the mapping's id only: the controller reads its own record (and an encrypted
        # volume's passphrase goes no further than this host)
        await self._call("POST", self._i(host, uuid, "volume-done"),
                         {"disk": {"bdm_id": disk.bdm_id}, "outcome": outcome})

    async def prepare_boot_volumes(self, host: str, uuid: str) -> None:
        await self._call("POST", self._i(host, uuid, "boot-volumes/prepare"))

    async def abort_boot_volumes(self, host: str, uuid: str, made: list[str]) -> None:
        await self._call("POST", self._i(host, uuid, "boot-volumes/abort"), {"made": made})

    async def assign_devices(self, host: str, uuid: str, count: int,
                             candidates: list[str]) -> list[str]:
        body = await self._call("POST", self._i(host, uuid, "devices"),
                                {"count": count, "candidates": candidates})
        return [str(a) for a in body["addresses"]]

    async def release_devices(self, host: str, uuid: str) -> None:
        await self._call("DELETE", self._i(host, uuid, "devices"))

    async def nics(self, host: str, uuid: str) -> list[dict[str, Any]]:
        return list((await self._call("GET", self._i(host, uuid, "nics")))["nics"])

    async def image_format(self, host: str, uuid: str) -> str:
        body = await self._call("GET", self._i(host, uuid, "image-format"))
        return str(body["disk_format"])

    async def image_data(self, host: str, uuid: str) -> AsyncIterator[bytes]:
        async with self.client.stream("GET", self._i(host, uuid, "image")) as response:
            if response.status_code >= 400:
                raise_for(response, await response.aread())
            async for chunk in response.aiter_bytes():
                yield chunk

    async def upload_snapshot(self, host: str, uuid: str, chunks: AsyncIterator[bytes]
                              ) -> None:
        response = await self.client.put(self._i(host, uuid, "snapshot"), content=chunks)
        raise_for(response, response.content)

    async def upload_migration_disk(self, host: str, uuid: str,
                                    chunks: AsyncIterator[bytes]) -> None:
        response = await self.client.put(self._i(host, uuid, "migration-disk"),
                                         content=chunks, timeout=None)
        raise_for(response, response.content)

    async def migration_disk(self, host: str, uuid: str) -> AsyncIterator[bytes]:
        async with self.client.stream("GET", self._i(host, uuid, "migration-disk"),
                                      timeout=None) as response:
            if response.status_code >= 400:
                raise_for(response, await response.aread())
            async for chunk in response.aiter_bytes():
                yield chunk

    async def config_drive(self, host: str, uuid: str) -> dict[str, bytes] | None:
        files = (await self._call("GET", self._i(host, uuid, "config-drive")))["files"]
        if files is None:
            return None
        return {k: base64.b64decode(v) for k, v in files.items()}


class HttpNetworkState:
    """The network agent's state on a remote compute host: the declared state read from
    the controller, its ports' status written back there."""

    def __init__(self, link: HttpLink, host: str) -> None:
        self.link, self.host = link, host

    async def load(self) -> Snapshot:
        body = await self.link._call("GET", f"/hosts/{self.host}/network")
        try:
            return snapshot_from_json(body)
        except (KeyError, TypeError, ValueError) as exc:
            raise LinkError(f"controller: a malformed network state: {exc}") from exc

    async def set_status(self, port_ids: list[str], status: str) -> None:
        if port_ids:
            await self.link._call("POST", f"/hosts/{self.host}/ports/status",
                                  {"ports": port_ids, "status": status})

    async def ensure_dhcp_port(self, network_id: str, host: str) -> bool:
        return False  # the network node's work

    async def set_fip_status(self, fip_ids: list[str], status: str) -> None:
        return None  # the network node's work
