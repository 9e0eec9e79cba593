"""The metadata helpers of the guest's boot script, run with this host's sh and awk (the
guest runs the same POSIX code with busybox)."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest

from onestack.images.rootfs import GUEST_FILES, guest_files

HELPERS = resources.files("onestack.images") / "guest" / "metadata.sh"
pytestmark = pytest.mark.skipif(shutil.which("sh") is None or shutil.which("awk") is None,
                                reason="needs sh and awk")


def sh(script: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", f". {HELPERS}\n{script}"], input=stdin, text=True,
                          capture_output=True, check=False)


NOVA = {
    "uuid": "d8e02d56-2648-49a3-bf97-6be8f1204f38",
    "meta": {"hostname": "not-this", "role": "web"},
    "public_keys": {"mykey": "ssh-ed25519 AAAAC3Nza key@host\n"},
    "keys": [{"name": "mykey", "type": "ssh", "data": "ssh-ed25519 AAAAC3Nza key@host\n"}],
    "hostname": "vm1.novalocal",
    "name": "VM One",
    "launch_index": 0,
    "availability_zone": "nova",
    "devices": [],
    "odd": "tab\there \"quoted\" back\\slash \u00e9 A",
    "flags": [True, False, None, -1.5e3],
}


def flatten(doc: object) -> str:
    proc = sh("json_flatten", json.dumps(doc))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_json_flatten_paths_and_values() -> None:
    lines = flatten(NOVA).splitlines()
    assert "uuid\td8e02d56-2648-49a3-bf97-6be8f1204f38" in lines
    assert "meta.hostname\tnot-this" in lines
    assert "public_keys.mykey\tssh-ed25519 AAAAC3Nza key@host" in lines
    assert "keys.0.type\tssh" in lines
    assert "launch_index\t0" in lines
    assert "odd\ttab\there \"quoted\" back\\slash ? A" in lines
    flags = [line for line in lines if line.startswith("flags.")]
    assert flags == ["flags.0\ttrue", "flags.1\tfalse", "flags.2\tnull", "flags.3\t-1500.0"]
    assert not any(line.startswith("devices") for line in lines)


def test_json_flatten_pretty_printed_and_unicode_escapes() -> None:
    text = json.dumps({"a": {"b": ["x", {"c": "\u0041"}]}}, indent=4, ensure_ascii=True)
    assert flatten(json.loads(text)) == "a.b.0\tx\na.b.1.c\tA\n"
    assert sh("json_flatten", text).stdout == "a.b.0\tx\na.b.1.c\tA\n"


@pytest.mark.parametrize("bad", ["{", '{"a" 1}', '{"a": "x"', "[1 2]", '{"a": 1} x'])
def test_json_flatten_rejects_broken_documents(bad: str) -> None:
    assert sh("json_flatten", bad).returncode != 0


def test_md_get_and_under() -> None:
    flat = flatten(NOVA)
    assert sh("md_get availability_zone", flat).stdout == "nova\n"
    assert sh("md_get missing", flat).stdout == ""
    assert sh("md_under meta.", flat).stdout == "not-this\nweb\n"


@pytest.mark.parametrize(("doc", "expected"), [
    ({"hostname": "vm1.novalocal", "name": "other"}, "vm1"),
    ({"name": "tinytest"}, "tinytest"),
    ({"hostname": "Web_01 x", "name": "y"}, "web-01-x"),
    ({"name": "tempest-ServersTestJSON-server-1234"}, "tempest-serverstestjson-server-1234"),
    ({"hostname": "a" * 80}, "a" * 63),
    ({"hostname": "a" * 62 + "_b"}, "a" * 62),
    ({"uuid": "x"}, ""),
])
def test_md_hostname(doc: dict[str, str], expected: str) -> None:
    assert sh("md_hostname", flatten(doc)).stdout == expected + "\n"


def test_md_public_keys_prefers_public_keys_then_keys() -> None:
    two = {"public_keys": {"a": "ssh-rsa AAA a\n", "b": "ssh-ed25519 BBB b"}}
    assert sh("md_public_keys", flatten(two)).stdout == "ssh-rsa AAA a\nssh-ed25519 BBB b\n"
    only_keys = {"keys": [{"type": "ssh", "data": "ssh-ed25519 CCC c\n"}]}
    assert sh("md_public_keys", flatten(only_keys)).stdout == "ssh-ed25519 CCC c\n"
    assert sh("md_public_keys", flatten({"name": "x"})).stdout == ""


def test_is_script(tmp_path: Path) -> None:
    d = tmp_path
    (d / "yes").write_text("#!/bin/sh\necho hi\n")
    (d / "no").write_text("#cloud-config\n")
    (d / "empty").write_text("")
    assert sh(f"is_script {d}/yes").returncode == 0
    assert sh(f"is_script {d}/no").returncode != 0
    assert sh(f"is_script {d}/empty").returncode != 0
    assert sh(f"is_script {d}/absent").returncode != 0


def test_guest_files_are_packaged_and_parse_as_sh() -> None:
    files = guest_files()
    assert set(files) == set(GUEST_FILES)
    for name, data in files.items():
        if name == "inittab":
            continue
        proc = subprocess.run(["sh", "-n"], input=data.decode(), text=True,
                              capture_output=True, check=False)
        assert proc.returncode == 0, f"{name}: {proc.stderr}"
    assert b"console" in files["inittab"] or b"cttyhack" in files["inittab"]
