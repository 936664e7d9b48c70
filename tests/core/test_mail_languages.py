"""Messages in the recipient's language (issue 15 §3), with real mail servers and a real SMS
gateway on loopback, on every engine: the security-code e-mail and text message, the trust
alert and the test message go out in the person's Personnel language, else in the language of
the workstation that sent them (``CoreContext.language``). A person's own language is saved
without Personnel Edit, and a sign-in says which it is.

The relay's side (a hardened PostgreSQL) is tests/core/test_relay_languages.py.
"""

from __future__ import annotations

import email
import email.policy
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QDate, QDateTime, QLocale, QTime
from sqlalchemy import select

from pmdesk.core.audit import Event
from pmdesk.core.auth import LoginService
from pmdesk.core.context import CoreContext
from pmdesk.core.delivery.base import DeliverySettings
from pmdesk.core.delivery.factory import delivery_for
from pmdesk.core.delivery.mail_dates import mail_time
from pmdesk.core.login_results import CodeNeeded, SignedIn
from pmdesk.core.models import Language, Person
from pmdesk.core.my_language import set_my_language
from pmdesk.core.security import SecurityService
from pmdesk.secrets import sms_key
from tests.helpers.databases import stage
from tests.helpers.hardened import RELAY_DELIVERS, SIGN_IN_TRUST
from tests.helpers.login import (
    ROUTABLE_ADDRESS,
    WORKSTATION,
    add_user,
    audit_events,
    cheap_passwords,
    enable_two_factor,
)
from tests.helpers.smtp import SENDER, SmsGateway, SmtpServer
from tests.helpers.staff import actor, add_group

PASSWORD = "Spring-Tide-42"
HELPDESK = "helpdesk@workshop.example"
CODE_LINE = re.compile(r"^    ([0-9]{6})$", re.MULTILINE)

#: What each language's code mail says: its subject and its first sentence.
SAYS = {
    "en-GB": ("pmdesk security code", "Your pmdesk security code is:"),
    "nl-BE": ("pmdesk-beveiligingscode", "Uw pmdesk-beveiligingscode is:"),
    "fr-BE": ("Code de sécurité pmdesk", "Votre code de sécurité pmdesk est :"),
}


def speaks(ctx: CoreContext, person_id: int, code: str | None) -> None:
    """Set the person's Personnel "Language" (None: none), as Personnel would."""
    with stage(ctx.db) as s:
        language = s.scalar(select(Language.id).where(Language.code == code)) if code else None
        person = s.get(Person, person_id)
        assert person is not None
        person.language_id = language


def language_of(ctx: CoreContext, person_id: int) -> str | None:
    with stage(ctx.db) as s:
        person = s.get(Person, person_id)
        assert person is not None
        return person.language.code if person.language is not None else None


def _smtp(ctx: CoreContext, server: SmtpServer, **extra: Any) -> None:
    enable_two_factor(
        ctx,
        delivery_method="smtp",
        smtp_host=server.host,
        smtp_port=server.port,
        smtp_security="none",
        smtp_username="",
        smtp_from=SENDER,
        **extra,
    )


def _login(ctx: CoreContext, **options: Any) -> LoginService:
    return LoginService(ctx, passwords=cheap_passwords(), workstation=WORKSTATION, **options)


@pytest.mark.parametrize("language", ["en-GB", "nl-BE", "fr-BE"])
def test_dates_in_mail_are_written_as_the_screens_write_them(language: str) -> None:
    """The core's Qt-free month names are QLocale's, for every month."""
    locale = QLocale(language.replace("-", "_"))
    for month in range(1, 13):
        moment = datetime(2026, month, 2, 14, 5, 9)
        qt = QDateTime(QDate(2026, month, 2), QTime(14, 5, 9))
        assert mail_time(moment, language) == locale.toString(qt, "d MMM yyyy HH:mm")
        assert mail_time(moment, language, seconds=True) == locale.toString(
            qt, "d MMM yyyy HH:mm:ss"
        )
    assert mail_time(datetime(2026, 12, 2, 14, 5), "fr-BE") == "2 déc. 2026 14:05"


@RELAY_DELIVERS
@pytest.mark.parametrize(
    ("own", "workstation", "expected"),
    [
        ("nl-BE", "fr-BE", "nl-BE"),  # the person's own language first
        ("fr-BE", "en-GB", "fr-BE"),
        (None, "fr-BE", "fr-BE"),  # none of their own: the workstation's
        (None, "en-GB", "en-GB"),
    ],
)
def test_the_code_mail_is_in_the_persons_language_else_the_workstations(
    ctx: CoreContext,
    smtp_plain_server: SmtpServer,
    own: str | None,
    workstation: str,
    expected: str,
) -> None:
    anne = add_user(ctx, "anne", PASSWORD, first_name="Anne", last_name="Peeters")
    speaks(ctx, anne, own)
    _smtp(ctx, smtp_plain_server)
    ctx.language = workstation

    needed = _login(ctx).begin("anne", PASSWORD)

    assert isinstance(needed, CodeNeeded), needed
    [mail] = smtp_plain_server.received
    subject, first = SAYS[expected]
    assert mail.message["Subject"] == subject
    text = mail.text
    assert first in text
    [code] = CODE_LINE.findall(text)
    signed = _login(ctx).verify(needed.challenge_id, code, trust_this_ip=False)
    assert isinstance(signed, SignedIn)
    assert signed.language == own


@RELAY_DELIVERS
def test_the_code_text_message_is_in_the_persons_language(
    ctx: CoreContext, sms_gateway: SmsGateway
) -> None:
    anne = add_user(ctx, "anne", PASSWORD, mobile="0470 12 34 56")
    speaks(ctx, anne, "nl-BE")
    enable_two_factor(ctx, delivery_method="sms", sms_url=sms_gateway.url)
    ctx.secrets.set(sms_key(sms_gateway.url), sms_gateway.token)

    def gateway(settings: DeliverySettings) -> Any:
        return delivery_for(
            settings, ctx.secrets, ctx.outbox_default, ssl_context=sms_gateway.client_context
        )

    needed = _login(ctx, delivery_factory=gateway).begin("anne", PASSWORD)

    assert isinstance(needed, CodeNeeded), needed
    [request] = sms_gateway.received
    text = request.body["message"]
    assert text.startswith("pmdesk-beveiligingscode: ")
    assert "10 minuten geldig, eenmalig" in text
    assert "Was u dit niet?" in text


@SIGN_IN_TRUST
def test_the_trust_alert_reaches_the_person_in_theirs_and_the_helpdesk_in_the_workstations(
    ctx: CoreContext, smtp_plain_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ctx.db, "client_address", lambda session: ROUTABLE_ADDRESS)
    anne = add_user(ctx, "anne", PASSWORD, first_name="Anne", last_name="Peeters")
    speaks(ctx, anne, "nl-BE")
    _smtp(ctx, smtp_plain_server, helpdesk_mailbox=f"Helpdesk <{HELPDESK}>")
    ctx.language = "fr-BE"  # the workstation that trusts the address speaks French
    login = _login(ctx)
    needed = login.begin("anne", PASSWORD)
    assert isinstance(needed, CodeNeeded), needed
    [code] = CODE_LINE.findall(smtp_plain_server.received[0].text)

    signed = login.verify(needed.challenge_id, code, trust_this_ip=True)

    assert isinstance(signed, SignedIn), signed
    alerts = {mail.rcpt_tos[0]: mail for mail in smtp_plain_server.received[1:]}
    dutch, french = alerts["anne@insypro.com"], alerts[HELPDESK]
    assert dutch.message["Subject"] == "pmdesk: nieuw vertrouwd IP-adres voor anne"
    assert "Beste Anne Peeters," in dutch.text
    assert f"    Adres:     {ROUTABLE_ADDRESS}" in dutch.text
    assert "Dit adres ligt buiten de kantoornetwerken." in dutch.text
    assert french.message["Subject"] == "pmdesk : nouvelle adresse IP de confiance pour anne"
    assert "Cette adresse se trouve en dehors des réseaux du bureau." in french.text
    month = r"(janv\.|févr\.|mars|avr\.|mai|juin|juil\.|août|sept\.|oct\.|nov\.|déc\.)"
    assert re.search(rf"Quand :\s+\d{{1,2}} {month} \d{{4}} \d\d:\d\d:\d\d UTC", french.text)
    assert len(_events(ctx, Event.ALERT_SENT)) == 2


def _events(ctx: CoreContext, event: Event) -> list[str]:
    return [e.detail for e in audit_events(ctx) if e.event == event]


@RELAY_DELIVERS
def test_the_test_message_is_in_the_workstations_language(ctx: CoreContext, tmp_path: Path) -> None:
    admin = actor(add_user(ctx, "root", PASSWORD), "root", address="10.1.2.3")
    ctx.language = "nl-BE"

    sent = SecurityService(ctx).send_test_code(admin, "helpdesk@workshop.example")

    assert sent.file is not None
    mail = email.message_from_bytes(sent.file.read_bytes(), policy=email.policy.default)
    assert mail["Subject"] == "pmdesk-beveiligingscode (test)"
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert text.startswith("Goedendag,\n\nDIT IS EEN TEST.")
    assert "vanaf het adres 10.1.2.3" in text


@pytest.mark.not_hardened(
    "the server's set_my_language does it there: tests/server/test_attacks_language.py"
)
def test_a_person_without_personnel_rights_sets_their_own_language_audited(
    ctx: CoreContext,
) -> None:
    nobody = add_group(ctx.db, "Drivers", {})
    anne = add_user(ctx, "anne", PASSWORD)
    with stage(ctx.db) as s:
        person = s.get(Person, anne)
        assert person is not None
        person.group_id = nobody
    me = actor(anne, "anne")

    assert set_my_language(ctx, me, "fr_BE") == "fr-BE"
    assert language_of(ctx, anne) == "fr-BE"
    set_my_language(ctx, me, "fr-BE")  # no change: not logged again
    set_my_language(ctx, me, "nl-BE")
    assert language_of(ctx, anne) == "nl-BE"
    assert _events(ctx, Event.PERSON_UPDATED) == ["language_id", "language_id"]

    signed = _login(ctx).begin("anne", PASSWORD)
    assert isinstance(signed, SignedIn) and signed.language == "nl-BE"
