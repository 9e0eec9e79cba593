"""Master keys in a file the operator owns: JSON ``{"primary": name, "keys": {name:
base64}}``, mode 0600 in a 0700 directory, replaced through a temporary file and rename."""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path

from onestack.drivers.master_key.base import MasterKeyError, MasterKeys, MasterKeyStore


class FileMasterKeyStore(MasterKeyStore):
    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def where(self) -> str:
        return str(self.path)

    def load(self) -> MasterKeys | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise MasterKeyError(f"cannot read master key file {self.path}: "
                                 f"{exc.strerror}") from exc
        try:
            data = json.loads(raw)
            keys = {str(k): base64.b64decode(v, validate=True)
                    for k, v in data["keys"].items()}
            return MasterKeys(str(data["primary"]), keys)
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise MasterKeyError(f"master key file {self.path} is not a master key file "
                                 f"({type(exc).__name__})") from None

    def save(self, keys: MasterKeys) -> None:
        body = json.dumps({"primary": keys.primary, "keys": {
            k: base64.b64encode(v).decode() for k, v in keys.keys.items()}}).encode()
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, body)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            dirfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dirfd)
            finally:
                os.close(dirfd)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise MasterKeyError(f"cannot write master key file {self.path}: "
                                 f"{exc.strerror}") from exc
