"""Cinder's admin views of the volume hosts (``/capabilities/{host}``, ``/os-hosts/{host}``),
the default quota class, and the volume image metadata actions
(``os-set_image_metadata``, ``os-unset_image_metadata``, ``os-show_image_metadata``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from onestack.core.volume import capabilities, states
from onestack.core.volume.base import Caller, Store, check_metadata, find_volume
from onestack.core.volume.quotas import DEFAULT_CLASS, Quotas
from onestack.core.volume.worker import Worker
from onestack.db.models.base import utcnow
from onestack.db.models.volume import Snapshot, Volume
from onestack.errors import BadRequest, NotFound

CLASS_PREFIX = DEFAULT_CLASS.removesuffix("default")  # a quota class's rows in vol_quota


def on_host(column: Any, host: str) -> Any:
    """Cinder's host match: the host itself, or any backend or pool on it."""
    return or_(column == host, column.startswith(host + "@", autoescape=True),
               column.startswith(host + "#", autoescape=True))


class AdminViews:
    def __init__(self, store: Store, worker: Worker, quotas: Quotas) -> None:
        self.store = store
        self.worker = worker
        self.quotas = quotas

    def _backend(self, host: str) -> tuple[str, Any]:
        """The backend a host names (``node@backend`` or ``node@backend#pool``)."""
        for backend, driver in self.worker.drivers.items():
            if host in (self.worker.service_of(backend), self.worker.host_of(backend)):
                return backend, driver
        raise NotFound(f"Service host {host} could not be found: no volume backend is "
                       "served there.")

    def capabilities(self, host: str) -> dict[str, Any]:
        backend, driver = self._backend(host)
        return capabilities.show(driver, self.worker.service_of(backend))

    async def host_usage(self, host: str) -> list[dict[str, str]]:
        """os-hosts/{host}: volume and snapshot counts and sizes on a volume host, in
        total and per project (Cinder's strings)."""
        if not any(host in (self.worker.node, self.worker.service_of(b))
                   for b in self.worker.drivers):
            raise NotFound("Host not found")
        async with self.store.db.read() as s:
            vols = (await s.execute(select(
                Volume.project_id, func.count(), func.coalesce(func.sum(Volume.size), 0)
            ).where(on_host(Volume.host, host)).group_by(Volume.project_id))).all()
            snaps = {p: (int(n), int(gb)) for p, n, gb in (await s.execute(select(
                Snapshot.project_id, func.count(), func.coalesce(func.sum(Snapshot.size), 0)
            ).join(Volume, Volume.id == Snapshot.volume_id).where(
                on_host(Volume.host, host)).group_by(Snapshot.project_id))).all()}
        rows: list[tuple[str, int, int, int, int]] = [
            (str(p), int(n), int(gb), *snaps.get(p, (0, 0))) for p, n, gb in vols]

        def res(project: str, n: int, gb: int, sn: int, sgb: int) -> dict[str, str]:
            return {"host": host, "project": project, "volume_count": str(n),
                    "total_volume_gb": str(gb), "snapshot_count": str(sn),
                    "total_snapshot_gb": str(sgb)}

        total = res("(total)", sum(r[1] for r in rows), sum(r[2] for r in rows),
                    sum(r[3] for r in rows), sum(r[4] for r in rows))
        return [total, *(res(*r) for r in sorted(rows))]

    # --- quota classes -------------------------------------------------------------------
    async def quota_class(self, name: str) -> dict[str, int]:
        return await self.quotas.limits_of(CLASS_PREFIX + name)

    async def update_quota_class(self, name: str, values: dict[str, Any]) -> dict[str, int]:
        if not name or len(name) > 255:
            raise BadRequest("Invalid input for field/attribute class_name: 1 to 255 "
                             "characters.")
        await self.quotas.update(CLASS_PREFIX + name, values)
        return await self.quota_class(name)

    # --- volume image metadata -----------------------------------------------------------
    async def image_metadata(self, caller: Caller, volume_id: str) -> dict[str, str]:
        async with self.store.db.read() as s:
            vol = await find_volume(s, caller, volume_id)
            return {k: str(v) for k, v in (vol.image_metadata or {}).items()}

    async def set_image_metadata(self, caller: Caller, volume_id: str, meta: Any
                                 ) -> dict[str, str]:
        meta = check_metadata(meta)
        async with self.store.write() as s:
            vol = await find_volume(s, caller, volume_id, lock=True)
            states.check("metadata", vol.id, vol.status)
            vol.image_metadata = {**(vol.image_metadata or {}), **meta}
            vol.updated_at = utcnow()
            return {k: str(v) for k, v in vol.image_metadata.items()}

    async def unset_image_metadata(self, caller: Caller, volume_id: str, key: Any) -> None:
        if not isinstance(key, str) or not key:
            raise BadRequest("Invalid input for field/attribute key. 'key' is a required "
                             "property")
        async with self.store.write() as s:
            vol = await find_volume(s, caller, volume_id, lock=True)
            states.check("metadata", vol.id, vol.status)
            current = dict(vol.image_metadata or {})
            if key not in current:
                raise NotFound(f"Glance metadata for volume {volume_id} with key {key} "
                               "could not be found.")
            current.pop(key)
            vol.image_metadata = current or None
            vol.updated_at = utcnow()

