"""Which services this build serves.

Each entry names a package under ``onestack.api`` whose ``routes`` module defines
``SERVICE`` (a ServiceApi), ``RULES`` (its default policy rules) and
``catalog_entries(base_url) -> list[ServiceEntry]`` (its Keystone catalog entries).
Adding a service is adding its name here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from onestack.api.common.policy import Rule
from onestack.api.common.routing import ServiceApi
from onestack.core.identity.bootstrap import ServiceEntry

SERVICES = ["identity", "image", "object_store", "placement", "network", "compute", "volume",
            "metadata", "s3", "internal", "load_balancer", "key_manager", "operator", "metrics"]


def _modules() -> list[ModuleType]:
    return [importlib.import_module(f"onestack.api.{name}.routes") for name in SERVICES]


def services() -> list[ServiceApi]:
    return [m.SERVICE for m in _modules()]


def policy_rules() -> list[Rule]:
    return [rule for m in _modules() for rule in m.RULES]


def catalog_entries(base_url: str) -> list[ServiceEntry]:
    return [entry for m in _modules() for entry in m.catalog_entries(base_url)]


async def bootstrap(runtime: Any, progress: Callable[[str], None] = lambda _m: None) -> None:
    """Each service's idempotent bootstrap step (``bootstrap(runtime, progress)`` in its
    routes module, where it has one), after identity's."""
    for m in _modules():
        step = getattr(m, "bootstrap", None)
        if step is not None:
            await step(runtime, progress)
