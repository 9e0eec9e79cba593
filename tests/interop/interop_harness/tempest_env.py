"""Tempest itself: its venv, a workspace, one run, and the run's subunit stream."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

TEMPEST_VERSION = "47.0.0"
VENV_DIR = Path(__file__).resolve().parent.parent / ".venv-tempest"

Log = Callable[[str], None]


class TempestError(Exception):
    """Tempest could not be installed or set up."""


class Venv:
    """tests/interop/.venv-tempest, with tempest==47.0.0 in it."""

    def __init__(self, path: Path = VENV_DIR) -> None:
        self.path = path

    def bin(self, name: str) -> Path:
        return self.path / "bin" / name

    @property
    def python(self) -> Path:
        return self.bin("python")

    def installed_version(self) -> str | None:
        """What ``tempest --version`` says, or None when it does not run."""
        tempest = self.bin("tempest")
        if not tempest.exists():
            return None
        try:
            out = subprocess.run(
                [str(tempest), "--version"], capture_output=True, text=True, timeout=120
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        words = (out.stdout + out.stderr).split()
        return words[-1] if out.returncode == 0 and words else None

    def ensure(self, log: Log) -> None:
        """Create the venv and install tempest, unless the right one is there."""
        version = self.installed_version()
        if version == TEMPEST_VERSION:
            return
        log(
            f"installing tempest=={TEMPEST_VERSION} into {self.path}"
            + (f" (found {version})" if version else "")
        )
        if not self.python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(self.path)], check=True)
        pip = [str(self.python), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "--upgrade", "pip"], check=False)
        subprocess.run([*pip, f"tempest=={TEMPEST_VERSION}"], check=True)
        version = self.installed_version()
        if version != TEMPEST_VERSION:
            raise TempestError(f"tempest --version says {version!r} after installing")


def tempest_env() -> dict[str, str]:
    """The environment for tempest: no OS_* cloud settings leaking in from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def init_workspace(venv: Venv, workspace: Path) -> None:
    """``tempest init``, with its workspace registry and global config dir beside the
    workspace instead of in ~/.tempest."""
    registry = workspace.parent / "tempest-workspaces.yaml"
    global_etc = workspace.parent / "tempest-global-etc"
    global_etc.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            str(venv.bin("tempest")),
            "init",
            "--config-dir",
            str(global_etc),
            "--workspace-path",
            str(registry),
            "--name",
            workspace.name,
            str(workspace),
        ],
        check=True,
        capture_output=True,
        env=tempest_env(),
    )


def run_tests(
    venv: Venv,
    workspace: Path,
    load_list: Path,
    config: Path,
    console_log: Path,
    *,
    concurrency: int = 2,
    timeout: float | None = None,
    echo: bool = True,
    worker_file: Path | None = None,
) -> int:
    """``tempest run --load-list``; its console output goes to console_log (and stdout).

    Tempest runs in its own process group, so that on Ctrl-C, a timeout or any other
    exit the harness stops it and its stestr workers as a whole.
    """
    command = [
        str(venv.bin("tempest")),
        "run",
        "--config-file",
        str(config),
        "--load-list",
        str(load_list),
        "--concurrency",
        str(concurrency),
    ]
    if worker_file is not None:  # which classes each worker runs (balance.py)
        command += ["--worker-file", str(worker_file)]
    timed_out = threading.Event()

    def on_timeout() -> None:
        timed_out.set()
        stop_group(proc)

    with console_log.open("wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=workspace,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=tempest_env(),
            start_new_session=True,
        )
        timer = threading.Timer(timeout, on_timeout) if timeout else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            assert proc.stdout is not None
            for line in iter(proc.stdout.readline, b""):
                log.write(line)
                log.flush()
                if echo:
                    sys.stdout.write(line.decode("utf-8", "replace"))
                    sys.stdout.flush()
            code = proc.wait()
            if timed_out.is_set():
                log.write(f"\n*** tempest run stopped after {timeout}s ***\n".encode())
            return code
        finally:
            if timer is not None:
                timer.cancel()
            stop_group(proc)


def stop_group(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGINT, SIGTERM, then SIGKILL to a process group until its leader is gone."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # any stestr workers left behind


def last_subunit(venv: Venv, workspace: Path) -> bytes:
    """The last run's subunit v2 stream from the workspace's stestr repository."""
    out = subprocess.run(
        [str(venv.bin("stestr")), "last", "--subunit"],
        cwd=workspace,
        capture_output=True,
        env=tempest_env(),
        timeout=300,
    )
    return out.stdout
