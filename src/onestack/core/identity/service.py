"""The identity core, assembled: one object the API layer calls."""

from __future__ import annotations

from onestack.config import Settings
from onestack.core.identity.auth import Auth
from onestack.core.identity.cache import Coherence
from onestack.core.identity.catalog import Catalog
from onestack.core.identity.credentials import Credentials
from onestack.core.identity.domain_config import DomainConfigs
from onestack.core.identity.endpoint_groups import EndpointGroups
from onestack.core.identity.keys import KeyRepository
from onestack.core.identity.limits import Limits
from onestack.core.identity.oauth1 import Consumers
from onestack.core.identity.passwords import Hasher
from onestack.core.identity.policy_blobs import PolicyBlobs
from onestack.core.identity.resources import DEFAULT_DOMAIN_ID, Resources
from onestack.core.identity.roles import Roles
from onestack.core.identity.tokens import TokenCodec
from onestack.core.identity.trusts import Trusts
from onestack.core.identity.users import Users
from onestack.db.engine import Database


class Identity:
    def __init__(self, settings: Settings, db: Database) -> None:
        cfg = settings.identity
        self.settings = settings
        self.default_domain_id = DEFAULT_DOMAIN_ID
        self.coherence = Coherence(db, cfg.cache_sync_interval)
        self.hasher = Hasher(cfg.password_hash_rounds)
        self.token_keys = KeyRepository(settings.fernet_key_dir, cfg.max_active_keys)
        self.credential_keys = KeyRepository(settings.credential_key_dir, cfg.max_active_keys)
        self.resources = Resources(db, self.coherence)
        self.users = Users(db, self.coherence, cfg, self.hasher)
        self.roles = Roles(db, self.coherence)
        self.catalog = Catalog(db, self.coherence)
        self.credentials = Credentials(db, self.coherence, self.hasher, self.credential_keys)
        self.limits = Limits(db, self.coherence)
        self.endpoint_groups = EndpointGroups(db, self.coherence)
        self.domain_configs = DomainConfigs(db, self.coherence)
        self.policy_blobs = PolicyBlobs(db, self.coherence)
        self.oauth1 = Consumers(db, self.coherence, self.credential_keys)
        self.trusts = Trusts(db, self.coherence, self.users, self.resources, self.roles)
        self.auth = Auth(cfg, self.coherence, TokenCodec(self.token_keys), self.users,
                         self.resources, self.roles, self.credentials, self.catalog,
                         self.trusts)
