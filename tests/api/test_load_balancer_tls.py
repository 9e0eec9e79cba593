"""TERMINATED_HTTPS listeners with certificates from the key manager, through the real
openstacksdk (``key_manager`` and ``load_balancer`` proxies), raw HTTP and the real
``openstack secret ...`` / ``openstack loadbalancer listener ...`` CLI: a certificate
container as the default certificate and a PKCS#12 secret for SNI reach the data plane
(the fake driver's spec) in that order; Octavia's validation (400 naming the rule, or
``Could not retrieve certificate``); another project's container is refused until its
owner's ACL names the user; nothing is half made."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import openstack
import pytest
from cryptography import x509

from tests.api.conftest import Cli, unique
from tests.api.test_key_manager import User, km, people
from tests.api.test_load_balancer import active, cloud_driver, fault, lb_net
from tests.support import certs
from tests.support.server import RunningCloud

__all__ = ["people"]
Conn = openstack.connection.Connection
CA = certs.authority()
WWW = certs.server(CA, "www.example.test")
API = certs.server(CA, "api.example.test")
LB = "/load-balancer/v2/lbaas"


def sdk(cloud: RunningCloud, who: User) -> Conn:
    return openstack.connect(auth={
        "auth_url": cloud.auth_url, "username": who.name, "password": who.password,
        "project_name": who.project, "user_domain_name": "Default",
        "project_domain_name": "Default"}, region_name="RegionOne")


def call(cloud: RunningCloud, who: User, method: str, path: str, body: Any = None
         ) -> httpx.Response:
    return httpx.request(method, f"{cloud.base_url}{LB}{path}", json=body, headers=who.h(),
                         timeout=30)


def certificate_container(conn: Conn, issued: certs.Issued, chain: bool = True) -> str:
    """A certificate container as a user makes one: PEM certificate, key, intermediates."""
    refs = []
    for name, pem, kind in (("certificate", issued.cert_pem, "certificate"),
                            ("private_key", issued.key_pem, "private"),
                            *((("intermediates", CA.cert_pem, "certificate"),) if chain
                              else ())):
        secret = conn.key_manager.create_secret(
            name=unique(name), payload=pem.decode(), payload_content_type="text/plain",
            secret_type=kind)
        refs.append({"name": name, "secret_ref": secret.secret_ref})
    box = conn.key_manager.create_container(name=unique("tls"), type="certificate",
                                            secret_refs=refs)
    return str(box.container_ref)


def pkcs12_secret(conn: Conn, issued: certs.Issued) -> str:
    secret = conn.key_manager.create_secret(
        name=unique("p12"), payload=base64.b64encode(issued.pkcs12()).decode(),
        payload_content_type="application/octet-stream", payload_content_encoding="base64",
        secret_type="opaque")
    return str(secret.secret_ref)


def served(cloud: RunningCloud, lb_id: str, listener_id: str) -> list[str]:
    """The subjects of the certificates the data plane got, the default first."""
    spec = cloud_driver(cloud).specs[lb_id]
    lis = next(x for x in spec.listeners if x.id == listener_id)
    return [x509.load_pem_x509_certificate(pem).subject.rfc4514_string()
            for pem in lis.tls.certificates]


def test_terminated_https_listener_with_key_manager_certificates(
        cloud: RunningCloud, people: dict[str, User]) -> None:
    a, b = people["a"], people["b"]
    conn = sdk(cloud, a)
    _net, sub = lb_net(conn, "10.81.0.0/24")
    lb = conn.load_balancer.create_load_balancer(name=unique("tls"), vip_subnet_id=sub.id)
    active(conn, lb.id)
    container = certificate_container(conn, WWW)
    p12 = pkcs12_secret(conn, API)

    lis = conn.load_balancer.create_listener(
        loadbalancer_id=lb.id, protocol="TERMINATED_HTTPS", protocol_port=443,
        default_tls_container_ref=container, sni_container_refs=[p12],
        insert_headers={"X-Forwarded-Proto": "true"})
    assert lis.default_tls_container_ref == container and lis.sni_container_refs == [p12]
    got = call(cloud, a, "GET", f"/listeners/{lis.id}").json()["listener"]
    assert got["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    assert got["alpn_protocols"] == ["h2", "http/1.1", "http/1.0"]
    assert got["client_authentication"] == "NONE" and "ECDHE" in got["tls_ciphers"]
    active(conn, lb.id)
    assert served(cloud, lb.id, lis.id) == ["CN=www.example.test", "CN=api.example.test"]
    # Octavia's matrix: HTTP, PROXY, PROXYV2 pools behind TERMINATED_HTTPS
    r = call(cloud, a, "POST", "/pools", {"pool": {
        "listener_id": lis.id, "protocol": "HTTPS", "lb_algorithm": "ROUND_ROBIN"}})
    assert fault(r, 400) == ("Validation failure: The pool protocol 'HTTPS' is invalid "
                             "while the listener protocol is 'TERMINATED_HTTPS'.")
    pool = conn.load_balancer.create_pool(listener_id=lis.id, protocol="HTTP",
                                          lb_algorithm="ROUND_ROBIN")
    active(conn, lb.id)
    assert conn.load_balancer.get_listener(lis.id).default_pool_id == pool.id
    # the default swapped for the PKCS#12 one, SNI dropped, TLS 1.3 only: a new spec
    conn.load_balancer.update_listener(lis, default_tls_container_ref=p12,
                                       sni_container_refs=[], tls_versions=["TLSv1.3"])
    active(conn, lb.id)
    assert served(cloud, lb.id, lis.id) == ["CN=api.example.test"]
    assert conn.load_balancer.get_listener(lis.id).tls_versions == ["TLSv1.3"]

    # --- bad input: 400 naming the field or the rule, nothing made ----------------------
    missing = f"{km(cloud)}/containers/00000000-0000-4000-8000-000000000000"
    no_key = conn.key_manager.create_container(name=unique("nokey"), type="generic")
    mismatch = conn.key_manager.create_container(
        name=unique("bad"), type="certificate", secret_refs=[
            {"name": "certificate", "secret_ref": conn.key_manager.create_secret(
                payload=WWW.cert_pem.decode(), payload_content_type="text/plain").secret_ref},
            {"name": "private_key", "secret_ref": conn.key_manager.create_secret(
                payload=API.key_pem.decode(), payload_content_type="text/plain").secret_ref}])
    base = {"loadbalancer_id": lb.id, "protocol": "TERMINATED_HTTPS", "protocol_port": 8443}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({}, 400, "An SNI or default certificate container reference must be provided for "
                  "TERMINATED_HTTPS protocol listeners."),
        ({"default_tls_container_ref": missing}, 400,
         f"Could not retrieve certificate: ['{missing}']"),
        ({"default_tls_container_ref": "www.example.test"}, 400,
         "Could not retrieve certificate: ['www.example.test']"),
        ({"default_tls_container_ref": container, "sni_container_refs": [
            no_key.container_ref, mismatch.container_ref]}, 400,
         f"Could not retrieve certificate: ['{no_key.container_ref}', "
         f"'{mismatch.container_ref}']"),
        ({"protocol": "HTTP", "default_tls_container_ref": container}, 400,
         "Certificate container references are only allowed on TERMINATED_HTTPS"),
        ({"protocol": "HTTP", "tls_versions": ["TLSv1.2"]}, 400,
         "TLS versions are only allowed on TERMINATED_HTTPS"),
        ({"default_tls_container_ref": container, "tls_versions": ["TLSv9"]}, 400,
         "Validation failure: Invalid TLS versions: TLSv9"),
        ({"default_tls_container_ref": container, "alpn_protocols": []}, 400,
         "Empty ALPN protocol list."),
        ({"default_tls_container_ref": container, "client_authentication": "MANDATORY"},
         400, "Client authentication setting MANDATORY requires a client CA container "
              "reference."),
        ({"default_tls_container_ref": container, "client_ca_tls_container_ref": p12},
         400, "The client authentication CA certificate is invalid."),
        ({"default_tls_container_ref": container, "sni_container_refs": container}, 400,
         "Invalid input for field/attribute sni_container_refs."),
        ({"default_tls_container_ref": container, "tls_ciphers": "ALL crt /etc"}, 400,
         "Invalid input for field/attribute tls_ciphers."),
        ({"default_tls_container_ref": container, "client_authentication": "SOMETIMES"},
         400, "Invalid input for field/attribute client_authentication."),
        ({"default_tls_container_ref": container, "client_crl_container_ref": missing},
         501, "client_crl_container_ref"),
    ]
    for extra, status, words in cases:
        r = call(cloud, a, "POST", "/listeners", {"listener": {**base, **extra}})
        assert r.status_code == status and words in r.json()["faultstring"], (extra, r.text)
    r = call(cloud, a, "PUT", f"/listeners/{lis.id}", {"listener": {
        "default_tls_container_ref": missing}})
    assert fault(r, 400) == f"Could not retrieve certificate: ['{missing}']"
    assert [x.id for x in conn.load_balancer.listeners(loadbalancer_id=lb.id)] == [lis.id]
    assert conn.load_balancer.get_load_balancer(lb.id).provisioning_status == "ACTIVE"
    # a fully populated create checks its listeners' references the same way
    graph = {"vip_subnet_id": sub.id, "listeners": [{
        "protocol": "TERMINATED_HTTPS", "protocol_port": 443, "default_tls_container_ref": p12,
        "sni_container_refs": [missing],
        "default_pool": {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}]}
    before = len(list(conn.load_balancer.load_balancers()))
    r = call(cloud, a, "POST", "/loadbalancers", {"loadbalancer": graph})
    assert fault(r, 400) == f"Could not retrieve certificate: ['{missing}']"
    assert len(list(conn.load_balancer.load_balancers())) == before
    graph["listeners"][0]["sni_container_refs"] = [container]
    made = call(cloud, a, "POST", "/loadbalancers", {"loadbalancer": graph})
    assert made.status_code == 201, made.text
    full = made.json()["loadbalancer"]
    active(conn, full["id"])
    assert served(cloud, full["id"], full["listeners"][0]["id"]) == [
        "CN=api.example.test", "CN=www.example.test"]
    assert call(cloud, a, "DELETE", f"/loadbalancers/{full['id']}?cascade=true"
                ).status_code == 204
    # a client CA from a secret: MANDATORY client certificates
    ca_ref = conn.key_manager.create_secret(payload=CA.cert_pem.decode(),
                                            payload_content_type="text/plain",
                                            secret_type="certificate").secret_ref
    r = call(cloud, a, "PUT", f"/listeners/{lis.id}", {"listener": {  # not in the SDK
        "client_ca_tls_container_ref": ca_ref, "client_authentication": "MANDATORY"}})
    assert r.json()["listener"]["client_authentication"] == "MANDATORY", r.text
    active(conn, lb.id)
    spec = cloud_driver(cloud).specs[lb.id]
    tls = next(x for x in spec.listeners if x.id == lis.id).tls
    assert tls.client_ca == CA.cert_pem and tls.client_authentication == "MANDATORY"

    # --- another project: refused until the owner's ACLs name its user ------------------
    other = sdk(cloud, b)
    _n, other_sub = lb_net(other, "10.82.0.0/24")
    theirs = other.load_balancer.create_load_balancer(name=unique("b"),
                                                      vip_subnet_id=other_sub.id)
    active(other, theirs.id)
    body = {"listener": {"loadbalancer_id": theirs.id, "protocol": "TERMINATED_HTTPS",
                         "protocol_port": 443, "default_tls_container_ref": container}}
    assert fault(call(cloud, b, "POST", "/listeners", body), 400) == \
        f"Could not retrieve certificate: ['{container}']"
    assert list(other.load_balancer.listeners(loadbalancer_id=theirs.id)) == []
    acl = {"read": {"users": [b.user_id], "project-access": True}}
    box = httpx.get(container, headers=a.h()).json()
    secret_refs = [s["secret_ref"] for s in box["secret_refs"]]
    httpx.put(f"{container}/acl", headers=a.h(), json=acl).raise_for_status()
    # the container alone is not enough: its secrets are read too
    assert fault(call(cloud, b, "POST", "/listeners", body), 400).startswith(
        "Could not retrieve certificate")
    for ref in secret_refs:
        httpx.put(f"{ref}/acl", headers=a.h(), json=acl).raise_for_status()
    r = call(cloud, b, "POST", "/listeners", body)
    assert r.status_code == 201, r.text
    active(other, theirs.id)
    assert served(cloud, theirs.id, r.json()["listener"]["id"]) == ["CN=www.example.test"]
    for who, lb_id in ((a, lb.id), (b, theirs.id)):
        assert call(cloud, who, "DELETE", f"/loadbalancers/{lb_id}?cascade=true"
                    ).status_code == 204


def _json(cli: Cli, *args: str) -> Any:
    out = cli.run(*args, "-f", "json").stdout
    return json.loads(out) if out.strip() else None


@pytest.mark.sqlite_only
def test_openstack_cli_terminated_https(cloud: RunningCloud, cli: Cli, admin: Conn) -> None:
    """``openstack secret store`` / ``secret container create``, then ``openstack
    loadbalancer listener create --protocol TERMINATED_HTTPS --default-tls-container-ref
    ... --sni-container-refs ...`` (three commands: each costs seconds; the load balancer,
    the key and the SNI secret come from openstacksdk)."""
    _net, sub = lb_net(admin, "10.83.0.0/24")
    lb = admin.load_balancer.create_load_balancer(name=unique("tls"), vip_subnet_id=sub.id)
    p12 = pkcs12_secret(admin, API)
    hrefs = {"certificate": _json(
        cli, "secret", "store", "--name", unique("cert"), "--payload", WWW.cert_pem.decode(),
        "--payload-content-type", "text/plain", "--secret-type", "certificate")["Secret href"],
        "private_key": admin.key_manager.create_secret(
            name=unique("key"), payload=WWW.key_pem.decode(), payload_content_type="text/plain",
            secret_type="private").secret_ref}
    box = _json(cli, "secret", "container", "create", "--name", unique("web"), "--type",
                "certificate", *(a for n, h in hrefs.items() for a in ("--secret",
                                                                        f"{n}={h}")))
    active(admin, lb.id)
    lis = _json(cli, "loadbalancer", "listener", "create", "--name", unique("https"),
                "--protocol", "TERMINATED_HTTPS", "--protocol-port", "443",
                "--default-tls-container-ref", box["Container href"],
                "--sni-container-refs", p12, "--wait", lb.id)
    assert lis["protocol"] == "TERMINATED_HTTPS"
    assert lis["default_tls_container_ref"] == box["Container href"]
    assert served(cloud, lb.id, lis["id"]) == ["CN=www.example.test", "CN=api.example.test"]
    admin.load_balancer.delete_load_balancer(lb.id, cascade=True)
