"""The message text, the outbox folder, and choosing a delivery method from the settings."""

from __future__ import annotations

import email
import email.policy
import os
import stat
import sys
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest

from pmdesk.core.delivery import message as text
from pmdesk.core.delivery.base import CodeMessage, DeliveryError, DeliverySettings
from pmdesk.core.delivery.factory import delivery_for
from pmdesk.core.delivery.outbox import OUTBOX_LABEL, OutboxDelivery
from pmdesk.core.delivery.sms import SmsDelivery
from pmdesk.core.delivery.smtp import SmtpDelivery
from pmdesk.secrets import MemoryStore
from tests.helpers.smtp import extract_code

CODE = "051742"


def code_message(**changes: object) -> CodeMessage:
    message = CodeMessage(
        person_name="Sofie Maes",
        email="sofie.maes@workshop.example",
        phone="+32 470 99 88 77",
        code=CODE,
        valid_minutes=10,
        requested_from="203.0.113.9",
        workstation="OFFICE-1",
    )
    return replace(message, **changes)  # type: ignore[arg-type]


def read_eml(path: Path) -> EmailMessage:
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def plain_text(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


# --- the words ----------------------------------------------------------------------------


def test_email_text_says_what_a_person_needs_to_know() -> None:
    body = text.body(code_message())
    assert body.startswith("Hello Sofie Maes,")
    assert extract_code(body) == CODE
    assert "valid for 10 minutes" in body
    assert "used only once" in body
    assert "203.0.113.9" in body
    assert "OFFICE-1" in body
    assert "If this was not you" in body
    assert "do not share this code" in body
    assert "tell your administrator" in body
    assert "change your password" in body
    assert "TEST" not in body
    assert text.subject(code_message()) == "pmdesk security code"


def test_unknown_address_and_one_minute() -> None:
    body = text.body(code_message(requested_from=None, valid_minutes=1, person_name=""))
    assert body.startswith("Hello,")
    assert "an unknown address" in body
    assert "valid for 1 minute " in body


def test_test_message_says_it_is_a_test() -> None:
    message = code_message(test=True)
    assert "THIS IS A TEST" in text.body(message)
    assert "it signs nobody in" in text.body(message)
    assert "valid for" not in text.body(message)  # a test code is valid nowhere (issue 19)
    assert extract_code(text.body(message)) == CODE
    assert text.subject(message) == "pmdesk security code (test)"
    assert text.sms_text(message).startswith("TEST - pmdesk security code: ")
    assert "signs nobody in" in text.sms_text(message)
    assert "Valid" not in text.sms_text(message)


def test_sms_text_is_short_and_complete() -> None:
    sms = text.sms_text(code_message())
    assert extract_code(sms) == CODE
    assert "Valid 10 minutes" in sms
    assert "203.0.113.9" in sms
    assert "OFFICE-1" in sms
    assert "Not you? Do not share it" in sms
    assert len(sms) < 320  # at most two SMS parts


def test_email_headers() -> None:
    mail = text.email_message(
        code_message(person_name="Émile Dupont"),
        sender="Workshop <noreply@workshop.example>",
        recipient="emile@workshop.example",
    )
    parsed = email.message_from_bytes(mail.as_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == "pmdesk security code"
    assert parsed["From"] == "Workshop <noreply@workshop.example>"
    assert parsed["To"].addresses[0].display_name == "Émile Dupont"
    assert parsed["To"].addresses[0].addr_spec == "emile@workshop.example"
    assert parsed["Message-ID"].endswith("@workshop.example>")
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Date"]


# --- the outbox ---------------------------------------------------------------------------


def test_fresh_install_writes_to_the_default_outbox(tmp_path: Path) -> None:
    default = tmp_path / "data" / "outbox"
    delivery = delivery_for(DeliverySettings(), MemoryStore(), default)
    assert isinstance(delivery, OutboxDelivery)
    assert delivery.label == f"Outbox folder (for trying pmdesk out; nothing is sent): {default}"
    assert delivery.encrypted is None
    assert delivery.destination(code_message()) == "sofie.maes@workshop.example"

    delivery.send(code_message())

    [eml] = list(default.iterdir())
    assert eml.suffix == ".eml"
    mail = read_eml(eml)
    assert mail["To"].addresses[0].addr_spec == "sofie.maes@workshop.example"
    assert mail["Subject"] == "pmdesk security code"
    assert extract_code(plain_text(mail)) == CODE


def test_configured_outbox_folder_and_one_file_per_message(tmp_path: Path) -> None:
    folder = tmp_path / "my outbox"
    settings = DeliverySettings(method="outbox", outbox_folder=str(folder))
    delivery = delivery_for(settings, MemoryStore(), tmp_path / "unused")
    assert OUTBOX_LABEL in delivery.label
    delivery.send(code_message())
    delivery.send(code_message(code="999000", email="piet@workshop.example"))

    files = sorted(folder.iterdir())
    assert [f.suffix for f in files] == [".eml", ".eml"]  # no temporary files left behind
    codes = {extract_code(plain_text(read_eml(f))) for f in files}
    assert codes == {CODE, "999000"}
    assert not (tmp_path / "unused").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_outbox_files_are_private(tmp_path: Path) -> None:
    path = OutboxDelivery(tmp_path / "outbox").write(code_message())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_failed_write_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "outbox"
    delivery = OutboxDelivery(folder)

    def disk_full(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(DeliveryError) as info:
        delivery.send(code_message())
    assert (
        str(info.value)
        == f"Could not write to the outbox folder {folder}: No space left on device."
    )
    assert CODE not in str(info.value)
    assert list(folder.iterdir()) == []


def test_outbox_folder_that_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("not a folder")
    with pytest.raises(DeliveryError, match="Could not write to the outbox folder"):
        OutboxDelivery(blocker).send(code_message())


def test_outbox_needs_an_email_address(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError, match="Sofie Maes has no usable e-mail address"):
        OutboxDelivery(tmp_path / "outbox").send(code_message(email=""))
    assert not (tmp_path / "outbox").exists()


# --- choosing the method ------------------------------------------------------------------


def test_factory_builds_each_method(tmp_path: Path) -> None:
    secrets = MemoryStore()
    smtp = delivery_for(
        DeliverySettings(
            method="smtp",
            smtp_host="smtp.example.com",
            smtp_port=465,
            smtp_security="tls",
            smtp_from="noreply@example.com",
        ),
        secrets,
        tmp_path,
    )
    assert isinstance(smtp, SmtpDelivery)
    assert smtp.label == "E-mail via smtp.example.com:465 (TLS)"
    assert smtp.encrypted is True

    sms = delivery_for(
        DeliverySettings(method="sms", sms_url="https://sms.example.com/api/send?x=1"),
        secrets,
        tmp_path,
    )
    assert isinstance(sms, SmsDelivery)
    assert sms.label == "Text message via the SMS gateway https://sms.example.com (HTTPS)"
    assert sms.destination(code_message()) == "+32470998877"


def test_unknown_method_is_refused(tmp_path: Path) -> None:
    settings = DeliverySettings(method="pigeon")  # type: ignore[arg-type]
    with pytest.raises(DeliveryError, match="Unknown delivery method 'pigeon'"):
        delivery_for(settings, MemoryStore(), tmp_path)
