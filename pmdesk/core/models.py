"""The ORM models (SQLAlchemy 2 typed declarative).

Times are aware UTC (``UTCDateTime``); money is ``Numeric`` (Decimal). Records two administrators
may edit at once carry a ``version`` column used for optimistic locking.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from pmdesk.core.types import UTCDateTime, search_key_type

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Language(Base):
    __tablename__ = "languages"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(100))


class Location(Base):
    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class Module(Base):
    __tablename__ = "modules"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer)


class UserGroup(Base):
    __tablename__ = "user_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # Lower-cased name: unique case-insensitively on every engine.
    name_key: Mapped[str] = mapped_column(String(100), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    permissions: Mapped[list[GroupPermission]] = relationship(
        back_populates="group", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}


class GroupPermission(Base):
    __tablename__ = "group_permissions"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("user_groups.id", ondelete="CASCADE"), primary_key=True
    )
    module_key: Mapped[str] = mapped_column(ForeignKey("modules.key"), primary_key=True)
    can_read: Mapped[bool] = mapped_column(Boolean, default=False)
    can_edit: Mapped[bool] = mapped_column(Boolean, default=False)
    can_delete: Mapped[bool] = mapped_column(Boolean, default=False)

    group: Mapped[UserGroup] = relationship(back_populates="permissions")


class Person(Base):
    """A member of staff (the Personnel screen); also a login account when ``login`` is set."""

    __tablename__ = "personnel"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_name: Mapped[str] = mapped_column(String(100), default="")
    first_name: Mapped[str] = mapped_column(String(100), default="")
    number: Mapped[str] = mapped_column(String(40), default="")
    street: Mapped[str] = mapped_column(String(200), default="")
    postcode: Mapped[str] = mapped_column(String(20), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    country: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    mobile: Mapped[str] = mapped_column(String(32), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    email_newsletter: Mapped[bool] = mapped_column(Boolean, default=False)
    email_invoicing: Mapped[bool] = mapped_column(Boolean, default=False)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("user_groups.id"))
    language_id: Mapped[int | None] = mapped_column(ForeignKey("languages.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    hourly_cost: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))

    login: Mapped[str | None] = mapped_column(String(64))
    # Lower-cased login: unique case-insensitively on every engine (NULLs do not collide).
    login_key: Mapped[str | None] = mapped_column(search_key_type(64), unique=True)
    # Lower-cased copies for case-insensitive search and sort that can use an index.
    last_name_key: Mapped[str] = mapped_column(search_key_type(100), default="")
    first_name_key: Mapped[str] = mapped_column(search_key_type(100), default="")
    number_key: Mapped[str] = mapped_column(search_key_type(40), default="")
    email_key: Mapped[str] = mapped_column(search_key_type(254), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    visible: Mapped[bool] = mapped_column(Boolean, default=True)
    access_planning: Mapped[bool] = mapped_column(Boolean, default=False)
    access_notifications: Mapped[bool] = mapped_column(Boolean, default=False)
    access_inspection: Mapped[bool] = mapped_column(Boolean, default=False)
    access_webservice: Mapped[bool] = mapped_column(Boolean, default=False)
    access_courtesy_car: Mapped[bool] = mapped_column(Boolean, default=False)
    access_reception: Mapped[bool] = mapped_column(Boolean, default=False)

    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lock_count: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    group: Mapped[UserGroup | None] = relationship()
    location: Mapped[Location | None] = relationship()
    language: Mapped[Language | None] = relationship()
    team: Mapped[Team | None] = relationship()

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_personnel_last_first_id", "last_name", "first_name", "id"),
        Index("ix_personnel_first_last_id", "first_name", "last_name", "id"),
        Index("ix_personnel_number", "number"),
        Index("ix_personnel_email", "email"),
        Index("ix_personnel_group_id", "group_id"),
        Index("ix_personnel_name_keys", "last_name_key", "first_name_key", "id"),
        Index("ix_personnel_first_name_keys", "first_name_key", "last_name_key", "id"),
        Index("ix_personnel_number_key", "number_key", "id"),
        Index("ix_personnel_email_key", "email_key", "id"),
    )


class SecuritySettings(Base):
    """One row: the System → Security settings."""

    __tablename__ = "security_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    two_factor_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    trust_days: Mapped[int] = mapped_column(Integer, default=30)
    code_ttl_minutes: Mapped[int] = mapped_column(Integer, default=10)
    delivery_method: Mapped[str] = mapped_column(String(16), default="outbox")
    outbox_folder: Mapped[str] = mapped_column(String(500), default="")
    smtp_host: Mapped[str] = mapped_column(String(255), default="")
    smtp_port: Mapped[int] = mapped_column(Integer, default=587)
    smtp_security: Mapped[str] = mapped_column(String(16), default="starttls")
    smtp_username: Mapped[str] = mapped_column(String(255), default="")
    smtp_from: Mapped[str] = mapped_column(String(254), default="")
    sms_url: Mapped[str] = mapped_column(String(500), default="")
    # Microsoft 365 (SMTP OAuth) and Microsoft Graph: the Entra app registration.
    m365_tenant_id: Mapped[str] = mapped_column(String(255), default="")
    m365_client_id: Mapped[str] = mapped_column(String(64), default="")
    m365_auth: Mapped[str] = mapped_column(String(16), default="secret")  # or "certificate"
    m365_thumbprint: Mapped[str] = mapped_column(String(64), default="")
    # Google Workspace: the service account (its JSON key is in each keyring).
    google_client_email: Mapped[str] = mapped_column(String(254), default="")
    # Twilio's Account SID or Vonage's API key; the sender of text messages; the region of
    # numbers written without a country code.
    sms_account: Mapped[str] = mapped_column(String(64), default="")
    sms_sender: Mapped[str] = mapped_column(String(32), default="")
    phone_region: Mapped[str] = mapped_column(String(2), default="BE")
    # How long a command-line session lasts before `pmdesk login` is needed again.
    session_hours: Mapped[int] = mapped_column(Integer, default=8)
    # Proxy or pooler addresses (comma/space separated) that are never trusted.
    never_trusted_addresses: Mapped[str] = mapped_column(String(1000), default="")
    # Where an address may be trusted: anywhere | office-networks | never (office_networks.py).
    # A row made here keeps today's behaviour; first run makes a new database office-networks.
    trust_policy: Mapped[str] = mapped_column(String(16), default="anywhere")
    # The lockout (pmdesk.core.lockout): failures from one address before it is locked for
    # that person, and how long the first and the longest lock last (migration 0010).
    lock_after_failures: Mapped[int] = mapped_column(Integer, default=10)
    first_lock_minutes: Mapped[int] = mapped_column(Integer, default=1)
    max_lock_minutes: Mapped[int] = mapped_column(Integer, default=15)
    # Who besides the person receives a trust alert (one e-mail address; empty: nobody).
    helpdesk_mailbox: Mapped[str] = mapped_column(String(254), default="")
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("lock_after_failures BETWEEN 3 AND 100", name="lock_after_failures_range"),
        CheckConstraint("first_lock_minutes BETWEEN 1 AND 60", name="first_lock_minutes_range"),
        CheckConstraint(
            "max_lock_minutes BETWEEN first_lock_minutes AND 1440", name="max_lock_minutes_range"
        ),
    )


class DeliveryOutcome(Base):
    """How the last security-code delivery by each method went (``pmdesk.core.delivery.health``)."""

    __tablename__ = "delivery_outcomes"

    method: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    # Where the last failure happened (settings, token, connect, authenticate, send) and its
    # sentence (never a secret or a code); empty after a success.
    step: Mapped[str] = mapped_column(String(16), default="")
    message: Mapped[str] = mapped_column(String(500), default="")
    failures_in_row: Mapped[int] = mapped_column(Integer, default=0)
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TrustedIp(Base):
    __tablename__ = "trusted_ips"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("personnel.id", ondelete="CASCADE"))
    # Normalised text (pmdesk.core.addresses), byte-wise ordered for prefix filters.
    address: Mapped[str] = mapped_column(search_key_type(45))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Who trusted it (a login) and on which workstation; unknown for rows older than 0013.
    trusted_by: Mapped[str | None] = mapped_column(String(64))
    trusted_on: Mapped[str | None] = mapped_column(String(255))

    person: Mapped[Person] = relationship()

    __table_args__ = (
        UniqueConstraint("person_id", "address", name="uq_trusted_ips_person_address"),
        # Paging newest first, and the expiry sweep (oldest first).
        Index("ix_trusted_ips_created_id", "created_at", "id"),
        Index("ix_trusted_ips_person_created", "person_id", "created_at", "id"),
        Index("ix_trusted_ips_address", "address"),
    )


class TrustedIpRemoval(Base):
    """A trusted address someone removed in the last minute, as it was: what their Undo puts
    back (``TrustedIpService.restore``), and nothing else. Purged after the undo window."""

    __tablename__ = "trusted_ip_removals"

    id: Mapped[int] = mapped_column(primary_key=True)
    trusted_ip_id: Mapped[int] = mapped_column(Integer)
    person_id: Mapped[int] = mapped_column(Integer)
    address: Mapped[str] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    trusted_by: Mapped[str | None] = mapped_column(String(64))
    trusted_on: Mapped[str | None] = mapped_column(String(255))
    removed_by: Mapped[int] = mapped_column(Integer)
    removed_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_trusted_ip_removals_by_at", "removed_by", "removed_at"),)


class LoginFailure(Base):
    """A person's failed sign-ins from one address, and that address's lock for them
    (``pmdesk.core.lockout``); the unknown address is ``""``."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("personnel.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(45))
    failed: Mapped[int] = mapped_column(Integer, default=0)
    lock_count: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    last_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("person_id", "address", name="uq_login_failures_person_id"),)


class OfficeNetwork(Base):
    """A named set of CIDR ranges ("Head office": 10.1.0.0/16) where addresses may be trusted."""

    __tablename__ = "office_networks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    name_key: Mapped[str] = mapped_column(String(80), unique=True)  # lower-case, for uniqueness
    # Canonical ranges, comma separated ("10.1.0.0/16, 2001:db8::/32").
    ranges: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LoginChallenge(Base):
    """One login attempt waiting for its security code."""

    __tablename__ = "login_challenges"

    id: Mapped[str] = mapped_column(String(43), primary_key=True)  # random token
    person_id: Mapped[int] = mapped_column(ForeignKey("personnel.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(128))
    address: Mapped[str | None] = mapped_column(String(45))
    workstation: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    send_count: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    voided: Mapped[bool] = mapped_column(Boolean, default=False)
    # Replaced by a newer sign-in of the same person: never renewed or accepted again.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_login_challenges_expires", "expires_at"),
        Index("ix_login_challenges_person", "person_id"),
    )


class HelpdeskCode(Base):
    """A one-time sign-in code the helpdesk read out to one person (at most one each). Only its
    hash is kept; it works in the code step of a sign-in until ``expires_at`` (database clock)."""

    __tablename__ = "helpdesk_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("personnel.id", ondelete="CASCADE"), unique=True
    )
    code_hash: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(200))  # a reason or ticket reference
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("personnel.id", ondelete="SET NULL"))
    issued_by_name: Mapped[str] = mapped_column(String(255))  # as the log names the issuer
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UserSession(Base):
    """A signed-in desktop app or command-line session. Only the token's hash is kept here."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("personnel.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # "desktop" or "cli"
    address: Mapped[str | None] = mapped_column(String(45))
    workstation: Mapped[str] = mapped_column(String(255), default="")
    os_user: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_user_sessions_person", "person_id", "last_used_at"),
        Index("ix_user_sessions_expires", "expires_at"),
    )


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(255))
    event: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255), default="")
    address: Mapped[str] = mapped_column(String(45), default="")
    workstation: Mapped[str] = mapped_column(String(255), default="")
    detail: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        Index("ix_audit_events_occurred", "occurred_at", "id"),
        Index("ix_audit_events_event_occurred", "event", "occurred_at"),
        Index("ix_audit_events_actor", "actor"),
        Index("ix_audit_events_subject", "subject"),
    )


class ChangeCounter(Base):
    """Bumped on every change to watched tables, so other workstations can notice cheaply."""

    __tablename__ = "change_counters"

    topic: Mapped[str] = mapped_column(String(40), primary_key=True)
    # MariaDB: each connection bumps its own shard (migration 0005), so writers never queue.
    shard: Mapped[int] = mapped_column(Integer, primary_key=True, default=0)
    value: Mapped[int] = mapped_column(Integer, default=0)
