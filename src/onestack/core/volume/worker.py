"""The backend work behind the API: each transient status is a job run in the background.

The API writes the volume (or snapshot) in its transient status and submits the job; the
job calls the volume driver and writes the outcome with a conditional update (only if the
status is still the one it worked for), so a reset-status or force-delete in the meantime
wins. ``start`` settles what a crash left behind on this host: deletes are retried (they are
idempotent), every other transient status goes where ``states.SETTLE`` says, and the driver
drops half-made files.

Several backends at once (Cinder's ``enabled_backends``): ``drivers`` maps each backend's
name to its driver; a volume's ``host`` (``node@backend#pool``) says which one holds it, and
every job looks its driver up from there. A volume placed on a backend this service does
not have goes to ``error`` naming it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import delete, select, update

from onestack.core.image.access import Caller as ImageCaller
from onestack.core.image.service import ImageService
from onestack.core.volume import states
from onestack.core.volume.base import Store
from onestack.core.volume.encryption import TypeEncryptions, VolumeKeys
from onestack.db.models.base import utcnow
from onestack.db.models.volume import Snapshot, Volume, VolumeService
from onestack.drivers.storage.base import LuksSpec, StorageError, VolumeDriver
from onestack.errors import OnestackError

log = logging.getLogger(__name__)
HEARTBEAT = 30.0


def backend_of(host: str | None) -> str:
    """The backend of a volume's ``host`` (``node@backend#pool``)."""
    return (host or "").partition("@")[2].partition("#")[0]


class NoBackend(StorageError):
    pass


class Worker:
    def __init__(self, store: Store, drivers: VolumeDriver | dict[str, VolumeDriver],
                 image: ImageService, zone: str) -> None:
        self.store = store
        if isinstance(drivers, VolumeDriver):
            drivers = {drivers.backend: drivers}
        self.drivers = dict(drivers)
        # the first backend: volumes whose type names none go there
        self.driver = next(iter(self.drivers.values()))
        self.image = image
        self.zone = zone
        self.node = socket.gethostname()
        self.service_host = self.service_of(self.driver.backend)
        self.host = self.host_of(self.driver.backend)
        self.scheduler_host = self.node
        self.tasks: set[asyncio.Task[None]] = set()
        # Set by the runtime: grows a volume a running guest holds (QMP block_resize, so the
        # guest sees the new size); False when no running guest has it.
        self.attached_extender: Callable[[str, int], Awaitable[bool]] | None = None
        self.keys = VolumeKeys()  # encrypted volumes' keys (the runtime sets its manager)
        self._beat: asyncio.Task[None] | None = None

    def service_of(self, backend: str) -> str:
        return f"{self.node}@{backend}"

    def host_of(self, backend: str) -> str:
        return f"{self.service_of(backend)}#{backend}"

    def driver_of(self, host: str | None) -> VolumeDriver:
        if not host:
            raise NoBackend("No valid backend was found: no backend meets the volume type's "
                            "extra specs.")
        backend = backend_of(host)
        driver = self.drivers.get(backend)
        if driver is None:
            raise NoBackend(f"No valid backend was found: no volume backend named "
                            f"{backend!r} (backends: {', '.join(self.drivers)}).")
        return driver

    async def _driver(self, volume_id: str) -> VolumeDriver:
        async with self.store.db.read() as s:
            host = await s.scalar(select(Volume.host).where(Volume.id == volume_id))
        return self.driver_of(host)

    async def _luks(self, volume_id: str) -> LuksSpec | None:
        """How an encrypted volume is formatted and opened (None: not encrypted)."""
        async with self.store.db.read() as s:
            vol = await s.get(Volume, volume_id)
            if vol is None or not vol.encryption_key_id:
                return None
            key_id = vol.encryption_key_id
            spec = await TypeEncryptions.of_type(s, vol.type_id)
        return await self.keys.luks(key_id, spec)

    async def _snapshot_driver(self, snapshot_id: str) -> VolumeDriver:
        async with self.store.db.read() as s:
            host = await s.scalar(select(Snapshot.host).where(Snapshot.id == snapshot_id))
        return self.driver_of(host)

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        await self._heartbeat()
        await self.settle()
        self._beat = asyncio.create_task(self._beats(), name="volume-heartbeat")

    async def stop(self) -> None:
        tasks = [t for t in (self._beat, *self.tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks.clear()
        self._beat = None

    async def drain(self) -> None:
        """Until every job submitted so far is done (tests)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def _beats(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            try:
                await self._heartbeat()
            except Exception:
                log.exception("volume service heartbeat failed")

    async def _heartbeat(self) -> None:
        services = [("cinder-scheduler", self.scheduler_host)] + [
            ("cinder-volume", self.service_of(b)) for b in self.drivers]
        async with self.store.write() as s:
            for binary, host in services:
                row = (await s.execute(select(VolumeService).where(
                    VolumeService.binary == binary, VolumeService.host == host))).scalar()
                if row is None:
                    s.add(VolumeService(host=host, binary=binary, zone=self.zone))
                else:
                    row.heartbeat_at = utcnow()

    async def settle(self) -> None:
        for driver in self.drivers.values():
            sweep = getattr(driver, "sweep_partial", None)
            if sweep is not None:
                for path in await asyncio.to_thread(sweep):
                    log.info("volume backend: removed %s, left by an interrupted operation",
                             path)
        hosts = [self.host_of(b) for b in self.drivers]
        async with self.store.db.read() as s:
            vols = list((await s.execute(select(
                Volume.id, Volume.status, Volume.previous_status).where(
                Volume.host.in_(hosts), Volume.status.in_(states.TRANSIENT)))).all())
            snaps = list((await s.execute(select(Snapshot.id, Snapshot.status).where(
                Snapshot.host.in_(hosts), Snapshot.status.in_(
                    (states.SNAPSHOT_CREATING, states.SNAPSHOT_DELETING))))).all())
        for vid, status, before in vols:
            if status == states.DELETING:
                self.submit(self.delete_volume(vid))
                continue
            to = states.SETTLE[status]
            if status == states.UPLOADING and before in (states.AVAILABLE, states.IN_USE):
                to = before
            log.warning("volume %s was %s when the service stopped; it is now %s", vid,
                        status, to)
            await self.finish(vid, status, to, error=f"interrupted while {status}")
        for sid, status in snaps:
            if status == states.SNAPSHOT_DELETING:
                self.submit(self.delete_snapshot(sid))
            else:
                log.warning("snapshot %s was %s when the service stopped; it is now error",
                            sid, status)
                await self.finish_snapshot(sid, status, states.SNAPSHOT_ERROR)

    # --- plumbing --------------------------------------------------------------------------
    def submit(self, job: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(job)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def finish(self, volume_id: str, expected: str, status: str, **values: Any) -> bool:
        async with self.store.write() as s:
            result = await s.execute(update(Volume).where(
                Volume.id == volume_id, Volume.status == expected).values(
                status=status, updated_at=utcnow(), **values))
            return bool(getattr(result, "rowcount", 0))

    async def finish_snapshot(self, snapshot_id: str, expected: str, status: str,
                              **values: Any) -> bool:
        async with self.store.write() as s:
            result = await s.execute(update(Snapshot).where(
                Snapshot.id == snapshot_id, Snapshot.status == expected).values(
                status=status, updated_at=utcnow(), **values))
            return bool(getattr(result, "rowcount", 0))

    async def _attempt(self, what: str, work: Callable[[], Awaitable[None]]) -> str | None:
        """Run backend work; the error message when it fails (None when it worked)."""
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except (StorageError, OSError, OnestackError) as exc:
            log.warning("%s failed: %s", what, exc)
            return str(exc) or type(exc).__name__
        except Exception as exc:
            log.exception("%s failed", what)
            return f"{type(exc).__name__}: {exc}"
        return None

    # --- volume jobs -----------------------------------------------------------------------
    async def create_volume(self, volume_id: str, size: int, source: dict[str, Any]) -> None:
        kind = source.get("kind")
        status = states.CREATING
        try:
            d = await self._driver(volume_id)
        except NoBackend as exc:
            log.warning("creating volume %s failed: %s", volume_id, exc)
            await self.finish(volume_id, status, states.ERROR, error=str(exc))
            return

        async def work() -> None:
            luks = await self._luks(volume_id)
            if kind == "snapshot":
                await d.create_from_snapshot(source["id"], volume_id, size)
            elif kind == "volume":
                await d.clone(source["id"], volume_id, size)
            elif kind == "image":
                await self._from_image(d, volume_id, size, source, luks)
            elif luks is not None:
                await d.create_encrypted(volume_id, size, luks)
            else:
                await d.create(volume_id, size)
            if luks is not None and kind in ("snapshot", "volume"):
                await d.extend_encrypted(volume_id, size, luks)  # a copy, grown with the key

        if kind == "image":
            status = states.DOWNLOADING
            await self.finish(volume_id, states.CREATING, status)
        error = await self._attempt(f"creating volume {volume_id}", work)
        if error is None:
            if not await self.finish(volume_id, status, states.AVAILABLE, error=None,
                                     launched_at=utcnow()):
                await self._drop_if_gone(d, volume_id)
        else:
            await self._attempt(f"cleaning up volume {volume_id}",
                                lambda: d.delete(volume_id))
            await self.finish(volume_id, status, states.ERROR, error=error)

    async def _from_image(self, d: VolumeDriver, volume_id: str, size: int,
                          source: dict[str, Any], luks: LuksSpec | None) -> None:
        caller = ImageCaller(source.get("project_id"), is_admin=True)
        download = await self.image.data.download(caller, str(source["id"]))
        if download is None:
            raise StorageError(f"Image {source['id']} has no data.")
        key = download.key
        fmt = download.record.image.disk_format or "raw"
        path = self.image.blobs.path(key)
        if luks is not None:  # Cinder's copy_image_to_encrypted_volume
            await d.copy_image_to_encrypted_volume(volume_id, size, fmt, path,
                                                   lambda: self.image.data.stream(key), luks)
            return
        url = await self.image.blobs.direct_url(key) if fmt == "raw" else None
        if url and await d.clone_image(volume_id, size, url):  # Cinder's clone_image
            return
        await d.copy_image_to_volume(volume_id, size, fmt, path,
                                     lambda: self.image.data.stream(key))

    async def _drop_if_gone(self, d: VolumeDriver, volume_id: str) -> None:
        async with self.store.db.read() as s:
            gone = await s.get(Volume, volume_id) is None
        if gone:
            await self._attempt(f"cleaning up volume {volume_id}", lambda: d.delete(volume_id))

    async def delete_volume(self, volume_id: str) -> None:
        async with self.store.db.read() as s:
            key_id = await s.scalar(select(Volume.encryption_key_id).where(
                Volume.id == volume_id))

        async def work() -> None:
            try:
                d = await self._driver(volume_id)
            except NoBackend:
                return  # never made on any backend of ours
            await d.delete(volume_id)

        error = await self._attempt(f"deleting volume {volume_id}", work)
        if error is not None:
            await self.finish(volume_id, states.DELETING, states.ERROR_DELETING, error=error)
            return
        async with self.store.write() as s:
            gone = await s.execute(delete(Volume).where(Volume.id == volume_id,
                                                        Volume.status == states.DELETING))
        removed = bool(getattr(gone, "rowcount", 0))
        if key_id and removed:
            await self._attempt(f"deleting the key of volume {volume_id}",
                                lambda: self.keys.delete(key_id))

    async def extend_volume(self, volume_id: str, new_size: int, back_to: str) -> None:
        async def work() -> None:
            hook = self.attached_extender
            if back_to == states.IN_USE and hook is not None and await hook(volume_id,
                                                                            new_size):
                return
            luks = await self._luks(volume_id)
            d = await self._driver(volume_id)
            await (d.extend(volume_id, new_size) if luks is None
                   else d.extend_encrypted(volume_id, new_size, luks))

        error = await self._attempt(f"extending volume {volume_id}", work)
        if error is None:
            await self.finish(volume_id, states.EXTENDING, back_to, size=new_size, error=None)
        else:
            await self.finish(volume_id, states.EXTENDING, states.ERROR_EXTENDING, error=error)

    async def upload_volume(self, volume_id: str, project_id: str, image_id: str,
                            disk_format: str, back_to: str) -> None:
        caller = ImageCaller(project_id, is_admin=True)

        async def work() -> None:
            d = await self._driver(volume_id)
            await self.image.data.upload(
                caller, image_id, d.copy_volume_to_image(volume_id, disk_format))

        error = await self._attempt(f"uploading volume {volume_id} to image {image_id}", work)
        if error is not None:
            with contextlib.suppress(OnestackError):
                await self.image.images.delete(caller, image_id)
        await self.finish(volume_id, states.UPLOADING, back_to, error=error)

    # --- snapshot jobs ---------------------------------------------------------------------
    async def create_snapshot(self, snapshot_id: str, volume_id: str) -> None:
        try:
            d = await self._driver(volume_id)
        except NoBackend as exc:
            await self.finish_snapshot(snapshot_id, states.SNAPSHOT_CREATING,
                                       states.SNAPSHOT_ERROR, error=str(exc))
            return
        error = await self._attempt(f"creating snapshot {snapshot_id}",
                                    lambda: d.create_snapshot(volume_id, snapshot_id))
        if error is None:
            if not await self.finish_snapshot(snapshot_id, states.SNAPSHOT_CREATING,
                                              states.SNAPSHOT_AVAILABLE, progress="100%",
                                              error=None):
                async with self.store.db.read() as s:
                    gone = await s.get(Snapshot, snapshot_id) is None
                if gone:
                    await self._attempt(f"cleaning up snapshot {snapshot_id}",
                                        lambda: d.delete_snapshot(snapshot_id))
        else:
            await self._attempt(f"cleaning up snapshot {snapshot_id}",
                                lambda: d.delete_snapshot(snapshot_id))
            await self.finish_snapshot(snapshot_id, states.SNAPSHOT_CREATING,
                                       states.SNAPSHOT_ERROR, error=error)

    async def delete_snapshot(self, snapshot_id: str) -> None:
        async def work() -> None:
            await (await self._snapshot_driver(snapshot_id)).delete_snapshot(snapshot_id)

        error = await self._attempt(f"deleting snapshot {snapshot_id}", work)
        if error is not None:
            await self.finish_snapshot(snapshot_id, states.SNAPSHOT_DELETING,
                                       states.SNAPSHOT_ERROR_DELETING, error=error)
            return
        async with self.store.write() as s:
            await s.execute(delete(Snapshot).where(Snapshot.id == snapshot_id,
                                                   Snapshot.status == states.SNAPSHOT_DELETING))
