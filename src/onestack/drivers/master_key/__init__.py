"""The key manager's master key store: a file (the default) or memory (tests)."""

from onestack.drivers.master_key.base import (
    KEY_BYTES,
    MasterKeyError,
    MasterKeys,
    MasterKeyStore,
)
from onestack.drivers.master_key.fake import MemoryMasterKeyStore
from onestack.drivers.master_key.file import FileMasterKeyStore

__all__ = ["KEY_BYTES", "FileMasterKeyStore", "MasterKeyError", "MasterKeyStore",
           "MasterKeys", "MemoryMasterKeyStore"]
