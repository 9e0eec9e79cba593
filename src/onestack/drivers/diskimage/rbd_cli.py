"""Running Ceph's ``rbd``/``ceph``/``rados`` CLIs for one pool as one cephx user: shared by
the rbd volume driver (drivers/storage/rbd.py) and the rbd image store
(drivers/blob/rbd.py), as qemu_img.py is shared by storage and virt.

Every command gets ``--conf``, ``--id`` and ``--keyring`` and librados' own timeouts
(``client_mount_timeout``, ``rados_mon_op_timeout``, ``rados_osd_op_timeout``), so an
unreachable cluster, a missing pool, a wrong key or a full cluster ends in an error naming
the cause (``error``, the user's exception class), never a hang. A write to a full cluster
blocks inside librados until the OSD timeout; that timeout is then told apart from a dead
cluster by asking the monitors whether the pool is flagged full.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

COPY_TIMEOUT = 3600.0
CHUNK = 1024 * 1024
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# librados error text -> what an operator should check
_KEY = "the cluster refused the cephx key of client.{user} (wrong key or missing capabilities)"
_DOWN = "the Ceph cluster is unreachable (no monitor answered within {timeout:g} s)"
FULL = "the pool {pool!r} is full (the Ceph cluster has no space left for it)"
_CAUSES = (
    ("handle_auth_bad_method", _KEY),
    ("(13) Permission denied", _KEY),
    ("(1) Operation not permitted", _KEY),
    ("error opening pool", "the pool {pool!r} does not exist"),
    ("(122) Disk quota exceeded", FULL),
    ("(28) No space left on device", FULL),
    ("authenticate timed out", _DOWN),
    ("(110) Connection timed out", _DOWN),
    ("error calling conf_read_file", "cannot read the Ceph configuration {conf}"),
    ("did not load config file", "cannot read the Ceph configuration {conf}"),
)
# the exit status of the rbd/ceph CLIs is the errno of what failed
_CODES = {13: _KEY, 1: _KEY, 110: _DOWN}


class CephError(Exception):
    pass


class RbdCli:
    """One pool, one cephx user; ``error`` is the exception class every failure raises."""

    error: type[Exception] = CephError
    full: type[Exception] = CephError  # the pool or the cluster is full

    def __init__(self, pool: str, user: str, conf: str | Path, keyring: str | Path | None,
                 cluster_name: str = "ceph", timeout: float = 20.0,
                 osd_timeout: float | None = None, rbd: str | None = None,
                 ceph: str | None = None) -> None:
        self.pool = self.check_name(pool, "pool")
        self.user = self.check_name(user, "cephx user")
        self.conf = str(conf)
        self.keyring = str(keyring) if keyring else ""
        self.cluster_name = cluster_name
        self.timeout = float(timeout)
        # one OSD operation (4 MiB at most) that takes longer is a stuck or full cluster
        self.osd_timeout = float(osd_timeout or max(60.0, 3 * self.timeout))
        self.rbd_bin = rbd or shutil.which("rbd") or "rbd"
        self.ceph_bin = ceph or shutil.which("ceph") or "ceph"
        self._fsid: str | None = None

    def check_name(self, value: str, what: str) -> str:
        if not value or not _SAFE.match(value):
            raise self.error(f"bad {what} {value!r}")
        return value

    def spec(self, image: str, snap: str | None = None) -> str:
        return f"{self.pool}/{image}" + (f"@{snap}" if snap else "")

    def qemu_target(self, image: str) -> str:
        """The RBD image as a qemu-img filename (QEMU's rbd driver, librbd)."""
        return qemu_filename(f"{self.pool}/{image}", self.user, self.conf, self.keyring)

    # --- running the CLIs ----------------------------------------------------------------
    def common(self) -> list[str]:
        args = ["--conf", self.conf, "--id", self.user, "--cluster", self.cluster_name]
        if self.keyring:
            args += ["--keyring", self.keyring]
        t = str(int(max(1, self.timeout)))
        return [*args, "--client_mount_timeout", t, "--rados_mon_op_timeout", t,
                "--rados_osd_op_timeout", str(int(max(1, self.osd_timeout)))]

    def explain(self, what: str, err: str, code: int | None) -> Exception:
        text = err.strip()
        fmt = {"user": self.user, "pool": self.pool, "timeout": self.timeout,
               "conf": self.conf}
        for needle, cause in _CAUSES:
            if needle in text:
                kind = self.full if cause == FULL else self.error
                return kind(f"Ceph: {what} failed: " + cause.format(**fmt))
        if code in _CODES and "couldn't connect" in text:
            return self.error(f"Ceph: {what} failed: " + _CODES[code].format(**fmt))
        lines = [ln for ln in text.splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit status {code}"
        return self.error(f"Ceph: {what} failed: {why}")

    async def failure(self, what: str, err: str, code: int | None) -> Exception:
        """``explain``, telling a full pool from a dead cluster: an OSD operation that timed
        out after the monitors answered is a write the full cluster held back."""
        if (code == 110 or "(110) Connection timed out" in err) and \
                "authenticate timed out" not in err and await self.pool_full():
            return self.full(f"Ceph: {what} failed: " + FULL.format(pool=self.pool))
        return self.explain(what, err, code)

    async def pool_full(self) -> bool:
        """Whether the monitors flag the pool (or the whole cluster) full."""
        try:
            out = await self.run([self.ceph_bin, *self.common(), "--connect-timeout",
                                  str(int(max(1, self.timeout))), "osd", "dump", "--format",
                                  "json"], "ceph osd dump", self.timeout * 2, diagnose=False)
            dump = json.loads(out)
        except (ValueError, Exception):
            return False
        if "full" in str(dump.get("flags", "")).split(","):
            return True
        for pool in dump.get("pools") or []:
            if pool.get("pool_name") == self.pool:
                flags = set(pool.get("flags_names", "").split(","))
                return bool(flags & {"full", "full_quota"})
        return False

    async def run(self, argv: list[str], what: str, timeout: float,
                  stdin: int | None = None, diagnose: bool = True) -> bytes:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=stdin if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise self.error(f"cannot run {argv[0]}: {exc.strerror}") from exc
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            await kill(proc)
            raise self.error(f"Ceph: {what} failed: the Ceph cluster did not answer "
                             f"within {timeout:g} s") from None
        except asyncio.CancelledError:
            await kill(proc)
            raise
        if proc.returncode != 0:
            text = err.decode(errors="replace")
            if diagnose:
                raise await self.failure(what, text, proc.returncode)
            raise self.explain(what, text, proc.returncode)
        return out

    async def rbd(self, *args: str, timeout: float | None = None) -> bytes:
        return await self.run([self.rbd_bin, *self.common(), *args], f"rbd {args[0]}",
                              timeout or max(self.timeout * 3, self.osd_timeout + 5))

    async def rbd_json(self, *args: str) -> Any:
        out = await self.rbd(*args, "--format", "json")
        try:
            return json.loads(out or b"null")
        except ValueError as exc:
            raise self.error(f"Ceph: rbd {args[0]} gave no JSON") from exc

    async def info(self, image: str) -> dict[str, Any] | None:
        """``rbd info`` of an image in the pool, or None when there is none."""
        try:
            info = await self.rbd_json("info", self.spec(image))
        except Exception as exc:
            if isinstance(exc, self.error) and "error opening image" in str(exc):
                return None
            raise
        return info if isinstance(info, dict) else None

    async def rm(self, image: str) -> None:
        """``rbd rm``; a missing image is not an error."""
        try:
            await self.rbd("rm", "--no-progress", self.spec(image))
        except Exception as exc:
            if not (isinstance(exc, self.error) and "(2) No such file or directory" in str(exc)):
                raise

    async def fsid(self) -> str:
        """The cluster's fsid (``ceph fsid``), asked once."""
        if self._fsid is None:
            out = await self.run([self.ceph_bin, *self.common(), "--connect-timeout",
                                  str(int(max(1, self.timeout))), "fsid", "--format", "json"],
                                 "ceph fsid", self.timeout * 2)
            try:
                self._fsid = str(json.loads(out)["fsid"])
            except (ValueError, KeyError, TypeError) as exc:
                raise self.error("Ceph: ceph fsid gave no fsid") from exc
        return self._fsid

    async def export(self, spec: str) -> AsyncGenerator[bytes, None]:
        """``rbd export <spec> -``, streamed (no local copy); the export is killed and its
        pipes drained when the reader stops early."""
        argv = [self.rbd_bin, *self.common(), "export", "--no-progress", spec, "-"]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise self.error(f"cannot run rbd: {exc.strerror}") from exc
        assert proc.stdout is not None and proc.stderr is not None
        errors = asyncio.ensure_future(proc.stderr.read())
        stall = max(60.0, 3 * self.timeout)
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(proc.stdout.read(CHUNK), stall)
                except TimeoutError:
                    raise self.error(f"Ceph: rbd export failed: the Ceph cluster sent "
                                     f"nothing for {stall:g} s") from None
                if not chunk:
                    break
                yield chunk
            code = await proc.wait()
            if code != 0:
                raise self.explain("rbd export", (await errors).decode(errors="replace"),
                                   code)
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                # the pipes must reach EOF before the process counts as gone
                while await proc.stdout.read(CHUNK):
                    pass
                await proc.wait()
            errors.cancel()


def parse_location(url: str) -> tuple[str, str, str, str] | None:
    """(fsid, pool, image, snapshot) of Glance's ``rbd://<fsid>/<pool>/<image>/<snap>``."""
    if not url.startswith("rbd://"):
        return None
    parts = url[len("rbd://"):].split("/")
    if len(parts) != 4 or not all(_SAFE.match(p) for p in parts):
        return None
    return parts[0], parts[1], parts[2], parts[3]


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def qemu_filename(name: str, user: str, conf: str = "", keyring: str = "",
                  mons: list[str] | None = None) -> str:
    """``pool/image`` as QEMU's legacy rbd filename for qemu-img: the user, ceph.conf,
    keyring path and monitors (``host:port``) as options; never the key itself (librados
    reads it from the keyring), so nothing secret is on a command line."""
    opts = [f"rbd:{_esc(name)}", f"id={_esc(user)}"]
    if conf:
        opts.append(f"conf={_esc(conf)}")
    if keyring:
        opts.append(f"keyring={_esc(keyring)}")
    if mons:
        opts.append("mon_host=" + "\\;".join(_esc(m) for m in mons))
    return ":".join(opts)


async def kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()
