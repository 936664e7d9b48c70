"""System → Security: 2FA on/off with the shut-out report, settings, delivery, status."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

import pytest
from sqlalchemy import select

from pmdesk.core.audit import Event
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.delivery.base import DeliverySettings
from pmdesk.core.delivery.outbox import OUTBOX_LABEL
from pmdesk.core.errors import ConflictError, PermissionDenied, ValidationError
from pmdesk.core.models import AuditEvent
from pmdesk.core.security import SecurityService, ShutOutWarning, load_settings
from tests.helpers.databases import stage
from tests.helpers.hardened import ONE_PERSON_PER_PROCESS
from tests.helpers.staff import actor, add_group, add_person


def audit_rows(ctx: CoreContext, event: Event) -> list[AuditEvent]:
    with stage(ctx.db) as s:
        return list(
            s.execute(
                select(AuditEvent).where(AuditEvent.event == event.value).order_by(AuditEvent.id)
            ).scalars()
        )


@pytest.fixture
def admin(ctx: CoreContext) -> Actor:
    return actor(add_person(ctx.db, "root", email="root@example.com"), "root")


def test_people_without_security_rights_are_refused_everywhere(ctx: CoreContext) -> None:
    clerk_group = add_group(ctx.db, "Clerks", {"maintenance": "red", "system": "red"})
    clerk = actor(add_person(ctx.db, "clerk", group_id=clerk_group), "clerk")
    viewer_group = add_group(ctx.db, "Viewers", {"system.security": "r"})
    viewer = actor(add_person(ctx.db, "viewer", group_id=viewer_group), "viewer")
    service = SecurityService(ctx)
    version = service.get(viewer).version

    calls: list[Callable[[Actor], object]] = [
        service.get,
        service.readiness,
        service.connection_status,
        service.settings_and_status,  # the screen's first read (reads more along with it)
        lambda a: service.set_two_factor(a, True, version, accept_shut_out=True),
        lambda a: service.update(a, version, trust_days=7),
        lambda a: service.update_delivery(a, DeliverySettings(), version),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied, match="System → Security"):
            call(clerk)
    # Read alone shows the screen but changes nothing.
    assert service.readiness(viewer) == []
    for call in calls[4:]:
        with pytest.raises(PermissionDenied, match="may not change System → Security"):
            call(viewer)
    with stage(ctx.db) as s:
        settings = load_settings(s)
    assert settings.two_factor_enabled is False
    assert settings.trust_days == 30
    assert settings.version == version


def test_enabling_2fa_lists_who_would_be_shut_out_and_needs_confirmation(
    ctx: CoreContext, admin: Actor
) -> None:
    add_person(ctx.db, "nomail", email="", first_name="Nora", last_name="Mail")
    add_person(ctx.db, "badmail", email="not-an-address")
    add_person(ctx.db, "nopassword", email="", password=False)  # cannot sign in anyway
    add_person(ctx.db, None, email="")  # staff without a login
    service = SecurityService(ctx)

    report = service.readiness(admin)
    assert [(p.login, p.reason) for p in report] == [
        ("badmail", "the e-mail address is not valid"),
        ("nomail", "no e-mail address"),
    ]
    assert report[1].name == "Nora Mail"

    version = service.get(admin).version
    with pytest.raises(ShutOutWarning) as refused:
        service.set_two_factor(admin, True, version)
    assert [p.login for p in refused.value.people] == ["badmail", "nomail"]
    assert "2 people could not receive a security code" in str(refused.value)
    assert service.get(admin).two_factor_enabled is False
    assert audit_rows(ctx, Event.TWO_FACTOR_ENABLED) == []

    enabled = service.set_two_factor(admin, True, version, accept_shut_out=True)
    assert enabled.two_factor_enabled is True
    assert enabled.version == version + 1
    (row,) = audit_rows(ctx, Event.TWO_FACTOR_ENABLED)
    assert row.actor == "root"
    assert row.address == "10.0.0.9"
    assert "badmail, nomail" in row.detail

    disabled = service.set_two_factor(admin, False, enabled.version)
    assert disabled.two_factor_enabled is False
    assert len(audit_rows(ctx, Event.TWO_FACTOR_DISABLED)) == 1


def test_enabling_2fa_needs_no_confirmation_when_everyone_has_an_address(
    ctx: CoreContext, admin: Actor
) -> None:
    add_person(ctx.db, "alice", email="alice@example.com")
    service = SecurityService(ctx)
    assert service.readiness(admin) == []
    view = service.set_two_factor(admin, True, service.get(admin).version)
    assert view.two_factor_enabled is True
    with stage(ctx.db) as s:
        assert load_settings(s).two_factor_enabled is True


def test_sms_readiness_looks_at_phone_numbers(ctx: CoreContext, admin: Actor) -> None:
    add_person(ctx.db, "mobile", mobile="0470 12 34 56", email="")
    add_person(ctx.db, "landline", phone="+32 9 234 56 78")
    add_person(ctx.db, "nonumber")
    add_person(ctx.db, "garbage", mobile="12")
    service = SecurityService(ctx)
    service.update_delivery(
        admin, DeliverySettings(method="sms", sms_url="https://sms.example.com/send")
    )
    report = {p.login: p.reason for p in service.readiness(admin)}
    assert report == {
        "garbage": "no valid mobile or phone number",
        "nonumber": "no phone number",
        "root": "no phone number",
    }


def test_trust_days_and_code_lifetime_are_validated_per_field(
    ctx: CoreContext, admin: Actor
) -> None:
    service = SecurityService(ctx)
    version = service.get(admin).version
    with pytest.raises(ValidationError) as bad:
        service.update(admin, version, trust_days=91, code_ttl_minutes=0)
    assert set(bad.value.errors) == {"trust_days", "code_ttl_minutes"}
    assert "from 1 to 90" in bad.value.errors["trust_days"]
    assert "from 1 to 10" in bad.value.errors["code_ttl_minutes"]
    for wrong in (0, -1, True):
        with pytest.raises(ValidationError):
            service.update(admin, version, trust_days=wrong)
    assert service.get(admin).trust_days == 30

    saved = service.update(admin, version, trust_days=90, code_ttl_minutes=1)
    assert (saved.trust_days, saved.code_ttl_minutes, saved.version) == (90, 1, version + 1)
    assert saved.updated_at is not None
    (row,) = audit_rows(ctx, Event.SETTING_CHANGED)
    assert row.detail == "trust_days 30 → 90, code_ttl_minutes 10 → 1"


def test_two_admins_editing_at_once_cannot_overwrite_each_other(ctx: CoreContext) -> None:
    first = actor(add_person(ctx.db, "first"), "first")
    second = actor(add_person(ctx.db, "second"), "second")
    service = SecurityService(ctx)
    seen_by_both = service.get(first).version

    service.update(first, seen_by_both, trust_days=14)
    with pytest.raises(ConflictError, match="changed on another workstation"):
        service.update(second, seen_by_both, trust_days=60)
    with pytest.raises(ConflictError):
        service.set_two_factor(second, True, seen_by_both)
    with pytest.raises(ConflictError):
        service.update_delivery(second, DeliverySettings(outbox_folder="/tmp/x"), seen_by_both)

    now = service.get(second)
    assert now.trust_days == 14
    assert now.two_factor_enabled is False
    assert now.delivery.outbox_folder == ""
    assert [r.actor for r in audit_rows(ctx, Event.SETTING_CHANGED)] == ["first"]
    # Reloading gives the current version, and then the change goes through.
    assert service.update(second, now.version, trust_days=60).trust_days == 60


GOOD_SMTP = DeliverySettings(
    method="smtp",
    smtp_host="smtp.Example.com",
    smtp_port=587,
    smtp_security="starttls",
    smtp_username="mailer",
    smtp_from=" codes@Example.COM ",
)


def test_delivery_settings_are_validated(ctx: CoreContext, admin: Actor) -> None:
    service = SecurityService(ctx)
    cases: list[tuple[DeliverySettings, str, str]] = [
        (replace(GOOD_SMTP, smtp_port=0), "smtp_port", "from 1 to 65535"),
        (replace(GOOD_SMTP, smtp_port=65536), "smtp_port", "from 1 to 65535"),
        (replace(GOOD_SMTP, smtp_host=""), "smtp_host", "Enter the mail server"),
        (replace(GOOD_SMTP, smtp_host="bad host!"), "smtp_host", "not a valid server name"),
        (replace(GOOD_SMTP, smtp_from="codes@"), "smtp_from", "not a valid e-mail"),
        (replace(GOOD_SMTP, smtp_from=""), "smtp_from", "Enter the sender address"),
        (replace(GOOD_SMTP, smtp_from="Garage <codes@>"), "smtp_from", "not a valid e-mail"),
        (
            replace(GOOD_SMTP, smtp_from="codes@example.com\r\nBcc: all@example.com"),
            "smtp_from",
            "one line",
        ),
        (replace(GOOD_SMTP, smtp_security="none"), "smtp_security", "localhost"),
        (replace(GOOD_SMTP, smtp_security="ssl"), "smtp_security", "STARTTLS or TLS"),  # type: ignore[arg-type]
        (DeliverySettings(method="sms", sms_url=""), "sms_url", "Enter the SMS gateway URL"),
        (
            DeliverySettings(method="sms", sms_url="http://sms.example.com/send"),
            "sms_url",
            "must use https://",
        ),
        (
            DeliverySettings(method="sms", sms_url="https://user:pw@sms.example.com/"),
            "sms_url",
            "keyring",
        ),
        (DeliverySettings(method="sms", sms_url="ftp://sms.example.com/"), "sms_url", "https://"),
        (DeliverySettings(outbox_folder="relative/folder"), "outbox_folder", "full path"),
        (DeliverySettings(method="pigeon"), "method", "Choose how codes"),  # type: ignore[arg-type]
    ]
    version = service.get(admin).version
    for settings, field, message in cases:
        with pytest.raises(ValidationError) as bad:
            service.update_delivery(admin, settings, version)
        assert field in bad.value.errors, (settings, bad.value.errors)
        assert message in bad.value.errors[field]
    assert service.get(admin).version == version

    saved = service.update_delivery(admin, GOOD_SMTP, version)
    assert saved.delivery.smtp_host == "smtp.example.com"
    assert saved.delivery.smtp_from == "codes@example.com"
    assert saved.version == version + 1
    (row,) = audit_rows(ctx, Event.SETTING_CHANGED)
    assert row.detail == ("changed: method, smtp_host, smtp_username, smtp_from")
    assert "example" not in row.detail and "mailer" not in row.detail

    # A display name is kept, as the SMTP delivery uses it.
    named = service.update_delivery(
        admin, replace(GOOD_SMTP, smtp_from="Garage Smets <Codes@Example.com>")
    )
    assert named.delivery.smtp_from == "Garage Smets <Codes@example.com>"

    # Loopback exceptions: a local relay without TLS, a local gateway over http.
    local = service.update_delivery(
        admin, replace(GOOD_SMTP, smtp_host="127.0.0.1", smtp_port=2525, smtp_security="none")
    )
    assert local.delivery.smtp_security == "none"
    gateway = service.update_delivery(
        admin, DeliverySettings(method="sms", sms_url="http://localhost:8080/sms")
    )
    assert gateway.delivery.method == "sms"
    # Saving the same values again changes nothing and logs nothing.
    again = service.update_delivery(admin, gateway.delivery, gateway.version)
    assert again.version == gateway.version
    assert len(audit_rows(ctx, Event.SETTING_CHANGED)) == 4


def test_connection_status_reports_links_and_this_workstation(
    ctx: CoreContext, admin: Actor
) -> None:
    service = SecurityService(ctx)
    status = service.connection_status(admin)
    if ctx.db.is_sqlite:
        assert status.database_encrypted is None
        assert status.workstation_address
    else:
        # The test servers listen on loopback without TLS.
        assert status.database_encrypted is False
        assert status.workstation_address == "127.0.0.1"
    assert status.mail_encrypted is None
    # One wording everywhere: the delivery method's own label.
    assert status.mail_label == f"{OUTBOX_LABEL}: {ctx.outbox_default}"

    service.update_delivery(admin, GOOD_SMTP)
    status = service.connection_status(admin)
    assert status.mail_encrypted is True
    assert status.mail_label == "E-mail via smtp.example.com:587 (STARTTLS)"

    service.update_delivery(admin, replace(GOOD_SMTP, smtp_security="tls", smtp_port=465))
    assert service.connection_status(admin).mail_label.endswith("465 (TLS)")

    service.update_delivery(admin, DeliverySettings(method="sms", sms_url="https://gw.example/s"))
    status = service.connection_status(admin)
    assert status.mail_encrypted is True
    assert status.mail_label == "Text message via the SMS gateway https://gw.example (HTTPS)"


def test_command_line_acts_without_a_group_but_is_audited(ctx: CoreContext) -> None:
    service = SecurityService(ctx)
    cli = Actor.command_line()
    view = service.set_two_factor(cli, True, service.get(cli).version)
    assert view.two_factor_enabled
    (row,) = audit_rows(ctx, Event.TWO_FACTOR_ENABLED)
    assert row.actor.endswith("(cli)")
    assert row.workstation == cli.workstation


@ONE_PERSON_PER_PROCESS
def test_simultaneous_saves_one_wins_the_other_is_told(ctx: CoreContext) -> None:
    admins = [actor(add_person(ctx.db, f"admin{i}"), f"admin{i}") for i in range(2)]
    service = SecurityService(ctx)
    version = service.get(admins[0]).version
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def save(who: Actor, days: int) -> None:
        start.wait()
        try:
            service.update(who, version, trust_days=days)
            outcomes.append(f"saved {days}")
        except ConflictError:
            outcomes.append("conflict")

    pairs = zip(admins, (7, 8), strict=True)
    threads = [threading.Thread(target=save, args=pair) for pair in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes)[0] == "conflict" and len(outcomes) == 2
    winner = int(sorted(outcomes)[1].split()[1])
    assert service.get(admins[0]).trust_days == winner
    assert len(audit_rows(ctx, Event.SETTING_CHANGED)) == 1
