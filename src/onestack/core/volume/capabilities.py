"""What each backend offers, as Cinder's drivers report it: the capabilities the scheduler
matches a volume type's extra specs against (Cinder's CapabilitiesFilter), the pools view
and ``/capabilities/{host}``."""

from __future__ import annotations

from typing import Any

from onestack.drivers.storage import VolumeDriver

PROTOCOLS = {"rbd": "ceph", "file": "file", "fake": "fake"}  # Cinder's storage_protocol
VENDOR = "Open Source"
DRIVER_VERSION = "1.0.0"
# the unscoped extra specs this scheduler matches; any other key is left to the backend
MATCHED = ("storage_protocol", "vendor_name", "volume_backend_name", "QoS_support",
           "multiattach", "thin_provisioning_support", "thick_provisioning_support")


def static(driver: VolumeDriver) -> dict[str, Any]:
    """The capabilities that do not need the backend to answer (no capacity)."""
    return {"pool_name": driver.backend, "volume_backend_name": driver.backend,
            "vendor_name": VENDOR, "driver_version": DRIVER_VERSION,
            "storage_protocol": PROTOCOLS.get(driver.name, driver.name),
            "QoS_support": False, "multiattach": False,
            "thin_provisioning_support": True, "thick_provisioning_support": False}


def _same(wanted: str, have: Any) -> bool:
    if isinstance(have, bool):
        return wanted.strip().lower() in (("<is> true", "true") if have else
                                          ("<is> false", "false"))
    return wanted.strip() == str(have)


def satisfies(specs: dict[str, str], driver: VolumeDriver) -> bool:
    """Whether a backend meets a type's extra specs: each unscoped (or ``capabilities:``)
    key this scheduler knows must equal the backend's value; vendor-scoped keys
    (``foo:bar``) are the backend's business, as in Cinder."""
    caps = static(driver)
    for key, wanted in specs.items():
        name = key.removeprefix("capabilities:")
        if ":" in name or name not in MATCHED:
            continue
        if not _same(str(wanted), caps[name]):
            return False
    return True


def show(driver: VolumeDriver, service_host: str) -> dict[str, Any]:
    """``GET /capabilities/{host}``: Cinder's get_capabilities answer for one backend."""
    caps = static(driver)
    prop = {"compression": ("Compression", "Enables compression."),
            "qos": ("QoS", "Enables QoS."),
            "replication": ("Replication", "Enables replication."),
            "thin_provisioning": ("Thin Provisioning", "Sets thin provisioning.")}
    return {"namespace": f"OS::Storage::Capabilities::{service_host}",
            "vendor_name": caps["vendor_name"], "driver_version": caps["driver_version"],
            "volume_backend_name": caps["volume_backend_name"],
            "pool_name": caps["pool_name"], "storage_protocol": caps["storage_protocol"],
            "display_name": f"Capabilities of the Onestack {driver.name} volume driver",
            "description": None, "visibility": None, "replication_targets": [],
            "properties": {k: {"title": t, "description": d, "type": "boolean"}
                           for k, (t, d) in prop.items()}}
