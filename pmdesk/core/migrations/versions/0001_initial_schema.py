"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# Naive UTC with microseconds everywhere (pmdesk.core.types.UTCDateTime), frozen here.
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', UTC_DATETIME, nullable=False),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('address', sa.String(length=45), nullable=False),
    sa.Column('workstation', sa.String(length=255), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_actor', ['actor'], unique=False)
        batch_op.create_index('ix_audit_events_event_occurred', ['event', 'occurred_at'], unique=False)
        batch_op.create_index('ix_audit_events_occurred', ['occurred_at', 'id'], unique=False)
        batch_op.create_index('ix_audit_events_subject', ['subject'], unique=False)

    op.create_table('change_counters',
    sa.Column('topic', sa.String(length=40), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('topic', name=op.f('pk_change_counters'))
    )
    op.create_table('languages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_languages')),
    sa.UniqueConstraint('code', name=op.f('uq_languages_code'))
    )
    op.create_table('locations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_locations')),
    sa.UniqueConstraint('name', name=op.f('uq_locations_name'))
    )
    op.create_table('modules',
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_modules'))
    )
    op.create_table('security_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('two_factor_enabled', sa.Boolean(), nullable=False),
    sa.Column('trust_days', sa.Integer(), nullable=False),
    sa.Column('code_ttl_minutes', sa.Integer(), nullable=False),
    sa.Column('delivery_method', sa.String(length=16), nullable=False),
    sa.Column('outbox_folder', sa.String(length=500), nullable=False),
    sa.Column('smtp_host', sa.String(length=255), nullable=False),
    sa.Column('smtp_port', sa.Integer(), nullable=False),
    sa.Column('smtp_security', sa.String(length=16), nullable=False),
    sa.Column('smtp_username', sa.String(length=255), nullable=False),
    sa.Column('smtp_from', sa.String(length=254), nullable=False),
    sa.Column('sms_url', sa.String(length=500), nullable=False),
    sa.Column('updated_at', UTC_DATETIME, nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_security_settings'))
    )
    op.create_table('teams',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teams')),
    sa.UniqueConstraint('name', name=op.f('uq_teams_name'))
    )
    op.create_table('user_groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('name_key', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_groups')),
    sa.UniqueConstraint('name_key', name=op.f('uq_user_groups_name_key'))
    )
    op.create_table('group_permissions',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('module_key', sa.String(length=40), nullable=False),
    sa.Column('can_read', sa.Boolean(), nullable=False),
    sa.Column('can_edit', sa.Boolean(), nullable=False),
    sa.Column('can_delete', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['user_groups.id'], name=op.f('fk_group_permissions_group_id_user_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['module_key'], ['modules.key'], name=op.f('fk_group_permissions_module_key_modules')),
    sa.PrimaryKeyConstraint('group_id', 'module_key', name=op.f('pk_group_permissions'))
    )
    op.create_table('personnel',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('street', sa.String(length=200), nullable=False),
    sa.Column('postcode', sa.String(length=20), nullable=False),
    sa.Column('city', sa.String(length=100), nullable=False),
    sa.Column('country', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('mobile', sa.String(length=32), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('email_newsletter', sa.Boolean(), nullable=False),
    sa.Column('email_invoicing', sa.Boolean(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=True),
    sa.Column('group_id', sa.Integer(), nullable=True),
    sa.Column('language_id', sa.Integer(), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('hourly_cost', sa.Numeric(precision=10, scale=2), nullable=True),
    sa.Column('login', sa.String(length=64), nullable=True),
    sa.Column('login_key', sa.String(length=64), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('visible', sa.Boolean(), nullable=False),
    sa.Column('access_planning', sa.Boolean(), nullable=False),
    sa.Column('access_notifications', sa.Boolean(), nullable=False),
    sa.Column('access_inspection', sa.Boolean(), nullable=False),
    sa.Column('access_webservice', sa.Boolean(), nullable=False),
    sa.Column('access_courtesy_car', sa.Boolean(), nullable=False),
    sa.Column('access_reception', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('last_failed_at', UTC_DATETIME, nullable=True),
    sa.Column('lock_count', sa.Integer(), nullable=False),
    sa.Column('locked_until', UTC_DATETIME, nullable=True),
    sa.Column('password_changed_at', UTC_DATETIME, nullable=True),
    sa.Column('last_login_at', UTC_DATETIME, nullable=True),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.Column('updated_at', UTC_DATETIME, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['user_groups.id'], name=op.f('fk_personnel_group_id_user_groups')),
    sa.ForeignKeyConstraint(['language_id'], ['languages.id'], name=op.f('fk_personnel_language_id_languages')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_personnel_location_id_locations')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_personnel_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_personnel')),
    sa.UniqueConstraint('login_key', name=op.f('uq_personnel_login_key'))
    )
    with op.batch_alter_table('personnel', schema=None) as batch_op:
        batch_op.create_index('ix_personnel_email', ['email'], unique=False)
        batch_op.create_index('ix_personnel_first_last_id', ['first_name', 'last_name', 'id'], unique=False)
        batch_op.create_index('ix_personnel_group_id', ['group_id'], unique=False)
        batch_op.create_index('ix_personnel_last_first_id', ['last_name', 'first_name', 'id'], unique=False)
        batch_op.create_index('ix_personnel_number', ['number'], unique=False)

    op.create_table('login_challenges',
    sa.Column('id', sa.String(length=43), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=128), nullable=False),
    sa.Column('address', sa.String(length=45), nullable=True),
    sa.Column('workstation', sa.String(length=255), nullable=False),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.Column('expires_at', UTC_DATETIME, nullable=False),
    sa.Column('last_sent_at', UTC_DATETIME, nullable=True),
    sa.Column('send_count', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('used_at', UTC_DATETIME, nullable=True),
    sa.Column('voided', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['personnel.id'], name=op.f('fk_login_challenges_person_id_personnel'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_challenges'))
    )
    with op.batch_alter_table('login_challenges', schema=None) as batch_op:
        batch_op.create_index('ix_login_challenges_expires', ['expires_at'], unique=False)
        batch_op.create_index('ix_login_challenges_person', ['person_id'], unique=False)

    op.create_table('trusted_ips',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=45), nullable=False),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.Column('last_used_at', UTC_DATETIME, nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['personnel.id'], name=op.f('fk_trusted_ips_person_id_personnel'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trusted_ips')),
    sa.UniqueConstraint('person_id', 'address', name='uq_trusted_ips_person_address')
    )
    with op.batch_alter_table('trusted_ips', schema=None) as batch_op:
        batch_op.create_index('ix_trusted_ips_address', ['address'], unique=False)
        batch_op.create_index('ix_trusted_ips_created_id', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_trusted_ips_person_created', ['person_id', 'created_at', 'id'], unique=False)


    _seed()


def downgrade() -> None:
    op.drop_table('trusted_ips')
    op.drop_table('login_challenges')
    op.drop_table('personnel')
    op.drop_table('group_permissions')
    op.drop_table('user_groups')
    op.drop_table('teams')
    op.drop_table('security_settings')
    op.drop_table('modules')
    op.drop_table('locations')
    op.drop_table('languages')
    op.drop_table('change_counters')
    op.drop_table('audit_events')


MODULES = [
    ("job", "Job"),
    ("invoicing", "Invoicing"),
    ("workshop", "Workshop"),
    ("maintenance", "Maintenance"),
    ("planning", "Planning"),
    ("car_fleet", "Car Fleet"),
    ("report", "Report"),
    ("system", "System"),
    ("system.custom_fields", "System → Custom Fields"),
    ("system.log", "System → Log"),
    ("system.shortcut", "System → Shortcut"),
    ("system.vault", "System → Vault"),
    ("system.security", "System → Security"),
]
LANGUAGES = [
    ("en-GB", "English (United Kingdom)"),
    ("nl-BE", "Nederlands (België)"),
    ("fr-BE", "Français (Belgique)"),
]


def _seed() -> None:
    """First-run data: the 13 modules, an all-rights Administrator group, languages, settings."""
    meta = sa.MetaData()
    modules = sa.Table("modules", meta, autoload_with=op.get_bind())
    groups = sa.Table("user_groups", meta, autoload_with=op.get_bind())
    grants = sa.Table("group_permissions", meta, autoload_with=op.get_bind())
    languages = sa.Table("languages", meta, autoload_with=op.get_bind())
    settings = sa.Table("security_settings", meta, autoload_with=op.get_bind())
    op.bulk_insert(
        modules, [{"key": k, "name": n, "position": i} for i, (k, n) in enumerate(MODULES)]
    )
    op.bulk_insert(groups, [{"id": 1, "name": "Administrator", "name_key": "administrator",
                             "version": 1}])
    op.bulk_insert(
        grants,
        [
            {"group_id": 1, "module_key": k, "can_read": True, "can_edit": True,
             "can_delete": True}
            for k, _ in MODULES
        ],
    )
    op.bulk_insert(languages, [{"code": c, "name": n} for c, n in LANGUAGES])
    op.bulk_insert(
        settings,
        [
            {
                "id": 1, "two_factor_enabled": False, "trust_days": 30, "code_ttl_minutes": 10,
                "delivery_method": "outbox", "outbox_folder": "", "smtp_host": "",
                "smtp_port": 587, "smtp_security": "starttls", "smtp_username": "",
                "smtp_from": "", "sms_url": "", "updated_at": None, "version": 1,
            }
        ],
    )
    if op.get_bind().dialect.name == "postgresql":
        # Explicit ids above do not advance PostgreSQL's sequence.
        op.execute("SELECT setval(pg_get_serial_sequence('user_groups', 'id'), 1)")
