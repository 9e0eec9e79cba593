"""Dashboard benchmark: server-side render time of the instances page of a project with
1,000 servers (as the dashboard pages it: 50 a page), first contentful paint of the
overview in headless Chromium, and the API requests each page makes.

    .venv/bin/python bench/dashboard.py [--servers 1000] [--renders 200] [--paints 20]

One in-process cloud (tests/support/server.py's CloudThread, SQLite, the fake virt driver
on one large fake host). The servers are made through the Compute API (min/max_count
batches, no network), the demo project's quotas raised first. Render times are measured
by an HTTP client on the same machine (login once, then GET the page): the whole request,
dashboard, in-process API calls and template. FCP is the browser's own
``first-contentful-paint`` entry (Playwright driving Debian's /usr/bin/chromium, a fresh
page each time, the session cookie kept). API requests per page are counted in the
dashboard's in-process client. Results: a markdown report on stdout and
bench/out/dashboard-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tests.dashboard.conftest import CHROMIUM, CSRF  # noqa: E402
from tests.support.server import CloudThread  # noqa: E402

from onestack.dashboard.client import CloudClient  # noqa: E402
from onestack.drivers.virt.fake import FakeVirtDriver  # noqa: E402

NOVA = "/compute/v2.1"
# From /work/shared/research/dashboard.md (Horizon's project/instances/views.py), not
# measured here.
HORIZON_INSTANCE_CALLS = ("Horizon's instance list: at least 8 API calls per render "
                          "(servers, flavors, images x2, volumes, ports, floating IPs, "
                          "networks)")

CALLS: list[str] = []
ID = re.compile(r"[0-9a-f]{32}|[0-9a-f-]{36}")


def count_calls() -> None:
    """Record every API request the dashboard's in-process client makes."""
    call, stream = CloudClient.call, CloudClient.stream

    async def counted_call(self: CloudClient, method: str, path: str, *a: Any,
                           **kw: Any) -> Any:
        CALLS.append(f"{method} {ID.sub('{id}', path.split('?')[0])}")
        return await call(self, method, path, *a, **kw)

    async def counted_stream(self: CloudClient, method: str, path: str, *a: Any,
                             **kw: Any) -> Any:
        CALLS.append(f"{method} {ID.sub('{id}', path.split('?')[0])}")
        return await stream(self, method, path, *a, **kw)

    CloudClient.call = counted_call  # type: ignore[method-assign]
    CloudClient.stream = counted_stream  # type: ignore[method-assign]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def make_servers(cloud: Any, count: int) -> None:
    admin = httpx.Client(base_url=cloud.base_url, timeout=120,
                         headers={"X-Auth-Token": cloud.admin_token()})
    demo = httpx.Client(base_url=cloud.base_url, timeout=120,
                        headers={"X-Auth-Token": cloud.token("demo")})
    pid = admin.get("/identity/v3/projects?name=demo").json()["projects"][0]["id"]
    r = admin.put(f"{NOVA}/os-quota-sets/{pid}", json={"quota_set": {
        "instances": count + 10, "cores": count + 10, "ram": 64 * (count + 10)}})
    r.raise_for_status()
    flavor = admin.post(f"{NOVA}/flavors", json={"flavor": {
        "name": "bench.nano", "vcpus": 1, "ram": 64, "disk": 0}}).json()["flavor"]["id"]
    image = admin.post("/image/v2/images", json={
        "name": "bench-image", "disk_format": "raw", "container_format": "bare",
        "visibility": "public"}).json()["id"]
    admin.put(f"/image/v2/images/{image}/file", content=b"\0" * 4096,
              headers={"Content-Type": "application/octet-stream"}).raise_for_status()
    made = 0
    while made < count:
        n = min(100, count - made)
        r = demo.post(f"{NOVA}/servers", json={"server": {
            "name": "bench", "imageRef": image, "flavorRef": flavor, "networks": "none",
            "min_count": n, "max_count": n}}, headers={
            "X-OpenStack-Nova-API-Version": "2.37"})
        assert r.status_code == 202, r.text
        made += n
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        active = demo.get(f"{NOVA}/servers?status=ACTIVE&limit=2000").json()["servers"]
        if len(active) >= count:
            return
        time.sleep(1)
    raise RuntimeError(f"only {len(active)} of {count} servers ACTIVE in 600 s")


def login(cloud: Any) -> tuple[httpx.Client, str]:
    http = httpx.Client(timeout=60, follow_redirects=False)
    acct = cloud.accounts["demo"]
    page = http.get(f"{cloud.base_url}/dashboard/login")
    token = CSRF.search(page.text)
    assert token
    r = http.post(f"{cloud.base_url}/dashboard/login", data={
        "username": acct.username, "password": acct.password, "domain": "Default",
        "csrf_token": token.group(1)})
    assert r.status_code == 303, r.text
    return http, cloud.base_url + r.headers["location"]


def render_times(http: httpx.Client, url: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = http.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.text[-500:]
    return times


def calls_of(http: httpx.Client, url: str) -> list[str]:
    CALLS.clear()
    assert http.get(url).status_code == 200
    return list(CALLS)


def paints(cloud: Any, http: httpx.Client, home: str, n: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    sid = http.cookies["onestack_session"]
    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-dev-shm-usage"])
        context = browser.new_context()
        context.add_cookies([{"name": "onestack_session", "value": sid,
                              "url": cloud.base_url + "/dashboard/"}])
        for _ in range(n + 1):  # the first warms the static files' cache
            page = context.new_page()
            page.goto(home)
            fcp = page.evaluate("""() => new Promise(done => {
                const seen = performance.getEntriesByName('first-contentful-paint');
                if (seen.length) return done(seen[0].startTime);
                new PerformanceObserver(list => done(list.getEntries()[0].startTime))
                    .observe({type: 'paint', buffered: true});
            })""")
            out.append(float(fcp))
            page.close()
        browser.close()
    return out[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--renders", type=int, default=200)
    parser.add_argument("--paints", type=int, default=20)
    args = parser.parse_args()
    count_calls()
    thread = CloudThread()
    thread.virt_driver = FakeVirtDriver(hostname="bench-host", vcpus=args.servers * 2,
                                        memory_mb=256 * args.servers, disk_gb=10_000)
    cloud = thread.start()
    try:
        t0 = time.perf_counter()
        make_servers(cloud, args.servers)
        setup_s = time.perf_counter() - t0
        http, home = login(cloud)
        result: dict[str, Any] = {"servers": args.servers, "setup_s": round(setup_s, 1)}
        for name, path in (("instances", "instances"), ("instance_rows", "instances/rows"),
                           ("overview", ""), ("volumes", "volumes"), ("images", "images")):
            times = render_times(http, home + path, args.renders if name.startswith(
                "instance") else max(20, args.renders // 10))
            result[name] = {"p50_ms": round(statistics.median(times), 1),
                            "p99_ms": round(pct(times, 0.99), 1),
                            "api_calls": calls_of(http, home + path)}
        fcp = paints(cloud, http, home, args.paints)
        result["overview_fcp_ms"] = {"p50": round(statistics.median(fcp), 1),
                                     "max": round(max(fcp), 1), "n": len(fcp)}
    finally:
        thread.stop()
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"dashboard-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
        json.dumps(result, indent=2))
    print(f"## Dashboard ({args.servers} servers in the project, fake virt driver)\n")
    print("| page | p50 ms | p99 ms | API calls |\n|---|---|---|---|")
    for name in ("instances", "instance_rows", "overview", "volumes", "images"):
        r = result[name]
        print(f"| {name} | {r['p50_ms']} | {r['p99_ms']} | {len(r['api_calls'])}: "
              f"{', '.join(r['api_calls'])} |")
    f = result["overview_fcp_ms"]
    print(f"\nOverview first contentful paint (headless Chromium): p50 {f['p50']} ms, "
          f"max {f['max']} ms over {f['n']} loads.\n\n{HORIZON_INSTANCE_CALLS}.")


if __name__ == "__main__":
    main()
