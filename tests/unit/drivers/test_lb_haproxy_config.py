"""The haproxy driver's pure parts: haproxy.cfg and nft text from a spec, hostile values
refused, ``show stat`` parsing and the status rollup."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from onestack.drivers.lb import haproxy_config, nft_udp, stats
from onestack.drivers.lb.base import (
    HealthMonitorSpec,
    Interface,
    L7PolicySpec,
    L7RuleSpec,
    LbError,
    ListenerSpec,
    LoadBalancerSpec,
    MemberSpec,
    PoolSpec,
)
from onestack.drivers.lb.haproxy import HaproxyLbDriver

SOCK = "/run/onestack-test/lb/stats.sock"
VIP = Interface(port_id="vipport-0001-aaaa", mac="fa:16:3e:00:00:01",
                addresses=("10.0.0.5/24",), bridge="onb-net1", gateway="10.0.0.1")


def full_spec() -> LoadBalancerSpec:
    """Every feature the generators know, once."""
    hm = HealthMonitorSpec(id="hm1", type="HTTP", delay=2, timeout=1, max_retries=2,
                           max_retries_down=3, http_method="GET", url_path="/health",
                           expected_codes="200-202,204", http_version=1.1,
                           domain_name="example.com")
    web = PoolSpec(id="pool-web", protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                   health_monitor=hm, session_persistence=(("type", "HTTP_COOKIE"),),
                   members=(MemberSpec(id="m1", address="10.0.1.11", protocol_port=80,
                                       weight=3),
                            MemberSpec(id="m2", address="10.0.1.12", protocol_port=80,
                                       backup=True, monitor_address="10.0.2.12",
                                       monitor_port=8080),
                            MemberSpec(id="m3", address="10.0.1.13", protocol_port=80,
                                       admin_state_up=False)))
    static = PoolSpec(id="pool-static", protocol="HTTP", lb_algorithm="LEAST_CONNECTIONS",
                      session_persistence=(("type", "APP_COOKIE"),
                                           ("cookie_name", "JSESSIONID")),
                      members=(MemberSpec(id="m4", address="10.0.1.14", protocol_port=80),))
    tcp = PoolSpec(id="pool-tcp", protocol="TCP", lb_algorithm="SOURCE_IP",
                   session_persistence=(("type", "SOURCE_IP"),),
                   health_monitor=HealthMonitorSpec(id="hm2", type="TCP", delay=5,
                                                    timeout=3, max_retries=1),
                   members=(MemberSpec(id="m5", address="fd00::5", protocol_port=22),))
    udp = PoolSpec(id="pool-udp", protocol="UDP", lb_algorithm="ROUND_ROBIN",
                   members=(MemberSpec(id="m6", address="10.0.1.16", protocol_port=53,
                                       weight=2),
                            MemberSpec(id="m7", address="10.0.1.17", protocol_port=53)))
    policies = (
        L7PolicySpec(id="p-reject", action="REJECT", position=3, rules=(
            L7RuleSpec(id="r3", type="HEADER", compare_type="EQUAL_TO", key="X-Bad",
                       value="yes"),)),
        L7PolicySpec(id="p-static", action="REDIRECT_TO_POOL", position=1,
                     redirect_pool_id="pool-static", rules=(
                         L7RuleSpec(id="r1", type="PATH", compare_type="STARTS_WITH",
                                    value="/static/"),)),
        L7PolicySpec(id="p-url", action="REDIRECT_TO_URL", position=2,
                     redirect_url="https://example.com/moved%20here", redirect_http_code=301,
                     rules=(L7RuleSpec(id="r2", type="HOST_NAME", compare_type="ENDS_WITH",
                                       value="Old.Example.com"),
                            L7RuleSpec(id="r4", type="COOKIE", compare_type="REGEX",
                                       key="beta", value="^on$", invert=True))),
        L7PolicySpec(id="p-prefix", action="REDIRECT_PREFIX", position=4,
                     redirect_prefix="https://new.example.com", rules=(
                         L7RuleSpec(id="r5", type="FILE_TYPE", compare_type="EQUAL_TO",
                                    value="jpg"),)),
    )
    http = ListenerSpec(id="lis-http", protocol="HTTP", protocol_port=80,
                        default_pool_id="pool-web", connection_limit=1000,
                        timeout_client_data=30000, timeout_member_connect=4000,
                        timeout_member_data=40000, allowed_cidrs=("10.0.0.0/8", "fd00::/64"),
                        insert_headers=(("X-Forwarded-For", "true"),
                                        ("X-Forwarded-Port", "true"),
                                        ("X-Forwarded-Proto", "true")),
                        l7policies=policies)
    https = ListenerSpec(id="lis-https", protocol="HTTPS", protocol_port=443,
                         default_pool_id="pool-tcp")
    udpl = ListenerSpec(id="lis-udp", protocol="UDP", protocol_port=53,
                        default_pool_id="pool-udp", allowed_cidrs=("10.0.0.0/8",))
    return LoadBalancerSpec(id="lb-0001", vip_address="10.0.0.5", vip=VIP,
                            listeners=(http, https, udpl), pools=(web, static, tcp, udp))


def with_listener(spec: LoadBalancerSpec, **changes: Any) -> LoadBalancerSpec:
    lis = replace(spec.listeners[0], **changes)
    return replace(spec, listeners=(lis, *spec.listeners[1:]))


def cfg(spec: LoadBalancerSpec | None = None) -> str:
    return haproxy_config.render(spec or full_spec(), SOCK)


def monitor(pool: PoolSpec) -> HealthMonitorSpec:
    assert pool.health_monitor is not None
    return pool.health_monitor


def section(text: str, header: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(header)
    out = []
    for line in lines[start + 1:]:
        if not line.startswith("    "):
            break
        out.append(line.strip())
    return out


def test_frontend_of_an_http_listener() -> None:
    fe = section(cfg(), "frontend listener_lis-http")
    assert fe[:4] == ["mode http", "bind 10.0.0.5:80", "timeout client 30000", "maxconn 1000"]
    assert "tcp-request connection reject unless { src 10.0.0.0/8 fd00::/64 }" in fe
    assert "option forwardfor" in fe
    assert "http-request set-header X-Forwarded-Port %[dst_port]" in fe
    assert "http-request set-header X-Forwarded-Proto http" in fe
    assert fe[-1] == "default_backend pool_pool-web"


def test_https_passthrough_is_tcp_and_udp_is_not_haproxys() -> None:
    text = cfg()
    assert section(text, "frontend listener_lis-https")[:2] == ["mode tcp", "bind 10.0.0.5:443"]
    assert "listener_lis-udp" not in text and "pool_pool-udp" not in text


def test_backend_balance_persistence_and_servers() -> None:
    text = cfg()
    web = section(text, "backend pool_pool-web")
    assert web[:4] == ["mode http", "balance roundrobin", "timeout connect 4000",
                       "timeout server 40000"]
    assert "cookie SRV insert indirect nocache" in web
    assert "server m1 10.0.1.11:80 weight 3 check inter 2000 fall 3 rise 2 cookie m1" in web
    assert ("server m2 10.0.1.12:80 weight 1 check inter 2000 fall 3 rise 2 addr 10.0.2.12 "
            "port 8080 backup cookie m2") in web
    assert web[-1].endswith(" disabled") and web[-1].startswith("server m3 ")
    static = section(text, "backend pool_pool-static")
    assert "balance leastconn" in static
    assert "stick store-response res.cook(JSESSIONID)" in static
    assert "stick match req.cook(JSESSIONID)" in static
    tcp = section(text, "backend pool_pool-tcp")
    assert "balance source" in tcp and "stick on src" in tcp
    assert "server m5 [fd00::5]:22 weight 1 check inter 5000 fall 3 rise 1" in tcp


def test_health_monitors() -> None:
    web = section(cfg(), "backend pool_pool-web")
    assert "timeout check 1000" in web
    assert "option httpchk" in web
    assert "http-check send meth GET uri '/health' ver HTTP/1.1 hdr Host 'example.com'" in web
    assert "http-check expect rstatus '^(200|201|202|204)$'" in web
    assert haproxy_config.status_codes("200") == "status 200"
    https = replace(monitor(full_spec().pools[0]), type="HTTPS")
    pool = replace(full_spec().pools[0], health_monitor=https)
    spec = replace(full_spec(), pools=(pool, *full_spec().pools[1:]))
    assert "check-ssl verify none" in section(cfg(spec), "backend pool_pool-web")[-2]
    off = replace(https, admin_state_up=False)
    spec = replace(spec, pools=(replace(pool, health_monitor=off), *spec.pools[1:]))
    assert not any("check" in line for line in section(cfg(spec), "backend pool_pool-web"))


def test_l7_policies_in_position_order_first_match_wins() -> None:
    fe = section(cfg(), "frontend listener_lis-http")
    l7 = [line for line in fe if line.startswith(("http-request set-var", "http-request redirect",
                                                  "http-request deny", "use_backend"))]
    assert l7 == [
        "http-request set-var(txn.l7) str(pool_pool-static) if { path -m beg '/static/' } "
        "!{ var(txn.l7) -m found }",
        "http-request redirect location 'https://example.com/moved%%20here' code 301 if "
        "{ req.hdr(host),field(1,:) -i -m end 'old.example.com' } "
        "!{ req.cook(beta) -m reg '^on$' } !{ var(txn.l7) -m found }",
        "http-request deny deny_status 403 if { req.hdr(X-Bad) -m str 'yes' } "
        "!{ var(txn.l7) -m found }",
        "http-request redirect prefix 'https://new.example.com' code 302 if "
        "{ path -m end '.jpg' } !{ var(txn.l7) -m found }",
        "use_backend pool_pool-static if { var(txn.l7) -m str pool_pool-static }",
    ]


def test_disabled_objects() -> None:
    spec = with_listener(full_spec(), admin_state_up=False)
    assert "frontend listener_lis-http\n" not in cfg(spec)
    assert "frontend listener_lis-https\n" in cfg(spec)
    assert "frontend " not in cfg(replace(full_spec(), admin_state_up=False))


HOSTILE = [
    "/x'\n    server evil 6.6.6.6:80",
    "/x\nfrontend evil",
    "/x\r\n    bind 0.0.0.0:1",
    "/é",
    "/x'#",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_cannot_inject_a_line(value: str) -> None:
    spec = full_spec()
    hm = replace(monitor(spec.pools[0]), url_path=value)
    cases = [
        replace(spec, pools=(replace(spec.pools[0], health_monitor=hm), *spec.pools[1:])),
        with_listener(spec, l7policies=(L7PolicySpec(
            id="p", action="REJECT", position=1,
            rules=(L7RuleSpec(id="r", type="PATH", compare_type="EQUAL_TO", value=value),)),)),
        with_listener(spec, l7policies=(L7PolicySpec(
            id="p", action="REDIRECT_TO_URL", position=1, redirect_url="http://a" + value,
            rules=(L7RuleSpec(id="r", type="PATH", compare_type="EQUAL_TO", value="/"),)),)),
        with_listener(spec, l7policies=(L7PolicySpec(
            id="p", action="REJECT", position=1, rules=(L7RuleSpec(
                id="r", type="HEADER", compare_type="EQUAL_TO", key="X" + value,
                value="v"),)),)),
    ]
    for case in cases:
        with pytest.raises(LbError):
            cfg(case)


@pytest.mark.parametrize("field,value", [
    ("address", "10.0.0.1 backup"), ("address", "evil.example.com"),
    ("protocol_port", 0), ("protocol_port", "80"), ("weight", 1000),
    ("id", "m1 weight 100"), ("monitor_address", "1.2.3.4\n"),
])
def test_member_values_must_be_canonical(field: str, value: object) -> None:
    spec = full_spec()
    changes: dict[str, Any] = {field: value}
    member = replace(spec.pools[0].members[0], **changes)
    pool = replace(spec.pools[0], members=(member,))
    with pytest.raises(LbError):
        cfg(replace(spec, pools=(pool, *spec.pools[1:])))


def test_other_refusals() -> None:
    spec = full_spec()
    for bad in [with_listener(spec, allowed_cidrs=("10.0.0.0/8 0.0.0.0/0 }",)),
                with_listener(spec, timeout_client_data="1s"),
                with_listener(spec, protocol="TERMINATED_HTTPS"),
                replace(spec, vip_address="10.0.0.5:80"),
                replace(spec, id="../../etc")]:
        with pytest.raises(LbError):
            cfg(bad)
    for codes in ["abc", "200;300", "99", "300-200"]:
        with pytest.raises(LbError):
            haproxy_config.status_codes(codes)
    hm = HealthMonitorSpec(id="h", type="HTTP", delay=1, timeout=1, max_retries=1,
                           http_method="GET /x HTTP/1.0\r\n")
    pool = PoolSpec(id="p", protocol="HTTP", lb_algorithm="ROUND_ROBIN", health_monitor=hm)
    with pytest.raises(LbError):
        cfg(replace(spec, pools=(pool,)))


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_haproxy_accepts_the_generated_file(tmp_path: Path) -> None:
    path = tmp_path / "haproxy.cfg"
    path.write_text(haproxy_config.render(full_spec(), str(tmp_path / "s.sock")))
    proc = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_quoted_values_reach_haproxy_as_one_word(tmp_path: Path) -> None:
    """Values haproxy would otherwise read as a comment, a variable or a word break."""
    spec = with_listener(full_spec(), l7policies=(L7PolicySpec(
        id="p", action="REJECT", position=1, rules=(L7RuleSpec(
            id="r", type="PATH", compare_type="EQUAL_TO",
            value='/a b#c"${HOME}\\x'),)),))
    text = haproxy_config.render(spec, str(tmp_path / "s.sock"))
    assert "{ path -m str '/a b#c\"${HOME}\\x' }" in text
    path = tmp_path / "haproxy.cfg"
    path.write_text(text)
    proc = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_nft_udp_table() -> None:
    body = nft_udp.render(full_spec())
    assert "ip daddr 10.0.0.5 udp dport 53 ip saddr != { 10.0.0.0/8 } drop" in body
    assert ("ip daddr 10.0.0.5 udp dport 53 dnat ip to numgen inc mod 3 map "
            "{ 0 : 10.0.1.16 . 53, 1 : 10.0.1.16 . 53, 2 : 10.0.1.17 . 53 }") in body
    assert "ct status dnat meta l4proto udp masquerade" in body
    spec = full_spec()
    udp = replace(spec.pools[3], lb_algorithm="SOURCE_IP")
    body = nft_udp.render(replace(spec, pools=(*spec.pools[:3], udp)))
    assert "jhash ip saddr mod 3 map" in body
    udp = replace(spec.pools[3], lb_algorithm="SOURCE_IP_PORT")
    body = nft_udp.render(replace(spec, pools=(*spec.pools[:3], udp)))
    assert "jhash ip saddr . udp sport mod 3 map" in body
    backup = replace(spec.pools[3], members=(
        MemberSpec(id="a", address="10.0.1.20", protocol_port=53, backup=True),
        MemberSpec(id="b", address="10.0.1.21", protocol_port=53)))
    body = nft_udp.render(replace(spec, pools=(*spec.pools[:3], backup)))
    assert "10.0.1.20" not in body and "mod 1 map" in body
    tcp_only = nft_udp.render(replace(spec, listeners=spec.listeners[:2]))
    assert "dnat" not in tcp_only.replace("ct status dnat", "")
    assert "type filter hook forward priority filter; policy drop;" in tcp_only
    assert "ct status dnat accept" in tcp_only
    # the VIP security group: new connections only to the VIP on the listeners' ports
    assert "type filter hook input priority filter; policy drop;" in tcp_only
    assert "ct state established,related accept" in tcp_only
    assert "ip daddr 10.0.0.5 tcp dport { 80, 443 } accept" in body
    assert "ip daddr 10.0.0.5 udp dport { 53 } accept" in body
    assert "udp dport" not in tcp_only.split("chain prerouting")[0]
    assert "dport" not in nft_udp.render(replace(spec, admin_state_up=False)).split(
        "chain prerouting")[0]
    script = nft_udp.script("  chain x {\n  }")
    assert script.splitlines()[:3] == ["table inet onestack-lb {}",
                                       "delete table inet onestack-lb",
                                       "table inet onestack-lb {"]
    bad = replace(spec.pools[3], members=(
        MemberSpec(id="a", address="10.0.1.20 . 1, 1 : 6.6.6.6", protocol_port=53),))
    with pytest.raises(LbError):
        nft_udp.render(replace(spec, pools=(*spec.pools[:3], bad)))


STAT = """# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,\
wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,\
lbtot,tracked,type,
listener_lis-http,FRONTEND,,,2,5,1000,40,1200,3400,0,0,1,,,,,OPEN,,,,,,,,,1,2,0,,,,0,
pool_pool-web,m1,0,0,1,2,,20,600,1700,,0,,0,0,0,0,UP,3,1,0,0,0,5,0,,1,3,1,,20,,2,
pool_pool-web,m2,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN 1/2,1,0,1,3,1,5,5,,1,3,2,,0,,2,
pool_pool-web,m3,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,0,0,5,0,,1,3,3,,0,,2,
pool_pool-web,BACKEND,0,0,1,2,,20,600,1700,0,0,,0,0,0,0,UP,4,1,1,,0,5,0,,1,3,0,,20,,1,
pool_pool-static,m4,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,1,1,0,,,5,,,1,4,1,,0,,2,
pool_pool-static,BACKEND,0,0,0,0,,0,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,5,0,,1,4,0,,0,,1,
pool_pool-tcp,m5,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,3,1,5,5,,1,5,1,,0,,2,
pool_pool-tcp,BACKEND,0,0,0,0,,0,0,0,0,0,,0,0,0,0,DOWN,0,0,0,,1,5,5,,1,5,0,,0,,1,
"""


def test_show_stat_parsing_and_rollup() -> None:
    rows = stats.parse(STAT)
    assert [(r.proxy, r.server, r.kind) for r in rows][:2] == [
        ("listener_lis-http", "FRONTEND", 0), ("pool_pool-web", "m1", 2)]
    st = stats.to_status(full_spec(), rows)
    assert st.running
    lis = st.listeners["lis-http"]
    assert (lis.operating_status, lis.bytes_in, lis.bytes_out, lis.active_connections,
            lis.total_connections, lis.request_errors) == ("ONLINE", 1200, 3400, 2, 40, 1)
    assert st.listeners["lis-udp"].operating_status == "ONLINE"
    members = {k: v.operating_status for k, v in st.members.items()}
    assert members == {"m1": "ONLINE", "m2": "ERROR", "m3": "OFFLINE", "m4": "NO_MONITOR",
                       "m5": "ERROR", "m6": "NO_MONITOR", "m7": "NO_MONITOR"}
    pools = {k: v.operating_status for k, v in st.pools.items()}
    assert pools == {"pool-web": "DEGRADED", "pool-static": "ONLINE", "pool-tcp": "ERROR",
                     "pool-udp": "ONLINE"}
    assert st.members["m1"].bytes_in == 600
    bare = stats.to_status(None, rows)
    assert bare.members["m2"].operating_status == "ERROR"
    assert bare.pools["pool-web"].operating_status == "DEGRADED"
    assert bare.listeners["lis-http"].operating_status == "ONLINE"
    assert stats.member_state("UP 1/3") == "ONLINE"
    assert stats.member_state("NOLB") == "DRAINING"
    assert stats.parse("") == []


def test_vip_must_be_on_the_vip_port_and_ports_distinct() -> None:
    with pytest.raises(LbError, match="not an address of the VIP port"):
        cfg(replace(full_spec(), vip_address="10.0.0.6"))
    spec = full_spec()
    dup = replace(spec.listeners[1], id="again", protocol="TCP")
    with pytest.raises(LbError, match="same protocol port"):
        cfg(replace(spec, listeners=(*spec.listeners, replace(dup, protocol_port=80))))
    # UDP and TCP may share a port number
    cfg(replace(spec, listeners=(*spec.listeners, replace(dup, protocol_port=53))))


async def test_an_unrelated_pid_in_the_pid_file_is_left_alone(tmp_path: Path) -> None:
    """A pid file naming a process that is not this load balancer's haproxy (here: the
    test itself) is not adopted, and destroy does not signal it."""
    driver = HaproxyLbDriver(tmp_path)
    d = tmp_path / "lb-x"
    d.mkdir()
    (d / "haproxy.cfg").write_text("global\n")
    (d / "haproxy.pid").write_text(f"{os.getpid()}\n1\n")
    assert driver.pid("lb-x") is None
    assert not (await driver.status("lb-x")).running
    assert await driver.running() == ["lb-x"]
    await driver.destroy("lb-x")  # we are still here
    assert not d.exists()
    assert await driver.running() == []


def test_socket_path_stays_short(tmp_path: Path) -> None:
    assert HaproxyLbDriver(tmp_path).socket_path("lb") == str(tmp_path / "lb" / "stats.sock")
    deep = tmp_path / ("d" * 120)
    path = HaproxyLbDriver(deep).socket_path("lb")
    assert len(path) < 108 and path.endswith(".sock")
    assert path != HaproxyLbDriver(tmp_path / ("e" * 120)).socket_path("lb")
