"""Barbican's vocabulary: content types and encodings (``plugin/util/mime_types.py``),
secret and container types, order types, quotas and paging limits."""

from __future__ import annotations

PLAIN_TEXT = ("text/plain", "text/plain;charset=utf-8", "text/plain; charset=utf-8")
BINARY = ("application/octet-stream", "application/pkcs8")
SUPPORTED = [*PLAIN_TEXT, *BINARY]
SECRET_TYPES = ("symmetric", "public", "private", "passphrase", "certificate", "opaque")
CONTAINER_TYPES = {
    "generic": None,
    "rsa": ("public_key", "private_key", "private_key_passphrase"),
    "certificate": ("certificate", "private_key", "private_key_passphrase", "intermediates"),
}
ORDER_TYPES = ("key", "asymmetric")
QUOTA_RESOURCES = ("secrets", "orders", "containers", "consumers", "cas")
DEFAULT_QUOTA = -1  # unlimited, as Barbican's defaults
DEFAULT_LIMIT, MAX_LIMIT = 10, 100
SORT_KEYS = {"algorithm": "algorithm", "bit_length": "bit_length", "created": "created_at",
             "expiration": "expiration", "mode": "mode", "name": "name",
             "secret_type": "secret_type", "status": "status", "updated": "updated_at"}
SYMMETRIC_BITS = (128, 192, 256)
RSA_BITS = (2048, 3072, 4096)
STORE = {"name": "Onestack database store", "store_plugin": "store_crypto",
         "crypto_plugin": "onestack_aes_gcm"}


def normalize_content_type(value: str) -> str | None:
    """The internal content type (text/plain, application/octet-stream, ...), or None when
    it is not one Barbican stores."""
    parts = [p.strip() for p in value.split(";")]
    mime = parts[0].lower()
    if len(parts) > 1:
        key, _, charset = parts[1].partition("=")
        if key.strip().lower() != "charset" or charset.strip().lower() != "utf-8" \
                or mime != "text/plain" or len(parts) > 2:
            return None
    return mime if mime in ("text/plain", *BINARY) else None


def encodings_for(content_type: str) -> list[str] | None:
    """The payload_content_encoding values a content type takes (None: none may be given)."""
    return None if content_type == "text/plain" else ["base64", "binary"]
