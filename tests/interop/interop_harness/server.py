"""Starting and stopping a throw-away Onestack (``onestack up``) for one run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .cloud import status_of

READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0


class ServerError(Exception):
    """Onestack did not come up; the message carries the end of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def load_yaml(path: Path, python: Path) -> Any:
    """Parse YAML with PyYAML from this interpreter or, failing that, from ``python``.

    The harness itself needs nothing outside the standard library; tempest's venv
    always has PyYAML.
    """
    try:
        import yaml
    except ImportError:
        code = "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"
        out = subprocess.run(
            [str(python), "-c", code, str(path)], check=True, capture_output=True, text=True
        )
        return json.loads(out.stdout)
    with path.open(encoding="utf-8") as stream:
        return yaml.safe_load(stream)


class Onestack:
    """``onestack up`` in the foreground, in its own process group, logging to a file."""

    def __init__(
        self, onestack: Path, data_dir: Path, config: Path, port: int, log_path: Path
    ) -> None:
        self.onestack = onestack
        self.data_dir = data_dir
        self.config = config
        self.port = port
        self.log_path = log_path
        self.clouds_yaml = data_dir / "clouds.yaml"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def identity_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/identity/v3"

    @property
    def command(self) -> list[str]:
        return [
            str(self.onestack),
            "up",
            "--data-dir",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--config",
            str(self.config),
        ]

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["OS_CLIENT_CONFIG_FILE"] = str(self.clouds_yaml)
        env.pop("OS_CLOUD", None)
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C goes to the harness, which stops it
        )

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Until GET /identity/v3 answers 200 and clouds.yaml exists."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise ServerError(
                    f"onestack exited with {code} before it was ready; its log:\n"
                    + tail(self.log_path)
                )
            if status_of(self.identity_url, timeout=2.0) == 200 and self.clouds_yaml.exists():
                return
            if time.monotonic() > deadline:
                raise ServerError(
                    f"onestack not ready after {timeout:.0f}s "
                    f"(GET {self.identity_url} != 200 or no {self.clouds_yaml}); its log:\n"
                    + tail(self.log_path)
                )
            time.sleep(0.5)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after a grace period; the exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        # Children it left behind in its group (it should leave none).
        _signal_group(proc, signal.SIGKILL)
        # Guests and the network data plane outlive a stop by design: take them down.
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run([str(self.onestack), "down", "--data-dir", str(self.data_dir),
                            "--config", str(self.config)], stdin=subprocess.DEVNULL,
                           stdout=self._log, stderr=subprocess.STDOUT, timeout=300,
                           check=False)
        if self._log is not None:
            self._log.close()
            self._log = None
        return proc.returncode

    def __enter__(self) -> Onestack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
