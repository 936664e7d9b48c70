"""System → Security, the code delivery form for every method (issue 14, items 6 and 7): only
the fields the chosen method needs, each with its hint; the secret to the keyring; errors next
to their field; the failed step of a test; the warning when recent sends failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App
from pmdesk.core.context import Actor
from pmdesk.core.delivery import health
from pmdesk.core.delivery.base import DeliveryError, DeliverySettings
from pmdesk.core.delivery.fields import FIELD_HINTS, SECRET_HINTS
from pmdesk.core.security import SecurityService
from pmdesk.secrets import google_key, m365_key, sms_provider_key
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.system.mail_settings import MailSettingsBox
from pmdesk.ui.system.security import SecurityPage
from pmdesk.ui.translation import install_translation
from tests.helpers import hardened
from tests.helpers.qt import security_idle
from tests.ui.screenshots import capture, screenshot_dir, settle
from tests.ui.system_pages import not_clipped, open_page

OTHER = Actor.system("another workstation")
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "2ba3c5a0-4b8c-4c1a-9d3e-0f1e2d3c4b5a"
THUMBPRINT = "A1B2C3D4E5F60718293A4B5C6D7E8F9012345678"
PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
TWILIO_SID = "AC" + "0123456789abcdef" * 2
SERVICE_ACCOUNT = "pmdesk-codes@insypro-mail.iam.gserviceaccount.com"


def _json_key(email: str = SERVICE_ACCOUNT) -> str:
    return json.dumps(
        {
            "type": "service_account",
            "client_email": email,
            "client_id": "1234567890",
            "private_key": "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n",
            "token_uri": "https://oauth2.googleapis.com/token",
        },
        indent=2,
    )


@pytest.fixture
def page(qtbot: QtBot, ui_app: App, admin_id: int, main_window: MainWindow) -> SecurityPage:
    widget = open_page(qtbot, main_window, "security")
    assert isinstance(widget, SecurityPage)
    qtbot.waitUntil(lambda: security_idle(widget))
    return widget


def _choose(box: MailSettingsBox, method: str) -> None:
    box.method_combo.setCurrentIndex(box.method_combo.findData(method))


def _type(qtbot: QtBot, box: MailSettingsBox, name: str, text: str) -> None:
    edit = box.edits[name]
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, text)
    edit.editingFinished.emit()


def _paste(box: MailSettingsBox, name: str, text: str) -> None:
    """As Ctrl+V does: one edit with the whole text (newlines kept)."""
    edit = box.edits[name]
    edit.setFocus()
    edit.selectAll()
    edit.insert(text)
    edit.textEdited.emit(edit.text())


def _save(qtbot: QtBot, page: SecurityPage) -> None:
    box = page.mail_box
    qtbot.mouseClick(box.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: security_idle(page) and box.message.isVisible(), timeout=15_000)


def _hint(box: MailSettingsBox, name: str) -> str:
    hint = box.fields.hints[name]
    return hint.text() if hint.isVisibleTo(box) else ""


def _label(box: MailSettingsBox, name: str) -> str:
    return box.fields.labels[name].text()


# ----- which fields each method shows -------------------------------------------------------------


def test_every_method_is_offered_and_shows_only_its_fields(page: SecurityPage) -> None:
    box = page.mail_box
    offered = [box.method_combo.itemData(i) for i in range(box.method_combo.count())]
    assert offered == ["outbox", "smtp", "m365", "google", "graph", "sms", "twilio", "vonage", "cm"]
    expected = {
        "outbox": ["outbox_folder"],
        "m365": [
            "smtp_from",
            "m365_tenant_id",
            "m365_client_id",
            "m365_auth",
            "secret",
            "smtp_host",
            "smtp_port",
            "smtp_security",
        ],
        "google": [
            "smtp_from",
            "secret",
            "google_client_email",
            "smtp_host",
            "smtp_port",
            "smtp_security",
        ],
        "graph": ["smtp_from", "m365_tenant_id", "m365_client_id", "m365_auth", "secret"],
        "twilio": ["sms_account", "secret", "sms_sender", "phone_region"],
        "vonage": ["sms_account", "secret", "sms_sender", "phone_region"],
        "cm": ["secret", "sms_sender", "phone_region"],
    }
    for method, names in expected.items():
        _choose(box, method)
        assert box.visible_fields() == names, method
        every = set(box.fields.boxes)
        for name in every:
            shown = box.fields.boxes[name].isVisibleTo(box)
            assert shown == (name in names), (method, name)


def test_each_field_has_its_one_line_hint(page: SecurityPage) -> None:
    box = page.mail_box
    _choose(box, "m365")
    assert _label(box, "m365_client_id") == "Application (client) ID"
    assert _hint(box, "m365_client_id") == (
        "Entra admin center → App registrations → your app → Application (client) ID."
    )
    assert _hint(box, "m365_tenant_id") == FIELD_HINTS["m365_tenant_id"]
    assert _hint(box, "smtp_host") == "Empty: smtp.office365.com."
    assert _label(box, "secret") == "Client secret"
    assert _hint(box, "secret") == "Certificates & secrets → the secret's Value (not its ID)."
    # The hint is what a screen reader says with the field.
    assert box.edits["m365_client_id"].accessibleDescription() == _hint(box, "m365_client_id")
    assert box.method_hint.text() == "E-mail: Microsoft 365 (SMTP with OAuth)"
    assert _hint(box, "smtp_from") == "The mailbox that sends the codes."

    # A certificate: its thumbprint is asked for, and the secret is its PEM private key.
    box.auth_combo.setCurrentIndex(box.auth_combo.findData("certificate"))
    assert "m365_thumbprint" in box.visible_fields()
    assert _hint(box, "m365_thumbprint") == FIELD_HINTS["m365_thumbprint"]
    assert _label(box, "secret") == "Private key (PEM)"
    assert _hint(box, "secret").startswith("The certificate's PEM private key: paste it")

    _choose(box, "twilio")
    assert not box.method_hint.isVisibleTo(box)  # "Text message: Twilio" says no more
    assert _label(box, "sms_account") == "Account SID"
    assert _hint(box, "sms_account") == "Twilio Console → Account Info → Account SID."
    assert _label(box, "secret") == "Auth Token"
    assert _hint(box, "secret") == SECRET_HINTS["twilio"]
    assert _label(box, "phone_region") == "Phone region"
    assert "BE, NL" in _hint(box, "phone_region")
    assert box.edits["phone_region"].text() == "BE"  # the default
    assert box.test_edit.placeholderText() == "mobile number"


# ----- saving ----------------------------------------------------------------------------------


def test_microsoft_365_with_a_certificate_pem_key_to_the_keyring(
    qtbot: QtBot, page: SecurityPage, ui_app: App
) -> None:
    box = page.mail_box
    _choose(box, "m365")
    _type(qtbot, box, "smtp_from", "codes@insypro.com")
    _type(qtbot, box, "m365_tenant_id", TENANT)
    _type(qtbot, box, "m365_client_id", CLIENT)
    box.auth_combo.setCurrentIndex(box.auth_combo.findData("certificate"))
    _type(qtbot, box, "m365_thumbprint", THUMBPRINT.lower())
    _paste(box, "secret", "not a key")
    box.edits["secret"].editingFinished.emit()
    assert box.field_error("secret").startswith("Paste the certificate's PEM private key")
    qtbot.mouseClick(box.save_button, Qt.MouseButton.LeftButton)
    assert box.message.text() == "Not saved: correct the fields marked in red."
    assert SecurityService(ui_app.context).get(OTHER).delivery.method == "outbox"

    _paste(box, "secret", PEM)
    box.edits["secret"].editingFinished.emit()
    assert box.field_error("secret") == ""
    _save(qtbot, page)
    assert box.message.role == "success", box.message.text()
    saved = SecurityService(ui_app.context).get(OTHER).delivery
    assert (saved.method, saved.m365_auth, saved.m365_thumbprint) == (
        "m365",
        "certificate",
        THUMBPRINT,
    )
    assert ui_app.context.secrets.get(m365_key(TENANT, CLIENT, "certificate")) == PEM.strip()
    assert box.edits["secret"].text() == ""  # never shown back
    assert box.edits["secret"].placeholderText() == "stored in the keyring; type to replace"
    assert box.secret_hint.text().startswith(
        "The certificate private key (PEM) is kept in this computer's keyring"
    )


def test_google_json_key_names_the_service_account(
    qtbot: QtBot, page: SecurityPage, ui_app: App
) -> None:
    box = page.mail_box
    _choose(box, "google")
    assert box.edits["google_client_email"].isReadOnly()
    _type(qtbot, box, "smtp_from", "codes@insypro.com")
    _paste(box, "secret", '{"type": "authorized_user"}')
    assert "not a service account key" in box.field_error("secret")
    assert box.edits["google_client_email"].text() == ""

    _paste(box, "secret", _json_key())
    assert box.field_error("secret") == ""
    assert box.edits["google_client_email"].text() == SERVICE_ACCOUNT
    _save(qtbot, page)
    assert box.message.role == "success", box.message.text()
    saved = SecurityService(ui_app.context).get(OTHER).delivery
    assert (saved.method, saved.google_client_email) == ("google", SERVICE_ACCOUNT)
    stored = ui_app.context.secrets.get(google_key(SERVICE_ACCOUNT))
    assert stored is not None and json.loads(stored)["client_email"] == SERVICE_ACCOUNT


def test_a_key_file_is_read_into_the_secret(
    qtbot: QtBot, page: SecurityPage, ui_app: App, tmp_path: Path
) -> None:
    """ "From file…" beside the secret, for the secrets that are files: read on a worker thread
    as if pasted."""
    box = page.mail_box
    button = box.fields.key_file_button
    _choose(box, "twilio")
    assert not button.isVisibleTo(box)  # an Auth Token is typed
    _choose(box, "m365")
    assert not button.isVisibleTo(box)  # so is a client secret
    box.auth_combo.setCurrentIndex(box.auth_combo.findData("certificate"))
    assert button.isVisibleTo(box)
    _choose(box, "google")
    assert button.isVisibleTo(box) and button.text() == "From file…"
    inputs = box.fields.inputs()
    assert inputs.index(button) == inputs.index(box.edits["secret"]) + 1  # Tab goes there next

    key = tmp_path / "insypro-mail-1234.json"
    key.write_text(_json_key() + "\n", encoding="utf-8")
    box.read_key_file(str(key))
    qtbot.waitUntil(lambda: box.edits["google_client_email"].text() == SERVICE_ACCOUNT)
    assert box.secret_typed() == _json_key()
    assert box.field_error("secret") == ""
    assert box.save_button.isEnabled()

    big = tmp_path / "photo.jpg"
    big.write_bytes(b"\xff" * 100_000)
    box.read_key_file(str(big))
    qtbot.waitUntil(lambda: box.field_error("secret") != "")
    assert box.field_error("secret") == "The file could not be read: it is too large to be a key"
    box.read_key_file(str(tmp_path / "gone.json"))
    qtbot.waitUntil(lambda: "No such file" in box.field_error("secret"))
    assert box.secret_typed() == _json_key()  # what was read before stays


def test_a_failed_save_keeps_everything_typed_with_each_error_next_to_its_field(
    qtbot: QtBot, page: SecurityPage, ui_app: App
) -> None:
    box = page.mail_box
    _choose(box, "twilio")
    _type(qtbot, box, "sms_account", "AC123")
    _type(qtbot, box, "sms_sender", "+31 6 1234")
    _type(qtbot, box, "phone_region", "nl")
    _paste(box, "secret", "auth-token-1")
    _save(qtbot, page)
    assert box.message.text() == "Not saved: correct the fields marked in red."
    assert box.field_error("sms_account") == (
        "The Twilio Account SID is AC followed by 32 hexadecimal characters."
    )
    assert "not a valid phone number" in box.field_error("sms_sender")
    assert box.field_error("phone_region") == ""
    # Everything typed is still there, the secret too.
    assert box.edits["sms_account"].text() == "AC123"
    assert box.edits["sms_sender"].text() == "+31 6 1234"
    assert box.edits["secret"].text() == "auth-token-1"
    assert SecurityService(ui_app.context).get(OTHER).delivery.method == "outbox"

    # Corrected: the errors go as it is typed, and it saves (a Dutch number, region NL).
    _type(qtbot, box, "sms_account", TWILIO_SID)
    assert box.field_error("sms_account") == ""
    _type(qtbot, box, "sms_sender", "06 12345678")
    assert box.field_error("sms_sender") == ""
    _save(qtbot, page)
    assert box.message.role == "success", box.message.text()
    saved = SecurityService(ui_app.context).get(OTHER).delivery
    assert (saved.method, saved.sms_sender, saved.phone_region) == ("twilio", "+31612345678", "NL")
    assert ui_app.context.secrets.get(sms_provider_key("twilio", TWILIO_SID)) == "auth-token-1"


def test_a_bad_phone_region_is_marked_under_it(qtbot: QtBot, page: SecurityPage) -> None:
    box = page.mail_box
    _choose(box, "cm")
    _type(qtbot, box, "phone_region", "XX")
    assert box.field_error("phone_region") == (
        "The phone region 'XX' is not a country code such as BE or NL."
    )


# ----- the test code and the delivery health ------------------------------------------------------


@hardened.RELAY_DELIVERS
def test_send_test_code_says_which_step_failed_and_the_box_warns(
    qtbot: QtBot, page: SecurityPage, ui_app: App
) -> None:
    """Twilio saved without its Auth Token in the keyring: the test fails at "settings", and
    since that breaks every send, the box warns at its top."""
    box = page.mail_box
    service = SecurityService(ui_app.context)
    current = service.get(OTHER)
    twilio = DeliverySettings(method="twilio", sms_account=TWILIO_SID, sms_sender="pmdesk")
    service.update_delivery(OTHER, twilio, current.version)
    page.load_state()
    qtbot.waitUntil(lambda: security_idle(page) and box.method == "twilio")
    assert not box.health.isVisible()

    qtbot.keyClicks(box.test_edit, "+32 470 12 34 56")
    qtbot.mouseClick(box.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: security_idle(page) and box.message.role == "error", timeout=15_000)
    assert box.message.text().startswith("Failed at: settings (settings). No Twilio Auth Token")
    qtbot.waitUntil(lambda: security_idle(page) and box.health.isVisible())
    assert box.health.text().startswith("The last security code could not be sent (")
    assert "failed at: settings" in box.health.text()

    # Sends work again: the warning goes when the screen is loaded.
    with ui_app.db.session() as s:
        health.record(s, ui_app.context.clock.now(s), "twilio", None)
    page.load_state()
    qtbot.waitUntil(lambda: security_idle(page) and not box.health.isVisible())


def test_the_warning_is_there_when_the_screen_opens(
    qtbot: QtBot, ui_app: App, admin_id: int, main_window: MainWindow
) -> None:
    with ui_app.db.session() as s:
        now = ui_app.context.clock.now(s)
        for _ in range(3):
            health.record(s, now, "outbox", DeliveryError("The disk is full.", step="send"))
    page = open_page(qtbot, main_window, "security")
    assert isinstance(page, SecurityPage)
    qtbot.waitUntil(lambda: security_idle(page) and page.mail_box.health.isVisible())
    assert page.mail_box.health.text().startswith("The last 3 security codes could not be sent")
    assert page.mail_box.health.text().endswith("The disk is full.")
    assert page.mail_box.health.role == "error"


# ----- screenshots at 1024 x 768 (and at 150 % with QT_SCALE_FACTOR=1.5) -----------------------


def test_delivery_form_screenshots(
    qtbot: QtBot, page: SecurityPage, main_window: MainWindow, tmp_path: Path
) -> None:
    """docs/screenshots/security-delivery-<method>.png with PMDESK_SCREENSHOTS=1."""
    folder = screenshot_dir(tmp_path / "screenshots")
    main_window.resize(1024, 768)
    box = page.mail_box
    box.show_health(
        "The last 2 security codes could not be sent (2026-12-02 09:14 UTC, failed at: "
        "authenticate; last success 2026-12-01 17:02 UTC): The mail server refused the sign-in."
    )
    for method in ("m365", "google", "twilio", "smtp", "outbox"):
        _choose(box, method)
        if method == "m365":
            box.auth_combo.setCurrentIndex(box.auth_combo.findData("certificate"))
            box.set_errors({"m365_tenant_id": "Enter the directory (tenant) ID."})
        settle(60)
        not_clipped(main_window)
        for name in box.visible_fields():
            # Each row gets the room its input, error and wrapped hint need: none overlaps.
            row = box.fields.row_widget(name)
            assert row.width() >= row.minimumSizeHint().width() - 1, (method, name)
            assert row.height() >= row.heightForWidth(row.width()), (method, name)
        page.left_scroll.ensureWidgetVisible(box, 0, 0)
        capture(box, f"security-delivery-{method}", folder)


def test_sentences_name_the_secret_as_the_provider_does(page: SecurityPage) -> None:
    """ "…but the client secret was not stored in the keyring": each method's own word, its
    capitals kept where they belong to a name (JSON, Auth Token)."""
    box = page.mail_box
    named = {}
    for method in ("smtp", "m365", "google", "twilio", "sms"):
        _choose(box, method)
        named[method] = box.secret_name()
    assert named == {
        "smtp": "password",
        "m365": "client secret",
        "google": "JSON key",
        "twilio": "Auth Token",
        "sms": "gateway token",
    }


def test_the_delivery_form_switches_language_at_once(qtbot: QtBot, page: SecurityPage) -> None:
    """The header's language switch: the method list, the labels and hints of the fields shown
    and the test code's texts change at once on the open form, and back again."""
    box = page.mail_box
    _choose(box, "smtp")
    try:
        assert install_translation("fr-BE")
        qtbot.waitUntil(lambda: box.save_button.text() == "Enregistrer l'envoi")
        assert box.title() == "Envoi des codes"
        assert box.method_label.text() == "Envoyer les codes par"
        assert box.method_combo.currentText() == "E-mail : serveur SMTP"
        assert _label(box, "smtp_host") == "Serveur de messagerie"
        assert (
            _hint(box, "smtp_username")
            == "Uniquement si le serveur de messagerie demande une connexion."
        )
        assert box.security_combo.itemText(0) == "STARTTLS (port 587)"
        assert box.test_button.text() == "Envoyer un code de test"
        assert install_translation("nl-BE")
        qtbot.waitUntil(lambda: box.save_button.text() == "Verzending opslaan")
        assert _label(box, "smtp_host") == "Mailserver"
        assert box.test_edit.placeholderText() == "e-mailadres"
    finally:
        install_translation("en-GB")
    qtbot.waitUntil(lambda: box.save_button.text() == "Save delivery settings")
    assert _label(box, "smtp_host") == "Mail server"
    assert box.method_combo.currentText() == "E-mail: SMTP server"
