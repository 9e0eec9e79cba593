"""onestack.cloudconfig: the clouds.yaml entries `onestack up` writes and the dashboard
hands out, and the openrc made from the same entry."""

from __future__ import annotations

import os
import subprocess

import yaml

from onestack import cloudconfig


def test_password_entry_without_a_password_asks_for_it_and_quotes_values() -> None:
    entry = cloudconfig.password_entry("http://h:5000/identity/v3", "o'brien", "demo $x",
                                       "RegionOne")
    assert "password" not in entry["auth"]
    text = cloudconfig.openrc(entry)
    assert "read -sr OS_PASSWORD_INPUT" in text
    shell = subprocess.run(["bash", "-c", text.replace("read -sr", "read -r") +
                            '\necho "$OS_USERNAME|$OS_PROJECT_NAME|$OS_PASSWORD"'],
                           input="s3cret\n", capture_output=True, text=True,
                           env={"PATH": os.environ["PATH"]})
    assert shell.stdout.strip().endswith("o'brien|demo $x|s3cret"), shell.stdout


def test_application_credential_clouds_yaml_round_trips() -> None:
    entry = cloudconfig.application_credential_entry("http://h/identity/v3", "cid", "sec", "R1")
    loaded = yaml.safe_load(cloudconfig.clouds_yaml({"c": entry}))["clouds"]["c"]
    assert loaded["auth_type"] == "v3applicationcredential"
    assert loaded["auth"] == {"auth_url": "http://h/identity/v3",
                              "application_credential_id": "cid",
                              "application_credential_secret": "sec"}
    assert "export OS_AUTH_TYPE=v3applicationcredential" in cloudconfig.openrc(entry)
