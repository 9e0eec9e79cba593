"""Image records: create, show, update (JSON patch), delete, (de)activate, tags."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.image import access, listing, patch, records
from onestack.core.image.access import Caller
from onestack.core.image.records import ImageRecord
from onestack.db.engine import Database
from onestack.db.models import Image, ImageProperty, ImageTag
from onestack.db.models.base import utcnow
from onestack.drivers.blob import BlobStore
from onestack.errors import BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge

DEFAULTS: dict[str, Any] = {"name": None, "visibility": "shared", "protected": False,
                            "os_hidden": False, "disk_format": None, "container_format": None,
                            "min_disk": 0, "min_ram": 0}
# Attributes whose change is reserved for queued images (the data is already there).
FORMAT_ATTRS = ("disk_format", "container_format")
MAX_TAGS = 128
MAX_PROPERTIES = 128


class Images:
    def __init__(self, db: Database, blobs: BlobStore) -> None:
        self.db = db
        self.blobs = blobs

    @asynccontextmanager
    async def write(self, conflict: str) -> AsyncIterator[AsyncSession]:
        try:
            async with self.db.write() as s:
                yield s
                await s.flush()
        except IntegrityError as exc:
            raise Conflict(conflict) from exc

    # --- create / show -------------------------------------------------------------------
    async def create(self, caller: Caller, data: dict[str, Any]) -> ImageRecord:
        data = dict(data)
        image_id = data.pop("id", None) or str(uuid.uuid4())
        for name in data:
            patch.check_settable(name)
        owner = data.pop("owner", None) or caller.project_id
        if owner != caller.project_id and not caller.is_admin:
            raise Forbidden("You are not permitted to create images owned by another project.")
        tags = list(dict.fromkeys(data.pop("tags", None) or []))
        base = {k: data.pop(k) if k in data else v for k, v in DEFAULTS.items()}
        caller.check_visibility(base["visibility"])
        _check_limits(tags, data)
        now = utcnow()
        img = Image(id=image_id, status="queued", owner=owner, created_at=now, updated_at=now,
                    **base)
        async with self.write(f"An image with identifier {image_id} already exists") as s:
            if await s.get(Image, image_id) is not None:
                raise Conflict(f"An image with identifier {image_id} already exists")
            s.add(img)
            await s.flush()
            s.add_all(ImageProperty(image_id=image_id, name=k, value=v) for k, v in data.items())
            s.add_all(ImageTag(image_id=image_id, value=t) for t in tags)
        return ImageRecord(img, dict(data), sorted(tags))

    async def get(self, caller: Caller, image_id: str) -> ImageRecord:
        async with self.db.read() as s:
            img = await access.visible_image(s, caller, image_id)
            return await records.load_one(s, img)

    async def page(self, caller: Caller, q: listing.ListQuery
                   ) -> tuple[list[ImageRecord], bool]:
        """One page of the images the caller may list, and whether more follow."""
        stmt = select(Image).where(access.listing_clause(caller, q.visibility, q.member_status),
                                   *q.conditions)
        async with self.db.read() as s:
            if q.marker:
                marker = await s.get(Image, q.marker)
                if marker is None or not await access.can_see(s, caller, marker):
                    raise BadRequest(f"Invalid marker. Image {q.marker} could not be found.")
                stmt = stmt.where(listing.after_marker(q.sort, marker))
            stmt = stmt.order_by(*listing.order_by(q.sort)).limit(q.limit + 1)
            rows = list((await s.execute(stmt)).scalars())
            return await records.load(s, rows[:q.limit]), len(rows) > q.limit

    # --- update ----------------------------------------------------------------------------
    async def update(self, caller: Caller, image_id: str,
                     changes: list[patch.Change]) -> ImageRecord:
        async with self.write("Conflict while updating the image") as s:
            img = await access.owned_image(s, caller, image_id, "modify")
            rec = await records.load_one(s, img)
            state = patch.ImageState({k: getattr(img, k) for k in patch.BASE if k != "tags"},
                                     dict(rec.properties), list(rec.tags))
            patch.apply(state, changes)
            _check_limits(state.tags, state.properties)
            self._check_base_change(caller, img, state.base)
            for key, value in state.base.items():
                setattr(img, key, value)
            img.updated_at = utcnow()
            await self._sync_children(s, rec, state)
            return ImageRecord(img, state.properties, sorted(state.tags))

    @staticmethod
    def _check_base_change(caller: Caller, img: Image, new: dict[str, Any]) -> None:
        for key in FORMAT_ATTRS:
            if new[key] != getattr(img, key) and img.status != "queued":
                raise Forbidden(f"Attribute {key} can be only replaced for a queued image.")
        if new["owner"] != img.owner and not caller.is_admin:
            raise Forbidden("Only an administrator may change the owner of an image.")
        if new["visibility"] is None:
            raise BadRequest("Visibility cannot be null.")
        if new["visibility"] != img.visibility:
            caller.check_visibility(new["visibility"])

    @staticmethod
    async def _sync_children(s: AsyncSession, rec: ImageRecord,
                             state: patch.ImageState) -> None:
        image_id = rec.image.id
        old, new = rec.properties, state.properties
        gone = [k for k in old if k not in new]
        if gone:
            await s.execute(delete(ImageProperty).where(ImageProperty.image_id == image_id,
                                                        ImageProperty.name.in_(gone)))
        for key, value in new.items():
            if key not in old:
                s.add(ImageProperty(image_id=image_id, name=key, value=value))
            elif old[key] != value:
                row = await s.get(ImageProperty, (image_id, key))
                assert row is not None
                row.value = value
        old_tags, new_tags = set(rec.tags), set(state.tags)
        if old_tags - new_tags:
            await s.execute(delete(ImageTag).where(ImageTag.image_id == image_id,
                                                   ImageTag.value.in_(old_tags - new_tags)))
        s.add_all(ImageTag(image_id=image_id, value=t) for t in new_tags - old_tags)

    # --- delete and actions ----------------------------------------------------------------
    async def delete(self, caller: Caller, image_id: str) -> None:
        async with self.db.write() as s:
            img = await access.owned_image(s, caller, image_id, "delete")
            if img.protected:
                raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
            location = img.location
        if location:  # first: a store may refuse while clones use it (BlobInUse: 409)
            await self.blobs.delete(location)
        async with self.db.write() as s:
            await s.delete(await access.owned_image(s, caller, image_id, "delete"))
        await self.blobs.delete(staging_key(image_id))

    async def deactivate(self, caller: Caller, image_id: str) -> None:
        await self._transition(caller, image_id, "deactivate", "active", "deactivated")

    async def reactivate(self, caller: Caller, image_id: str) -> None:
        await self._transition(caller, image_id, "reactivate", "deactivated", "active")

    async def _transition(self, caller: Caller, image_id: str, action: str, src: str,
                          dst: str) -> None:
        async with self.db.write() as s:
            img = await access.owned_image(s, caller, image_id, action)
            if img.status == dst:
                return
            if img.status != src:
                raise Forbidden(f"Not allowed to {action} image in status '{img.status}'")
            img.status = dst
            img.updated_at = utcnow()

    # --- tags ------------------------------------------------------------------------------
    async def add_tag(self, caller: Caller, image_id: str, tag: str) -> None:
        if len(tag) > 255:
            raise BadRequest("Tags are at most 255 characters long.")
        async with self.write("Conflict while adding the tag") as s:
            img = await access.owned_image(s, caller, image_id, "modify")
            if await s.get(ImageTag, (image_id, tag)) is not None:
                return
            count = len((await s.execute(select(ImageTag.value).where(
                ImageTag.image_id == image_id))).all())
            if count >= MAX_TAGS:
                raise PayloadTooLarge(f"Maximum number of tags ({MAX_TAGS}) exceeded.")
            s.add(ImageTag(image_id=image_id, value=tag))
            img.updated_at = utcnow()

    async def remove_tag(self, caller: Caller, image_id: str, tag: str) -> None:
        async with self.db.write() as s:
            img = await access.owned_image(s, caller, image_id, "modify")
            row = await s.get(ImageTag, (image_id, tag))
            if row is None:
                raise NotFound(f"Tag {tag} not found on image {image_id}.")
            await s.delete(row)
            img.updated_at = utcnow()


def staging_key(image_id: str) -> str:
    return f"staging/{image_id}"


def data_key(image_id: str) -> str:
    return f"images/{image_id}"


def _check_limits(tags: list[str], properties: dict[str, Any]) -> None:
    if len(tags) > MAX_TAGS:
        raise PayloadTooLarge(f"Maximum number of tags ({MAX_TAGS}) exceeded.")
    if len(properties) > MAX_PROPERTIES:
        raise PayloadTooLarge(f"Maximum number of image properties ({MAX_PROPERTIES}) "
                              "exceeded.")
