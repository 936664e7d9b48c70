"""pmdesk mail configure | show | test | status: how security codes are delivered.

Passwords, tokens, client secrets and keys go to this computer's keyring, never to the database
or settings file, and never on the command line: they are read from a hidden prompt or from
standard input (``--secret-stdin``; a PEM private key or a JSON key file as a whole).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from pmdesk.bootstrap import App
from pmdesk.commands.common import (
    MAX_ID,
    CommandFailed,
    add_command,
    bounded_int,
    read_secret,
    signed_in,
)
from pmdesk.core.delivery import health
from pmdesk.core.delivery.base import (
    MAIL_METHODS,
    METHODS,
    MICROSOFT_METHODS,
    SMS_ACCOUNT_METHODS,
    SMS_PROVIDER_METHODS,
    SMTP_METHODS,
    DeliveryError,
    DeliverySettings,
    failure_text,
    is_sms,
)
from pmdesk.core.delivery.factory import (
    PROVIDER_SMTP,
    delivery_for,
    secret_key,
    secret_label,
    smtp_host,
)
from pmdesk.core.delivery.oauth import parse_service_account
from pmdesk.core.delivery.smtp import DEFAULT_PORTS
from pmdesk.core.errors import ValidationError
from pmdesk.core.security import SecurityService, validate_delivery
from pmdesk.secrets import SecretStoreError

# Each method's options (argparse dest -> option), so that an option for another method is
# refused instead of silently ignored.
_OPTIONS_BY_METHOD: dict[str, dict[str, str]] = {
    "smtp": {"host": "--host", "port": "--port", "sender": "--from", "username": "--username"},
    "m365": {
        "host": "--host",
        "port": "--port",
        "sender": "--from",
        "tenant_id": "--tenant-id",
        "client_id": "--client-id",
        "thumbprint": "--certificate-thumbprint",
    },
    "google": {"host": "--host", "port": "--port", "sender": "--from"},
    "graph": {
        "sender": "--from",
        "tenant_id": "--tenant-id",
        "client_id": "--client-id",
        "thumbprint": "--certificate-thumbprint",
    },
    "sms": {"url": "--url", "region": "--region"},
    "twilio": {"account_sid": "--account-sid", "sms_sender": "--sender", "region": "--region"},
    "vonage": {"api_key": "--api-key", "sms_sender": "--sender", "region": "--region"},
    "cm": {"sms_sender": "--sender", "region": "--region"},
    "outbox": {"folder": "--folder", "sender": "--from"},
}

# DeliverySettings field -> the option that sets it, for one line per invalid field.
_FIELD_OPTIONS = {
    "outbox_folder": "--folder",
    "smtp_host": "--host",
    "smtp_port": "--port",
    "smtp_security": "--security",
    "smtp_username": "--username",
    "smtp_from": "--from",
    "sms_url": "--url",
    "m365_tenant_id": "--tenant-id",
    "m365_client_id": "--client-id",
    "m365_thumbprint": "--certificate-thumbprint",
    "google_client_email": "--secret-stdin (the service account's JSON key)",
    "sms_account": "--account-sid / --api-key",
    "sms_sender": "--sender",
    "phone_region": "--region",
}

_METHOD_HELP = (
    "smtp (a mail server with a password), m365 (Microsoft 365 SMTP with OAuth), google "
    "(Google Workspace SMTP with a service account), graph (Microsoft Graph sendMail), twilio, "
    "vonage, cm (CM.com), sms (pmdesk's own JSON gateway), outbox (a folder, for trying "
    "pmdesk out: nothing is sent)"
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("mail", help="how security codes are delivered")
    sub = parser.add_subparsers(dest="mail_command", metavar="ACTION")

    configure = add_command(
        sub,
        "configure",
        _configure,
        "choose how security codes are delivered; secrets are asked for (hidden) or read from "
        "standard input, and kept in this computer's keyring",
    )
    configure.add_argument("--method", required=True, choices=METHODS, help=_METHOD_HELP)
    mail = configure.add_argument_group("e-mail (smtp, m365, google, graph, outbox)")
    mail.add_argument(
        "--from", dest="sender", metavar="ADDRESS", help="the From address (m365, google, "
        "graph: the mailbox that sends)"
    )  # fmt: skip
    mail.add_argument("--host", help="mail server name (m365, google: the provider's default)")
    mail.add_argument(
        "--port",
        type=bounded_int(-MAX_ID, MAX_ID),
        help="mail server port (default: 587 STARTTLS, 465 TLS, 25 none)",
    )
    mail.add_argument(
        "--security",
        choices=["starttls", "tls", "none"],
        default="starttls",
        help="starttls (default), tls (from the start), or none (only to localhost)",
    )
    mail.add_argument("--username", default="", help="smtp: mail account, if the server needs one")
    microsoft = configure.add_argument_group("Microsoft (m365, graph)")
    microsoft.add_argument(
        "--tenant-id", help="Entra admin center → Overview → Tenant ID (or a tenant domain)"
    )
    microsoft.add_argument(
        "--client-id",
        help="Entra admin center → App registrations → your app → Application (client) ID",
    )
    microsoft.add_argument(
        "--certificate-thumbprint",
        dest="thumbprint",
        metavar="HEX",
        help="sign in with a certificate (its PEM private key is the secret) instead of a "
        "client secret; the thumbprint is under Certificates & secrets",
    )
    sms = configure.add_argument_group("text messages (twilio, vonage, cm, sms)")
    sms.add_argument("--account-sid", help="twilio: Twilio Console → Account Info → Account SID")
    sms.add_argument("--api-key", help="vonage: API Dashboard → API key")
    sms.add_argument(
        "--sender",
        dest="sms_sender",
        help="the sender: a number (+32…), a name of up to 11 letters and digits, or (twilio) "
        "a Messaging Service SID (MG…)",
    )
    sms.add_argument("--url", help="sms: the gateway's https:// address")
    sms.add_argument(
        "--region",
        help="country of numbers written without +/00 (ISO code, default BE)",
    )
    outbox = configure.add_argument_group("outbox")
    outbox.add_argument(
        "--folder", metavar="DIR", default="", help="folder for .eml files (default: data dir)"
    )
    secret = configure.add_argument_group("the secret")
    secret.add_argument(
        "--secret-stdin",
        "--password-stdin",
        "--token-stdin",
        dest="secret_stdin",
        action="store_true",
        help="read the secret from standard input (a password, token or client secret on one "
        "line; a PEM private key or a service account's JSON key whole) instead of asking",
    )

    add_command(sub, "show", _show, "show how security codes are delivered")

    test = add_command(
        sub,
        "test",
        _test,
        "send a test security-code message with the configured method; a failure names the "
        "step: settings, token, connect, authenticate or send",
    )
    test.add_argument("address", help="e-mail address (or phone number for text messages)")

    add_command(
        sub,
        "status",
        _status,
        "how the last delivery by each method went (exit 1 when the configured method's recent "
        "sends have failed)",
    )


# ----- configure ---------------------------------------------------------------------------


def _configure(app: App, args: argparse.Namespace) -> int:
    actor = signed_in(args)
    service = SecurityService(app.context)
    current = service.get(actor)
    method: str = args.method
    _refuse_foreign_options(args, method)
    new = _settings(current.delivery, args)
    key_json: str | None = None
    if method == "google":
        key_json, new = _google_key(app, args, new)
    clean = _validated(new)

    key = secret_key(clean)
    if key is not None:
        if key_json is not None:
            app.secrets.set(key, key_json)
            print(f"The {secret_label(clean)} is stored in this computer's keyring.")
        else:
            _store_secret(app, key, clean, from_stdin=args.secret_stdin)
    saved = service.update_delivery(actor, clean, expected_version=current.version)
    delivery = delivery_for(saved.delivery, app.secrets, app.context.outbox_default)
    print(f"Security codes now go by: {delivery.label}")
    print("Check it with: pmdesk mail test " + ("PHONE" if is_sms(method) else "ADDRESS"))
    return 0


def _settings(current: DeliverySettings, args: argparse.Namespace) -> DeliverySettings:
    method = args.method
    new = replace(current, method=method)
    if method in SMTP_METHODS:
        host = (args.host or "").strip()
        if method == "smtp":
            host = _required(args.host, "--host").strip()
        new = replace(
            new,
            smtp_host=host,
            smtp_port=args.port if args.port is not None else DEFAULT_PORTS[args.security],
            smtp_security=args.security,
            smtp_username=args.username.strip() if method == "smtp" else current.smtp_username,
        )
    if method in MAIL_METHODS:
        new = replace(new, smtp_from=_required(args.sender, "--from").strip())
    if method in MICROSOFT_METHODS:
        new = replace(
            new,
            m365_tenant_id=_required(args.tenant_id, "--tenant-id").strip(),
            m365_client_id=_required(args.client_id, "--client-id").strip(),
            m365_auth="certificate" if args.thumbprint else "secret",
            m365_thumbprint=(args.thumbprint or "").strip(),
        )
    if method == "sms":
        new = replace(new, sms_url=_required(args.url, "--url"))
    if method in SMS_PROVIDER_METHODS:
        account = args.account_sid if method == "twilio" else args.api_key
        option = "--account-sid" if method == "twilio" else "--api-key"
        new = replace(
            new,
            sms_account=_required(account, option).strip() if method != "cm" else "",
            sms_sender=_required(args.sms_sender, "--sender").strip(),
        )
    if is_sms(method) and args.region:
        new = replace(new, phone_region=args.region.strip())
    if method == "outbox":
        folder = str(Path(args.folder).expanduser().resolve()) if args.folder else ""
        new = replace(new, outbox_folder=folder, smtp_from=(args.sender or "").strip())
    return new


def _google_key(
    app: App, args: argparse.Namespace, new: DeliverySettings
) -> tuple[str | None, DeliverySettings]:
    """The service account's JSON key from stdin (it names the account), or the one already
    stored for the configured account."""
    if args.secret_stdin:
        text = sys.stdin.read()
        info = parse_service_account(text)
        return text, replace(new, google_client_email=str(info["client_email"]))
    if new.google_client_email and app.secrets.get(secret_key(new) or ""):
        print("Using the service account JSON key already stored in this computer's keyring.")
        return None, new
    raise CommandFailed(
        "Give the service account's JSON key on standard input: pmdesk mail configure --method "
        "google --from ADDRESS --secret-stdin < key.json"
    )


def _validated(new: DeliverySettings) -> DeliverySettings:
    """The cleaned settings, or one line per invalid field (the last one as the error)."""
    try:
        return validate_delivery(new)
    except ValidationError as exc:
        lines = [f"{_FIELD_OPTIONS.get(f, f)}: {text}" for f, text in exc.errors.items()]
        for line in lines[:-1]:
            print(f"pmdesk: {line}", file=sys.stderr)
        raise CommandFailed(lines[-1]) from None


def _refuse_foreign_options(args: argparse.Namespace, method: str) -> None:
    ours = _OPTIONS_BY_METHOD[method]
    for attr in {a for options in _OPTIONS_BY_METHOD.values() for a in options}:
        if attr not in ours and getattr(args, attr, None):
            users = [m for m, options in _OPTIONS_BY_METHOD.items() if attr in options]
            option = _OPTIONS_BY_METHOD[users[0]][attr]
            raise CommandFailed(
                f"{option} is for --method {' or '.join(users)}, not --method {method}.", 2
            )
    if args.secret_stdin and method == "outbox":
        raise CommandFailed("--secret-stdin is not for --method outbox: it needs no secret.", 2)
    if args.secret_stdin and method == "smtp" and not args.username:
        raise CommandFailed("--password-stdin needs --username.", 2)


def _required(value: str | None, option: str) -> str:
    if not value or not value.strip():
        raise CommandFailed(f"{option} is required with this method.", 2)
    return value


def _store_secret(app: App, key: str, settings: DeliverySettings, *, from_stdin: bool) -> None:
    """Store the secret from stdin or a prompt; keep the one already in the keyring otherwise."""
    what = secret_label(settings)
    multi_line = settings.m365_auth == "certificate" and settings.method in MICROSOFT_METHODS
    if not from_stdin and app.secrets.get(key):
        print(f"Using the {what} already stored in this computer's keyring.")
        return
    if from_stdin and multi_line:
        value = sys.stdin.read().strip()
    elif from_stdin:
        value = read_secret(f"{what}: ", from_stdin=True, confirm=False)
    elif multi_line or not sys.stdin.isatty():
        raise CommandFailed(
            f"No {what} is stored in this computer's keyring yet and there is no terminal to "
            "ask for it: use --secret-stdin."
            if not multi_line
            else f"Give the {what} on standard input: --secret-stdin < key.pem"
        )
    else:
        value = read_secret(f"{what[:1].upper()}{what[1:]}: ", from_stdin=False, confirm=False)
    if not value:
        raise CommandFailed(f"The {what} is empty.")
    if multi_line and "PRIVATE KEY-----" not in value:
        raise CommandFailed(f"The {what} must be a PEM private key (-----BEGIN PRIVATE KEY-----).")
    app.secrets.set(key, value)
    print(f"The {what} is stored in this computer's keyring.")


# ----- show, test, status --------------------------------------------------------------------


def _show(app: App, args: argparse.Namespace) -> int:
    view = SecurityService(app.context).get(signed_in(args))
    d = view.delivery
    print(f"Method:     {d.method}")
    try:
        delivery = delivery_for(d, app.secrets, app.context.outbox_default)
    except DeliveryError as exc:
        print(f"Delivery:   NOT USABLE: {exc}")
    else:
        print(f"Delivery:   {delivery.label}")
        encrypted = {
            True: "yes",
            False: "NO",
            None: "not applicable (nothing leaves this computer)",
        }
        print(f"Encrypted:  {encrypted[delivery.encrypted]}")
    if d.method in MAIL_METHODS:
        print(f"From:       {d.smtp_from}")
    if d.method in PROVIDER_SMTP:
        print(f"Server:     {smtp_host(d)}:{d.smtp_port}")
    if d.method in MICROSOFT_METHODS:
        print(f"Tenant:     {d.m365_tenant_id}")
        print(f"Client ID:  {d.m365_client_id}")
        if d.m365_auth == "certificate":
            print(f"Thumbprint: {d.m365_thumbprint}")
    if d.method == "google":
        print(f"Account:    {d.google_client_email}")
    if d.method in SMS_ACCOUNT_METHODS:
        print(f"Account:    {d.sms_account}")
    if d.method in SMS_PROVIDER_METHODS:
        print(f"Sender:     {d.sms_sender}")
    if is_sms(d.method):
        print(f"Region:     {d.phone_region} (numbers without a country code)")
    key = secret_key(d)
    if key is not None and d.method == "smtp":
        print(f"Login:      {d.smtp_username} (password {_stored(app, key)})")
    elif key is not None:
        label = secret_label(d)
        print(f"Secret:     {label[:1].upper()}{label[1:]} {_stored(app, key)}")
    print(f"Codes are valid for {view.code_ttl_minutes} minutes.")
    return 0


def _stored(app: App, key: str) -> str:
    try:
        found = app.secrets.get(key)
    except SecretStoreError as exc:
        return f"unknown: {exc}"
    return "stored in this computer's keyring" if found else "MISSING from this computer's keyring"


def _test(app: App, args: argparse.Namespace) -> int:
    try:
        sent = SecurityService(app.context).send_test_code(signed_in(args), args.address)
    except DeliveryError as exc:
        raise CommandFailed(failure_text(exc)) from None
    if sent.queued:  # a hardened database: the relay sends it, to your own address
        print(f"Test message for {sent.destination} {sent.label}.")
        return 0
    print(f"Test message sent to {sent.destination} by: {sent.label}")
    if sent.file is not None:
        print(f"Written to {sent.file}")
    return 0


def _status(app: App, args: argparse.Namespace) -> int:
    report = SecurityService(app.context).delivery_health(signed_in(args))
    print(f"Configured method: {report.method}")
    if not report.outcomes:
        print("No security code has been sent yet.")
    for outcome in report.outcomes:
        mark = "*" if outcome.method == report.method else " "
        when = health.when(outcome.last_at)
        if outcome.ok:
            print(f"{mark} {outcome.method:<7} ok      {when}")
        else:
            times = f", {outcome.failures_in_row} in a row" if outcome.failures_in_row > 1 else ""
            print(f"{mark} {outcome.method:<7} FAILED  {when} at {outcome.step or '?'}{times}: "
                  f"{outcome.message}")  # fmt: skip
    if report.warning is not None:
        print(f"WARNING: {report.warning}")
        return 1
    return 0
