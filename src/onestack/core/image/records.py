"""An image as the API renders it: the row, its extra properties and its tags."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.db.models import Image, ImageProperty, ImageTag


@dataclass
class ImageRecord:
    image: Image
    properties: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)


async def load(s: AsyncSession, images: list[Image]) -> list[ImageRecord]:
    """Records for rows, with properties and tags fetched in two queries."""
    if not images:
        return []
    ids = [i.id for i in images]
    props: dict[str, dict[str, str]] = defaultdict(dict)
    for row in (await s.execute(select(ImageProperty).where(
            ImageProperty.image_id.in_(ids)))).scalars():
        props[row.image_id][row.name] = row.value
    tags: dict[str, list[str]] = defaultdict(list)
    for tag in (await s.execute(select(ImageTag).where(ImageTag.image_id.in_(ids))
                                .order_by(ImageTag.value))).scalars():
        tags[tag.image_id].append(tag.value)
    return [ImageRecord(i, props[i.id], tags[i.id]) for i in images]


async def load_one(s: AsyncSession, image: Image) -> ImageRecord:
    return (await load(s, [image]))[0]
