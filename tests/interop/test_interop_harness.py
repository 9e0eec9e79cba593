"""Unit tests of the interop harness's pure parts (no server, no tempest needed).

Run: .venv/bin/pytest tests/interop/test_interop_harness.py
"""

from __future__ import annotations

import json
import re
import struct
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from interop_harness import (
    balance,
    cloud,
    guideline,
    ratchet,
    report,
    scoring,
    subunit_v2,
    tempest_conf,
)
from interop_harness.main import catalog_services, requested_services

TOKEN_TEST = (
    "tempest.api.identity.v3.test_tokens.TokensV3Test.test_create_token"
    "[id-6f8e4436-fc96-4282-8122-e41df57197a9]"
)
USERS_CLASS = "tempest.api.identity.v3.test_users.IdentityV3UsersTest"


# --- a subunit v2 writer, written from the spec, to feed the reader -----------------


def _varint(value: int) -> bytes:
    if value < 0x40:
        return bytes([value])
    if value < 0x4000:
        return struct.pack(">H", value | 0x4000)
    if value < 0x400000:
        return bytes([0x80 | (value >> 16)]) + struct.pack(">H", value & 0xFFFF)
    return struct.pack(">I", value | 0xC0000000)


def _utf8(text: str) -> bytes:
    raw = text.encode("utf-8")
    return _varint(len(raw)) + raw


def packet(
    test_id: str,
    status: str | None = None,
    *,
    timestamp: float | None = None,
    file_name: str | None = None,
    file_bytes: bytes = b"",
    tags: tuple[str, ...] = (),
) -> bytes:
    flags = 0x2000 | 0x0800 | subunit_v2.STATUSES.index(status)
    body = b""
    if timestamp is not None:
        flags |= 0x0200
        seconds = int(timestamp)
        body += struct.pack(">I", seconds) + _varint(int((timestamp - seconds) * 1e9))
    body += _utf8(test_id)
    if tags:
        flags |= 0x0080
        body += _varint(len(tags)) + b"".join(_utf8(t) for t in tags)
    if file_name is not None:
        flags |= 0x0040
        body += _utf8(file_name) + _varint(len(file_bytes)) + file_bytes
    # length includes signature, flags, the length field itself and the CRC
    for size in (1, 2, 3):
        length = 1 + 2 + size + len(body) + 4
        if len(_varint(length)) == size:
            break
    head = bytes([0xB3]) + struct.pack(">H", flags) + _varint(length)
    data = head + body
    return data + struct.pack(">I", zlib.crc32(data) & 0xFFFFFFFF)


def stream() -> bytes:
    tb = (
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in test_create_token\n'
        "    self.client.create()\n"
        "tempest.lib.exceptions.Unauthorized: Unauthorized\n"
        "Details: {'error': {'code': 401}}\n"
    )
    return b"".join(
        [
            packet(TOKEN_TEST, "inprogress", timestamp=100.0),
            b"non-subunit noise",
            packet(TOKEN_TEST, file_name="traceback", file_bytes=tb.encode()),
            packet(TOKEN_TEST, file_name="pythonlogging:''", file_bytes=b"x" * 70000),
            packet(TOKEN_TEST, "fail", timestamp=102.5, tags=("worker-1",)),
            packet(
                f"setUpClass ({USERS_CLASS})",
                "skip",
                file_name="reason",
                file_bytes=b"Security compliance not available",
            ),
        ]
    )


def test_subunit_reader() -> None:
    records = subunit_v2.parse(stream())
    token = records[TOKEN_TEST]
    assert token.status == "fail"
    assert token.duration == pytest.approx(2.5)
    assert token.tags == {"worker-1"}
    assert "Unauthorized" in token.text("traceback")
    assert len(token.attachments["pythonlogging:''"]) == 70000
    assert records[f"setUpClass ({USERS_CLASS})"].status == "skip"


def test_subunit_reader_skips_corrupt_packets() -> None:
    good = packet(TOKEN_TEST, "success")
    bad = bytearray(packet(TOKEN_TEST, "fail"))
    bad[-1] ^= 0xFF
    assert subunit_v2.parse(bytes(bad) + good)[TOKEN_TEST].status == "success"


# --- guideline ---------------------------------------------------------------------


def test_guideline_counts() -> None:
    tests = guideline.load_required()
    assert len(tests) == 334
    counts = {s: len(guideline.select(tests, [s])) for s in guideline.SERVICES}
    assert counts == {
        "identity": 15,
        "compute": 89,
        "image": 23,
        "network": 80,
        "volume": 65,
        "object": 62,
    }
    assert len({guideline.strip_attributes(t.test_id) for t in tests}) == 334
    # tempest reuses five ids in ServersTestJSON and ServersTestManualDisk
    assert len({t.uuid for t in tests}) == 329
    # the tsv has a stale id for this one; the name still joins it
    manifest = [t for t in tests if "test_get_object_with_x_object_manifest" in t.test_id]
    assert manifest[0].capability == "objectstore-dlo-support"


def test_idempotent_id() -> None:
    assert guideline.idempotent_id("a.B.c[id-6F8E4436-fc96-4282-8122-e41df57197a9,smoke]") == (
        "6f8e4436-fc96-4282-8122-e41df57197a9"
    )
    assert guideline.idempotent_id("a.B.c[smoke,id-6f8e4436-fc96-4282-8122-e41df57197a9]")
    assert guideline.idempotent_id("a.B.c") is None


def test_services_from_catalog_and_arguments() -> None:
    assert catalog_services({"identity", "block-storage", "object-store", "foo"}) == [
        "identity",
        "volume",
        "object",
    ]
    assert requested_services(None, ["identity"]) == (["identity"], False)
    assert requested_services("swift, keystone", []) == (["identity", "object"], True)
    with pytest.raises(ValueError):
        requested_services("dns", [])


# --- tempest.conf ------------------------------------------------------------------


def _facts(**kwargs: object) -> tempest_conf.CloudFacts:
    facts = tempest_conf.CloudFacts(
        port=4321,
        admin_username="admin",
        admin_password="s3cret",
        admin_project_name="admin",
        admin_domain_name="Default",
        catalog_types={"identity"},
    )
    for key, value in kwargs.items():
        setattr(facts, key, value)
    return facts


def test_tempest_conf_identity_only() -> None:
    template = guideline.TEMPEST_CONF_TEMPLATE.read_text(encoding="utf-8")
    conf = tempest_conf.IniText(tempest_conf.render(template, _facts()))
    assert conf.get("auth", "admin_password") == "s3cret"
    assert conf.get("identity", "uri_v3") == "http://127.0.0.1:4321/identity/v3"
    assert conf.get("identity", "user_lockout_failure_attempts") == "2"
    assert conf.get("service_available", "nova") == "false"
    assert conf.get("service_available", "swift") == "false"
    assert conf.get("auth", "create_isolated_networks") == "false"
    assert conf.get("validation", "run_validation") == "false"
    assert conf.get("compute", "image_ref") is None  # commented out: tempest's default
    assert conf.get("network", "public_network_id") is None
    assert not conf.placeholders()


def test_tempest_conf_full_cloud() -> None:
    template = guideline.TEMPEST_CONF_TEMPLATE.read_text(encoding="utf-8")
    facts = _facts(
        catalog_types={"identity", "compute", "image", "network", "volumev3", "object-store"},
        region="Here",
        image_ref="i1",
        image_ref_alt="i2",
        flavor_ref="f1",
        flavor_ref_alt="f2",
        public_network_id="n1",
        public_network_name="ext",
    )
    text = tempest_conf.render(
        template, facts, overrides={("validation", "image_ssh_user"): "root"}
    )
    conf = tempest_conf.IniText(text)
    assert conf.get("compute", "image_ref_alt") == "i2"
    assert conf.get("compute", "flavor_ref_alt") == "f2"
    assert conf.get("network", "public_network_id") == "n1"
    assert conf.get("network", "floating_network_name") == "ext"
    assert conf.get("volume", "catalog_type") == "volumev3"
    assert conf.get("volume", "region") == "Here"
    assert conf.get("validation", "run_validation") == "true"
    assert conf.get("validation", "image_ssh_user") == "root"
    assert all(conf.get("service_available", s) == "true" for s in ("nova", "cinder", "swift"))
    assert "# Two different images" in text  # comments kept


def test_onestack_config_matches_tempest() -> None:
    toml = tempest_conf.onestack_config_toml()
    assert "[identity]" in toml
    for key, value in tempest_conf.SECURITY_COMPLIANCE.items():
        assert f"{key} = {value}" in toml
    assert "password_hash_rounds = 4" in toml


def test_parse_override() -> None:
    assert tempest_conf.parse_override("compute-feature-enabled.resize=true") == (
        ("compute-feature-enabled", "resize"),
        "true",
    )
    with pytest.raises(ValueError):
        tempest_conf.parse_override("resize=true")


# --- scoring, ratchet, report -------------------------------------------------------


def test_scoring_by_idempotent_id_and_class_fixtures() -> None:
    required = guideline.select(guideline.load_required(), ["identity", "compute"])
    records = subunit_v2.parse(stream())
    outcomes = scoring.score(required, ["identity"], records)
    by_name = {o.test_id.split("[")[0].rsplit(".", 1)[1]: o for o in outcomes}
    token = by_name["test_create_token"]
    assert token.status == scoring.FAILED
    assert token.reason.startswith("tempest.lib.exceptions.Unauthorized: Unauthorized")
    assert "Details" in token.reason
    lockout = by_name["test_user_account_lockout"]
    assert lockout.status == scoring.SKIPPED
    assert "Security compliance" in lockout.reason
    assert by_name["test_validate_token"].status == scoring.NOT_RUN
    compute = [o for o in outcomes if o.service == "compute"]
    assert {o.reason for o in compute} == {"service not selected"}
    rows = scoring.summarize(outcomes, ["identity"])
    identity = next(r for r in rows if r.service == "identity")
    assert identity.required == 15
    assert identity.counts == {"passed": 0, "failed": 1, "skipped": 2, "not run": 12}
    table = report.summary_table(rows)
    assert "| identity | 15 | 0 | 1 | 2 | 12 | 0% |" in table
    assert "compute (not selected)" in table


def test_ratchet(tmp_path: Path) -> None:
    required = guideline.select(guideline.load_required(), ["identity"])
    outcomes = [
        scoring.Outcome(t.test_id, t.uuid, t.service, t.capability, scoring.PASSED)
        for t in required
    ]
    outcomes[0].status = scoring.FAILED
    path = tmp_path / "ratchet.txt"
    path.write_text(
        "# comment\n" + required[0].test_id.split("[")[0] + "  # by name\n", encoding="utf-8"
    )
    entries = ratchet.read(path)
    result = ratchet.check(entries, required, outcomes, ["identity"])
    assert result.regressions == [(entries[0], scoring.FAILED)]
    assert not result.ok
    assert len(result.newly_passing) == 14
    assert ratchet.check(entries, required, outcomes, ["compute"]).unchecked == entries

    assert ratchet.update(path, result.newly_passing) == 14
    entries = ratchet.read(path)
    assert len(entries) == 15
    assert path.read_text(encoding="utf-8").startswith("# comment\n")
    again = ratchet.check(entries, required, outcomes, ["identity"])
    assert again.newly_passing == []
    assert ratchet.update(path, again.newly_passing) == 0

    unknown = ratchet.check(["tempest.api.nope[id-x]"], required, outcomes, ["identity"])
    assert unknown.unknown and not unknown.ok


# --- seeding against a fake cloud ----------------------------------------------------


class _FakeCloud(BaseHTTPRequestHandler):
    """Glance, Nova and Neutron with one image, one flavor and an external network."""

    images: ClassVar[dict[str, dict[str, Any]]] = {}
    uploads: ClassVar[dict[str, bytes]] = {}
    flavors: ClassVar[list[dict[str, Any]]] = []
    queries: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any = None, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(body).encode() if body else b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        assert self.headers["X-Auth-Token"] == "tok"
        path, _, query = self.path.partition("?")
        if path == "/image/v2/images":
            self._send(200, {"images": list(self.images.values())})
        elif path.startswith("/image/v2/images/") and path.endswith("/file"):
            self._send(200, raw=b"disk-bytes")
        elif path.startswith("/image/v2/images/"):
            self._send(200, self.images[path.rsplit("/", 1)[1]])
        elif path == "/compute/v2.1/flavors/detail":
            self._send(200, {"flavors": self.flavors})
        elif path == "/networking/v2.0/networks":
            self.queries.append(query)
            ext = {"id": "net-ext", "name": "public", "router:external": True}
            self._send(200, {"networks": [ext]})
        else:
            self._send(404)

    def do_POST(self) -> None:
        body = json.loads(self._body())
        if self.path == "/image/v2/images":
            image = {**body, "id": "img-2", "status": "queued"}
            self.images["img-2"] = image
            self._send(201, image)
        elif self.path == "/compute/v2.1/flavors":
            flavor = {**body["flavor"], "id": "flv-2"}
            self.flavors.append(flavor)
            self._send(200, {"flavor": flavor})
        else:
            self._send(404)

    def do_PUT(self) -> None:
        image_id = self.path.split("/")[-2]
        self.uploads[image_id] = self._body()
        self.images[image_id]["status"] = "active"
        self._send(204)


def test_seed_makes_second_image_and_flavor() -> None:
    _FakeCloud.images = {
        "img-1": {"id": "img-1", "name": "tiny", "status": "active", "disk_format": "qcow2"}
    }
    _FakeCloud.flavors = [{"id": "flv-1", "name": "m1.tiny", "ram": 128, "vcpus": 1, "disk": 1}]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeCloud)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        base = f"http://127.0.0.1:{port}"
        catalog = [
            {"type": t, "endpoints": [{"interface": "public", "url": u, "region_id": "R1"}]}
            for t, u in (
                ("image", f"{base}/image"),
                ("compute", f"{base}/compute/v2.1"),
                ("network", f"{base}/networking/"),
            )
        ]
        token = cloud.Token("tok", catalog)
        facts = _facts(port=port, catalog_types=token.types())
        messages: list[str] = []
        cloud.seed(facts, token, messages.append)
    finally:
        server.shutdown()
    assert (facts.image_ref, facts.image_ref_alt) == ("img-1", "img-2")
    assert _FakeCloud.uploads["img-2"] == b"disk-bytes"
    assert _FakeCloud.images["img-2"]["disk_format"] == "qcow2"
    assert (facts.flavor_ref, facts.flavor_ref_alt) == ("flv-1", "flv-2")
    assert _FakeCloud.flavors[1]["ram"] == 192
    assert facts.public_network_id == "net-ext"
    assert facts.public_network_name == "public"
    assert _FakeCloud.queries == ["router%3Aexternal=True"]
    assert token.region() == "R1"


def test_versioned_urls() -> None:
    assert cloud.versioned("http://h/image", "v2") == "http://h/image/v2"
    assert cloud.versioned("http://h/compute/v2.1", "v2.1") == "http://h/compute/v2.1"
    assert cloud.versioned("http://h/compute/v2.1/abc", "v2.1") == "http://h/compute/v2.1/abc"


def test_failed_tests_run_once_more_and_flakes_are_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from interop_harness import main as harness

    required = guideline.select(guideline.load_required(), ["identity"])
    token = next(t for t in required if t.test_id == TOKEN_TEST)
    other = next(t for t in required if "test_validate_token" in t.test_id)
    other_id = other.test_id
    lists: list[str] = []
    second = packet(TOKEN_TEST, "success")

    def fake_run(venv: Any, workspace: Path, load_list: Path, *a: Any, **kw: Any) -> int:
        lists.append(load_list.read_text())
        assert kw["concurrency"] == 1
        return 0

    monkeypatch.setattr(harness, "run_tests", fake_run)
    monkeypatch.setattr(harness, "last_subunit", lambda venv, ws: second)
    run = harness.Run(harness.parse_args([]), required, tmp_path)
    run.services = ["identity"]
    run.records = subunit_v2.parse(packet(TOKEN_TEST, "fail") + packet(other_id, "success"))
    run._retry(Any, tmp_path, [token, other], tmp_path / "tempest.conf")  # type: ignore[arg-type]
    assert lists == [f"{TOKEN_TEST}\n"]  # only the failed test, alone
    assert run.records[TOKEN_TEST].status == "success"
    assert run.records[other_id].status == "success"  # the first run's results are kept
    assert run.notes == [f"FLAKY: failed, then passed when run again alone: {TOKEN_TEST}"]

    # a test that fails again stays failed; --no-retry runs nothing more
    second = packet(TOKEN_TEST, "fail")
    run.records = subunit_v2.parse(packet(TOKEN_TEST, "fail"))
    run.notes = []
    run._retry(Any, tmp_path, [token], tmp_path / "tempest.conf")  # type: ignore[arg-type]
    assert run.records[TOKEN_TEST].status == "fail" and run.notes == []
    run.args.no_retry = True
    run._retry(Any, tmp_path, [token], tmp_path / "tempest.conf")  # type: ignore[arg-type]
    assert len(lists) == 2


# --- the load balancer's run (octavia-tempest-plugin) --------------------------------

LB_PREFIX = "octavia_tempest_plugin.tests.api.v2."
LB_SHOW = (f"{LB_PREFIX}test_load_balancer.LoadBalancerAPITest.test_load_balancer_show"
           "[id-826ae612-8717-4c64-a8a7-cb9570a85870]")
LB_LIST = (f"{LB_PREFIX}test_load_balancer.LoadBalancerAPITest.test_load_balancer_list"
           "[id-6546ef3c-c0e2-46af-b892-f795f4d01119]")
MEMBER = (f"{LB_PREFIX}test_member.MemberAPITest1.test_HTTP_LC_member_create"
          "[id-0684575a-0970-4fa8-8006-10c2b39c5f2b]")


def test_octavia_services_modes_and_conf(tmp_path: Path) -> None:
    from interop_harness import octavia

    assert octavia.split_services("identity,load-balancer") == ("identity", True)
    assert octavia.split_services("octavia") == (None, True)
    assert octavia.split_services("compute") == ("compute", False)
    assert octavia.split_services(None) == (None, False)
    # every run: the tempest.conf the guideline run used, plus the load balancer's options
    base = tmp_path / "tempest.conf"
    base.write_text("[DEFAULT]\ndebug = true\n[load_balancer]\nprovider = octavia\n")
    providers = [{"name": "haproxy", "description": "Onestack: haproxy; nftables"},
                 {"name": "amphora", "description": "Alias of haproxy"}]
    target = tmp_path / "lb.conf"
    caps = {"flavor": [{"name": "loadbalancer_topology", "description": "SINGLE only."}],
            "availability_zone": []}
    octavia.write_conf(base, target, octavia.conf_options(providers, caps))
    conf = tempest_conf.IniText(target.read_text())
    assert conf.get("DEFAULT", "debug") == "true"
    assert conf.get("load_balancer", "provider") == "haproxy"
    assert conf.get("load_balancer", "enabled_provider_drivers") == \
        "haproxy:Onestack: haproxy; nftables,amphora:Alias of haproxy"
    assert conf.get("loadbalancer-feature-enabled", "terminated_tls_enabled") == "false"
    assert conf.get("load_balancer", "expected_flavor_capability") == \
        "loadbalancer_topology:SINGLE only."
    assert conf.get("load_balancer", "expected_availability_zone_capability") is None
    with pytest.raises(octavia.OctaviaError, match="comma"):
        octavia.conf_options([{"name": "x", "description": "a, b"}])


def test_octavia_selection_scoring_and_ratchet(tmp_path: Path) -> None:
    from interop_harness import octavia

    every = octavia.as_required([LB_SHOW, LB_LIST, MEMBER])
    assert [(t.component, t.capability) for t in every] == [
        ("test_load_balancer", "LoadBalancerAPITest"),
        ("test_load_balancer", "LoadBalancerAPITest"), ("test_member", "MemberAPITest1")]
    entries = [LB_SHOW.split("[")[0], MEMBER]  # ratchet lines, with or without attributes
    assert [t.test_id for t in octavia.select(every, "ratchet", entries)] == [LB_SHOW, MEMBER]
    assert len(octavia.select(every, "all", entries)) == 3
    assert [t.test_id for t in octavia.select(every, "all", [], "member")] == [MEMBER]

    # the ratchet run: LB_SHOW passed, MEMBER's class failed in setUpClass
    selected = octavia.select(every, "ratchet", entries)
    records = subunit_v2.parse(
        packet(LB_SHOW, "success")
        + packet(f"setUpClass ({LB_PREFIX}test_member.MemberAPITest1)", "fail"))
    outcomes, check = octavia.score(selected, records, entries, every)
    assert [o.status for o in outcomes] == ["passed", "failed"]
    assert "setUpClass failed" in outcomes[1].reason
    assert check.regressions == [(MEMBER, "failed")] and not check.ok
    assert check.unchecked == [] and check.size == 2

    # an "all" run where LB_LIST passes too: it is a new pass for --update-ratchet
    records = subunit_v2.parse(packet(LB_SHOW, "success") + packet(LB_LIST, "success")
                               + packet(MEMBER, "success"))
    outcomes, check = octavia.score(every, records, entries, every)
    assert check.ok and check.newly_passing == [LB_LIST]
    result = octavia.Result("all", 12.0, 0, outcomes, check)
    octavia.write_report(tmp_path, result)
    text = (tmp_path / "report.md").read_text()
    assert "| test_load_balancer | 2 | 2 | 0 | 0 | 0 |" in text
    assert "| total | 3 | 3 | 0 | 0 | 0 |" in text
    assert "3 passed, 0 failed" in octavia.console_summary(result)


# --- the key manager's run (barbican-tempest-plugin) ----------------------------------

KM_PREFIX = "barbican_tempest_plugin.tests."
KM_SECRETS = (f"{KM_PREFIX}api.test_secrets.SecretsTest.test_list_secrets"
              "[id-d5b8ec1e-7c86-4a1c-a3e8-0b1a2cd4f44e]")
KM_READER = (f"{KM_PREFIX}rbac.v1.test_secrets.ProjectReaderTests.test_get_secret"
             "[id-9c5b46b4-8f0b-4f75-b751-61ddf943fbf3]")


def test_barbican_services_conf_scoring_and_report(tmp_path: Path) -> None:
    from interop_harness import barbican, octavia

    plugin = barbican.BARBICAN
    assert octavia.split_services("identity,key-manager", barbican.SERVICE_ALIASES) == \
        ("identity", True)
    assert octavia.split_services("barbican", barbican.SERVICE_ALIASES) == (None, True)
    assert octavia.split_services("key-manager") == ("key-manager", False)
    assert plugin.ratchet_file.name == "ratchet-barbican.txt"
    assert re.match(plugin.test_regex, KM_READER) and re.match(plugin.test_regex, KM_SECRETS)
    assert not re.match(plugin.test_regex, f"{KM_PREFIX}scenario.test_image_signing.X.test_y")
    base = tmp_path / "tempest.conf"
    base.write_text("[DEFAULT]\ndebug = true\n[service_available]\nnova = true\n")
    octavia.write_conf(base, tmp_path / "km.conf", barbican.CONF_OPTIONS)
    conf = tempest_conf.IniText((tmp_path / "km.conf").read_text())
    assert conf.get("service_available", "nova") == "true"
    assert conf.get("service_available", "barbican") == "true"
    assert conf.get("enforce_scope", "barbican") == "true"
    assert conf.get("key_manager", "max_microversion") == "1.1"

    every = octavia.as_required([KM_SECRETS, KM_READER], plugin)
    assert {t.service for t in every} == {"key-manager"}
    records = subunit_v2.parse(packet(KM_SECRETS, "success") + packet(KM_READER, "fail"))
    outcomes, check = octavia.score(every, records, [KM_SECRETS], every, plugin)
    assert [o.status for o in outcomes] == ["passed", "failed"]
    assert check.ok and check.path == "tests/interop/ratchet-barbican.txt"
    result = octavia.Result("all", 3.0, 1, outcomes, check, plugin=plugin)
    octavia.write_report(tmp_path, result)
    text = (tmp_path / "report.md").read_text()
    assert text.startswith("# Key manager: barbican-tempest-plugin 4.6.0 tests")
    assert "| api.test_secrets | 1 | 1 | 0 | 0 | 0 |" in text
    assert "| rbac.v1.test_secrets | 1 | 0 | 1 | 0 | 0 |" in text
    assert octavia.console_summary(result).startswith(
        "key manager (barbican-tempest-plugin, mode all): 2 tests, 1 passed, 1 failed")


def _record(test_id: str, worker: str, start: float, stop: float) -> subunit_v2.TestRecord:
    return subunit_v2.TestRecord(test_id, "success", start, stop, {worker})


def test_balance_costs_count_setup_and_split_classes_evenly(tmp_path: Path) -> None:
    """A class's cost includes the wait before its first test (its setUpClass); the worker
    file gives each worker about the same seconds and selects every test exactly once."""
    a, b, c = "tempest.api.x.test_a.A", "tempest.api.x.test_a.AB", "tempest.api.y.test_c.C"
    records = [_record(f"{a}.test_1[id-1,smoke]", "worker-0", 30.0, 40.0),
               _record(f"{a}.test_2[id-2]", "worker-0", 40.0, 50.0),
               _record(f"{b}.test_1[id-3]", "worker-0", 55.0, 60.0),
               _record(f"{c}.test_1[id-4]", "worker-1", 0.0, 45.0)]
    costs = balance.class_costs(records)
    assert costs == {a: 50.0, b: 10.0, c: 45.0}
    ids = [r.test_id for r in records] + ["tempest.api.z.test_d.D.test_1[id-5]"]
    groups = balance.partition(ids, costs, 2)
    assert sorted(t for g in groups for t in g) == sorted(ids)
    # longest first, each to the lighter worker: A (50), C (45), AB (10) joins C, D (1 s,
    # unknown) joins A: 51 s and 55 s
    assert [balance.class_of(t) for t in groups[0]] == [a, a, "tempest.api.z.test_d.D"]
    path = balance.write_worker_file(ids, costs, 2, tmp_path / "workers.yaml")
    assert path is not None
    import yaml
    workers = yaml.safe_load(path.read_text())
    selected = [[t for t in ids if any(re.search(r, t) for r in w["worker"])] for w in workers]
    assert sorted(t for s in selected for t in s) == sorted(ids)  # each once: A's misses AB
    assert balance.write_worker_file(ids, costs, 1, tmp_path / "one.yaml") is None
