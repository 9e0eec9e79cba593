"""Image members: the owner shares a ``shared`` image with other projects, each member
accepts or rejects it for itself."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from onestack.core.image import access
from onestack.core.image.access import Caller
from onestack.db.engine import Database
from onestack.db.models import Image, ImageMember
from onestack.db.models.base import utcnow
from onestack.errors import BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge

MAX_MEMBERS = 128


def _member_not_found(image_id: str, member: str) -> NotFound:
    return NotFound(f"{member} is not a member of image {image_id}.")


def _require_shared(img: Image) -> None:
    if img.visibility != "shared":
        raise Forbidden(f"Only shared images have members; image {img.id} is "
                        f"{img.visibility}.")


class Members:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, caller: Caller, image_id: str, member: str) -> ImageMember:
        if not member or len(member) > 255:
            raise BadRequest("The member must be a project id of 1 to 255 characters.")
        try:
            async with self.db.write() as s:
                img = await access.owned_image(s, caller, image_id, "add members to")
                _require_shared(img)
                if await s.get(ImageMember, (image_id, member)) is not None:
                    raise Conflict(f"Member {member} already exists for image {image_id}.")
                count = len((await s.execute(select(ImageMember.member).where(
                    ImageMember.image_id == image_id))).all())
                if count >= MAX_MEMBERS:
                    raise PayloadTooLarge(f"Maximum number of image members ({MAX_MEMBERS}) "
                                          "exceeded.")
                now = utcnow()
                row = ImageMember(image_id=image_id, member=member, status="pending",
                                  created_at=now, updated_at=now)
                s.add(row)
                await s.flush()
        except IntegrityError as exc:
            raise Conflict(f"Member {member} already exists for image {image_id}.") from exc
        return row

    async def list_for(self, caller: Caller, image_id: str) -> list[ImageMember]:
        async with self.db.read() as s:
            img = await access.visible_image(s, caller, image_id)
            _require_shared(img)
            q = select(ImageMember).where(ImageMember.image_id == image_id)
            if not caller.owns(img):
                q = q.where(ImageMember.member == caller.project_id)
            return list((await s.execute(q.order_by(ImageMember.created_at,
                                                     ImageMember.member))).scalars())

    async def get(self, caller: Caller, image_id: str, member: str) -> ImageMember:
        async with self.db.read() as s:
            img = await access.visible_image(s, caller, image_id)
            row = await s.get(ImageMember, (image_id, member))
            if row is None or not (caller.owns(img) or member == caller.project_id):
                raise _member_not_found(image_id, member)
            return row

    async def update(self, caller: Caller, image_id: str, member: str,
                     status: str) -> ImageMember:
        access.require_values({"status": status}, {"status": access.MEMBER_STATUSES})
        async with self.db.write() as s:
            img = await access.visible_image(s, caller, image_id)
            row = await s.get(ImageMember, (image_id, member))
            if row is None or not (caller.owns(img) or member == caller.project_id):
                raise _member_not_found(image_id, member)
            if member != caller.project_id:
                raise Forbidden("Only the member itself may change its membership status.")
            row.status = status
            row.updated_at = utcnow()
            return row

    async def delete(self, caller: Caller, image_id: str, member: str) -> None:
        async with self.db.write() as s:
            img = await access.visible_image(s, caller, image_id)
            row = await s.get(ImageMember, (image_id, member))
            if row is None or not (caller.owns(img) or member == caller.project_id):
                raise _member_not_found(image_id, member)
            if not caller.owns(img):
                raise Forbidden("Only the image owner may remove members.")
            await s.delete(row)
