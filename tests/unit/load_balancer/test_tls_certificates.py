"""Reading a TERMINATED_HTTPS listener's certificates from key manager objects: certificate
containers (PEM or DER parts, intermediates, an encrypted key with its pass phrase),
PKCS#12 and PEM bundles in one secret; the key must match, nothing unreadable passes, and
no failure message holds key material."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import pkcs12

from onestack.core.load_balancer import tls
from onestack.errors import NotFound
from tests.support import certs

CA = certs.authority()
WWW = certs.server(CA, "www.example.test", "example.test")
OTHER = certs.server(CA, "other.example.test")
URL = "http://cloud.test:5000/key-manager/v1"
ED_KEY = ed25519.Ed25519PrivateKey.generate().private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption())  # a key that is not the certificate's


@dataclass
class FakeKeyManager:
    """The two reads the certificate source makes of the key manager's service layer."""

    payloads: dict[str, bytes] = field(default_factory=dict)
    containers: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def secret_ref(self, payload: bytes) -> str:
        ident = str(uuid.uuid4())
        self.payloads[ident] = payload
        return f"{URL}/secrets/{ident}"

    def container_ref(self, **parts: bytes) -> str:
        ident = str(uuid.uuid4())
        self.containers[ident] = [{"name": k, "secret_id": self.secret_ref(v).rsplit("/", 1)[1]}
                                  for k, v in parts.items()]
        return f"{URL}/containers/{ident}"

    async def container(self, ident: str) -> Any:
        if ident not in self.containers:
            raise NotFound("Not Found. Sorry but your container is in another castle.")
        return SimpleNamespace(row=SimpleNamespace(secret_refs=self.containers[ident]))

    async def payload(self, ident: str) -> tuple[bytes, str]:
        if ident not in self.payloads:
            raise NotFound("Secret not found.")
        return self.payloads[ident], "application/octet-stream"


def source() -> tuple[FakeKeyManager, tls.CertificateSource]:
    km = FakeKeyManager()
    return km, tls.CertificateSource(cast(Any, km))


def chain_of(pem: bytes) -> list[str]:
    return [c.subject.rfc4514_string() for c in x509.load_pem_x509_certificates(pem)]


async def test_certificate_container_pem_der_intermediates_and_passphrase() -> None:
    km, src = source()
    ref = km.container_ref(certificate=WWW.cert_pem, private_key=WWW.key_pem,
                           intermediates=CA.cert_pem)
    cert = await src.certificate(ref)
    assert chain_of(cert.pem) == ["CN=www.example.test", "CN=Onestack Test CA"]
    assert b"BEGIN PRIVATE KEY" in cert.pem and cert.names == ("www.example.test",
                                                              "example.test")
    assert "PRIVATE" not in repr(cert)
    der = km.container_ref(certificate=WWW.cert.public_bytes(serialization.Encoding.DER),
                           private_key=WWW.key_pem_encrypted(b"s3cret"),
                           private_key_passphrase=b"s3cret")
    assert chain_of((await src.certificate(der)).pem) == ["CN=www.example.test"]
    assert await src.parts(ref) == [("container", ref.rsplit("/", 1)[1]),
                                    *(("secret", r["secret_id"])
                                      for r in km.containers[ref.rsplit("/", 1)[1]])]


async def test_pkcs12_and_pem_bundles_in_one_secret() -> None:
    km, src = source()
    p12 = await src.certificate(km.secret_ref(WWW.pkcs12([CA.cert])))
    assert chain_of(p12.pem) == ["CN=www.example.test", "CN=Onestack Test CA"]
    # a PEM bundle: the leaf is the certificate the key matches, wherever it is
    bundle = await src.certificate(km.secret_ref(CA.cert_pem + WWW.key_pem + WWW.cert_pem))
    assert chain_of(bundle.pem) == ["CN=www.example.test", "CN=Onestack Test CA"]


@pytest.mark.parametrize("case", [
    "mismatched key", "no key", "garbage", "encrypted p12", "wrong passphrase", "missing",
    "not a url", "two keys", "ed25519 key"])
async def test_unusable_certificates(case: str) -> None:
    km, src = source()
    ref = {
        "mismatched key": lambda: km.container_ref(certificate=WWW.cert_pem,
                                                   private_key=OTHER.key_pem),
        "no key": lambda: km.container_ref(certificate=WWW.cert_pem),
        "garbage": lambda: km.secret_ref(b"\x00\x01 not a certificate"),
        "encrypted p12": lambda: km.secret_ref(pkcs12.serialize_key_and_certificates(
            b"x", WWW.key, WWW.cert, None, serialization.BestAvailableEncryption(b"pw"))),
        "wrong passphrase": lambda: km.container_ref(
            certificate=WWW.cert_pem, private_key=WWW.key_pem_encrypted(b"right"),
            private_key_passphrase=b"wrong"),
        "missing": lambda: f"{URL}/containers/{uuid.uuid4()}",
        "not a url": lambda: "www.example.test",
        "two keys": lambda: km.secret_ref(WWW.cert_pem + WWW.key_pem + OTHER.key_pem),
        "ed25519 key": lambda: km.container_ref(certificate=WWW.cert_pem,
                                                private_key=ED_KEY),
    }[case]()
    with pytest.raises(tls.Unreadable) as caught:
        await src.certificate(ref)
    assert "PRIVATE" not in str(caught.value) and "BEGIN" not in str(caught.value)


async def test_client_ca_bundle() -> None:
    km, src = source()
    assert await src.ca_bundle(km.secret_ref(CA.cert_pem + OTHER.cert_pem)) == \
        CA.cert_pem + OTHER.cert_pem
    for bad in (km.secret_ref(b"nope"), km.container_ref(certificate=CA.cert_pem)):
        with pytest.raises(tls.Unreadable):
            await src.ca_bundle(bad)


def test_refs() -> None:
    ident = str(uuid.uuid4())
    assert tls.parse_ref(f"{URL}/secrets/{ident}") == ("secret", ident)
    assert tls.parse_ref(f"https://kms.test/v1/containers/{ident.upper()}/") == (
        "container", ident)
    for bad in (ident, f"{URL}/orders/{ident}", f"{URL}/secrets/{ident}/payload",
                f"{URL}/secrets/{ident} x"):
        with pytest.raises(tls.Unreadable):
            tls.parse_ref(bad)
