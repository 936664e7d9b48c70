"""The OS keyring, wrapped so that a missing or unusable backend is a clear message.

Secrets (database, SMTP and SMS passwords, OAuth client secrets and keys) never go to the
settings file or the log. Keys are stored under the service ``pmdesk``; the username part names
what the secret is for.
"""

from __future__ import annotations

import logging
from typing import Protocol

SERVICE = "pmdesk"

log = logging.getLogger(__name__)

_INSECURE_BACKENDS = ("PlaintextKeyring", "fail.Keyring", "null.Keyring", "Uncrypted")


class SecretStoreError(Exception):
    """The keyring cannot be used; the message says what to do."""


class SecretStore(Protocol):
    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...

    def delete(self, key: str) -> None: ...


def database_key(url_without_password: str) -> str:
    return f"database:{url_without_password}"


def session_key(url_without_password: str) -> str:
    """This OS user's command-line session on that database."""
    return f"session:{url_without_password}"


def smtp_key(host: str, username: str) -> str:
    return f"smtp:{username}@{host}"


def sms_key(url: str) -> str:
    return f"sms:{url}"


def m365_key(tenant_id: str, client_id: str, auth: str) -> str:
    """An Entra app's client secret (``auth`` "secret") or certificate private key (PEM)."""
    return f"m365-{auth}:{client_id}@{tenant_id}"


def google_key(client_email: str) -> str:
    """A Google service account's JSON key."""
    return f"google:{client_email}"


def sms_provider_key(provider: str, account: str) -> str:
    """Twilio's Auth Token (account: the Account SID), Vonage's API secret (the API key) or
    CM.com's product token (no account)."""
    return f"{provider}:{account}"


class KeyringStore:
    """Secrets in the OS keyring. Imported lazily: keyring costs hundreds of ms at import."""

    def __init__(self, service: str = SERVICE) -> None:
        self._service = service

    def _backend(self) -> object:
        try:
            import keyring
            from keyring.errors import KeyringError
        except ImportError as exc:  # pragma: no cover - keyring is a dependency
            raise SecretStoreError("The keyring package is not installed.") from exc
        try:
            backend = keyring.get_keyring()
        except KeyringError as exc:
            raise SecretStoreError(_no_backend_message(str(exc))) from exc
        name = f"{type(backend).__module__}.{type(backend).__name__}"
        if any(bad in name for bad in _INSECURE_BACKENDS) or getattr(backend, "priority", 1) <= 0:
            raise SecretStoreError(_no_backend_message(f"only {name} is available"))
        return backend

    def backend_name(self) -> str:
        backend = self._backend()
        return f"{type(backend).__module__}.{type(backend).__name__}"

    def get(self, key: str) -> str | None:
        backend = self._backend()
        return self._call(lambda: backend.get_password(self._service, key))  # type: ignore[attr-defined]

    def set(self, key: str, value: str) -> None:
        backend = self._backend()
        self._call(lambda: backend.set_password(self._service, key, value))  # type: ignore[attr-defined]

    def delete(self, key: str) -> None:
        from keyring.errors import PasswordDeleteError

        backend = self._backend()
        try:
            self._call(lambda: backend.delete_password(self._service, key))  # type: ignore[attr-defined]
        except SecretStoreError as exc:
            if isinstance(exc.__cause__, PasswordDeleteError):
                return
            raise

    @staticmethod
    def _call(action: object) -> str | None:
        from keyring.errors import KeyringError, KeyringLocked, PasswordDeleteError

        try:
            return action()  # type: ignore[operator, no-any-return]
        except PasswordDeleteError as exc:
            raise SecretStoreError("No such secret in the keyring.") from exc
        except KeyringLocked as exc:
            raise SecretStoreError(
                "The system keyring is locked. Unlock it (log in to your desktop session or "
                "open your keyring manager) and try again."
            ) from exc
        except KeyringError as exc:
            raise SecretStoreError(_no_backend_message(str(exc))) from exc
        except Exception as exc:  # secretstorage/dbus raise their own types
            if type(exc).__name__ in {"LockedException", "ItemNotFoundException"}:
                raise SecretStoreError(
                    "The system keyring is locked. Unlock it and try again."
                ) from exc
            if type(exc).__name__ in {"SecretServiceNotAvailableException", "DBusErrorResponse"}:
                raise SecretStoreError(_no_backend_message(str(exc))) from exc
            raise


class MemoryStore:
    """Secrets kept in memory only, for a session where the user chose not to save them."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self._values.get(key)

    def set(self, key: str, value: str) -> None:
        self._values[key] = value

    def delete(self, key: str) -> None:
        self._values.pop(key, None)


def _no_backend_message(detail: str) -> str:
    return (
        "No secure system keyring is available "
        f"({detail}). pmdesk keeps passwords only in the OS keyring: on Windows the Credential "
        "Manager, on macOS the Keychain, on Linux a Secret Service such as GNOME Keyring or "
        "KWallet (install and unlock it, e.g. `apt install gnome-keyring`)."
    )
