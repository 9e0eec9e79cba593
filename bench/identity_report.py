"""The identity benchmark's comparison, targets and markdown report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lib import report
from lib.load import KEEP_ALIVE, NEW_CONNECTION

ISSUE, VALIDATE, LIST = "token issue", "token validate", "project list"
OPERATIONS = (ISSUE, VALIDATE, LIST)

# Targets from the identity performance issue.
TARGET_RATIO = 5.0  # token validate and project list req/s, Onestack / upstream
TARGET_HASH_SHARE = 0.90  # token issue, share of the bcrypt-bound limit
TARGET_IDLE_RSS_MIB = 150.0


def find(service: dict[str, Any] | None, operation: str, mode: str) -> dict[str, Any] | None:
    if not service:
        return None
    for result in service["results"]:
        if result["operation"] == operation and result["mode"] == mode:
            return dict(result)
    return None


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def compare(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Onestack / upstream for each operation; new connections are the like-for-like basis."""
    ours, theirs = data["services"].get("onestack"), data["services"].get("upstream")
    rows = []
    for operation in OPERATIONS:
        new = find(ours, operation, NEW_CONNECTION)
        kept = find(ours, operation, KEEP_ALIVE)
        base = find(theirs, operation, NEW_CONNECTION)
        if not (new and base):
            continue
        rows.append(
            {
                "operation": operation,
                "rps_ratio_new_conn": ratio(new["rps"], base["rps"]),
                "rps_ratio_keep_alive": ratio(kept["rps"], base["rps"]) if kept else None,
                "onestack_p99_ms_new_conn": new["p99_ms"],
                "onestack_p99_ms_keep_alive": kept["p99_ms"] if kept else None,
                "upstream_p50_ms": base["p50_ms"],
            }
        )
    return rows


def targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value and whether it is met."""
    ours = data["services"].get("onestack")
    if not ours:
        return []
    rows: list[dict[str, Any]] = []

    def add(target: str, value: str, met: bool | None) -> None:
        rows.append({"target": target, "value": value, "met": met})

    by_op = {row["operation"]: row for row in data["comparison"]}
    for operation in (VALIDATE, LIST):
        row = by_op.get(operation)
        if row is None:
            add(f"{operation} req/s >= {TARGET_RATIO:.0f}x upstream", "no upstream run", None)
            add(f"{operation}: Onestack p99 < upstream p50", "no upstream run", None)
            continue
        add(
            f"{operation} req/s >= {TARGET_RATIO:.0f}x upstream (new conn)",
            f"{row['rps_ratio_new_conn']}x (keep-alive {row['rps_ratio_keep_alive']}x)",
            row["rps_ratio_new_conn"] >= TARGET_RATIO,
        )
        add(
            f"{operation}: Onestack p99 < upstream p50 (new conn)",
            f"{row['onestack_p99_ms_new_conn']} ms vs {row['upstream_p50_ms']} ms",
            row["onestack_p99_ms_new_conn"] < row["upstream_p50_ms"],
        )
    limit = data["hash_rate"]["hashes_per_s"]
    for mode in (NEW_CONNECTION, KEEP_ALIVE):
        if issue := find(ours, ISSUE, mode):
            share = issue["rps"] / limit
            add(
                f"token issue ({mode}) >= {TARGET_HASH_SHARE:.0%} of the bcrypt limit",
                f"{issue['rps']} of {limit} req/s = {share:.0%}",
                share >= TARGET_HASH_SHARE,
            )
    failures = sum(
        run["5xx"] + sum(run["connection_errors"].values())
        for result in ours["results"]
        for run in result["runs"]
    )
    add("no 5xx (nor connection errors)", str(failures), failures == 0)
    rss = ours["memory"]["idle"]["rss_mib"]
    add(
        f"Onestack idle RSS < {TARGET_IDLE_RSS_MIB:.0f} MiB",
        f"{rss} MiB",
        rss < TARGET_IDLE_RSS_MIB,
    )
    return rows


RESULT_COLUMNS: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("operation", lambda r: r["operation"]),
    ("service", lambda r: r["service"]),
    ("connections", lambda r: r["mode"]),
    ("req/s", lambda r: r["rps"]),
    ("p50 ms", lambda r: r["p50_ms"]),
    ("p99 ms", lambda r: r["p99_ms"]),
    ("non-2xx", lambda r: r["non_2xx"]),
    ("5xx", lambda r: r["5xx"]),
    ("server CPU ms/req", lambda r: r["server_cpu_ms_per_request"]),
    ("server CPU %", lambda r: r["server_cpu_pct"]),
    ("client CPU %", lambda r: r["client_cpu_pct"]),
    ("other CPU %", lambda r: r["other_cpu_pct"]),
]
COMPARISON_COLUMNS: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("operation", lambda c: c["operation"]),
    ("req/s ratio, new conn", lambda c: c["rps_ratio_new_conn"]),
    ("req/s ratio, keep-alive", lambda c: c["rps_ratio_keep_alive"]),
    ("Onestack p99 ms, new conn", lambda c: c["onestack_p99_ms_new_conn"]),
    ("Onestack p99 ms, keep-alive", lambda c: c["onestack_p99_ms_keep_alive"]),
    ("upstream p50 ms", lambda c: c["upstream_p50_ms"]),
]
MEMORY_COLUMNS: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("service", lambda s: s["name"]),
    ("processes", lambda s: s["memory"]["idle"]["processes"]),
    ("RSS idle MiB", lambda s: s["memory"]["idle"]["rss_mib"]),
    ("RSS after load MiB", lambda s: s["memory"]["after_load"]["rss_mib"]),
    ("PSS idle MiB", lambda s: s["memory"]["idle"]["pss_mib"]),
    ("start-up s", lambda s: s["startup_s"]),
    ("projects listed", lambda s: s["projects_listed"]),
]
VERDICT = {True: "yes", False: "**no**", None: "n/a"}


def markdown(data: dict[str, Any]) -> str:
    services = data["services"]
    args, hashes = data["args"], data["hash_rate"]
    results = [{**r, "service": name} for name, s in services.items() for r in s["results"]]
    results.sort(key=lambda r: (OPERATIONS.index(r["operation"]), r["service"], r["mode"]))
    out = [
        f"Identity benchmark, {data['date']}: {data['machine']['cpus']} vCPU "
        f"({data['machine']['cpu_model']}), concurrency {args['concurrency']}, "
        f"{args['duration']:g} s per operation, bcrypt cost {args['rounds']}. "
        "CPU % is of one core (the machine has 200 %).",
        "",
        report.columns_table(RESULT_COLUMNS, results),
    ]
    if data["comparison"]:
        out += ["", "Onestack / upstream (upstream opens a new connection per request):", ""]
        out.append(report.columns_table(COMPARISON_COLUMNS, data["comparison"]))
    limit = hashes["hashes_per_s"]
    out += [
        "",
        f"bcrypt limit: {limit} checks/s at cost {hashes['rounds']} with {hashes['threads']} "
        f"threads ({hashes['ms_per_check_per_thread']} ms per check; best of "
        f"{' and '.join(map(str, hashes['runs']))}, before and after). Token issue reached:",
        "",
        report.table(
            ["service", "connections", "token issue req/s", "of the limit"],
            [
                [r["service"], r["mode"], r["rps"], f"{r['rps'] / limit:.0%}"]
                for r in results
                if r["operation"] == ISSUE
            ],
        ),
        "",
        report.columns_table(MEMORY_COLUMNS, [{**s, "name": name} for name, s in services.items()]),
    ]
    if data["targets"]:
        rows = [[t["target"], t["value"], VERDICT[t["met"]]] for t in data["targets"]]
        out += ["", report.table(["target", "measured", "met"], rows)]
    for name, service in services.items():
        for log, problems in service["log_problems"].items():
            if problems["count"]:
                out += ["", f"{name}: {problems['count']} error-looking lines in {log}, first:"]
                out += [f"    {line}" for line in problems["first"]]
    return "\n".join(out)
