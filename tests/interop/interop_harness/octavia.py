"""The load balancer's own tempest run: octavia-tempest-plugin's API tests
(``octavia_tempest_plugin.tests.api.v2``) against the same Onestack, after the guideline
run, with a report and a ratchet of their own (``tests/interop/ratchet-octavia.txt``).

Modes (``--octavia``): ``ratchet`` runs only the tests in the ratchet (what CI runs: the
whole plugin takes longer than CI can give it), ``all`` runs every API test of the plugin,
``off`` none. The plugin's tests are scored like the guideline's: a test counts only when it
ran and passed; a class whose ``setUpClass`` failed or skipped gives its tests its status.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import cloud, ratchet, scoring
from .guideline import RequiredTest, idempotent_id, strip_attributes
from .scoring import FAILED, NOT_RUN, OUTCOMES, PASSED, SKIPPED, Outcome
from .tempest_conf import CloudFacts, IniText
from .tempest_env import Venv, tempest_env

MODES = ("ratchet", "all", "off")


@dataclass(frozen=True)
class Plugin:
    """A tempest plugin the harness runs after the guideline (this module's functions serve
    octavia-tempest-plugin by default, ``barbican.py`` the key manager's)."""

    name: str  # on PyPI
    version: str
    service: str  # catalog type
    label: str  # what the console and the report call it
    test_prefix: str  # what its test ids start with (the module column is what follows)
    test_regex: str  # the tests it runs (tempest run --list-tests --regex)
    ratchet_name: str  # in tests/interop/
    report_name: str  # the folder in the report dir

    @property
    def ratchet_file(self) -> Path:
        return Path(__file__).resolve().parent.parent / self.ratchet_name


OCTAVIA = Plugin("octavia-tempest-plugin", "3.5.0", "load-balancer", "load balancer",
                 "octavia_tempest_plugin.tests.api.v2.",
                 "^" + re.escape("octavia_tempest_plugin.tests.api.v2."),
                 "ratchet-octavia.txt", "octavia")
PLUGIN, PLUGIN_VERSION, SERVICE = OCTAVIA.name, OCTAVIA.version, OCTAVIA.service
SERVICE_ALIASES = ("load-balancer", "load_balancer", "loadbalancer", "octavia", "lb")
TEST_PREFIX = OCTAVIA.test_prefix
RATCHET_FILE = OCTAVIA.ratchet_file

# tempest.conf options for what Onestack serves (docs/load-balancer.md):
# the haproxy provider on a real data plane (no noop), Keystone's default personas
# (member/reader, as Octavia's default policy allows), no TLS termination, no PROMETHEUS
# listeners, no SOURCE_IP_PORT (501: the plugin skips those with not_implemented_is_error
# off), TCP as the L4 protocol the pool tests use; short polling since a load balancer is
# ACTIVE within a few hundred milliseconds.
CONF_OPTIONS: dict[tuple[str, str], str] = {
    ("service_available", "load_balancer"): "true",
    ("load_balancer", "provider"): "haproxy",
    ("load_balancer", "RBAC_test_type"): "keystone_default_roles",
    ("load_balancer", "member_role"): "member",
    ("load_balancer", "observer_role"): "reader",
    ("load_balancer", "global_observer_role"): "load-balancer_global_observer",
    ("load_balancer", "admin_role"): "admin",
    ("load_balancer", "test_with_noop"): "false",
    ("load_balancer", "test_with_ipv6"): "false",
    ("load_balancer", "loadbalancer_topology"): "SINGLE",
    # the compute zone of the network node (Nova's default zone): the availability zone
    # tests' profiles name it
    ("load_balancer", "availability_zone"): "nova",
    ("load_balancer", "build_interval"): "0.5",
    ("load_balancer", "build_timeout"): "60",
    ("load_balancer", "lb_build_interval"): "0.5",
    ("load_balancer", "lb_build_timeout"): "60",
    ("load_balancer", "check_interval"): "0.5",
    ("load_balancer", "check_timeout"): "60",
    ("load_balancer", "log_user_roles"): "false",
    ("loadbalancer-feature-enabled", "not_implemented_is_error"): "false",
    ("loadbalancer-feature-enabled", "health_monitor_enabled"): "true",
    ("loadbalancer-feature-enabled", "terminated_tls_enabled"): "false",
    ("loadbalancer-feature-enabled", "l7_protocol_enabled"): "true",
    ("loadbalancer-feature-enabled", "pool_algorithms_enabled"): "true",
    ("loadbalancer-feature-enabled", "session_persistence_enabled"): "true",
    ("loadbalancer-feature-enabled", "l4_protocol"): "TCP",
    ("loadbalancer-feature-enabled", "spare_pool_enabled"): "false",
    ("loadbalancer-feature-enabled", "log_offload_enabled"): "false",
    ("loadbalancer-feature-enabled", "prometheus_listener_enabled"): "false",
}

# what the harness leaves in <report dir>/octavia/
ARTIFACTS: dict[str, str] = {
    "report.md": "this report",
    "report.json": "the same, machine-readable, with full tracebacks and per-test logs",
    "tempest.conf": "the tempest.conf used (the guideline's plus the load balancer options)",
    "load-list.txt": "the tests given to `tempest run --load-list`",
    "tempest-run.log": "the console output of `tempest run`",
    "results.subunit": "the run's subunit v2 stream",
}


class OctaviaError(Exception):
    """The plugin could not be installed or listed."""


def installed_version(venv: Venv, plugin: Plugin = OCTAVIA) -> str | None:
    out = subprocess.run(
        [str(venv.python), "-c",
         f"import importlib.metadata as m; print(m.version({plugin.name!r}))"],
        capture_output=True, text=True, check=False,
    ) if venv.python.exists() else None
    return out.stdout.strip() if out is not None and out.returncode == 0 else None


def ensure_plugin(venv: Venv, log: cloud.Log, plugin: Plugin = OCTAVIA) -> None:
    """pip install the plugin (octavia-tempest-plugin==3.5.0 by default) into the tempest
    venv, unless it is there."""
    pinned = f"{plugin.name}=={plugin.version}"
    if installed_version(venv, plugin) == plugin.version:
        return
    log(f"installing {pinned} into {venv.path}")
    subprocess.run([str(venv.python), "-m", "pip", "install", "--quiet", pinned], check=True)
    if installed_version(venv, plugin) != plugin.version:
        raise OctaviaError(f"{pinned} is not importable after installing it")


def split_services(text: str | None, aliases: Sequence[str] = SERVICE_ALIASES
                   ) -> tuple[str | None, bool]:
    """``--services`` less a plugin's service names (the load balancer's by default), and
    whether one of those was given. None when nothing is left for the guideline."""
    if not text:
        return text, False
    names = [n.strip() for n in text.split(",") if n.strip()]
    rest = [n for n in names if n.lower() not in aliases]
    return (",".join(rest) or None), len(rest) != len(names)


def _dict_opt(items: Sequence[dict[str, Any]]) -> str:
    """name:description pairs for tempest's DictOpt (which splits on commas)."""
    pairs = []
    for item in items:
        name, description = str(item["name"]), str(item.get("description") or "")
        if "," in name + description or ":" in name:
            raise OctaviaError(f"{name!r}: a comma cannot go into tempest's DictOpt")
        pairs.append(f"{name}:{description}")
    return ",".join(pairs)


def conf_options(providers: Sequence[dict[str, Any]],
                 capabilities: dict[str, list[dict[str, Any]]] | None = None
                 ) -> dict[tuple[str, str], str]:
    """The options above plus ``enabled_provider_drivers`` as the cloud lists them (the
    provider test compares each provider's description with it), and the first flavor and
    availability zone capability of the provider under test (the capability tests look
    for them)."""
    options = dict(CONF_OPTIONS)
    if providers:
        options[("load_balancer", "enabled_provider_drivers")] = _dict_opt(providers)
    for kind, found in (capabilities or {}).items():
        if found:
            options[("load_balancer", f"expected_{kind}_capability")] = _dict_opt(found[:1])
    return options


def capabilities(token: cloud.Token) -> dict[str, list[dict[str, Any]]]:
    """The configured provider's flavor and availability zone capabilities."""
    url = token.endpoint(SERVICE)
    if url is None:
        return {}
    base = f"{url.rstrip('/')}/v2/lbaas/providers/{CONF_OPTIONS[('load_balancer', 'provider')]}"
    return {kind: list(cloud.request("GET", f"{base}/{kind}_capabilities", token=token.token
                                     ).json()[f"{kind}_capabilities"])
            for kind in ("flavor", "availability_zone")}


def providers(facts: CloudFacts, token: cloud.Token) -> list[dict[str, Any]]:
    url = token.endpoint(SERVICE)
    if url is None:
        return []
    body = cloud.request("GET", f"{url.rstrip('/')}/v2/lbaas/providers", token=token.token)
    return list(body.json()["providers"])


def write_conf(base: Path, target: Path, options: dict[tuple[str, str], str]) -> None:
    conf = IniText(base.read_text(encoding="utf-8"))
    for (section, key), value in options.items():
        conf.set(section, key, value)
    target.write_text(str(conf), encoding="utf-8")


def list_tests(venv: Venv, workspace: Path, plugin: Plugin = OCTAVIA) -> list[str]:
    """Every API test of the plugin, as ``tempest run --list-tests`` names them."""
    out = subprocess.run(
        [str(venv.bin("tempest")), "run", "--list-tests", "--regex", plugin.test_regex],
        cwd=workspace, capture_output=True, text=True, env=tempest_env(), timeout=300,
        check=False,
    )
    tests = [line.strip() for line in out.stdout.splitlines()
             if line.strip().startswith(plugin.test_prefix)]
    if not tests:
        raise OctaviaError(f"tempest lists no {plugin.test_regex} tests: {out.stderr[-500:]}")
    return tests


def as_required(test_ids: Iterable[str], plugin: Plugin = OCTAVIA) -> list[RequiredTest]:
    """The plugin's tests in the guideline's shape, for scoring and the ratchet: the
    component is the test module (``test_member``), the capability its class."""
    tests = []
    for test_id in test_ids:
        klass = strip_attributes(test_id).rsplit(".", 1)[0]
        module = klass.rsplit(".", 1)[0].rsplit(".", 1)[-1]
        uuid = idempotent_id(test_id) or ""
        tests.append(RequiredTest(test_id, uuid, plugin.service, module,
                                  klass.rsplit(".", 1)[-1]))
    return tests


def select(tests: list[RequiredTest], mode: str, entries: Sequence[str],
           pattern: str | None = None) -> list[RequiredTest]:
    """The tests this mode runs: all, or those the ratchet names; then --tests' regex."""
    if mode == "ratchet":
        wanted = {strip_attributes(e) for e in entries}
        tests = [t for t in tests if strip_attributes(t.test_id) in wanted]
    if pattern:
        regex = re.compile(pattern)
        tests = [t for t in tests if regex.search(t.test_id)]
    return tests


@dataclass
class ModuleRow:
    module: str
    tests: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))


def summarize(outcomes: Iterable[Outcome], plugin: Plugin = OCTAVIA) -> list[ModuleRow]:
    by_module: dict[str, ModuleRow] = {}
    for outcome in outcomes:
        module = strip_attributes(outcome.test_id)[len(plugin.test_prefix):].rsplit(".", 2)[0]
        row = by_module.setdefault(module, ModuleRow(module))
        row.tests += 1
        row.counts[outcome.status] += 1
    return [by_module[m] for m in sorted(by_module)]


def summary_table(rows: Sequence[ModuleRow]) -> str:
    head = ["module", "tests", *OUTCOMES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    total = ModuleRow("total")
    for row in rows:
        total.tests += row.tests
        for key, value in row.counts.items():
            total.counts[key] += value
    for row in [*rows, total]:
        cells = [row.module, str(row.tests), *(str(row.counts[o]) for o in OUTCOMES)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass
class Result:
    """One plugin run, scored."""

    mode: str
    duration_s: float
    tempest_exit_code: int | None
    outcomes: list[Outcome]
    check: ratchet.RatchetCheck
    notes: list[str] = field(default_factory=list)
    plugin: Plugin = OCTAVIA


def score(selected: list[RequiredTest], records: dict[str, Any], entries: Sequence[str],
          every_test: list[RequiredTest], plugin: Plugin = OCTAVIA
          ) -> tuple[list[Outcome], ratchet.RatchetCheck]:
    outcomes = scoring.score(selected, [plugin.service], records)
    check = ratchet.check(entries, every_test, outcomes, [plugin.service],
                          {t.test_id for t in selected})
    check.path = f"tests/interop/{plugin.ratchet_name}"
    return outcomes, check


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split()).replace("|", "\\|")
    return flat if len(flat) <= limit else flat[:limit] + " ..."


def render_markdown(result: Result) -> str:
    plugin, check = result.plugin, result.check
    rows = summarize(result.outcomes, plugin)
    out = [
        f"# {plugin.label.capitalize()}: {plugin.name} {plugin.version} tests",
        "",
        f"- mode: {result.mode}; took {result.duration_s:.0f} s; "
        f"tempest exit code {result.tempest_exit_code}",
        *(f"- {note}" for note in result.notes),
        "",
        "## Summary",
        "",
        summary_table(rows),
        "",
        "## Ratchet",
        "",
        f"{'OK' if check.ok else 'BROKEN'}: {check.size} tests in {check.path}, "
        f"{len(check.regressions)} did not pass, {len(check.unchecked)} not run in this "
        f"mode, {len(check.newly_passing)} passing tests not in it yet.",
        "",
    ]
    out += [f"- REGRESSION ({status}): `{entry}`" for entry, status in check.regressions]
    out += [f"- not a test of the plugin: `{entry}`" for entry in check.unknown]
    out += ["", "## Not passed", "", "| status | test | reason |", "|---|---|---|"]
    for outcome in result.outcomes:
        if outcome.status != PASSED:
            out.append(f"| {outcome.status} | `{strip_attributes(outcome.test_id)}` | "
                       f"{_one_line(outcome.reason)} |")
    out += ["", "## Passed", ""]
    out += [f"- `{strip_attributes(o.test_id)}`" for o in result.outcomes if o.status == PASSED]
    return "\n".join(out) + "\n"


def write_report(report_dir: Path, result: Result) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "report.md").write_text(render_markdown(result), encoding="utf-8")
    data = {
        "plugin": f"{result.plugin.name}=={result.plugin.version}",
        "mode": result.mode,
        "duration_s": round(result.duration_s, 1),
        "tempest_exit_code": result.tempest_exit_code,
        "notes": result.notes,
        "summary": {row.module: {"tests": row.tests, **row.counts}
                    for row in summarize(result.outcomes, result.plugin)},
        "ratchet": {
            "ok": result.check.ok,
            "size": result.check.size,
            "regressions": [{"test": t, "status": s} for t, s in result.check.regressions],
            "unknown": result.check.unknown,
            "newly_passing": result.check.newly_passing,
        },
        "tests": [scoring.outcome_dict(o) for o in result.outcomes],
    }
    (report_dir / "report.json").write_text(
        json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def console_summary(result: Result) -> str:
    counts = dict.fromkeys(OUTCOMES, 0)
    for outcome in result.outcomes:
        counts[outcome.status] += 1
    check, plugin = result.check, result.plugin
    return (
        f"{plugin.label} ({plugin.name}, mode {result.mode}): {len(result.outcomes)} tests, "
        f"{counts[PASSED]} passed, {counts[FAILED]} failed, {counts[SKIPPED]} skipped, "
        f"{counts[NOT_RUN]} not run, {result.duration_s:.0f} s; ratchet ({check.path}): "
        f"{check.size} tests, {len(check.regressions)} did not pass, "
        f"{len(check.newly_passing)} new passes not in it"
    )
