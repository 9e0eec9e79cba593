"""Tempest's whole API suite, service by service (``--full-api identity,image,...``).

Beside the guideline run and outside CI (it takes about an hour): every test under
``tempest.api.<service>`` against the same fresh Onestack, with the feature flags a
single-node DevStack sets, scored like the guideline (a test counts only when it ran and
passed). Each service gets its own report under ``<report dir>/full-api/<service>/``
(report.md, report.json, the tempest log and subunit stream); ``full-api/summary.md``
and ``summary.json`` add up every service whose report is there, so services run one at a
time accumulate.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import cloud, scoring
from .guideline import RequiredTest, idempotent_id, strip_attributes, write_load_list
from .scoring import FAILED, NOT_RUN, OUTCOMES, PASSED, SKIPPED, Outcome
from .subunit_v2 import TestRecord, parse
from .tempest_conf import CloudFacts, IniText
from .tempest_env import Venv, last_subunit, run_tests, tempest_env

# tempest.api.<package>, smallest first (the order a run of several takes)
SERVICES: tuple[str, ...] = ("identity", "image", "object_storage", "network", "volume",
                             "compute")
ALIASES: dict[str, str] = {
    "keystone": "identity", "glance": "image", "object": "object_storage",
    "object-storage": "object_storage", "object-store": "object_storage",
    "swift": "object_storage", "neutron": "network", "networking": "network",
    "cinder": "volume", "block-storage": "volume", "nova": "compute",
}
DIR_NAME = "full-api"

# What a single-node DevStack turns on (devstack lib/tempest), less what needs a second
# host. Onestack's own limits (microversions, extensions) are read from the cloud.
CONF_OPTIONS: dict[tuple[str, str], str] = {
    ("compute-feature-enabled", "resize"): "true",
    ("compute-feature-enabled", "pause"): "true",
    ("compute-feature-enabled", "suspend"): "true",
    ("compute-feature-enabled", "shelve"): "true",
    ("compute-feature-enabled", "shelve_migrate"): "false",
    ("compute-feature-enabled", "rescue"): "true",
    ("compute-feature-enabled", "console_output"): "true",
    ("compute-feature-enabled", "vnc_console"): "true",
    ("compute-feature-enabled", "interface_attach"): "true",
    ("compute-feature-enabled", "snapshot"): "true",
    ("compute-feature-enabled", "change_password"): "false",
    ("compute-feature-enabled", "personality"): "false",
    ("compute-feature-enabled", "cold_migration"): "true",
    ("compute-feature-enabled", "live_migration"): "false",
    ("compute-feature-enabled", "attach_encrypted_volume"): "true",
    ("compute-feature-enabled", "config_drive"): "true",
    ("compute-feature-enabled", "metadata_service"): "true",
    ("volume-feature-enabled", "backup"): "true",
    ("volume-feature-enabled", "extend_attached_volume"): "true",
    ("volume-feature-enabled", "snapshot"): "true",
    ("volume-feature-enabled", "clone"): "true",
    ("identity-feature-enabled", "trust"): "true",
    ("identity-feature-enabled", "project_tags"): "true",
    ("identity-feature-enabled", "application_credentials"): "true",
    ("identity-feature-enabled", "access_rules"): "true",
}

_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                   r"[0-9a-fA-F]{12}")
_NUMBER = re.compile(r"\b\d+(\.\d+)?\b")
_REASON_LIMIT = 240
# `tempest run`'s console: "{0} <test id> [1.2s] ... ok", "... SKIPPED: why", "... FAILED"
_CONSOLE = re.compile(r"^\{\d+\} (?P<id>\S+(?: \([^)]*\))?)(?: \[[\d.]+s\])? \.\.\. "
                      r"(?P<status>ok|FAILED|SKIPPED)(?:: (?P<reason>.*))?$")
_CONSOLE_STATUS = {"ok": "success", "FAILED": "fail", "SKIPPED": "skip"}

Log = Callable[[str], None]


def parse_services(text: str) -> list[str]:
    """``identity,object,...`` (or ``all``) -> packages of tempest.api, in SERVICES order."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return list(SERVICES)
    chosen = set()
    for name in names:
        service = ALIASES.get(name, name.replace("-", "_"))
        if service not in SERVICES:
            raise ValueError(f"unknown --full-api service {name!r} (known: "
                             f"{', '.join(SERVICES)}, all)")
        chosen.add(service)
    return [s for s in SERVICES if s in chosen]


def prefix(service: str) -> str:
    return f"tempest.api.{service}."


def conf_options(facts: CloudFacts, token: cloud.Token) -> dict[tuple[str, str], str]:
    """CONF_OPTIONS plus what this cloud serves: Nova's newest microversion (DevStack's
    ``latest``), the Neutron and Cinder extension lists, Swift's middleware (/info)."""
    options = dict(CONF_OPTIONS)
    compute = token.endpoint("compute")
    if compute:
        version = _get(compute, token.token).get("version") or {}
        if version.get("version"):
            options[("compute", "max_microversion")] = str(version["version"])
    network = token.endpoint("network")
    if network:
        url = cloud.versioned(network, "v2.0") + "/extensions"
        aliases = [e["alias"] for e in _get(url, token.token).get("extensions", [])]
        if aliases:
            options[("network-feature-enabled", "api_extensions")] = ",".join(sorted(aliases))
    volume = token.endpoint(facts.volume_catalog_type or "block-storage")
    if volume:
        aliases = [e["alias"] for e in _get(volume.rstrip("/") + "/extensions",
                                             token.token).get("extensions", [])]
        if aliases:
            options[("volume-feature-enabled", "api_extensions")] = ",".join(sorted(aliases))
        pools = _get(volume.rstrip("/") + "/scheduler-stats/get_pools?detail=true",
                     token.token).get("pools") or [{}]
        protocol = (pools[0].get("capabilities") or {}).get("storage_protocol")
        if protocol:  # DevStack's TEMPEST_STORAGE_PROTOCOL: what the backend reports
            options[("volume", "storage_protocol")] = str(protocol)
    objects = token.endpoint("object-store")
    if objects:
        middleware = sorted(_get(objects.split("/v1", 1)[0] + "/info", token.token))
        if middleware:  # not 'all': a middleware /info does not name is not served
            options[("object-storage-feature-enabled", "discoverable_apis")] = ",".join(
                middleware)
    return options


def _get(url: str, token: str) -> dict[str, Any]:
    try:
        body = cloud.request("GET", url, token=token).json()
    except (cloud.HttpError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def write_conf(base: Path, target: Path, options: dict[tuple[str, str], str]) -> None:
    conf = IniText(base.read_text(encoding="utf-8"))
    for (section, key), value in options.items():
        conf.set(section, key, value)
    target.write_text(str(conf), encoding="utf-8")


def list_tests(venv: Venv, workspace: Path, service: str) -> list[str]:
    """Every test of tempest.api.<service>, as ``tempest run --list-tests`` names them."""
    out = subprocess.run(
        [str(venv.bin("tempest")), "run", "--list-tests", "--regex",
         "^" + re.escape(prefix(service))],
        cwd=workspace, capture_output=True, text=True, env=tempest_env(), timeout=600,
        check=False,
    )
    tests = [line.strip() for line in out.stdout.splitlines()
             if line.strip().startswith(prefix(service))]
    if not tests:
        raise RuntimeError(f"tempest lists no {prefix(service)}* tests: {out.stderr[-500:]}")
    return tests


def as_required(service: str, test_ids: Iterable[str]) -> list[RequiredTest]:
    """The tests in the guideline's shape: component is the module below tempest.api.X."""
    tests = []
    for test_id in test_ids:
        klass = strip_attributes(test_id).rsplit(".", 1)[0]
        module = klass[len(prefix(service)):].rsplit(".", 1)[0]
        tests.append(RequiredTest(test_id, idempotent_id(test_id) or "", service, module,
                                  klass.rsplit(".", 1)[-1]))
    return tests


def console_records(text: str) -> dict[str, TestRecord]:
    """The results as ``tempest run`` printed them, for a run whose subunit stream is lost
    (stopped before stestr stored it): status, skip reason, the captured traceback."""
    records: dict[str, TestRecord] = {}
    current: TestRecord | None = None
    for line in text.splitlines():
        match = _CONSOLE.match(line)
        if match:
            status = _CONSOLE_STATUS[match.group("status")]
            current = TestRecord(match.group("id"), status)
            if status == "skip":
                current.attachments["reason"] = bytearray(
                    (match.group("reason") or "").encode())
            records[current.test_id] = current
        elif line.startswith("{") or line.startswith("==="):
            current = None
        elif current is not None and current.status == "fail" and line.strip():
            current.attachments.setdefault("traceback", bytearray()).extend(
                _traceback_line(line, current.attachments.get("traceback")).encode() + b"\n")
    for record in records.values():
        traceback = record.attachments.get("traceback")
        if traceback is not None:  # the traceback, not the captured log after it
            record.attachments["traceback"] = bytearray(
                bytes(traceback).split(b"Captured pythonlogging", 1)[0])
    return records


def _traceback_line(line: str, so_far: bytearray | None) -> str:
    """A console traceback line in Python's own layout (the console flattens it): frames
    two spaces in, their source and caret lines four, the exception at the margin."""
    text = line.strip()
    previous = bytes(so_far or b"").rstrip(b"\n").rsplit(b"\n", 1)[-1].decode(errors="replace")
    if text.startswith('File "'):
        return "  " + text
    if previous.startswith('  File "') or set(text) <= set("^~ "):
        return "    " + text
    return text


def first_line(reason: str) -> str:
    """The exception's first line (with tempest's ``Details:`` line, which says what the
    cloud answered), flattened and cut to fit a table cell."""
    lines = [line.strip() for line in reason.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    text = lines[0]
    details = next((line for line in lines[1:] if line.startswith("Details:")), None)
    if details and details not in text:
        text += " " + details
    return text if len(text) <= _REASON_LIMIT else text[:_REASON_LIMIT] + " ..."


def reason_key(status: str, reason: str) -> str:
    """A reason with its ids and numbers blanked, to group tests that failed alike."""
    text = _NUMBER.sub("N", _UUID.sub("ID", first_line(reason)))
    return f"{status}: {text}"


@dataclass
class ServiceResult:
    """One service's run, scored."""

    service: str
    duration_s: float
    tempest_exit_code: int | None
    outcomes: list[Outcome]

    def counts(self) -> dict[str, Any]:
        counts: dict[str, Any] = dict.fromkeys(OUTCOMES, 0)
        for outcome in self.outcomes:
            counts[outcome.status] += 1
        return {"tests": len(self.outcomes), **counts}


def percentages(counts: dict[str, Any]) -> tuple[str, str]:
    """(% passed of the tests that ran, % passed of all)."""
    ran = counts[PASSED] + counts[FAILED]
    total = counts["tests"]
    of_ran = f"{100 * counts[PASSED] / ran:.1f}%" if ran else "-"
    of_all = f"{100 * counts[PASSED] / total:.1f}%" if total else "-"
    return of_ran, of_all


def run_service(venv: Venv, workspace: Path, conf: Path, out: Path, service: str, *,
                concurrency: int, timeout: float | None, echo: bool, log: Log,
                pattern: str | None = None) -> ServiceResult:
    """List, run and score one service's API tests; write its report into ``out``."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    started = time.time()
    selected = as_required(service, list_tests(venv, workspace, service))
    if pattern:
        regex = re.compile(pattern)
        selected = [t for t in selected if regex.search(t.test_id)]
    load_list = out / "load-list.txt"
    write_load_list(selected, load_list)
    shutil.copyfile(conf, out / "tempest.conf")
    log(f"full API: running {len(selected)} tests of tempest.api.{service}")
    code: int | None = None
    records: dict[str, TestRecord] = {}
    try:
        code = -1  # what ran is collected also when the run is interrupted
        code = run_tests(venv, workspace, load_list, conf, out / "tempest-run.log",
                         concurrency=concurrency, timeout=timeout, echo=echo)
    finally:
        stream = last_subunit(venv, workspace)
        (out / "results.subunit").write_bytes(stream)
        records = parse(stream)
        if not records:  # stopped before stestr stored the stream: read the console
            records = console_records((out / "tempest-run.log").read_text(errors="replace"))
        tempest_log = workspace / "logs" / "tempest.log"
        if tempest_log.exists():
            shutil.move(tempest_log, out / "tempest.log")  # this service's requests only
        result = ServiceResult(service, time.time() - started, code,
                               scoring.score(selected, [service], records))
        write_report(out, result)
    return result


def _table(rows: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
    head = ["service", "tests", "passed", "failed", "skipped", "not run",
            "% passed of those run", "% passed of all"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "--:|" * (len(head) - 1)]
    for name, counts in rows:
        cells = [name, str(counts["tests"]), *(str(counts[o]) for o in OUTCOMES),
                 *percentages(counts)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def by_reason(outcomes: Iterable[Outcome]) -> list[tuple[str, list[Outcome]]]:
    """The tests not passed, grouped by reason, biggest group first."""
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        if outcome.status != PASSED:
            groups.setdefault(reason_key(outcome.status, outcome.reason), []).append(outcome)
    return sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_markdown(result: ServiceResult) -> str:
    counts = result.counts()
    out = [
        f"# tempest.api.{result.service}: the whole API suite",
        "",
        f"took {result.duration_s:.0f} s; tempest exit code {result.tempest_exit_code}",
        "",
        *_table([(result.service, counts)]),
        "",
        "## Not passed, by reason",
        "",
        "| tests | reason | which |",
        "|--:|---|---|",
    ]
    for key, group in by_reason(result.outcomes):
        names = ", ".join(f"`{_short(o.test_id, result.service)}`" for o in group[:8])
        more = f" and {len(group) - 8} more" if len(group) > 8 else ""
        out.append(f"| {len(group)} | {_cell(key)} | {names}{more} |")
    out += ["", "## Each test not passed", "", "| status | test | reason |", "|---|---|---|"]
    for outcome in result.outcomes:
        if outcome.status != PASSED:
            out.append(f"| {outcome.status} | `{_short(outcome.test_id, result.service)}` | "
                       f"{_cell(first_line(outcome.reason))} |")
    out += ["", "## Passed", ""]
    out += [f"- `{_short(o.test_id, result.service)}`" for o in result.outcomes
            if o.status == PASSED]
    return "\n".join(out) + "\n"


def _short(test_id: str, service: str) -> str:
    return strip_attributes(test_id)[len(prefix(service)):]


def write_report(out: Path, result: ServiceResult) -> None:
    (out / "report.md").write_text(render_markdown(result), encoding="utf-8")
    data = {
        "service": result.service,
        "duration_s": round(result.duration_s, 1),
        "tempest_exit_code": result.tempest_exit_code,
        "summary": result.counts(),
        "tests": [{**scoring.outcome_dict(o), "reason_line": first_line(o.reason)}
                  for o in result.outcomes],
    }
    (out / "report.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n",
                                     encoding="utf-8")


def write_summary(root: Path) -> str:
    """summary.md and summary.json over every service report under ``root``; the table."""
    rows: list[tuple[str, dict[str, Any]]] = []
    lines: list[str] = []
    for service in SERVICES:
        path = root / service / "report.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        rows.append((service, data["summary"]))
        lines += ["", f"## {service} ({data['duration_s']:.0f} s)", "",
                  "| tests | status: reason |", "|--:|---|"]
        groups: dict[str, int] = {}
        for test in data["tests"]:
            if test["status"] != PASSED:
                key = reason_key(test["status"], test["reason"])
                groups[key] = groups.get(key, 0) + 1
        lines += [f"| {n} | {_cell(k)} |" for k, n in
                  sorted(groups.items(), key=lambda item: (-item[1], item[0]))]
    total: dict[str, Any] = dict.fromkeys(["tests", *OUTCOMES], 0)
    for _, counts in rows:
        for key in total:
            total[key] += counts[key]
    table = "\n".join(_table([*rows, ("total", total)]))
    (root / "summary.md").write_text(
        "# tempest's whole API suite\n\n" + table + "\n" + "\n".join(lines) + "\n",
        encoding="utf-8")
    (root / "summary.json").write_text(
        json.dumps({"services": dict(rows), "total": total}, indent=2) + "\n",
        encoding="utf-8")
    return table


def console_summary(result: ServiceResult) -> str:
    counts = result.counts()
    of_ran, of_all = percentages(counts)
    return (f"full API {result.service}: {counts['tests']} tests, {counts[PASSED]} passed, "
            f"{counts[FAILED]} failed, {counts[SKIPPED]} skipped, {counts[NOT_RUN]} not run "
            f"({of_ran} of those run, {of_all} of all), {result.duration_s:.0f} s")
