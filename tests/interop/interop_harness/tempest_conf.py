"""tempest.conf from the project's template, edited line by line so comments stay."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

# The cloud's security-compliance settings. The same numbers go into Onestack's
# config (section [identity]) and tempest's [identity] user_* options: the two
# required tests test_user_account_lockout and
# test_password_history_check_self_service_api need them equal.
SECURITY_COMPLIANCE: dict[str, int] = {
    "lockout_failure_attempts": 2,
    "lockout_duration": 5,
    "unique_last_password_count": 2,
    "minimum_password_age": 0,
}
# Cheap password hashing keeps the many user creations of a tempest run fast.
PASSWORD_HASH_ROUNDS = 4

# The newest Cinder microversion Onestack serves (api/volume/common.py MAX_VERSION).
VOLUME_MAX_MICROVERSION = "3.67"

_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")


def onestack_config_toml() -> str:
    """The CONF.toml handed to ``onestack up --config``."""
    lines = ["# written by tests/interop/run.py", "[identity]"]
    lines += [f"{key} = {value}" for key, value in SECURITY_COMPLIANCE.items()]
    lines.append(f"password_hash_rounds = {PASSWORD_HASH_ROUNDS}")
    # ListUserImagesTest uploads random bytes as qcow2; tempest runs it only when told the
    # cloud does not enforce formats (image_format_enforcement = false in tempest.conf).
    lines += ["[image]", "require_format_match = false"]
    return "\n".join(lines) + "\n"


class IniText:
    """An INI file as lines; set and unset options in place, keeping comments."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def __str__(self) -> str:
        return "\n".join(self.lines) + "\n"

    def _section_bounds(self, section: str) -> tuple[int, int] | None:
        start: int | None = None
        for index, line in enumerate(self.lines):
            match = _SECTION.match(line)
            if not match:
                continue
            if start is not None:
                return start, index
            if match.group(1).strip() == section:
                start = index
        return (start, len(self.lines)) if start is not None else None

    def _option_index(self, section: str, key: str) -> int | None:
        bounds = self._section_bounds(section)
        if bounds is None:
            return None
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*[=:]")
        for index in range(bounds[0] + 1, bounds[1]):
            if pattern.match(self.lines[index]):
                return index
        return None

    def get(self, section: str, key: str) -> str | None:
        index = self._option_index(section, key)
        if index is None:
            return None
        return re.split(r"[=:]", self.lines[index], maxsplit=1)[1].strip()

    def set(self, section: str, key: str, value: object) -> None:
        text = f"{key} = {_render(value)}"
        index = self._option_index(section, key)
        if index is not None:
            self.lines[index] = text
            return
        bounds = self._section_bounds(section)
        if bounds is None:
            if self.lines and self.lines[-1].strip():
                self.lines.append("")
            self.lines += [f"[{section}]", text]
            return
        end = bounds[1]
        while end - 1 > bounds[0] and not self.lines[end - 1].strip():
            end -= 1
        self.lines.insert(end, text)

    def unset(self, section: str, key: str, why: str) -> None:
        """Comment an option out, so tempest uses its default."""
        index = self._option_index(section, key)
        if index is not None:
            self.lines[index] = f"# {self.lines[index].strip()}  ({why})"

    def placeholders(self) -> list[str]:
        """Active lines that still hold a template placeholder."""
        return [
            line
            for line in self.lines
            if not line.lstrip().startswith("#")
            and ("CHANGE_ME" in line or re.search(r":PORT\b", line))
        ]


def _render(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class CloudFacts:
    """What the harness learnt about the running cloud."""

    port: int
    admin_username: str
    admin_password: str
    admin_project_name: str
    admin_domain_name: str
    region: str | None = None
    catalog_types: set[str] = field(default_factory=set)
    image_ref: str | None = None
    image_ref_alt: str | None = None
    flavor_ref: str | None = None
    flavor_ref_alt: str | None = None
    public_network_id: str | None = None
    public_network_name: str | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def volume_catalog_type(self) -> str | None:
        for kind in ("block-storage", "volumev3", "volume"):
            if kind in self.catalog_types:
                return kind
        return None

    def service_available(self) -> dict[str, bool]:
        return {
            "nova": "compute" in self.catalog_types,
            "glance": "image" in self.catalog_types,
            "cinder": self.volume_catalog_type is not None,
            "neutron": "network" in self.catalog_types,
            "swift": "object-store" in self.catalog_types,
        }


_REGION_SECTIONS = ("identity", "compute", "image", "network", "volume", "object-storage")


def render(
    template: str,
    facts: CloudFacts,
    *,
    debug: bool = True,
    overrides: Mapping[tuple[str, str], str] | None = None,
) -> str:
    """The filled-in tempest.conf."""
    conf = IniText(template)
    conf.set("DEFAULT", "debug", debug)
    conf.set("auth", "admin_username", facts.admin_username)
    conf.set("auth", "admin_password", facts.admin_password)
    conf.set("auth", "admin_project_name", facts.admin_project_name)
    conf.set("auth", "admin_domain_name", facts.admin_domain_name)
    conf.set("identity", "uri_v3", f"{facts.base_url}/identity/v3")
    for key, value in SECURITY_COMPLIANCE.items():
        conf.set("identity", f"user_{key}", value)
    if facts.region:
        for section in _REGION_SECTIONS:
            conf.set(section, "region", facts.region)

    available = facts.service_available()
    for service, up in available.items():
        conf.set("service_available", service, up)
    networking = available["neutron"]
    conf.set("auth", "create_isolated_networks", networking)
    conf.set("validation", "run_validation", networking)

    volume_type = facts.volume_catalog_type
    if volume_type:
        conf.set("volume", "catalog_type", volume_type)
        # Onestack serves Cinder microversions 3.0 to VOLUME_MAX_MICROVERSION.
        conf.set("volume", "min_microversion", "3.0")
        conf.set("volume", "max_microversion", VOLUME_MAX_MICROVERSION)

    for key in ("image_ref", "image_ref_alt", "flavor_ref", "flavor_ref_alt"):
        value = getattr(facts, key)
        if value:
            conf.set("compute", key, value)
        else:
            conf.unset("compute", key, "not found in the cloud")
    if facts.public_network_id:
        conf.set("network", "public_network_id", facts.public_network_id)
        if facts.public_network_name:
            conf.set("network", "floating_network_name", facts.public_network_name)
    else:
        conf.unset("network", "public_network_id", "no external network in the cloud")

    for (section, key), override in (overrides or {}).items():
        conf.set(section, key, override)
    left = conf.placeholders()
    if left:
        raise ValueError("tempest.conf still has placeholders: " + "; ".join(left))
    return str(conf)


def parse_override(text: str) -> tuple[tuple[str, str], str]:
    """``section.key=value`` (as given to ``--set``) -> ((section, key), value)."""
    name, sep, value = text.partition("=")
    section, dot, key = name.strip().rpartition(".")
    if not sep or not dot or not section or not key:
        raise ValueError(f"--set wants SECTION.KEY=VALUE, got {text!r}")
    return (section, key), value.strip()
