"""pmdesk mail configure | show | test: how security codes are delivered.

Passwords and tokens go to this computer's keyring, never to the database or settings file.
"""

from __future__ import annotations

import argparse
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
from pmdesk.core.delivery.base import DeliveryError, DeliverySettings
from pmdesk.core.delivery.factory import check_settings, delivery_for
from pmdesk.core.delivery.smtp import DEFAULT_PORTS
from pmdesk.core.security import SecurityService
from pmdesk.secrets import SecretStoreError, sms_key, smtp_key


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("mail", help="how security codes are delivered")
    sub = parser.add_subparsers(dest="mail_command", metavar="ACTION")

    configure = add_command(
        sub,
        "configure",
        _configure,
        "choose how security codes are delivered: SMTP e-mail, an SMS gateway, or an outbox "
        "folder (for trying pmdesk out; nothing is sent)",
    )
    configure.add_argument("--method", required=True, choices=["smtp", "sms", "outbox"])
    smtp = configure.add_argument_group("smtp")
    smtp.add_argument("--host", help="mail server name")
    smtp.add_argument(
        "--port",
        type=bounded_int(-MAX_ID, MAX_ID),
        help="mail server port (default: 587 STARTTLS, 465 TLS, 25 none)",
    )
    smtp.add_argument(
        "--security",
        choices=["starttls", "tls", "none"],
        default="starttls",
        help="starttls (default), tls (from the start), or none (only to localhost)",
    )
    smtp.add_argument("--from", dest="sender", metavar="ADDRESS", help="the From address")
    smtp.add_argument("--username", default="", help="mail account, if the server needs a login")
    smtp.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the mail account's password from standard input (stored in the keyring)",
    )
    outbox = configure.add_argument_group("outbox")
    outbox.add_argument(
        "--folder", metavar="DIR", default="", help="folder for .eml files (default: data dir)"
    )
    sms = configure.add_argument_group("sms")
    sms.add_argument("--url", help="the SMS gateway's https:// address")
    sms.add_argument(
        "--token-stdin",
        action="store_true",
        help="read the gateway's bearer token from standard input (stored in the keyring)",
    )

    add_command(sub, "show", _show, "show how security codes are delivered")

    test = add_command(
        sub, "test", _test, "send a test security-code message with the configured method"
    )
    test.add_argument("address", help="e-mail address (or phone number for SMS)")


def _configure(app: App, args: argparse.Namespace) -> int:
    actor = signed_in(args)
    service = SecurityService(app.context)
    current = service.get(actor)
    method: str = args.method
    _refuse_foreign_options(args, method)
    if method == "smtp":
        new = _smtp_settings(current.delivery, args)
    elif method == "sms":
        new = replace(current.delivery, method="sms", sms_url=_required(args.url, "--url"))
    else:
        folder = str(Path(args.folder).expanduser().resolve()) if args.folder else ""
        new = replace(current.delivery, method="outbox", outbox_folder=folder)
    check_settings(new)  # a clear message before anything is stored

    if method == "smtp" and new.smtp_username:
        _store_secret(
            app,
            smtp_key(new.smtp_host, new.smtp_username),
            f"Password for {new.smtp_username} on {new.smtp_host}: ",
            from_stdin=args.password_stdin,
            what="password",
            option="--password-stdin",
        )
    elif method == "sms":
        _store_secret(
            app,
            sms_key(new.sms_url),
            "SMS gateway token: ",
            from_stdin=args.token_stdin,
            what="token",
            option="--token-stdin",
        )

    saved = service.update_delivery(actor, new, expected_version=current.version)
    delivery = delivery_for(saved.delivery, app.secrets, app.context.outbox_default)
    print(f"Security codes now go by: {delivery.label}")
    print("Check it with: pmdesk mail test ADDRESS")
    return 0


def _smtp_settings(current: DeliverySettings, args: argparse.Namespace) -> DeliverySettings:
    return replace(
        current,
        method="smtp",
        smtp_host=_required(args.host, "--host").strip(),
        smtp_port=args.port if args.port is not None else DEFAULT_PORTS[args.security],
        smtp_security=args.security,
        smtp_from=_required(args.sender, "--from").strip(),
        smtp_username=args.username.strip(),
    )


_OPTIONS_BY_METHOD = {
    "smtp": {"host": "--host", "port": "--port", "sender": "--from", "username": "--username"},
    "sms": {"url": "--url"},
    "outbox": {"folder": "--folder"},
}


def _refuse_foreign_options(args: argparse.Namespace, method: str) -> None:
    for other, options in _OPTIONS_BY_METHOD.items():
        if other == method:
            continue
        for attr, option in options.items():
            if getattr(args, attr, None):
                raise CommandFailed(f"{option} is for --method {other}, not --method {method}.", 2)
    if args.password_stdin and method != "smtp":
        raise CommandFailed("--password-stdin is for --method smtp.", 2)
    if args.password_stdin and not args.username:
        raise CommandFailed("--password-stdin needs --username.", 2)
    if args.token_stdin and method != "sms":
        raise CommandFailed("--token-stdin is for --method sms.", 2)


def _required(value: str | None, option: str) -> str:
    if not value or not value.strip():
        raise CommandFailed(f"{option} is required with this method.", 2)
    return value


def _store_secret(
    app: App, key: str, prompt: str, *, from_stdin: bool, what: str, option: str
) -> None:
    """Store the secret from stdin or a prompt; keep the one already in the keyring otherwise."""
    if not from_stdin and app.secrets.get(key):
        print(f"Using the {what} already stored in this computer's keyring.")
        return
    if not from_stdin:
        try:
            value = read_secret(prompt, from_stdin=False, confirm=False)
        except CommandFailed:
            raise CommandFailed(
                f"No {what} is stored in this computer's keyring yet and there is no terminal to "
                f"ask for it: use {option}."
            ) from None
    else:
        value = read_secret(prompt, from_stdin=True, confirm=False)
    if not value:
        raise CommandFailed(f"The {what} is empty.")
    app.secrets.set(key, value)
    print(f"The {what} is stored in this computer's keyring.")


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
    if d.method == "smtp":
        print(f"From:       {d.smtp_from}")
        if d.smtp_username:
            password = _stored(app, smtp_key(d.smtp_host, d.smtp_username))
            print(f"Login:      {d.smtp_username} (password {password})")
    elif d.method == "sms":
        print(f"Token:      {_stored(app, sms_key(d.sms_url))}")
    print(f"Codes are valid for {view.code_ttl_minutes} minutes.")
    return 0


def _stored(app: App, key: str) -> str:
    try:
        found = app.secrets.get(key)
    except SecretStoreError as exc:
        return f"unknown: {exc}"
    return "stored in this computer's keyring" if found else "MISSING from this computer's keyring"


def _test(app: App, args: argparse.Namespace) -> int:
    sent = SecurityService(app.context).send_test_code(signed_in(args), args.address)
    print(f"Test message sent to {sent.destination} by: {sent.label}")
    if sent.file is not None:
        print(f"Written to {sent.file}")
    return 0
