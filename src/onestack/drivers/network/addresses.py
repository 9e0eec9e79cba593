"""The last check before an address is written into text another program parses (nft
scripts, dnsmasq's files): canonical addresses and prefixes only.

The API already refuses anything else (``core/network/ipam.py``); this is defence in depth
for rows written before that check or by other paths. A value that fails is skipped with
a warning by the caller, so one bad row costs one port its rule (fail closed), not the
host-wide table of every tenant.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable

log = logging.getLogger(__name__)
MAC = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}")


def is_address(text: object) -> bool:
    """``10.0.0.5``, ``2001:db8::5``: exactly as Python writes the address back."""
    if not isinstance(text, str) or "%" in text:
        return False
    try:
        return str(ipaddress.ip_address(text)) == text
    except ValueError:
        return False


def is_prefix(text: object) -> bool:
    """``10.0.0.0/24``, ``10.0.0.5/24``: a canonical address, a slash and a length."""
    if not isinstance(text, str) or "%" in text or "/" not in text:
        return False
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        return False
    return f"{iface.ip}/{iface.network.prefixlen}" == text


def is_mac(text: object) -> bool:
    return isinstance(text, str) and MAC.fullmatch(text) is not None


def usable(text: object, what: str, owner: str,
           check: Callable[[object], bool] = is_address) -> bool:
    """``check(text)``, logging a warning naming the owner (a port, a rule) when it fails."""
    ok = check(text)
    if not ok:
        log.warning("skipping %s %r of %s: not a canonical value", what, text, owner)
    return ok
