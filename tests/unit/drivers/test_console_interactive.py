"""The console logger's interactive socket (consolelog.py --interactive): one client at a
time gets the guest's output and types into its serial port while everything is still
logged; a second client is told the console is busy; a client that goes away frees it. And
QEMU's VNC server: a unix socket in the instance dir, no TCP port."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from onestack.drivers.virt.base import GuestSpec, VirtError
from onestack.drivers.virt.qemu import console
from onestack.drivers.virt.qemu.cmdline import GuestFiles, build_command
from onestack.drivers.virt.qemu.consolelog import BUSY

UUID = "00000000-0000-4000-8000-0000000c0502"


async def _read_until(reader: asyncio.StreamReader, want: bytes, timeout: float = 5) -> bytes:
    got = b""
    async with asyncio.timeout(timeout):
        while want not in got:
            chunk = await reader.read(4096)
            if not chunk:
                break
            got += chunk
    return got


async def test_one_viewer_both_ways_while_logging(tmp_path: Path) -> None:
    files = GuestFiles(tmp_path)
    await console.ensure_logger(files, UUID, 4096)
    try:
        # the guest's serial port: a client of console.sock, as QEMU is
        guest = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        guest.connect(str(files.console_socket))
        guest.settimeout(5)
        reader, writer = await console.open_console(files, "serial")
        await asyncio.sleep(0.1)  # the logger has accepted both
        guest.sendall(b"login: ")
        assert b"login: " in await _read_until(reader, b"login: ")
        writer.write(b"hostname\r")
        await writer.drain()
        assert await asyncio.to_thread(guest.recv, 100) == b"hostname\r"
        guest.sendall(b"hostname\r\nguest-7\r\n")
        assert b"guest-7" in await _read_until(reader, b"guest-7")

        # a second viewer is refused with a message, the first keeps working
        r2, w2 = await console.open_console(files, "serial")
        assert await _read_until(r2, b"later") == BUSY
        assert await r2.read() == b""
        w2.close()
        guest.sendall(b"still here\r\n")
        assert b"still here" in await _read_until(reader, b"still here")

        # the first goes away: the next one is served
        writer.close()
        await writer.wait_closed()
        deadline = time.monotonic() + 5
        while True:
            r3, w3 = await console.open_console(files, "serial")
            guest.sendall(b"third\r\n")
            got = await _read_until(r3, b"third", 2)
            if b"third" in got:
                break
            assert got == BUSY and time.monotonic() < deadline
            w3.close()
        w3.close()
        guest.close()
        log = console.read_console(files, None)
        assert log.splitlines() == ["login: hostname", "guest-7", "still here", "third"]
        assert b"hostname\r" not in files.console.read_bytes()[:7]  # typed bytes: not logged
    finally:
        await console.stop_logger(files)
    assert not files.serial_socket.exists()


async def test_no_console_without_a_guest(tmp_path: Path) -> None:
    files = GuestFiles(tmp_path)
    with pytest.raises(VirtError, match="no serial console"):
        await console.open_console(files, "serial")
    with pytest.raises(VirtError, match="no vnc console"):
        await console.open_console(files, "vnc")
    with pytest.raises(VirtError, match="not one of"):
        console.console_path(files, "spice")


def test_qemu_serves_vnc_on_a_unix_socket_only() -> None:
    spec = GuestSpec(uuid=UUID, name="g", vcpus=1, memory_mb=64,
                     instance_dir=Path("/srv/instances/g"))
    cmd = build_command(spec, "tcg")
    assert cmd[cmd.index("-vnc") + 1] == "unix:/srv/instances/g/vnc.sock"  # no TCP port
    assert cmd[cmd.index("-vga") + 1] == "std"
    assert cmd.count("-vnc") == 1
    files = GuestFiles(Path("/srv/instances/g"))
    assert {files.vnc_socket, files.serial_socket} <= set(files.owned())
