"""``python tests/interop/run.py``: a fresh Onestack, the interop tempest run, the report.

Steps: make sure tempest 47.0.0 is in tests/interop/.venv-tempest; start ``onestack up``
on a free port with a temporary data dir; read the catalog from an admin token; find
two images, two flavors and the external network; write tempest.conf from
data/tempest.conf.example; run the required tests of the chosen services; score them
by idempotent id; write report.md and report.json; check the ratchet. The server is
stopped and the temporary dir removed on every way out (unless --keep).
"""

from __future__ import annotations

import argparse
import datetime
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from . import (
    balance,
    barbican,
    cloud,
    full_api,
    guideline,
    octavia,
    ratchet,
    report,
    scoring,
    server,
    subunit_v2,
    tempest_conf,
)
from .tempest_env import Venv, init_workspace, last_subunit, run_tests

REPO = Path(__file__).resolve().parents[3]
DEFAULT_REPORT_DIR = Path(__file__).resolve().parent.parent / "out"
DEFAULT_ONESTACK = REPO / ".venv" / "bin" / "onestack"

EXIT_OK = 0
EXIT_RATCHET = 1
EXIT_HARNESS = 2
EXIT_INTERRUPTED = 130
MAX_RETRIES = 5  # more failures than this are not flakes: no second run

# catalog service type -> canonical service
CATALOG_SERVICES: dict[str, str] = {
    "identity": "identity",
    "compute": "compute",
    "image": "image",
    "network": "network",
    "block-storage": "volume",
    "volumev3": "volume",
    "volume": "volume",
    "object-store": "object",
}

# what the harness leaves in the report dir
ARTIFACTS: dict[str, str] = {
    "report.md": "this report",
    "report.json": "the same, machine-readable, with full tracebacks and per-test logs",
    "onestack.log": "the Onestack server's console output",
    "onestack-logs": "the log files from the Onestack data dir (DIR/logs)",
    "tempest.log": "tempest's own log (requests and responses, debug level)",
    "tempest-run.log": "the console output of `tempest run`",
    "tempest.conf": "the tempest.conf used",
    "load-list.txt": "the tests given to `tempest run --load-list`",
    "retry-list.txt": "the tests that failed and were run once more, one at a time",
    "tempest-retry.log": "the console output of that second `tempest run`",
    "results.subunit": "the run's subunit v2 stream (`stestr last --subunit`)",
    "results-retry.subunit": "the second run's subunit v2 stream",
    "octavia": "the load balancer's run (octavia-tempest-plugin API tests): its own report",
    "barbican": "the key manager's run (barbican-tempest-plugin API and RBAC tests): its own "
    "report",
}


class HarnessError(Exception):
    """Something other than a test failed: setup, server, tempest."""


def log(message: str) -> None:
    print(f"[interop] {message}", flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="run.py",
        description=(
            "Run the OpenStack interop 2022.11 required tests (tempest 47.0.0) "
            "against a fresh Onestack and score them."
        ),
    )
    parser.add_argument(
        "--services",
        help="comma-separated: identity,compute,image,network,volume,object, and "
        "load-balancer for the octavia-tempest-plugin run, key-manager for the "
        "barbican-tempest-plugin run "
        "(default: every one the catalog offers)",
    )
    parser.add_argument(
        "--octavia",
        choices=octavia.MODES,
        help="the octavia-tempest-plugin API tests after the guideline run: only those in "
        "ratchet-octavia.txt (default), all of them, or off (default off when --services "
        "does not name load-balancer)",
    )
    parser.add_argument(
        "--barbican",
        choices=octavia.MODES,
        help="the barbican-tempest-plugin API and RBAC tests after the guideline run: only "
        "those in ratchet-barbican.txt (default), all of them, or off (default off when "
        "--services does not name key-manager)",
    )
    parser.add_argument(
        "--full-api",
        metavar="SERVICES",
        help="instead of the guideline: tempest's whole API suite of these services "
        "(identity,image,object_storage,network,volume,compute or all), one report each "
        "under REPORT_DIR/full-api/ (not for CI: about an hour for all)",
    )
    parser.add_argument("--port", type=int, help="port for Onestack (default: a free one)")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary dir (Onestack data, tempest workspace) for inspection",
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=DEFAULT_REPORT_DIR,
        help=f"where report.md, report.json and the logs go (default: {DEFAULT_REPORT_DIR})",
    )
    parser.add_argument(
        "--update-ratchet",
        action="store_true",
        help="append the tests that passed and are not in ratchet.txt (or "
        "ratchet-octavia.txt) yet (never removes)",
    )
    parser.add_argument(
        "--ratchet-file", type=Path, default=ratchet.RATCHET_FILE, help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--tests",
        metavar="REGEX",
        help="only the required tests whose id matches (the ratchet checks just those)",
    )
    parser.add_argument("--concurrency", type=int, default=2, help="tempest workers (2)")
    parser.add_argument(
        "--timeout", type=float, help="stop the tempest run after this many seconds"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a tempest.conf option (repeatable), e.g. validation.image_ssh_user=root",
    )
    parser.add_argument(
        "--onestack",
        type=Path,
        default=DEFAULT_ONESTACK,
        help=f"the onestack command (default: {DEFAULT_ONESTACK})",
    )
    parser.add_argument(
        "--no-retry",
        action="store_true",
        help=f"do not run failed tests once more (by default up to {MAX_RETRIES} are, alone)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not echo tempest's console output")
    return parser.parse_args(argv)


def requested_services(text: str | None, offered: list[str]) -> tuple[list[str], bool]:
    """(services to run, whether the user chose them)."""
    if not text:
        return offered, False
    chosen = {guideline.canonical_service(name) for name in text.split(",") if name.strip()}
    return [s for s in guideline.SERVICES if s in chosen], True


def catalog_services(types: set[str]) -> list[str]:
    offered = {CATALOG_SERVICES[t] for t in types if t in CATALOG_SERVICES}
    return [s for s in guideline.SERVICES if s in offered]


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@dataclass
class Run:
    """The state of one harness run, for the report whatever happened."""

    args: argparse.Namespace
    required: list[guideline.RequiredTest]
    report_dir: Path
    tmp: Path | None = None
    server: server.Onestack | None = None
    services: list[str] = field(default_factory=list)
    only: set[str] | None = None  # --tests: the test ids selected
    services_chosen: bool = False
    catalog: list[str] = field(default_factory=list)
    records: dict[str, subunit_v2.TestRecord] = field(default_factory=dict)
    lb_only: bool = False  # --services named only load-balancer
    octavia_mode: str = "off"
    octavia: octavia.Result | None = None
    barbican_mode: str = "off"
    barbican: octavia.Result | None = None
    full_services: list[str] = field(default_factory=list)  # --full-api: tempest.api.X
    full_results: list[full_api.ServiceResult] = field(default_factory=list)
    tempest_exit_code: int | None = None
    server_exit_code: int | None = None
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def execute(self, venv: Venv) -> None:
        args = self.args
        onestack: Path = args.onestack
        if not onestack.exists():
            raise HarnessError(
                f"{onestack} not found: install Onestack into the repo's venv "
                f"({REPO}/.venv/bin/pip install -e {REPO}) or pass --onestack"
            )
        self.tmp = Path(tempfile.mkdtemp(prefix="onestack-interop-"))
        log(f"temporary dir {self.tmp}")
        config = self.tmp / "onestack.toml"
        config.write_text(tempest_conf.onestack_config_toml(), encoding="utf-8")
        port = args.port or server.free_port()
        self.server = server.Onestack(
            onestack, self.tmp / "data", config, port, self.report_dir / "onestack.log"
        )
        log("starting: " + " ".join(self.server.command))
        started = time.monotonic()
        self.server.start()
        try:
            self.server.wait_ready()
        except server.ServerError as err:
            raise HarnessError(str(err)) from err
        log(f"Onestack is up on port {port} after {time.monotonic() - started:.1f}s")

        facts, token = self._admin(venv)
        self.catalog = sorted(token.types())
        offered = catalog_services(token.types())
        log(f"catalog: {', '.join(self.catalog)} -> services {', '.join(offered)}")
        self.services, self.services_chosen = requested_services(args.services, offered)
        if self.lb_only or self.full_services:
            self.services, self.services_chosen = [], True
        missing = [s for s in self.services if s not in offered]
        if missing:
            note = f"not in the catalog, their tests will skip: {', '.join(missing)}"
            log(note)
            self.notes.append(note)
        cloud.seed(facts, token, log)

        workspace = self.tmp / "workspace"
        init_workspace(venv, workspace)
        # what `tempest init` put in its tempest.conf, then the user's --set
        overrides = {
            ("oslo_concurrency", "lock_path"): str(workspace / "tempest_lock"),
            ("DEFAULT", "log_dir"): str(workspace / "logs"),
        }
        overrides.update(tempest_conf.parse_override(o) for o in args.overrides)
        template = guideline.TEMPEST_CONF_TEMPLATE.read_text(encoding="utf-8")
        conf_text = tempest_conf.render(template, facts, overrides=overrides)
        conf_path = workspace / "etc" / "tempest.conf"
        conf_path.parent.mkdir(parents=True, exist_ok=True)
        conf_path.write_text(conf_text, encoding="utf-8")
        shutil.copyfile(conf_path, self.report_dir / "tempest.conf")

        selected = guideline.select(self.required, self.services)
        if args.tests:
            pattern = re.compile(args.tests)
            selected = [t for t in selected if pattern.search(t.test_id)]
            self.only = {t.test_id for t in selected}
        load_list = self.report_dir / "load-list.txt"
        guideline.write_load_list(selected, load_list)
        if selected:
            self._guideline(venv, workspace, selected, load_list, conf_path)
        elif not (self.lb_only or self.full_services):
            self.notes.append("no tests selected")
        if self.octavia_mode != "off":
            self._octavia(venv, workspace, facts, token, conf_path)
        if self.barbican_mode != "off":
            self.barbican = self._plugin(venv, workspace, conf_path, token, barbican.BARBICAN,
                                         self.barbican_mode, barbican.CONF_OPTIONS)
        if self.full_services:
            self._full_api(venv, workspace, facts, token, conf_path)

    def _full_api(self, venv: Venv, workspace: Path, facts: tempest_conf.CloudFacts,
                  token: cloud.Token, conf_path: Path) -> None:
        """tempest.api.<service> for each --full-api service, one report each."""
        root = self.report_dir / full_api.DIR_NAME
        conf = root / "tempest.conf"
        root.mkdir(parents=True, exist_ok=True)
        full_api.write_conf(conf_path, conf, full_api.conf_options(facts, token))
        for service in self.full_services:
            result = full_api.run_service(
                venv, workspace, conf, root / service, service,
                concurrency=self.args.concurrency, timeout=self.args.timeout,
                echo=not self.args.quiet, log=log, pattern=self.args.tests)
            self.full_results.append(result)
            full_api.write_summary(root)
            log(full_api.console_summary(result))

    def _guideline(self, venv: Venv, workspace: Path, selected: list[guideline.RequiredTest],
                   load_list: Path, conf_path: Path) -> None:
        args = self.args
        log(f"running {len(selected)} tests of {', '.join(self.services)}")
        workers = balance.write_worker_file([t.test_id for t in selected], balance.load_costs(),
                                            args.concurrency, self.report_dir / "workers.yaml")
        try:
            self.tempest_exit_code = run_tests(
                venv,
                workspace,
                load_list,
                conf_path,
                self.report_dir / "tempest-run.log",
                concurrency=args.concurrency,
                timeout=args.timeout,
                echo=not args.quiet,
                worker_file=workers,
            )
        finally:
            self._collect(venv, workspace)
        self._retry(venv, workspace, selected, conf_path)

    def _octavia(self, venv: Venv, workspace: Path, facts: tempest_conf.CloudFacts,
                 token: cloud.Token, conf_path: Path) -> None:
        """octavia-tempest-plugin's API tests, after the guideline's, into report_dir/octavia."""
        if octavia.SERVICE not in token.types():
            self.notes.append("load-balancer is not in the catalog: no octavia-tempest-plugin run")
            return
        self.octavia = self._plugin(
            venv, workspace, conf_path, token, octavia.OCTAVIA, self.octavia_mode,
            octavia.conf_options(octavia.providers(facts, token), octavia.capabilities(token)))

    def _plugin(self, venv: Venv, workspace: Path, conf_path: Path, token: cloud.Token,
                plugin: octavia.Plugin, mode: str, options: dict[tuple[str, str], str]
                ) -> octavia.Result | None:
        """A plugin's tests, after the guideline's, into report_dir/<plugin.report_name>."""
        out = self.report_dir / plugin.report_name
        out.mkdir(parents=True, exist_ok=True)
        if plugin.service not in token.types():
            self.notes.append(f"{plugin.service} is not in the catalog: no {plugin.name} run")
            return None
        started = time.time()
        every = octavia.as_required(octavia.list_tests(venv, workspace, plugin), plugin)
        entries = ratchet.read(plugin.ratchet_file)
        selected = octavia.select(every, mode, entries, self.args.tests)
        plugin_conf = out / "tempest.conf"
        octavia.write_conf(conf_path, plugin_conf, options)
        load_list = out / "load-list.txt"
        guideline.write_load_list(selected, load_list)
        log(f"{plugin.label}: running {len(selected)} of {len(every)} {plugin.name} tests "
            f"({mode})")
        code: int | None = None
        records: dict[str, subunit_v2.TestRecord] = {}
        try:
            if selected:
                code = -1  # what ran is collected also when the run is interrupted
                code = run_tests(venv, workspace, load_list, plugin_conf,
                                 out / "tempest-run.log", concurrency=self.args.concurrency,
                                 timeout=self.args.timeout, echo=not self.args.quiet)
        finally:
            if code is not None:
                stream = last_subunit(venv, workspace)
                (out / "results.subunit").write_bytes(stream)
                records = subunit_v2.parse(stream)
            outcomes, check = octavia.score(selected, records, entries, every, plugin)
            result = octavia.Result(mode, time.time() - started, code, outcomes, check,
                                    plugin=plugin)
        return result

    def _retry(self, venv: Venv, workspace: Path, selected: list[guideline.RequiredTest],
               conf_path: Path) -> None:
        """Run the tests that failed once more, alone: a test that passes then is reported
        as flaky (in the notes and on the console), one that fails again stays failed."""
        if self.args.no_retry or not self.records:
            return
        outcomes = scoring.score(selected, self.services, self.records)
        failed = {o.test_id for o in outcomes if o.status in (scoring.FAILED, scoring.NOT_RUN)}
        if not failed or len(failed) > MAX_RETRIES:
            return
        again = [t for t in selected if t.test_id in failed]
        log(f"{len(again)} failed; running them once more, one at a time")
        retry_list = self.report_dir / "retry-list.txt"
        guideline.write_load_list(again, retry_list)
        first = dict(self.records)
        try:
            run_tests(venv, workspace, retry_list, conf_path,
                      self.report_dir / "tempest-retry.log", concurrency=1,
                      timeout=self.args.timeout, echo=not self.args.quiet)
        finally:
            self._collect(venv, workspace, "results-retry.subunit")
            first.update(self.records)
            self.records = first
        now = {o.test_id: o.status for o in scoring.score(again, self.services, self.records)}
        for test_id in sorted(failed):
            if now.get(test_id) == scoring.PASSED:
                note = f"FLAKY: failed, then passed when run again alone: {test_id}"
                log(note)
                self.notes.append(note)

    def _admin(self, venv: Venv) -> tuple[tempest_conf.CloudFacts, cloud.Token]:
        assert self.server is not None
        clouds: Any = server.load_yaml(self.server.clouds_yaml, venv.python)
        try:
            auth: dict[str, Any] = clouds["clouds"]["onestack"]["auth"]
            password = str(auth["password"])
        except (KeyError, TypeError) as err:
            raise HarnessError(
                f"{self.server.clouds_yaml} has no clouds.onestack.auth.password"
            ) from err
        auth = {
            "username": "admin",
            "project_name": "admin",
            **auth,
        }
        try:
            token = cloud.get_token(self.server.identity_url, auth)
        except cloud.HttpError as err:
            raise HarnessError(f"cannot get an admin token: {err}") from err
        facts = tempest_conf.CloudFacts(
            port=self.server.port,
            admin_username=str(auth["username"]),
            admin_password=password,
            admin_project_name=str(auth["project_name"]),
            admin_domain_name=str(
                auth.get("user_domain_name") or auth.get("domain_name") or "Default"
            ),
            region=token.region(),
            catalog_types=token.types(),
        )
        return facts, token

    def _collect(self, venv: Venv, workspace: Path, name: str = "results.subunit") -> None:
        """The last run's results; tempest's log (every run so far: tempest appends)."""
        stream = last_subunit(venv, workspace)
        (self.report_dir / name).write_bytes(stream)
        self.records = subunit_v2.parse(stream)
        for tempest_log in (workspace / "logs" / "tempest.log", workspace / "tempest.log"):
            if tempest_log.exists():
                shutil.copyfile(tempest_log, self.report_dir / "tempest.log")
                break

    def _save_server_logs(self, logs: Path) -> None:
        """The log files Onestack keeps in its data dir, before that is removed."""
        if not logs.is_dir():
            return
        target = self.report_dir / "onestack-logs"
        shutil.copytree(logs, target, dirs_exist_ok=True)

    def cleanup(self) -> None:
        if self.server is not None:
            self.server_exit_code = self.server.stop()
            log(f"Onestack stopped (exit code {self.server_exit_code})")
            self._save_server_logs(self.server.data_dir / "logs")
        if self.tmp is not None and self.tmp.exists():
            if self.args.keep:
                log(
                    f"kept {self.tmp} (restart the cloud with: {self.args.onestack} up "
                    f"--data-dir {self.tmp / 'data'} --config {self.tmp / 'onestack.toml'})"
                )
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def finish(self, update: bool) -> int:
        """Score, write the report, check (and maybe update) the ratchet."""
        outcomes = scoring.score(self.required, self.services, self.records)
        rows = scoring.summarize(outcomes, self.services)
        fixtures = scoring.fixture_problems(self.records.values())
        checked = self.services if self.services_chosen else list(guideline.SERVICES)
        ratchet_path: Path = self.args.ratchet_file
        check = ratchet.check(ratchet.read(ratchet_path), self.required, outcomes, checked,
                              self.only)
        if ratchet_path.resolve() != ratchet.RATCHET_FILE:
            check.path = str(ratchet_path)
        if update and check.newly_passing:
            added = ratchet.update(ratchet_path, check.newly_passing)
            log(f"ratchet: added {added} newly passing tests to {ratchet_path}")
            self.notes.append(f"--update-ratchet added {added} tests")
        info = report.RunInfo(
            started=datetime.datetime.fromtimestamp(self.started).isoformat(timespec="seconds"),
            duration_s=time.time() - self.started,
            port=self.server.port if self.server else None,
            catalog=self.catalog,
            requested_services=self.services,
            tempest_exit_code=self.tempest_exit_code,
            server_exit_code=self.server_exit_code,
            files={n: w for n, w in ARTIFACTS.items() if (self.report_dir / n).exists()}
            | {"report.md": ARTIFACTS["report.md"], "report.json": ARTIFACTS["report.json"]},
            notes=self.notes,
        )
        report.write(self.report_dir, info, rows, outcomes, check, fixtures)
        plugins_ok = all([self._finish_plugin(self.octavia, update),
                          self._finish_plugin(self.barbican, update)])
        print()
        print(report.summary_table(rows))
        print()
        if check.regressions or check.unknown:
            for entry, status in check.regressions:
                print(f"RATCHET: {status}: {entry}")
            for entry in check.unknown:
                print(f"RATCHET: not a required test: {entry}")
        print(
            f"ratchet ({check.path}): {check.size} tests, "
            f"{len(check.regressions)} did not pass, "
            f"{len(check.unchecked)} not checked, {len(check.newly_passing)} new passes "
            f"not in it{' (added)' if update and check.newly_passing else ''}"
        )
        for note in self.notes:
            if note.startswith("FLAKY"):
                print(note)
        print(f"report: {self.report_dir / 'report.md'}")
        if self.full_results:
            print(full_api.write_summary(self.report_dir / full_api.DIR_NAME))
            print(f"report: {self.report_dir / full_api.DIR_NAME / 'summary.md'}")
        for result in (self.octavia, self.barbican):
            if result is not None:
                print(octavia.console_summary(result))
                for entry, status in result.check.regressions:
                    print(f"RATCHET ({result.plugin.label}): {status}: {entry}")
                print(f"report: {self.report_dir / result.plugin.report_name / 'report.md'}")
        return EXIT_OK if check.ok and plugins_ok else EXIT_RATCHET

    def _finish_plugin(self, result: octavia.Result | None, update: bool) -> bool:
        """A plugin run's report; whether its ratchet holds."""
        if result is None:
            return True
        if update and result.check.newly_passing:
            added = ratchet.update(result.plugin.ratchet_file, result.check.newly_passing)
            result.notes.append(f"--update-ratchet added {added} tests")
        octavia.write_report(self.report_dir / result.plugin.report_name, result)
        return result.check.ok


def _prepare_report_dir(path: Path) -> Path:
    path = path.resolve()
    path.mkdir(parents=True, exist_ok=True)
    for name in ARTIFACTS:
        old = path / name
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink(missing_ok=True)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.services, lb_named = octavia.split_services(args.services)
    args.services, km_named = octavia.split_services(args.services, barbican.SERVICE_ALIASES)
    lb_only = (lb_named or km_named) and not args.services
    try:
        required = guideline.load_required()
        if args.services:
            requested_services(args.services, [])  # reject unknown names early
        full = full_api.parse_services(args.full_api) if args.full_api else []
    except (guideline.GuidelineError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_HARNESS
    report_dir = _prepare_report_dir(args.report_dir)
    venv = Venv()
    run = Run(args, required, report_dir, lb_only=lb_only, full_services=full)
    chosen = args.services is not None or lb_only or bool(full)
    run.octavia_mode = args.octavia or ("ratchet" if lb_named or not chosen else "off")
    run.barbican_mode = args.barbican or ("ratchet" if km_named or not chosen else "off")
    signal.signal(signal.SIGTERM, _raise_interrupt)
    code = EXIT_OK
    try:
        venv.ensure(log)
        if run.octavia_mode != "off":
            octavia.ensure_plugin(venv, log)
        if run.barbican_mode != "off":
            octavia.ensure_plugin(venv, log, barbican.BARBICAN)
        run.execute(venv)
    except KeyboardInterrupt:
        run.notes.append("interrupted")
        log("interrupted")
        code = EXIT_INTERRUPTED
    except Exception as err:  # everything ends in the report
        run.notes.append(f"harness error: {err}")
        print(f"error: {err}", file=sys.stderr)
        code = EXIT_HARNESS
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        run.cleanup()
    verdict = run.finish(args.update_ratchet)
    return code or verdict
