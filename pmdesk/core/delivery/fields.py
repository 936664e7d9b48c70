"""Which settings each delivery method needs, and where an administrator finds each value: for
the Security screen's delivery form (issue 14, item 6), which shows only the fields of the
chosen method, each with its one-line hint.

API for the form (all Qt-free, no database):

- ``METHOD_LABELS[method]``: the name to show in the method list, in ``METHODS`` order.
- ``method_fields(method)``: the ``DeliverySettings`` field names to show, in order; plus
  ``factory.secret_key(settings)`` (None: no secret box) / ``factory.secret_label(settings)``
  for the secret box (store what is typed with
  ``SecretStore.set(secret_key(...), value)``; never show a stored secret).
- ``FIELD_LABELS[field]`` and ``FIELD_HINTS[field]``: the label and the hint under it;
  ``SECRET_HINTS[method]``: the hint for the secret.
- Validate as typed with ``security.validate_delivery(settings)`` (``ValidationError.errors``
  maps these field names to sentences); save with ``SecurityService.update_delivery``; test with
  ``SecurityService.send_test_code`` on a worker thread (``DeliveryError.step`` and
  ``base.failure_text``); show ``SecurityService.delivery_health(actor).warning`` on the Security
  screen and ``health.LOGIN_WARNING`` in the login dialog when ``health.trouble`` is not None.

Every label and hint is a translatable ``Text`` (context "delivery"): show it with
``pmdesk.ui.translation.localize``.
"""

from __future__ import annotations

from pmdesk.core.i18n import translate

METHOD_LABELS: dict[str, str] = {
    "outbox": translate("delivery", "Outbox folder (for trying pmdesk out; nothing is sent)"),
    "smtp": translate("delivery", "E-mail: mail server (SMTP) with a password"),
    "m365": translate("delivery", "E-mail: Microsoft 365 (SMTP with OAuth)"),
    "google": translate("delivery", "E-mail: Google Workspace (SMTP with a service account)"),
    "graph": translate("delivery", "E-mail: Microsoft Graph"),
    "sms": translate("delivery", "Text message: pmdesk SMS gateway"),
    "twilio": translate("delivery", "Text message: Twilio"),
    "vonage": translate("delivery", "Text message: Vonage"),
    "cm": translate("delivery", "Text message: CM.com"),
}

_FIELDS: dict[str, tuple[str, ...]] = {
    "outbox": ("outbox_folder",),
    "smtp": ("smtp_host", "smtp_port", "smtp_security", "smtp_username", "smtp_from"),
    "m365": (
        "smtp_from",
        "m365_tenant_id",
        "m365_client_id",
        "m365_auth",
        "m365_thumbprint",
        "smtp_host",
        "smtp_port",
        "smtp_security",
    ),
    "google": ("smtp_from", "google_client_email", "smtp_host", "smtp_port", "smtp_security"),
    "graph": ("smtp_from", "m365_tenant_id", "m365_client_id", "m365_auth", "m365_thumbprint"),
    "sms": ("sms_url", "phone_region"),
    "twilio": ("sms_account", "sms_sender", "phone_region"),
    "vonage": ("sms_account", "sms_sender", "phone_region"),
    "cm": ("sms_sender", "phone_region"),
}

FIELD_LABELS: dict[str, str] = {
    "outbox_folder": translate("delivery", "Outbox folder"),
    "smtp_host": translate("delivery", "Mail server"),
    "smtp_port": translate("delivery", "Port"),
    "smtp_security": translate("delivery", "Security"),
    "smtp_username": translate("delivery", "User name"),
    "smtp_from": translate("delivery", "From address"),
    "sms_url": translate("delivery", "Gateway URL"),
    "m365_tenant_id": translate("delivery", "Directory (tenant) ID"),
    "m365_client_id": translate("delivery", "Application (client) ID"),
    "m365_auth": translate("delivery", "Sign in with"),
    "m365_thumbprint": translate("delivery", "Certificate thumbprint"),
    "google_client_email": translate("delivery", "Service account"),
    "sms_account": translate("delivery", "Account"),
    "sms_sender": translate("delivery", "Sender"),
    "phone_region": translate("delivery", "Numbers without country code are in"),
}

FIELD_HINTS: dict[str, str] = {
    "outbox_folder": translate("delivery", "Empty: the data folder of each workstation."),
    "smtp_host": translate(
        "delivery", "m365 and google: leave empty for smtp.office365.com / smtp.gmail.com."
    ),
    "smtp_port": translate("delivery", "587 with STARTTLS, 465 with TLS."),
    "smtp_security": translate(
        "delivery", "Never unencrypted, except to a relay on this computer."
    ),
    "smtp_username": translate("delivery", "Only if the mail server needs a login."),
    "smtp_from": translate(
        "delivery", "Microsoft 365, Google, Graph: the mailbox that sends the codes."
    ),
    "sms_url": translate("delivery", "The https:// address your gateway gives you."),
    "m365_tenant_id": translate("delivery", "Entra admin center → Overview → Tenant ID."),
    "m365_client_id": translate(
        "delivery", "Entra admin center → App registrations → your app → Application (client) ID."
    ),
    "m365_auth": translate(
        "delivery", "A client secret, or a certificate uploaded to the app registration."
    ),
    "m365_thumbprint": translate(
        "delivery",
        "Entra admin center → App registrations → your app → Certificates & secrets → Thumbprint.",
    ),
    "google_client_email": translate(
        "delivery",
        "Taken from the service account's JSON key (Google Cloud console → IAM & Admin → "
        "Service accounts → Keys).",
    ),
    "sms_account": translate(
        "delivery", "Twilio: Console → Account Info → Account SID. Vonage: Dashboard → API key."
    ),
    "sms_sender": translate(
        "delivery",
        "A number (+32…), a name of up to 11 letters and digits, or (Twilio) a Messaging "
        "Service SID (MG…).",
    ),
    "phone_region": translate("delivery", "A country code such as BE or NL."),
}

SECRET_HINTS: dict[str, str] = {
    "smtp": translate("delivery", "The mail account's password."),
    "m365": translate(
        "delivery",
        "Client secret: Certificates & secrets → the secret's Value (not its ID). Certificate: "
        "its PEM private key.",
    ),
    "graph": translate(
        "delivery",
        "Client secret: Certificates & secrets → the secret's Value (not its ID). Certificate: "
        "its PEM private key.",
    ),
    "google": translate("delivery", "The service account's JSON key file, as downloaded."),
    "sms": translate("delivery", "The gateway's bearer token."),
    "twilio": translate("delivery", "Twilio Console → Account Info → Auth Token."),
    "vonage": translate("delivery", "Vonage API Dashboard → API secret."),
    "cm": translate("delivery", "CM.com portal → your messaging gateway → product token."),
}


def method_fields(method: str) -> tuple[str, ...]:
    """The DeliverySettings fields the form shows for ``method``, in order."""
    return _FIELDS.get(method, ())
