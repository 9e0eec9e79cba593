"""Unit tests of the harness's whole-API mode (``--full-api``): no server, no tempest.

Run: .venv/bin/pytest tests/interop/test_full_api.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from interop_harness import cloud, full_api, scoring
from interop_harness.main import parse_args
from interop_harness.subunit_v2 import TestRecord as Record
from interop_harness.tempest_conf import CloudFacts

IDS = {
    "ok": "tempest.api.image.v2.test_images.BasicOperationsImagesTest.test_a"
          "[id-11111111-1111-1111-1111-111111111111,smoke]",
    "bad": "tempest.api.image.v2.test_images.BasicOperationsImagesTest.test_b"
           "[id-22222222-2222-2222-2222-222222222222]",
    "bad2": "tempest.api.image.v2.test_images.BasicOperationsImagesTest.test_c"
            "[id-33333333-3333-3333-3333-333333333333]",
    "skip": "tempest.api.image.v2.admin.test_tasks.TasksTest.test_d"
            "[id-44444444-4444-4444-4444-444444444444]",
}


def _failure(resource_id: str) -> Record:
    tb = ("Traceback (most recent call last):\n  File \"x.py\", line 1, in t\n    x()\n"
          f"tempest.lib.exceptions.NotFound: Object not found\nDetails: image {resource_id}\n")
    return Record(IDS["ok"], "fail", attachments={"traceback": bytearray(tb.encode())})


def test_services_and_option() -> None:
    assert full_api.parse_services("all") == list(full_api.SERVICES)
    assert full_api.parse_services("compute,object,keystone") == [
        "identity", "object_storage", "compute"]
    with pytest.raises(ValueError, match="unknown --full-api service"):
        full_api.parse_services("dns")
    assert parse_args(["--full-api", "identity"]).full_api == "identity"


def test_as_required_and_reasons() -> None:
    tests = full_api.as_required("image", IDS.values())
    assert [t.component for t in tests] == ["v2.test_images"] * 3 + ["v2.admin.test_tasks"]
    assert tests[0].uuid == "11111111-1111-1111-1111-111111111111"
    reason = "tempest.lib.exceptions.NotFound: Object not found\nDetails: {'a': 1}\nmore"
    assert full_api.first_line(reason) == (
        "tempest.lib.exceptions.NotFound: Object not found Details: {'a': 1}")
    assert len(full_api.first_line("x" * 1000)) < 300
    # ids and numbers do not split a group
    one = "NotFound: image 8c2e1b1a-0f1e-4a3b-9c7d-1234567890ab after 12 s"
    two = "NotFound: image 0d2e1b1a-0f1e-4a3b-9c7d-1234567890ff after 3 s"
    assert full_api.reason_key("failed", one) == full_api.reason_key("failed", two)


def test_score_report_and_summary(tmp_path: Path) -> None:
    tests = full_api.as_required("image", IDS.values())
    records = {
        IDS["ok"]: Record(IDS["ok"], "success"),
        IDS["bad"]: _failure("8c2e1b1a-0f1e-4a3b-9c7d-1234567890ab"),
        IDS["bad2"]: _failure("0d2e1b1a-0f1e-4a3b-9c7d-1234567890ff"),
        "setUpClass (tempest.api.image.v2.admin.test_tasks.TasksTest)": Record(
            "setUpClass (tempest.api.image.v2.admin.test_tasks.TasksTest)", "skip",
            attachments={"reason": bytearray(b"import_image is not enabled")}),
    }
    result = full_api.ServiceResult("image", 5.0, 1,
                                    scoring.score(tests, ["image"], records))
    assert result.counts() == {"tests": 4, "passed": 1, "failed": 2, "skipped": 1,
                               "not run": 0}
    assert full_api.percentages(result.counts()) == ("33.3%", "25.0%")
    out = tmp_path / "image"
    out.mkdir()
    full_api.write_report(out, result)
    text = (out / "report.md").read_text()
    assert "| 2 | failed: tempest.lib.exceptions.NotFound: Object not found Details: image ID" \
        in text
    assert "| skipped | `v2.admin.test_tasks.TasksTest.test_d` | setUpClass skipped the " \
        "class: import_image is not enabled |" in text
    data = json.loads((out / "report.json").read_text())
    assert data["summary"]["failed"] == 2
    assert data["tests"][1]["reason_line"].startswith("tempest.lib.exceptions.NotFound")

    table = full_api.write_summary(tmp_path)
    assert "| image | 4 | 1 | 2 | 1 | 0 | 33.3% | 25.0% |" in table
    assert "| total | 4 | 1 | 2 | 1 | 0 | 33.3% | 25.0% |" in table
    assert json.loads((tmp_path / "summary.json").read_text())["total"]["passed"] == 1


def test_conf_options_read_the_cloud(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    answers: dict[str, dict[str, Any]] = {
        "http://c/compute/v2.1": {"version": {"version": "2.79"}},
        "http://c/networking/v2.0/extensions": {"extensions": [{"alias": "router"},
                                                               {"alias": "agent"}]},
        "http://c/object-storage/info": {"swift": {}, "tempurl": {}, "slo": {}},
    }

    catalog = [{"type": "compute", "endpoints": [{"url": "http://c/compute/v2.1"}]},
               {"type": "network", "endpoints": [{"url": "http://c/networking"}]},
               {"type": "object-store",
                "endpoints": [{"url": "http://c/object-storage/v1/AUTH_p"}]}]

    def fake_get(url: str, token: str) -> dict[str, Any]:
        return answers.get(url, {})

    monkeypatch.setattr(full_api, "_get", fake_get)
    facts = CloudFacts(1, "admin", "pw", "admin", "Default")
    options = full_api.conf_options(facts, cloud.Token("t", catalog))
    assert options[("compute", "max_microversion")] == "2.79"
    assert options[("network-feature-enabled", "api_extensions")] == "agent,router"
    assert options[("compute-feature-enabled", "shelve")] == "true"
    assert options[("object-storage-feature-enabled", "discoverable_apis")] == (
        "slo,swift,tempurl")
    base = tmp_path / "base.conf"
    base.write_text("[compute]\nmax_microversion = 2.26\n")
    full_api.write_conf(base, tmp_path / "t.conf", options)
    assert "max_microversion = 2.79" in (tmp_path / "t.conf").read_text()


CONSOLE = """\
{0} tempest.api.compute.a.A.test_ok [0.5s] ... ok
{1} setUpClass (tempest.api.compute.b.B) ... SKIPPED: no such feature
{0} tempest.api.compute.a.A.test_bad [1.0s] ... FAILED

Captured traceback:
~~~~~~~~~~~~~~~~~~~
    Traceback (most recent call last):

      File "/x/rest_client.py", line 882, in _error_checker
    raise exceptions.BadRequest(resp_body, resp=resp)
    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^

    tempest.lib.exceptions.BadRequest: Bad request
Details: {'code': 400}

Captured pythonlogging:
~~~~~~~~~~~~~~~~~~~~~~~
    2026-12-07 13:51:15 INFO a request
{1} tempest.api.compute.a.A.test_skip ... SKIPPED: because
"""


def test_console_records_stand_in_for_a_lost_stream() -> None:
    records = full_api.console_records(CONSOLE)
    assert {k: r.status for k, r in records.items()} == {
        "tempest.api.compute.a.A.test_ok": "success",
        "setUpClass (tempest.api.compute.b.B)": "skip",
        "tempest.api.compute.a.A.test_bad": "fail",
        "tempest.api.compute.a.A.test_skip": "skip",
    }
    tests = full_api.as_required("compute", [
        "tempest.api.compute.a.A.test_bad[id-11111111-1111-1111-1111-111111111111]",
        "tempest.api.compute.b.B.test_x[id-22222222-2222-2222-2222-222222222222]"])
    bad, skipped = scoring.score(tests, ["compute"], records)
    assert full_api.first_line(bad.reason) == (
        "tempest.lib.exceptions.BadRequest: Bad request Details: {'code': 400}")
    assert "INFO a request" not in bad.traceback
    assert (skipped.status, skipped.reason) == (
        "skipped", "setUpClass skipped the class: no such feature")
