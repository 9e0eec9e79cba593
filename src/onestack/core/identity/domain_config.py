"""Domain-specific configuration (Keystone's /v3/domains/{id}/config): per-domain options of
the identity and ldap groups, stored and served with Keystone's rules (whitelisted options,
the sensitive ones kept but never shown). Onestack serves one SQL identity backend: a
domain's config is kept and answered; it does not switch that domain to LDAP."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from onestack.core.identity.base import Store, get_or_404
from onestack.db.models import Domain
from onestack.db.models.identity_admin import DomainConfig
from onestack.errors import Forbidden, NotFound

Config = dict[str, dict[str, Any]]

# Keystone's defaults for the options a domain may set (keystone.conf's [identity] and
# [ldap]); the sensitive ones (the LDAP bind password) are stored, never read back.
DEFAULTS: Config = {
    "identity": {"driver": "sql", "list_limit": None},
    "ldap": {
        "url": "ldap://localhost", "user": None, "suffix": "cn=example,cn=com",
        "query_scope": "one", "page_size": 0, "alias_dereferencing": "default",
        "debug_level": None, "chase_referrals": None, "user_tree_dn": None,
        "user_filter": None, "user_objectclass": "inetOrgPerson", "user_id_attribute": "cn",
        "user_name_attribute": "sn", "user_mail_attribute": "mail",
        "user_description_attribute": "description", "user_pass_attribute": "userPassword",
        "user_enabled_attribute": "enabled", "user_enabled_invert": False,
        "user_enabled_mask": 0, "user_enabled_default": "True",
        "user_attribute_ignore": ["default_project_id"],
        "user_default_project_id_attribute": None, "user_enabled_emulation": False,
        "user_enabled_emulation_dn": None, "user_enabled_emulation_use_group_config": False,
        "user_additional_attribute_mapping": [], "group_tree_dn": None, "group_filter": None,
        "group_objectclass": "groupOfNames", "group_id_attribute": "cn",
        "group_name_attribute": "ou", "group_members_are_ids": False,
        "group_member_attribute": "member", "group_desc_attribute": "description",
        "group_attribute_ignore": [], "group_additional_attribute_mapping": [],
        "tls_cacertfile": None, "tls_cacertdir": None, "use_tls": False,
        "tls_req_cert": "demand", "use_pool": True, "pool_size": 10, "pool_retry_max": 3,
        "pool_retry_delay": 0.1, "pool_connection_timeout": -1,
        "pool_connection_lifetime": 600, "use_auth_pool": True, "auth_pool_size": 100,
        "auth_pool_connection_lifetime": 60,
    },
}
SENSITIVE = {"identity": set(), "ldap": {"password"}}


def invalid(reason: str) -> Forbidden:
    """Keystone's InvalidDomainConfig is a 403."""
    return Forbidden(f"Invalid domain specific configuration: {reason}")


def check_group_option(group: str, option: str | None = None) -> None:
    if group not in DEFAULTS:
        raise invalid(f"Group {group} is not supported for domain specific configurations.")
    if option is not None and option not in DEFAULTS[group] and option not in SENSITIVE[group]:
        raise invalid(f"Option {option} in group {group} is not supported for domain "
                      "specific configurations.")


def check_config(config: Any) -> None:
    if not isinstance(config, dict) or not config:
        raise invalid("No options specified.")
    for group, options in config.items():
        check_group_option(group)
        if not isinstance(options, dict) or not options:
            raise invalid(f"The value of group {group} specified in the config should be a "
                          "dictionary of options.")
        for option in options:
            check_group_option(group, option)


def default(group: str | None = None, option: str | None = None) -> dict[str, Any]:
    if group is None:
        return {g: dict(v) for g, v in DEFAULTS.items()}
    check_group_option(group, option)
    if option is None:
        return {group: dict(DEFAULTS[group])}
    if option in SENSITIVE[group]:
        raise invalid(f"Reading the default for option {option} in group {group} is not "
                      "supported.")
    return {option: DEFAULTS[group][option]}


def _not_found(domain_id: str, what: str) -> NotFound:
    return NotFound(f"Could not find {what} in domain configuration for domain {domain_id}.")


class DomainConfigs(Store):
    async def _rows(self, s: Any, domain_id: str) -> list[DomainConfig]:
        return list((await s.execute(select(DomainConfig).where(
            DomainConfig.domain_id == domain_id))).scalars())

    @staticmethod
    def _whitelisted(rows: list[DomainConfig]) -> Config:
        out: Config = {}
        for r in sorted(rows, key=lambda r: (r.group, r.option)):
            if not r.sensitive:
                out.setdefault(r.group, {})[r.option] = r.value
        return out

    async def get(self, domain_id: str, group: str | None = None,
                  option: str | None = None) -> dict[str, Any]:
        if group is not None:
            check_group_option(group, option)
        async with self.read() as s:
            await get_or_404(s, Domain, domain_id, "domain")
            config = self._whitelisted(await self._rows(s, domain_id))
        if not config:
            raise _not_found(domain_id, "config")
        if group is None:
            return config
        if group not in config:
            raise _not_found(domain_id, group)
        if option is None:
            return {group: config[group]}
        if option not in config[group]:
            raise _not_found(domain_id, f"{group}:{option}")
        return {option: config[group][option]}

    async def _store(self, s: Any, domain_id: str, config: Config) -> None:
        driver = config.get("identity", {}).get("driver")
        if driver == "sql":  # Keystone: at most one domain configured onto the SQL driver
            other = (await s.execute(select(DomainConfig.domain_id).where(
                DomainConfig.group == "identity", DomainConfig.option == "driver",
                DomainConfig.domain_id != domain_id))).scalars()
            for dom in other:
                row = await s.get(DomainConfig, (dom, "identity", "driver"))
                if row is not None and row.value == "sql":
                    raise Forbidden(f"Domain {dom} already has its config on the SQL driver: "
                                    "only one domain-specific configuration may name it.")
        for group, options in config.items():
            for option, value in options.items():
                row = await s.get(DomainConfig, (domain_id, group, option))
                if row is None:
                    s.add(DomainConfig(domain_id=domain_id, group=group, option=option,
                                       value=value, sensitive=option in SENSITIVE[group]))
                else:
                    row.value = value
        await s.flush()

    async def create(self, domain_id: str, config: Any) -> tuple[Config, bool]:
        """Replace the domain's config; (the config shown, whether it is new)."""
        check_config(config)
        async with self.write() as s:
            await get_or_404(s, Domain, domain_id, "domain")
            existed = bool(await self._rows(s, domain_id))
            await s.execute(delete(DomainConfig).where(DomainConfig.domain_id == domain_id))
            await self._store(s, domain_id, config)
            return self._whitelisted(await self._rows(s, domain_id)), not existed

    async def update(self, domain_id: str, config: Any, group: str | None = None,
                     option: str | None = None) -> Config:
        if option is not None and isinstance(config, dict) and option in config \
                and group is not None:
            config = {group: {option: config[option]}}
        check_config(config)
        if group is not None and set(config) != {group}:
            raise invalid(f"Trying to update group {group}, so that, and only that, group "
                          "must be specified in the config.")
        if option is not None and group is not None and set(config[group]) != {option}:
            raise invalid(f"Trying to update option {option} in group {group}, so that, and "
                          "only that, option must be specified in the config.")
        async with self.write() as s:
            await get_or_404(s, Domain, domain_id, "domain")
            rows = await self._rows(s, domain_id)
            if not rows:
                raise _not_found(domain_id, "config")
            present = {(r.group, r.option) for r in rows}
            if group is not None and group not in {g for g, _ in present}:
                raise _not_found(domain_id, group)
            if option is not None and (group, option) not in present:
                raise _not_found(domain_id, f"{group}:{option}")
            await self._store(s, domain_id, config)
            return self._whitelisted(await self._rows(s, domain_id))

    async def delete(self, domain_id: str, group: str | None = None,
                     option: str | None = None) -> None:
        if group is not None:
            check_group_option(group, option)
        async with self.write() as s:
            await get_or_404(s, Domain, domain_id, "domain")
            q = delete(DomainConfig).where(DomainConfig.domain_id == domain_id)
            if group is not None:
                rows = await self._rows(s, domain_id)
                if not any(r.group == group and (option is None or r.option == option)
                           for r in rows):
                    raise _not_found(domain_id, group if option is None else
                                     f"{group}:{option}")
                q = q.where(DomainConfig.group == group)
                if option is not None:
                    q = q.where(DomainConfig.option == option)
            await s.execute(q)
