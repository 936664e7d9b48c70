"""OAuth 2.0 access tokens for code delivery, kept in memory and renewed before they expire.

- Microsoft Entra ID (``m365`` and ``graph``): the client-credentials flow through MSAL, with a
  client secret or a certificate (its PEM private key in the keyring, its SHA-1 thumbprint in
  the settings). Scopes: ``https://outlook.office365.com/.default`` for SMTP,
  ``https://graph.microsoft.com/.default`` for Graph.
- Google Workspace (``google``): a service account with domain-wide delegation through
  google-auth, acting as the From mailbox, scope ``https://mail.google.com/``.

Tokens live only in this process (``TokenCache``), never on disk or in the log, and are asked
for again five minutes before they expire. MSAL and google-auth are imported on first use: the
login dialog need not wait for them. Every HTTPS call checks certificates against the system's
trusted authorities (or the context a test passes in), and no redirect is followed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pmdesk.core.delivery.base import DeliveryError
from pmdesk.core.delivery.http import brief, explain_network, origin

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

SMTP_SCOPE = "https://outlook.office365.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
GOOGLE_SCOPE = "https://mail.google.com/"
# A token is asked for again this long before it expires.
RENEW_MARGIN = 300.0

TokenFetcher = Callable[[], tuple[str, float]]  # -> (access token, seconds it stays valid)


class TokenCache:
    """Access tokens by a key that includes a hash of the secret behind them (a changed
    secret is never served an old token). Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, fetch: TokenFetcher) -> str:
        """The cached token for ``key``, or a new one from ``fetch`` when there is none or it
        expires within ``RENEW_MARGIN`` seconds."""
        now = self._clock()
        with self._lock:
            cached = self._tokens.get(key)
        if cached is not None and cached[1] - RENEW_MARGIN > now:
            return cached[0]
        token, lifetime = fetch()
        with self._lock:
            self._tokens[key] = (token, now + lifetime)
        return token

    def forget(self, key: str) -> None:
        """Drop a token the server refused, so the next try asks for a new one."""
        with self._lock:
            self._tokens.pop(key, None)


# The process's tokens; a test may pass its own cache instead.
TOKENS = TokenCache()


def fingerprint(*parts: str) -> str:
    """A cache key: a hash, so the secret itself is not kept a second time."""
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


class TokenSource(Protocol):
    """Where a delivery gets its bearer token."""

    def token(self) -> str:
        """A valid token (cached, or fetched now); DeliveryError at the ``token`` step."""
        ...

    def forget(self) -> None:
        """Drop the cached token (the server refused it)."""
        ...


# ----- HTTP for MSAL and google-auth -----------------------------------------------------------


def http_session(ssl_context: ssl.SSLContext | None) -> requests.Session:
    """A requests session that checks certificates with ``ssl_context`` (default: the system's
    trusted authorities, like every other connection pmdesk makes) and follows no redirect."""
    import requests
    from requests.adapters import HTTPAdapter

    context = ssl_context or ssl.create_default_context()

    class _Adapter(HTTPAdapter):
        def build_connection_pool_key_attributes(
            self, request: Any, verify: Any, cert: Any = None
        ) -> tuple[dict[str, Any], dict[str, Any]]:
            host, pool = super().build_connection_pool_key_attributes(request, True, None)
            pool["ssl_context"] = context
            return host, pool

        def cert_verify(self, conn: Any, url: Any, verify: Any, cert: Any) -> None:
            """Certificates are checked by ``context``; no CA bundle is added to it."""

    session = requests.Session()
    session.max_redirects = 0
    session.mount("https://", _Adapter(max_retries=0))
    return session


# ----- Microsoft Entra ID --------------------------------------------------------------------

# AADSTS error codes (https://learn.microsoft.com/entra/identity-platform/reference-error-codes)
# and what an administrator should do about each.
_ENTRA_ERRORS: dict[int, str] = {
    90002: "The tenant ID is wrong: Microsoft Entra ID does not know the tenant '{tenant}'",
    900023: "The tenant ID is wrong: '{tenant}' is not a valid tenant ID or domain",
    700016: (
        "The client ID is wrong: no app with the ID '{client}' is registered in the tenant "
        "'{tenant}'"
    ),
    7000215: "The client secret is wrong: copy the secret's Value (not its Secret ID) again",
    7000222: "The client secret has expired: make a new one under Certificates & secrets",
    700027: (
        "The certificate was refused: check that its thumbprint matches the certificate "
        "uploaded to the app registration and that the private key belongs to it"
    ),
    700024: (
        "The certificate sign-in was refused because this computer's clock is wrong: set it right"
    ),
    65001: (
        "The app has no admin consent: an administrator must grant admin consent for its "
        "API permissions in the Entra admin center"
    ),
    650056: (
        "The app has no admin consent: an administrator must grant admin consent for its "
        "API permissions in the Entra admin center"
    ),
    500011: (
        "The resource is not available to this tenant: check that the tenant has Exchange "
        "Online and that the app's API permissions name it"
    ),
    7000112: "The app is disabled in the tenant: enable its enterprise application",
    700023: "The tenant ID is wrong for this app: use the tenant where the app is registered",
    53003: "A Conditional Access policy blocked the app's sign-in",
}


@dataclass(frozen=True)
class MicrosoftApp:
    """An Entra app registration and its credential (a secret, or a PEM private key)."""

    tenant_id: str
    client_id: str
    credential: str  # the client secret or the PEM private key: never logged
    thumbprint: str = ""  # set for a certificate


class MicrosoftTokens:
    """Client-credentials tokens for one app and one scope, through MSAL."""

    def __init__(
        self,
        app: MicrosoftApp,
        scope: str,
        *,
        authority_host: str,
        ssl_context: ssl.SSLContext | None,
        timeout: float,
        cache: TokenCache,
    ) -> None:
        self.app = app
        self.scope = scope
        self.authority = f"{authority_host.rstrip('/')}/{app.tenant_id}"
        self._ssl_context = ssl_context
        self._timeout = timeout
        self._cache = cache
        self.key = fingerprint(
            "entra", self.authority, app.client_id, app.thumbprint, app.credential, scope
        )

    def token(self) -> str:
        return self._cache.get(self.key, self._fetch)

    def forget(self) -> None:
        self._cache.forget(self.key)

    def _fetch(self) -> tuple[str, float]:
        import jwt
        import msal

        credential: str | dict[str, str] = (
            {"private_key": self.app.credential, "thumbprint": self.app.thumbprint}
            if self.app.thumbprint
            else self.app.credential
        )
        session = http_session(self._ssl_context)
        try:
            client = msal.ConfidentialClientApplication(
                self.app.client_id,
                client_credential=credential,
                authority=self.authority,
                http_client=session,
                timeout=self._timeout,
                # The authority is Microsoft's own host (or a test's stand-in): no discovery
                # call to a third host.
                instance_discovery=False,
                token_cache=msal.TokenCache(),
            )
            result = client.acquire_token_for_client(scopes=[self.scope])
        except OSError as exc:  # requests' errors are OSErrors
            raise DeliveryError(self._unreachable(exc), step="token") from None
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise DeliveryError(self._explain_unusable(exc), step="token") from None
        finally:
            session.close()
        if not isinstance(result, dict) or "access_token" not in result:
            raise DeliveryError(self._explain_result(result), step="token")
        log.info("Microsoft Entra ID token received for app %s", self.app.client_id)
        return str(result["access_token"]), float(result.get("expires_in") or 3600)

    def _explain_result(self, result: object) -> str:
        data: dict[str, Any] = result if isinstance(result, dict) else {}
        codes = data.get("error_codes") or []
        description = str(data.get("error_description") or data.get("error") or "")
        for code in codes:
            if isinstance(code, int) and code in _ENTRA_ERRORS:
                return self._sentence(_ENTRA_ERRORS[code], f"AADSTS{code}")
        first = description.split("\n", 1)[0].split(" Trace ID:", 1)[0]
        return (
            "Microsoft Entra ID gave no token for the app "
            f"'{self.app.client_id}' ({brief(first) or 'no reason given'})."
        )

    def _explain_unusable(self, exc: BaseException) -> str:
        """MSAL raises ValueError for a tenant it cannot find, and ValueError or PyJWT's
        InvalidKeyError for a credential it cannot use. The exception's text is read, never
        quoted: a key's text may be in it."""
        text = " ".join(str(e) for e in (exc, exc.__context__) if e is not None)
        if "AADSTS90002" in text or "Unable to get authority configuration" in text:
            return self._sentence(_ENTRA_ERRORS[90002], "AADSTS90002")
        what = type(exc).__name__
        if self.app.thumbprint:
            return (
                f"The certificate private key (PEM) cannot be used ({what}): store the PEM "
                "private key (-----BEGIN PRIVATE KEY-----) again."
            )
        return f"Microsoft Entra ID cannot be used with these settings ({what})."

    def _unreachable(self, exc: BaseException) -> str:
        where, host = origin(self.authority)
        return (
            explain_network(
                exc, service="Microsoft Entra ID", where=where, host=host, timeout=self._timeout
            )
            + " No token could be fetched."
        )

    def _sentence(self, template: str, code: str) -> str:
        what = template.format(tenant=self.app.tenant_id, client=self.app.client_id)
        return f"{what} ({code})."


# ----- Google --------------------------------------------------------------------------------

_GOOGLE_ERRORS: dict[str, str] = {
    "unauthorized_client": (
        "Google refused the service account {account}: domain-wide delegation is not granted. "
        "In the Google Admin console, Security → API controls → Domain-wide delegation, add its "
        "client ID with the scope https://mail.google.com/ (unauthorized_client)."
    ),
    "access_denied": (
        "Google refused the service account {account}: it may not act for {subject} "
        "(access_denied)."
    ),
    "invalid_client": (
        "Google does not know the service account key: it was deleted or the service account "
        "disabled. Make a new JSON key (invalid_client)."
    ),
}


class GoogleTokens:
    """Service-account tokens that act as ``subject`` (domain-wide delegation)."""

    def __init__(
        self,
        key_json: str,
        subject: str,
        *,
        token_uri: str,
        ssl_context: ssl.SSLContext | None,
        timeout: float,
        cache: TokenCache,
    ) -> None:
        self.info = parse_service_account(key_json)
        self.account = str(self.info["client_email"])
        self.subject = subject
        self.token_uri = token_uri
        self._ssl_context = ssl_context
        self._timeout = timeout
        self._cache = cache
        self.key = fingerprint("google", token_uri, key_json, subject, GOOGLE_SCOPE)

    def token(self) -> str:
        return self._cache.get(self.key, self._fetch)

    def forget(self) -> None:
        self._cache.forget(self.key)

    def _fetch(self) -> tuple[str, float]:
        import google.auth.exceptions
        from google.auth.transport.requests import Request
        from google.oauth2 import service_account

        timeout = self._timeout

        class _Request(Request):
            def __call__(self, *args: Any, **kwargs: Any) -> Any:
                kwargs["timeout"] = timeout
                return super().__call__(*args, **kwargs)  # type: ignore[no-untyped-call]

        # The token endpoint is Google's (or a test's), whatever the key file says.
        info = {**self.info, "token_uri": self.token_uri}
        try:
            credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=[GOOGLE_SCOPE], subject=self.subject
            )
        except (ValueError, KeyError) as exc:
            # Named, never quoted: google-auth puts the key's text in some of its errors.
            raise DeliveryError(
                f"The service account's JSON key cannot be used ({type(exc).__name__} in its "
                f"{_field_of(exc)}): store the key file again.",
                step="token",
            ) from None
        session = http_session(self._ssl_context)
        try:
            credentials.refresh(_Request(session))
        except google.auth.exceptions.RefreshError as exc:
            raise DeliveryError(self._explain(exc), step="token") from None
        except google.auth.exceptions.TransportError as exc:
            where, host = origin(self.token_uri)
            text = explain_network(
                exc, service="Google's token service", where=where, host=host, timeout=timeout
            )
            raise DeliveryError(text + " No token could be fetched.", step="token") from None
        finally:
            session.close()
        token = str(credentials.token)
        expiry = credentials.expiry
        lifetime = 3600.0
        if expiry is not None:
            from datetime import UTC, datetime

            lifetime = (expiry.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds()
        log.info("Google token received for %s", self.account)
        return token, lifetime

    def _explain(self, exc: BaseException) -> str:
        data = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
        error = str(data.get("error") or "")
        description = str(data.get("error_description") or "")
        if error in _GOOGLE_ERRORS:
            return _GOOGLE_ERRORS[error].format(account=self.account, subject=self.subject)
        if error == "invalid_grant" and "signature" in description.lower():
            return (
                f"Google refused the key of the service account {self.account}: it was deleted "
                "or replaced. Store the current JSON key (invalid_grant: Invalid JWT Signature)."
            )
        if error == "invalid_grant" and ("email" in description.lower() or "user" in description):
            return (
                f"Google does not know the mailbox {self.subject}: the From address must be a "
                "user of your Google Workspace domain (invalid_grant)."
            )
        if error == "invalid_grant" and "time" in description.lower():
            return (
                "Google refused the token request because this computer's clock is wrong: set "
                "it right (invalid_grant)."
            )
        detail = f"{error}: {description}" if error else brief(exc.args[0] if exc.args else exc)
        return f"Google gave no token for the service account {self.account} ({brief(detail)})."


def _field_of(exc: BaseException) -> str:
    """The key file's field an error is about: a KeyError's missing field, else the private
    key (the fields pmdesk does not check itself)."""
    field = exc.args[0] if isinstance(exc, KeyError) and exc.args else None
    if isinstance(field, str) and field.isidentifier() and len(field) <= 40:
        return field
    return "private_key"


def parse_service_account(key_json: str) -> dict[str, Any]:
    """The service-account key file's fields, or DeliveryError (settings) saying what is wrong
    (never quoting the key)."""
    try:
        info = json.loads(key_json)
    except ValueError:
        info = None
    if not isinstance(info, dict):
        raise DeliveryError(
            "The service account key is not a JSON key file: in the Google Cloud console, "
            "IAM & Admin → Service accounts → Keys → Add key → JSON.",
            step="settings",
        )
    if info.get("type") != "service_account":
        raise DeliveryError(
            'The JSON key is not a service account key (its "type" is not "service_account").',
            step="settings",
        )
    missing = [f for f in ("client_email", "private_key", "client_id") if not info.get(f)]
    if missing:
        raise DeliveryError(
            f"The service account key has no {', '.join(missing)}: download the JSON key again.",
            step="settings",
        )
    return info
