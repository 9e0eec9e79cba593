"""The ratchet: tests that passed once and must keep passing.

``tests/interop/ratchet.txt`` holds one exact tempest test id per line (as in the
load list, attributes included); ``#`` starts a comment. Entries are matched by test
name without attributes, else by idempotent id, so a change of attributes (``smoke``)
or a renamed test does not break them.
``--update-ratchet`` appends newly passing tests and never removes any.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .guideline import Matcher, RequiredTest
from .scoring import PASSED, Outcome

RATCHET_FILE = Path(__file__).resolve().parent.parent / "ratchet.txt"


def read(path: Path = RATCHET_FILE) -> list[str]:
    """The test ids in the ratchet file, in file order."""
    if not path.exists():
        return []
    ids: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry:
            ids.append(entry)
    return ids


@dataclass
class RatchetCheck:
    """The ratchet against one run."""

    path: str = "tests/interop/ratchet.txt"
    size: int = 0
    # ratchet entries (exact ids as written) that did not pass: each with its status
    regressions: list[tuple[str, str]] = field(default_factory=list)
    # ratchet entries not checked because their service was left out with --services
    unchecked: list[str] = field(default_factory=list)
    # ratchet entries that are not in the guideline's load list
    unknown: list[str] = field(default_factory=list)
    # tests that passed now and are not in the ratchet yet
    newly_passing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.regressions and not self.unknown


def check(
    entries: Iterable[str],
    required: Iterable[RequiredTest],
    outcomes: Iterable[Outcome],
    checked_services: Iterable[str],
    only: set[str] | None = None,
) -> RatchetCheck:
    """``only``: the test ids that ran (a --tests run); the other entries are unchecked."""
    services = set(checked_services)
    tests = Matcher((t.test_id, t) for t in required)
    by_test = {o.test_id: o for o in outcomes}
    result = RatchetCheck()
    in_ratchet: set[str] = set()
    for entry in entries:
        result.size += 1
        test = tests.find(entry)
        if test is None:
            result.unknown.append(entry)
            continue
        in_ratchet.add(test.test_id)
        if test.service not in services or (only is not None and test.test_id not in only):
            result.unchecked.append(entry)
            continue
        outcome = by_test.get(test.test_id)
        status = outcome.status if outcome is not None else "not run"
        if status != PASSED:
            result.regressions.append((entry, status))
    result.newly_passing = [
        o.test_id for o in by_test.values() if o.status == PASSED and o.test_id not in in_ratchet
    ]
    return result


def update(path: Path, newly_passing: list[str], today: datetime.date | None = None) -> int:
    """Append newly passing test ids to the ratchet file; how many were added."""
    if not newly_passing:
        return 0
    when = (today or datetime.date.today()).isoformat()
    text = path.read_text(encoding="utf-8") if path.exists() else _HEADER
    if text and not text.endswith("\n"):
        text += "\n"
    block = [f"# added by run.py --update-ratchet on {when}"]
    block += newly_passing
    path.write_text(text + "\n".join(block) + "\n", encoding="utf-8")
    return len(newly_passing)


_HEADER = """\
# Interop ratchet: required tests (2022.11 guideline, tempest 47.0.0) that pass
# against Onestack and must keep passing. One exact tempest test id per line, as in
# data/2022.11-platform.load-list (matched by name, else idempotent id). run.py exits
# non-zero when one of these did not pass. `run.py --update-ratchet` appends new passes;
# remove a line only on purpose, with the reason in the commit message.
"""
