"""The key manager's own tempest run: barbican-tempest-plugin's API and RBAC tests
(``barbican_tempest_plugin.tests.api`` and ``.rbac``) against the same Onestack, after the
guideline run, with a report and a ratchet of their own (``tests/interop/ratchet-barbican.txt``).

Scored, reported and ratcheted like the load balancer's plugin (``octavia.py``, whose
functions take this module's ``BARBICAN``); modes (``--barbican``) as there: ``ratchet``
(what CI runs), ``all``, ``off``.
"""

from __future__ import annotations

import re

from .octavia import Plugin

BARBICAN = Plugin(
    "barbican-tempest-plugin", "4.6.0", "key-manager", "key manager",
    "barbican_tempest_plugin.tests.",
    "^" + re.escape("barbican_tempest_plugin.tests.") + r"(api|rbac)\.",
    "ratchet-barbican.txt", "barbican",
)
SERVICE_ALIASES = ("key-manager", "key_manager", "keymanager", "barbican")

# tempest.conf options for what Onestack serves (docs/key-manager.md): Barbican API 1.0-1.1
# (1.1: secret consumers); scope enforced as the plugin's RBAC tests expect it (the project
# personas member/reader/admin and a system admin; with it on the plugin skips its project
# quota tests, which need a `key-manager:service-admin` user without scope); one secret
# store, so the multiple-store tests skip.
CONF_OPTIONS: dict[tuple[str, str], str] = {
    ("service_available", "barbican"): "true",
    ("key_manager", "catalog_type"): "key-manager",
    ("key_manager", "min_microversion"): "1.0",
    ("key_manager", "max_microversion"): "1.1",
    ("enforce_scope", "barbican"): "true",
    ("barbican_tempest", "enable_multiple_secret_stores"): "false",
}

