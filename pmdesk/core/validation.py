"""Field validation: each function returns the clean value or raises FieldInvalid."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from pmdesk.core.i18n import Text, translate

if TYPE_CHECKING:
    from email_validator import ValidatedEmail

LOGIN_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z")
EMAIL_MAX_LENGTH = 254  # RFC 5321's path limit, less the brackets
PHONE_ALLOWED_RE = re.compile(r"\A\+?[0-9 ()./-]+\Z")
PHONE_MAX_LENGTH = 32  # as typed, with spaces and brackets
# Where a number typed without a country code is taken to be (ISO 3166 code): the core has no
# notion of the workshop's country, and the product is Belgian (+32).
DEFAULT_PHONE_REGION = "BE"
MAX_HOURLY_COST = Decimal("99999999.99")
#: The default field names of the messages (a caller passes its own field's name).
PHONE = translate("validation", "Phone")
HOURLY_COST = translate("validation", "Hourly Cost")


# Control, format (incl. bidi overrides), surrogate, private-use, unassigned, line and
# paragraph separators are refused in names...
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# ...but the zero-width (non-)joiner are format characters that Persian and Indic names and
# emoji sequences such as 👩‍🔧 need.
_JOINERS = frozenset({"\u200c", "\u200d"})


def _has_invisible(text: str) -> bool:
    """Control or invisible characters, joiners aside when they join two visible ones."""

    def visible(i: int) -> bool:
        return 0 <= i < len(text) and not (
            text[i].isspace()
            or text[i] in _JOINERS
            or unicodedata.category(text[i]) in _REFUSED_CATEGORIES
        )

    return any(
        unicodedata.category(ch) in _REFUSED_CATEGORIES
        and not (ch in _JOINERS and visible(i - 1) and visible(i + 1))
        for i, ch in enumerate(text)
    )


class FieldInvalid(ValueError):
    """A field value was refused; the message is for the user."""


def clean_text(value: str, *, label: str, max_length: int, required: bool = False) -> str:
    """Trimmed, NFC-normalised text without control characters."""
    text = unicodedata.normalize("NFC", value).strip()
    if _has_invisible(text):
        raise FieldInvalid(
            translate(
                "validation", "{label} cannot contain control or invisible characters."
            ).format(label=label)
        )
    if required and not text:
        raise FieldInvalid(translate("validation", "{label} is required.").format(label=label))
    if len(text) > max_length:
        raise FieldInvalid(
            translate("validation", "{label} can have at most {count} characters.").format(
                label=label, count=max_length
            )
        )
    return text


def clean_login(value: str) -> str:
    login = value.strip()
    if not login:
        raise FieldInvalid(translate("validation", "Login is required."))
    if not LOGIN_RE.match(login):
        raise FieldInvalid(
            translate(
                "validation",
                "Login may use letters, digits and . _ @ - (at most 64, starting with a letter "
                "or digit).",
            )
        )
    return login


def login_key(login: str) -> str:
    return login.strip().lower()


def clean_email(value: str, *, required: bool = False) -> str:
    email = value.strip()
    if not email:
        if required:
            raise FieldInvalid(translate("validation", "Email is required."))
        return ""
    return _checked_email(email).normalized


def mail_address(value: str) -> str:
    """The form to hand a mail server: an internationalised domain in its ASCII (IDNA) form
    (jan@café.be → jan@xn--caf-dma.be); raises FieldInvalid like ``clean_email``."""
    return str(_checked_email(value.strip()).ascii_email)


def _checked_email(email: str) -> ValidatedEmail:
    """email-validator's syntax check, no DNS (a saved address must not depend on the network
    being up): internationalised domains are fine, a non-ASCII local part is not (most mail
    servers refuse SMTPUTF8), nor quoted local parts, IP literals or reserved domains."""
    # Imported here: 70 ms (it brings dnspython), which the login dialog need not wait for.
    from email_validator import EmailNotValidError, validate_email

    # RFC 5321's limits, which mail servers apply: 64 before the @, 254 in all.
    if len(email) > EMAIL_MAX_LENGTH or len(email.rpartition("@")[0]) > 64:
        raise FieldInvalid(_not_an_email(email))
    try:
        return validate_email(
            email,
            check_deliverability=False,
            allow_smtputf8=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
        )
    except EmailNotValidError:
        raise FieldInvalid(_not_an_email(email)) from None


def _not_an_email(email: str) -> Text:
    return translate("validation", "'{address}' is not a valid e-mail address.").format(
        address=_preview(email)
    )


def clean_phone(value: str, *, label: str = PHONE, region: str = DEFAULT_PHONE_REGION) -> str:
    """A phone number as E.164 (+32470123456); empty stays empty.

    libphonenumber's metadata decides: a number without + or 00 is read as one of ``region``,
    and one that is too short or long for its country ("0470 12 34") is refused.
    """
    raw = value.strip()
    if not raw:
        return ""
    # phonenumbers would read letters as a keypad word (1-800-FLOWERS) and other digits as
    # digits: only what is printed on a business card gets through.
    if not PHONE_ALLOWED_RE.match(raw):
        raise FieldInvalid(
            translate("validation", "{label}: use digits, spaces and + ( ) . / - only.").format(
                label=label
            )
        )
    # Imported here: 40 ms that the login dialog's start path does not need.
    import phonenumbers

    invalid = FieldInvalid(
        translate(
            "validation",
            "{label}: '{number}' is not a valid phone number (check the digits and the "
            "country code).",
        ).format(label=label, number=_preview(raw))
    )
    if len(raw) > PHONE_MAX_LENGTH:
        raise invalid
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise invalid from exc
    if not phonenumbers.is_valid_number(number):
        raise invalid
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def first_valid_phone(*numbers: str, region: str = DEFAULT_PHONE_REGION) -> str | None:
    """The first of ``numbers`` that is a valid phone number, as E.164 (an SMS goes there);
    a number without a country code is read as one of ``region`` (the ``phone_region``
    setting)."""
    for number in numbers:
        try:
            cleaned = clean_phone(number, region=region or DEFAULT_PHONE_REGION)
        except FieldInvalid:
            continue
        if cleaned:
            return cleaned
    return None


def clean_money(value: str | Decimal | None, *, label: str = HOURLY_COST) -> Decimal | None:
    """A non-negative amount with at most two decimals, or None when empty."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        amount = value
    else:
        text = value.strip().replace("€", "").replace("£", "").replace(" ", "")
        if not text:
            return None
        if text.count(",") == 1 and "." not in text:
            text = text.replace(",", ".")
        if not re.fullmatch(r"[0-9]{1,8}(\.[0-9]{1,2})?", text):
            raise FieldInvalid(_not_an_amount(label))
        try:
            amount = Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the regex already guards
            raise FieldInvalid(_not_an_amount(label)) from exc
    if not amount.is_finite() or amount < 0 or amount > MAX_HOURLY_COST:
        raise FieldInvalid(
            translate("validation", "{label} must be between 0 and {maximum}.").format(
                label=label, maximum=MAX_HOURLY_COST
            )
        )
    if amount != amount.quantize(Decimal("0.01")):
        raise FieldInvalid(
            translate("validation", "{label} can have at most two decimals.").format(label=label)
        )
    return amount.quantize(Decimal("0.01"))


def _not_an_amount(label: str) -> Text:
    return translate("validation", "{label} must be an amount such as 42.50.").format(label=label)


def mask_email(email: str) -> str:
    """j***@insypro.com: enough to recognise, not enough to harvest."""
    if "@" not in email:
        return "***"
    local, domain = email.rsplit("@", 1)
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str) -> str:
    return f"{phone[:3]}•••••{phone[-2:]}" if len(phone) > 6 else "•••"


def mask_destination(destination: str) -> str:
    """Where a code went, masked: an e-mail address or a phone number."""
    return mask_email(destination) if "@" in destination else mask_phone(destination)


def _preview(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
