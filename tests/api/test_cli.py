"""The real `openstack` CLI: the issue's acceptance commands."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import Cli, unique
from tests.support.server import RunningCloud


@pytest.mark.sqlite_only
def test_cli_identity_workflow(cloud: RunningCloud, cli: Cli) -> None:
    token = json.loads(cli.run("token", "issue", "-f", "json").stdout)
    assert token["project_id"] == cloud.accounts["admin"].project_id
    proj, user = unique("cliproj"), unique("cliuser")
    cli.run("project", "create", proj)
    cli.run("user", "create", "--password", "cli-pw-1", user)
    cli.run("role", "add", "--user", user, "--project", proj, "member")
    rows = json.loads(cli.run("role", "assignment", "list", "--names", "-f", "json").stdout)
    assert any(r["User"] == f"{user}@Default" and r["Project"] == f"{proj}@Default"
               and r["Role"] == "member" for r in rows)
    cred = json.loads(cli.run("application", "credential", "create", unique("ac"),
                              "-f", "json").stdout)
    env_args = ["--os-auth-type", "v3applicationcredential", "--os-auth-url", cloud.auth_url,
                "--os-application-credential-id", cred["ID"],
                "--os-application-credential-secret", cred["Secret"]]
    bare_env = {k: v for k, v in cli.env.items() if k != "OS_CLIENT_CONFIG_FILE"}
    out = cli.raw(*env_args, "project", "list", "-f", "json", env=bare_env)
    assert out.returncode == 0, out.stderr
    assert proj in {p["Name"] for p in json.loads(out.stdout)}


def test_cli_demo_cloud_cannot_create_projects(cli: Cli) -> None:
    proc = cli.run("project", "create", unique("x"), cloud="onestack-demo", check=False)
    assert proc.returncode != 0
    assert "403" in proc.stderr or "not authorized" in proc.stderr.lower()
