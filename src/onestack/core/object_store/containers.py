"""Accounts and containers: metadata, counters, listings, ACL and versioning settings.

Accounts are created on the first write (Swift's ``account_autocreate``); reading an
account that was never written answers as an empty one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Select, String, bindparam, delete, func, or_, select, type_coerce, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from onestack.core.object_store import acl
from onestack.core.object_store.acl import Caller
from onestack.core.object_store.base import (
    DEFAULT_POLICY,
    apply_meta,
    check_metadata,
    check_name,
    now,
    parse_int_header,
)
from onestack.core.object_store.listing import ListParams, listing
from onestack.db.engine import Database
from onestack.db.models import SwiftAccount, SwiftContainer, SwiftObject
from onestack.errors import BadRequest, Conflict, Forbidden, NotFound

# Account settings only a reseller admin may change (account_quotas middleware).
RESELLER_META = ("quota-bytes",)
RESELLER_SYSMETA = ("quota-count",)
CONTAINER_QUOTAS = ("quota-bytes", "quota-count")


@dataclass
class ContainerSettings:
    """Container headers that are not X-Container-Meta-*: None removes, absent keeps."""

    values: dict[str, str | None] = field(default_factory=dict)
    policy: str | None = None


# What an object listing reads: rows of these columns (cheaper than ORM objects). The
# headers come as the stored JSON text where the driver gives text (SQLite), decoded only
# when a listing asks for them (most objects have none).
LISTED = (SwiftObject.name, SwiftObject.etag, SwiftObject.size, SwiftObject.content_type,
          SwiftObject.timestamp, type_coerce(SwiftObject.headers, String).label("headers"))


def listed_headers(value: str | dict[str, Any] | None) -> dict[str, Any]:
    """The headers of a listed row (stored JSON text on SQLite) or of a SwiftObject."""
    if isinstance(value, dict):
        return value
    return json.loads(value) if value and value != "{}" else {}


# Built once (the hot paths run them on every request).
_GET = select(SwiftContainer).where(SwiftContainer.account == bindparam("account"),
                                    SwiftContainer.name == bindparam("name"))
_WITH_ACCOUNT = select(SwiftContainer, SwiftAccount).outerjoin(
    SwiftAccount, SwiftAccount.name == SwiftContainer.account).where(
    SwiftContainer.account == bindparam("account"), SwiftContainer.name == bindparam("name"))


def virtual_account(name: str) -> SwiftAccount:
    return SwiftAccount(name=name, meta={}, sysmeta={}, container_count=0, object_count=0,
                        bytes_used=0, created_at=now())


def live(ts: float | None = None) -> Any:
    """Objects that have not expired."""
    moment = ts if ts is not None else now()
    return or_(SwiftObject.delete_at.is_(None), SwiftObject.delete_at > moment)


class Containers:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- accounts ------------------------------------------------------------------------
    async def account(self, name: str) -> SwiftAccount:
        async with self.db.read() as s:
            row = await s.get(SwiftAccount, name)
        return row or virtual_account(name)

    @staticmethod
    async def ensure_account(s: AsyncSession, name: str) -> SwiftAccount:
        row = await s.get(SwiftAccount, name)
        if row is not None:
            return row
        try:
            async with s.begin_nested():
                row = virtual_account(name)
                s.add(row)
        except IntegrityError:
            row = await s.get(SwiftAccount, name)
        assert row is not None
        return row

    async def update_account(self, caller: Caller, name: str,
                             meta: Mapping[str, str | None],
                             sysmeta: Mapping[str, str | None]) -> None:
        acl.require_owner(caller, name)
        touched = [k for k in RESELLER_META if k in meta] + [k for k in sysmeta]
        if touched and not caller.reseller:
            raise Forbidden("Only a reseller admin may change account quotas.")
        for key in [*RESELLER_META, *RESELLER_SYSMETA]:
            value = meta.get(key) if key in RESELLER_META else sysmeta.get(key)
            parse_int_header(value, f"quota {key}")
        async with self.db.write() as s:
            row = await self.ensure_account(s, name)
            new_meta = apply_meta(row.meta, meta)
            check_metadata(new_meta, "account")
            row.meta = new_meta
            row.sysmeta = apply_meta(row.sysmeta, sysmeta)

    async def list_containers(self, caller: Caller, name: str,
                              params: ListParams) -> tuple[SwiftAccount, list[Any]]:
        acl.require_reader(caller, name)

        def read(s: Session) -> tuple[SwiftAccount | None, list[Any]]:
            return s.get(SwiftAccount, name), listing(s, select(SwiftContainer).where(
                SwiftContainer.account == name), SwiftContainer.name, params)

        row, items = await self.db.run_read(read)
        return row or virtual_account(name), items

    # --- containers ----------------------------------------------------------------------
    async def get(self, account: str, name: str) -> SwiftContainer | None:
        params = {"account": account, "name": name}
        return await self.db.run_read(lambda s: s.execute(_GET, params).scalar_one_or_none())

    async def existing(self, account: str, names: set[str]) -> set[str]:
        """Which of ``names`` are containers of the account (one query per 1,000 names)."""
        found: set[str] = set()
        ordered = sorted(names)
        for i in range(0, len(ordered), 1000):
            part = ordered[i:i + 1000]
            async with self.db.read() as s:
                found.update((await s.execute(select(SwiftContainer.name).where(
                    SwiftContainer.account == account,
                    SwiftContainer.name.in_(part)))).scalars())
        return found

    async def with_account(self, account: str, name: str
                           ) -> tuple[SwiftContainer | None, SwiftAccount]:
        """The container and its account in one query (the write path needs both)."""
        params = {"account": account, "name": name}
        found = await self.db.run_read(lambda s: s.execute(_WITH_ACCOUNT, params).first())
        if found is None:
            return None, await self.account(account)
        return found[0], found[1] or virtual_account(account)

    def missing(self, account: str, caller: Caller | None) -> Exception:
        """What a request for an absent container gets: 404, or 401/403 for a caller who
        could not see it anyway."""
        if caller is not None and not caller.reads(account):
            return caller.deny()
        return NotFound("The resource could not be found.")

    async def require(self, account: str, name: str,
                      caller: Caller | None = None) -> SwiftContainer:
        """The container; 404, or 401/403 for a caller who could not see it anyway."""
        row = await self.get(account, name)
        if row is None:
            raise self.missing(account, caller)
        return row

    @staticmethod
    def _check_settings(meta: Mapping[str, str | None], settings: ContainerSettings) -> None:
        for key in CONTAINER_QUOTAS:
            value = meta.get(key)
            if value is not None and not value.isdigit():
                raise BadRequest(f"Invalid {key.replace('-', ' ')}: {value!r}")
        for key in ("read", "write"):
            value = settings.values.get(key)
            if value:
                acl.clean_acl(f"x-container-{key}", value)
        for key in ("versions-location", "history-location"):
            value = settings.values.get(key)
            if value:
                check_name(value, "container")
        if settings.values.get("versions-location") and settings.values.get(
                "history-location"):
            raise BadRequest("Only one of X-Versions-Location or X-History-Location may be "
                             "set.")
        if settings.policy is not None and settings.policy.lower() != DEFAULT_POLICY.lower():
            raise BadRequest(f"Invalid X-Storage-Policy {settings.policy!r}")

    @staticmethod
    def _apply(row: SwiftContainer, meta: Mapping[str, str | None],
               settings: ContainerSettings) -> None:
        new_meta = apply_meta(row.meta, meta)
        check_metadata(new_meta, "container")
        row.meta = new_meta
        sysmeta = apply_meta(row.sysmeta, settings.values)
        if settings.values.get("versions-location"):
            sysmeta.pop("history-location", None)
        if settings.values.get("history-location"):
            sysmeta.pop("versions-location", None)
        row.sysmeta = sysmeta

    async def put(self, caller: Caller, account: str, name: str,
                  meta: Mapping[str, str | None], settings: ContainerSettings) -> bool:
        """Create or update; True when created."""
        acl.require_owner(caller, account)
        check_name(name, "container")
        if not name:
            raise BadRequest("Container name is required.")
        self._check_settings(meta, settings)
        async with self.db.write() as s:
            await self.ensure_account(s, account)
            row = (await s.execute(select(SwiftContainer).where(
                SwiftContainer.account == account, SwiftContainer.name == name))
            ).scalar_one_or_none()
            created = row is None
            ts = now()
            if row is None:
                row = SwiftContainer(account=account, name=name, meta={}, sysmeta={},
                                     object_count=0, bytes_used=0, created_at=ts,
                                     put_timestamp=ts)
                s.add(row)
                await s.execute(update(SwiftAccount).where(SwiftAccount.name == account)
                                .values(container_count=SwiftAccount.container_count + 1))
            else:
                row.put_timestamp = ts
            self._apply(row, meta, settings)
        return created

    async def post(self, caller: Caller, account: str, name: str,
                   meta: Mapping[str, str | None], settings: ContainerSettings) -> None:
        acl.require_owner(caller, account)
        self._check_settings(meta, settings)
        async with self.db.write() as s:
            row = (await s.execute(select(SwiftContainer).where(
                SwiftContainer.account == account, SwiftContainer.name == name))
            ).scalar_one_or_none()
            if row is None:
                raise NotFound("The resource could not be found.")
            self._apply(row, meta, settings)

    async def delete(self, caller: Caller, account: str, name: str,
                     reap: Any = None) -> None:
        acl.require_owner(caller, account)
        if reap is not None:
            await reap(account, name)
        async with self.db.write() as s:
            row = (await s.execute(select(SwiftContainer).where(
                SwiftContainer.account == account, SwiftContainer.name == name))
            ).scalar_one_or_none()
            if row is None:
                raise NotFound("The resource could not be found.")
            count = (await s.execute(select(func.count()).select_from(SwiftObject).where(
                SwiftObject.container_id == row.id))).scalar_one()
            if count:
                raise Conflict("There was a conflict when trying to complete your request.")
            await s.execute(delete(SwiftContainer).where(SwiftContainer.id == row.id))
            await s.execute(update(SwiftAccount).where(SwiftAccount.name == account)
                            .values(container_count=SwiftAccount.container_count - 1))

    async def list_objects(self, caller: Caller, account: str, name: str,
                           params: ListParams) -> tuple[SwiftContainer, list[Any]]:
        """The container and its listing: subdir strings and rows of LISTED columns (their
        headers through ``listed_headers``)."""
        def read(s: Session) -> tuple[SwiftContainer | None, list[Any] | None]:
            # the container, and its rows only when the caller may list them: one hand-off
            row = s.execute(_GET, {"account": account, "name": name}).scalar_one_or_none()
            if row is None or not acl.may_list(caller, account, row.sysmeta.get("read")):
                return row, None
            base = cast("Select[Any]", select(*LISTED).where(
                SwiftObject.container_id == row.id))
            return row, listing(s, base, SwiftObject.name, params, extra=[live()],
                                scalars=False)

        row, items = await self.db.run_read(read)
        if row is None:
            raise self.missing(account, caller)
        if items is None:
            raise caller.deny()
        return row, items

    async def authorize_head(self, caller: Caller, account: str, name: str) -> SwiftContainer:
        row = await self.require(account, name, caller)
        if not acl.may_list(caller, account, row.sysmeta.get("read")):
            raise caller.deny()
        return row
