"""Boot-to-ACTIVE of real guests, through openstacksdk as a user does it.

Each boot: ``create_server`` (``--nic none``), then GET the server every 0.1 s until it is
ACTIVE, then read its console log every 0.25 s until the guest prints its login banner
(``onestack-tiny login banner: hostname=...``, followed by ``onestack-tiny: up in <s>s``, the
guest's own uptime), then delete it and wait until it is gone. Sequential: one guest at a
time. Needs the repo's venv (openstacksdk).
"""

from __future__ import annotations

import itertools
import re
import time
from pathlib import Path
from typing import Any

from lib.load import percentile
from lib.procs import BenchError

BANNER = "login banner: hostname="
UPTIME = re.compile(r"onestack-tiny: up in ([0-9.]+)s")


def _wait(what: str, check: Any, timeout: float, interval: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(interval)


def accelerator_of(server_id: str) -> str | None:
    """The -accel of the QEMU process running this server (from /proc), if found."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and b"qemu" in argv[0] and any(server_id.encode() in a for a in argv):
            for flag, value in itertools.pairwise(argv):
                if flag == b"-accel":
                    return value.decode().split(",")[0]
            return "default"
    return None


def boot_once(conn: Any, name: str, image_id: str, flavor_id: str, timeout: float
              ) -> dict[str, Any]:  # fmt: skip
    started = time.perf_counter()
    server = conn.compute.create_server(
        name=name, image_id=image_id, flavor_id=flavor_id, networks="none"
    )
    accepted = time.perf_counter()

    def active() -> bool:
        s = conn.compute.get_server(server.id)
        if s.status == "ERROR":
            raise BenchError(f"server {name} went to ERROR: {s.fault}")
        return bool(s.status == "ACTIVE")

    _wait(f"{name} ACTIVE", active, timeout, 0.1)
    is_active = time.perf_counter()
    accel = accelerator_of(server.id)

    def banner() -> str | None:
        out = conn.compute.get_server_console_output(server.id)["output"] or ""
        return out if BANNER in out else None

    console = _wait(f"{name}'s login banner", banner, timeout, 0.25)
    at_banner = time.perf_counter()
    uptime = UPTIME.search(console)
    conn.compute.delete_server(server.id)
    deleted = time.perf_counter()
    _wait(f"{name} gone", lambda: conn.compute.find_server(server.id) is None, timeout, 0.1)
    gone = time.perf_counter()
    return {
        "create_api_s": round(accepted - started, 3),
        "to_active_s": round(is_active - started, 3),
        "to_banner_s": round(at_banner - started, 3),
        "guest_uptime_s": float(uptime.group(1)) if uptime else None,
        "delete_to_gone_s": round(gone - deleted, 3),
        "accelerator": accel,
    }


def summarize(boots: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("create_api_s", "to_active_s", "to_banner_s", "guest_uptime_s",
                "delete_to_gone_s"):  # fmt: skip
        values = sorted(b[key] for b in boots if b[key] is not None)
        if values:
            out[key] = {
                "p50": round(percentile(values, 0.5), 2),
                "p90": round(percentile(values, 0.9), 2),
                "min": round(values[0], 2),
                "max": round(values[-1], 2),
            }
    return out


def run_boots(cloud: str, count: int, flavor: str, image: str, timeout: float
              ) -> dict[str, Any]:  # fmt: skip
    import openstack

    conn = openstack.connect(cloud=cloud)
    try:
        image_id = conn.image.find_image(image, ignore_missing=False).id
        flavor_id = conn.compute.find_flavor(flavor, ignore_missing=False).id
        boots = []
        for i in range(count):
            result = boot_once(conn, f"bench-boot-{i:02d}", image_id, flavor_id, timeout)
            print(
                f"  boot {i + 1}/{count}: ACTIVE {result['to_active_s']:.2f} s, banner "
                f"{result['to_banner_s']:.2f} s (guest up {result['guest_uptime_s']} s), "
                f"delete {result['delete_to_gone_s']:.2f} s"
            )
            boots.append(result)
    finally:
        conn.close()
    accels = sorted({str(b["accelerator"]) for b in boots})
    return {"flavor": flavor, "image": image, "boots": boots, "summary": summarize(boots),
            "accelerator": ", ".join(accels)}  # fmt: skip
