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
"""

from __future__ import annotations

METHOD_LABELS: dict[str, str] = {
    "outbox": "Outbox folder (for trying pmdesk out; nothing is sent)",
    "smtp": "E-mail: mail server (SMTP) with a password",
    "m365": "E-mail: Microsoft 365 (SMTP with OAuth)",
    "google": "E-mail: Google Workspace (SMTP with a service account)",
    "graph": "E-mail: Microsoft Graph",
    "sms": "Text message: pmdesk SMS gateway",
    "twilio": "Text message: Twilio",
    "vonage": "Text message: Vonage",
    "cm": "Text message: CM.com",
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
    "outbox_folder": "Outbox folder",
    "smtp_host": "Mail server",
    "smtp_port": "Port",
    "smtp_security": "Security",
    "smtp_username": "User name",
    "smtp_from": "From address",
    "sms_url": "Gateway URL",
    "m365_tenant_id": "Directory (tenant) ID",
    "m365_client_id": "Application (client) ID",
    "m365_auth": "Sign in with",
    "m365_thumbprint": "Certificate thumbprint",
    "google_client_email": "Service account",
    "sms_account": "Account",
    "sms_sender": "Sender",
    "phone_region": "Numbers without country code are in",
}

FIELD_HINTS: dict[str, str] = {
    "outbox_folder": "Empty: the data folder of each workstation.",
    "smtp_host": "m365 and google: leave empty for smtp.office365.com / smtp.gmail.com.",
    "smtp_port": "587 with STARTTLS, 465 with TLS.",
    "smtp_security": "Never unencrypted, except to a relay on this computer.",
    "smtp_username": "Only if the mail server needs a login.",
    "smtp_from": "Microsoft 365, Google, Graph: the mailbox that sends the codes.",
    "sms_url": "The https:// address your gateway gives you.",
    "m365_tenant_id": "Entra admin center → Overview → Tenant ID.",
    "m365_client_id": (
        "Entra admin center → App registrations → your app → Application (client) ID."
    ),
    "m365_auth": "A client secret, or a certificate uploaded to the app registration.",
    "m365_thumbprint": (
        "Entra admin center → App registrations → your app → Certificates & secrets → Thumbprint."
    ),
    "google_client_email": (
        "Taken from the service account's JSON key (Google Cloud console → IAM & Admin → "
        "Service accounts → Keys)."
    ),
    "sms_account": "Twilio: Console → Account Info → Account SID. Vonage: Dashboard → API key.",
    "sms_sender": (
        "A number (+32…), a name of up to 11 letters and digits, or (Twilio) a Messaging "
        "Service SID (MG…)."
    ),
    "phone_region": "A country code such as BE or NL.",
}

SECRET_HINTS: dict[str, str] = {
    "smtp": "The mail account's password.",
    "m365": (
        "Client secret: Certificates & secrets → the secret's Value (not its ID). Certificate: "
        "its PEM private key."
    ),
    "graph": (
        "Client secret: Certificates & secrets → the secret's Value (not its ID). Certificate: "
        "its PEM private key."
    ),
    "google": "The service account's JSON key file, as downloaded.",
    "sms": "The gateway's bearer token.",
    "twilio": "Twilio Console → Account Info → Auth Token.",
    "vonage": "Vonage API Dashboard → API secret.",
    "cm": "CM.com portal → your messaging gateway → product token.",
}


def method_fields(method: str) -> tuple[str, ...]:
    """The DeliverySettings fields the form shows for ``method``, in order."""
    return _FIELDS.get(method, ())
