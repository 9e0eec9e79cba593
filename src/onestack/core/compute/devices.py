"""Host devices in the compute model: GPUs as placement inventory and traits, what a flavor
asks of placement through its extra specs, and which GPU each instance was given.

- A host's passthrough-capable GPUs (in an IOMMU group) are its ``PGPU`` inventory, on the
  host's resource provider, with traits naming what they are: ``CUSTOM_GPU_<VENDOR>``,
  ``CUSTOM_GPU_<VENDOR>_<PRODUCT ID>`` (stable: from the PCI id) and ``CUSTOM_GPU_<MODEL>``.
  os-traits has no standard name for "a CUDA GPU" or for GPU models, hence custom ones.
- Flavor extra specs as Nova reads them: ``resources:<CLASS>=<n>`` replaces (or adds) an
  amount, ``trait:<NAME>=required|forbidden``. Numbered groups (``resources1:``) are folded
  into the one request (one host provider, no nested providers yet).
- Placement counts the GPUs; which one an instance gets is decided on its host by the agent
  (``Devices.assign``), recorded per (host, address) so that no device is given twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, or_, select

from onestack.core.compute.base import Store
from onestack.db.models.compute import Instance, InstancePciDevice
from onestack.drivers.devices.base import Gpu, PciDevice, gpus
from onestack.errors import BadRequest, Conflict
from onestack.scheduler.names import MAX_NAME, STANDARD_CLASS_SET, STANDARD_TRAIT_SET, is_custom

GPU_CLASS = "PGPU"
GPU_TRAIT_PREFIX = "CUSTOM_GPU_"  # the traits registration manages on a host's provider
_RESOURCES = re.compile(r"^resources(\d*):(.+)$")
_TRAIT = re.compile(r"^trait(\d*):(.+)$")


def custom_trait(*parts: str) -> str:
    """``CUSTOM_GPU_`` + the parts, upper case, runs of other characters as one ``_``."""
    body = re.sub(r"[^A-Z0-9]+", "_", "_".join(parts).upper()).strip("_")
    return (GPU_TRAIT_PREFIX + body)[:MAX_NAME].rstrip("_")


def device_traits(gpu: Gpu) -> set[str]:
    vendor = gpu.vendor if gpu.vendor != gpu.vendor_id else f"VENDOR_{gpu.vendor_id}"
    out = {custom_trait(vendor), custom_trait(vendor, gpu.product_id)}
    if gpu.model:
        out.add(custom_trait(gpu.model))
    return out


def passthrough_gpus(devices: Iterable[PciDevice]) -> list[Gpu]:
    return [g for g in gpus(list(devices)) if g.passthrough_capable]


def gpu_inventory(devices: Iterable[PciDevice]) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """The host provider's PGPU inventory (empty without a passthrough-capable GPU) and the
    traits of those GPUs."""
    usable = passthrough_gpus(devices)
    if not usable:
        return {}, set()
    n = len(usable)
    inv = {GPU_CLASS: {"total": n, "reserved": 0, "min_unit": 1, "max_unit": n,
                       "step_size": 1, "allocation_ratio": 1.0}}
    return inv, set().union(*(device_traits(g) for g in usable))


# --- flavors ------------------------------------------------------------------------------
def _specs(flavor: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (flavor.get("extra_specs") or {}).items()}


def flavor_resources(flavor: dict[str, Any], base: dict[str, int]) -> dict[str, int]:
    """``base`` (from vcpus, ram, disk) with the flavor's ``resources:`` extra specs applied;
    zero amounts left out. Raises BadRequest for a bad class or amount."""
    out = dict(base)
    extra: dict[str, int] = {}
    for key, value in _specs(flavor).items():
        m = _RESOURCES.match(key)
        if m is None:
            continue
        suffix, rc = m.groups()
        if rc not in STANDARD_CLASS_SET and not is_custom(rc):
            raise BadRequest(f"Invalid resource class {rc!r} in flavor extra spec {key}.")
        if not value.isdigit():
            raise BadRequest(f"Invalid amount {value!r} in flavor extra spec {key}: a "
                             "whole number is required.")
        if suffix:
            extra[rc] = extra.get(rc, 0) + int(value)
        else:
            out[rc] = int(value)
    for rc, n in extra.items():
        out[rc] = out.get(rc, 0) + n
    return {rc: n for rc, n in out.items() if n > 0}


def flavor_traits(flavor: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(required, forbidden) trait names from ``trait:<NAME>=required|forbidden``."""
    required: list[str] = []
    forbidden: list[str] = []
    for key, value in sorted(_specs(flavor).items()):
        m = _TRAIT.match(key)
        if m is None:
            continue
        name = m.group(2)
        if name not in STANDARD_TRAIT_SET and not is_custom(name):
            raise BadRequest(f"Invalid trait {name!r} in flavor extra spec {key}.")
        if value == "required":
            required.append(name)
        elif value == "forbidden":
            forbidden.append(name)
        else:
            raise BadRequest(f"Invalid value {value!r} for flavor extra spec {key}: "
                             "'required' or 'forbidden'.")
    return required, forbidden


def check_flavor_request(flavor: dict[str, Any]) -> None:
    """Refuse (400) a flavor whose placement extra specs cannot be read."""
    flavor_resources(flavor, {})
    flavor_traits(flavor)


def gpus_wanted(flavor: dict[str, Any]) -> tuple[int, set[str]]:
    """How many GPUs an instance of this flavor gets, and the GPU traits it requires."""
    count = flavor_resources(flavor, {}).get(GPU_CLASS, 0)
    required, _forbidden = flavor_traits(flavor)
    return count, {t for t in required if t.startswith(GPU_TRAIT_PREFIX)}


def matching(devices: Iterable[Gpu], required: set[str]) -> list[str]:
    """Addresses of the passthrough-capable GPUs that have every required GPU trait."""
    return [g.address for g in devices if g.passthrough_capable
            and required <= device_traits(g)]


# --- assignment ---------------------------------------------------------------------------
class Devices(Store):
    async def assign(self, uuid: str, host: str, count: int, candidates: list[str]
                     ) -> list[str]:
        """The addresses of ``count`` devices of ``host`` for instance ``uuid``: those it
        has already when they are still right, else free ones among ``candidates`` (rows
        of deleted instances or of instances now elsewhere are freed on the way)."""
        async with self.write("The device was given to another instance at the same "
                              "time; please retry.") as s:
            stale = select(Instance.uuid).where(or_(Instance.deleted.is_(True),
                                                    Instance.host != host))
            await s.execute(delete(InstancePciDevice).where(
                InstancePciDevice.host == host, InstancePciDevice.instance_uuid.in_(stale)))
            await s.execute(delete(InstancePciDevice).where(
                InstancePciDevice.instance_uuid == uuid, InstancePciDevice.host != host))
            rows = (await s.execute(select(InstancePciDevice.address, InstancePciDevice
                                           .instance_uuid).where(
                InstancePciDevice.host == host))).all()
            mine = sorted(a for a, owner in rows if owner == uuid)
            if len(mine) == count and set(mine) <= set(candidates):
                return mine
            if mine:
                await s.execute(delete(InstancePciDevice).where(
                    InstancePciDevice.instance_uuid == uuid))
            taken = {a for a, owner in rows if owner != uuid}
            free = [a for a in sorted(candidates) if a not in taken]
            if len(free) < count:
                raise Conflict(f"host {host} has {len(free)} free matching GPU(s) of "
                               f"{len(candidates)}; the instance needs {count}")
            chosen = free[:count]
            s.add_all(InstancePciDevice(host=host, address=a, instance_uuid=uuid)
                      for a in chosen)
            return chosen

    async def release(self, uuid: str) -> None:
        async with self.write() as s:
            await s.execute(delete(InstancePciDevice).where(
                InstancePciDevice.instance_uuid == uuid))

    async def assigned(self, uuid: str) -> list[str]:
        async with self.db.read() as s:
            return sorted((await s.execute(select(InstancePciDevice.address).where(
                InstancePciDevice.instance_uuid == uuid))).scalars())
