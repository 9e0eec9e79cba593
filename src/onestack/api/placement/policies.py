"""Placement's default policy: admin only (rule:admin_api), plus the service role."""

from __future__ import annotations

from onestack.api.common.policy import Rule

P = "placement:"
ADMIN = "rule:placement:admin_or_service"

_NAMES = [
    "resource_providers:list", "resource_providers:create", "resource_providers:show",
    "resource_providers:update", "resource_providers:delete",
    "resource_providers:inventories:list", "resource_providers:inventories:create",
    "resource_providers:inventories:show", "resource_providers:inventories:update",
    "resource_providers:inventories:delete",
    "resource_providers:aggregates:list", "resource_providers:aggregates:update",
    "resource_providers:usages", "usages",
    "resource_providers:traits:list", "resource_providers:traits:update",
    "resource_providers:traits:delete",
    "resource_providers:allocations:list",
    "traits:list", "traits:show", "traits:update", "traits:delete",
    "resource_classes:list", "resource_classes:create", "resource_classes:show",
    "resource_classes:update", "resource_classes:delete",
    "allocations:list", "allocations:manage", "allocations:update", "allocations:delete",
    "allocation_candidates:list", "reshaper:reshape",
]

RULES: list[Rule] = [
    Rule("placement:admin_api", "role:admin"),
    Rule("placement:service_api", "role:service"),
    Rule("placement:admin_or_service", "rule:placement:admin_api or rule:placement:service_api"),
    *(Rule(P + name, ADMIN) for name in _NAMES),
]
