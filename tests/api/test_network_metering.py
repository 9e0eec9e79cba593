"""Neutron's metering labels and rules through the real openstacksdk and raw HTTP: admin
CRUD, filters, Neutron's 4xx bodies, and nothing of them for other projects."""

from __future__ import annotations

import openstack
import pytest
from openstack import exceptions as exc

from tests.api.conftest import unique

Conn = openstack.connection.Connection


def test_metering_labels_and_rules(admin: Conn, demo: Conn) -> None:
    net = admin.network
    label = net.create_metering_label(name=unique("meter"), description="uplink", is_shared=True)
    assert label.is_shared and label.description == "uplink" and label.project_id
    rule = net.create_metering_label_rule(metering_label_id=label.id, direction="ingress",
                                          remote_ip_prefix="10.0.0.0/24")
    assert rule.direction == "ingress" and not rule.is_excluded
    assert rule.remote_ip_prefix == "10.0.0.0/24"
    out = net.create_metering_label_rule(metering_label_id=label.id, direction="egress",
                                         destination_ip_prefix="fd02::/64", is_excluded=True)
    assert out.destination_ip_prefix == "fd02::/64" and out.remote_ip_prefix is None
    assert net.get_metering_label(label.id).name == label.name
    assert [r.id for r in net.metering_label_rules(metering_label_id=label.id,
                                                    direction="ingress")] == [rule.id]
    assert [x.id for x in net.metering_labels(id=label.id)] == [label.id]
    assert list(net.metering_labels(id="33")) == []

    # another project sees none of it and may not make or remove any
    assert list(demo.network.metering_labels()) == []
    assert list(demo.network.metering_label_rules()) == []
    with pytest.raises(exc.ForbiddenException):
        demo.network.get_metering_label(label.id)
    with pytest.raises(exc.ForbiddenException):
        demo.network.create_metering_label(name="mine")
    with pytest.raises(exc.ForbiddenException):
        demo.network.delete_metering_label_rule(rule.id, ignore_missing=False)

    # Neutron's refusals, naming the field
    def refused(body: dict[str, object], status: int, text: str) -> None:
        r = admin.network.post("/metering/metering-label-rules",
                               json={"metering_label_rule": body})
        assert r.status_code == status, r.text
        assert text in r.json()["NeutronError"]["message"], r.text

    refused({"metering_label_id": label.id, "direction": "ingress",
             "remote_ip_prefix": "10.0.0.128/25"}, 409, "overlaps")
    refused({"metering_label_id": label.id, "direction": "sideways",
             "remote_ip_prefix": "10.9.0.0/24"}, 400, "direction")
    refused({"metering_label_id": label.id, "direction": "ingress",
             "remote_ip_prefix": "10.9.0.0/33"}, 400, "remote_ip_prefix")
    refused({"metering_label_id": label.id, "direction": "ingress"}, 400, "remote_ip_prefix")
    refused({"metering_label_id": "nope", "direction": "ingress",
             "remote_ip_prefix": "10.9.0.0/24"}, 404, "nope")
    refused({"metering_label_id": label.id, "direction": "ingress", "excluded": "perhaps",
             "remote_ip_prefix": "10.9.0.0/24"}, 400, "excluded")
    r = admin.network.post("/metering/metering-labels",
                           json={"metering_label": {"name": "x", "colour": "red"}})
    assert r.status_code == 400 and "colour" in r.text

    # a label goes with its rules
    net.delete_metering_label(label)
    with pytest.raises(exc.NotFoundException):
        net.get_metering_label_rule(rule.id)
    assert list(net.metering_labels(id=label.id)) == []
