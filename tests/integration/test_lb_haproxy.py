"""The haproxy load balancer driver for real: a bridge, a client namespace and two member
namespaces (HTTP on 80 and 8080, a TCP echo on 7000, a UDP echo on 5353, each answering
with its own name), and one load balancer in front of them with an HTTP listener (health
monitor, an L7 policy sending /static/ to a second pool), a TCP listener and a UDP
listener. Checked: round robin, a member killed turning ERROR and its pool DEGRADED within
the monitor's delay*fall+timeout with every request on the other, its return to ONLINE, a
reload (a member added) that keeps an established connection, adoption of the running
haproxy by a new driver, and destroy leaving nothing behind. Everything made is removed at
the end, also on failure.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from onestack.drivers.lb import names
from onestack.drivers.lb.base import (
    HealthMonitorSpec,
    L7PolicySpec,
    L7RuleSpec,
    LbError,
    ListenerSpec,
    LoadBalancerSpec,
    MemberSpec,
    PoolSpec,
)
from onestack.drivers.lb.haproxy import HaproxyLbDriver
from tests.integration.lb_net import SUBNET, SUBNET2, Net, sh, skip_reason

pytestmark = [pytest.mark.integration]

VIP = f"{SUBNET}.10"
B1, B2, B3 = f"{SUBNET}.11", f"{SUBNET}.12", f"{SUBNET2}.13"
SQUAT = ("import socket, sys, time\n"
         "s = socket.socket(); s.bind((sys.argv[1], 7002)); s.listen()\n"
         "print('bound', flush=True); time.sleep(60)")
HM = HealthMonitorSpec(id="hm", type="HTTP", delay=1, timeout=1, max_retries=1,
                       max_retries_down=2, url_path="/health", expected_codes="200")


def make_spec(net: Net, extra_member: bool = False) -> LoadBalancerSpec:
    web_members = [MemberSpec(id="m1", address=B1, protocol_port=80),
                   MemberSpec(id="m2", address=B2, protocol_port=80)]
    tcp_members = [MemberSpec(id="t1", address=B1, protocol_port=7000),
                   MemberSpec(id="t2", address=B2, protocol_port=7000)]
    if extra_member:
        tcp_members.append(MemberSpec(id="t3", address=B3, protocol_port=7000))
    pools = (
        PoolSpec(id="web", protocol="HTTP", lb_algorithm="ROUND_ROBIN", health_monitor=HM,
                 members=tuple(web_members)),
        PoolSpec(id="static", protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                 members=(MemberSpec(id="s1", address=B1, protocol_port=8080),)),
        PoolSpec(id="tcp", protocol="TCP", lb_algorithm="ROUND_ROBIN",
                 members=tuple(tcp_members)),
        PoolSpec(id="udp", protocol="UDP", lb_algorithm="ROUND_ROBIN",
                 members=(MemberSpec(id="u1", address=B1, protocol_port=5353),
                          MemberSpec(id="u2", address=B2, protocol_port=5353))),
    )
    static = L7PolicySpec(id="to-static", action="REDIRECT_TO_POOL", position=1,
                          redirect_pool_id="static", rules=(L7RuleSpec(
                              id="r", type="PATH", compare_type="STARTS_WITH",
                              value="/static/"),))
    listeners = (
        ListenerSpec(id="http", protocol="HTTP", protocol_port=80, default_pool_id="web",
                     l7policies=(static,),
                     insert_headers=(("X-Forwarded-For", "true"),)),
        ListenerSpec(id="tcp", protocol="TCP", protocol_port=7000, default_pool_id="tcp"),
        ListenerSpec(id="udp", protocol="UDP", protocol_port=5353, default_pool_id="udp"),
        # only b1 may use these two: the client is refused
        ListenerSpec(id="tcp-closed", protocol="TCP", protocol_port=7001,
                     default_pool_id="tcp", allowed_cidrs=(f"{B1}/32",)),
        ListenerSpec(id="udp-closed", protocol="UDP", protocol_port=5354,
                     default_pool_id="udp", allowed_cidrs=(f"{B1}/32",)),
    )
    return LoadBalancerSpec(id=f"itest-{net.tag}", vip_address=VIP, vip=net.vip_port(),
                            member_ports=(net.member_port(),) if extra_member else (),
                            listeners=listeners, pools=pools)


@pytest.fixture
async def env() -> AsyncIterator[tuple[Net, HaproxyLbDriver, Path]]:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    tmp = Path(tempfile.mkdtemp(prefix="olbt-"))
    net = Net()
    driver = HaproxyLbDriver(tmp / "state")
    try:
        net.setup()
        net.add_second_network()
        yield net, driver, tmp
    finally:
        try:
            for lb_id in await driver.running():
                await driver.destroy(lb_id)
        finally:
            net.close()
            sh("rm", "-rf", str(tmp))


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float) -> float:
    """Seconds until ``check()`` (an async callable) is true; fails after ``timeout``."""
    start = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - start
        assert time.monotonic() - start < timeout, f"not within {timeout}s"
        await asyncio.sleep(0.2)


async def member(driver: HaproxyLbDriver, lb_id: str, mid: str) -> str:
    return (await driver.status(lb_id)).members[mid].operating_status


async def test_haproxy_load_balancer(env: tuple[Net, HaproxyLbDriver, Path]) -> None:
    net, driver, tmp = env
    spec = make_spec(net)
    ns = names.namespace(spec.id)
    t0 = time.monotonic()
    await driver.ensure(spec)
    created = time.monotonic() - t0
    assert created < 5, f"ensure took {created:.1f}s"
    assert await driver.running() == [spec.id]

    async def both_online() -> bool:
        st = await driver.status(spec.id)
        return all(st.members[m].operating_status == "ONLINE" for m in ("m1", "m2"))

    await wait_for(both_online, 10)
    st = await driver.status(spec.id)
    assert st.running and st.pools["web"].operating_status == "ONLINE"
    assert st.members["u1"].operating_status == "NO_MONITOR"
    assert st.listeners["http"].operating_status == "ONLINE"

    # round robin over both members
    answers = net.client("http", f"{VIP}:80/", 4)
    assert sorted(answers) == ["b1:80/", "b1:80/", "b2:80/", "b2:80/"], answers
    assert answers[0] != answers[1]
    # L7: /static/ goes to the second pool
    assert net.client("http", f"{VIP}:80/static/x.css", 2) == ["b1:8080/static/x.css"] * 2
    # TCP and UDP listeners
    assert sorted(net.client("tcp", f"{VIP}:7000", 4)) == ["b1 hi"] * 2 + ["b2 hi"] * 2
    udp = net.client("udp", f"{VIP}:5353", 4)
    assert sorted(udp) == ["b1 hi"] * 2 + ["b2 hi"] * 2, udp
    # allowed_cidrs: the client is not in them
    assert net.client("tcp", f"{VIP}:7001", 1)[0].startswith("FAIL")
    assert net.client("udp", f"{VIP}:5354", 1)[0].startswith("FAIL")
    # insert_headers: X-Forwarded-For is the client's address
    assert net.client("http", f"{VIP}:80/xff", 2) == [f"{SUBNET}.2"] * 2
    st = await driver.status(spec.id)
    assert st.listeners["http"].total_connections >= 6
    assert st.listeners["http"].bytes_out > 0

    # a member dies: ERROR and DEGRADED within delay*fall+timeout, traffic on the other
    net.stop_backend(2)

    async def m2_down() -> bool:
        return await member(driver, spec.id, "m2") == "ERROR"

    took = await wait_for(m2_down, HM.delay * HM.max_retries_down + HM.timeout + 2)
    st = await driver.status(spec.id)
    assert st.pools["web"].operating_status == "DEGRADED", (took, st.pools)
    assert net.client("http", f"{VIP}:80/", 4) == ["b1:80/"] * 4
    # it comes back
    net.start_backend(2)

    async def m2_up() -> bool:
        return await member(driver, spec.id, "m2") == "ONLINE"

    await wait_for(m2_up, HM.delay * HM.max_retries + HM.timeout + 3)
    assert (await driver.status(spec.id)).pools["web"].operating_status == "ONLINE"

    # a change reloads haproxy without dropping an established connection
    held = net.hold(VIP, 7000)
    assert held.stdout is not None and held.stdin is not None
    first = held.stdout.readline().strip()
    assert first in ("b1 one", "b2 one")
    old_pid = driver.pid(spec.id)
    await driver.ensure(make_spec(net, extra_member=True))
    new_pid = driver.pid(spec.id)
    assert new_pid is not None and new_pid != old_pid
    assert "t3" in (await driver.status(spec.id)).members
    held.stdin.write("go\n")
    held.stdin.flush()
    assert held.stdout.readline().strip() == first.replace("one", "two")
    held.wait(10)
    # the new member sits on another network, reached through the member port
    assert sorted(net.client("tcp", f"{VIP}:7000", 6)) == [
        "b1 hi", "b1 hi", "b2 hi", "b2 hi", "b3 hi", "b3 hi"]
    # and the namespace is no router between the two networks
    sh("ip", "-n", net.ns("c"), "route", "add", f"{SUBNET2}.0/24", "via", VIP)
    assert net.client("tcp", f"{B3}:7000", 1)[0].startswith("FAIL")
    # a configuration haproxy cannot load (its port is taken in the namespace) is an
    # error every time it is asked for; the running haproxy keeps serving, stats included
    squatter = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SQUAT, VIP],
                                stdout=subprocess.PIPE, text=True)
    net.procs["squatter"] = squatter
    assert squatter.stdout is not None and squatter.stdout.readline().strip() == "bound"
    good = make_spec(net, extra_member=True)
    extra = ListenerSpec(id="taken", protocol="TCP", protocol_port=7002, default_pool_id="tcp")
    bad = replace(good, listeners=(*good.listeners, extra))
    for _ in range(2):
        with pytest.raises(LbError, match="7002"):
            await driver.ensure(bad)
        assert driver.pid(spec.id) is not None
        assert (await driver.status(spec.id)).members["m1"].operating_status == "ONLINE"
        assert net.client("http", f"{VIP}:80/static/", 1) == ["b1:8080/static/"]
    squatter.kill()
    # a spec equal to the running one changes nothing
    new_pid = driver.pid(spec.id)
    await driver.ensure(good)
    assert driver.pid(spec.id) == new_pid and new_pid is not None
    assert "taken" not in (await driver.status(spec.id)).listeners

    # a new driver (a restarted Onestack) adopts the running haproxy
    adopter = HaproxyLbDriver(tmp / "state")
    assert await adopter.running() == [spec.id]
    assert adopter.pid(spec.id) == new_pid
    assert (await adopter.status(spec.id)).members["m1"].operating_status == "ONLINE"
    await adopter.ensure(make_spec(net, extra_member=True))
    assert adopter.pid(spec.id) == new_pid
    # a dead haproxy is started again by the next ensure
    os.kill(new_pid, 9)
    await wait_for(_gone(new_pid), 5)
    assert not (await adopter.status(spec.id)).running
    await adopter.ensure(make_spec(net, extra_member=True))
    restarted = adopter.pid(spec.id)
    assert restarted is not None and restarted != new_pid
    assert net.client("http", f"{VIP}:80/static/", 1) == ["b1:8080/static/"]

    # a port dropped from the spec is unplugged
    member_veth = names.veth_host(net.member_port().port_id)
    assert member_veth in sh("ip", "-br", "link").stdout
    await adopter.ensure(make_spec(net))
    assert member_veth not in sh("ip", "-br", "link").stdout

    # destroy leaves nothing behind, and is idempotent
    await adopter.destroy(spec.id)
    await adopter.destroy(spec.id)
    assert await adopter.running() == []
    assert not os.path.exists(f"/run/netns/{ns}")
    assert names.veth_host(spec.vip.port_id) not in sh("ip", "-br", "link").stdout
    assert not (tmp / "state" / spec.id).exists()
    await wait_for(_gone(restarted), 5)
    assert sh("nft", "list", "tables").stdout.count(names.NFT_TABLE) == 0
    assert str(tmp) not in sh("ps", "-eo", "args").stdout


def _gone(pid: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                return fh.read().split(") ")[1].startswith("Z")
        except OSError:
            return True
    return check


def test_spec_is_valid_without_root() -> None:
    """The spec this test builds renders (a broken test spec should fail everywhere)."""
    from onestack.drivers.lb import haproxy_config, nft_udp
    spec = make_spec(replace(Net(), tag="abcdef"))
    assert "frontend listener_http" in haproxy_config.render(spec, "/x/stats.sock")
    assert "dnat ip to numgen inc mod 2" in nft_udp.render(spec)
