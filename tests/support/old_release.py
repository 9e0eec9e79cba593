"""An older Onestack, installed beside the working tree for upgrade tests.

The source of one commit (``git archive``, never a worktree: the tree is shared) in a venv of
its own whose site-packages reuse this venv's dependencies (a ``.pth`` file: the old source
first, then this venv's site-packages, so nothing is downloaded and the working tree's
``onestack`` is not on its path). Kept by commit id under the user's cache directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The previous CI-green stop on main (its schema lacks three later migrations).
PREVIOUS = "376f4e3063a7602d6d1699b0de8eee38eddb5f15"


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "onestack-upgrade"


def available(commit: str = PREVIOUS) -> bool:
    """Whether the commit can be had: already cached, or in this checkout's history."""
    if (cache_root() / commit / "bin" / "onestack").exists():
        return True
    return shutil.which("git") is not None and subprocess.run(
        ["git", "-C", str(REPO), "cat-file", "-e", f"{commit}^{{commit}}"],
        capture_output=True, check=False).returncode == 0


def install(commit: str = PREVIOUS) -> Path:
    """The ``onestack`` command of ``commit`` (made on first use)."""
    root = cache_root() / commit
    command = root / "bin" / "onestack"
    if command.exists():
        return command
    tmp = root.parent / f"{commit}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit, "src"],
                             capture_output=True, check=True, timeout=120).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True, timeout=120)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp)], check=True,
                   capture_output=True, timeout=120)
    site = next(tmp.glob("lib/python*/site-packages"))
    ours = sysconfig.get_paths()["purelib"]
    (site / "onestack-previous.pth").write_text(f"{root / 'src'}\n{ours}\n")
    script = tmp / "bin" / "onestack"
    script.write_text(f"#!{root / 'bin' / 'python'}\n"
                      "from onestack.cli.main import main\n\nmain()\n")
    script.chmod(0o755)
    if root.exists():  # another run made it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.rename(root)
    return command
