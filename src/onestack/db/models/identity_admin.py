"""Keystone's less used tables: access rules of application credentials, domain-specific
configuration, the deprecated policy blob store and OAuth1 consumers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from onestack.db.models.base import Base, new_id, utcnow

ID = String(64)


class AccessRule(Base):
    """A (service, method, path) rule a user's application credentials may be limited to;
    shared by the credentials that ask for the same rule, kept after they go."""

    __tablename__ = "access_rule"
    __table_args__ = (UniqueConstraint("user_id", "service", "method", "path"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("user.id", ondelete="CASCADE"),
                                         index=True)
    service: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(255))


class DomainConfig(Base):
    """One option of a domain's specific configuration (groups identity and ldap)."""

    __tablename__ = "domain_config"
    domain_id: Mapped[str] = mapped_column(ID, ForeignKey("domain.id", ondelete="CASCADE"),
                                           primary_key=True)
    group: Mapped[str] = mapped_column(String(64), primary_key=True)
    option: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)


class PolicyBlob(Base):
    """/v3/policies: an opaque blob with a MIME type, stored and served, never enforced."""

    __tablename__ = "policy"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(255))
    blob: Mapped[str] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OAuthConsumer(Base):
    """OS-OAUTH1 consumer: an id and a secret that third parties sign requests with (kept
    encrypted under the credential keys: HMAC-SHA1 checks need it back)."""

    __tablename__ = "oauth_consumer"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    description: Mapped[str | None] = mapped_column(Text)
    encrypted_secret: Mapped[str] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
