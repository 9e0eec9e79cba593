"""The agent link's pieces: credential secrets and their hashes, the plain values that
cross the wire, and how HttpLink turns the controller's answers into the core's errors."""

from __future__ import annotations

import json

import httpx
import pytest

from onestack.agent.http_link import HttpLink
from onestack.agent.link import InstanceWork, KnownInstance, device_from, to_json
from onestack.core.compute.agent_credentials import (
    HOST_NAME,
    PREFIX,
    hash_secret,
    new_secret,
)
from onestack.core.compute.volumes import VolumeDisk
from onestack.drivers.devices.base import Gpu, PciDevice
from onestack.drivers.virt.base import VirtError
from onestack.errors import Conflict, Forbidden, Unauthorized


def test_secrets_are_random_and_only_their_hash_is_kept() -> None:
    a, b = new_secret(), new_secret()
    assert a != b and a.startswith(PREFIX) and len(a) > 40
    assert hash_secret(a) == hash_secret(a) != hash_secret(b)
    assert len(hash_secret(a)) == 64 and a not in hash_secret(a)


def test_host_names_are_one_path_segment() -> None:
    assert all(HOST_NAME.fullmatch(h) for h in ("compute-1", "c1.example.com", "a_b"))
    assert not any(HOST_NAME.fullmatch(h) for h in ("", "a/b", "..", "a b", "x" * 256))


def test_values_round_trip_as_json() -> None:
    work = InstanceWork(uuid="u1", project_id="p", host="h", name="vm", hostname="vm",
                        vm_state="building", task_state="spawning", power_state=0,
                        image_ref="img", config_drive="", flavor={"vcpus": 1},
                        task_args={"made_volumes": ["v"]})
    assert InstanceWork(**json.loads(json.dumps(to_json(work)))) == work
    disk = VolumeDisk("b", "v", "/dev/vdb", "attached", "/x", "qcow2", False, 0)
    assert VolumeDisk(**json.loads(json.dumps(to_json(disk)))) == disk
    gpu = Gpu("0000:17:00.0", "10de", "2335", "030200", model="NVIDIA H200")
    assert device_from(to_json(gpu)) == gpu
    dev = PciDevice("0000:00:02.0", "8086", "1234", "030000")
    assert type(device_from(to_json(dev))) is PciDevice


def _link(status: int, body: dict[str, object], headers: dict[str, str] | None = None,
          seen: list[httpx.Request] | None = None) -> HttpLink:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, json=body, headers=headers)
    return HttpLink("http://controller:5000/", "osagent-s3cret",
                    transport=httpx.MockTransport(handler))


async def test_calls_carry_the_credential_to_the_host_path() -> None:
    seen: list[httpx.Request] = []
    link = _link(200, {"instances": {"u": {"uuid": "u", "host": "h1", "deleted": False}}},
                 seen=seen)
    got = await link.known("h1", ["u"])
    assert got == {"u": KnownInstance("u", "h1", False)}
    assert seen[0].url.path == "/internal/agent/v1/hosts/h1/known"
    assert seen[0].headers["authorization"] == "Bearer osagent-s3cret"
    await link.close()


@pytest.mark.parametrize(("status", "headers", "error"), [
    (401, None, Unauthorized), (403, None, Forbidden), (409, None, Conflict),
    (409, {"X-Onestack-Agent-Error": "build"}, VirtError)])
async def test_errors_map_to_the_core_ones(status: int, headers: dict[str, str] | None,
                                           error: type[Exception]) -> None:
    link = _link(status, {"error": {"code": status, "message": "no GPU left"}}, headers)
    with pytest.raises(error, match="no GPU left"):
        await link.assign_devices("h1", "u", 1, [])
    await link.close()
