"""Placement's errors: the shared error tree, each with Placement's error code (1.23+)."""

from __future__ import annotations

from typing import ClassVar

from onestack.errors import BadRequest, Conflict, NotFound


class PlacementCode:
    code: ClassVar[str] = "placement.undefined"


class ProviderNotFound(NotFound, PlacementCode):
    pass


class ConcurrentUpdate(Conflict, PlacementCode):
    code = "placement.concurrent_update"


class DuplicateName(Conflict, PlacementCode):
    code = "placement.duplicate_name"


class InventoryInUse(Conflict, PlacementCode):
    code = "placement.inventory.inuse"


class ProviderInUse(Conflict, PlacementCode):
    code = "placement.resource_provider.inuse"


class CannotDeleteParent(Conflict, PlacementCode):
    code = "placement.resource_provider.cannot_delete_parent"


class CapacityExceeded(Conflict, PlacementCode):
    pass


class BadQuery(BadRequest, PlacementCode):
    code = "placement.query.bad_value"


class DuplicateQueryKey(BadRequest, PlacementCode):
    code = "placement.query.duplicate_key"


class MissingQueryValue(BadRequest, PlacementCode):
    code = "placement.query.missing_value"


class NoValidHost(Conflict, PlacementCode):
    """The scheduler found no host; the message says why, host by host."""

    code = "placement.no_valid_host"

    def __init__(self, message: str, reasons: dict[str, str]) -> None:
        super().__init__(message)
        self.reasons = reasons
