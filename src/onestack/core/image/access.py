"""Who may see and change an image: Glance's visibility and ownership rules, in one place.

- A project sees its own images, public and community images, and shared images where it
  is a member (any member status when asked by id; listing shows accepted ones unless
  ``member_status`` says otherwise). Admins see everything.
- Only the owner (or an admin) changes an image. Someone who can see an image but does not
  own it gets 403; someone who cannot see it gets 404, as if it did not exist.
- Making an image public needs ``publicize_image`` (admins, by default), community needs
  ``communitize_image``: the caller says what policy granted it, and every path that
  creates or changes an image (the image API, server snapshots, volume uploads) is held to
  it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.db.models import Image, ImageMember
from onestack.errors import BadRequest, Forbidden, NotFound

VISIBILITIES = ("public", "private", "shared", "community")
MEMBER_STATUSES = ("pending", "accepted", "rejected")


@dataclass(frozen=True)
class Caller:
    project_id: str | None
    is_admin: bool = False
    publicize: bool = False  # policy publicize_image allows it (admins always)
    communitize: bool = True  # policy communitize_image (members by default)

    def owns(self, img: Image) -> bool:
        return self.is_admin or (img.owner is not None and img.owner == self.project_id)

    def check_visibility(self, visibility: str | None) -> None:
        """403 when the caller may not give an image this visibility."""
        if self.is_admin:
            return
        if visibility == "public" and not self.publicize:
            raise Forbidden("Policy doesn't allow publicize_image to be performed: only an "
                            "administrator may make an image public.")
        if visibility == "community" and not self.communitize:
            raise Forbidden("Policy doesn't allow communitize_image to be performed.")


def not_found(image_id: str) -> NotFound:
    return NotFound(f"No image found with ID {image_id}")


async def member_row(s: AsyncSession, image_id: str, member: str | None) -> ImageMember | None:
    if member is None:
        return None
    return await s.get(ImageMember, (image_id, member))


async def can_see(s: AsyncSession, caller: Caller, img: Image) -> bool:
    if caller.owns(img) or img.visibility in ("public", "community"):
        return True
    if img.visibility == "shared":
        return await member_row(s, img.id, caller.project_id) is not None
    return False


async def visible_image(s: AsyncSession, caller: Caller, image_id: str,
                        *, lock: bool = False) -> Image:
    """The image if the caller may see it, else 404."""
    q = select(Image).where(Image.id == image_id)
    if lock:
        q = q.with_for_update()
    img = (await s.execute(q)).scalar()
    if img is None or not await can_see(s, caller, img):
        raise not_found(image_id)
    return img


async def owned_image(s: AsyncSession, caller: Caller, image_id: str, action: str) -> Image:
    """The image if the caller may change it: 404 when invisible, 403 when not the owner."""
    img = await visible_image(s, caller, image_id, lock=True)
    if not caller.owns(img):
        raise Forbidden(f"You are not permitted to {action} image {image_id}: only its owner "
                        "may do that.")
    return img


def _shared_with(project: str | None, member_status: str | None) -> ColumnElement[bool]:
    if project is None:
        return false()
    q = select(ImageMember.image_id).where(ImageMember.member == project)
    if member_status != "all":
        q = q.where(ImageMember.status == (member_status or "accepted"))
    return and_(Image.visibility == "shared", Image.id.in_(q))


def listing_clause(caller: Caller, visibility: str | None,
                   member_status: str | None) -> ColumnElement[bool]:
    """The WHERE clause choosing which images a listing may show."""
    mine = Image.owner == caller.project_id if caller.project_id else false()
    if visibility is None:
        if caller.is_admin:
            return Image.visibility != "community" if member_status is None else \
                _admin_member_filter(member_status)
        own_or_public = or_(mine, Image.visibility == "public")
        if member_status is not None and member_status != "accepted":
            # Asked for a member status: only images shared with the caller in that status.
            return _shared_with(caller.project_id, member_status)
        return or_(own_or_public, _shared_with(caller.project_id, member_status))
    if visibility == "all":
        if caller.is_admin:
            return true()
        return or_(mine, Image.visibility.in_(("public", "community")),
                   _shared_with(caller.project_id, member_status))
    if visibility == "shared":
        shared = _shared_with(caller.project_id, member_status)
        if caller.is_admin and member_status is None:
            return Image.visibility == "shared"
        if member_status in (None, "all"):
            return or_(and_(Image.visibility == "shared", mine), shared)
        return shared
    clause: ColumnElement[bool] = Image.visibility == visibility
    if visibility == "private" and not caller.is_admin:
        clause = and_(clause, mine)
    return clause


def _admin_member_filter(member_status: str) -> ColumnElement[bool]:
    if member_status == "all":
        return Image.visibility != "community"
    q = select(ImageMember.image_id).where(ImageMember.status == member_status)
    return and_(Image.visibility == "shared", Image.id.in_(q))


def require_values(values: dict[str, Any], allowed: dict[str, tuple[str, ...]]) -> None:
    """400 naming the first parameter whose value is not one of the allowed ones."""
    for key, options in allowed.items():
        value = values.get(key)
        if value is not None and value not in options:
            raise BadRequest(f"Invalid {key} value: {value}. It must be one of: "
                             f"{', '.join(options)}.")
