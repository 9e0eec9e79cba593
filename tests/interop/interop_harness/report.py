"""report.md, report.json and the summary table."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .guideline import GUIDELINE
from .ratchet import RatchetCheck
from .scoring import (
    FAILED,
    NOT_RUN,
    OUTCOMES,
    PASSED,
    SKIPPED,
    FixtureProblem,
    Outcome,
    ServiceSummary,
    outcome_dict,
    total,
)
from .tempest_env import TEMPEST_VERSION

_LOG_LINES = 40


@dataclass
class RunInfo:
    started: str
    duration_s: float
    port: int | None
    catalog: list[str]
    requested_services: list[str]
    tempest_exit_code: int | None
    server_exit_code: int | None
    files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def summary_table(rows: Sequence[ServiceSummary]) -> str:
    """A Markdown table: one row per service, then the total."""
    head = ["service", "required", *OUTCOMES, "pass %"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in [*rows, total(rows)]:
        name = row.service if row.selected else f"{row.service} (not selected)"
        share = f"{100.0 * row.passed / row.required:.0f}%" if row.required else "-"
        cells = [name, str(row.required), *(str(row.counts[o]) for o in OUTCOMES), share]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split()).replace("|", "\\|")
    return flat if len(flat) <= limit else flat[:limit] + " ..."


def _log_excerpt(log: str) -> str:
    lines = log.rstrip().splitlines()
    if len(lines) > _LOG_LINES:
        skipped = f"... ({len(lines) - _LOG_LINES} earlier lines in report.json)"
        lines = [skipped, *lines[-_LOG_LINES:]]
    return "\n".join(lines)


def render_markdown(
    info: RunInfo,
    rows: Sequence[ServiceSummary],
    outcomes: Sequence[Outcome],
    ratchet: RatchetCheck,
    fixtures: Sequence[FixtureProblem],
) -> str:
    out: list[str] = [
        f"# Interop report: OpenStack Powered Platform {GUIDELINE}, tempest {TEMPEST_VERSION}",
        "",
        f"- started: {info.started}, took {info.duration_s:.0f} s",
        f"- Onestack on port {info.port}; catalog: {', '.join(sorted(info.catalog)) or '-'}",
        f"- services run: {', '.join(info.requested_services) or '-'}",
        f"- tempest exit code: {info.tempest_exit_code}; "
        f"Onestack exit code after SIGTERM: {info.server_exit_code}",
    ]
    out += [f"- {note}" for note in info.notes]
    out += ["", "## Summary", "", summary_table(rows), ""]
    out += ["A test counts only when it ran and passed; a skip is not a pass.", ""]

    out += ["## Ratchet", ""]
    state = "OK" if ratchet.ok else "BROKEN"
    out.append(
        f"{state}: {ratchet.size} tests in {ratchet.path}, "
        f"{len(ratchet.regressions)} did not pass, {len(ratchet.unchecked)} not checked "
        f"(service not selected), {len(ratchet.newly_passing)} passing tests not in it yet."
    )
    out.append("")
    for entry, status in ratchet.regressions:
        out.append(f"- REGRESSION ({status}): `{entry}`")
    for entry in ratchet.unknown:
        out.append(f"- not a required test of the guideline: `{entry}`")
    if ratchet.newly_passing:
        out += ["", "Passing, not yet in the ratchet (`run.py --update-ratchet` adds them):", ""]
        out += [f"- `{test_id}`" for test_id in ratchet.newly_passing]
    out.append("")

    if fixtures:
        out += ["## Class fixtures that failed or skipped", ""]
        for problem in fixtures:
            out.append(
                f"- {problem.fixture} `{problem.target}` {problem.status}: "
                f"{_one_line(problem.reason)}"
            )
        out.append("")

    failures = [o for o in outcomes if o.status == FAILED]
    if failures:
        out += ["## Failures", ""]
        for outcome in failures:
            out += [f"### `{outcome.test_id}`", "", "```", outcome.reason, "```", ""]
            if outcome.log.strip():
                out += [
                    "<details><summary>tempest log of the test</summary>",
                    "",
                    "```",
                    _log_excerpt(outcome.log),
                    "```",
                    "</details>",
                    "",
                ]

    out += ["## All required tests", ""]
    for row in rows:
        tests = [o for o in outcomes if o.service == row.service]
        if not tests:
            continue
        out += [
            f"### {row.service}: {row.passed}/{row.required} passed",
            "",
            "| status | test | time | reason |",
            "|---|---|---|---|",
        ]
        for outcome in tests:
            seconds = f"{outcome.duration:.1f}s" if outcome.duration is not None else ""
            reason = "" if outcome.status == PASSED else _one_line(outcome.reason, 160)
            out.append(f"| {outcome.status} | `{outcome.test_id}` | {seconds} | {reason} |")
        out.append("")

    if info.files:
        out += ["## Files", ""]
        out += [f"- {name}: {what}" for name, what in info.files.items()]
        out.append("")
    return "\n".join(out)


def render_json(
    info: RunInfo,
    rows: Sequence[ServiceSummary],
    outcomes: Iterable[Outcome],
    ratchet: RatchetCheck,
    fixtures: Iterable[FixtureProblem],
) -> dict[str, Any]:
    def counts(row: ServiceSummary) -> dict[str, Any]:
        return {
            "selected": row.selected,
            "required": row.required,
            "passed": row.counts[PASSED],
            "failed": row.counts[FAILED],
            "skipped": row.counts[SKIPPED],
            "not_run": row.counts[NOT_RUN],
        }

    return {
        "guideline": GUIDELINE,
        "tempest": TEMPEST_VERSION,
        "run": {
            "started": info.started,
            "duration_s": round(info.duration_s, 1),
            "port": info.port,
            "catalog": sorted(info.catalog),
            "services": info.requested_services,
            "tempest_exit_code": info.tempest_exit_code,
            "server_exit_code": info.server_exit_code,
            "notes": info.notes,
        },
        "summary": {row.service: counts(row) for row in rows},
        "total": counts(total(rows)),
        "ratchet": {
            "ok": ratchet.ok,
            "size": ratchet.size,
            "regressions": [{"test": t, "status": s} for t, s in ratchet.regressions],
            "unchecked": ratchet.unchecked,
            "unknown": ratchet.unknown,
            "newly_passing": ratchet.newly_passing,
        },
        "fixtures": [
            {"fixture": p.fixture, "target": p.target, "status": p.status, "reason": p.reason}
            for p in fixtures
        ],
        "tests": [outcome_dict(o) for o in outcomes],
    }


def write(
    report_dir: Path,
    info: RunInfo,
    rows: Sequence[ServiceSummary],
    outcomes: Sequence[Outcome],
    ratchet: RatchetCheck,
    fixtures: Sequence[FixtureProblem],
) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "report.md").write_text(
        render_markdown(info, rows, outcomes, ratchet, fixtures), encoding="utf-8"
    )
    data = render_json(info, rows, outcomes, ratchet, fixtures)
    (report_dir / "report.json").write_text(
        json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
