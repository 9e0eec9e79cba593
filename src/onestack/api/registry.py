"""Which services this build serves: their route tables, policies and catalog entries."""

from __future__ import annotations

from onestack.api.common.policy import Rule
from onestack.api.common.routing import ServiceApi
from onestack.core.identity.bootstrap import ServiceEntry


def services() -> list[ServiceApi]:
    from onestack.api.identity.routes import SERVICE as identity

    return [identity]


def policy_rules() -> list[Rule]:
    from onestack.api.identity.policies import RULES as identity

    return [*identity]


def catalog_entries(base_url: str) -> list[ServiceEntry]:
    return [ServiceEntry("identity", "keystone", f"{base_url}/identity")]
