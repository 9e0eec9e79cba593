"""Debian packages for the image: resolve names to exact files, download them with
``apt-get download`` into the cache, check their hashes and unpack them with
``dpkg-deb -x``."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path


class AptError(RuntimeError):
    """apt could not resolve or fetch a package."""


@dataclass(frozen=True)
class Deb:
    package: str
    filename: str
    size: int
    sha256: str

    @property
    def version(self) -> str:
        return self.filename.split("_")[1].replace("%3a", ":")


def _apt_options() -> list[str]:
    # As root, apt drops to the _apt user to download, which cannot write into a root-owned
    # cache directory; download as root instead of warning about it.
    return ["-o", "APT::Sandbox::User=root"] if os.geteuid() == 0 else []


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise AptError(f"{cmd[0]} is not installed (this needs a Debian or Ubuntu host)") from exc
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise AptError(f"`{shlex.join(cmd)}` failed: {' / '.join(detail)}")
    return proc.stdout


def update_lists() -> None:
    _run(["apt-get", *_apt_options(), "update", "-qq"])


def parse_depends(text: str) -> dict[str, list[str]]:
    """Parse ``apt-cache depends [--recurse]`` output: each package's hard dependencies (the
    first of each set of alternatives; virtual ``<names>`` are skipped)."""
    tree: dict[str, list[str]] = {}
    current: list[str] | None = None
    alternative = False
    for line in text.splitlines():
        if line and not line[0].isspace():
            current = tree.setdefault(line.strip(), [])
            alternative = False
            continue
        m = re.match(r"\s*(\|?)(?:Pre)?Depends:\s+(\S+)", line)
        if not m or current is None:
            continue
        name = m.group(2)
        if not alternative and not name.startswith("<") and name not in current:
            current.append(name)
        alternative = m.group(1) == "|"
    return tree


def dependency_tree(packages: list[str]) -> dict[str, list[str]]:
    """The hard dependencies of ``packages`` and, recursively, of theirs (one apt call)."""
    return parse_depends(_run(["apt-cache", "depends", "--recurse", "--no-recommends",
                               "--no-suggests", "--no-conflicts", "--no-breaks",
                               "--no-replaces", "--no-enhances", *packages]))


_URI = re.compile(r"^'(?P<uri>[^']+)'\s+(?P<file>\S+)\s+(?P<size>\d+)\s+(?P<hash>\S+)")


def parse_print_uris(package_names: list[str], text: str) -> list[Deb]:
    """Parse ``apt-get download --print-uris`` output (one line per package, in order)."""
    debs = []
    for line in text.splitlines():
        m = _URI.match(line)
        if not m:
            continue
        algo, _, digest = m.group("hash").partition(":")
        if algo.lower() != "sha256":
            raise AptError(f"apt gave a {algo} hash for {m.group('file')}; expected SHA256")
        filename = m.group("file")
        debs.append(Deb(filename.split("_")[0], filename, int(m.group("size")), digest))
    missing = set(package_names) - {d.package for d in debs}
    if missing:
        raise AptError(f"apt did not resolve {', '.join(sorted(missing))}")
    return debs


def resolve(packages: list[str]) -> list[Deb]:
    """Exact files for ``packages`` from the local package lists (no download)."""
    cmd = ["apt-get", *_apt_options(), "download", "--print-uris", *packages]
    return parse_print_uris(packages, _run(cmd))


def lists_empty(lists_dir: Path = Path("/var/lib/apt/lists")) -> bool:
    return not any(lists_dir.glob("*_Packages*"))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(debs: list[Deb], dest: Path) -> list[Path]:
    """Download what ``dest`` lacks with ``apt-get download``; verify every file's hash."""
    dest.mkdir(parents=True, exist_ok=True)
    want = [d for d in debs if not (dest / d.filename).exists()]
    if want:
        _run(["apt-get", *_apt_options(), "download", "-qq",
              *[f"{d.package}={d.version}" for d in want]], cwd=dest)
    paths = []
    for d in debs:
        path = dest / d.filename
        if not path.exists():
            raise AptError(f"apt-get download did not produce {d.filename}")
        if sha256_file(path) != d.sha256:
            path.unlink()
            raise AptError(f"{d.filename} does not match its SHA256 (removed; try again)")
        paths.append(path)
    return paths


def extract(deb: Path, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    _run(["dpkg-deb", "-x", str(deb), str(into)])
