"""Server actions that need more than the state table: rebuild (a new image), resize with
its confirm and revert (claims for the new flavor on the same host), and snapshots (a new
image in the image service, filled by the agent)."""

from __future__ import annotations

import contextlib
from typing import Any

from onestack.core.compute import states
from onestack.core.compute.base import Caller
from onestack.core.compute.build import Builder, resources
from onestack.core.compute.migrate_verify import MigrationVerify
from onestack.core.compute.quotas import Quotas
from onestack.core.compute.servers import Servers
from onestack.core.image import listing
from onestack.core.image.access import Caller as ImageCaller
from onestack.core.image.patch import BASE, READ_ONLY, RESERVED_PREFIX
from onestack.core.image.service import ImageService
from onestack.db.models.compute import Instance
from onestack.errors import BadRequest, NotFound
from onestack.scheduler.allocations import Claim
from onestack.scheduler.errors import CapacityExceeded


class Actions:
    def __init__(self, servers: Servers, builder: Builder, image: ImageService) -> None:
        self.servers = servers
        self.builder = builder
        self.image = image
        # confirm and revert of a cold migration: set once the migrations exist (service.py)
        self.moves: MigrationVerify | None = None

    async def simple(self, caller: Caller, uuid: str, action: str) -> Instance:
        """reboot, reboot_hard, stop, start, pause, unpause, suspend, resume."""
        name = "reboot" if action == "reboot_hard" else action
        return await self.servers.act(caller, uuid, action, name=name)

    async def rebuild(self, caller: Caller, uuid: str, image_ref: str,
                      updates: dict[str, Any]) -> Instance:
        inst = await self.servers.get(caller, uuid)
        if not inst.instance.image_ref:
            raise BadRequest("Unable to rebuild with a different image for a volume-backed "
                             "server.")
        image_id = await self.builder.check_image(caller, image_ref, inst.instance.flavor)
        return await self.servers.act(caller, uuid, "rebuild",
                                      updates={**updates, "image_ref": image_id})

    async def _claim(self, inst: Instance, flavor: dict[str, Any]) -> None:
        node = next((n for n in await self.builder.hosts.nodes() if n.host == inst.host), None)
        if node is None:
            raise BadRequest(f"No valid host was found: host {inst.host} is not registered.")
        try:
            await self.builder.placement.allocations.claim([Claim(
                inst.uuid, {node.uuid: resources(flavor, not inst.image_ref)},
                inst.project_id, inst.user_id)])
        except CapacityExceeded as exc:
            raise BadRequest(f"No valid host was found. {inst.host}: {exc.message}") from exc

    async def resize(self, caller: Caller, uuid: str, flavor_ref: str,
                     disk_config: str | None = None) -> Instance:
        rec = await self.servers.get(caller, uuid)
        inst = rec.instance
        states.check("resize", inst, is_admin=caller.is_admin)
        new = (await self.builder._flavor(caller, flavor_ref)).snapshot()
        if new["id"] == inst.flavor_id:
            raise BadRequest("When resizing, instances must change flavor!")
        if new["root_gb"] < inst.flavor["root_gb"]:
            raise BadRequest("Resize error: Unable to resize disk down.")
        await Quotas(self.servers.db).check_growth(inst.project_id, {
            "cores": new["vcpus"] - inst.flavor["vcpus"],
            "ram": new["memory_mb"] - inst.flavor["memory_mb"]})
        await self._claim(inst, new)
        try:
            updates: dict[str, Any] = {"new_flavor": new}
            if disk_config is not None:  # the server's OS-DCF:diskConfig from now on
                updates["disk_config"] = disk_config
            return await self.servers.act(caller, uuid, "resize", updates=updates)
        except Exception:
            await self._claim(inst, inst.flavor)
            raise

    async def confirm_resize(self, caller: Caller, uuid: str) -> Instance:
        if self.moves is not None and await self.moves.waiting(uuid):
            return await self.moves.confirm(caller, uuid)  # a cold migration
        return await self.servers.act(caller, uuid, "confirmResize")

    async def revert_resize(self, caller: Caller, uuid: str) -> Instance:
        if self.moves is not None and await self.moves.waiting(uuid):
            return await self.moves.revert(caller, uuid)  # a cold migration
        rec = await self.servers.get(caller, uuid)
        inst = rec.instance
        states.check("revertResize", inst, is_admin=caller.is_admin)
        old = inst.new_flavor or inst.flavor
        await self._claim(inst, old)
        return await self.servers.act(caller, uuid, "revertResize")

    async def create_image(self, caller: Caller, uuid: str, name: str,
                           metadata: dict[str, str], backup: tuple[str, int] | None = None
                           ) -> str:
        """A snapshot image; with ``backup`` (type, rotation) a backup, as createBackup:
        once it is uploaded the oldest backups of that type beyond ``rotation`` go
        (``rotate_backups``)."""
        rec = await self.servers.get(caller, uuid)
        inst = rec.instance
        states.check("createImage", inst, is_admin=caller.is_admin)
        args: dict[str, Any] = {}
        if backup is not None:
            metadata = {**metadata, "image_type": "backup", "backup_type": backup[0]}
            args = {"backup_type": backup[0], "rotation": backup[1]}
        image_id = await self.new_snapshot_image(inst, caller.user_id, name, metadata)
        try:
            await self.servers.act(caller, uuid, "createImage",
                                   name="createBackup" if backup else None,
                                   args={"image_id": image_id, **args})
        except Exception:
            await self.image.images.delete(ImageCaller(inst.project_id, True), image_id)
            raise
        return image_id

    async def rotate_backups(self, inst: Instance, backup_type: str, rotation: int) -> None:
        """Delete the server's backups of this type beyond the newest ``rotation``."""
        owner = ImageCaller(inst.project_id, True)
        q = listing.parse([("instance_uuid", inst.uuid), ("image_type", "backup"),
                           ("backup_type", backup_type)])
        q.sort, q.limit = [("created_at", "desc")], listing.MAX_LIMIT
        recs, _more = await self.image.images.page(owner, q)
        for rec in recs[rotation:]:
            with contextlib.suppress(NotFound):
                await self.image.images.delete(owner, rec.image.id)

    async def new_snapshot_image(self, inst: Instance, user_id: str, name: str,
                                 metadata: dict[str, str]) -> str:
        """A queued image in the server's project for a snapshot of its root disk (the
        agent uploads its data): createImage's, and shelve's ``<name>-shelved``."""
        # The user's metadata become image properties and take precedence over Nova's
        # (image_type, instance_uuid, ...), as in Nova; what the image says about itself
        # (visibility, owner, id, formats: Glance's base attributes) is never theirs and
        # comes last, and the image core holds the server's project to its own rules.
        props = {"image_type": "snapshot", "instance_uuid": inst.uuid,
                 "base_image_ref": inst.image_ref, "user_id": user_id,
                 **{k: str(v) for k, v in metadata.items() if not _reserved_image_key(k)}}
        min_ram, min_disk = await self._base_minimums(inst)
        img = await self.image.images.create(
            ImageCaller(inst.project_id),
            {**props, "name": name, "disk_format": "qcow2", "container_format": "bare",
             "visibility": "private", "owner": inst.project_id,
             "min_ram": min_ram, "min_disk": max(min_disk, int(inst.flavor["root_gb"]))})
        return str(img.image.id)

    async def _base_minimums(self, inst: Instance) -> tuple[int, int]:
        """The min_ram and min_disk a snapshot inherits from the image the server booted
        from, as Nova's (0, 0 when it booted from a volume or the image is gone)."""
        if not inst.image_ref:
            return 0, 0
        try:
            base = await self.image.images.get(ImageCaller(inst.project_id, True),
                                               inst.image_ref)
        except NotFound:
            return 0, 0
        return int(base.image.min_ram or 0), int(base.image.min_disk or 0)


def _reserved_image_key(name: str) -> bool:
    """Names a snapshot's metadata may not set: Glance's base and read-only attributes."""
    return name in BASE or name in READ_ONLY or name.startswith(RESERVED_PREFIX)
