"""clouds.yaml entries and openrc files: one place, used by ``onestack up`` (cli/clouds.py)
and by the dashboard's downloads, so both give clients the same settings."""

from __future__ import annotations

import shlex
from typing import Any

import yaml

DOMAIN = "Default"


def password_entry(auth_url: str, username: str, project_name: str, region: str,
                   password: str | None = None, domain: str = DOMAIN) -> dict[str, Any]:
    """A password entry; without ``password`` the client asks for it."""
    auth: dict[str, Any] = {"auth_url": auth_url, "username": username}
    if password is not None:
        auth["password"] = password
    auth.update({"project_name": project_name, "user_domain_name": domain,
                 "project_domain_name": domain})
    return {"auth": auth, "region_name": region, "interface": "public",
            "identity_api_version": 3}


def application_credential_entry(auth_url: str, credential_id: str, secret: str,
                                 region: str) -> dict[str, Any]:
    return {"auth_type": "v3applicationcredential",
            "auth": {"auth_url": auth_url, "application_credential_id": credential_id,
                     "application_credential_secret": secret},
            "region_name": region, "interface": "public", "identity_api_version": 3}


def clouds_yaml(entries: dict[str, dict[str, Any]]) -> str:
    return yaml.safe_dump({"clouds": entries}, default_flow_style=False, sort_keys=False)


ENV = {"auth_url": "OS_AUTH_URL", "username": "OS_USERNAME", "password": "OS_PASSWORD",
       "project_name": "OS_PROJECT_NAME", "user_domain_name": "OS_USER_DOMAIN_NAME",
       "project_domain_name": "OS_PROJECT_DOMAIN_NAME",
       "application_credential_id": "OS_APPLICATION_CREDENTIAL_ID",
       "application_credential_secret": "OS_APPLICATION_CREDENTIAL_SECRET"}


def openrc(entry: dict[str, Any]) -> str:
    """The same entry as shell exports; a password entry without one asks for it."""
    lines = ["# Source this file: . ./openrc"]
    if entry.get("auth_type"):
        lines.append(f"export OS_AUTH_TYPE={shlex.quote(entry['auth_type'])}")
    for key, value in entry["auth"].items():
        lines.append(f"export {ENV[key]}={shlex.quote(str(value))}")
    lines += [f"export OS_REGION_NAME={shlex.quote(entry['region_name'])}",
              f"export OS_INTERFACE={entry['interface']}",
              f"export OS_IDENTITY_API_VERSION={entry['identity_api_version']}"]
    if "username" in entry["auth"] and "password" not in entry["auth"]:
        lines += ['printf "OpenStack password for %s: " "$OS_USERNAME"',
                  "read -sr OS_PASSWORD_INPUT", "echo",
                  'export OS_PASSWORD="$OS_PASSWORD_INPUT"']
    return "\n".join(lines) + "\n"
