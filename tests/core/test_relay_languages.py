"""The relay writes in the recipient's language too (issue 15 §3): on a hardened PostgreSQL
the server queues the codes and alerts and ``relay_claim`` hands the relay the person's
Personnel language with each row. The relay knows no workstation: a person without a language
of their own gets English. Real SMTP server on loopback, the relay as its own role.
"""

from __future__ import annotations

from pathlib import Path

from pmdesk.core.auth import CodeNeeded, LoginService, SignedIn
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.core.relay import Relay
from pmdesk.secrets import MemoryStore
from tests.helpers.databases import HardenedDatabase
from tests.helpers.login import add_user, cheap_passwords
from tests.helpers.pg import sql
from tests.helpers.relay import relay_fixtures, relay_url, use_smtp
from tests.helpers.smtp import SmtpServer

hardened, anne = relay_fixtures()
HELPDESK = "helpdesk@workshop.example"
PASSWORD = "bert's long secret"


def _speaks(hardened: HardenedDatabase, person: int, code: str | None) -> None:
    sql(
        hardened.owner_url,
        "UPDATE pmdesk.personnel SET language_id = "
        "(SELECT id FROM pmdesk.languages WHERE code = %s) WHERE id = %s",
        code,
        person,
    )


def _relay_once(hardened: HardenedDatabase, tmp_path: Path) -> None:
    relay = Relay(relay_url(hardened), secrets=MemoryStore(), outbox_default=tmp_path / "outbox")
    assert relay.run(once=True) == 0


def test_the_relay_mails_a_trust_alert_in_the_persons_language(
    hardened: HardenedDatabase, anne: int, smtp_plain_server: SmtpServer, tmp_path: Path
) -> None:
    _speaks(hardened, anne, "nl-BE")
    use_smtp(hardened, smtp_plain_server.host, smtp_plain_server.port)
    sql(
        hardened.owner_url,
        "SELECT pmdesk.trust_address_internal(p, '198.51.100.31', 'ws-home-7', pmdesk.now()) "
        "FROM pmdesk.personnel p WHERE p.id = %s",
        anne,
    )

    _relay_once(hardened, tmp_path)

    [mail] = smtp_plain_server.received
    assert mail.message["Subject"] == "pmdesk: nieuw vertrouwd IP-adres voor anne"
    assert "    Adres:     198.51.100.31" in mail.text
    assert "    Werkpost:  ws-home-7" in mail.text
    assert "Was u dit niet? Bel de helpdesk (referentie #" in mail.text


def test_a_french_person_signs_in_with_a_french_code_mail_and_in_french(
    hardened: HardenedDatabase,
    anne: int,
    smtp_plain_server: SmtpServer,
    tmp_path: Path,
    clock: ShiftedClock,
) -> None:
    """The whole way: the server queues the code, the relay mails it in French, and the
    server's sign-in answer names the person's language, for the app to switch to."""
    sql(hardened.owner_url, "UPDATE pmdesk.security_settings SET two_factor_enabled = true")
    use_smtp(hardened, smtp_plain_server.host, smtp_plain_server.port)
    db = Database(hardened.workstation_url)
    ws = CoreContext(db=db, secrets=MemoryStore(), outbox_default=tmp_path, clock=clock)
    try:
        bert = add_user(ws, "bert", PASSWORD, email="bert@example.com")
        _speaks(hardened, bert, "fr-BE")
        login = LoginService(ws, passwords=cheap_passwords(), workstation="ws-test")
        needed = login.begin("bert", PASSWORD)
        assert isinstance(needed, CodeNeeded), needed
        _relay_once(hardened, tmp_path)
        [mail] = smtp_plain_server.received
        assert mail.message["Subject"] == "Code de sécurité pmdesk"
        assert "Votre code de sécurité pmdesk est :" in mail.text
        assert "Il est valable 10 minutes" in mail.text
        code = next(line.strip() for line in mail.text.splitlines() if line.startswith("    "))
        signed = login.verify(needed.challenge_id, code, False)
        assert isinstance(signed, SignedIn), signed
        assert signed.language == "fr-BE"
    finally:
        sql(hardened.owner_url, "UPDATE pmdesk.security_settings SET two_factor_enabled = false")
        db.dispose()


def test_without_a_language_of_their_own_the_relay_writes_english(
    hardened: HardenedDatabase, anne: int, smtp_plain_server: SmtpServer, tmp_path: Path
) -> None:
    use_smtp(hardened, smtp_plain_server.host, smtp_plain_server.port)
    sql(
        hardened.owner_url,
        "SELECT pmdesk.trust_address_internal(p, '198.51.100.32', 'ws-home-7', pmdesk.now()) "
        "FROM pmdesk.personnel p WHERE p.id = %s",
        anne,
    )

    _relay_once(hardened, tmp_path)

    [mail] = smtp_plain_server.received
    assert mail.message["Subject"] == "pmdesk: new trusted address for anne"
