"""Scoring a run: each required test passed, failed, skipped or not run (refstack's rule:
only a test that ran and passed counts; a skip does not). Results are matched to the
guideline by test name, else by idempotent id (see guideline.Matcher)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from .guideline import SERVICES, Matcher, RequiredTest
from .subunit_v2 import TestRecord

PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"
NOT_RUN = "not run"
OUTCOMES = (PASSED, FAILED, SKIPPED, NOT_RUN)

_FIXTURE = re.compile(r"^(setUpClass|tearDownClass|setUpModule|tearDownModule) \((.+)\)$")
_LOG_ATTACHMENT = "pythonlogging:''"
_REASON_CHARS = 800


@dataclass
class Outcome:
    """The result of one required test."""

    test_id: str
    uuid: str
    service: str
    capability: str
    status: str
    reason: str = ""
    duration: float | None = None
    traceback: str = ""
    log: str = ""


@dataclass
class ServiceSummary:
    service: str
    selected: bool
    required: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))

    @property
    def passed(self) -> int:
        return self.counts[PASSED]


@dataclass
class FixtureProblem:
    """A class-level setUp/tearDown that failed or skipped."""

    fixture: str
    target: str
    status: str
    reason: str


def exception_message(traceback: str) -> str:
    """The exception part of a Python traceback (what follows the last frame)."""
    lines = traceback.rstrip().splitlines()
    last_frame = max((i for i, line in enumerate(lines) if line.startswith("  File ")), default=-1)
    rest = lines[last_frame + 1 :]
    while rest and rest[0].startswith(" "):
        rest = rest[1:]  # the source line of the last frame
    message = "\n".join(rest).strip() or traceback.strip()
    if len(message) > _REASON_CHARS:
        message = message[:_REASON_CHARS] + " ..."
    return message


def _failure_reason(record: TestRecord) -> str:
    traceback = record.text("traceback")
    if traceback:
        return exception_message(traceback)
    for name in record.attachments:
        if name != _LOG_ATTACHMENT and name != "reason":
            return exception_message(record.text(name))
    return "failed (no traceback recorded)"


def _class_of(target: str) -> str:
    return target.strip()


def fixture_problems(records: Iterable[TestRecord]) -> list[FixtureProblem]:
    problems: list[FixtureProblem] = []
    for record in records:
        match = _FIXTURE.match(record.test_id)
        if not match or record.status not in ("fail", "skip", "uxsuccess"):
            continue
        reason = record.text("reason") if record.status == "skip" else _failure_reason(record)
        problems.append(
            FixtureProblem(match.group(1), _class_of(match.group(2)), record.status, reason)
        )
    return problems


def score(
    required: Iterable[RequiredTest],
    selected_services: Iterable[str],
    records: dict[str, TestRecord],
) -> list[Outcome]:
    """One outcome per required test."""
    selected = set(selected_services)
    results = Matcher((test_id, record) for test_id, record in records.items())
    setup: dict[str, FixtureProblem] = {}
    for problem in fixture_problems(records.values()):
        if problem.fixture in ("setUpClass", "setUpModule"):
            setup[problem.target] = problem

    outcomes: list[Outcome] = []
    for test in required:
        outcome = Outcome(test.test_id, test.uuid, test.service, test.capability, NOT_RUN)
        found = results.find(test.test_id)
        if test.service not in selected:
            outcome.reason = "service not selected"
        elif found is not None and found.status is not None:
            _apply(outcome, found)
        else:
            _apply_fixture(outcome, test, setup, found)
        outcomes.append(outcome)
    return outcomes


def _apply(outcome: Outcome, record: TestRecord) -> None:
    outcome.duration = record.duration
    outcome.log = record.text(_LOG_ATTACHMENT)
    status = record.status
    if status == "success":
        outcome.status = PASSED
    elif status == "skip":
        outcome.status = SKIPPED
        outcome.reason = record.text("reason").strip() or "skipped"
    elif status in ("fail", "uxsuccess", "xfail"):
        outcome.status = FAILED
        outcome.traceback = record.text("traceback")
        outcome.reason = _failure_reason(record)
    else:
        outcome.status = NOT_RUN
        outcome.reason = "started but never finished (a tempest worker died?)"


def _apply_fixture(
    outcome: Outcome,
    test: RequiredTest,
    setup: dict[str, FixtureProblem],
    record: TestRecord | None,
) -> None:
    klass = test.test_id.split("[", 1)[0].rsplit(".", 1)[0]
    module = klass.rsplit(".", 1)[0]
    problem = setup.get(klass) or setup.get(module)
    if problem is None:
        outcome.reason = (
            "started but never finished (a tempest worker died?)"
            if record is not None
            else "not in tempest's results"
        )
        return
    if problem.status == "skip":
        outcome.status = SKIPPED
        outcome.reason = f"{problem.fixture} skipped the class: {problem.reason.strip()}"
    else:
        outcome.status = FAILED
        outcome.reason = f"{problem.fixture} failed: {problem.reason}"


def summarize(
    outcomes: Iterable[Outcome], selected_services: Iterable[str]
) -> list[ServiceSummary]:
    selected = set(selected_services)
    rows = {name: ServiceSummary(name, name in selected) for name in SERVICES}
    for outcome in outcomes:
        row = rows[outcome.service]
        row.required += 1
        row.counts[outcome.status] += 1
    return list(rows.values())


def total(rows: Iterable[ServiceSummary]) -> ServiceSummary:
    out = ServiceSummary("total", True)
    for row in rows:
        out.required += row.required
        for key, value in row.counts.items():
            out.counts[key] += value
    return out


def outcome_dict(outcome: Outcome) -> dict[str, Any]:
    return asdict(outcome)
