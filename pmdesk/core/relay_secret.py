"""The relay's delivery secrets, stored where ``pmdesk relay`` reads them (``pmdesk relay secret
set | status``; docs/server-enforced.md §6.6). Qt-free.

Which secret a method needs follows from the delivery settings (``factory.secret_key``), so they
are read from the database first, as the relay reads them (``relay_settings()``). The secret
goes either to the OS keyring of the account that runs the relay by hand, or, for systemd, to a
file named as ``LoadCredential=`` expects it (``relay.credential_name``) in a folder only root
reads. It is never shown, logged or taken from the command line.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, cast

import psycopg

from pmdesk.core.changes import psycopg_conninfo
from pmdesk.core.delivery.base import (
    METHODS,
    MICROSOFT_METHODS,
    DeliveryError,
    DeliverySettings,
)
from pmdesk.core.delivery.factory import secret_key, secret_label
from pmdesk.core.delivery.oauth import parse_service_account
from pmdesk.core.errors import PmdeskError
from pmdesk.core.relay import CredentialsStore, credential_name, delivery_settings
from pmdesk.secrets import SecretStore, SecretStoreError

State = Literal["present", "missing", "unreadable"]


class RelaySecretError(PmdeskError):
    """The secret cannot be stored (or its settings read); the text says why."""


@dataclass(frozen=True)
class SecretSlot:
    """Where one delivery method's secret lives on the relay host."""

    method: str
    key: str  # the keyring entry (pmdesk.secrets)
    label: str  # "password", "Auth Token", …
    credential: str  # the systemd credential file's name: smtp-password, twilio-secret, …

    @property
    def multi_line(self) -> bool:
        """A PEM private key or a JSON key file: read whole from standard input."""
        return self.method == "google" or self.credential == "m365-certificate"


def read_relay_settings(url: Any) -> DeliverySettings:
    """The delivery settings as the relay reads them (``pmdesk.relay_settings()``)."""
    try:
        with psycopg.connect(psycopg_conninfo(url, application_name="pmdesk relay secret")) as conn:
            row = conn.execute("SELECT pmdesk.relay_settings()").fetchone()
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RelaySecretError(
            f"Cannot read the delivery settings with the relay's login: {first}"
        ) from exc
    values = row[0] if row and isinstance(row[0], dict) else {}
    return delivery_settings(values)


def slot_for(settings: DeliverySettings, method: str | None = None) -> SecretSlot | None:
    """The secret ``method`` (default: the configured one) needs with these settings, or None
    when it needs none (outbox, SMTP without a login); RelaySecretError for an unknown method
    or settings that do not say which account the secret belongs to yet."""
    chosen = method or settings.method
    if chosen not in METHODS:
        raise RelaySecretError(f"Unknown delivery method '{chosen}': one of {', '.join(METHODS)}.")
    own = replace(settings, method=cast(Any, chosen))
    key = secret_key(own)
    if key is None:
        if chosen in ("outbox",) or (chosen == "smtp" and not own.smtp_username.strip()):
            return None
        raise RelaySecretError(
            f"The delivery settings for '{chosen}' are not complete yet (System → Security): "
            "save them first, then store the secret."
        )
    return SecretSlot(chosen, key, secret_label(own), credential_name(key))


def check_value(slot: SecretSlot, settings: DeliverySettings, value: str) -> str:
    """The secret as it will be stored, or RelaySecretError saying what is wrong (never
    quoting it)."""
    text = value.strip() if slot.multi_line else value.removesuffix("\n").removesuffix("\r")
    if not text:
        raise RelaySecretError(f"The {slot.label} is empty.")
    if slot.method == "google":
        try:
            info = parse_service_account(text)
        except DeliveryError as exc:
            raise RelaySecretError(str(exc)) from None
        if str(info["client_email"]) != settings.google_client_email.strip():
            raise RelaySecretError(
                "This JSON key is for another service account than System → Security names "
                f"({settings.google_client_email.strip()})."
            )
    elif slot.method in MICROSOFT_METHODS and slot.multi_line:
        if "PRIVATE KEY-----" not in text:
            raise RelaySecretError(
                f"The {slot.label} must be a PEM private key (-----BEGIN PRIVATE KEY-----)."
            )
    elif any(ch in text for ch in "\r\n"):
        raise RelaySecretError(f"The {slot.label} must be one line.")
    return text


def write_credential(folder: Path, slot: SecretSlot, value: str) -> Path:
    """Write the secret as systemd's ``LoadCredential=`` reads it: ``folder/credential``, mode
    0600, replaced in one step (never a half-written file)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = folder / slot.credential
    handle, temporary = tempfile.mkstemp(prefix=f".{slot.credential}.", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(value + "\n")
        os.chmod(temporary, 0o600)
        os.replace(temporary, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise RelaySecretError(
            f"Cannot write {target}: {exc.strerror or type(exc).__name__}."
        ) from exc
    return target


def state_of(store: SecretStore, slot: SecretSlot) -> tuple[State, str]:
    """Whether the secret is there (its value is read and dropped), and why not if unknown."""
    try:
        found = store.get(slot.key)
    except SecretStoreError as exc:
        return "unreadable", str(exc)
    return ("present", "") if found else ("missing", "")


def where(store: SecretStore, slot: SecretSlot) -> str:
    if isinstance(store, CredentialsStore):
        return store.where(slot.key)
    return f"keyring entry '{slot.key}'"
