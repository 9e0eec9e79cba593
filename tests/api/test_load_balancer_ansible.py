"""Ansible's openstack.cloud load balancer modules (loadbalancer, lb_listener, lb_pool,
lb_member, lb_health_monitor) against the in-process cloud, as a project member: a playbook
makes the whole tree (with an admin-made Octavia flavor), a second run of it changes
nothing, openstacksdk checks what it made, and state=absent removes everything.

Needs Ansible, which is not in the project's venv: ``bash tests/ansible/setup.sh`` makes
tests/ansible/.venv-ansible (ansible-core and the openstack.cloud collection, 30-70 s);
without it this test skips (CI: see docs/load-balancer.md, "Ansible")."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import openstack
import pytest
import yaml

from tests.api.conftest import unique
from tests.api.test_load_balancer import lb_net
from tests.support.server import RunningCloud

Conn = openstack.connection.Connection
VENV = Path(__file__).resolve().parents[1] / "ansible" / ".venv-ansible"
PLAYBOOK = VENV / "bin" / "ansible-playbook"

pytestmark = [
    pytest.mark.sqlite_only,
    pytest.mark.skipif(not PLAYBOOK.exists(), reason="no Ansible: bash tests/ansible/setup.sh"),
]


def play(tmp: Path, cloud_yaml: Path, state: str, names: dict[str, str], subnet: str,
         flavor: str) -> str:
    """Run the playbook with every object ``state`` (present: in tree order; absent: the
    reverse); its output."""
    common = {"cloud": "ansible-demo", "state": state}
    tasks = [
        ("openstack.cloud.loadbalancer", {"name": names["lb"], "vip_subnet": subnet,
                                          "flavor": flavor, "wait": True, "timeout": 120}),
        ("openstack.cloud.lb_listener", {"name": names["listener"],
                                         "load_balancer": names["lb"], "protocol": "HTTP",
                                         "protocol_port": 80}),
        ("openstack.cloud.lb_pool", {"name": names["pool"], "listener": names["listener"],
                                     "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}),
        ("openstack.cloud.lb_member", {"name": names["member"], "pool": names["pool"],
                                       "address": "10.75.0.50", "protocol_port": 8080}),
        ("openstack.cloud.lb_health_monitor", {"name": names["monitor"], "pool": names["pool"],
                                               "type": "HTTP", "delay": 5,
                                               "health_monitor_timeout": 3,
                                               "max_retries": 2, "url_path": "/health"}),
    ]
    if state == "absent":
        tasks.reverse()
    book = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": f"{module} {state}", module: {**args, **common}} for module, args in tasks]}]
    path = tmp / f"lb-{state}.yml"
    path.write_text(yaml.safe_dump(book, sort_keys=False))
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(cloud_yaml),
           "ANSIBLE_COLLECTIONS_PATH": str(VENV / "collections"),
           "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_PYTHON_INTERPRETER": str(VENV / "bin" / "python")}  # its openstacksdk
    proc = subprocess.run([str(PLAYBOOK), "-i", "localhost,", "-c", "local", str(path)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc.stdout


def recap(out: str) -> dict[str, int]:
    line = next(ln for ln in out.splitlines() if ln.startswith("localhost"))
    return {k: int(v) for k, v in (p.split("=") for p in line.split(":", 1)[1].split())}


def test_ansible_openstack_cloud_lb_modules(cloud: RunningCloud, admin: Conn, demo: Conn,
                                            tmp_path: Path) -> None:
    started = time.monotonic()
    acct = cloud.accounts["demo"]
    cloud_yaml = tmp_path / "clouds.yaml"
    cloud_yaml.write_text(yaml.safe_dump({"clouds": {"ansible-demo": {
        "auth": {"auth_url": cloud.auth_url, "username": acct.username,
                 "password": acct.password, "project_name": acct.project,
                 "user_domain_name": "Default", "project_domain_name": "Default"},
        "region_name": "RegionOne", "identity_api_version": 3}}}))
    profile = admin.load_balancer.create_flavor_profile(
        name=unique("fp"), provider_name="haproxy",
        flavor_data=json.dumps({"loadbalancer_topology": "SINGLE"}))
    flavor = admin.load_balancer.create_flavor(name=unique("ansible"),
                                               flavor_profile_id=profile.id)
    _net, sub = lb_net(demo, "10.75.0.0/24")
    names = {k: unique(f"ans-{k}") for k in ("lb", "listener", "pool", "member", "monitor")}

    out = play(tmp_path, cloud_yaml, "present", names, sub.id, flavor.name)
    assert recap(out)["changed"] == 5, out
    lbs = demo.load_balancer
    lb = lbs.find_load_balancer(names["lb"])
    assert lb.flavor_id == flavor.id and lb.vip_subnet_id == sub.id
    assert lb.provisioning_status == "ACTIVE"
    listener = lbs.find_listener(names["listener"])
    assert (listener.protocol, listener.protocol_port) == ("HTTP", 80)
    assert listener.load_balancers[0]["id"] == lb.id
    pool = lbs.find_pool(names["pool"])
    assert pool.listeners[0]["id"] == listener.id and pool.lb_algorithm == "ROUND_ROBIN"
    member = lbs.find_member(names["member"], pool.id)
    assert (member.address, member.protocol_port) == ("10.75.0.50", 8080)
    monitor = lbs.find_health_monitor(names["monitor"])
    assert (monitor.type, monitor.delay, monitor.timeout, monitor.max_retries,
            monitor.url_path) == ("HTTP", 5, 3, 2, "/health")
    assert monitor.pools[0]["id"] == pool.id

    again = play(tmp_path, cloud_yaml, "present", names, sub.id, flavor.name)
    assert recap(again)["changed"] == 0, again  # nothing to do: every module sees its object

    gone = play(tmp_path, cloud_yaml, "absent", names, sub.id, flavor.name)
    assert recap(gone)["changed"] == 5, gone
    for _ in range(100):  # the load balancer is purged once its data plane is gone
        if lbs.find_load_balancer(names["lb"]) is None:
            break
        time.sleep(0.1)
    assert lbs.find_load_balancer(names["lb"]) is None
    assert not [x for x in lbs.listeners() if x.name == names["listener"]]
    assert not [x for x in lbs.pools() if x.name == names["pool"]]
    assert not [x for x in lbs.health_monitors() if x.name == names["monitor"]]
    assert not [p for p in demo.network.ports(network_id=sub.network_id)
                if p.device_owner == "Octavia"]
    admin.load_balancer.delete_flavor(flavor.id)
    admin.load_balancer.delete_flavor_profile(profile.id)
    print(f"ansible playbook test: {time.monotonic() - started:.1f} s")
