"""The volume core, assembled: one object the API layer calls."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select

from onestack.config import Settings
from onestack.core.image.service import ImageService
from onestack.core.volume import capabilities
from onestack.core.volume.actions import Actions
from onestack.core.volume.admin_views import AdminViews
from onestack.core.volume.attachments import Attachments
from onestack.core.volume.base import DEFAULT_AZ, Store
from onestack.core.volume.encryption import TypeEncryptions
from onestack.core.volume.group_types import GroupTypes
from onestack.core.volume.messages import Messages
from onestack.core.volume.qos import QosSpecs
from onestack.core.volume.quotas import Quotas
from onestack.core.volume.snapshots import Snapshots
from onestack.core.volume.types import VolumeTypes
from onestack.core.volume.volumes import Volumes
from onestack.core.volume.worker import HEARTBEAT, Worker
from onestack.db.engine import Database
from onestack.db.models.base import utcnow
from onestack.db.models.volume import Volume
from onestack.db.models.volume import VolumeService as ServiceRow
from onestack.drivers.storage import (
    DRIVERS,
    FileVolumeDriver,
    RbdVolumeDriver,
    StorageError,
    VolumeDriver,
)
from onestack.errors import BadRequest, ConfigError, NotFound

log = logging.getLogger(__name__)
POOL_TIMEOUT = 30.0  # seconds a backend has to report its capacity


def make_drivers(settings: Settings) -> dict[str, VolumeDriver]:
    """Every backend ``[volume] backends`` names (else ``driver`` alone), by backend name,
    the first first."""
    names = settings.volume.backends or [settings.volume.driver]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError("[volume] backends must be a list of driver names, like "
                          "[\"file\", \"rbd\"]")
    drivers: dict[str, VolumeDriver] = {}
    for name in names:
        driver = make_driver(settings, name)
        if driver.backend in drivers:
            raise ConfigError(f"[volume] backends names {driver.backend!r} twice")
        drivers[driver.backend] = driver
    return drivers


def make_driver(settings: Settings, name: str | None = None) -> VolumeDriver:
    name = name or settings.volume.driver
    cls = DRIVERS.get(name)
    if cls is None:
        log.warning("volume driver %r is not known (known: %s); using 'fake': volumes are "
                    "kept in memory", name, ", ".join(sorted(DRIVERS)))
        cls = DRIVERS["fake"]
    if cls is FileVolumeDriver:
        return FileVolumeDriver(settings.volumes_path)
    if cls is RbdVolumeDriver:
        return RbdVolumeDriver.from_config(settings.volume)
    return cls()


class VolumeService:
    def __init__(self, settings: Settings, db: Database, image: ImageService,
                 driver: VolumeDriver | None = None) -> None:
        self.settings = settings
        self.store = Store(db)
        self.drivers = {driver.backend: driver} if driver else make_drivers(settings)
        self.worker = Worker(self.store, self.drivers, image, DEFAULT_AZ)
        self.driver = self.worker.driver
        self.types = VolumeTypes(self.store, settings.volume.default_volume_type)
        self.quotas = Quotas(self.store)
        # encrypted volumes: their keys (the runtime gives them the key manager) and
        # the types' encryption specs
        self.keys = self.worker.keys
        self.encryption = TypeEncryptions(self.store, self.types)
        self.volumes = Volumes(self.store, self.types, self.quotas, self.worker, image,
                               self.keys)
        self.snapshots = Snapshots(self.store, self.quotas, self.worker)
        self.actions = Actions(self.store, self.quotas, self.worker, image)
        self.attachments = Attachments(self.store, self.worker)
        self.messages = Messages(self.store)
        self.qos = QosSpecs(self.store, self.types)
        self.admin = AdminViews(self.store, self.worker, self.quotas)
        self.group_types = GroupTypes(self.store)

    async def start(self) -> None:
        await self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()

    async def bootstrap(self, progress: Callable[[str], None] = lambda _m: None) -> None:
        """Idempotent: the default volume type."""
        await self.types.ensure_default(progress)

    # --- scheduler-stats/get_pools ----------------------------------------------------------
    async def pools(self) -> list[dict[str, Any]]:
        """Each backend as Cinder's scheduler reports it (one pool per backend), capacity
        from the backend itself; a backend that does not answer shows ``unknown`` and
        ``backend_state: down`` (the API stays up)."""
        async with self.store.db.read() as s:
            allocated = {h: int(n or 0) for h, n in (await s.execute(
                select(Volume.host, func.sum(Volume.size)).group_by(Volume.host))).all()}
        out = []
        for backend, driver in self.drivers.items():
            host = self.worker.host_of(backend)
            total: int | str
            free: int | str
            try:
                total, free = await asyncio.wait_for(driver.capacity_gb(), POOL_TIMEOUT)
                state = "up"
            except (StorageError, OSError, TimeoutError) as exc:
                log.warning("volume backend %s: no capacity: %s", backend, exc)
                total = free = "unknown"
                state = "down"
            out.append({"name": host, "capabilities": {
                **capabilities.static(driver),
                "total_capacity_gb": total, "free_capacity_gb": free,
                "allocated_capacity_gb": allocated.get(host, 0),
                "reserved_percentage": 0,
                "max_over_subscription_ratio": "1.0", "backend_state": state,
                "timestamp": utcnow().isoformat()}})
        return out

    # --- os-services ---------------------------------------------------------------------
    async def services(self, binary: str | None = None, host: str | None = None
                       ) -> list[dict[str, Any]]:
        async with self.store.db.read() as s:
            q = select(ServiceRow).order_by(ServiceRow.id)
            if binary:
                q = q.where(ServiceRow.binary == binary)
            if host:  # Cinder's host filter: the host, or any backend/pool on it
                q = q.where(or_(ServiceRow.host == host,
                                ServiceRow.host.startswith(host + "@", autoescape=True),
                                ServiceRow.host.startswith(host + "#", autoescape=True)))
            rows = list((await s.execute(q)).scalars())
        alive_after = utcnow() - timedelta(seconds=HEARTBEAT * 4)
        return [{"binary": r.binary, "host": r.host, "zone": r.zone,
                 "status": "disabled" if r.disabled else "enabled",
                 "state": "up" if r.heartbeat_at >= alive_after else "down",
                 "updated_at": r.heartbeat_at, "disabled_reason": r.disabled_reason}
                for r in rows]

    async def set_service(self, host: Any, binary: Any, disabled: bool,
                          reason: str | None) -> dict[str, Any]:
        if not isinstance(host, str) or not isinstance(binary, str):
            raise BadRequest("Invalid input received: host and binary are required.")
        async with self.store.write() as s:
            row = (await s.execute(select(ServiceRow).where(
                ServiceRow.host == host, ServiceRow.binary == binary))).scalar()
            if row is None:
                raise NotFound(f"Service {binary} on host {host} could not be found.")
            row.disabled = disabled
            row.disabled_reason = reason if disabled else None
            row.updated_at = utcnow()
        return {"host": host, "binary": binary, "service": binary,
                "status": "disabled" if disabled else "enabled", "disabled": disabled,
                "disabled_reason": row.disabled_reason}
