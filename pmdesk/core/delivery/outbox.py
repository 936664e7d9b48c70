"""Security codes written as .eml files into a folder: for trying pmdesk out, nothing is sent.

Each message is written to a temporary file in the same folder and renamed into place, so a
reader (or a mail client watching the folder) never sees half a message.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from pmdesk.core.delivery.base import CodeMessage, DeliveryError
from pmdesk.core.delivery.message import (
    DEFAULT_FROM,
    email_destination,
    email_message,
    need_email,
)
from pmdesk.core.i18n import translate
from pmdesk.core.validation import mask_email

log = logging.getLogger(__name__)

OUTBOX_LABEL = translate("delivery", "Outbox folder (for trying pmdesk out; nothing is sent)")


class OutboxDelivery:
    """Writes one .eml file per message. The files hold codes: the folder is for trials only."""

    def __init__(self, folder: Path, *, sender: str = "") -> None:
        self.folder = folder
        self.sender = sender.strip() or DEFAULT_FROM

    @property
    def label(self) -> str:
        return translate("delivery", "{outbox}: {folder}").format(
            outbox=OUTBOX_LABEL, folder=str(self.folder)
        )

    @property
    def encrypted(self) -> bool | None:
        return None

    def destination(self, message: CodeMessage) -> str | None:
        return email_destination(message)

    def send(self, message: CodeMessage) -> None:
        self.write(message)

    def write(self, message: CodeMessage) -> Path:
        """Write the message and return the new file's path."""
        recipient = need_email(message)
        data = email_message(message, sender=self.sender, recipient=recipient).as_bytes()
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        final = self.folder / f"{stamp}-{secrets.token_hex(4)}.eml"
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_atomically(final, data)
        except OSError as exc:
            raise DeliveryError(
                translate(
                    "delivery", "Could not write to the outbox folder {folder}: {why}."
                ).format(folder=str(self.folder), why=str(exc.strerror or exc))
            ) from None
        what = "Trust alert" if message.alert is not None else "Security code"
        log.info("%s written to the outbox for %s: %s", what, mask_email(recipient), final)
        return final


def folder_problem(folder: Path) -> str | None:
    """Why security codes could not be written to ``folder`` from this workstation, or None.
    The folder is made (0700) when missing, and a file is written to it and removed."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".pmdesk-check-", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        return translate(
            "delivery", "The outbox folder {folder} cannot be created or written here: {why}."
        ).format(folder=str(folder), why=str(exc.strerror or exc))
    return None


def _write_atomically(final: Path, data: bytes) -> None:
    fd, temp_name = tempfile.mkstemp(prefix=".pmdesk-", suffix=".tmp", dir=final.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
