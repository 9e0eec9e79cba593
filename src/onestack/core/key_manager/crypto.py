"""Secrets at rest: envelope encryption with AES-256-GCM.

Each project has a key (KEK) of its own, stored only wrapped by the operator's primary
master key (``drivers/master_key``); each payload is sealed with its project's key and
bound to its secret's id (the AAD), so a ciphertext moved onto another row does not open.
The database alone holds nothing that opens a payload. Rotating the master key re-wraps
the project keys; payloads are not touched.
"""

from __future__ import annotations

import os
import secrets as _random
import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from onestack.drivers.master_key import KEY_BYTES, MasterKeyError, MasterKeys, MasterKeyStore
from onestack.errors import OnestackError

VERSION = b"\x01"
NONCE = 12


class KeyringError(OnestackError):
    """A payload or project key does not open (wrong or missing master key, tampering).
    Rendered as a 500 without detail: the reason is in the server log, never a payload."""


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE)
    return VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if blob[:1] != VERSION or len(blob) < 1 + NONCE + 16:
        raise KeyringError("stored ciphertext has an unknown format")
    try:
        return AESGCM(key).decrypt(blob[1:1 + NONCE], blob[1 + NONCE:], aad)
    except InvalidTag:
        raise KeyringError("stored ciphertext does not open with its key") from None


def seal_payload(kek: bytes, secret_id: str, payload: bytes) -> bytes:
    return _seal(kek, payload, b"onestack-secret:" + secret_id.encode())


def open_payload(kek: bytes, secret_id: str, blob: bytes) -> bytes:
    return _open(kek, blob, b"onestack-secret:" + secret_id.encode())


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def new_master_name() -> str:
    return f"mk-{_random.token_hex(6)}"


class Keyring:
    """The master keys, loaded from their store and reloaded when a project key names one
    this process has not seen (after a rotation). ``create``: make the store's first key
    when it has none; a serving process does not (``onestack up`` and ``manage bootstrap``
    make it, through ``ensure``), so an API host without the file fails loudly instead of
    wrapping project keys under a key of its own that no other host has."""

    def __init__(self, store: MasterKeyStore, create: bool = True) -> None:
        self.store = store
        self.create = create
        self._keys: MasterKeys | None = None
        self._lock = threading.Lock()

    def keys(self, reload: bool = False, create: bool = False) -> MasterKeys:
        with self._lock:
            if self._keys is None or reload:
                try:
                    keys = self.store.load()
                    if keys is None and not (create or self.create):
                        raise KeyringError(
                            f"no key manager master key at {self.store.where()}: run "
                            "`onestack manage bootstrap` (or `onestack up`) once, or copy "
                            "the file from the host where it was made")
                    if keys is None:
                        name = new_master_name()
                        keys = MasterKeys(name, {name: new_key()})
                        self.store.save(keys)
                except MasterKeyError as exc:
                    raise KeyringError(str(exc)) from None
                self._keys = keys
            return self._keys

    def ensure(self) -> str:
        """Create the master key file if there is none; where it is."""
        self.keys(reload=True, create=True)
        return self.store.where()

    def wrap(self, project_id: str, kek: bytes) -> tuple[str, bytes]:
        """(master key name, wrapped project key), under the current primary (read afresh:
        a rotation may have changed it)."""
        keys = self.keys(reload=True)
        return keys.primary, wrap_with(keys.primary, keys.primary_key, project_id, kek)

    def unwrap(self, project_id: str, master_name: str, wrapped: bytes) -> bytes:
        keys = self.keys()
        if master_name not in keys.keys:
            keys = self.keys(reload=True)
        if master_name not in keys.keys:
            raise KeyringError(f"master key {master_name} of project {project_id}'s key is "
                               f"not in {self.store.where()}")
        return unwrap_with(master_name, keys.keys[master_name], project_id, wrapped)


def _kek_aad(master_name: str, project_id: str) -> bytes:
    return f"onestack-kek:{master_name}:{project_id}".encode()


def wrap_with(master_name: str, master: bytes, project_id: str, kek: bytes) -> bytes:
    return _seal(master, kek, _kek_aad(master_name, project_id))


def unwrap_with(master_name: str, master: bytes, project_id: str, wrapped: bytes) -> bytes:
    kek = _open(master, wrapped, _kek_aad(master_name, project_id))
    if len(kek) != KEY_BYTES:
        raise KeyringError(f"project {project_id}'s key has the wrong length")
    return kek
