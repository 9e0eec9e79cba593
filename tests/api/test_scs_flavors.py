"""SCS-0103 v1: every mandatory standard flavor of the Sovereign Cloud Stack exists after the
bootstrap, public, with the exact vCPUs, RAM and root disk of the standard's table and the
``scs:`` extra specs it asks for (read with openstacksdk, as SCS's flavors-openstack.py
does). DevStack's flavors stay as they were."""

from __future__ import annotations

import openstack

# the standard's mandatory table: name -> (vCPUs, RAM GiB, root disk GB, cpu type, disk type)
MANDATORY = {
    "SCS-1V-4": (1, 4, 0, "shared-core", None), "SCS-2V-8": (2, 8, 0, "shared-core", None),
    "SCS-4V-16": (4, 16, 0, "shared-core", None),
    "SCS-4V-16-100s": (4, 16, 100, "shared-core", "ssd"),
    "SCS-8V-32": (8, 32, 0, "shared-core", None), "SCS-1V-2": (1, 2, 0, "shared-core", None),
    "SCS-2V-4": (2, 4, 0, "shared-core", None),
    "SCS-2V-4-20s": (2, 4, 20, "shared-core", "ssd"),
    "SCS-4V-8": (4, 8, 0, "shared-core", None), "SCS-8V-16": (8, 16, 0, "shared-core", None),
    "SCS-16V-32": (16, 32, 0, "shared-core", None),
    "SCS-1V-8": (1, 8, 0, "shared-core", None), "SCS-2V-16": (2, 16, 0, "shared-core", None),
    "SCS-4V-32": (4, 32, 0, "shared-core", None), "SCS-1L-1": (1, 1, 0, "crowded-core", None),
}


def test_scs_mandatory_flavors(demo: openstack.connection.Connection) -> None:
    flavors = {f.name: f for f in demo.compute.flavors(get_extra_specs=True)}
    for name, (vcpus, gib, disk, cpu, disk_type) in MANDATORY.items():
        f = flavors[name]
        assert (f.vcpus, f.ram, f.disk, f.is_public) == (vcpus, gib * 1024, disk, True), name
        expected = {"scs:name-v1": name[:4] + name[4:].replace("-", ":"),
                    "scs:name-v2": name, "scs:cpu-type": cpu}
        if disk_type:
            expected["scs:disk0-type"] = disk_type
        assert f.extra_specs == expected, name
    assert flavors["SCS-4V-16-100s"].extra_specs["scs:name-v1"] == "SCS-4V:16:100s"
    assert (flavors["m1.nano"].id, flavors["m1.nano"].ram) == ("42", 128)
