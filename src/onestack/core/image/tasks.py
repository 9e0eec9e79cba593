"""Glance's (deprecated) tasks API: ``import`` tasks that would fetch an image from a URL.

Onestack does not download image data from the web (neither the ``web-download`` import
method nor the legacy ``import`` task is enabled: the API machine may not reach, or
should not be made to reach, arbitrary URLs). A well-formed import task is therefore
recorded and ends at once in ``failure`` with a message saying so, as Glance's own task
does when its import cannot run; a malformed one is 400 naming the field. Tasks are kept
for ``TASK_TTL`` (Glance's ``task_time_to_live`` default) and then no longer listed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.image.access import Caller
from onestack.db.engine import Database
from onestack.db.models.base import utcnow
from onestack.db.models.image_metadef import ImageTask
from onestack.errors import BadRequest, NotFound

TASK_TYPES = ("import", "api_image_import", "location_import")
STATUSES = ("pending", "processing", "success", "failure")
SORT_KEYS = ("created_at", "updated_at", "id", "type", "status")
TASK_TTL = dt.timedelta(hours=48)
MAX_LIMIT = 1000
NOT_ENABLED = ("Image import from a URL is not enabled in this cloud (Onestack does not "
               "download image data from {url}). Create the image and upload its data with "
               "PUT /v2/images/{{image_id}}/file, or stage it and use the glance-direct "
               "import method.")


@dataclass(frozen=True)
class TaskQuery:
    status: str | None = None
    type: str | None = None
    sort_key: str = "created_at"
    sort_dir: str = "desc"
    limit: int | None = None
    marker: str | None = None


def _check_choice(name: str, value: str | None, options: tuple[str, ...]) -> None:
    if value is not None and value not in options:
        raise BadRequest(f"Invalid {name} value: {value}. It must be one of: "
                         f"{', '.join(options)}.")


def check_import_input(task_input: dict[str, Any]) -> str:
    """The URL an import task names, checked as Glance checks it at create time."""
    url = task_input.get("import_from")
    if not isinstance(url, str) or not url:
        raise BadRequest("Invalid input for field 'input.import_from': an import task "
                         "needs the URL of the image data.")
    if url.startswith(("file:", "filesystem:")):
        raise BadRequest("Invalid input for field 'input.import_from': file based imports "
                         "are not allowed. Please use a non-local source of image data.")
    if not url.startswith(("http://", "https://")) or len(url) > 2048:
        raise BadRequest("Invalid input for field 'input.import_from': the given uri is not "
                         "valid. Please specify a valid uri from the following list of "
                         "supported uri ['http', 'https'].")
    for key in ("import_from_format", "image_properties"):
        if key not in task_input:
            raise BadRequest(f"Invalid input for field 'input.{key}': it is required for "
                             "an import task.")
    if not isinstance(task_input["image_properties"], dict):
        raise BadRequest("Invalid input for field 'input.image_properties': it must be an "
                         "object of image attributes.")
    return url


def _not_found(task_id: str) -> NotFound:
    return NotFound(f"Task with the given ID {task_id} not found.")


class Tasks:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, caller: Caller, task_type: str, task_input: dict[str, Any],
                     user_id: str | None, request_id: str | None) -> ImageTask:
        if task_type != "import":
            raise BadRequest(f"Invalid input for field 'type': tasks of type {task_type!r} "
                             "are made by the image import API and cannot be created here; "
                             "only 'import' tasks can.")
        url = check_import_input(task_input)
        now = utcnow()
        row = ImageTask(id=str(uuid.uuid4()), type=task_type, status="failure",
                        owner=caller.project_id, user_id=user_id, request_id=request_id,
                        image_id=None, input=task_input, result=None,
                        message=NOT_ENABLED.format(url=url), created_at=now,
                        updated_at=now, expires_at=now + TASK_TTL)
        async with self.db.write() as s:
            s.add(row)
        return row

    @staticmethod
    def _scope(caller: Caller) -> Any:
        live = or_(ImageTask.expires_at.is_(None), ImageTask.expires_at > utcnow())
        if caller.is_admin:
            return live
        return live & (ImageTask.owner == caller.project_id)

    async def _get(self, s: AsyncSession, caller: Caller, task_id: str) -> ImageTask:
        row = (await s.execute(select(ImageTask).where(
            ImageTask.id == task_id, self._scope(caller)))).scalar()
        if row is None:
            raise _not_found(task_id)
        return row

    async def get(self, caller: Caller, task_id: str) -> ImageTask:
        async with self.db.read() as s:
            return await self._get(s, caller, task_id)

    async def page(self, caller: Caller, q: TaskQuery) -> tuple[list[ImageTask], bool]:
        _check_choice("status", q.status, STATUSES)
        _check_choice("type", q.type, TASK_TYPES)
        _check_choice("sort_key", q.sort_key, SORT_KEYS)
        _check_choice("sort_dir", q.sort_dir, ("asc", "desc"))
        if q.limit is not None and q.limit < 0:
            raise BadRequest("Invalid input for field 'limit': limit param must be positive.")
        async with self.db.read() as s:
            stmt = select(ImageTask).where(self._scope(caller))
            if q.status is not None:
                stmt = stmt.where(ImageTask.status == q.status)
            if q.type is not None:
                stmt = stmt.where(ImageTask.type == q.type)
            key = getattr(ImageTask, q.sort_key)
            if q.marker is not None:
                try:
                    mark = await self._get(s, caller, q.marker)
                except NotFound:
                    raise BadRequest(f"Invalid input for field 'marker': no task with ID "
                                     f"{q.marker}.") from None
                value = getattr(mark, q.sort_key)
                stmt = stmt.where(
                    (key < value) | ((key == value) & (ImageTask.id < mark.id))
                    if q.sort_dir == "desc" else
                    (key > value) | ((key == value) & (ImageTask.id > mark.id)))
            order = (key.desc(), ImageTask.id.desc()) if q.sort_dir == "desc" else \
                (key.asc(), ImageTask.id.asc())
            limit = min(q.limit if q.limit is not None else MAX_LIMIT, MAX_LIMIT)
            rows = list((await s.execute(stmt.order_by(*order).limit(limit))).scalars())
            return rows, bool(rows) and len(rows) == limit
