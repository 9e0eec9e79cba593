"""The topology picture's layout and SVG, from plain API-shaped dicts (no cloud)."""

from __future__ import annotations

from onestack.dashboard.topology import MAX_SERVERS, layout, svg


def test_edges_link_gateways_interfaces_and_instances_and_labels_are_escaped() -> None:
    pic = layout(
        [{"id": "ext", "name": "public", "router:external": True}, {"id": "n1", "name": "a"}],
        [{"id": "r1", "name": "r", "external_gateway_info": {"network_id": "ext"}}],
        [{"device_owner": "network:router_interface", "device_id": "r1", "network_id": "n1"},
         {"device_owner": "compute:nova", "device_id": "s1", "network_id": "n1"},
         {"device_owner": "network:dhcp", "device_id": "dhcp", "network_id": "n1"}],
        [{"id": "s1", "name": "<b>vm</b>"}])
    assert pic.edges == [("r1", "ext"), ("r1", "n1"), ("s1", "n1")]
    text = svg(pic)
    assert text.count("<line") == 3 and "&lt;b&gt;vm&lt;/b&gt;" in text and "<b>" not in text


def test_a_large_project_draws_a_bounded_picture() -> None:
    servers = [{"id": f"s{i}", "name": f"vm{i}"} for i in range(MAX_SERVERS + 40)]
    pic = layout([], [], [], servers)
    assert len(pic.rows[3]) == MAX_SERVERS and "40 more" in pic.note
