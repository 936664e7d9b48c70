"""The relay: sends the codes a hardened PostgreSQL queues, and runs the expiry sweep
(``pmdesk relay``; docs/server-enforced.md §6). Qt-free.

One process, two threads. The main thread owns a single autocommit connection with
``LISTEN pmdesk_codes`` and waits on its socket; it claims one row at a time
(``relay_claim``, committed before anything is sent), hands it to the sending thread, and
records the outcome with ``relay_finish``. So the database connection never waits on a slow
mail server, and the heartbeat (every 10 s), recovery of abandoned claims (every minute) and
the expiry sweep (every minute) keep their rhythm while a message is on its way.

At most once: a row is claimed before it is sent and never goes back to ``queued``. A relay
that dies mid-send leaves its row ``sending``; ``relay_recover`` (by any relay, once the dead
one's heartbeat is a minute old) marks it ``unknown`` and the person asks for a new code.

A lost connection closes everything and is retried after 1, 2, 4 … 30 s, with one log line
when it goes and one when it is back; outcomes that could not be recorded meanwhile are kept
and recorded after the reconnect. ``stop()`` (SIGTERM, SIGINT) lets the message being sent
finish and be recorded, then ``run`` returns.

Never logged: a code, a secret. Messages name the person's login and the masked destination.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import select
import socket
import time
import typing
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import psycopg

from pmdesk import __version__
from pmdesk.core.changes import psycopg_conninfo
from pmdesk.core.db import first_line
from pmdesk.core.delivery.base import (
    ALERT_BY_EMAIL_ONLY,
    METHODS,
    NO_DESTINATION,
    CodeMessage,
    Delivery,
    DeliveryError,
    DeliverySettings,
    TrustAlert,
    is_sms,
    read_secret,
)
from pmdesk.core.delivery.factory import delivery_for, outbox_folder, secret_key, secret_label
from pmdesk.core.delivery.outbox import folder_problem
from pmdesk.core.delivery.sms import phone_destination
from pmdesk.core.i18n import ENGLISH, language_code
from pmdesk.core.login_results import NO_PHONE_MESSAGE
from pmdesk.core.validation import mask_destination
from pmdesk.secrets import KeyringStore, SecretStore, SecretStoreError

log = logging.getLogger(__name__)

CHANNEL = "pmdesk_codes"
APPLICATION_NAME = "pmdesk relay"

DeliveryFactory = Callable[[DeliverySettings, SecretStore, Path], Delivery]


@dataclass(frozen=True)
class RelayTiming:
    """How often the relay does what (seconds). Tests shorten them; the defaults are §6.4's."""

    heartbeat_s: float = 10.0
    poll_s: float = 5.0
    recover_s: float = 60.0
    expire_s: float = 60.0
    first_retry_s: float = 1.0
    max_retry_s: float = 30.0
    expire_chunk: int = 1000
    statement_timeout_s: int = 60


# ----- secrets on the relay host ---------------------------------------------------------------

#: The file, in ``$CREDENTIALS_DIRECTORY``, that holds each kind of secret. A key is
#: ``KIND:…`` (``pmdesk.secrets``); a kind not listed here is read from ``KIND-secret``, or from
#: ``KIND`` itself when it already names the secret (``m365-secret``, ``m365-certificate``).
CREDENTIAL_FILES = {"smtp": "smtp-password", "sms": "sms-token"}


def credential_name(key: str) -> str:
    """The credential file a secret is read from: ``smtp:mailer@mail.example`` →
    ``smtp-password``, ``sms:https://…`` → ``sms-token``, ``twilio:AC…`` → ``twilio-secret``,
    ``m365-secret:…`` → ``m365-secret``."""
    kind = key.split(":", 1)[0].strip().lower()
    if not kind or not all(ch.isalnum() or ch in "-_" for ch in kind):
        return "unknown-secret"
    if kind in CREDENTIAL_FILES:
        return CREDENTIAL_FILES[kind]
    return kind if "-" in kind else f"{kind}-secret"


class CredentialsStore:
    """Secrets as files in a folder: systemd's ``$CREDENTIALS_DIRECTORY`` (``LoadCredential=``).
    Read-only; one secret per kind (the relay sends with one account), the file named by
    ``credential_name``; a final line break is not part of the secret."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def where(self, key: str) -> str:
        return f"credential {credential_name(key)} in {self.folder}"

    def missing(self, key: str, label: str, method: str) -> str:
        return _relay_has_no(label, method, self.where(key))

    def get(self, key: str) -> str | None:
        path = self.folder / credential_name(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SecretStoreError(
                f"The relay cannot read the credential {path.name}: {exc.strerror or exc}."
            ) from exc
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SecretStoreError(f"The credential {path.name} is not UTF-8 text.") from exc
        return text.removesuffix("\n").removesuffix("\r") or None

    def set(self, key: str, value: str) -> None:
        raise SecretStoreError(self._read_only(key))

    def delete(self, key: str) -> None:
        raise SecretStoreError(self._read_only(key))

    def _read_only(self, key: str) -> str:
        return (
            f"The relay's credentials come from systemd ({self.folder}): write the file "
            f"{credential_name(key)} named in the unit's LoadCredential= instead."
        )


class RelayKeyring(KeyringStore):
    """The OS keyring of the account that runs the relay by hand."""

    def missing(self, key: str, label: str, method: str) -> str:
        return _relay_has_no(label, method, f"keyring entry '{key}'")


def _relay_has_no(label: str, method: str, where: str) -> str:
    return f"The relay has no {label} for '{method}' delivery ({where})."


def relay_secrets(environ: Mapping[str, str] | None = None) -> CredentialsStore | RelayKeyring:
    """The relay's own secrets: ``$CREDENTIALS_DIRECTORY`` when systemd runs it, else the OS
    keyring of the account that runs it (never the environment or the command line)."""
    folder = (os.environ if environ is None else environ).get("CREDENTIALS_DIRECTORY")
    return CredentialsStore(Path(folder)) if folder else RelayKeyring()


# ----- settings and messages --------------------------------------------------------------------


def delivery_settings(values: Mapping[str, Any]) -> DeliverySettings:
    """DeliverySettings from ``relay_settings()`` (the settings row as JSON). Keys this pmdesk
    does not know are ignored and values of the wrong type or outside a field's choices keep
    the default, so a newer database never stops an older relay."""
    hints = typing.get_type_hints(DeliverySettings)
    chosen: dict[str, Any] = {}
    for item in dataclasses.fields(DeliverySettings):
        column = "delivery_method" if item.name == "method" else item.name
        if column not in values:
            continue
        value, hint = values[column], hints[item.name]
        if typing.get_origin(hint) is Literal:
            ok = value in typing.get_args(hint)
        elif hint is bool:
            ok = isinstance(value, bool)
        elif hint is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, hint) if isinstance(hint, type) else False
        if ok:
            chosen[item.name] = value
    return DeliverySettings(**chosen)


@dataclass(frozen=True)
class Claim:
    """A queue row this relay claimed (``relay_claim``). Its repr leaves the code out."""

    id: int
    attempt: uuid.UUID
    kind: str
    method: str
    destination: str
    person_name: str
    code: str = field(repr=False)
    valid_minutes: int
    requested_from: str | None
    workstation: str
    subject: str
    reference: int | None = None  # a trust alert's trusted address (row id)
    queued_at: datetime | None = None  # naive UTC; for a trust alert, when it was trusted
    language: str = ENGLISH  # the person's Personnel language (the relay knows no workstation's)

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Claim:
        (id_, attempt, kind, method, destination, name, code, minutes, origin, ws, subject) = row[
            :11
        ]
        # A database whose server objects predate trust alerts returns 11 columns, one that
        # predates the recipient's language 13.
        reference, queued_at, language = (*row[11:], None, None, None)[:3]
        return cls(
            id=int(id_),
            attempt=attempt if isinstance(attempt, uuid.UUID) else uuid.UUID(str(attempt)),
            kind=str(kind),
            method=str(method),
            destination=str(destination),
            person_name=str(name or ""),
            code=str(code or ""),
            valid_minutes=int(minutes),
            requested_from=None if origin is None else str(origin),
            workstation=str(ws or ""),
            subject=str(subject or ""),
            reference=None if reference is None else int(reference),
            queued_at=queued_at if isinstance(queued_at, datetime) else None,
            language=language_code(str(language or "")),
        )

    @property
    def what(self) -> str:
        """For the log: 'code for anne (queue row 12)'."""
        kind = {"test": "test message", "alert": "trust alert"}.get(self.kind, "code")
        return f"{kind} for {self.subject or '?'} (queue row {self.id})"

    def alert(self) -> TrustAlert | None:
        """What a trust alert row says (the address trusted is its ``requested_from``)."""
        if self.kind != "alert":
            return None
        return TrustAlert(
            login=self.subject,
            address=self.requested_from or "an unknown address",
            trusted_at=self.queued_at or datetime.now(UTC).replace(tzinfo=None),
            workstation=self.workstation,
            reference=self.reference or 0,
        )

    def message(self) -> CodeMessage:
        return CodeMessage(
            person_name=self.person_name,
            email=self.destination,
            phone=self.destination,
            code=self.code,
            valid_minutes=self.valid_minutes,
            requested_from=self.requested_from,
            workstation=self.workstation,
            test=self.kind == "test",
            alert=self.alert(),
            language=self.language,
        )


@dataclass(frozen=True)
class Outcome:
    """How a claimed send went; ``error`` never holds the code."""

    claim: Claim
    ok: bool
    error: str = ""
    step: str | None = None  # where it failed (DeliveryError.step), when known

    @property
    def settings_problem(self) -> bool:
        """The failure is the relay's set-up, not this message: every send would fail."""
        return self.step == "settings"


def relay_problem(settings: DeliverySettings, secrets: SecretStore, outbox_default: Path) -> str:
    """The relay's own sentence when it cannot send at all with these settings, else ''."""
    try:
        delivery_for(settings, _NoSecrets(), outbox_default)
    except DeliveryError as exc:
        return f"The delivery settings cannot work: {exc}"
    if settings.method == "outbox":
        return folder_problem(outbox_folder(settings, outbox_default)) or ""
    key = secret_key(settings)
    if key is None:
        return ""
    try:
        read_secret(secrets, key, secret_label(settings), settings.method)
    except DeliveryError as exc:
        return str(exc)
    return ""


class _NoSecrets:
    """Building a Delivery reads no secret; this store proves it."""

    def get(self, key: str) -> str | None:
        return None

    def set(self, key: str, value: str) -> None:  # pragma: no cover - never called
        raise SecretStoreError("read-only")

    def delete(self, key: str) -> None:  # pragma: no cover - never called
        raise SecretStoreError("read-only")


def deliver(
    claim: Claim,
    settings: DeliverySettings,
    secrets: SecretStore,
    outbox_default: Path,
    *,
    known_problem: str = "",
    make_delivery: DeliveryFactory = delivery_for,
) -> Outcome:
    """Send one claimed message (blocking: the sending thread). The row's own method is used,
    with today's settings for it: its destination was chosen for that method. When the relay
    cannot send at all, the row fails with that sentence and nothing is tried: for the
    configured method the caller knows it (``known_problem``: ``relay_problem`` as of the last
    heartbeat, or an earlier send's set-up failure); a row queued for another method (the
    settings changed since) is checked here."""
    if claim.method not in METHODS:
        return Outcome(
            claim,
            False,
            f"This relay cannot send by '{claim.method[:40]}': update pmdesk on the relay host.",
            "settings",
        )
    own = replace(settings, method=typing.cast(Any, claim.method))
    if claim.kind == "alert" and is_sms(claim.method):
        # No mailbox to send from: the Log says the alert did not go out (alert.failed), and
        # the text-message gateway is not at fault (relay_finish leaves its health alone).
        return Outcome(claim, False, ALERT_BY_EMAIL_ONLY, NO_DESTINATION)
    if is_sms(claim.method) and phone_destination(claim.message(), own.phone_region) is None:
        # The server cannot read phone numbers as libphonenumber does: a stored number that
        # is none in the office's region is found here, whatever else is set up or not, and
        # the sign-in refuses as the client does (login_client; relay_finish leaves delivery
        # health alone: the gateway is not at fault).
        return Outcome(claim, False, NO_PHONE_MESSAGE, NO_DESTINATION)
    if claim.method == settings.method:
        problem = known_problem
    else:
        problem = relay_problem(own, secrets, outbox_default)
    if problem:
        return Outcome(claim, False, problem, "settings")
    step: str | None = None
    try:
        make_delivery(own, secrets, outbox_default).send(claim.message())
        return Outcome(claim, True)
    except DeliveryError as exc:
        error, step = str(exc), exc.step
    except SecretStoreError as exc:
        error, step = f"The relay cannot read its secrets: {exc}", "settings"
    except OSError as exc:
        error = f"The code could not be sent: {exc.strerror or type(exc).__name__}."
    except Exception as exc:
        log.error("code delivery failed unexpectedly: %s", type(exc).__name__)
        error = f"The code could not be sent ({type(exc).__name__})."
    if claim.code:
        error = error.replace(claim.code, "******")
    return Outcome(claim, False, error, step)


# ----- the relay --------------------------------------------------------------------------------


class Relay:
    """Run with ``run()``; stop from a signal handler or another thread with ``stop()``."""

    def __init__(
        self,
        url: Any,
        *,
        secrets: SecretStore,
        outbox_default: Path,
        timing: RelayTiming | None = None,
        make_delivery: DeliveryFactory = delivery_for,
        host: str | None = None,
    ) -> None:
        self.instance = uuid.uuid4()
        self.host = (host or socket.gethostname() or "unknown")[:255]
        self._conninfo = psycopg_conninfo(url, application_name=APPLICATION_NAME)
        self._secrets = secrets
        self._outbox_default = outbox_default
        self._timing = timing or RelayTiming()
        self._make_delivery = make_delivery
        self._conn: psycopg.Connection[Any] | None = None
        self._stopping = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pmdesk-relay-send")
        self._in_flight: Future[Outcome] | None = None
        self._unrecorded: list[Outcome] = []
        self._want_claim = True
        self._next: dict[str, float] = {}
        self._retry_at = 0.0
        self._retry_s = 0.0
        self._down_since: float | None = None
        self._farewell = ""  # the server's last word on the connection, when it said one
        self._connected_once = False
        self._send_problem = ""  # from the last send, when the set-up itself failed
        self._setup_problem = ""  # relay_problem of the settings seen, as of the last heartbeat
        self._settings_seen: DeliverySettings | None = None
        #: How many messages this relay sent and could not send (for tests and --once).
        self.sent = 0
        self.failed = 0

    # -- control ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Finish the message being sent, record it, then leave ``run`` (signal-safe)."""
        self._stopping = True
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def run(self, *, once: bool = False) -> int:
        """Serve until stopped (0). ``once``: recover, sweep, send what is queued, write one
        heartbeat and return 0, or 1 when the database could not be reached."""
        try:
            return self._loop(once)
        finally:
            self._sender.shutdown(wait=True)
            self._close()
            self._wake_r.close()
            self._wake_w.close()

    def _loop(self, once: bool) -> int:
        while True:
            if self._conn is None:
                self._collect()  # a send may end while the database is out of reach
                if self._stopping and self._in_flight is None:
                    if self._unrecorded and self._connect():  # one last try to record them
                        continue
                    self._report_unrecorded()
                    return 0
                if time.monotonic() >= self._retry_at and not self._connect() and once:
                    self._report_unrecorded()
                    return 1
                if self._conn is None:
                    self._wait(self._retry_at)
                    continue
            try:
                if self._step(once):
                    return 0
            except psycopg.Error as exc:
                if self._is_lost(exc):
                    self._lose(exc)
                    continue
                log.error("Database error: %s", first_line(exc))
                self._want_claim = False  # tried again at the next poll
                self._next["poll"] = time.monotonic() + self._timing.poll_s
            self._wait(self._next_due())

    # -- one turn of the loop --------------------------------------------------------------

    def _step(self, once: bool) -> bool:
        """Do whatever is due; True when ``run`` should return."""
        self._collect()
        self._record()
        if self._stopping:
            if self._in_flight is None:
                self._report_unrecorded()
                return True
            return False
        now = time.monotonic()
        if now >= self._next["recover"]:
            self._recover()
            self._next["recover"] = now + self._timing.recover_s
        if now >= self._next["expire"]:
            self._expire()
            self._next["expire"] = time.monotonic() + self._timing.expire_s
        if now >= self._next["heartbeat"]:
            self._heartbeat()
            self._next["heartbeat"] = now + self._timing.heartbeat_s
        if now >= self._next["poll"]:
            self._want_claim = True
            self._next["poll"] = now + self._timing.poll_s
        if self._want_claim and self._in_flight is None:
            self._claim_next()
        if once and not self._want_claim and self._in_flight is None and not self._unrecorded:
            self._heartbeat()
            return True
        return False

    def _next_due(self) -> float:
        now = time.monotonic()
        if self._stopping:
            return now + 1.0  # the message being sent wakes us when it is done
        if self._want_claim and self._in_flight is None:
            return now
        due = min(self._next.values())
        if self._unrecorded:
            due = min(due, now + self._timing.first_retry_s)
        return due

    def _wait(self, until: float) -> None:
        """Until ``until``, a notification, a finished send or stop()."""
        watched: list[Any] = [self._wake_r]
        conn = self._conn
        fd = -1
        if conn is not None:
            try:
                # Notifications that arrived while a statement ran wait in psycopg's backlog,
                # not on the socket.
                for _ in conn.notifies(timeout=0):
                    self._want_claim = True
                fd = conn.fileno()
            except psycopg.Error as exc:
                self._lose(exc)
                return
            if self._want_claim and self._in_flight is None and not self._stopping:
                return
            watched.append(fd)
        timeout = max(0.0, until - time.monotonic())
        try:
            readable, _, _ = select.select(watched, [], [], timeout)
        except (OSError, ValueError) as exc:  # the socket went away under us
            if conn is not None:
                self._lose(exc)
            return
        if self._wake_r in readable:
            with contextlib.suppress(OSError):
                while self._wake_r.recv(64):
                    pass
        if conn is not None and fd in readable:
            try:
                # A short timeout makes psycopg read the socket: notifications, or the EOF
                # of a server that went away.
                for _ in conn.notifies(timeout=0.02):
                    self._want_claim = True
            except psycopg.Error as exc:
                self._lose(exc)
                return
            if conn.broken or conn.closed:
                self._lose(ConnectionError("the server closed the connection"))

    # -- connecting --------------------------------------------------------------------------

    def _connect(self) -> bool:
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True)
        except psycopg.Error as exc:
            self._retry_later(exc)
            return False
        self._farewell = ""
        conn.add_notice_handler(self._on_notice)
        try:
            conn.execute(f"SET statement_timeout = '{int(self._timing.statement_timeout_s)}s'")
            conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            with contextlib.suppress(psycopg.Error):
                conn.close()
            self._retry_later(exc)
            return False
        self._conn = conn
        now = time.monotonic()
        self._next = {"heartbeat": now, "recover": now, "expire": now, "poll": now}
        self._want_claim = True
        self._retry_s = 0.0
        if self._down_since is not None:
            log.warning(
                "Database connection back after %.0f s; %d result(s) to record.",
                now - self._down_since,
                len(self._unrecorded) + (self._in_flight is not None),
            )
            self._down_since = None
        elif not self._connected_once:
            log.info(
                "Relay %s started on %s (pid %d, pmdesk %s): waiting for codes.",
                self.instance,
                self.host,
                os.getpid(),
                __version__,
            )
        self._connected_once = True
        return True

    def _retry_later(self, exc: BaseException) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning(
                "Cannot reach the database: %s. Trying again (every %g s at most).",
                first_line(exc),
                self._timing.max_retry_s,
            )
        self._retry_s = (
            self._timing.first_retry_s
            if self._retry_s <= 0
            else min(self._retry_s * 2, self._timing.max_retry_s)
        )
        self._retry_at = time.monotonic() + self._retry_s

    def _on_notice(self, diagnostic: psycopg.errors.Diagnostic) -> None:
        # A server that ends an idle connection says why in an ErrorResponse that libpq hands
        # to the notice handler; the error raised afterwards only says the socket closed.
        if diagnostic.severity_nonlocalized in ("FATAL", "PANIC"):
            self._farewell = diagnostic.message_primary or ""

    def _lose(self, exc: BaseException) -> None:
        """The connection went away: close it, log once, retry after 1 s, 2 s, 4 s …"""
        self._close()
        if self._down_since is None:
            self._down_since = time.monotonic()
            reason = first_line(exc)
            if self._farewell and self._farewell not in reason:
                reason = f"{self._farewell} ({reason})"
            log.warning("Lost the database connection: %s. Reconnecting.", reason)
        self._retry_s = self._timing.first_retry_s
        self._retry_at = time.monotonic() + self._retry_s

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                conn.close()

    def _is_lost(self, exc: psycopg.Error) -> bool:
        """Whether the connection is gone (not a deadlock, a timeout or a refusal)."""
        conn = self._conn
        if conn is None or conn.broken or conn.closed or isinstance(exc, psycopg.InterfaceError):
            return True
        state = exc.sqlstate or ""
        # 08: connection exceptions; 57P: the server shutting down or terminating us.
        return isinstance(exc, psycopg.OperationalError) and (
            not state or state.startswith(("08", "57P"))
        )

    def _execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = self._conn
        if conn is None:
            raise psycopg.OperationalError("not connected")
        cursor = conn.execute(statement, params)
        return list(cursor.fetchall()) if cursor.description else []

    # -- the work ----------------------------------------------------------------------------

    def _settings(self, *, check: bool = False) -> DeliverySettings:
        """Today's settings. Whether the relay can send with them (``relay_problem``: the
        keyring or credential files, an outbox folder) is checked when they change and when
        ``check`` (each heartbeat), not for every message."""
        rows = self._execute("SELECT pmdesk.relay_settings()")
        values = rows[0][0] if rows and isinstance(rows[0][0], dict) else {}
        settings = delivery_settings(values)
        changed = settings != self._settings_seen
        if changed or check:
            before = self._setup_problem
            self._setup_problem = relay_problem(settings, self._secrets, self._outbox_default)
            if changed or (before and not self._setup_problem):
                self._send_problem = ""  # a new set-up, or a secret stored: a new chance
            self._settings_seen = settings
        return settings

    def _problem(self) -> str:
        return self._setup_problem or self._send_problem

    def _heartbeat(self) -> None:
        settings = self._settings(check=True)
        self._execute(
            "SELECT pmdesk.relay_heartbeat(%s, %s, %s, %s, %s, %s)",
            (
                self.instance,
                self.host,
                os.getpid(),
                __version__[:40],
                settings.method[:40],
                self._problem()[:1000],
            ),
        )

    def _recover(self) -> None:
        rows = self._execute("SELECT pmdesk.relay_recover(%s)", (self.instance,))
        count = int(rows[0][0]) if rows else 0
        if count:
            log.warning(
                "%d message(s) were being sent by a relay that stopped: marked as possibly not "
                "sent (never sent again).",
                count,
            )

    def _expire(self) -> None:
        chunk = self._timing.expire_chunk
        removed = 0
        while not self._stopping:
            rows = self._execute("SELECT pmdesk.expire(%s, %s)", (chunk, self.host))
            done = int(rows[0][0]) if rows else 0
            removed += done
            if done < chunk:
                break
        if removed:
            log.info("Expiry sweep: %d trusted address(es) expired.", removed)

    def _claim_next(self) -> None:
        settings = self._settings()
        rows = self._execute("SELECT * FROM pmdesk.relay_claim(%s, 1)", (self.instance,))
        if not rows:
            self._want_claim = False
            return
        claim = Claim.from_row(rows[0])
        future = self._sender.submit(
            deliver,
            claim,
            settings,
            self._secrets,
            self._outbox_default,
            known_problem=self._problem(),
            make_delivery=self._make_delivery,
        )
        self._in_flight = future
        future.add_done_callback(lambda _future: self._wake())

    def _collect(self) -> None:
        future = self._in_flight
        if future is None or not future.done():
            return
        self._in_flight = None
        self._unrecorded.append(future.result())  # deliver() catches everything

    def _record(self) -> None:
        while self._unrecorded:
            outcome = self._unrecorded[0]
            claim = outcome.claim
            rows = self._execute(
                "SELECT pmdesk.relay_finish(%s, %s, %s, %s, %s)",
                (claim.id, claim.attempt, outcome.ok, outcome.error or None, outcome.step),
            )
            self._unrecorded.pop(0)
            matched = bool(rows and rows[0][0])
            self._note(outcome, matched)
            self._want_claim = True  # the next one, if any

    def _note(self, outcome: Outcome, matched: bool) -> None:
        claim = outcome.claim
        where = mask_destination(claim.destination)
        if outcome.ok:
            self.sent += 1
            self._send_problem = ""
            log.info("Sent the %s to %s.", claim.what, where)
        else:
            self.failed += 1
            if outcome.settings_problem:
                self._send_problem = outcome.error
            log.warning("Could not send the %s to %s: %s", claim.what, where, outcome.error)
        if not matched:
            log.warning(
                "The %s was no longer this relay's when its result came back (recovery marked "
                "it as possibly not sent); nothing recorded.",
                claim.what,
            )

    def _report_unrecorded(self) -> None:
        if self._unrecorded:
            log.warning(
                "%d result(s) could not be recorded: the database is out of reach. Recovery "
                "will mark those messages as possibly not sent.",
                len(self._unrecorded),
            )
