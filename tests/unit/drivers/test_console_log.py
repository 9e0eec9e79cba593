"""A guest's console logger (drivers/virt/qemu/consolelog.py): rotation at the cap, reads
across the rotated file, and the real logger process fed by a client writing as fast as it
can: the files stay under the bound while the newest lines are readable; the logger starts
once, is found again, and stops without leaving a process."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import pytest

from onestack.drivers.virt.qemu import console
from onestack.drivers.virt.qemu.cmdline import GuestFiles
from onestack.drivers.virt.qemu.console import read_console
from onestack.drivers.virt.qemu.consolelog import RotatingLog

UUID = "00000000-0000-4000-8000-0000000c0501"


def test_rotation_keeps_each_file_under_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "console.log"
    log = RotatingLog(path, 100)
    log.write(b"a" * 60)
    log.write(b"b" * 60)  # 40 fit; the file rotates; 20 start the new one
    assert path.with_name("console.log.0").read_bytes() == b"a" * 60 + b"b" * 40
    assert path.read_bytes() == b"b" * 20
    log.write(b"c" * 1000)  # one write many times the cap
    assert path.with_name("console.log.0").read_bytes() == b"c" * 100
    assert path.read_bytes() == b"c" * 20  # 1000 = 80 + 9 * 100 + 20
    log.close()


def test_an_oversized_file_from_before_is_rotated_at_start(tmp_path: Path) -> None:
    path = tmp_path / "console.log"
    path.write_bytes(b"old" * 100)
    log = RotatingLog(path, 100)
    assert path.read_bytes() == b""
    assert path.with_name("console.log.0").read_bytes() == b"old" * 100
    log.write(b"new\n")
    log.close()
    assert path.read_bytes() == b"new\n"


def test_reopened_log_appends(tmp_path: Path) -> None:
    path = tmp_path / "console.log"
    RotatingLog(path, 100).write(b"boot 1\n")
    log = RotatingLog(path, 100)
    log.write(b"boot 2\n")
    log.close()
    assert path.read_bytes() == b"boot 1\nboot 2\n"
    with pytest.raises(ValueError):
        RotatingLog(path, 0)


def test_reads_span_the_rotated_file(tmp_path: Path) -> None:
    files = GuestFiles(tmp_path)
    files.console_rotated.write_bytes(b"one\r\ntwo\r\nthr")
    files.console.write_bytes(b"ee\r\nfour\r\n")
    assert read_console(files, None) == "one\ntwo\nthree\nfour\n"
    assert read_console(files, 2) == "three\nfour\n"
    # the newest bytes only, the line cut at the front dropped
    assert read_console(files, None, max_bytes=14) == "three\nfour\n"
    assert read_console(files, None, max_bytes=12) == "four\n"
    files.console_rotated.unlink()
    assert read_console(files, None) == "ee\nfour\n"


def _flood(path: Path, seconds: float) -> int:
    """Write numbered lines into the logger's socket as fast as it takes them; the last
    line's number."""
    n = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(path))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            block = b"".join(b"flood line %08d %s\r\n" % (n + i, b"x" * 40) for i in range(500))
            sock.sendall(block)
            n += 500
    return n - 1


async def test_a_flood_stays_under_the_bound(tmp_path: Path) -> None:
    files = GuestFiles(tmp_path)
    cap = 256 * 1024
    pid = await console.ensure_logger(files, UUID, cap)
    try:
        assert console.is_logger(pid, files)
        assert await console.ensure_logger(files, UUID, cap) == pid  # found again
        last = await asyncio.to_thread(_flood, files.console_socket, 3.0)
        written = (last + 1) * len(b"flood line 00000000 " + b"x" * 40 + b"\r\n")
        assert written > 20 * cap, written  # far more than the cap went through
        deadline = time.monotonic() + 10
        want = f"flood line {last:08d}"
        while want not in (tail := read_console(files, 3)):
            assert time.monotonic() < deadline, tail
            await asyncio.sleep(0.05)
        assert tail.splitlines()[-1].startswith(want)
        assert files.console.stat().st_size <= cap
        assert files.console_rotated.stat().st_size <= cap
        assert {p.name for p in tmp_path.iterdir()} == {
            "console.log", "console.log.0", "console.sock", "serial.sock", "console-logger.pid"}
    finally:
        await console.stop_logger(files)
    assert console.logger_pids(files) == []
    assert not files.console_socket.exists()


async def test_a_killed_logger_is_started_again(tmp_path: Path) -> None:
    files = GuestFiles(tmp_path)
    pid = await console.ensure_logger(files, UUID, 4096)
    try:
        os.kill(pid, 9)
        deadline = time.monotonic() + 5
        while console.is_logger(pid, files):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        again = await console.ensure_logger(files, UUID, 4096)
        assert again != pid and console.logger_pids(files) == [again]
    finally:
        await console.stop_logger(files)
    assert console.logger_pids(files) == []


async def test_the_logger_stops_when_its_instance_dir_goes(tmp_path: Path) -> None:
    """A guest's dir removed under it (a crashed agent's cleanup): no stray logger."""
    files = GuestFiles(tmp_path / "guest")
    files.instance_dir.mkdir()
    pid = await console.ensure_logger(files, UUID, 4096)
    try:
        for path in files.instance_dir.iterdir():
            path.unlink()
        files.instance_dir.rmdir()
        deadline = time.monotonic() + 10
        while console.is_logger(pid, files):
            assert time.monotonic() < deadline, "the logger outlived its instance dir"
            await asyncio.sleep(0.1)
    finally:
        await console.stop_logger(files)


def test_the_logger_starts_under_uvloop(tmp_path: Path) -> None:
    """`onestack up` serves on uvloop: starting the detached logger there must not wait for
    it to exit (a pipe to the launcher stayed open in the daemon under uvloop, and every
    spawn failed with 'did not start' after 10 s)."""
    uvloop = pytest.importorskip("uvloop")
    files = GuestFiles(tmp_path)

    async def start_and_stop() -> float:
        began = time.monotonic()
        await console.ensure_logger(files, UUID, 4096)
        took = time.monotonic() - began
        await console.stop_logger(files)
        return took

    took = uvloop.run(start_and_stop())
    assert took < console.START_TIMEOUT
    assert console.logger_pids(files) == []
