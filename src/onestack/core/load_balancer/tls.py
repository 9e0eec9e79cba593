"""TLS certificates of TERMINATED_HTTPS listeners, read from the key manager.

A reference is a key manager URL, as Octavia takes it: ``.../v1/containers/<id>`` (a
certificate container: ``certificate``, ``private_key``, optional ``intermediates`` and
``private_key_passphrase``) or ``.../v1/secrets/<id>`` (a PKCS#12 bundle without a pass
phrase, or a PEM bundle: certificate, intermediates and key in one secret). Every
certificate is checked: it parses, and its key matches it. What comes out is one PEM
bundle per certificate (certificate, intermediates, unencrypted key) for haproxy.

Nothing here puts a payload into a message or a log line: a failure names the reference
only (Octavia's ``Could not retrieve certificate: [<ref>]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from onestack.core.load_balancer import errors
from onestack.errors import BadRequest, OnestackError

if TYPE_CHECKING:
    from onestack.core.key_manager.service import KeyManager

REF_RE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://[^/\s]+)?(?:/[^\s]*)?/v1/(secrets|containers)/"
                    r"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                    r"[0-9a-fA-F]{12})/?$")
PEM_ANY = b"-----BEGIN "
CA_INVALID = ("The client authentication CA certificate is invalid. It must be a valid x509 "
              "PEM format certificate.")


class Unreadable(Exception):
    """A certificate that cannot be used; the message never holds key material."""


def parse_ref(ref: str) -> tuple[str, str]:
    """("secret" | "container", id) of a key manager URL, or Unreadable."""
    found = REF_RE.match(ref.strip()) if isinstance(ref, str) else None
    if found is None:
        raise Unreadable("not a key manager secret or container URL")
    return ("secret" if found.group(1) == "secrets" else "container"), found.group(2).lower()


def retrieval_failed(refs: list[str]) -> BadRequest:
    """Octavia's CertificateRetrievalException (400)."""
    return BadRequest(f"Could not retrieve certificate: {refs!r}")


@dataclass(frozen=True)
class Certificate:
    """One certificate ready for haproxy. ``pem`` holds the private key: never log it."""

    ref: str
    pem: bytes = field(repr=False)
    names: tuple[str, ...] = ()  # the subject's CN and the DNS names of its SAN


def _names(cert: x509.Certificate) -> tuple[str, ...]:
    out = [str(a.value) for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        out += [n for n in san.get_values_for_type(x509.DNSName) if n not in out]
    except (x509.ExtensionNotFound, ValueError):  # none, or malformed extensions
        pass
    return tuple(out)


def _certs(data: bytes) -> list[x509.Certificate]:
    """Certificates in PEM (one or more), DER, or PKCS#7 (PEM or DER)."""
    data = data.strip()
    try:
        if b"-----BEGIN PKCS7-----" in data:
            return list(pkcs7.load_pem_pkcs7_certificates(data))
        if data.startswith(PEM_ANY):
            return list(x509.load_pem_x509_certificates(data))
        try:
            return [x509.load_der_x509_certificate(data)]
        except ValueError:
            return list(pkcs7.load_der_pkcs7_certificates(data))
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise Unreadable("the certificate does not parse") from exc


def _key(data: bytes, passphrase: bytes | None) -> PrivateKeyTypes:
    try:
        if data.strip().startswith(PEM_ANY):
            return serialization.load_pem_private_key(data.strip(), passphrase)
        return serialization.load_der_private_key(data, passphrase)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise Unreadable("the private key does not parse (or needs another pass "
                         "phrase)") from exc


def _spki(key: object) -> bytes:
    public = getattr(key, "public_key", None)
    if public is None:
        raise Unreadable("the key is of a type that holds no public key")
    out: bytes = public().public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    return out


def bundle(ref: str, cert: x509.Certificate, key: PrivateKeyTypes,
           chain: list[x509.Certificate]) -> Certificate:
    """The PEM haproxy reads: the certificate, its intermediates, the key (PKCS#8)."""
    if _spki(key) != cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise Unreadable("the private key does not match the certificate")
    pem = cert.public_bytes(serialization.Encoding.PEM)
    for extra in chain:
        if extra != cert:
            pem += extra.public_bytes(serialization.Encoding.PEM)
    pem += key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    return Certificate(ref, pem, _names(cert))


def from_bundle(ref: str, data: bytes) -> Certificate:
    """A secret holding PKCS#12 (no pass phrase) or PEM (certificates and one key)."""
    if data.lstrip().startswith(PEM_ANY):
        certs = _certs(data)  # the CERTIFICATE blocks (the key's is skipped)
        blocks = re.findall(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END [A-Z ]*PRIVATE "
                            rb"KEY-----", data, re.S)
        if not certs or len(blocks) != 1:
            raise Unreadable("a PEM bundle holds certificates and exactly one private key")
        key = _key(blocks[0], None)
        spki = _spki(key)
        leaf = next((c for c in certs if c.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            == spki), None)
        if leaf is None:
            raise Unreadable("the private key does not match the certificate")
        return bundle(ref, leaf, key, certs)
    try:
        p12 = pkcs12.load_pkcs12(data, None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise Unreadable("the PKCS12 bundle is unreadable (or needs a pass phrase)") from exc
    if p12.cert is None or p12.key is None:
        raise Unreadable("the PKCS12 bundle holds no certificate or no key")
    return bundle(ref, p12.cert.certificate, p12.key,
                  [c.certificate for c in p12.additional_certs])


@dataclass
class CertificateSource:
    """Reads certificates through the key manager's service layer (in process). Who may
    read what is the API's check (the user's project, the ACL); this reads for the load
    balancer service, as Octavia's service user does once the API let a listener name
    the reference."""

    key_manager: KeyManager

    async def parts(self, ref: str) -> list[tuple[str, str]]:
        """What reading ``ref`` reads: ("container", id) and ("secret", id) pairs."""
        kind, ident = parse_ref(ref)
        if kind == "secret":
            return [(kind, ident)]
        view = await self.key_manager.container(ident)
        return [(kind, ident), *(("secret", str(r["secret_id"]))
                                 for r in view.row.secret_refs)]

    async def _payload(self, secret_id: str) -> bytes:
        data, _ctype = await self.key_manager.payload(secret_id)
        return data

    async def certificate(self, ref: str) -> Certificate:
        """The certificate of ``ref``, or Unreadable."""
        try:
            kind, ident = parse_ref(ref)
            if kind == "secret":
                return from_bundle(ref, await self._payload(ident))
            view = await self.key_manager.container(ident)
            named = {str(r["name"]): str(r["secret_id"]) for r in view.row.secret_refs}
            if "certificate" not in named or "private_key" not in named:
                raise Unreadable("the container has no certificate or no private_key")
            certs = _certs(await self._payload(named["certificate"]))
            if not certs:
                raise Unreadable("the certificate secret holds no certificate")
            passphrase = await self._payload(named["private_key_passphrase"]) \
                if "private_key_passphrase" in named else None
            key = _key(await self._payload(named["private_key"]), passphrase)
            chain = _certs(await self._payload(named["intermediates"])) \
                if "intermediates" in named else []
            return bundle(ref, certs[0], key, chain)
        except OnestackError as exc:  # gone, expired, no payload
            raise Unreadable(f"the key manager has no such readable object "
                             f"({type(exc).__name__})") from exc

    async def ca_bundle(self, ref: str) -> bytes:
        """A client CA secret's certificates, as PEM (Unreadable when it holds none)."""
        try:
            kind, ident = parse_ref(ref)
            if kind != "secret":
                raise Unreadable("a client CA is a secret, not a container")
            certs = _certs(await self._payload(ident))
        except OnestackError as exc:
            raise Unreadable(f"the key manager has no such readable object "
                             f"({type(exc).__name__})") from exc
        if not certs:
            raise Unreadable("no certificate")
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def invalid_ca() -> BadRequest:
    return errors.validation(CA_INVALID)
