"""The compute bench's markdown report (from the JSON that bench/compute.py writes).

    python bench/compute_report.py bench/out/compute-<time>.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

from lib import report

LIST_TARGET_MS = 100.0
SCHEDULE_TARGET_MS = 20.0
SCHEDULE_STEP = "schedule (select + claim)"
# Upstream figures that cannot be measured here, with where they come from.
UPSTREAM_BOOT = (
    "Upstream Nova was not run here: it needs libvirt, a message queue and the other "
    "services, which this bench does not deploy. For scale, not comparison (other hardware, "
    "KVM, 4 in parallel): OpenStack's performance team's Rally runs of "
    "`NovaServers.boot_and_delete_server` (m1.tiny, CirrOS) report a baseline median of 8.6 s "
    "per boot-to-ACTIVE-and-delete iteration (mean 8.8 s, 95th percentile 11 s; "
    "docs.openstack.org/developer/performance-docs, test_results/reliability/fuel_ccp, "
    "nova boot_and_delete). Onestack's matching figure is create -> ACTIVE plus "
    "delete -> gone."
)


def _boot(data: dict[str, Any]) -> list[str]:
    boot = data["boot"]
    names = {
        "create_api_s": "POST /servers answered (202)",
        "to_active_s": "create -> ACTIVE",
        "to_banner_s": "create -> login banner on the console log",
        "guest_uptime_s": "guest's own uptime at its banner",
        "delete_to_gone_s": "delete -> gone (404)",
    }
    rows = [[names[k], v["p50"], v["p90"], v["min"], v["max"]]
            for k, v in boot["summary"].items()]  # fmt: skip
    return [
        f"Boot: {len(boot['boots'])} sequential boots of {boot['flavor']} from {boot['image']} "
        f"with `--nic none` through openstacksdk, QEMU driver ({boot['accelerator']}).",
        "",
        report.table(["step", "p50 s", "p90 s", "min s", "max s"], rows),
        "",
        UPSTREAM_BOOT,
    ]


def _ms(d: dict[str, Any] | None, key: str) -> Any:
    return None if d is None else d.get(key)


def _scale(data: dict[str, Any]) -> list[str]:
    scale, args = data["scale"], data["args"]
    create = scale["create"]
    out = [
        f"Scale: {scale['hypervisors']} compute hosts (fake driver; {args['hosts'] - 1} run "
        f"by bench/compute_farm.py, registered in {scale['register_s']} s), servers "
        f"{scale['servers']}, database {scale['details']['database']}; Onestack RSS "
        f"{scale['memory']['rss_mib']} MiB.",
        "",
    ]
    if create.get("how") == "api":
        out += [
            f"Create through the API: {create['created']} servers in {create['elapsed_s']} s "
            f"= {create['per_s']} servers/s at {create['concurrency']} requests in flight; "
            f"POST /servers p50 {create['p50_ms']} ms, p99 {create['p99_ms']} ms (scheduling "
            f"included); statuses {create['statuses']}.",
            "",
        ]
    else:
        out += [f"Create through the compute core: {create}.", ""]
    rows = []
    for name, s in scale["gets"].items():
        rows.append([name, "onestack", s["p50_ms"], s["p90_ms"], s["p99_ms"], s["ok"],
                     s["non_2xx"], s["server_cpu_ms_per_request"], s["other_cpu_pct"]])
    up = data.get("upstream_placement")
    if up:
        s = up["allocation candidates"]
        rows.append(["allocation candidates", "upstream placement", s["p50_ms"], s["p90_ms"],
                     s["p99_ms"], s["ok"], s["non_2xx"], s["server_cpu_ms_per_request"],
                     s["other_cpu_pct"]])
    out += [
        f"GET, one request at a time (default page: {scale['default_page_size']} servers):",
        "",
        report.table(["request", "service", "p50 ms", "p90 ms", "p99 ms", "requests",
                      "non-2xx", "server CPU ms/req", "other CPU %"], rows),
        "",
    ]  # fmt: skip
    sched = scale["scheduling"]
    rows = [[step, v["p50_ms"], v["p90_ms"], v["p99_ms"], v["mean_ms"]]
            for step, v in sched["steps"].items()]  # fmt: skip
    out += [
        f"Scheduling in the compute core, {sched['servers'] - 1} servers one by one after the "
        f"others (the first, which loads the placement snapshot, apart: "
        f"{sched['first_ms'].get(SCHEDULE_STEP)} ms); hosts up and enabled "
        f"{sched['hosts_enabled']}, {sched['distinct_hosts_chosen']} distinct hosts chosen:",
        "",
        report.table(["step", "p50 ms", "p90 ms", "p99 ms", "mean ms"], rows),
    ]
    return out


def _targets(data: dict[str, Any]) -> list[str]:
    scale = data["scale"]
    lst = scale["gets"]["servers detail limit=1000"]
    sched = scale["scheduling"]["steps"][SCHEDULE_STEP]
    rows = [
        ["list of 1,000 servers (detail) < 100 ms", f"p50 {lst['p50_ms']} ms, p99 "
         f"{lst['p99_ms']} ms", "yes" if lst["p50_ms"] < LIST_TARGET_MS else "**no**"],
        [f"scheduling decision over {scale['hypervisors']} hosts < 20 ms",
         f"p50 {sched['p50_ms']} ms, p99 {sched['p99_ms']} ms",
         "yes" if sched["p50_ms"] < SCHEDULE_TARGET_MS else "**no**"],
    ]  # fmt: skip
    up = data.get("upstream_placement")
    if up:
        theirs = up["allocation candidates"]["p50_ms"]
        ours = scale["gets"]["allocation candidates"]["p50_ms"]
        rows.append(["upstream allocation candidates p50 / Onestack's scheduling p50",
                     f"{theirs} / {sched['p50_ms']} ms = "
                     f"{theirs / sched['p50_ms']:.1f}x" if sched["p50_ms"] else "",
                     ""])  # fmt: skip
        rows.append(["upstream / Onestack GET allocation candidates p50",
                     f"{theirs} / {ours} ms = {theirs / ours:.1f}x" if ours else "", ""])
    return [report.table(["target", "measured", "met"], rows)]


def markdown(data: dict[str, Any]) -> str:
    m = data["machine"]
    out = [
        f"Compute benchmark, {data['date']}: {m['cpus']} vCPU ({m['cpu_model']}), "
        f"kernel {m['kernel']}, Python {m['python']}.",
        "",
    ]
    if "boot" in data:
        out += [*_boot(data), ""]
    if "scale" in data:
        out += [*_scale(data), "", *_targets(data)]
        for log, problems in data["scale"]["log_problems"].items():
            if problems["count"]:
                out += ["", f"{problems['count']} error-looking lines in {log}, first:"]
                out += [f"    {line}" for line in problems["first"]]
    return "\n".join(out)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(markdown(json.load(f)))
