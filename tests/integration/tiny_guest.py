"""Boot the tiny image under QEMU (TCG) for the integration tests: a copy-on-write overlay,
a config drive or a fake metadata service, user-mode networking with an SSH port forward,
the serial console in a file. Everything lives in one temp dir that goes away on close."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def iso_tool() -> list[str] | None:
    if shutil.which("genisoimage"):
        return ["genisoimage"]
    if shutil.which("xorriso"):
        return ["xorriso", "-as", "mkisofs"]
    return None


# QEMU's guestfwd runs this once per guest connection, the socket on stdin/stdout: a
# one-request HTTP server for the files below argv[1].
METADATA_SERVER = """
import sys
from pathlib import Path
line = sys.stdin.buffer.readline().decode()
while sys.stdin.buffer.readline().strip():
    pass
path = line.split()[1] if len(line.split()) > 1 else "/"
target = (Path(sys.argv[1]) / path.lstrip("/")).resolve()
ok = target.is_file() and Path(sys.argv[1]).resolve() in target.parents
body = target.read_bytes() if ok else b""
status = "200 OK" if ok else "404 Not Found"
head = f"HTTP/1.0 {status}\\r\\nContent-Length: {len(body)}\\r\\nConnection: close\\r\\n\\r\\n"
sys.stdout.buffer.write(head.encode() + body)
sys.stdout.buffer.flush()
"""


class Guest:
    """One tiny-image VM. ``source``: ``config-drive`` (ISO 9660), ``config-drive-vfat`` or
    ``metadata-service``."""

    def __init__(self, image: Path, meta_data: dict[str, Any], user_data: str,
                 source: str = "config-drive", vcpus: int = 2, memory_mb: int = 128) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="onestack-tiny-test-"))
        self.console = self.dir / "console.log"
        self.key = self.dir / "id_ed25519"
        self.ssh_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._image, self._meta, self._user_data = image, meta_data, user_data
        self._source, self._vcpus, self._memory = source, vcpus, memory_mb

    def start(self) -> Guest:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)],
                       check=True)
        meta = dict(self._meta, public_keys={"test": self.key.with_suffix(".pub").read_text()})
        disk = self.dir / "disk.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
                        "-b", str(self._image), str(disk)], check=True)
        netdev = f"user,id=n0,hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22"
        cmd = ["qemu-system-x86_64", "-accel", "tcg", "-machine", "pc", "-cpu", "max",
               "-smp", str(self._vcpus), "-m", str(self._memory),
               "-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none",
               "-boot", "strict=on",
               "-drive", f"file={disk},if=virtio,format=qcow2,cache=unsafe",
               "-device", "virtio-net-pci,netdev=n0,romfile=",
               "-serial", f"file:{self.console}"]
        if self._source.startswith("config-drive"):
            drive = self._config_drive(meta, vfat=self._source.endswith("vfat"))
            cmd += ["-drive", f"file={drive},if=virtio,format=raw,readonly=on"]
        else:
            # The metadata address inside the user-mode network, answered by a script.
            netdev += (",net=169.254.169.0/24,host=169.254.169.2,dhcpstart=169.254.169.15,"
                       f"guestfwd=tcp:169.254.169.254:80-{self._serve_metadata(meta)}")
        cmd += ["-netdev", netdev]
        with (self.dir / "qemu.out").open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)
        return self

    def _config_drive(self, meta: dict[str, Any], vfat: bool = False) -> Path:
        tree = self.dir / "config-drive"
        latest = tree / "openstack" / "latest"
        latest.mkdir(parents=True)
        (latest / "meta_data.json").write_text(json.dumps(meta))
        (latest / "user_data").write_text(self._user_data)
        if vfat:
            # As nova's config_drive_format=vfat: a 64 MB FAT file system labelled config-2.
            img = self.dir / "config-drive.vfat"
            env = {"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
            subprocess.run(["mkfs.vfat", "-C", "-n", "config-2", str(img), "65536"],
                           check=True, capture_output=True, env=env)
            subprocess.run(["mcopy", "-s", "-i", str(img), str(tree / "openstack"), "::/"],
                           check=True, env=env)
            return img
        iso = self.dir / "config-drive.iso"
        tool = iso_tool()
        assert tool is not None
        subprocess.run([*tool, "-quiet", "-o", str(iso), "-V", "config-2", "-r", "-J",
                        str(tree)], check=True)
        return iso

    def _serve_metadata(self, meta: dict[str, Any]) -> str:
        root = self.dir / "metadata"
        latest = root / "openstack" / "latest"
        latest.mkdir(parents=True)
        (latest / "meta_data.json").write_text(json.dumps(meta))
        (latest / "user_data").write_text(self._user_data)
        script = self.dir / "metadata_server.py"
        script.write_text(METADATA_SERVER)
        return f"cmd:{sys.executable} {script} {root}"

    def console_text(self) -> str:
        try:
            return self.console.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_console(self, *needles: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.console_text()
            if all(n in text for n in needles):
                return text
            if self.proc is not None and self.proc.poll() is not None:
                out = (self.dir / "qemu.out").read_text(errors="replace")
                raise AssertionError(f"QEMU exited ({self.proc.returncode}): {out}\n{text}")
            time.sleep(0.25)
        raise AssertionError(f"no {needles} on the console after {timeout}s:\n"
                             f"{self.console_text()[-4000:]}")

    def ssh(self, command: str, timeout: float = 60) -> str:
        """Run ``command`` as tempest's RemoteClient does (its shell prologue included)."""
        cmd = ["ssh", "-i", str(self.key), "-p", str(self.ssh_port),
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
               "root@127.0.0.1",
               f"set -eu -o pipefail; PATH=$PATH:/sbin:/usr/sbin; {command}"]
        deadline = time.monotonic() + timeout
        while True:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                                  stdin=subprocess.DEVNULL, check=False)
            if proc.returncode == 0:
                return proc.stdout
            if time.monotonic() > deadline:
                raise AssertionError(f"ssh {command!r} failed: {proc.stderr}")
            time.sleep(1)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
